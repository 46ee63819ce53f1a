"""Do decisions matter? Mean return of random / always-central-full / greedy / one-step oracle per scenario.

A scenario where the masked-random policy comes close to the clairvoyant one-step oracle is a
broken scenario (DESIGN.md section 4). The policies here are minimal reference implementations
for this check (the project's baselines live in ``agents/``):

* random: uniform over the *valid* flat actions;
* central_full: download the uncompressed model of the current task from central whenever
  that is valid, else keep;
* greedy: keep while the on-board model serves the current task within its latency budget;
  otherwise download the most accurate valid variant whose *estimated* download meets the
  deadline and whose energy fits what is left (smallest latency if none meets the deadline);
* oracle: argmax of ``one_step_rewards()`` (true next-step channel, myopic).

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


def policy_action(name: str, env, rng: np.random.Generator) -> int:
    """Flat action of policy ``name`` for the env's current state."""
    u = env.unwrapped
    mask = u.flat_action_mask()
    if name == "random":
        return int(rng.choice(np.flatnonzero(mask)))
    if name == "oracle":
        return int(np.argmax(u.one_step_rewards()))
    sim = u.sim
    task = int(sim.exo.ci[0, int(sim.k[0]), 0])
    nv = sim.V
    if name == "central_full":
        a = 3 * nv + int(u.params.full_variant[task])
        return a if mask[a] else 0
    if name == "greedy":
        m, v = divmod(int(sim.ob_mi[0]), nv)
        if sim.pend_act[0] > 0 or (m == task and u.params.latency_ok[m, v]):
            return 0
        view = u.planning_view()
        lat_ok = view["inference_latency_s"] <= u.params.latency_budget_s[task]
        cand = mask & (view["source"] > 0) & lat_ok & (view["energy_j_est"] <= view["energy_left_j"])
        ok = cand & view["fits_deadline"]
        if ok.any():
            score = np.where(ok, view["accuracy"] - 1e-12 * view["size_bytes"], -np.inf)
            return int(np.argmax(score))
        if cand.any():
            return int(np.argmin(np.where(cand, view["download_latency_s_est"], np.inf)))
        return 0
    raise ValueError(f"unknown policy {name!r}")


def evaluate(scenario: str, policy: str, episodes: int, seed: int = 0) -> tuple[float, float]:
    """Mean and std of the episode return of ``policy`` on ``scenario``."""
    from envs import make_env

    env = make_env(scenario, action_mode="discrete")
    rng = np.random.default_rng(seed + 12345)
    returns = []
    for ep in range(episodes):
        env.reset(seed=seed + ep)
        total, done = 0.0, False
        while not done:
            _, r, term, trunc, _ = env.step(policy_action(policy, env, rng))
            total += r
            done = term or trunc
        returns.append(total)
    return float(np.mean(returns)), float(np.std(returns))


def main() -> None:
    """Print the spread table (markdown)."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--episodes", type=int, default=5)
    ap.add_argument("--scenarios", nargs="+", default=None)
    ap.add_argument("--policies", nargs="+", default=["random", "central_full", "greedy", "oracle"])
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
            "### Policy spread (do decisions matter?)",
            "",
            f"`python benchmarks/check_policy_spread.py --episodes {args.episodes}`: mean ± std episode return "
            f"over {args.episodes} seeded episodes (seeds 0..{args.episodes - 1}) of the minimal reference "
            "policies in that script (random over valid actions, always the full model from central, "
            "greedy = most accurate variant meeting the deadline at the observed rate, one-step "
            "clairvoyant oracle). A scenario where random comes close to the oracle would be broken.",
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
