"""Do decisions matter? Mean return of the baselines of :mod:`agents.policies` per scenario.

A scenario where the masked-random policy comes close to the clairvoyant one-step oracle is a
broken scenario. The policies are the project's baselines
(``agents.policies.BASELINES``; default: random over valid actions, always the full model from
central, the paper's greedy rule, greedy that also checks the device's inference latency, and the
one-step clairvoyant oracle).

Usage: ``python benchmarks/check_policy_spread.py [--episodes 5] [--scenarios a b] [--profiles DIR]``
(``--profiles`` points the profile loader at another directory, e.g. for calibration).
"""

from __future__ import annotations

import argparse
import os
import re
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def evaluate(scenario: str, policy: str, episodes: int, seed: int = 0) -> tuple[float, float]:
    """Mean and std of the episode return of ``policy`` on ``scenario``."""
    from agents.policies import make_policy
    from envs import make_env

    env = make_env(scenario, action_mode="discrete")
    pol = make_policy(policy, seed=seed + 12345)
    returns = []
    for ep in range(episodes):
        obs, _ = env.reset(seed=seed + ep)
        pol.reset(seed + ep)
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(pol.act(obs, env))
            total += r
            done = term or trunc
        returns.append(total)
    return float(np.mean(returns)), float(np.std(returns))


def main() -> None:
    """Print the spread table (markdown)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--scenarios", nargs="+", default=None)
    ap.add_argument("--policies", nargs="+", default=["random", "fixed_central_full", "greedy", "greedy_compute", "oracle"])
    ap.add_argument("--profiles", default=None, help="directory to load profiles from instead of compression/profiles")
    ap.add_argument("--update", default=None, help="write the table as '### Policy spread' into this BENCHMARKS.md")
    args = ap.parse_args()
    if args.profiles:
        import compression.profile as cp

        cp.PROFILE_DIR = Path(args.profiles)
    from envs import SCENARIO_IDS

    names = args.scenarios or sorted(SCENARIO_IDS)
    header = "| scenario | " + " | ".join(args.policies) + " | oracle - random |"
    sep = "|---|" + "---|" * (len(args.policies) + 1)
    print(header)
    print(sep)
    lines = []
    for sc in names:
        t0 = time.time()
        res = {p: evaluate(sc, p, args.episodes) for p in args.policies}
        gap = res["oracle"][0] - res["random"][0] if "oracle" in res and "random" in res else float("nan")
        cells = " | ".join(f"{m:.1f} ± {s:.1f}" for m, s in res.values())
        lines.append(f"| {sc} | {cells} | {gap:.1f} |")
        print(lines[-1] + f"  ({time.time() - t0:.0f} s)", flush=True)
    if args.update:
        sub = "\n".join([
            "### Policy spread: latest results",
            "",
            f"Command: `python benchmarks/check_policy_spread.py --episodes {args.episodes}`",
            "",
            f"Mean ± std episode return over {args.episodes} seeded episodes (seeds 0..{args.episodes - 1}):",
            "",
            header, sep, *lines, "",
        ])
        path = Path(args.update)
        text = path.read_text()
        pat = re.compile(r"^### Policy spread.*?(?=^## |^### |\Z)", re.S | re.M)
        if pat.search(text):
            text = pat.sub(sub + "\n", text)
        else:
            sec = re.compile(r"(^## Environment stepping\n.*?)(?=^## |\Z)", re.S | re.M)
            if not sec.search(text):
                raise SystemExit(f"{path} has no '## Environment stepping' section; run bench_env_steps.py --update first")
            text = sec.sub(lambda m: m.group(1).rstrip("\n") + "\n\n" + sub + "\n", text)
        path.write_text(text)
        print(f"wrote '### Policy spread' into {path}")


if __name__ == "__main__":
    main()
