"""Throughput of the native batched vector env, against CartPole-v1 in the same process.

Parts (``--part``, default all but ``profile``):

* ``steps``: env-steps/s of :class:`envs.vector.InsituVectorEnv` at N = 1, 64, 1024, 4096 rows
  (discrete action mode, NEXT_STEP autoreset, full infos) with random *valid* actions, against
  gymnasium's ``CartPole-v1`` (``gymnasium.make``, the usual wrappers) single-env steps/s with
  random actions. Action sampling IS included in the timed loop for both: for the batch env it
  is vectorised rejection sampling (4 uniform candidates per row, the first valid one, else keep:
  uniform over the valid actions whenever a candidate is valid), reading the masks from
  ``info["joint_action_mask"]``; the candidates are drawn before the timed loop, as CartPole's random
  actions are, and picking the valid one from the step's masks is inside it. Long enough runs to include the autoresets of whole episodes
  (horizon 250) and the per-episode generation of the exogenous processes.
* ``ppo``: SB3 PPO frames/s on the same scenario with ``agents.sb3.make_vec_env(vec="native")``
  against ``vec="dummy"`` (DummyVecEnv of Monitor-wrapped single envs) at N = 16, with the
  project's PPO hyperparameters (``agents/hyperparams/ppo.yaml``: n_steps 256, batch 256, 10
  epochs, [64, 64] tanh MLP, VecNormalize), torch on one thread, 4 rollouts (16,384 frames) per
  run, after one warm-up run of each; three interleaved runs each, the best counts. Reports the
  whole ``learn()`` and the rollout-collection part alone (the part the env affects).
* ``sb3_step``: the same two SB3 vector envs at N = 16 (in VecNormalize, as in training)
  stepped with random actions and no policy: the env's own share of a rollout step.
* ``memory``: resident set size (``VmRSS`` of ``/proc/self/status``) growth over 10 million
  batched env-steps (N = 4096, 2,442 batch steps, about ten episode resets) after a 1,000-step
  warm-up (four episode resets, so the allocator has seen the reset temporaries). Reported two
  ways: last sample minus first (sensitive to where the allocator happens to stand at the two
  instants: glibc grows and trims its heap in MiB steps around the episode resets) and the
  trend, the growth over the run of a least-squares line through RSS sampled every 25 batch
  steps (what a leak would show as), and the same fit through the highest sample of each
  250-step window (the upper envelope, which the allocator's trims do not pull down). The
  target (< 1 MB) is judged on the trend of all samples.
* ``mixed``: :class:`envs.mixed.MixedVectorEnv` with N = 4096 rows in three scenario groups
  (``urban_smartphone`` 2048, ``highway_vehicle`` 1024, ``iot_sensor`` 1024) against the same
  three groups stepped as separate vector envs (what mixing them into one batch costs), three
  interleaved rounds (random valid actions as above).
* ``memory_traced``: the same run under ``tracemalloc`` (numpy reports its array buffers to it):
  the bytes allocated after the warm-up and still alive, sampled every 25 batch steps; this is
  what the env holds on to, whatever glibc does with its heap.
* ``profile``: cProfile of 300 batch steps at N = 4096 (top functions by own time).

Run: ``OMP_NUM_THREADS=1 python benchmarks/bench_vector.py [--scenario urban_smartphone]
[--part steps ppo memory profile] [--json out.json]``. Targets: >= 1,000,000
env-steps/s at N = 4096 on one core and >= 10x CartPole; PPO fps native >= 2x DummyVecEnv at
N = 16; RSS growth < 1 MB (trend) over 10 million env-steps.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import gymnasium as gym  # noqa: E402
import numpy as np  # noqa: E402

import envs  # noqa: E402,F401  (registers the ids)
from envs.vector import InsituVectorEnv  # noqa: E402

STEPS_FOR_N = {1: 20_000, 64: 4_000, 1024: 600, 4096: 600}


def _scenario_kwargs(scenario: str) -> dict:
    return {"scenario": scenario}


def rss_bytes() -> int:
    """Resident set size of this process (VmRSS of /proc/self/status), in bytes."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmRSS not found in /proc/self/status")


