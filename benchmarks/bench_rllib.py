"""RLlib sampling throughput (env steps/s) with 0, 1 and 2 env runners.

For each runner count K, RLlib PPO (new API stack) is built on the scenario and trained for a
warm-up iteration plus ``--iterations`` measured ones with ``--batch`` env steps per iteration
(one cheap learner epoch, so the iteration is dominated by sampling). Reported:

- sampling env steps/s: ``--batch`` env steps sampled with the current policy (forward pass
  included, no learning) by the K runners in parallel (``EnvRunner.sample`` on each remote
  runner through ``env_runner_group.foreach_env_runner``; the driver's local runner when K = 0),
  over the wall time of that call;
- iteration env steps/s = env steps sampled / wall time of ``algo.train()`` (sampling + PPO
  update + weight sync);
- the raw env steps/s of one ``ModelDownloadEnv`` with random valid actions in this process,
  as the ceiling RLlib's per-step overhead is measured against.

With ``--multi-device N`` the multi-device env (shared policy) is measured instead (env steps
= cell steps; agent steps = N x env steps). Needs ``pip install -e .[rllib]``.

Usage: ``python benchmarks/bench_rllib.py [--scenario NAME] [--runners 0 1 2] [--batch 4000]``
"""

from __future__ import annotations

import argparse
import os
import platform
import time

os.environ.setdefault("OMP_NUM_THREADS", "1")


def raw_env_steps_per_s(scenario: str, seconds: float = 3.0) -> float:
    """Steps/s of one single env with random valid actions (multi-discrete mode)."""
    import numpy as np

    import envs

    env = envs.ModelDownloadEnv(scenario=scenario)
    rng = np.random.default_rng(0)
    env.reset(seed=0)
    n, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        for _ in range(200):
            valid = np.flatnonzero(env.flat_action_mask())
            _, _, term, trunc, _ = env.step(env.flat_to_action(int(rng.choice(valid))))
            if term or trunc:
                env.reset()
        n += 200
    return n / (time.perf_counter() - t0)


def measure(scenario: str, runners: int, batch: int, iterations: int, multi_device: int | None,
            envs_per_runner: int) -> dict:
    """Build PPO with ``runners`` env runners and time ``iterations`` training iterations."""
    from agents import rllib as rl

    hp = dict(rl.load_rllib_hyperparams(scenario))
    hp.update(train_batch_size_per_learner=batch, minibatch_size=batch, num_epochs=1,
              rollout_fragment_length="auto", num_envs_per_env_runner=envs_per_runner)
    algo = rl.build_config(scenario, multi_device=multi_device, num_env_runners=runners,
                           hyperparams=hp).build_algo()
    try:
        base = float(algo.train()["num_env_steps_sampled_lifetime"])  # warm-up: envs, weight sync
        wall = 0.0
        for _ in range(iterations):  # training iterations first (direct sampling below adds to
            t0 = time.perf_counter()  # the runners' lifetime counters)
            r = algo.train()
            wall += time.perf_counter() - t0
        steps = float(r["num_env_steps_sampled_lifetime"]) - base
        samp_steps, samp = 0, 0.0
        for _ in range(iterations):
            t0 = time.perf_counter()
            if runners == 0:
                eps = algo.env_runner.sample(num_timesteps=batch)
                samp_steps += sum(len(e) for e in eps)
            else:
                per = -(-batch // runners)
                counts = algo.env_runner_group.foreach_env_runner(
                    lambda w, n=per: sum(len(e) for e in w.sample(num_timesteps=n)), local_env_runner=False)
                samp_steps += sum(counts)
            samp += time.perf_counter() - t0
    finally:
        algo.stop()
    return {"runners": runners, "envs": envs_per_runner, "steps": steps, "sampling_sps": samp_steps / samp,
            "iteration_sps": steps / wall}


def main() -> None:
    """Run the measurements and print a markdown table."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", default="urban_smartphone")
    ap.add_argument("--runners", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--batch", type=int, default=4000, help="env steps per iteration")
    ap.add_argument("--iterations", type=int, default=3)
    ap.add_argument("--multi-device", type=int, default=None)
    ap.add_argument("--envs-per-runner", type=int, nargs="+", default=[1, 8],
                    help="num_envs_per_env_runner values (vectorised sampling inside a runner)")
    args = ap.parse_args()

    import ray
    import torch

    from agents import rllib as rl

    torch.set_num_threads(1)
    raw = raw_env_steps_per_s(args.scenario)
    rl.init_ray(None, max(args.runners))
    rows = [measure(args.scenario, k, args.batch, args.iterations, args.multi_device, e)
            for e in args.envs_per_runner for k in args.runners]
    ray.shutdown()
    what = "single env" if args.multi_device is None else f"multi-device env, N = {args.multi_device}"
    print(f"scenario {args.scenario} ({what}); ray {ray.__version__}; {os.cpu_count()} CPUs "
          f"({platform.processor() or platform.machine()}); batch {args.batch} env steps x "
          f"{args.iterations} iterations")
    print(f"raw single env (random valid actions, this process): {raw:,.0f} steps/s\n")
    print("| env runners | envs per runner | env steps sampled | sampling env steps/s | iteration env steps/s |")
    print("|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['runners']} | {r['envs']} | {r['steps']:,.0f} | {r['sampling_sps']:,.0f} | {r['iteration_sps']:,.0f} |")


if __name__ == "__main__":
    main()
