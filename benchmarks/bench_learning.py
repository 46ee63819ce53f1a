"""Learning benchmark: does the learned agent beat the adaptive heuristic and approach the oracle?

For every scenario: train the agent (default: PPO, 3 seeds, the hyperparameter file's default
budget), evaluate each trained model deterministically on held-out episode seeds, and evaluate
the greedy heuristic (and its compute-aware variant), the clairvoyant myopic oracle and random
on the *same* episodes.
Targets: the agent's mean return above greedy's, and >= 90 % of the oracle's.

Training runs go to worker processes (``--workers``, one CPU core each: torch and OpenMP are
pinned to one thread), so wall times are per run on one core.

Usage::

    python benchmarks/bench_learning.py                       # every scenario, ppo, seeds 0 1 2
    python benchmarks/bench_learning.py --scenarios urban_smartphone --timesteps 50000 --workers 2

Writes ``learning.md`` (the BENCHMARKS.md section's tables) and ``learning.json`` into ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")
ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


def _train_and_eval(job: dict) -> dict:
    """Worker: train one agent and evaluate it on the evaluation episodes."""
    import torch

    torch.set_num_threads(1)
    from agents.evaluate import run_episodes
    from agents.policies import load_learned_policy
    from agents.sb3 import train

    t0 = time.perf_counter()
    run = train(job["algo"], job["scenario"], timesteps=job["timesteps"], seed=job["seed"],
                n_envs=job["n_envs"], logdir=job["logdir"], progress_bar=False,
                hyperparams_path=job["hyperparams"])
    wall_train = time.perf_counter() - t0
    meta = json.loads((run / "meta.json").read_text())
    policy = load_learned_policy(run)
    t1 = time.perf_counter()
    recs = run_episodes(policy, job["scenario"], job["eval_seeds"], job["episodes"])
    return {"kind": "agent", "scenario": job["scenario"], "seed": job["seed"], "run": str(run),
            "timesteps": meta["num_timesteps"], "train_wall_s": wall_train,
            "eval_wall_s": time.perf_counter() - t1, "returns": [r.stats.ret for r in recs],
            "accuracy": [r.stats.accuracy for r in recs]}


def _baseline(job: dict) -> dict:
    """Worker: evaluate one baseline on the evaluation episodes."""
    from agents.evaluate import run_episodes
    from agents.policies import make_policy

    t0 = time.perf_counter()
    recs = run_episodes(make_policy(job["policy"], seed=0), job["scenario"], job["eval_seeds"], job["episodes"])
    return {"kind": "baseline", "scenario": job["scenario"], "policy": job["policy"],
            "eval_wall_s": time.perf_counter() - t0, "returns": [r.stats.ret for r in recs],
            "accuracy": [r.stats.accuracy for r in recs]}


def report(results: list[dict], algo: str) -> str:
    """Markdown tables: per scenario, mean return [95 % CI] of agent/greedy/oracle/random,
    the agent's per-seed means, ratio to the oracle and whether the targets hold."""
    import numpy as np

    from agents.evaluate import mean_ci

    def fmt(xs):
        m, lo, hi = mean_ci(xs)
        return f"{m:.2f} [{lo:.2f}, {hi:.2f}]"

    scen = sorted({r["scenario"] for r in results}, key=lambda x: Path(x).stem)
    n_seeds = len({r["seed"] for r in results if r["kind"] == "agent"})
    lines = [f"| scenario | {algo} ({n_seeds} seeds) | per-seed means | greedy | greedy_compute | oracle | random "
             f"| {algo}/oracle | > greedy | >= 90 % oracle | > greedy_compute | train wall (s/run) | steps/run |",
             "|" + "---|" * 13]
    for s in scen:
        agent = [r for r in results if r["scenario"] == s and r["kind"] == "agent"]
        base = {r["policy"]: r for r in results if r["scenario"] == s and r["kind"] == "baseline"}
        a = [x for r in agent for x in r["returns"]]
        g, o, rnd = base["greedy"]["returns"], base["oracle"]["returns"], base["random"]["returns"]
        gc = base["greedy_compute"]["returns"]
        ratio = np.mean(a) / np.mean(o) if np.mean(o) > 0 else float("nan")
        per_seed = ", ".join(f"{np.mean(r['returns']):.2f}" for r in sorted(agent, key=lambda r: r["seed"]))
        lines.append(
            f"| {s} | {fmt(a)} | {per_seed} | {fmt(g)} | {fmt(gc)} | {fmt(o)} | {fmt(rnd)} | "
            f"{ratio:.1%} | {'yes' if np.mean(a) > np.mean(g) else 'no'} | "
            f"{'yes' if ratio >= 0.9 else 'no'} | {'yes' if np.mean(a) > np.mean(gc) else 'no'} | "
            f"{np.mean([r['train_wall_s'] for r in agent]):.0f} | "
            f"{int(np.mean([r['timesteps'] for r in agent]))} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark (see the module docstring)."""
    from agents.common import registered_scenarios as available_scenarios
    from agents.sb3 import load_hyperparams

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenarios", nargs="+", default=None, help="scenario names (default: all)")
    ap.add_argument("--algo", default="ppo", choices=("ppo", "maskable_ppo", "dqn"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2], help="training seeds")
    ap.add_argument("--timesteps", type=int, default=None, help="budget per run (default: YAML n_timesteps)")
    ap.add_argument("--n-envs", type=int, default=None, help="envs per run (default: YAML n_envs)")
    ap.add_argument("--hyperparams", default=None, help="hyperparameter YAML (default: agents/hyperparams/{algo}.yaml)")
    ap.add_argument("--eval-seeds", type=int, nargs="+", default=[100, 101, 102, 103, 104])
    ap.add_argument("--episodes", type=int, default=2, help="episodes per evaluation seed")
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--out", default=None, help="output folder (default: runs/bench_learning__{time})")
    args = ap.parse_args(argv)

    scenarios = args.scenarios or available_scenarios()
    out = Path(args.out or ROOT / "runs" / f"bench_learning__{time.strftime('%Y%m%d-%H%M%S')}")
    if (out / "learning.md").exists():
        raise SystemExit(f"--out {str(out)!r} already holds results; choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    jobs, base_jobs = [], []
    for s in scenarios:
        hp = load_hyperparams(args.algo, s, args.hyperparams)
        for seed in args.seeds:
            jobs.append({"algo": args.algo, "scenario": s, "seed": seed,
                         "timesteps": args.timesteps or hp.get("n_timesteps", 100_000),
                         "n_envs": args.n_envs or hp.get("n_envs", 1), "logdir": str(out / "runs"),
                         "hyperparams": args.hyperparams,
                         "eval_seeds": args.eval_seeds, "episodes": args.episodes})
        for policy in ("greedy", "greedy_compute", "oracle", "random"):
            base_jobs.append({"scenario": s, "policy": policy, "eval_seeds": args.eval_seeds,
                              "episodes": args.episodes})
    t0 = time.perf_counter()
    with ProcessPoolExecutor(max_workers=args.workers, mp_context=get_context("spawn")) as pool:
        futures = [pool.submit(_train_and_eval, j) for j in jobs] + [pool.submit(_baseline, j) for j in base_jobs]
        results = []
        for f in futures:
            results.append(f.result())
            r = results[-1]
            print(f"done: {r['scenario']} {r.get('policy', args.algo)} {r.get('seed', '')} "
                  f"({time.perf_counter() - t0:.0f} s)", flush=True)
    total = time.perf_counter() - t0
    md = report(results, args.algo)
    header = (f"{args.algo}, seeds {args.seeds}, {len(args.eval_seeds)} eval seeds x {args.episodes} episodes "
              f"per policy (same episodes for all), {args.workers} worker processes, total wall {total:.0f} s\n\n")
    (out / "learning.md").write_text(header + md)
    (out / "learning.json").write_text(json.dumps({"args": vars(args), "total_wall_s": total,
                                                   "results": results}, indent=1))
    print(header + md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
