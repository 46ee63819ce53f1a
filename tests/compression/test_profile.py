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
    MAX_PLANES,
    SUPPORTED_SCHEMA_VERSIONS,
    Profile,
    ProfileError,
    accuracy_source_kind,
    available_profiles,
    load_profile,
    save_profile,
    upgrade_profile,
    validate_profile,
)

REPO = Path(__file__).resolve().parents[2]


def _variant(depth: int, kind: str, fraction: float, bits: int, acc: float,
             arithmetic: str = "float") -> dict:
    size = 1000 * depth * bits // 32 + 10
    v = {
        "depth": depth, "prune": {"kind": kind, "fraction": fraction}, "bits": bits,
        "arithmetic": arithmetic, "size_bytes": size, "macs": 5000 * depth,
        "params": 300 * depth, "accuracy": acc, "accuracy_source": "measured",
        "training_free": kind == "none", "latency_s": 1e-4 * depth,
        "proxies": {"synflow": 1.5 * depth}, "peak_memory_bytes": 4096,
    }
    if bits <= 8:
        v["progressive_accuracy"] = [round(acc * p / bits, 6) for p in range(1, bits)] + [acc]
        v["progressive_size_bytes"] = [size - (bits - p) * 5 for p in range(1, bits + 1)]
    return v


def _valid() -> dict:
    """A schema-2 profile: bit levels 32, 8 (weight-only) and 8 integer (W8A8)."""
    return {
        "schema_version": 2,
        "name": "test_profile", "task": "toy", "model": "tiny", "source": "measured",
        "levels": {"depth": [1, 2], "prune": [{"kind": "none", "fraction": 0.0},
                                              {"kind": "unstructured", "fraction": 0.5}],
                   "bits": [32, 8, 8], "arithmetic": ["float", "float", "integer"]},
        "variants": [
            _variant(1, "none", 0.0, 32, 0.6),
            _variant(2, "none", 0.0, 32, 0.8),
            _variant(2, "none", 0.0, 8, 0.79),
            _variant(2, "unstructured", 0.5, 8, 0.75),
            _variant(2, "none", 0.0, 8, 0.78, "integer"),
        ],
    }


