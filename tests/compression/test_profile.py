"""Profile schema validation: each error names the file, the variant index and the field."""

from __future__ import annotations

import copy
import json
import math
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from compression.profile import (
    ProfileError,
    load_profile,
    save_profile,
    validate_profile,
)

REPO = Path(__file__).resolve().parents[2]


def _variant(depth: int, kind: str, fraction: float, bits: int, acc: float) -> dict:
    return {
        "depth": depth, "prune": {"kind": kind, "fraction": fraction}, "bits": bits,
        "size_bytes": 1000 * depth * bits // 32 + 10, "macs": 5000 * depth, "params": 300 * depth,
        "accuracy": acc, "latency_s": 1e-4 * depth, "proxies": {"synflow": 1.5 * depth},
        "peak_memory_bytes": 4096,
    }


def _valid() -> dict:
    return {
        "name": "test_profile", "task": "toy", "model": "tiny", "source": "measured",
        "levels": {"depth": [1, 2], "prune": [{"kind": "none", "fraction": 0.0},
                                              {"kind": "unstructured", "fraction": 0.5}],
                   "bits": [32, 8]},
        "variants": [
            _variant(1, "none", 0.0, 32, 0.6),
            _variant(2, "none", 0.0, 32, 0.8),
            _variant(2, "none", 0.0, 8, 0.79),
            _variant(2, "unstructured", 0.5, 8, 0.75),
        ],
    }


def _load_broken(tmp_path: Path, mutate) -> str:
    """Write a mutated valid profile to a file, load it, return the error message."""
    data = _valid()
    mutate(data)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(data))  # NaN is written as the JSON extension NaN
    with pytest.raises(ProfileError) as exc:
        load_profile(path)
    return str(exc.value)


def _assert_names(msg: str, tmp_path: Path, index: int, field: str) -> None:
    assert str(tmp_path / "broken.json") in msg
    assert f"variant {index}" in msg
    assert repr(field) in msg


def test_missing_field(tmp_path: Path) -> None:
    msg = _load_broken(tmp_path, lambda d: d["variants"][1].pop("accuracy"))
    _assert_names(msg, tmp_path, 1, "accuracy")
    assert "missing" in msg


def test_negative_size(tmp_path: Path) -> None:
    msg = _load_broken(tmp_path, lambda d: d["variants"][2].update(size_bytes=-5))
    _assert_names(msg, tmp_path, 2, "size_bytes")
    assert "must be >= 0, got -5" in msg


def test_nan_accuracy(tmp_path: Path) -> None:
    msg = _load_broken(tmp_path, lambda d: d["variants"][0].update(accuracy=math.nan))
    _assert_names(msg, tmp_path, 0, "accuracy")
    assert "finite" in msg and "nan" in msg


def test_out_of_range_accuracy(tmp_path: Path) -> None:
    msg = _load_broken(tmp_path, lambda d: d["variants"][3].update(accuracy=1.5))
    _assert_names(msg, tmp_path, 3, "accuracy")
    assert "must be <= 1.0, got 1.5" in msg
    msg = _load_broken(tmp_path, lambda d: d["variants"][3].update(accuracy=-0.1))
    assert "must be >= 0.0, got -0.1" in msg


def test_wrong_type(tmp_path: Path) -> None:
    msg = _load_broken(tmp_path, lambda d: d["variants"][1].update(bits="8"))
    _assert_names(msg, tmp_path, 1, "bits")
    assert "expected int, got str '8'" in msg
    msg = _load_broken(tmp_path, lambda d: d["variants"][1].update(macs=True))
    assert "expected int, got bool True" in msg and "'macs'" in msg


def test_off_grid_variant(tmp_path: Path) -> None:
    msg = _load_broken(tmp_path, lambda d: d["variants"][0].update(depth=7))
    _assert_names(msg, tmp_path, 0, "depth")
    assert "7 is not in levels.depth [1, 2]" in msg
    msg = _load_broken(
        tmp_path, lambda d: d["variants"][3].update(prune={"kind": "structured", "fraction": 0.5})
    )
    _assert_names(msg, tmp_path, 3, "prune")
    assert "not in levels.prune" in msg


def test_duplicate_variant(tmp_path: Path) -> None:
    msg = _load_broken(tmp_path, lambda d: d["variants"].append(copy.deepcopy(d["variants"][1])))
    assert "variant 4" in msg and "duplicate" in msg and str(tmp_path / "broken.json") in msg


def test_top_level_errors_name_the_key(tmp_path: Path) -> None:
    msg = _load_broken(tmp_path, lambda d: d.pop("levels"))
    assert "'levels'" in msg and "missing" in msg
    msg = _load_broken(tmp_path, lambda d: d.update(source="guessed"))
    assert "'source'" in msg and "guessed" in msg


def test_each_error_has_its_own_message(tmp_path: Path) -> None:
    msgs = {
        _load_broken(tmp_path, lambda d: d["variants"][0].pop("accuracy")),
        _load_broken(tmp_path, lambda d: d["variants"][0].update(size_bytes=-1)),
        _load_broken(tmp_path, lambda d: d["variants"][0].update(accuracy=math.nan)),
        _load_broken(tmp_path, lambda d: d["variants"][0].update(accuracy=2.0)),
    }
    assert len(msgs) == 4


def test_round_trip_and_grid(tmp_path: Path) -> None:
    path = save_profile(_valid(), tmp_path / "p.json")
    prof = load_profile(path)
    assert prof.shape == (2, 2, 2)
    assert prof.valid.sum() == 4
    # variant (depth 2, unstructured 0.5, 8 bits) sits at grid index (1, 1, 1)
    assert prof.accuracy[1, 1, 1] == 0.75 and prof.macs[1, 1, 1] == 10000
    assert not prof.valid[0, 1, 0] and np.isnan(prof.accuracy[0, 1, 0])
    assert prof.proxies["synflow"][0, 0, 0] == 1.5
    again = json.loads(path.read_text())
    assert again["schema_version"] == 1
    again.pop("schema_version")
    assert again == _valid()


def test_save_refuses_to_overwrite(tmp_path: Path) -> None:
    path = save_profile(_valid(), tmp_path / "p.json")
    before = path.read_text()
    other = _valid()
    other["name"] = "other"
    with pytest.raises(FileExistsError, match="already exists"):
        save_profile(other, path)
    assert path.read_text() == before
    save_profile(other, path, overwrite=True)
    assert load_profile(path).name == "other"


def test_save_validates_first(tmp_path: Path) -> None:
    bad = _valid()
    bad["variants"][0]["accuracy"] = 3.0
    with pytest.raises(ProfileError, match="accuracy"):
        save_profile(bad, tmp_path / "bad.json")
    assert not (tmp_path / "bad.json").exists()


def test_validate_dict_without_path() -> None:
    bad = _valid()
    bad["variants"][2]["latency_s"] = -1.0
    with pytest.raises(ProfileError, match=r"profile <dict>, variant 2, field 'latency_s'"):
        validate_profile(bad)


def test_missing_file_lists_shipped_profiles(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="not found"):
        load_profile(tmp_path / "nope.json")


def test_loading_imports_no_torch(tmp_path: Path) -> None:
    path = save_profile(_valid(), tmp_path / "p.json")
    code = (
        "import sys, compression.profile as p; p.load_profile(sys.argv[1]); "
        "assert 'torch' not in sys.modules, 'torch was imported'"
    )
    res = subprocess.run([sys.executable, "-c", code, str(path)], cwd=REPO, capture_output=True,
                         text=True, timeout=120)
    assert res.returncode == 0, res.stderr
