"""Library profiles: the JSON tables of compressed model variants that the environment reads.

This module is the contract between ``compression/`` (which builds profiles with PyTorch) and
``envs/`` (which reads them). It imports neither torch nor gymnasium: loading a profile is
plain JSON plus validation, so the simulation can stay numpy-only.

The schema is documented in ``compression/README.md``. Every error raised by
:func:`load_profile` / :func:`validate_profile` names the file, the variant index and the field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_VERSION = 1

#: Allowed values of ``source``.
SOURCES = ("measured", "reference", "user")
#: Allowed values of ``prune.kind``.
PRUNE_KINDS = ("none", "structured", "unstructured")
#: Allowed values of a variant's ``accuracy_source``.
ACCURACY_SOURCES = ("measured", "derived", "published")

#: Parameter levels (``prune``) and bit widths of every shipped profile, measured and reference.
PRUNE_LEVELS: tuple[dict[str, Any], ...] = (
    {"kind": "none", "fraction": 0.0},
    {"kind": "structured", "fraction": 0.25},
    {"kind": "structured", "fraction": 0.5},
    {"kind": "structured", "fraction": 0.75},
    {"kind": "unstructured", "fraction": 0.25},
    {"kind": "unstructured", "fraction": 0.5},
    {"kind": "unstructured", "fraction": 0.75},
    {"kind": "unstructured", "fraction": 0.9},
)
BIT_LEVELS: tuple[int, ...] = (32, 16, 8, 6, 4, 2)

#: Directory of the profiles shipped with the package.
PROFILE_DIR = Path(__file__).resolve().parent / "profiles"

_TOP_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "name": str,
    "task": str,
    "model": str,
    "source": str,
    "levels": dict,
    "variants": list,
}

_VARIANT_REQUIRED: dict[str, type | tuple[type, ...]] = {
    "depth": int,
    "prune": dict,
    "bits": int,
    "size_bytes": int,
    "macs": int,
    "params": int,
    "accuracy": (int, float),
    "latency_s": (int, float),
    "proxies": dict,
}


class ProfileError(ValueError):
    """A library profile that does not follow the schema. The message names file, variant, field."""


def _where(path: str | Path | None, index: int | None, key: str) -> str:
    loc = f"profile {str(path) if path is not None else '<dict>'}"
    if index is not None:
        loc += f", variant {index}"
    return f"{loc}, field {key!r}"


def _check_type(value: Any, typ: type | tuple[type, ...], where: str) -> None:
    types = typ if isinstance(typ, tuple) else (typ,)
    # bool is a subclass of int: reject it where a number is wanted
    if isinstance(value, bool) and bool not in types:
        raise ProfileError(f"{where}: expected {_type_names(types)}, got bool {value!r}")
    if not isinstance(value, types):
        raise ProfileError(
            f"{where}: expected {_type_names(types)}, got {type(value).__name__} {value!r}"
        )


def _type_names(types: tuple[type, ...]) -> str:
    return " or ".join(t.__name__ for t in types)


def _finite_number(value: Any, where: str, low: float | None = None, high: float | None = None) -> None:
    _check_type(value, (int, float), where)
    if isinstance(value, float) and not math.isfinite(value):
        raise ProfileError(f"{where}: must be a finite number, got {value!r}")
    if low is not None and value < low:
        raise ProfileError(f"{where}: must be >= {low}, got {value!r}")
    if high is not None and value > high:
        raise ProfileError(f"{where}: must be <= {high}, got {value!r}")


def prune_key(prune: dict[str, Any]) -> tuple[str, float]:
    """Canonical hashable key of a ``prune`` object: ``(kind, fraction rounded to 4 digits)``."""
    return str(prune["kind"]), round(float(prune["fraction"]), 4)


def _validate_prune(prune: Any, where: str) -> None:
    _check_type(prune, dict, where)
    for key in ("kind", "fraction"):
        if key not in prune:
            raise ProfileError(f"{where}.{key}: missing (required keys: kind, fraction)")
    if prune["kind"] not in PRUNE_KINDS:
        raise ProfileError(f"{where}.kind: must be one of {PRUNE_KINDS}, got {prune['kind']!r}")
    _finite_number(prune["fraction"], f"{where}.fraction", 0.0, 0.999)
    if prune["kind"] == "none" and prune["fraction"] != 0:
        raise ProfileError(f"{where}.fraction: must be 0 when kind is 'none', got {prune['fraction']!r}")


def validate_profile(data: Any, path: str | Path | None = None) -> dict[str, Any]:
    """Check a profile object against the schema and return it.

    Args:
        data: the parsed JSON object.
        path: file it came from, used in error messages.

    Raises:
        ProfileError: with the file, the variant index and the field that is wrong.
    """
    if not isinstance(data, dict):
        raise ProfileError(f"profile {path}: top level must be a JSON object, got {type(data).__name__}")
    for key, typ in _TOP_REQUIRED.items():
        if key not in data:
            raise ProfileError(f"{_where(path, None, key)}: missing (required: {', '.join(_TOP_REQUIRED)})")
        _check_type(data[key], typ, _where(path, None, key))
    if data["source"] not in SOURCES:
        raise ProfileError(f"{_where(path, None, 'source')}: must be one of {SOURCES}, got {data['source']!r}")

    levels = data["levels"]
    for axis in ("depth", "prune", "bits"):
        if axis not in levels:
            raise ProfileError(f"{_where(path, None, 'levels.' + axis)}: missing (required axes: depth, prune, bits)")
        _check_type(levels[axis], list, _where(path, None, "levels." + axis))
        if not levels[axis]:
            raise ProfileError(f"{_where(path, None, 'levels.' + axis)}: must not be empty")
    for i, d in enumerate(levels["depth"]):
        _check_type(d, int, _where(path, None, f"levels.depth[{i}]"))
        if d < 1:
            raise ProfileError(f"{_where(path, None, f'levels.depth[{i}]')}: must be >= 1, got {d}")
    for i, p in enumerate(levels["prune"]):
        _validate_prune(p, _where(path, None, f"levels.prune[{i}]"))
    for i, b in enumerate(levels["bits"]):
        _check_type(b, int, _where(path, None, f"levels.bits[{i}]"))
        if not 1 <= b <= 32:
            raise ProfileError(f"{_where(path, None, f'levels.bits[{i}]')}: must be in [1, 32], got {b}")
    depth_set = set(levels["depth"])
    prune_set = {prune_key(p) for p in levels["prune"]}
    bits_set = set(levels["bits"])

    if not data["variants"]:
        raise ProfileError(f"{_where(path, None, 'variants')}: must hold at least one variant")
    seen: set[tuple] = set()
    for i, v in enumerate(data["variants"]):
        if not isinstance(v, dict):
            raise ProfileError(f"profile {path}, variant {i}: must be an object, got {type(v).__name__}")
        for key, typ in _VARIANT_REQUIRED.items():
            if key not in v:
                raise ProfileError(f"{_where(path, i, key)}: missing (required: {', '.join(_VARIANT_REQUIRED)})")
            _check_type(v[key], typ, _where(path, i, key))
        _validate_prune(v["prune"], _where(path, i, "prune"))
        for key in ("size_bytes", "macs", "params"):
            if v[key] < 0:
                raise ProfileError(f"{_where(path, i, key)}: must be >= 0, got {v[key]}")
        if v["size_bytes"] == 0:
            raise ProfileError(f"{_where(path, i, 'size_bytes')}: must be > 0, got 0")
        _finite_number(v["accuracy"], _where(path, i, "accuracy"), 0.0, 1.0)
        _finite_number(v["latency_s"], _where(path, i, "latency_s"), 0.0)
        for opt in ("macs_nonzero", "peak_memory_bytes"):
            if opt in v:
                _check_type(v[opt], int, _where(path, i, opt))
                if v[opt] < 0:
                    raise ProfileError(f"{_where(path, i, opt)}: must be >= 0, got {v[opt]}")
        if "accuracy_source" in v and v["accuracy_source"] not in ACCURACY_SOURCES:
            raise ProfileError(
                f"{_where(path, i, 'accuracy_source')}: must be one of {ACCURACY_SOURCES}, got {v['accuracy_source']!r}"
            )
        for name, value in v["proxies"].items():
            if value is not None:
                _finite_number(value, _where(path, i, f"proxies.{name}"))
        if "progressive_accuracy" in v:
            _check_type(v["progressive_accuracy"], list, _where(path, i, "progressive_accuracy"))
            for j, a in enumerate(v["progressive_accuracy"]):
                _finite_number(a, _where(path, i, f"progressive_accuracy[{j}]"), 0.0, 1.0)
        if v["depth"] not in depth_set:
            raise ProfileError(f"{_where(path, i, 'depth')}: {v['depth']} is not in levels.depth {sorted(depth_set)}")
        if v["bits"] not in bits_set:
            raise ProfileError(f"{_where(path, i, 'bits')}: {v['bits']} is not in levels.bits {sorted(bits_set)}")
        pk = prune_key(v["prune"])
        if pk not in prune_set:
            raise ProfileError(f"{_where(path, i, 'prune')}: {v['prune']} is not in levels.prune")
        key = (v["depth"], pk, v["bits"])
        if key in seen:
            raise ProfileError(f"profile {path}, variant {i}: duplicate of an earlier variant {key}")
        seen.add(key)
    return data


@dataclass(frozen=True)
class Profile:
    """A validated library profile, with its variants laid out on the (depth, prune, bits) grid.

    Grid arrays have shape ``(n_depth, n_prune, n_bits)`` in the order of ``levels``; cells the
    profile does not hold have ``valid == False`` (and NaN/0 values).

    Attributes:
        name, task, model, source: the profile's identity fields.
        depths: depth levels (number of blocks kept), ascending as in the file.
        prunes: ``(kind, fraction)`` per parameter level.
        bits: bit widths per bit level.
        valid: bool grid, True where a variant exists.
        accuracy: accuracy in [0, 1].
        size_bytes, macs, params: float64 grids (exact integers stored as floats).
        latency_s: CPU latency measured (or derived, for reference profiles) in seconds.
        peak_memory_bytes: peak activation memory, 0 where absent.
        proxies: proxy name -> grid of scores (NaN where absent).
        raw: the validated JSON object.
        path: file it was loaded from, if any.
    """

    name: str
    task: str
    model: str
    source: str
    depths: tuple[int, ...]
    prunes: tuple[tuple[str, float], ...]
    bits: tuple[int, ...]
    valid: np.ndarray
    accuracy: np.ndarray
    size_bytes: np.ndarray
    macs: np.ndarray
    params: np.ndarray
    latency_s: np.ndarray
    peak_memory_bytes: np.ndarray
    proxies: dict[str, np.ndarray] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    path: str | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid shape ``(n_depth, n_prune, n_bits)``."""
        return self.valid.shape  # type: ignore[return-value]

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str | Path | None = None) -> Profile:
        """Validate ``data`` and lay it out on the grid."""
        validate_profile(data, path)
        levels = data["levels"]
        depths = tuple(int(d) for d in levels["depth"])
        prunes = tuple(prune_key(p) for p in levels["prune"])
        bits = tuple(int(b) for b in levels["bits"])
        shape = (len(depths), len(prunes), len(bits))
        valid = np.zeros(shape, dtype=bool)
        grids = {k: np.full(shape, np.nan) for k in ("accuracy", "size_bytes", "macs", "params", "latency_s")}
        peak = np.zeros(shape)
        proxy_names = sorted({n for v in data["variants"] for n in v["proxies"]})
        proxies = {n: np.full(shape, np.nan) for n in proxy_names}
        di = {d: i for i, d in enumerate(depths)}
        pi = {p: i for i, p in enumerate(prunes)}
        bi = {b: i for i, b in enumerate(bits)}
        for v in data["variants"]:
            idx = (di[v["depth"]], pi[prune_key(v["prune"])], bi[v["bits"]])
            valid[idx] = True
            for k in grids:
                grids[k][idx] = float(v[k])
            peak[idx] = float(v.get("peak_memory_bytes", 0))
            for n, val in v["proxies"].items():
                if val is not None:
                    proxies[n][idx] = float(val)
        return cls(
            name=data["name"], task=data["task"], model=data["model"], source=data["source"],
            depths=depths, prunes=prunes, bits=bits, valid=valid,
            accuracy=grids["accuracy"], size_bytes=grids["size_bytes"], macs=grids["macs"],
            params=grids["params"], latency_s=grids["latency_s"], peak_memory_bytes=peak,
            proxies=proxies, raw=data, path=str(path) if path is not None else None,
        )


