"""Run folders and meta.json (agents.runs): names, never-reused folders, the one schema."""

from __future__ import annotations

import json
import re

import pytest

from agents import runs


def test_run_and_report_names():
    assert runs.run_name("urban_smartphone", "ppo", 3) == "urban_smartphone__ppo__3"
    assert runs.run_name("some/dir/my_city.yaml", "greedy", 0) == "my_city__greedy__0"
    assert runs.run_name("insitu_test/TinyDownload-v1", "dqn", 1) == "TinyDownload-v1__dqn__1"
    assert re.fullmatch(r"compare__my_city__\d{8}-\d{6}", runs.report_name("compare", "x/my_city.yaml"))
    assert re.fullmatch(r"connectivity__\d{8}-\d{6}", runs.report_name("connectivity"))


def test_unique_run_dir_never_reuses_a_folder(tmp_path, monkeypatch):
    monkeypatch.setattr(runs.time, "strftime", lambda fmt, *args: "20250101-120000")  # one second
    made = [runs.unique_run_dir(tmp_path / "logs", "s__ppo__0") for _ in range(3)]
    assert [p.name for p in made] == ["s__ppo__0__20250101-120000", "s__ppo__0__20250101-120000-1",
                                      "s__ppo__0__20250101-120000-2"]
    assert all(p.is_dir() for p in made)


@pytest.mark.parametrize("backend, extra", [
    ("sb3", {"n_envs": 2, "action_mode": "discrete", "start_timesteps": 0, "resumed_from": None,
             "torch_threads": 1}),
    ("rllib", {"multi_device": None, "num_env_runners": 0, "address": None}),
])
def test_one_schema_for_both_backends(tmp_path, backend, extra):
    meta = runs.new_meta(backend=backend, algo="ppo", scenario="urban_smartphone", seed=4,
                         total_timesteps=1000, hyperparams={"gamma": 0.9}, **extra)
    assert tuple(k for k in meta if k in runs.COMMON_KEYS) == runs.COMMON_KEYS
    assert set(meta) == set(runs.COMMON_KEYS) | set(extra)
    assert meta["status"] == "running" and meta["finished_at"] is None and meta["env_kwargs"] == {}
    assert meta["backend"] == backend and "python" in meta["versions"]
    runs.write_meta(tmp_path, meta)
    assert runs.read_meta(tmp_path) == json.loads(json.dumps(meta))
    runs.finish_meta(tmp_path, meta, "interrupted", 512, 1.5)
    done = runs.read_meta(tmp_path)
    assert done["status"] == "interrupted" and done["num_timesteps"] == 512 and done["wall_s"] == 1.5
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d", done["finished_at"])


def test_meta_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a run folder .no meta.json"):
        runs.read_meta(tmp_path)
    with pytest.raises(ValueError, match="backend 'jax' not allowed"):
        runs.new_meta(backend="jax", algo="ppo", scenario="s", seed=0, total_timesteps=1, hyperparams={})
    with pytest.raises(ValueError, match=r"would overwrite common meta.json keys"):
        runs.new_meta(backend="sb3", algo="ppo", scenario="s", seed=0, total_timesteps=1, hyperparams={},
                      status="done")
    meta = runs.new_meta(backend="sb3", algo="ppo", scenario="s", seed=0, total_timesteps=1, hyperparams={})
    with pytest.raises(ValueError, match="status 'running' not allowed at the end"):
        runs.finish_meta(tmp_path, meta, "running", 1, 0.0)
