"""Do decisions matter? Every yardstick and baseline on the same episodes of every scenario.

For each scenario, the policies run on the same held-out episodes (common random numbers: episode
``e`` is seeded ``seed0 + e`` for every policy): ``upper_bound`` (free, instant downloads of the
best fitting variant at every step; computed without acting), ``planner`` (clairvoyant,
non-myopic), ``oracle`` (clairvoyant, myopic), ``mpc`` (deployable model-predictive controller)
and the heuristics. The table gives the mean return with a 95 % confidence interval (Student t
over episodes), each policy as % of the planner, and the planner's gain over the oracle: a
scenario whose oracle is within 1-2 % of the upper bound has nothing to learn.

Resumable: each finished (scenario, policy) is stored as a small JSON file under
``benchmarks/results/headroom/`` and reused unless ``--redo``; ``--jobs N`` runs the (scenario,
policy) pairs in N processes.

Usage: ``python benchmarks/bench_headroom.py [--episodes 20] [--scenarios a b] [--policies p q]
[--jobs 1] [--update BENCHMARKS.md]``
"""

from __future__ import annotations

import argparse
import json
import os
import re
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results" / "headroom"
POLICIES = ["upper_bound", "planner", "oracle", "mpc", "greedy_compute", "greedy", "zero_shot", "fixed",
            "fixed_smallest", "random"]
SEED0 = 10_000


def run_policy(scenario: str, policy: str, episodes: int, seed0: int = SEED0) -> dict:
    """Returns of ``policy`` on ``episodes`` seeded episodes of ``scenario`` (and the wall time)."""
    from agents.policies import make_policy
    from envs import make_env

    env = make_env(scenario, action_mode="discrete")
    pol = make_policy(policy, seed=seed0)
    returns, t0 = [], time.time()
    for e in range(episodes):
        obs, _ = env.reset(seed=seed0 + e)
        pol.reset(seed0 + e)
        direct = pol.episode_result(env)
        if direct is not None:
            returns.append(float(direct["return"]))
            continue
        total, done = 0.0, False
        while not done:
            obs, r, term, trunc, _ = env.step(pol.act(obs, env))
            total += r
            done = term or trunc
        returns.append(total)
    return {"scenario": scenario, "policy": policy, "seed0": seed0, "returns": returns,
            "wall_s": time.time() - t0}


def _path(scenario: str, policy: str, episodes: int) -> Path:
    return RESULTS / f"{scenario}__{policy}__{episodes}.json"


def stored_or_run(scenario: str, policy: str, episodes: int, redo: bool) -> dict:
    """One (scenario, policy) result, from its stored file or by running it (then stored)."""
    path = _path(scenario, policy, episodes)
    if path.is_file() and not redo:
        return json.loads(path.read_text())
    res = run_policy(scenario, policy, episodes)
    RESULTS.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(res, indent=1) + "\n")
    print(f"  {scenario:18s} {policy:15s} {np.mean(res['returns']):9.2f}  ({res['wall_s']:.0f} s)", flush=True)
    return res


def mean_ci(x: list[float]) -> tuple[float, float]:
    """Mean and the half-width of its 95 % Student-t confidence interval."""
    from scipy import stats

    a = np.asarray(x, dtype=float)
    if len(a) < 2:
        return float(a.mean()), float("nan")
    return float(a.mean()), float(stats.t.ppf(0.975, len(a) - 1) * a.std(ddof=1) / np.sqrt(len(a)))


def table(all_res: dict[str, dict[str, dict]], policies: list[str], episodes: int) -> list[str]:
    """Markdown lines of the headroom table."""
    head = ["scenario", *policies, "planner vs oracle"]
    lines = ["| " + " | ".join(head) + " |", "|---|" + "---:|" * (len(head) - 1)]
    for sc, res in all_res.items():
        plan = np.mean(res["planner"]["returns"]) if "planner" in res else float("nan")
        cells = []
        for p in policies:
            m, h = mean_ci(res[p]["returns"])
            pct = f" ({100 * m / plan:.0f} %)" if plan > 0 and p != "planner" else ""
            cells.append(f"{m:.1f} ± {h:.1f}{pct}")
        if "planner" in res and "oracle" in res:
            d = np.asarray(res["planner"]["returns"]) - np.asarray(res["oracle"]["returns"])
            o = np.mean(res["oracle"]["returns"])
            rel = f"{100 * d.mean() / o:+.1f} %" if o > 0 else "oracle <= 0"
            gain = f"{d.mean():+.1f} ({rel}; {(d >= -1e-9).sum()}/{len(d)} episodes >=)"
        else:
            gain = "n/a"
        lines.append(f"| {sc} | " + " | ".join(cells) + f" | {gain} |")
    return lines


def main() -> None:
    """Run (or reuse) the results and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=20)
    ap.add_argument("--scenarios", nargs="+", default=None)
    ap.add_argument("--policies", nargs="+", default=POLICIES)
    ap.add_argument("--jobs", type=int, default=1)
    ap.add_argument("--redo", action="store_true", help="run again instead of reusing stored results")
    ap.add_argument("--update", default=None, help="write the table as '## Headroom' into this BENCHMARKS.md")
    args = ap.parse_args()
    from envs import SINGLE_DEVICE_SCENARIOS

    names = args.scenarios or list(SINGLE_DEVICE_SCENARIOS)
    pairs = [(sc, pol) for sc in names for pol in args.policies]
    if args.jobs > 1:
        with ProcessPoolExecutor(args.jobs) as ex:
            futs = {pr: ex.submit(stored_or_run, *pr, args.episodes, args.redo) for pr in pairs}
            done = {pr: f.result() for pr, f in futs.items()}
    else:
        done = {pr: stored_or_run(*pr, args.episodes, args.redo) for pr in pairs}
    all_res = {sc: {pol: done[(sc, pol)] for pol in args.policies} for sc in names}
    lines = table(all_res, args.policies, args.episodes)
    print("\n".join(lines))
    if args.update:
        sec = "\n".join([
            "## Headroom", "",
            f"Command: `python benchmarks/bench_headroom.py --episodes {args.episodes}` (resumable; results in "
            "`benchmarks/results/headroom/`).", "",
            f"Mean episode return ± 95 % confidence interval over {args.episodes} episodes (seeds {SEED0} .. "
            f"{SEED0 + args.episodes - 1}, the same for every policy), in brackets as % of the planner; last column: "
            "the planner's mean gain over the myopic oracle (return, and % of the oracle's return) and the episodes "
            "where it is at least the oracle's.", "",
            *lines, ""])
        path = Path(args.update)
        text = path.read_text()
        pat = re.compile(r"^## Headroom\n.*?(?=^## |\Z)", re.S | re.M)
        text = pat.sub(sec + "\n", text) if pat.search(text) else text.rstrip("\n") + "\n\n" + sec
        path.write_text(text)
        print(f"wrote '## Headroom' into {path}")


if __name__ == "__main__":
    main()