def load_profile(path_or_name: str | Path) -> Profile:
    """Load and validate a profile.

    Args:
        path_or_name: a path to a JSON file, or the name of a shipped profile (file stem under
            ``compression/profiles/``).

    Raises:
        FileNotFoundError: naming the path and the shipped profiles.
        ProfileError: when the file is not valid JSON or breaks the schema.
    """
    path = Path(path_or_name)
    if not path.suffix and not path.exists():
        path = PROFILE_DIR / f"{path_or_name}.json"
    if not path.exists():
        raise FileNotFoundError(
            f"profile {str(path_or_name)!r} not found (looked at {path}); shipped profiles: "
            f"{', '.join(available_profiles()) or 'none'}"
        )
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as exc:
        raise ProfileError(f"profile {path}: not valid JSON ({exc})") from exc
    return Profile.from_dict(data, path)


def available_profiles() -> list[str]:
    """Names (file stems) of the profiles shipped under ``compression/profiles/``."""
    return sorted(p.stem for p in PROFILE_DIR.glob("*.json"))


def save_profile(data: dict[str, Any], path: str | Path, overwrite: bool = False) -> Path:
    """Validate ``data`` and write it as JSON.

    Refuses to replace an existing file unless ``overwrite`` is True, so a user's profile is never
    lost silently.
    """
    path = Path(path)
    validate_profile(data, path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"profile {path} already exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps({"schema_version": SCHEMA_VERSION, **data}, indent=1, sort_keys=False))
    tmp.replace(path)
    return path
