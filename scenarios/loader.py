"""Typed, validated scenario configuration.

A scenario file (``scenarios/<name>.yaml``) fixes everything the simulation needs: the channel
(3GPP TR 38.901 propagation, fading, blockage, cell load), the device class, mobility and zones,
the tasks with their library profiles and budgets, the three library tiers and the reward weights.
It is parsed into the frozen dataclasses below. Validation happens once, at load time: an unknown
key, a wrong type or an out-of-range value raises :class:`ScenarioError` naming the file, the dotted
key, the value and what is allowed.

Overrides (``load_scenario(name, **overrides)`` and ``gymnasium.make(id, **overrides)``) use the
same validation. Three spellings are accepted and may be mixed:

* a top-level field: ``dt_s=0.5``;
* a nested field with ``__`` as separator: ``channel__bandwidth_hz=1e8``;
* a nested mapping that is merged into the section: ``channel={"bandwidth_hz": 1e8}``.

This module imports neither gymnasium nor torch.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

#: Directory of the shipped scenario files.
SCENARIO_DIR = Path(__file__).resolve().parent

#: Device classes known to the simulation (docs/model.md, Entities).
DEVICE_CLASSES = ("smartphone", "xr_glasses", "iot_sensor", "vehicle", "drone")
#: Path-loss models implemented (3GPP TR 38.901 Table 7.4.1-1).
PATHLOSS_MODELS = ("umi", "uma")
#: Reward term names, in the order used in ``info["reward_terms"]``.
REWARD_TERMS = (
    "accuracy", "latency_violation", "deadline_miss", "energy", "backhaul", "invalid_action",
)


class ScenarioError(ValueError):
    """A scenario file or override that breaks the schema; the message names file, key and value."""


def _f(default: Any = dataclasses.MISSING, *, lo: float | None = None, hi: float | None = None,
       choices: tuple | None = None, lo_open: bool = False, doc: str = "") -> Any:
    """A dataclass field with validation metadata (range, open lower bound, choices, doc)."""
    meta = {"lo": lo, "hi": hi, "choices": choices, "lo_open": lo_open, "doc": doc}
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: _copy(d), metadata=meta)
    return field(default=default, metadata=meta)


def _copy(x: Any) -> Any:
    if isinstance(x, list):
        return [_copy(v) for v in x]
    if isinstance(x, dict):
        return {k: _copy(v) for k, v in x.items()}
    return x


# --------------------------------------------------------------------------------------------
# Sections
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class BlockageConfig:
    """Two-state (clear/blocked) Markov blockage of the serving link (mmWave / sub-THz)."""

    enabled: bool = _f(False, doc="whether blockage is simulated")
    rate_per_s: float = _f(0.0, lo=0.0, hi=100.0, doc="blockage onsets per second while clear")
    mean_duration_s: float = _f(0.5, lo=1e-3, hi=100.0, doc="mean duration of one blockage")
    attenuation_db: float = _f(20.0, lo=0.0, hi=80.0, doc="extra loss while blocked")


@dataclass(frozen=True, kw_only=True)
class LoadConfig:
    """Cell load: other active users sharing the bandwidth equally (full-buffer round robin)."""

    mean_other_users_day: float = _f(2.0, lo=0.0, hi=1000.0, doc="Poisson mean, day hours")
    mean_other_users_night: float = _f(0.5, lo=0.0, hi=1000.0, doc="Poisson mean, night hours")
    change_prob: float = _f(0.1, lo=0.0, hi=1.0, doc="probability per step that the load is redrawn")


@dataclass(frozen=True, kw_only=True)
class EstimateConfig:
    """How outdated and noisy the rate estimate in the observation is."""

    delay_steps: int = _f(1, lo=0, hi=16, doc="the observation shows the rate measured this many steps ago")
    noise_db: float = _f(1.0, lo=0.0, hi=20.0, doc="std of log-normal estimation error in dB")


@dataclass(frozen=True, kw_only=True)
class ChannelConfig:
    """Radio link between the serving base station and the device."""

    pathloss_model: str = _f("umi", choices=PATHLOSS_MODELS, doc="3GPP TR 38.901 scenario")
    carrier_hz: float = _f(28e9, lo=0.5e9, hi=1e12, doc="carrier frequency")
    bandwidth_hz: float = _f(100e6, lo=1e3, hi=100e9, doc="channel bandwidth")
    tx_power_dbm: float = _f(35.0, lo=-10.0, hi=80.0, doc="base-station transmit power")
    antenna_gain_db: float = _f(0.0, lo=0.0, hi=80.0, doc="combined tx+rx antenna/beamforming gain")
    noise_figure_db: float = _f(9.0, lo=0.0, hi=30.0, doc="receiver noise figure")
    bs_height_m: float = _f(10.0, lo=1.0, hi=150.0, doc="base-station antenna height")
    ue_height_m: float = _f(1.5, lo=1.0, hi=22.5, doc="device antenna height")
    inter_site_distance_m: float = _f(200.0, lo=10.0, hi=1e5, doc="distance between base stations along the route")
    route_offset_m: float = _f(20.0, lo=0.0, hi=1e4, doc="perpendicular distance of the route from the sites")
    rician_k_db: float = _f(9.0, lo=-20.0, hi=40.0, doc="Rician K-factor in line of sight")
    shadowing_corr_distance_m: float = _f(13.0, lo=0.1, hi=1e4, doc="shadow-fading decorrelation distance")
    los_corr_distance_m: float = _f(50.0, lo=0.1, hi=1e4, doc="LoS-state decorrelation distance")
    absorption_db_per_km: float = _f(0.0, lo=0.0, hi=1e5, doc="molecular absorption (sub-THz)")
    o2i_loss_db: float = _f(0.0, lo=0.0, hi=100.0, doc="outdoor-to-indoor penetration loss (38.901 sec. 7.4.3)")
    implementation_gap_db: float = _f(3.0, lo=0.0, hi=20.0, doc="SNR gap to Shannon capacity")
    max_spectral_efficiency: float = _f(7.4063, lo=0.01, hi=100.0, doc="rate cap in bit/s/Hz")
    blockage: BlockageConfig = field(default_factory=BlockageConfig)
    load: LoadConfig = field(default_factory=LoadConfig)
    estimate: EstimateConfig = field(default_factory=EstimateConfig)


@dataclass(frozen=True, kw_only=True)
class DeviceConfig:
    """A device class: compute, storage, energy, radio and arithmetic energy."""

    device_class: str = _f("smartphone", choices=DEVICE_CLASSES, doc="device class")
    compute_macs_per_s: float = _f(1e11, lo=1e3, hi=1e16, doc="fp32 multiply-accumulates per second")
    storage_bytes: float = _f(5e8, lo=1e3, hi=1e13, doc="storage reserved for the downloaded model")
    energy_budget_j: float = _f(1000.0, lo=1e-6, hi=1e9, doc="energy budget of one episode")
    rx_power_w: float = _f(1.0, lo=0.0, hi=1000.0, doc="radio power while receiving")
    e_mult_8bit_j: float = _f(0.2e-12, lo=0.0, hi=1e-6, doc="energy of one 8-bit integer multiply")
    e_add_8bit_j: float = _f(0.03e-12, lo=0.0, hi=1e-6, doc="energy of one 8-bit integer add")
    technology_scale: float = _f(1.0, lo=1e-3, hi=10.0, doc="factor on the 45 nm arithmetic energies")


@dataclass(frozen=True, kw_only=True)
class MobilityConfig:
    """Movement along a route past base stations (each cell is a zone) and time of day."""

    speed_mps: float = _f(1.4, lo=0.0, hi=300.0, doc="device speed")
    direction_change_prob: float = _f(0.0, lo=0.0, hi=1.0, doc="probability per step of turning around")
    n_zones: int = _f(1, lo=1, hi=64, doc="number of distinct zones; cell c is zone c mod n_zones")
    start_hour_min: float = _f(0.0, lo=0.0, hi=24.0, doc="episode start hour drawn uniformly from [min, max)")
    start_hour_max: float = _f(24.0, lo=0.0, hi=24.0, doc="see start_hour_min")
    day_start_hour: float = _f(7.0, lo=0.0, hi=24.0, doc="hours in [day_start, day_end) are day")
    day_end_hour: float = _f(22.0, lo=0.0, hi=24.0, doc="see day_start_hour")


@dataclass(frozen=True, kw_only=True)
class TaskConfig:
    """One application: its model's library profile, request rate and budgets."""

    name: str = _f(doc="task name")
    profile: str = _f(doc="library profile name (compression/profiles) or path to a JSON file")
    request_rate_hz: float = _f(lo=0.0, hi=1e6, doc="Poisson inference-request rate while active")
    inference_latency_budget_s: float = _f(lo=0.0, hi=3600.0, lo_open=True, doc="per-request inference budget")
    download_deadline_s: float = _f(lo=0.0, hi=3600.0, lo_open=True, doc="deadline for a model download")


