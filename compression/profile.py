"""Library profiles: the JSON tables of compressed model variants that the environment reads.

This module is the contract between ``compression/`` (which builds profiles with PyTorch) and
``envs/`` (which reads them). It imports neither torch nor gymnasium: loading a profile is
plain JSON plus validation, so the simulation can stay numpy-only.

The schema is documented in ``compression/README.md``. Every error raised by
:func:`load_profile` / :func:`validate_profile` names the file, the variant index and the field.

Schema 2 (current) adds a bit level's arithmetic (``float`` or ``integer`` = W8A8), a variant's
``arithmetic``, ``training_free`` and a free-text ``accuracy_source`` (``"measured"``,
``"published: ..."``, ``"derived: ..."``), and per-plane fields for every variant with integer
codes. Schema-1 files still load, with the defaults of :func:`upgrade_profile`;
:func:`save_profile` always writes schema 2.
"""

from __future__ import annotations

import copy
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

SCHEMA_VERSION = 2
#: Schema versions :func:`load_profile` reads (1: before arithmetic modes and per-plane fields).
SUPPORTED_SCHEMA_VERSIONS: tuple[int, ...] = (1, 2)

#: Allowed values of ``source``.
SOURCES = ("measured", "reference", "user")
#: Allowed values of ``prune.kind``.
PRUNE_KINDS = ("none", "structured", "unstructured")
#: Kinds of ``accuracy_source``: schema 1 stores the bare kind; schema 2 stores ``"measured"`` or
#: ``"<kind>: <where the number comes from>"`` for the two other kinds.
ACCURACY_SOURCES = ("measured", "derived", "published")
#: Allowed values of ``arithmetic``: ``float`` = weights dequantized, computation in float32
#: (float32/16-bit and weight-only low-bit variants); ``integer`` = integer weights and int8
#: activations, integer arithmetic (W8A8).
ARITHMETIC = ("float", "integer")
#: Bit width of the integer (W8A8) arithmetic mode.
INTEGER_BITS = 8
#: Variants with at most this many bits store integer codes, sent as bit-planes: they carry
#: ``progressive_accuracy`` / ``progressive_size_bytes`` (schema 2). Wider ones are float variants.
MAX_PLANES = 8

#: Parameter levels (``prune``) and bit levels of every shipped profile, measured and reference.
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
#: Bit widths of the bit levels; ``ARITHMETIC_LEVELS`` gives each level's arithmetic (the last
#: level, 8 bits integer, is W8A8).
BIT_LEVELS: tuple[int, ...] = (32, 16, 8, 6, 4, 2, 8)
ARITHMETIC_LEVELS: tuple[str, ...] = ("float",) * 6 + ("integer",)

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

