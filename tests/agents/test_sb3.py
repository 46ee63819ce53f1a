"""SB3 factory: hyperparameters, training runs, TensorBoard tags, interrupt and resume
(on the tiny test double, a few hundred steps each)."""

from __future__ import annotations

import json
import os
import signal

import pytest
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.save_util import load_from_pkl
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from agents.evaluate import run_episodes
from agents.runs import COMMON_KEYS
from agents.sb3 import HyperparamError, TrainConfig, load_hyperparams, train
from agents.sb3_policy import load_learned_policy

CUSTOM_TAGS = ("episode/accuracy", "episode/failed_rate", "episode/no_model_rate", "episode/late_rate",
               "episode/energy_j", "episode/energy_left_j", "episode/downloads", "episode/downloads_completed",
               "episode/air_mb", "episode/backhaul_mb", "episode/tier_share/none", "episode/tier_share/central",
               "episode/reward_terms/accuracy", "episode/reward_terms/energy",
               "episode/reward_terms/failed_requests")


def test_hyperparams_default_and_scenario_override(tmp_path):
    hp = load_hyperparams("ppo", "urban_smartphone")
    assert hp["policy"] == "MlpPolicy" and hp["n_steps"] >= 1
    f = tmp_path / "ppo.yaml"
    f.write_text("default:\n  n_steps: 64\n  gamma: 0.9\nmy_scen:\n  gamma: 0.5\n")
    assert load_hyperparams("ppo", "my_scen", f) == {"n_steps": 64, "gamma": 0.5}
    assert load_hyperparams("ppo", "other", f) == {"n_steps": 64, "gamma": 0.9}


@pytest.mark.parametrize("text, match", [
    ("default:\n  n_stepz: 64\n", r"section 'default': unknown key 'n_stepz'; allowed: .*n_steps"),
    ("my_scen:\n  gamma: 0.5\n", "needs a top-level 'default' section"),
    ("default:\n  n_envs: 0\n", "n_envs must be an int >= 1, got 0"),
    ("default:\n  policy_kwargs: {activation_fn: swish}\n", "activation_fn 'swish'"),
])
def test_hyperparams_errors_name_the_key(tmp_path, text, match):
    f = tmp_path / "ppo.yaml"
    f.write_text(text)
    with pytest.raises(HyperparamError, match=match):
        load_hyperparams("ppo", "my_scen", f)


def test_missing_or_broken_hyperparameter_file(tmp_path):
    with pytest.raises(HyperparamError, match="not found"):
        load_hyperparams("ppo", "x", tmp_path / "nope.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("default: [1, 2\n")
    with pytest.raises(HyperparamError, match="not valid YAML"):
        load_hyperparams("ppo", "x", bad)


def test_unknown_algo():
    with pytest.raises(HyperparamError, match="--algo 'a2c' is not supported; allowed: ppo, dqn, maskable_ppo"):
        load_hyperparams("a2c", "x")


def _tags(run_dir):
    ea = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "histograms": 0, "tensors": 0})
    ea.Reload()
    return ea


@pytest.mark.parametrize("algo", ["ppo", "maskable_ppo", "dqn"])
def test_train_writes_model_meta_and_custom_tensorboard_tags(tiny_id, tmp_path, algo):
    run = train(TrainConfig(algo=algo, scenario=tiny_id, timesteps=320, seed=3, n_envs=2, logdir=tmp_path,
                            progress_bar=False, checkpoint_freq=160))
    assert run.name.startswith(f"TinyDownload-v1__{algo}__3__")
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["num_timesteps"] >= 320
    assert set(COMMON_KEYS) <= set(meta) and meta["backend"] == "sb3" and meta["algo"] == algo
    assert meta["finished_at"] is not None and "stable-baselines3" in meta["versions"]
    assert (run / "model.zip").is_file() and (run / "vecnormalize.pkl").is_file()
    assert any((run / "checkpoints").iterdir())
    ea = _tags(run)
    scalars = set(ea.Tags()["scalars"])
    assert set(CUSTOM_TAGS) <= scalars, set(CUSTOM_TAGS) - scalars
    assert {"actions/depth_level", "actions/bits_level"} <= set(ea.Tags()["histograms"])
    assert any("hyperparameters" in t for t in ea.Tags()["tensors"])
    # the saved model runs through the evaluator like any baseline
    policy = load_learned_policy(run)
    assert policy.algo == algo and policy.obs_normalizer is not None
    records = run_episodes(policy, tiny_id, [0], 1)
    assert records[0].stats.length > 0