@dataclass(frozen=True, kw_only=True)
class TierConfig:
    """One library tier."""

    rtt_s: float = _f(lo=0.0, hi=10.0, doc="round-trip time from the device to this tier")
    backhaul_bps: float = _f(lo=1e3, hi=1e13, doc="rate from this tier to the base station")
    compress_bytes_per_s: float = _f(lo=1e3, hi=1e13, doc="on-the-fly compression throughput (bytes of full model)")
    capacity_bytes: float = _f(0.0, lo=0.0, hi=1e15, doc="cache capacity (edge only)")
    initial_fill_prob: float = _f(0.0, lo=0.0, hi=1.0, doc="probability a task's model is cached at reset (edge only)")


@dataclass(frozen=True, kw_only=True)
class LibraryConfig:
    """Three-tier AI library: edge, local, central (docs/model.md, Library tiers)."""

    edge: TierConfig = _f(doc="edge tier (base station cache, LRU)")
    local: TierConfig = _f(doc="local tier (regional data centre)")
    central: TierConfig = _f(doc="central tier (cloud, holds every model)")
    fallthrough: bool = _f(True, doc="a tier lacking the model forwards the request up (else: masked)")
    zone_tasks: list[list[int]] = _f([], doc="per zone, the task indices its local tier holds")