class ValidSampler:
    """Random valid flat actions for a batch, vectorised (see the module docstring).

    ``predraw(k)`` draws the uniform candidates of the next ``k`` calls at once (before a timed
    loop, as the CartPole loop draws its random actions before its timed loop); choosing the
    first valid candidate from the current masks is what each call does.
    """

    def __init__(self, n: int, n_actions: int, seed: int = 0, tries: int = 4):
        self.rng = np.random.default_rng(seed)
        self.n, self.a, self.tries = n, n_actions, tries
        self.base = (np.arange(n) * n_actions)[:, None]
        self.ar = np.arange(n)
        self._pre: np.ndarray | None = None
        self._next = 0

    def predraw(self, calls: int) -> None:
        """Draw the candidates of the next ``calls`` calls now (flat indices into the masks)."""
        self._pre = self.base + self.rng.integers(0, self.a, (calls, self.n, self.tries))
        self._next = 0

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        if self._pre is not None and self._next < len(self._pre):
            flat = self._pre[self._next]
            self._next += 1
        else:
            flat = self.base + self.rng.integers(0, self.a, (self.n, self.tries))
        ok = np.take(masks.reshape(-1), flat)  # masks[i, cand[i, j]]
        pick = np.take(flat.reshape(-1), self.ar * self.tries + ok.argmax(axis=1)) - self.base[:, 0]
        return np.where(ok.any(axis=1), pick, 0)


def cartpole_steps_per_s(steps: int = 200_000) -> float:
    """Single-env CartPole-v1 (gymnasium.make) steps/s with random actions, resets included."""
    env = gym.make("CartPole-v1")
    env.reset(seed=0)
    acts = np.random.default_rng(0).integers(0, 2, steps).tolist()
    t0 = time.perf_counter()
    for a in acts:
        _, _, term, trunc, _ = env.step(a)
        if term or trunc:
            env.reset()
    return steps / (time.perf_counter() - t0)


def vector_steps_per_s(scenario: str, n: int, batch_steps: int) -> dict:
    """Env-steps/s of the batch env with N = n rows over ``batch_steps`` batch steps."""
    venv = InsituVectorEnv(n, action_mode="discrete", **_scenario_kwargs(scenario))
    _, info = venv.reset(seed=0)
    sample = ValidSampler(n, venv.n_actions)
    masks = info["joint_action_mask"]
    for _ in range(10):  # warm-up
        _, _, _, _, info = venv.step(sample(masks))
        masks = info["joint_action_mask"]
    sample.predraw(batch_steps)
    ended = 0
    t0 = time.perf_counter()
    for _ in range(batch_steps):
        _, _, term, trunc, info = venv.step(sample(masks))
        masks = info["joint_action_mask"]
        ended += int(np.count_nonzero(term | trunc))
    dt = time.perf_counter() - t0
    return {"n": n, "batch_steps": batch_steps, "seconds": dt, "env_steps_per_s": n * batch_steps / dt,
            "episodes_ended": ended}


def part_steps(scenario: str, results: dict) -> None:
    cp = cartpole_steps_per_s()
    results["cartpole_v1_steps_per_s"] = cp
    print(f"CartPole-v1 (gymnasium.make, 1 env): {cp:,.0f} steps/s")
    rows = []
    for n, steps in STEPS_FOR_N.items():
        r = vector_steps_per_s(scenario, n, steps)
        r["x_cartpole"] = r["env_steps_per_s"] / cp
        rows.append(r)
        print(f"InsituVectorEnv N={n:5d}: {r['env_steps_per_s']:12,.0f} env-steps/s  "
              f"({r['x_cartpole']:.2f}x CartPole; {steps} batch steps, {r['episodes_ended']} episodes ended)",
              flush=True)
    cp2 = cartpole_steps_per_s()
    results["cartpole_v1_steps_per_s_after"] = cp2
    print(f"CartPole-v1 again after the batch runs: {cp2:,.0f} steps/s")
    results["steps"] = rows


class _RolloutTimer:
    """SB3 callback measuring the wall time spent collecting rollouts."""

    def __new__(cls):
        from stable_baselines3.common.callbacks import BaseCallback

        class Timer(BaseCallback):
            def __init__(self):
                super().__init__()
                self.rollout_s = 0.0
                self.frames = 0
                self._t = 0.0

            def _on_rollout_start(self) -> None:
                self._t = time.perf_counter()

            def _on_rollout_end(self) -> None:
                self.rollout_s += time.perf_counter() - self._t
                self.frames += self.model.n_steps * self.model.n_envs

            def _on_step(self) -> bool:
                return True

        return Timer()


