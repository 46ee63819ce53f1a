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
