"""Build orchestration: resumability, never overwriting foreign files, CLI dispatch."""

from __future__ import annotations

import json

import pytest

from compression.__main__ import main
from compression.build import BUILDER, LEVELS, SETTINGS, build_task, profile_name
from compression.datasets import TASKS
from compression.profile import save_profile


@pytest.fixture(autouse=True)
def _restore_pinned_env(monkeypatch):
    """`python -m compression build` pins the numerics variables in os.environ; undo that after
    each test (monkeypatch restores what it touched)."""
    import os

    from compression.numerics import PINNED_ENV

    for key in PINNED_ENV:
        if key in os.environ:
            monkeypatch.setenv(key, os.environ[key])
        else:
            monkeypatch.delenv(key, raising=False)


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
    assert LEVELS["depth"] == [1, 2, 3, 4] and LEVELS["bits"] == [32, 16, 8, 6, 4, 2, 8]
    assert LEVELS["arithmetic"] == ["float"] * 6 + ["integer"]
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
        "bits": [32, 8, 4, 2, 8],
        "arithmetic": ["float"] * 4 + ["integer"],
    })
    monkeypatch.setattr(build, "COMMON", {
        **build.COMMON, "train": TrainConfig(epochs=2, batch_size=16), "finetune": TrainConfig(epochs=1),
        "proxy_batch": 16, "latency_rounds": 2, "latency_reps": 1,
    })
    real_state = build.numerics_state
    monkeypatch.setattr(build, "numerics_state", lambda: {**real_state(), "pinned": False})
    with pytest.warns(UserWarning, match="CPU numerics not pinned"):
        path = build.build_task("har", tmp_path)
    prof = load_profile(path)
    assert prof.shape == (2, 3, 5) and prof.valid.all() and prof.source == "measured"
    raw = json.loads(path.read_text())
    assert raw["builder"] == BUILDER and raw["task_info"]["n_test"] == 32
    assert raw["build"]["numerics"]["threads"] == 1 and "pinned" in raw["build"]["numerics"]
    by = {(v["depth"], v["prune"]["kind"], v["bits"]): v for v in raw["variants"]
          if v["arithmetic"] == "float"}
    w8a8 = {(v["depth"], v["prune"]["kind"]): v for v in raw["variants"]
            if v["arithmetic"] == "integer"}
    for (d, kind), v in w8a8.items():
        w8 = by[(d, kind, 8)]
        assert v["bits"] == 8 and v["size_bytes"] == w8["size_bytes"]
        assert v["training_free"] == (kind == "none") == w8["training_free"]
        assert len(v["progressive_accuracy"]) == 8 and v["progressive_accuracy"][-1] == v["accuracy"]
        assert v["progressive_size_bytes"] == w8["progressive_size_bytes"]
        assert v["proxies"] == w8["proxies"]
    assert "progressive_accuracy" not in by[(1, "none", 32)]
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


def test_sub_grid_is_checked():
    from compression.build import _sub_grid

    full = _sub_grid(None)
    assert full == LEVELS and full is not LEVELS
    sub = _sub_grid({"prune": [{"kind": "none", "fraction": 0.0}], "bits": [8], "arithmetic": ["integer"]})
    assert sub["depth"] == [1, 2, 3, 4] and sub["bits"] == [8] and sub["arithmetic"] == ["integer"]
    with pytest.raises(ValueError, match="unknown axes"):
        _sub_grid({"width": [1]})
    with pytest.raises(ValueError, match="bits and arithmetic together"):
        _sub_grid({"bits": [8]})
    with pytest.raises(ValueError, match=r"bits \[\(4, 'integer'\)\]"):
        _sub_grid({"bits": [4], "arithmetic": ["integer"]})
    with pytest.raises(ValueError, match="depth"):
        _sub_grid({"depth": [5]})


#: The reduced grid rebuilt by the reproduction test: every depth, three parameter levels (no
#: pruning, structured and unstructured, so both fine-tuning paths run), 32/4 bits and W8A8.
REPRO_LEVELS = {
    "prune": [{"kind": "none", "fraction": 0.0}, {"kind": "structured", "fraction": 0.5},
              {"kind": "unstructured", "fraction": 0.9}],
    "bits": [32, 4, 8],
    "arithmetic": ["float", "float", "integer"],
}


@pytest.mark.slow
def test_reduced_build_reproduces_the_shipped_accuracies_exactly(tmp_path):
    """A reduced build of the har task in a fresh process with the pinned numerics (what
    ``python -m compression build`` does) gives bit-for-bit the shipped accuracies."""
    import subprocess
    import sys
    from pathlib import Path

    from compression.profile import PROFILE_DIR

    shipped = json.loads((PROFILE_DIR / "measured_har.json").read_text())
    if shipped.get("schema_version", 1) < 2:
        pytest.skip("measured_har.json is schema 1 (no W8A8 variants); rebuild it with "
                    "python -m compression build --tasks har --force")
    code = (
        "import json, sys\n"
        "from compression.numerics import pin_environment\n"
        "pin_environment()\n"
        "from compression.build import build_task\n"
        "build_task('har', sys.argv[1], levels=json.loads(sys.argv[2]))\n"
    )
    repo = Path(__file__).resolve().parents[2]
    res = subprocess.run(
        [sys.executable, "-W", "error::UserWarning", "-c", code, str(tmp_path),
         json.dumps(REPRO_LEVELS)],
        cwd=repo, capture_output=True, text=True, timeout=900,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    rebuilt = json.loads((tmp_path / "measured_har.json").read_text())
    assert rebuilt["build"]["numerics"]["pinned"] is True

    def key(v):
        return (v["depth"], v["prune"]["kind"], v["prune"]["fraction"], v["bits"], v["arithmetic"])

    want = {key(v): v for v in shipped["variants"]}
    assert len(rebuilt["variants"]) == 4 * 3 * 3
    for v in rebuilt["variants"]:
        ref = want[key(v)]
        for field in ("accuracy", "progressive_accuracy", "size_bytes", "progressive_size_bytes",
                      "macs", "macs_nonzero", "params", "inner_channels", "training_free"):
            assert v.get(field) == ref.get(field), (key(v), field)