def _schema1() -> dict:
    """A schema-1 profile as written before schema 2 (no arithmetic, no training_free)."""
    def v1(depth, kind, fraction, bits, acc, **extra):
        v = _variant(depth, kind, fraction, bits, acc)
        for key in ("arithmetic", "training_free", "accuracy_source", "progressive_accuracy",
                    "progressive_size_bytes"):
            v.pop(key, None)
        return {**v, **extra}

    return {
        "schema_version": 1,
        "name": "old_profile", "task": "toy", "model": "tiny", "source": "reference",
        "levels": {"depth": [1, 2], "prune": [{"kind": "none", "fraction": 0.0},
                                              {"kind": "structured", "fraction": 0.5}],
                   "bits": [32, 16, 4]},
        "variants": [
            v1(2, "none", 0.0, 32, 0.8, accuracy_source="published"),
            v1(2, "none", 0.0, 16, 0.8, accuracy_source="derived",
               progressive_accuracy=[0.1] * 16),
            v1(2, "structured", 0.5, 4, 0.7, accuracy_source="derived",
               progressive_accuracy=[0.2, 0.4, 0.6, 0.7], progressive_size_bytes=[200, 220, 240, 260]),
            v1(1, "none", 0.0, 4, 0.5, accuracy_source="derived"),
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
    assert "variant 5" in msg and "duplicate" in msg and str(tmp_path / "broken.json") in msg


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
    assert prof.shape == (2, 2, 3) and prof.schema_version == 2
    assert prof.bits == (32, 8, 8) and prof.arithmetic == ("float", "float", "integer")
    assert prof.bit_labels == ["32", "8", "W8A8"]
    assert prof.bit_index(8) == 1 and prof.bit_index(8, "integer") == 2
    assert prof.valid.sum() == 5
    # variant (depth 2, unstructured 0.5, 8 bits) sits at grid index (1, 1, 1)
    assert prof.accuracy[1, 1, 1] == 0.75 and prof.macs[1, 1, 1] == 10000
    assert prof.accuracy[1, 0, 2] == 0.78  # the W8A8 variant next to the 8-bit weight-only one
    assert not prof.valid[0, 1, 0] and np.isnan(prof.accuracy[0, 1, 0])
    assert prof.proxies["synflow"][0, 0, 0] == 1.5
    assert prof.training_free.dtype == bool and prof.training_free[1, 0, 2]
    assert not prof.training_free[1, 1, 1] and not prof.training_free[0, 1, 0]
    assert prof.accuracy_source.dtype == object and prof.accuracy_source[1, 0, 0] == "measured"
    assert prof.accuracy_source[0, 1, 0] is None
    assert prof.progressive_accuracy.shape == (2, 2, 3, 8)
    assert prof.progressive_size_bytes.shape == (2, 2, 3, 8)
    assert prof.progressive_accuracy[1, 0, 2, 7] == 0.78
    assert prof.progressive_size_bytes[1, 0, 1, 7] == prof.size_bytes[1, 0, 1]
    assert np.isnan(prof.progressive_accuracy[1, 0, 0]).all()  # float variant
    again = json.loads(path.read_text())
    assert again["schema_version"] == 2
    assert again == _valid()


def test_schema1_file_still_loads(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    path.write_text(json.dumps(_schema1()))
    prof = load_profile(path)
    assert prof.schema_version == 1 and prof.shape == (2, 2, 3)
    assert prof.arithmetic == ("float", "float", "float")
    # training_free = no pruning
    assert prof.training_free[1, 0, 0] and not prof.training_free[1, 1, 2]
    assert prof.accuracy_source[1, 0, 0] == "published"  # schema-1 kinds are kept as they are
    # per-plane lists where present, only for variants with integer codes (<= 8 bits)
    assert prof.progressive_accuracy[1, 1, 2, :4].tolist() == [0.2, 0.4, 0.6, 0.7]
    assert np.isnan(prof.progressive_accuracy[1, 1, 2, 4:]).all()
    assert np.isnan(prof.progressive_accuracy[1, 0, 1]).all()  # 16 bits: a float variant
    assert np.isnan(prof.progressive_accuracy[0, 0, 2]).all()  # no list in the file
    # a file without schema_version is schema 1 too (hand-written files predate the field)
    data = _schema1()
    data.pop("schema_version")
    path.write_text(json.dumps(data))
    assert load_profile(path).schema_version == 1


def test_save_upgrades_schema1_objects(tmp_path: Path) -> None:
    data = _schema1()
    data["source"] = "user"  # per-plane lists are optional in user profiles
    path = save_profile(data, tmp_path / "up.json")
    raw = json.loads(path.read_text())
    assert raw["schema_version"] == 2
    assert raw["levels"]["arithmetic"] == ["float"] * 3
    by_bits = {(v["depth"], v["bits"]): v for v in raw["variants"]}
    assert by_bits[(2, 32)]["accuracy_source"] == "published: not recorded (schema-1 profile)"
    assert "progressive_accuracy" not in by_bits[(2, 16)]  # dropped: a float variant
    assert by_bits[(2, 4)]["training_free"] is False and by_bits[(2, 32)]["training_free"] is True
    old = Profile.from_dict(_schema1())
    new = load_profile(path)
    assert new.schema_version == 2
    for name in ("valid", "accuracy", "size_bytes", "training_free"):
        assert np.array_equal(getattr(old, name), getattr(new, name), equal_nan=True)
    assert np.array_equal(old.progressive_accuracy, new.progressive_accuracy, equal_nan=True)
    assert upgrade_profile(_schema1()) == upgrade_profile(upgrade_profile(_schema1()))


@pytest.mark.parametrize("version", [3, 0, "2", True, None])
def test_unknown_schema_version_is_refused(tmp_path: Path, version) -> None:
    msg = _load_broken(tmp_path, lambda d: d.update(schema_version=version))
    assert str(tmp_path / "broken.json") in msg and "'schema_version'" in msg
    assert f"unsupported schema version {version!r}" in msg and "supported: 1, 2" in msg
    with pytest.raises(ProfileError, match="supported: 1, 2"):
        save_profile({**_valid(), "schema_version": version}, tmp_path / "x.json")


def test_schema2_variant_fields(tmp_path: Path) -> None:
    msg = _load_broken(tmp_path, lambda d: d["variants"][1].pop("arithmetic"))
    _assert_names(msg, tmp_path, 1, "arithmetic")
    msg = _load_broken(tmp_path, lambda d: d["variants"][1].pop("training_free"))
    _assert_names(msg, tmp_path, 1, "training_free")
    msg = _load_broken(tmp_path, lambda d: d["variants"][1].update(training_free=1))
    assert "expected bool, got int 1" in msg
    msg = _load_broken(tmp_path, lambda d: d["variants"][0].update(arithmetic="fixed"))
    _assert_names(msg, tmp_path, 0, "arithmetic")
    assert "must be one of ('float', 'integer')" in msg
    # a 32-bit integer variant is not a bit level
    msg = _load_broken(tmp_path, lambda d: d["variants"][0].update(arithmetic="integer"))
    assert "(32 bits, 'integer') is not a bit level" in msg


@pytest.mark.parametrize("source", ["derived", "published", "published:", "derived: ",
                                    "guessed: x", "published:no space", 3])
def test_schema2_accuracy_source_is_validated(tmp_path: Path, source) -> None:
    msg = _load_broken(tmp_path, lambda d: d["variants"][2].update(accuracy_source=source))
    _assert_names(msg, tmp_path, 2, "accuracy_source")


def test_schema2_accuracy_source_texts(tmp_path: Path) -> None:
    data = _valid()
    data["variants"][2]["accuracy_source"] = "published: Doe et al. 2020, ICML, Table 2 row 3"
    data["variants"][3]["accuracy_source"] = "derived: product of retentions"
    prof = load_profile(save_profile(data, tmp_path / "ok.json"))
    assert prof.accuracy_source[1, 0, 1].startswith("published: Doe")
    assert accuracy_source_kind(prof.accuracy_source[1, 1, 1]) == "derived"
    assert accuracy_source_kind("published") == "published"
    assert accuracy_source_kind("measured") == "measured" and accuracy_source_kind(None) is None


def test_schema2_levels(tmp_path: Path) -> None:
    msg = _load_broken(tmp_path, lambda d: d["levels"].pop("arithmetic"))
    assert "'levels.arithmetic'" in msg and "missing" in msg
    msg = _load_broken(tmp_path, lambda d: d["levels"].update(arithmetic=["float"]))
    assert "one entry per levels.bits entry (3), got 1" in msg
    msg = _load_broken(tmp_path, lambda d: d["levels"].update(bits=[32, 8, 4]))
    assert "'integer' needs 8 bits (W8A8), got levels.bits[2] = 4" in msg
    msg = _load_broken(tmp_path, lambda d: d["levels"].update(arithmetic=["float", "float", "float"]))
    assert "level (8 bits, float) appears twice" in msg


def test_duplicate_is_over_depth_prune_bits_arithmetic(tmp_path: Path) -> None:
    msg = _load_broken(tmp_path, lambda d: d["variants"].append(copy.deepcopy(d["variants"][4])))
    assert "variant 5" in msg and "duplicate" in msg and "'integer'" in msg


def test_schema2_per_plane_fields(tmp_path: Path) -> None:
    def broken(mutate) -> str:
        return _load_broken(tmp_path, mutate)

    msg = broken(lambda d: d["variants"][2].pop("progressive_accuracy"))
    _assert_names(msg, tmp_path, 2, "progressive_accuracy")
    assert "it comes with progressive_size_bytes" in msg
    msg = broken(lambda d: [d["variants"][4].pop(k) for k in ("progressive_accuracy",
                                                              "progressive_size_bytes")])
    _assert_names(msg, tmp_path, 4, "progressive_accuracy")
    assert "required in measured profiles" in msg
    msg = broken(lambda d: d["variants"][0].update(progressive_accuracy=[0.6]))
    _assert_names(msg, tmp_path, 0, "progressive_accuracy")
    assert "bits <= 8" in msg
    msg = broken(lambda d: d["variants"][2]["progressive_accuracy"].pop(0))
    assert "one entry per bit-plane (8), got 7" in msg
    msg = broken(lambda d: d["variants"][2]["progressive_size_bytes"].__setitem__(-1, 1))
    assert "must be > 0 and not below the entry before" in msg
    msg = broken(lambda d: d["variants"][2].update(size_bytes=9999))
    assert "must equal size_bytes (9999)" in msg
    msg = broken(lambda d: d["variants"][2]["progressive_accuracy"].__setitem__(-1, 0.5))
    assert "must equal accuracy (0.79)" in msg
    msg = broken(lambda d: d["variants"][2]["progressive_accuracy"].__setitem__(0, 1.5))
    assert "'progressive_accuracy[0]'" in msg and "must be <= 1.0" in msg
    # optional in user profiles
    data = _valid()
    data["source"] = "user"
    for key in ("progressive_accuracy", "progressive_size_bytes"):
        data["variants"][3].pop(key)
    prof = load_profile(save_profile(data, tmp_path / "user.json"))
    assert np.isnan(prof.progressive_accuracy[1, 1, 1]).all()


def test_shipped_profiles_load() -> None:
    for name in available_profiles():
        prof = load_profile(name)
        assert prof.schema_version in SUPPORTED_SCHEMA_VERSIONS and prof.valid.any()
        assert prof.training_free.shape == prof.valid.shape
        assert prof.progressive_accuracy.shape == (*prof.valid.shape, MAX_PLANES)
        assert len(prof.arithmetic) == len(prof.bits)


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
