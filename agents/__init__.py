"""Learning agents, baselines, evaluation and comparison for insitu-gym."""