class _Interrupt(BaseCallback):
    """Raises KeyboardInterrupt (what SIGINT does) once ``at`` steps are done."""

    def __init__(self, at: int):
        super().__init__()
        self.at = at

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.at:
            raise KeyboardInterrupt
        return True


class _Sigint(BaseCallback):
    """Sends SIGINT to this process ``times`` times once ``at`` steps are done (a real Ctrl-C)."""

    def __init__(self, at: int, times: int = 1):
        super().__init__()
        self.at, self.times = at, times

    def _on_step(self) -> bool:
        if self.num_timesteps == self.at:
            for _ in range(self.times):
                os.kill(os.getpid(), signal.SIGINT)
        return True


@pytest.mark.parametrize("times,expected_steps", [(1, 301), (2, 300)])
def test_sigint_stops_at_the_next_step_and_saves(tiny_id, tmp_path, times, expected_steps):
    """The first Ctrl-C stops learn() at the next env step (then saves); a second one at once."""
    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(KeyboardInterrupt):
        train("ppo", tiny_id, timesteps=10_000, seed=0, n_envs=1, logdir=tmp_path, progress_bar=False,
              callbacks=[_Sigint(300, times)])
    assert signal.getsignal(signal.SIGINT) is before  # the previous handler is back
    (run,) = list(tmp_path.iterdir())
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["num_timesteps"] == expected_steps
    assert (run / "model.zip").is_file() and (run / "vecnormalize.pkl").is_file()


@pytest.mark.parametrize("algo", ["ppo", "dqn"])
def test_interrupt_saves_and_resume_keeps_the_step_count(tiny_id, tmp_path, algo):
    with pytest.raises(KeyboardInterrupt):
        train(algo, tiny_id, timesteps=10_000, seed=0, n_envs=1, logdir=tmp_path, progress_bar=False,
              callbacks=[_Interrupt(300)])
    (first,) = list(tmp_path.iterdir())
    meta = json.loads((first / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["num_timesteps"] == 300
    assert (first / "model.zip").is_file() and (first / "vecnormalize.pkl").is_file()
    assert (first / "replay_buffer.pkl").is_file() == (algo == "dqn")
    second = train(algo, tiny_id, timesteps=600, logdir=tmp_path, resume=first, progress_bar=False)
    assert second != first and first.is_dir()  # a run folder is never reused
    meta2 = json.loads((second / "meta.json").read_text())
    assert meta2["start_timesteps"] == 300 and meta2["resumed_from"] == str(first)
    assert meta2["status"] == "finished" and 600 <= meta2["num_timesteps"] < 600 + 256
    steps = [e.step for e in _tags(second).Scalars("episode/accuracy")]
    assert min(steps) > 300  # the curves continue where the first run stopped
    if algo == "dqn":  # the replay buffer was restored: it holds the transitions of both runs
        buffer = load_from_pkl(second / "replay_buffer.pkl")
        # (the transition in flight when Ctrl-C arrived is lost: SB3 stores it after the callback)
        assert buffer.size() == meta2["num_timesteps"] - 1


def test_train_config_validates_and_train_takes_one_spelling(tmp_path):
    assert TrainConfig().algo == "ppo" and TrainConfig().scenario == "urban_smartphone"
    with pytest.raises(HyperparamError, match="--algo 'a2c' is not supported; allowed: ppo, dqn, maskable_ppo"):
        TrainConfig(algo="a2c")
    with pytest.raises(ValueError, match="--timesteps must be >= 1, got 0"):
        TrainConfig(timesteps=0)
    with pytest.raises(ValueError, match="--n-envs must be >= 1, got 0"):
        TrainConfig(n_envs=0)
    with pytest.raises(ValueError, match="vec='fast' not allowed"):
        TrainConfig(vec="fast")
    with pytest.raises(TypeError, match="no other settings"):
        train(TrainConfig(), seed=1)
    with pytest.raises(TypeError, match="timestepz"):
        train("ppo", "x", timestepz=5)
    with pytest.raises(TypeError, match="'algo' both by position and by keyword"):
        train("ppo", algo="dqn")
    with pytest.raises(FileNotFoundError, match="--resume '.*' is not a run folder"):
        train(TrainConfig(resume=tmp_path))