@dataclass(frozen=True, kw_only=True)
class ContextConfig:
    """Task switching as a Markov chain (day and night matrices)."""

    transition_day: list[list[float]] = _f(doc="K x K task transition matrix per step, day hours")
    transition_night: list[list[float]] = _f([], doc="same for night hours (empty: use the day matrix)")


@dataclass(frozen=True, kw_only=True)
class RewardConfig:
    """Weights of the named reward terms (each term is documented in the env docstring)."""

    accuracy: float = _f(1.0, lo=0.0, hi=1e6)
    latency_violation: float = _f(1.0, lo=0.0, hi=1e6)
    deadline_miss: float = _f(0.5, lo=0.0, hi=1e6)
    energy: float = _f(1.0, lo=0.0, hi=1e6)
    backhaul: float = _f(0.0, lo=0.0, hi=1e6)
    invalid_action: float = _f(1.0, lo=0.0, hi=1e6)


@dataclass(frozen=True, kw_only=True)
class DeviceMixEntry:
    """One device class of a multi-device cell (``envs.parallel_env``): its share of the devices
    and its device section (keys not given are taken from the scenario's ``device`` section)."""

    share: float = _f(lo=0.0, hi=1.0, lo_open=True, doc="fraction of the cell's devices of this class")
    device: DeviceConfig = _f(doc="device section of this class (merged onto the scenario's device)")