def ppo_fps(scenario: str, vec: str, n_envs: int = 16, rollouts: int = 4, seed: int = 0) -> dict:
    """SB3 PPO frames/s (whole learn() and rollouts alone) with the project's PPO hyperparameters."""
    import torch
    from stable_baselines3 import PPO
    from stable_baselines3.common.vec_env import VecNormalize

    from agents.sb3 import _algo_kwargs, load_hyperparams, make_vec_env

    torch.set_num_threads(1)
    hp = load_hyperparams("ppo", "urban_smartphone")
    venv = make_vec_env(scenario, n_envs, seed, "ppo", vec=vec)
    if hp.get("normalize"):
        venv = VecNormalize(venv, norm_reward=False)
    model = PPO(hp.get("policy", "MlpPolicy"), venv, seed=seed, device="cpu", **_algo_kwargs(hp))
    frames = model.n_steps * n_envs * rollouts
    timer = _RolloutTimer()
    t0 = time.perf_counter()
    model.learn(frames, callback=timer)
    dt = time.perf_counter() - t0
    return {"vec": vec, "n_envs": n_envs, "frames": model.num_timesteps, "seconds": dt,
            "fps": model.num_timesteps / dt, "rollout_fps": timer.frames / timer.rollout_s,
            "venv": type(venv.unwrapped if hasattr(venv, "unwrapped") else venv).__name__}


def part_ppo(scenario: str, results: dict) -> None:
    for vec in ("dummy", "native"):  # warm-up (imports, first-use costs of torch), not counted
        ppo_fps(scenario, vec, rollouts=1)
    rows = []
    for vec in ("dummy", "native") * 3:  # interleaved against CPU-load drift; best of 3 each
        r = ppo_fps(scenario, vec)
        rows.append(r)
        print(f"PPO N=16 vec={vec:6s}: {r['fps']:8,.0f} frames/s (learn), {r['rollout_fps']:9,.0f} frames/s "
              f"(rollouts only)", flush=True)
    best = {v: max(r["fps"] for r in rows if r["vec"] == v) for v in ("dummy", "native")}
    best_roll = {v: max(r["rollout_fps"] for r in rows if r["vec"] == v) for v in ("dummy", "native")}
    results["ppo"] = {"runs": rows, "best_fps": best, "speedup": best["native"] / best["dummy"],
                      "best_rollout_fps": best_roll,
                      "rollout_speedup": best_roll["native"] / best_roll["dummy"]}
    print(f"PPO speed-up native/dummy: {results['ppo']['speedup']:.2f}x (learn), "
          f"{results['ppo']['rollout_speedup']:.2f}x (rollouts)")


def sb3_step_rate(scenario: str, vec: str, n_envs: int = 16, batch_steps: int = 3000) -> float:
    """SB3 env-steps/s of ``make_vec_env(vec=...)`` inside VecNormalize (no policy), random actions."""
    from stable_baselines3.common.vec_env import VecNormalize

    from agents.sb3 import make_vec_env

    venv = VecNormalize(make_vec_env(scenario, n_envs, 0, "ppo", vec=vec), norm_reward=False)
    venv.reset()
    rng = np.random.default_rng(0)
    nvec = venv.action_space.nvec
    acts = [np.stack([rng.integers(0, nvec) for _ in range(n_envs)]) for _ in range(64)]
    for i in range(50):
        venv.step(acts[i % 64])
    t0 = time.perf_counter()
    for i in range(batch_steps):
        venv.step(acts[i % 64])
    return n_envs * batch_steps / (time.perf_counter() - t0)


def part_sb3_step(scenario: str, results: dict) -> None:
    rates = {"dummy": [], "native": []}
    for vec in ("dummy", "native") * 3:
        rates[vec].append(sb3_step_rate(scenario, vec))
    best = {k: max(v) for k, v in rates.items()}
    results["sb3_step"] = {"runs": rates, "best": best, "speedup": best["native"] / best["dummy"]}
    print(f"SB3 VecNormalize(make_vec_env) N=16 env-steps/s (no policy): dummy {best['dummy']:,.0f}, "
          f"native {best['native']:,.0f} ({best['native'] / best['dummy']:.2f}x)")


