"""RLlib backend: a few PPO iterations in-process (num_env_runners=0) on the single-device env and
on the multi-device env (shared policy), TensorBoard tags, checkpoints, metrics, CLI errors.

Needs the optional extra (``pip install -e .[rllib]``); skipped with a reason otherwise. Uses the
real default scenario with small test profiles (``small_scenario.py``) and a 20-step horizon.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]

ray = pytest.importorskip(
    "ray", reason="Ray RLlib is an optional extra (pip install -e .[rllib]); the RLlib backend is not tested")
pytest.importorskip("ray.rllib", reason="ray is installed without RLlib (pip install -e .[rllib])")

from agents import rllib as rl  # noqa: E402
from agents.runs import COMMON_KEYS  # noqa: E402

#: Tiny PPO settings: iterations of 100 env steps in fragments of 25 (so 20-step episodes are
#: cut across sample calls and the metrics callback must join the chunks), one small epoch.
TINY_HP = {"lr": 3e-4, "gamma": 0.99, "lambda_": 0.95, "clip_param": 0.2, "entropy_coeff": 0.01,
           "vf_loss_coeff": 0.5, "num_epochs": 1, "minibatch_size": 50,
           "train_batch_size_per_learner": 100, "rollout_fragment_length": 25,
           "num_envs_per_env_runner": 1, "fcnet_hiddens": [16], "fcnet_activation": "tanh"}


@pytest.fixture(scope="module")
def tiny_scenario(tmp_path_factory) -> str:
    """The default scenario with small test profiles and a 20-step horizon."""
    from small_scenario import write_small_scenario

    return write_small_scenario(tmp_path_factory.mktemp("rllib_tiny"), horizon=20)


@pytest.fixture(scope="module")
def local_ray():
    """One local Ray instance for the module (starting Ray costs seconds)."""
    rl.init_ray(None, 0)
    yield
    ray.shutdown()


def _scalars(run_dir: Path) -> dict[str, list[float]]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    ea = EventAccumulator(str(run_dir))
    ea.Reload()
    return {tag: [e.value for e in ea.Scalars(tag)] for tag in ea.Tags()["scalars"]}


def test_train_single_env(tiny_scenario, local_ray, tmp_path):
    run = rl.train_rllib(tiny_scenario, 200, hyperparams=TINY_HP, logdir=tmp_path, seed=3,
                         progress_bar=False, shutdown=False)
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["backend"] == "rllib"
    assert meta["iterations"] == 2 and meta["num_env_steps_sampled"] == 200
    assert set(COMMON_KEYS) <= set(meta) and meta["num_timesteps"] == 200 and "ray" in meta["versions"]
    assert run.name.startswith("urban_small__rllib_ppo__3__")
    assert (run / "checkpoint").is_dir() and any((run / "checkpoint").iterdir())
    s = _scalars(run)
    # 20-step episodes: 5 per iteration; the project's metrics come from the env's infos
    assert s["rllib/episode_len_mean"][-1] == 20.0
    for tag in ("rllib/episode_return_mean", "episode/accuracy", "episode/failed_rate",
                "episode/no_model_rate", "episode/energy_j", "episode/energy_left_j", "episode/downloads",
                "episode/air_mb", "episode/backhaul_mb", "episode/tier_share/none",
                "episode/tier_share/edge", "episode/tier_share/local", "episode/tier_share/central"):
        assert tag in s, tag
    shares = sum(s[f"episode/tier_share/{t}"][-1] for t in ("none", "edge", "local", "central"))
    assert shares == pytest.approx(1.0)
    assert 0.0 <= s["episode/accuracy"][-1] <= 1.0
    assert s["episode/energy_j"][-1] > 0.0
    # the callback's return equals RLlib's own episode return
    assert s["episode/return"][-1] == pytest.approx(s["rllib/episode_return_mean"][-1], rel=1e-6)
    assert any(t.startswith("learner/default_policy/") for t in s)


def test_checkpoint_restores(tiny_scenario, local_ray, tmp_path):
    run = rl.train_rllib(tiny_scenario, 100, hyperparams=TINY_HP, logdir=tmp_path, progress_bar=False,
                         shutdown=False)
    algo = rl.load_algorithm(run / "checkpoint")
    try:
        module = algo.get_module()
        import envs

        env = envs.ModelDownloadEnv(scenario=tiny_scenario)
        obs, _ = env.reset(seed=0)
        import torch

        out = module.forward_inference({"obs": torch.as_tensor(obs[None])})
        logits = out["action_dist_inputs"]
        assert logits.shape == (1, int(sum(env.unwrapped.nvec)))
    finally:
        algo.stop()


def test_hyperparam_file_errors(tmp_path):
    bad = tmp_path / "hp.yaml"
    bad.write_text(yaml.safe_dump({"default": {"lr": 1e-3, "n_stepz": 5}}))
    with pytest.raises(rl.RLlibSetupError, match="unknown key 'n_stepz'"):
        rl.load_rllib_hyperparams("x", bad)
    bad.write_text(yaml.safe_dump({"default": {"gamma": 1.5}}))
    with pytest.raises(rl.RLlibSetupError, match=r"key 'gamma': 1.5 is not allowed"):
        rl.load_rllib_hyperparams("x", bad)
    assert rl.load_rllib_hyperparams("urban_smartphone")["lr"] == pytest.approx(3e-4)
    with pytest.raises(rl.RLlibSetupError, match="--num-env-runners"):
        rl.build_config("urban_smartphone", num_env_runners=-1)
    with pytest.raises(rl.RLlibSetupError, match="--multi-device"):
        rl.build_config("urban_smartphone", multi_device=0)
    with pytest.raises(rl.RLlibSetupError, match="not a Ray address"):
        rl.init_ray("head-node")


def test_cli_rejects_other_algos(tiny_scenario):
    proc = subprocess.run([sys.executable, str(ROOT / "train.py"), "train", "--backend", "rllib",
                           "--algo", "dqn", "--scenario", tiny_scenario],
                          capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert proc.returncode == 2
    assert "--algo ppo only" in proc.stderr


def test_train_multi_device_shared_policy(tiny_scenario, local_ray, tmp_path):
    n = 3
    run = rl.train_rllib(tiny_scenario, 100, hyperparams=TINY_HP, logdir=tmp_path, multi_device=n,
                         progress_bar=False, shutdown=False, env_kwargs={"scheduler": "proportional_fair"})
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["multi_device"] == n
    assert run.name.startswith("urban_small__rllib_ppo_multi3__0__")
    s = _scalars(run)
    # one shared module learns from every device
    assert any(t.startswith(f"learner/{rl.SHARED_POLICY}/") for t in s)
    assert not any(t.startswith("learner/default_policy/") for t in s)
    assert s["rllib/episode_len_mean"][-1] == 20.0
    # RLlib's episode return sums the devices; episode/return is the mean over devices
    assert s["rllib/episode_return_mean"][-1] == pytest.approx(n * s["episode/return"][-1], rel=1e-6)
    assert 0.0 <= s["episode/accuracy"][-1] <= 1.0
    algo = rl.load_algorithm(run / "checkpoint")
    try:
        assert algo.get_module(rl.SHARED_POLICY) is not None
        assert algo.get_module("default_policy") is None
    finally:
        algo.stop()