@dataclass(frozen=True, kw_only=True)
class CellConfig:
    """Defaults of the multi-device env (``envs.parallel_env``); the single-device env ignores it."""

    n_devices: int = _f(4, lo=1, hi=100_000, doc="devices sharing the cell")
    scheduler: str = _f("equal", choices=("equal", "proportional_fair"), doc="air-interface scheduler")
    pf_time_constant_steps: float = _f(10.0, lo=1.0, hi=1e9, doc="proportional-fair averaging time constant")
    device_mix: list[DeviceMixEntry] = _f([], doc="device classes and shares (empty: all devices are 'device')")


@dataclass(frozen=True, kw_only=True)
class Scenario:
    """A complete, validated scenario."""

    name: str = _f(doc="scenario name")
    description: str = _f("", doc="one-paragraph description")
    dt_s: float = _f(1.0, lo=1e-4, hi=3600.0, doc="decision epoch")
    max_episode_steps: int = _f(200, lo=1, hi=10_000_000, doc="horizon (truncation)")
    proxy: str = _f("params", doc="profile proxy advertised as the zero-shot score")
    channel: ChannelConfig = field(default_factory=ChannelConfig)
    device: DeviceConfig = field(default_factory=DeviceConfig)
    mobility: MobilityConfig = field(default_factory=MobilityConfig)
    tasks: list[TaskConfig] = _f(doc="the applications")
    library: LibraryConfig = _f(doc="library tiers")
    context: ContextConfig = _f(doc="task switching")
    reward: RewardConfig = field(default_factory=RewardConfig)
    cell: CellConfig = field(default_factory=CellConfig)
    source_file: str = field(default="<dict>", compare=False, metadata={"internal": True})

    @property
    def n_tasks(self) -> int:
        """Number of tasks K."""
        return len(self.tasks)

    def to_dict(self) -> dict[str, Any]:
        """Plain (JSON/YAML-serialisable) form."""
        d = dataclasses.asdict(self)
        d.pop("source_file", None)
        return d


# --------------------------------------------------------------------------------------------
# Generic typed builder
# --------------------------------------------------------------------------------------------


def _err(file: str, key: str, value: Any, problem: str) -> ScenarioError:
    return ScenarioError(f"scenario {file}: key '{key}': value {value!r} {problem}")


def _convert(tp: Any, value: Any, file: str, key: str) -> Any:
    origin = typing.get_origin(tp)
    if dataclasses.is_dataclass(tp):
        return _build(tp, value, file, key)
    if origin in (list,):
        (inner,) = typing.get_args(tp)
        if not isinstance(value, (list, tuple)):
            raise _err(file, key, value, f"has type {type(value).__name__}; allowed: a list")
        return [_convert(inner, v, file, f"{key}[{i}]") for i, v in enumerate(value)]
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(tp)
        for a in args:
            try:
                return _convert(a, value, file, key)
            except ScenarioError:
                continue
        raise _err(file, key, value, f"has the wrong type; allowed: {tp}")
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise _err(file, key, value, f"has type {type(value).__name__}; allowed: a number (float)")
        if not math.isfinite(float(value)):
            raise _err(file, key, value, "is not finite; allowed: a finite number")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise _err(file, key, value, f"has type {type(value).__name__}; allowed: an integer")
        return int(value)
    if tp is bool:
        if not isinstance(value, bool):
            raise _err(file, key, value, f"has type {type(value).__name__}; allowed: true or false")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise _err(file, key, value, f"has type {type(value).__name__}; allowed: a string")
        return value
    raise TypeError(f"unsupported field type {tp} at {key}")  # programming error