#: Variant fields schema 2 adds to the required ones.
_VARIANT_REQUIRED_V2: dict[str, type | tuple[type, ...]] = {
    "arithmetic": str,
    "training_free": bool,
    "accuracy_source": str,
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


def schema_version_of(data: dict[str, Any], path: str | Path | None = None) -> int:
    """The schema version of a profile object: its ``schema_version``, 1 when absent.

    A file without the field predates schema 2 (``save_profile`` always writes it), so it is read
    as schema 1.

    Raises:
        ProfileError: naming the file, the value and the supported versions.
    """
    version = data.get("schema_version", 1)
    if isinstance(version, bool) or not isinstance(version, int) or (
        version not in SUPPORTED_SCHEMA_VERSIONS
    ):
        supported = ", ".join(str(v) for v in SUPPORTED_SCHEMA_VERSIONS)
        raise ProfileError(
            f"{_where(path, None, 'schema_version')}: unsupported schema version {version!r} "
            f"(supported: {supported})"
        )
    return version


def accuracy_source_kind(source: str | None) -> str | None:
    """``"measured"``, ``"published"`` or ``"derived"`` of an ``accuracy_source`` string (schema 1
    bare kinds and schema 2 ``"<kind>: <text>"`` alike); None for None."""
    if source is None:
        return None
    return source.split(":", 1)[0].strip()


def bit_level_labels(bits: Sequence[int], arithmetic: Sequence[str] | None = None) -> list[str]:
    """Labels of bit levels: ``"32"``, ``"8"``, ... for float levels, ``"W8A8"`` for integer."""
    arithmetic = arithmetic or ["float"] * len(bits)
    return [f"W{b}A8" if a == "integer" else str(b) for b, a in zip(bits, arithmetic)]


def _validate_accuracy_source(value: Any, version: int, where: str) -> None:
    _check_type(value, str, where)
    if version == 1:
        if value not in ACCURACY_SOURCES:
            raise ProfileError(f"{where}: must be one of {ACCURACY_SOURCES}, got {value!r}")
        return
    if value == "measured":
        return
    kind, sep, text = value.partition(":")
    if kind not in ("published", "derived") or not sep or not text.startswith(" ") or not text.strip():
        raise ProfileError(
            f"{where}: must be 'measured', 'published: <authors year, venue, table>' or "
            f"'derived: <rule>', got {value!r}"
        )


def _validate_levels(data: dict[str, Any], path: str | Path | None, version: int) -> list[tuple]:
    """Check ``levels``; return the bit levels as (bits, arithmetic) pairs."""
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
    if version == 1:
        return [(b, "float") for b in levels["bits"]]
    where = _where(path, None, "levels.arithmetic")
    if "arithmetic" not in levels:
        raise ProfileError(f"{where}: missing (schema {version}: one entry per levels.bits entry)")
    arith = levels["arithmetic"]
    _check_type(arith, list, where)
    if len(arith) != len(levels["bits"]):
        raise ProfileError(
            f"{where}: must have one entry per levels.bits entry ({len(levels['bits'])}), got {len(arith)}"
        )
    pairs = []
    for i, (b, a) in enumerate(zip(levels["bits"], arith)):
        if a not in ARITHMETIC:
            raise ProfileError(f"{_where(path, None, f'levels.arithmetic[{i}]')}: must be one of {ARITHMETIC}, got {a!r}")
        if a == "integer" and b != INTEGER_BITS:
            raise ProfileError(
                f"{_where(path, None, f'levels.arithmetic[{i}]')}: 'integer' needs {INTEGER_BITS} "
                f"bits (W8A8), got levels.bits[{i}] = {b}"
            )
        if (b, a) in pairs:
            raise ProfileError(f"{_where(path, None, f'levels.bits[{i}]')}: level ({b} bits, {a}) appears twice")
        pairs.append((b, a))
    return pairs


def _validate_progressive(v: dict[str, Any], i: int, path: str | Path | None, version: int,
                          source: str) -> None:
    has = [k for k in ("progressive_accuracy", "progressive_size_bytes") if k in v]
    for key in has:
        _check_type(v[key], list, _where(path, i, key))
    if "progressive_accuracy" in v:
        for j, a in enumerate(v["progressive_accuracy"]):
            _finite_number(a, _where(path, i, f"progressive_accuracy[{j}]"), 0.0, 1.0)
    if version == 1:
        return
    bits = v["bits"]
    if bits > MAX_PLANES:
        if has:
            raise ProfileError(
                f"{_where(path, i, has[0])}: only variants with integer codes (bits <= {MAX_PLANES}) "
                f"have per-plane fields; this one has {bits} bits"
            )
        return
    if len(has) == 1:
        other = ({"progressive_accuracy", "progressive_size_bytes"} - set(has)).pop()
        raise ProfileError(f"{_where(path, i, other)}: missing (it comes with {has[0]})")
    if not has:
        if source == "user":
            return  # optional in user profiles
        raise ProfileError(
            f"{_where(path, i, 'progressive_accuracy')}: missing (required in {source} profiles "
            f"for every variant with bits <= {MAX_PLANES})"
        )
    for key in has:
        if len(v[key]) != bits:
            raise ProfileError(
                f"{_where(path, i, key)}: must have one entry per bit-plane ({bits}), got {len(v[key])}"
            )
    sizes = v["progressive_size_bytes"]
    for j, s in enumerate(sizes):
        _check_type(s, int, _where(path, i, f"progressive_size_bytes[{j}]"))
        if s <= 0 or (j and s < sizes[j - 1]):
            raise ProfileError(
                f"{_where(path, i, f'progressive_size_bytes[{j}]')}: must be > 0 and not below the "
                f"entry before, got {s}"
            )
    if sizes[-1] != v["size_bytes"]:
        raise ProfileError(
            f"{_where(path, i, 'progressive_size_bytes')}: the last entry ({sizes[-1]}) must equal "
            f"size_bytes ({v['size_bytes']})"
        )
    if abs(v["progressive_accuracy"][-1] - v["accuracy"]) > 1e-9:
        raise ProfileError(
            f"{_where(path, i, 'progressive_accuracy')}: the last entry "
            f"({v['progressive_accuracy'][-1]}) must equal accuracy ({v['accuracy']})"
        )


def validate_profile(data: Any, path: str | Path | None = None) -> dict[str, Any]:
    """Check a profile object against the schema of its version and return it.

    The version is ``schema_version`` (1 when absent, see :func:`schema_version_of`).

    Args:
        data: the parsed JSON object.
        path: file it came from, used in error messages.

    Raises:
        ProfileError: with the file, the variant index and the field that is wrong.
    """
    if not isinstance(data, dict):
        raise ProfileError(f"profile {path}: top level must be a JSON object, got {type(data).__name__}")
    version = schema_version_of(data, path)
    for key, typ in _TOP_REQUIRED.items():
        if key not in data:
            raise ProfileError(f"{_where(path, None, key)}: missing (required: {', '.join(_TOP_REQUIRED)})")
        _check_type(data[key], typ, _where(path, None, key))
    if data["source"] not in SOURCES:
        raise ProfileError(f"{_where(path, None, 'source')}: must be one of {SOURCES}, got {data['source']!r}")

    pairs = _validate_levels(data, path, version)
    levels = data["levels"]
    depth_set = set(levels["depth"])
    prune_set = {prune_key(p) for p in levels["prune"]}
    bits_set = set(levels["bits"])
    pair_set = set(pairs)

    if not data["variants"]:
        raise ProfileError(f"{_where(path, None, 'variants')}: must hold at least one variant")
    required = dict(_VARIANT_REQUIRED)
    if version >= 2:
        required.update(_VARIANT_REQUIRED_V2)
    seen: set[tuple] = set()
    for i, v in enumerate(data["variants"]):
        if not isinstance(v, dict):
            raise ProfileError(f"profile {path}, variant {i}: must be an object, got {type(v).__name__}")
        for key, typ in required.items():
            if key not in v:
                raise ProfileError(f"{_where(path, i, key)}: missing (required: {', '.join(required)})")
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
        if "accuracy_source" in v:
            _validate_accuracy_source(v["accuracy_source"], version, _where(path, i, "accuracy_source"))
        for name, value in v["proxies"].items():
            if value is not None:
                _finite_number(value, _where(path, i, f"proxies.{name}"))
        if v["depth"] not in depth_set:
            raise ProfileError(f"{_where(path, i, 'depth')}: {v['depth']} is not in levels.depth {sorted(depth_set)}")
        if v["bits"] not in bits_set:
            raise ProfileError(f"{_where(path, i, 'bits')}: {v['bits']} is not in levels.bits {sorted(bits_set)}")
        arith = "float"
        if version >= 2:
            arith = v["arithmetic"]
            if arith not in ARITHMETIC:
                raise ProfileError(f"{_where(path, i, 'arithmetic')}: must be one of {ARITHMETIC}, got {arith!r}")
            if (v["bits"], arith) not in pair_set:
                raise ProfileError(
                    f"{_where(path, i, 'arithmetic')}: ({v['bits']} bits, {arith!r}) is not a bit level "
                    f"(levels.bits x levels.arithmetic: {pairs})"
                )
        _validate_progressive(v, i, path, version, data["source"])
        pk = prune_key(v["prune"])
        if pk not in prune_set:
            raise ProfileError(f"{_where(path, i, 'prune')}: {v['prune']} is not in levels.prune")
        key = (v["depth"], pk, v["bits"], arith)
        if key in seen:
            raise ProfileError(f"profile {path}, variant {i}: duplicate of an earlier variant {key}")
        seen.add(key)
    return data


def upgrade_profile(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-2 copy of a schema-1 profile object (one without ``schema_version`` or with 1).

    The rules are the ones :class:`Profile` applies when it reads a schema-1 file: every bit level
    and variant gets ``arithmetic: "float"``; ``training_free`` = no pruning; a bare
    ``accuracy_source`` kind gets a text (``"published: not recorded (schema-1 profile)"``), an
    absent one is ``"measured"`` for measured and user profiles; per-plane lists of variants wider
    than :data:`MAX_PLANES` bits are dropped (float variants have none). Fields already in
    schema-2 form are kept, so a builder may pass a complete schema-2 object without the version.
    """
    out = copy.deepcopy(data)
    out["schema_version"] = SCHEMA_VERSION
    levels = out.get("levels")
    if isinstance(levels, dict) and isinstance(levels.get("bits"), list):
        levels.setdefault("arithmetic", ["float"] * len(levels["bits"]))
    for v in out.get("variants", []) if isinstance(out.get("variants"), list) else []:
        if not isinstance(v, dict):
            continue
        v.setdefault("arithmetic", "float")
        if "training_free" not in v and isinstance(v.get("prune"), dict):
            v["training_free"] = v["prune"].get("kind") == "none"
        src = v.get("accuracy_source")
        if src is None and out.get("source") in ("measured", "user"):
            v["accuracy_source"] = "measured"
        elif src in ("published", "derived"):
            v["accuracy_source"] = f"{src}: not recorded (schema-1 profile)"
        if isinstance(v.get("bits"), int) and v["bits"] > MAX_PLANES:
            v.pop("progressive_accuracy", None)
            v.pop("progressive_size_bytes", None)
    return out


@dataclass(frozen=True)
class Profile:
    """A validated library profile, with its variants laid out on the (depth, prune, bits) grid.

    Grid arrays have shape ``(n_depth, n_prune, n_bits)`` in the order of ``levels``; cells the
    profile does not hold have ``valid == False`` (and NaN/0/None values). A bit level is a pair
    (``bits[k]``, ``arithmetic[k]``): 8 bits appears twice in the shipped profiles, once
    weight-only (float arithmetic) and once W8A8 (integer arithmetic).

    Attributes:
        name, task, model, source: the profile's identity fields.
        schema_version: version of the file (1 or 2); schema-1 files get the defaults of
            :func:`upgrade_profile`.
        depths: depth levels (number of blocks kept), ascending as in the file.
        prunes: ``(kind, fraction)`` per parameter level.
        bits: bit widths per bit level.
        arithmetic: ``"float"`` or ``"integer"`` per bit level (parallel to ``bits``).
        valid: bool grid, True where a variant exists.
        accuracy: accuracy in [0, 1].
        size_bytes, macs, params: float64 grids (exact integers stored as floats).
        latency_s: CPU latency measured (or derived, for reference profiles) in seconds.
        peak_memory_bytes: peak activation memory, 0 where absent.
        training_free: bool grid, True where the variant can be made from the stored full
            (multi-exit) model without training (False where invalid).
        accuracy_source: object grid of ``accuracy_source`` strings (None where invalid or absent).
        progressive_accuracy, progressive_size_bytes: float grids ``(n_depth, n_prune, n_bits,
            MAX_PLANES)``: entry ``p - 1`` is the accuracy / bytes after the first ``p``
            bit-planes; NaN beyond the variant's bits, for float variants and where absent.
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
    arithmetic: tuple[str, ...] = ()
    training_free: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0), dtype=bool))
    accuracy_source: np.ndarray = field(default_factory=lambda: np.empty((0, 0, 0), dtype=object))
    progressive_accuracy: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0, MAX_PLANES)))
    progressive_size_bytes: np.ndarray = field(default_factory=lambda: np.zeros((0, 0, 0, MAX_PLANES)))
    schema_version: int = SCHEMA_VERSION
    proxies: dict[str, np.ndarray] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False)
    path: str | None = None

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid shape ``(n_depth, n_prune, n_bits)``."""
        return self.valid.shape  # type: ignore[return-value]

    @property
    def bit_labels(self) -> list[str]:
        """Label per bit level: ``"32"``, ..., ``"2"``, ``"W8A8"`` (see :func:`bit_level_labels`)."""
        return bit_level_labels(self.bits, self.arithmetic)

    def bit_index(self, bits: int, arithmetic: str = "float") -> int:
        """Index of the bit level (``bits``, ``arithmetic``).

        Raises:
            ValueError: when the profile has no such level.
        """
        for k, pair in enumerate(zip(self.bits, self.arithmetic)):
            if pair == (bits, arithmetic):
                return k
        raise ValueError(f"profile {self.name}: no bit level ({bits} bits, {arithmetic!r})")

    @classmethod
    def from_dict(cls, data: dict[str, Any], path: str | Path | None = None) -> Profile:
        """Validate ``data`` and lay it out on the grid."""
        validate_profile(data, path)
        version = schema_version_of(data, path)
        levels = data["levels"]
        depths = tuple(int(d) for d in levels["depth"])
        prunes = tuple(prune_key(p) for p in levels["prune"])
        bits = tuple(int(b) for b in levels["bits"])
        arith = tuple(levels["arithmetic"]) if version >= 2 else ("float",) * len(bits)
        shape = (len(depths), len(prunes), len(bits))
        valid = np.zeros(shape, dtype=bool)
        grids = {k: np.full(shape, np.nan) for k in ("accuracy", "size_bytes", "macs", "params", "latency_s")}
        peak = np.zeros(shape)
        free = np.zeros(shape, dtype=bool)
        acc_src = np.full(shape, None, dtype=object)
        prog_acc = np.full((*shape, MAX_PLANES), np.nan)
        prog_size = np.full((*shape, MAX_PLANES), np.nan)
        proxy_names = sorted({n for v in data["variants"] for n in v["proxies"]})
        proxies = {n: np.full(shape, np.nan) for n in proxy_names}
        di = {d: i for i, d in enumerate(depths)}
        pi = {p: i for i, p in enumerate(prunes)}
        bi = {pair: i for i, pair in enumerate(zip(bits, arith))}
        measured_like = data["source"] in ("measured", "user")
        for v in data["variants"]:
            a = v.get("arithmetic", "float") if version >= 2 else "float"
            idx = (di[v["depth"]], pi[prune_key(v["prune"])], bi[(v["bits"], a)])
            valid[idx] = True
            for k in grids:
                grids[k][idx] = float(v[k])
            peak[idx] = float(v.get("peak_memory_bytes", 0))
            if version >= 2:
                free[idx] = bool(v["training_free"])
            else:
                free[idx] = v["prune"]["kind"] == "none"
            acc_src[idx] = v.get("accuracy_source", "measured" if measured_like else None)
            if v["bits"] <= MAX_PLANES:
                for key, grid in (("progressive_accuracy", prog_acc),
                                  ("progressive_size_bytes", prog_size)):
                    vals = [float(x) for x in v.get(key, [])][: min(v["bits"], MAX_PLANES)]
                    grid[idx][: len(vals)] = vals
            for n, val in v["proxies"].items():
                if val is not None:
                    proxies[n][idx] = float(val)
        return cls(
            name=data["name"], task=data["task"], model=data["model"], source=data["source"],
            depths=depths, prunes=prunes, bits=bits, valid=valid,
            accuracy=grids["accuracy"], size_bytes=grids["size_bytes"], macs=grids["macs"],
            params=grids["params"], latency_s=grids["latency_s"], peak_memory_bytes=peak,
            arithmetic=arith, training_free=free, accuracy_source=acc_src,
            progressive_accuracy=prog_acc, progressive_size_bytes=prog_size,
            schema_version=version, proxies=proxies, raw=data,
            path=str(path) if path is not None else None,
        )


def load_profile(path_or_name: str | Path) -> Profile:
    """Load and validate a profile (schema 1 or 2).

    Args:
        path_or_name: a path to a JSON file, or the name of a shipped profile (file stem under
            ``compression/profiles/``).

    Raises:
        FileNotFoundError: naming the path and the shipped profiles.
        ProfileError: when the file is not valid JSON, has an unsupported ``schema_version`` or
            breaks the schema.
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
    """Validate ``data`` and write it as JSON with ``schema_version`` = :data:`SCHEMA_VERSION`.

    A schema-1 object (no ``schema_version``, or 1) is first brought to schema 2 by
    :func:`upgrade_profile`. Refuses to replace an existing file unless ``overwrite`` is True, so a
    user's profile is never lost silently.

    Raises:
        ProfileError: the object breaks the schema (or names an unsupported version).
        FileExistsError: ``path`` exists and ``overwrite`` is False.
    """
    path = Path(path)
    if isinstance(data, dict) and schema_version_of(data, path) == 1:
        data = upgrade_profile(data)
    validate_profile(data, path)
    if path.exists() and not overwrite:
        raise FileExistsError(f"profile {path} already exists; pass overwrite=True to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(json.dumps({"schema_version": SCHEMA_VERSION, **data}, indent=1, sort_keys=False))
    tmp.replace(path)
    return path
