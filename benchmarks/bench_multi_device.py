"""Multi-device env steps/s for N = 1, 10, 100 devices against the single env, same process.

Every device takes a random *valid* action (uniform over its joint mask) each step; only the
time spent inside ``env.step`` (and ``reset`` at episode ends) is counted, for the single env
and the PettingZoo env alike. Reported per N: cell steps/s (one ``step`` of the parallel env
advances all N devices), device steps/s (N x cell steps/s) and device steps/s relative to the
single env's steps/s.

Usage: ``python benchmarks/bench_multi_device.py [--scenario stadium_xr] [--n 1 10 100]
[--seconds 5] [--rounds 3]`` (each measurement runs ``seconds / rounds`` per round; the single
env and every N are interleaved in each round and medians reported, so that drift and load from
other processes affect all of them alike) (needs pettingzoo: ``pip install -e .[multi]``).
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")

import numpy as np  # noqa: E402


def _pick(masks: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One uniformly random valid flat action per row of ``masks`` [n, A]."""
    r = rng.random(masks.shape) * masks
    return np.argmax(r, axis=1)


def single_env_sps(scenario: str, seconds: float, seed: int = 0) -> float:
    """Steps/s of ``envs.ModelDownloadEnv`` (time inside step/reset only)."""
    import envs

    env = envs.ModelDownloadEnv(scenario=scenario, action_mode="discrete")
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    inside, n = 0.0, 0
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        a = int(_pick(env.flat_action_mask()[None], rng)[0])
        t0 = time.perf_counter()
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
        inside += time.perf_counter() - t0
        n += 1
    return n / inside


def multi_env_sps(scenario: str, n_devices: int, seconds: float, scheduler: str, seed: int = 0) -> float:
    """Cell steps/s of the multi-device env with ``n_devices`` (time inside step/reset only)."""
    from envs.multi_device import parallel_env

    env = parallel_env(scenario, n_devices=n_devices, scheduler=scheduler, action_mode="discrete")
    rng = np.random.default_rng(seed)
    env.reset(seed=seed)
    inside, n = 0.0, 0
    t_end = time.perf_counter() + seconds
    while time.perf_counter() < t_end:
        masks = env._masks()
        flat = _pick(masks, rng)
        actions = {a: int(flat[env.agent_name_mapping[a]]) for a in env.agents}
        t0 = time.perf_counter()
        env.step(actions)
        if not env.agents:
            env.reset()
        inside += time.perf_counter() - t0
        n += 1
    return n / inside


def main() -> None:
    """Measure and print a markdown table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="stadium_xr")
    ap.add_argument("--n", type=int, nargs="+", default=[1, 10, 100])
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--scheduler", default="equal", choices=("equal", "proportional_fair"))
    ap.add_argument("--rounds", type=int, default=3,
                    help="interleaved rounds (single env, then each N); medians are reported")
    args = ap.parse_args()
    per = args.seconds / args.rounds
    singles, multis = [], {n: [] for n in args.n}
    ratios: dict[int, list[float]] = {n: [] for n in args.n}
    for r in range(args.rounds):
        single = single_env_sps(args.scenario, per, seed=r)
        singles.append(single)
        for n in args.n:
            sps = multi_env_sps(args.scenario, n, per, args.scheduler, seed=r)
            multis[n].append(sps)
            ratios[n].append(n * sps / single)
    med = np.median
    print(f"scenario {args.scenario}, scheduler {args.scheduler}, {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()}), {args.rounds} interleaved rounds of "
          f"{per:.1f} s per measurement (medians)")
    print(f"single env (ModelDownloadEnv): {med(singles):,.0f} steps/s\n")
    print("| devices N | cell steps/s | device steps/s | device steps/s / single env steps/s |")
    print("|---|---|---|---|")
    for n in args.n:
        sps = med(multis[n])
        print(f"| {n} | {sps:,.0f} | {n * sps:,.0f} | {med(ratios[n]):.2f}x |")


if __name__ == "__main__":
    main()
