"""Build orchestration: resumability, never overwriting foreign files, CLI dispatch."""

from __future__ import annotations

import json

import pytest

from compression.__main__ import main
from compression.build import BUILDER, LEVELS, SETTINGS, build_task, profile_name
from compression.datasets import TASKS
from compression.profile import save_profile


def _finished_profile(task: str) -> dict:
    v = {
        "depth": 1, "prune": {"kind": "none", "fraction": 0.0}, "bits": 32, "size_bytes": 10,
        "macs": 5, "params": 3, "accuracy": 0.5, "latency_s": 1e-4, "proxies": {},
    }
    return {
        "name": profile_name(task), "task": task, "model": "m", "source": "measured",
        "builder": BUILDER, "levels": {"depth": [1], "prune": [v["prune"]], "bits": [32]},
        "variants": [v],
    }


def test_settings_cover_every_task_and_contract_levels():
    assert set(SETTINGS) == set(TASKS)
    assert LEVELS["depth"] == [1, 2, 3, 4] and LEVELS["bits"] == [32, 16, 8, 6, 4, 2]
    assert LEVELS["arithmetic"] == ["float"] * 6
    assert len(LEVELS["prune"]) == 8
    assert all(len(s["net"].widths) == 4 for s in SETTINGS.values())


def test_finished_task_is_skipped_without_force(tmp_path):
    path = save_profile(_finished_profile("har"), tmp_path / "measured_har.json")
    before = path.read_text()
    stages = []
    assert build_task("har", tmp_path, progress=lambda m, f: stages.append(m)) == path
    assert path.read_text() == before and stages == ["exists, skipped"]
    # the CLI resumes the same way
    assert main(["build", "--tasks", "har", "--out", str(tmp_path)]) == 0
    assert path.read_text() == before


def test_foreign_file_is_never_overwritten(tmp_path):
    foreign = tmp_path / "measured_kws.json"
    foreign.write_text(json.dumps({"mine": True}))
    for force in (False, True):
        with pytest.raises(FileExistsError, match="not written by compression.build"):
            build_task("kws", tmp_path, force=force)
    assert json.loads(foreign.read_text()) == {"mine": True}
    assert main(["build", "--tasks", "kws", "--out", str(tmp_path), "--force"]) == 2


def test_unknown_task_and_command():
    with pytest.raises(ValueError, match="unknown task 'cifar'"):
        build_task("cifar")
    assert main(["frobnicate"]) == 2
    assert main([]) == 2


def test_build_task_end_to_end_on_a_tiny_task(tmp_path, monkeypatch):
    """The whole pipeline on tiny data and a tiny net: a valid profile with measured fields."""
    import numpy as np

    import compression.build as build
    from compression.datasets import TaskData
    from compression.models import NetConfig
    from compression.profile import load_profile
    from compression.training import TrainConfig

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 96)
    x = (rng.normal(0, 1, (96, 1, 8, 8)) + y[:, None, None, None]).astype(np.float32)
    tiny = TaskData("har", x[:64], y[:64], x[64:], y[64:], 3, (1, 8, 8), 0, "tiny")
    monkeypatch.setattr(build, "load_task", lambda task, seed: tiny)
    monkeypatch.setitem(build.SETTINGS, "har", {"net": NetConfig(1, 3, (4, 6), (1, 2), 4, 1, 2, 3)})
    monkeypatch.setattr(build, "LEVELS", {
        "depth": [1, 2],
        "prune": [{"kind": "none", "fraction": 0.0}, {"kind": "structured", "fraction": 0.5},
                  {"kind": "unstructured", "fraction": 0.5}],
        "bits": [32, 4, 2],
        "arithmetic": ["float"] * 3,
    })
    monkeypatch.setattr(build, "COMMON", {
        **build.COMMON, "train": TrainConfig(epochs=2, batch_size=16), "finetune": TrainConfig(epochs=1),
        "proxy_batch": 16, "latency_rounds": 2, "latency_reps": 1,
    })
    path = build.build_task("har", tmp_path)
    prof = load_profile(path)
    assert prof.shape == (2, 3, 3) and prof.valid.all() and prof.source == "measured"
    raw = json.loads(path.read_text())
    assert raw["builder"] == BUILDER and raw["task_info"]["n_test"] == 32
    by = {(v["depth"], v["prune"]["kind"], v["bits"]): v for v in raw["variants"]}
    for d in (1, 2):
        v4 = by[(d, "none", 4)]
        assert len(v4["progressive_accuracy"]) == 4 and v4["progressive_accuracy"][-1] == v4["accuracy"]
        assert v4["progressive_size_bytes"][-1] == v4["size_bytes"]
        assert by[(d, "none", 2)]["size_bytes"] < v4["size_bytes"] < by[(d, "none", 32)]["size_bytes"]
        assert by[(d, "structured", 32)]["macs"] < by[(d, "none", 32)]["macs"]
        unst = by[(d, "unstructured", 32)]
        assert unst["macs_nonzero"] < unst["macs"] == by[(d, "none", 32)]["macs"]
        assert all(v["accuracy_source"] == "measured" and v["latency_s"] > 0 for v in raw["variants"])
    assert by[(1, "none", 32)]["macs"] < by[(2, "none", 32)]["macs"]
    assert "params" in raw["proxy_correlations"]