def part_memory(scenario: str, results: dict, n: int = 4096, batch_steps: int = 2442,
                warmup: int = 1000, every: int = 25) -> None:
    venv = InsituVectorEnv(n, action_mode="discrete", **_scenario_kwargs(scenario))
    _, info = venv.reset(seed=1)
    sample = ValidSampler(n, venv.n_actions, seed=1)
    masks = info["joint_action_mask"]
    for _ in range(warmup):
        _, _, _, _, info = venv.step(sample(masks))
        masks = info["joint_action_mask"]
    r0 = rss_bytes()
    at, samples = [0], [r0]
    t0 = time.perf_counter()
    for i in range(batch_steps):
        _, _, _, _, info = venv.step(sample(masks))
        masks = info["joint_action_mask"]
        if (i + 1) % every == 0 or i + 1 == batch_steps:
            at.append(i + 1)
            samples.append(rss_bytes())
    dt = time.perf_counter() - t0
    r1 = samples[-1]
    slope = float(np.polyfit(np.asarray(at, dtype=np.float64), np.asarray(samples, dtype=np.float64), 1)[0])
    trend = slope * batch_steps  # bytes over the run by the fitted line
    # Upper envelope: the highest RSS of each 250-step window (one episode), fitted the same
    # way; glibc's trims pull single samples down by a few MiB, a leak lifts every window's top.
    w = max(1, 250 // every)
    tops = [max(samples[i:i + w]) for i in range(0, len(samples) - w + 1, w)]
    top_at = [at[i + w - 1] for i in range(0, len(samples) - w + 1, w)]
    top_trend = (float(np.polyfit(np.asarray(top_at, dtype=np.float64), np.asarray(tops, dtype=np.float64), 1)[0])
                 * batch_steps if len(tops) >= 2 else float("nan"))
    results["memory"] = {"n": n, "batch_steps": batch_steps, "env_steps": n * batch_steps, "warmup": warmup,
                         "rss_start_bytes": r0, "rss_end_bytes": r1, "growth_bytes": r1 - r0,
                         "trend_growth_bytes": trend, "window_max_trend_growth_bytes": top_trend,
                         "min_growth_bytes": min(samples) - r0,
                         "max_growth_bytes": max(samples) - r0, "samples_every": every,
                         "rss_samples_bytes": samples, "env_steps_per_s": n * batch_steps / dt}
    print(f"memory: {n * batch_steps:,} env-steps, RSS {r0 / 2**20:.1f} MiB -> {r1 / 2**20:.1f} MiB "
          f"(last - first {(r1 - r0) / 2**20:+.3f} MiB; trend, least-squares line over "
          f"{len(samples)} samples: {trend / 2**20:+.3f} MiB, of the {len(tops)} per-episode maxima: "
          f"{top_trend / 2**20:+.3f} MiB; range {(min(samples) - r0) / 2**20:+.3f} .. "
          f"{(max(samples) - r0) / 2**20:+.3f} MiB); {n * batch_steps / dt:,.0f} env-steps/s over the run")


def part_memory_traced(scenario: str, results: dict, n: int = 4096, batch_steps: int = 2442,
                       warmup: int = 1000, every: int = 25) -> None:
    """Live bytes allocated through Python and numpy (``tracemalloc``, which numpy reports its
    array buffers to) over the same 10 million env-steps: what the env keeps alive, independent
    of how glibc grows and trims its heap (which RSS also shows)."""
    import tracemalloc

    venv = InsituVectorEnv(n, action_mode="discrete", **_scenario_kwargs(scenario))
    _, info = venv.reset(seed=1)
    sample = ValidSampler(n, venv.n_actions, seed=1)
    masks = info["joint_action_mask"]
    for _ in range(warmup):
        _, _, _, _, info = venv.step(sample(masks))
        masks = info["joint_action_mask"]
    tracemalloc.start()
    try:
        # a few traced steps first, so the baseline already counts one step's arrays (observations,
        # masks, infos) that the later samples hold too; the allocations before start are not traced
        for _ in range(every):
            _, _, _, _, info = venv.step(sample(masks))
            masks = info["joint_action_mask"]
        at, live = [0], [tracemalloc.get_traced_memory()[0]]
        for i in range(batch_steps):
            _, _, _, _, info = venv.step(sample(masks))
            masks = info["joint_action_mask"]
            if (i + 1) % every == 0 or i + 1 == batch_steps:
                at.append(i + 1)
                live.append(tracemalloc.get_traced_memory()[0])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    trend = float(np.polyfit(np.asarray(at, dtype=np.float64), np.asarray(live, dtype=np.float64), 1)[0]) * batch_steps
    results["memory_traced"] = {"n": n, "env_steps": n * batch_steps, "warmup": warmup,
                                "live_growth_bytes": live[-1] - live[0], "trend_growth_bytes": trend,
                                "max_live_bytes": max(live) - live[0], "peak_bytes": peak,
                                "samples_every": every, "live_samples_bytes": live}
    print(f"memory (tracemalloc, Python + numpy allocations alive): {n * batch_steps:,} env-steps, "
          f"last - first {(live[-1] - live[0]) / 2**20:+.3f} MiB, trend over {len(live)} samples "
          f"{trend / 2**20:+.3f} MiB, largest {(max(live) - live[0]) / 2**20:+.3f} MiB")


def part_profile(scenario: str, results: dict, n: int = 4096, batch_steps: int = 300) -> None:
    import cProfile
    import io
    import pstats

    venv = InsituVectorEnv(n, action_mode="discrete", **_scenario_kwargs(scenario))
    _, info = venv.reset(seed=2)
    sample = ValidSampler(n, venv.n_actions, seed=2)
    masks = info["joint_action_mask"]
    prof = cProfile.Profile()
    prof.enable()
    for _ in range(batch_steps):
        _, _, _, _, info = venv.step(sample(masks))
        masks = info["joint_action_mask"]
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("tottime").print_stats(18)
    text = buf.getvalue()
    results["profile"] = text
    print(text)


#: Groups of the ``mixed`` part: three shipped scenarios with the same spaces (4 tasks each).
MIXED_GROUPS = {"urban_smartphone": 2048, "highway_vehicle": 1024, "iot_sensor": 1024}


def _mixed_steps_per_s(groups: dict, batch_steps: int) -> float:
    from envs.mixed import MixedVectorEnv

    venv = MixedVectorEnv(groups, action_mode="discrete")
    n = venv.num_envs
    _, info = venv.reset(seed=0)
    sample = ValidSampler(n, venv.n_actions)
    masks = info["joint_action_mask"]
    for _ in range(10):  # warm-up
        _, _, _, _, info = venv.step(sample(masks))
        masks = info["joint_action_mask"]
    sample.predraw(batch_steps)
    t0 = time.perf_counter()
    for _ in range(batch_steps):
        _, _, _, _, info = venv.step(sample(masks))
        masks = info["joint_action_mask"]
    return n * batch_steps / (time.perf_counter() - t0)


def _separate_steps_per_s(groups: dict, batch_steps: int) -> float:
    """The same groups as separate :class:`InsituVectorEnv` objects, stepped one after another."""
    venvs = [InsituVectorEnv(n, action_mode="discrete", scenario=sc) for sc, n in groups.items()]
    samplers = [ValidSampler(v.num_envs, v.n_actions) for v in venvs]
    masks = [v.reset(seed=0)[1]["action_mask"] for v in venvs]
    for _ in range(10):  # warm-up
        masks = [v.step(s(m))[4]["action_mask"] for v, s, m in zip(venvs, samplers, masks)]
    for s in samplers:
        s.predraw(batch_steps)
    t0 = time.perf_counter()
    for _ in range(batch_steps):
        masks = [v.step(s(m))[4]["action_mask"] for v, s, m in zip(venvs, samplers, masks)]
    return sum(groups.values()) * batch_steps / (time.perf_counter() - t0)


def part_mixed(scenario: str, results: dict, batch_steps: int = 600, rounds: int = 3) -> None:
    """Env-steps/s of :class:`envs.mixed.MixedVectorEnv` (N = 4096 in three scenario groups)
    against the same groups stepped as separate vector envs (the cost of presenting them as one
    batch: concatenating observations, rewards, flags and infos), interleaved in the same process."""
    sep, mixed = [], []
    for _ in range(rounds):
        sep.append(_separate_steps_per_s(MIXED_GROUPS, batch_steps))
        mixed.append(_mixed_steps_per_s(MIXED_GROUPS, batch_steps))
        print(f"groups {MIXED_GROUPS}: separate vector envs {sep[-1]:12,.0f} env-steps/s, "
              f"one MixedVectorEnv {mixed[-1]:12,.0f} env-steps/s", flush=True)
    results["mixed"] = {"groups": MIXED_GROUPS, "separate_env_steps_per_s": sep,
                        "mixed_env_steps_per_s": mixed, "median_ratio": float(np.median(np.divide(mixed, sep)))}
    print(f"mixed / separate: median {results['mixed']['median_ratio']:.2f}")


PARTS = {"steps": part_steps, "mixed": part_mixed, "ppo": part_ppo, "sb3_step": part_sb3_step,
         "memory": part_memory, "memory_traced": part_memory_traced, "profile": part_profile}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--scenario", default="urban_smartphone", help="scenario name or YAML path")
    ap.add_argument("--part", nargs="+", choices=sorted(PARTS),
                    default=["steps", "mixed", "ppo", "sb3_step", "memory", "memory_traced"])
    ap.add_argument("--json", type=Path, default=None, help="write the results to this JSON file (new file)")
    args = ap.parse_args(argv)
    if args.json is not None and args.json.exists():
        ap.error(f"--json {args.json}: file exists (not overwritten)")
    results: dict = {"scenario": args.scenario, "python": sys.version.split()[0], "numpy": np.__version__,
                     "gymnasium": gym.__version__, "machine": platform.processor() or platform.machine(),
                     "cpus": os.cpu_count()}
    for part in args.part:
        PARTS[part](args.scenario, results)
    if args.json is not None:
        args.json.write_text(json.dumps(results, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