def _check_meta(meta: Any, value: Any, file: str, key: str) -> None:
    lo, hi, choices = meta.get("lo"), meta.get("hi"), meta.get("choices")
    if choices is not None and value not in choices:
        raise _err(file, key, value, f"is not allowed; allowed: one of {list(choices)}")
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        lo_bad = lo is not None and (value <= lo if meta.get("lo_open") else value < lo)
        hi_bad = hi is not None and value > hi
        if lo_bad or hi_bad:
            left = "(" if meta.get("lo_open") else "["
            raise _err(file, key, value, f"is out of range; allowed: {left}{lo}, {hi}]")


def _build(cls: type, data: Any, file: str, prefix: str) -> Any:
    where = prefix or "<top level>"
    if not isinstance(data, dict):
        raise _err(file, where, data, f"has type {type(data).__name__}; allowed: a mapping with keys "
                   f"{[f.name for f in _public_fields(cls)]}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in _public_fields(cls)}
    for k in data:
        if k not in fields:
            key = f"{prefix}.{k}" if prefix else str(k)
            raise _err(file, key, data[k], f"is an unknown key; allowed keys here: {sorted(fields)}")
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                raise _err(file, key, None, "is missing; this key is required")
            continue
        value = _convert(hints[name], data[name], file, key)
        _check_meta(f.metadata, value, file, key)
        kwargs[name] = value
    return cls(**kwargs)


def _public_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


# --------------------------------------------------------------------------------------------
# Cross-field checks
# --------------------------------------------------------------------------------------------


def _check_matrix(m: list[list[float]], k: int, file: str, key: str) -> None:
    if len(m) != k or any(len(row) != k for row in m):
        raise _err(file, key, m, f"has the wrong shape; allowed: a {k} x {k} matrix (one row per task)")
    for i, row in enumerate(m):
        for j, p in enumerate(row):
            if not 0.0 <= p <= 1.0:
                raise _err(file, f"{key}[{i}][{j}]", p, "is out of range; allowed: [0, 1]")
        if abs(sum(row) - 1.0) > 1e-6:
            raise _err(file, f"{key}[{i}]", row, f"sums to {sum(row):.6g}; allowed: rows summing to 1")


def _cross_check(sc: Scenario, file: str) -> None:
    k = sc.n_tasks
    if k < 1:
        raise _err(file, "tasks", sc.tasks, "is empty; allowed: at least one task")
    names = [t.name for t in sc.tasks]
    if len(set(names)) != len(names):
        raise _err(file, "tasks", names, "has duplicate task names; allowed: unique names")
    _check_matrix(sc.context.transition_day, k, file, "context.transition_day")
    if sc.context.transition_night:
        _check_matrix(sc.context.transition_night, k, file, "context.transition_night")
    zt = sc.library.zone_tasks
    if zt and len(zt) != sc.mobility.n_zones:
        raise _err(file, "library.zone_tasks", zt,
                   f"has {len(zt)} rows; allowed: one row per zone (mobility.n_zones = {sc.mobility.n_zones})")
    for z, row in enumerate(zt):
        for j, t in enumerate(row):
            if not 0 <= t < k:
                raise _err(file, f"library.zone_tasks[{z}][{j}]", t, f"is out of range; allowed: [0, {k - 1}]")
    m = sc.mobility
    if m.start_hour_max < m.start_hour_min:
        raise _err(file, "mobility.start_hour_max", m.start_hour_max,
                   f"is below mobility.start_hour_min = {m.start_hour_min}; allowed: >= start_hour_min")
    mix = sc.cell.device_mix
    if mix and abs(sum(m.share for m in mix) - 1.0) > 1e-6:
        raise _err(file, "cell.device_mix", [m.share for m in mix],
                   f"has shares summing to {sum(m.share for m in mix):.6g}; allowed: shares summing to 1")
    if sc.library.edge.capacity_bytes <= 0 and sc.library.edge.initial_fill_prob > 0:
        raise _err(file, "library.edge.initial_fill_prob", sc.library.edge.initial_fill_prob,
                   "needs library.edge.capacity_bytes > 0; allowed: 0 when the edge has no capacity")


# --------------------------------------------------------------------------------------------
# Public API
# --------------------------------------------------------------------------------------------


def available_scenarios() -> list[str]:
    """Names (file stems) of the shipped scenarios."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def scenario_path(name_or_path: str | Path) -> Path:
    """Resolve a shipped scenario name or a path to its YAML file.

    Raises:
        FileNotFoundError: naming what was looked for and the shipped scenarios.
    """
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") or p.exists():
        if not p.exists():
            raise FileNotFoundError(f"scenario file {str(p)!r} not found")
        return p
    cand = SCENARIO_DIR / f"{name_or_path}.yaml"
    if not cand.exists():
        raise FileNotFoundError(
            f"scenario {str(name_or_path)!r} not found; shipped scenarios: {', '.join(available_scenarios())}"
            " (or pass a path to a .yaml file)"
        )
    return cand


def _apply_overrides(data: dict[str, Any], overrides: dict[str, Any], file: str) -> dict[str, Any]:
    data = _copy(data)
    for raw_key, value in overrides.items():
        parts = raw_key.replace(".", "__").split("__")
        node = data
        for i, part in enumerate(parts[:-1]):
            sub = node.get(part)
            if sub is None:
                sub = node[part] = {}
            if not isinstance(sub, dict):
                raise ScenarioError(f"scenario {file}: override {raw_key!r}: '{'.'.join(parts[:i + 1])}' "
                                    "is not a section; allowed: overrides of nested keys of sections only")
            node = sub
        last = parts[-1]
        if isinstance(value, dict) and isinstance(node.get(last), dict):
            node[last] = {**node[last], **_copy(value)}
        else:
            node[last] = _copy(value)
    return data


def scenario_from_dict(data: dict[str, Any], file: str = "<dict>", **overrides: Any) -> Scenario:
    """Build and validate a :class:`Scenario` from a mapping (plus overrides)."""
    label = file
    if overrides:
        label = f"{file} (with overrides {sorted(overrides)})"
        data = _apply_overrides(data, overrides, label)
    data = _merge_device_mix(data)
    sc = _build(Scenario, data, label, "")
    _cross_check(sc, label)
    return dataclasses.replace(sc, source_file=file)


def _merge_device_mix(data: Any) -> Any:
    """``cell.device_mix[i].device`` keys not given are taken from the top-level ``device``."""
    cell = data.get("cell") if isinstance(data, dict) else None
    mix = cell.get("device_mix") if isinstance(cell, dict) else None
    if not isinstance(mix, list) or not any(isinstance(m, dict) and isinstance(m.get("device"), dict)
                                            for m in mix):
        return data
    base = data.get("device") if isinstance(data.get("device"), dict) else {}
    data = _copy(data)
    for m in data["cell"]["device_mix"]:
        if isinstance(m, dict) and isinstance(m.get("device"), dict):
            m["device"] = {**base, **m["device"]}
    return data


def load_scenario(name_or_path: str | Path, **overrides: Any) -> Scenario:
    """Load a shipped scenario by name, or a user's YAML file by path, applying validated overrides.

    Args:
        name_or_path: a name from :func:`available_scenarios` or a path to a ``.yaml`` file.
        **overrides: ``key=value`` with ``__`` separating nested keys (``channel__carrier_hz=60e9``)
            or a mapping merged into a section (``channel={"carrier_hz": 60e9}``).

    Raises:
        FileNotFoundError: unknown name or missing file.
        ScenarioError: invalid YAML, unknown key, wrong type or out-of-range value (the message
            names the file, the dotted key, the value and what is allowed).
    """
    path = scenario_path(name_or_path)
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ScenarioError(f"scenario {path}: not valid YAML ({exc})") from exc
    if data is None:
        data = {}
    return scenario_from_dict(data, str(path), **overrides)
