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
import re
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
PATHLOSS_MODELS = ("umi", "uma", "rma")
#: Reward term names, in the order used in ``info["reward_terms"]``.
REWARD_TERMS = (
    "accuracy", "failed_requests", "energy", "air_bytes", "backhaul_bytes", "invalid_action",
)


class ScenarioError(ValueError):
    """A scenario file or override that breaks the schema; the message names file, key and value.

    ``problems`` lists every problem found (one line each); a file with several problems is
    reported with all of them at once."""

    def __init__(self, message: str, problems: list[str] | None = None) -> None:
        super().__init__(message)
        self.problems = problems if problems is not None else [message]


class UnknownKeywordError(ScenarioError, TypeError):
    """A keyword argument that is neither an argument of the environment nor a scenario key: a
    ``TypeError`` too, as Python raises for an unexpected keyword (libraries such as TorchRL
    retry without the keyword on ``TypeError``)."""


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
    """Blockage of the serving link (mmWave / sub-THz): a continuous-time two-state chain,
    onsets at ``rate_per_s`` while clear, exponential durations of mean ``mean_duration_s``."""

    enabled: bool = _f(False, doc="whether blockage is simulated")
    rate_per_s: float = _f(0.0, lo=0.0, hi=100.0, doc="blockage onsets per second while clear")
    mean_duration_s: float = _f(0.5, lo=1e-3, hi=100.0, doc="mean duration of one blockage")
    attenuation_db: float = _f(20.0, lo=0.0, hi=80.0, doc="extra loss while blocked")


@dataclass(frozen=True, kw_only=True)
class LoadConfig:
    """Serving-cell load: other active users sharing the bandwidth equally (full-buffer round robin)."""

    mean_other_users_day: float = _f(2.0, lo=0.0, hi=1000.0, doc="Poisson mean, day hours")
    mean_other_users_night: float = _f(0.5, lo=0.0, hi=1000.0, doc="Poisson mean, night hours")
    change_prob: float = _f(0.1, lo=0.0, hi=1.0, doc="probability per step that the load is redrawn")


@dataclass(frozen=True, kw_only=True)
class InterferenceConfig:
    """Downlink interference from the neighbour sites along the route (the previous and the next
    site), each weighted by its load: the fraction of its resources in use."""

    enabled: bool = _f(True, doc="whether neighbour-cell interference is simulated")
    load_day: float = _f(0.5, lo=0.0, hi=1.0, doc="mean resource utilisation of a neighbour cell, day hours")
    load_night: float = _f(0.2, lo=0.0, hi=1.0, doc="same, night hours")
    change_prob: float = _f(0.1, lo=0.0, hi=1.0, doc="probability per step that a neighbour's load is redrawn")
    gain_db: float = _f(0.0, lo=-40.0, hi=80.0, doc="combined antenna gain towards the device of an interfering site")


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
    antenna_gain_db: float = _f(0.0, lo=0.0, hi=80.0, doc="combined tx+rx antenna/beamforming gain of the serving link")
    noise_figure_db: float = _f(9.0, lo=0.0, hi=30.0, doc="receiver noise figure")
    bs_height_m: float = _f(10.0, lo=1.0, hi=150.0, doc="base-station antenna height")
    ue_height_m: float = _f(1.5, lo=1.0, hi=22.5, doc="device antenna height")
    street_width_m: float = _f(20.0, lo=5.0, hi=50.0, doc="average street width W (RMa path loss only)")
    building_height_m: float = _f(5.0, lo=5.0, hi=50.0, doc="average building height h (RMa path loss only)")
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
    interference: InterferenceConfig = field(default_factory=InterferenceConfig)
    estimate: EstimateConfig = field(default_factory=EstimateConfig)


@dataclass(frozen=True, kw_only=True)
class RadioConfig:
    """Receive power and the radio's RRC tail (energy of downloads)."""

    rx_base_power_w: float = _f(1.2, lo=0.0, hi=1000.0, doc="radio power while receiving, rate-independent part")
    rx_power_per_mbps_w: float = _f(0.05, lo=0.0, hi=10.0, doc="radio power while receiving, per Mbit/s of rate")
    tail_power_w: float = _f(1.0, lo=0.0, hi=1000.0, doc="radio power in the connected tail after a transfer")
    tail_s: float = _f(10.0, lo=0.0, hi=3600.0, doc="length of the tail (RRC inactivity timer)")
    promotion_s: float = _f(0.26, lo=0.0, hi=60.0, doc="idle -> connected promotion delay before a transfer")
    promotion_power_w: float = _f(1.2, lo=0.0, hi=1000.0, doc="radio power during the promotion")


@dataclass(frozen=True, kw_only=True)
class DeviceConfig:
    """A device class: compute, storage, battery, radio and the energy of inference."""

    device_class: str = _f("smartphone", choices=DEVICE_CLASSES, doc="device class")
    compute_macs_per_s: float = _f(1e11, lo=1e3, hi=1e16, doc="fp32 multiply-accumulates per second")
    int8_speedup: float = _f(2.0, lo=1.0, hi=64.0, doc="throughput of integer (W8A8) arithmetic over fp32")
    storage_bytes: float = _f(5e8, lo=1e3, hi=1e13, doc="model store: bytes for downloaded models")
    energy_budget_j: float = _f(1000.0, lo=1e-6, hi=1e9, doc="battery energy of one episode")
    e_mac_fp32_j: float = _f(4.6e-12, lo=0.0, hi=1e-6, doc="energy of one fp32 multiply-accumulate")
    e_mac_int8_j: float = _f(0.23e-12, lo=0.0, hi=1e-6, doc="energy of one int8 multiply-accumulate")
    technology_scale: float = _f(1.0, lo=1e-3, hi=10.0, doc="factor on the 45 nm arithmetic energies")
    e_mem_per_byte_j: float = _f(160e-12, lo=0.0, hi=1e-6, doc="energy per byte of weights read per inference")
    radio: RadioConfig = field(default_factory=RadioConfig)


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
    """One application: its model's library profile, request rate, budget and session lengths."""

    name: str = _f(doc="task name")
    profile: str = _f(doc="library profile name (compression/profiles) or path to a JSON file")
    request_rate_hz: float = _f(lo=0.0, hi=1e6, doc="Poisson inference-request rate while active")
    inference_latency_budget_s: float = _f(lo=0.0, hi=3600.0, lo_open=True,
                                           doc="per-request budget for waiting + inference")
    session_median_s: float = _f(60.0, lo=0.0, hi=1e7, lo_open=True,
                                 doc="median length of a session of this task (log-normal)")
    session_sigma: float = _f(1.0, lo=0.0, hi=5.0, doc="log-normal shape of the session length")


@dataclass(frozen=True, kw_only=True)
class TierConfig:
    """One library tier."""

    rtt_s: float = _f(lo=0.0, hi=10.0, doc="round-trip time from the device to this tier")
    backhaul_bps: float = _f(lo=1e3, hi=1e13, doc="rate from this tier to the base station")
    compress_bytes_per_s: float = _f(1e9, lo=1e3, hi=1e13,
                                     doc="on-the-fly compression throughput, bytes of full model (edge only)")
    capacity_bytes: float = _f(0.0, lo=0.0, hi=1e15, doc="cache capacity (edge only)")
    initial_fill_prob: float = _f(0.0, lo=0.0, hi=1.0, doc="probability a task's model is cached at reset (edge only)")


@dataclass(frozen=True, kw_only=True)
class LibraryConfig:
    """Three-tier AI library: central stores every variant, the local tier of a zone stores every
    variant of its zone's tasks, the edge caches full models and compresses training-free variants
    on the fly."""

    edge: TierConfig = _f(doc="edge tier (base station cache, LRU)")
    local: TierConfig = _f(doc="local tier (regional data centre)")
    central: TierConfig = _f(doc="central tier (cloud, holds every model)")
    fallthrough: bool = _f(True, doc="a tier lacking the variant forwards the request up (else: masked)")
    zone_tasks: list[list[int]] = _f([], doc="per zone, the task indices its local tier stores")
    menu_size: int = _f(8, lo=1, hi=64, doc="variants per task offered by the action space")


@dataclass(frozen=True, kw_only=True)
class ContextConfig:
    """Which task is active: a semi-Markov chain. Sessions last a log-normal time (per task);
    the next task is drawn with probabilities proportional to its popularity in the current zone
    and part of the day (the current task excluded)."""

    popularity_day: list[list[float]] = _f(doc="per zone (or one row for all), K task popularities by day")
    popularity_night: list[list[float]] = _f([], doc="same for night hours (empty: the day rows)")


@dataclass(frozen=True, kw_only=True)
class RewardConfig:
    """Weights of the named reward terms (each term is documented in the env docstring)."""

    accuracy: float = _f(1.0, lo=0.0, hi=1e6, doc="per served request's accuracy, per expected request")
    failed_requests: float = _f(1.0, lo=0.0, hi=1e6, doc="per failed request, per expected request")
    energy: float = _f(0.5, lo=0.0, hi=1e6, doc="per energy spent, in units of budget / horizon")
    air_bytes: float = _f(0.0, lo=0.0, hi=1e6, doc="per GB received over the air")
    backhaul_bytes: float = _f(0.0, lo=0.0, hi=1e6, doc="per GB moved over the backhaul beyond the edge")
    invalid_action: float = _f(1.0, lo=0.0, hi=1e6, doc="per invalid action")


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
        out, problems = [], []
        for i, v in enumerate(value):
            try:
                out.append(_convert(inner, v, file, f"{key}[{i}]"))
            except ScenarioError as exc:
                problems.append(exc)
        _raise_all(problems)
        return out
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
            raise _err(file, key, value, f"has type {type(value).__name__}; allowed: a number (float)"
                       + (" (quoted numbers are strings)" if isinstance(value, str) and _is_number(value) else ""))
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
    problems: list[ScenarioError] = []
    for k in data:
        if k not in fields:
            key = f"{prefix}.{k}" if prefix else str(k)
            problems.append(_err(file, key, data[k], f"is an unknown key; allowed keys here: {sorted(fields)}"))
    kwargs = {}
    for name, f in fields.items():
        key = f"{prefix}.{name}" if prefix else name
        if name not in data:
            if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                problems.append(_err(file, key, None, "is missing; this key is required"))
            continue
        try:
            value = _convert(hints[name], data[name], file, key)
            _check_meta(f.metadata, value, file, key)
        except ScenarioError as exc:
            problems.append(exc)
            continue
        kwargs[name] = value
    _raise_all(problems)
    return cls(**kwargs)


def _raise_all(problems: list[ScenarioError]) -> None:
    """Raise the problems found as one error (the single error itself when there is one)."""
    if len(problems) == 1:
        raise problems[0]
    if problems:
        lines = [line for p in problems for line in p.problems]
        raise ScenarioError(f"{len(lines)} problems:\n" + "\n".join(f"  {line}" for line in lines), lines)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _public_fields(cls: type) -> list[dataclasses.Field]:
    return [f for f in dataclasses.fields(cls) if not f.metadata.get("internal")]


# --------------------------------------------------------------------------------------------
# Cross-field checks
# --------------------------------------------------------------------------------------------


def _check_popularity(rows: list[list[float]], k: int, n_zones: int, file: str, key: str) -> None:
    if len(rows) not in (1, n_zones) or any(len(r) != k for r in rows):
        raise _err(file, key, rows, f"has the wrong shape; allowed: 1 or n_zones = {n_zones} rows of "
                   f"{k} popularities (one per task)")
    for i, row in enumerate(rows):
        for j, p in enumerate(row):
            if not 0.0 <= p <= 1e6:
                raise _err(file, f"{key}[{i}][{j}]", p, "is out of range; allowed: [0, 1e6]")
        if k > 1 and sum(1 for p in row if p > 0) < 2:
            raise _err(file, f"{key}[{i}]", row, "has fewer than 2 tasks with popularity > 0; allowed: "
                       "at least 2, so that a session can end in a switch to another task")


def _cross_check(sc: Scenario, file: str) -> None:
    k = sc.n_tasks
    if k < 1:
        raise _err(file, "tasks", sc.tasks, "is empty; allowed: at least one task")
    names = [t.name for t in sc.tasks]
    if len(set(names)) != len(names):
        raise _err(file, "tasks", names, "has duplicate task names; allowed: unique names")
    _check_popularity(sc.context.popularity_day, k, sc.mobility.n_zones, file, "context.popularity_day")
    if sc.context.popularity_night:
        _check_popularity(sc.context.popularity_night, k, sc.mobility.n_zones, file, "context.popularity_night")
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
    if p.is_dir():
        raise FileNotFoundError(f"scenario {str(p)!r} is a folder; allowed: a shipped scenario name "
                                f"({', '.join(available_scenarios())}) or the path of a .yaml file")
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
            node[last] = _deep_merge(node[last], value)
        else:
            node[last] = _copy(value)
    return data


def scenario_from_dict(data: dict[str, Any], file: str = "<dict>", **overrides: Any) -> Scenario:
    """Build and validate a :class:`Scenario` from a mapping (plus overrides)."""
    label = file
    if overrides:
        overrides = {k: _plain(v) for k, v in overrides.items()}
        top = {f.name for f in _public_fields(Scenario)}
        for key in overrides:
            head = str(key).replace(".", "__").split("__")[0]
            if head not in top:
                raise UnknownKeywordError(
                    f"unexpected keyword argument {key!r}: not an argument of the environment and not a "
                    f"scenario key; scenario keys: {sorted(top)} (nested keys as section__key)")
        label = f"{file} (with overrides {sorted(overrides)})"
        data = _apply_overrides(data, overrides, label)
    data = _merge_device_mix(data)
    sc = _build(Scenario, data, label, "")
    _cross_check(sc, label)
    return dataclasses.replace(sc, source_file=file)


def _deep_merge(base: dict[str, Any], over: dict[str, Any]) -> dict[str, Any]:
    """``over`` merged into a copy of ``base``, nested mappings merged key by key."""
    out = _copy(base)
    for k, v in over.items():
        out[k] = _deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else _copy(v)
    return out


def _plain(x: Any) -> Any:
    """Numpy scalars and arrays (e.g. from a parameter sweep) as plain Python values."""
    if hasattr(x, "item") and type(x).__module__ == "numpy" and getattr(x, "ndim", 1) == 0:
        return x.item()
    if hasattr(x, "tolist") and type(x).__module__ == "numpy":
        return x.tolist()
    if isinstance(x, dict):
        return {k: _plain(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_plain(v) for v in x]
    return x


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
            m["device"] = _deep_merge(base, m["device"])
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
        data = yaml.load(path.read_text(), Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"scenario {path}: not valid YAML ({exc})") from exc
    if data is None:
        data = {}
    return scenario_from_dict(_resolve_profiles(data, path.parent), str(path), **overrides)


class _StrictLoader(yaml.SafeLoader):
    """YAML SafeLoader that refuses duplicate keys (a duplicate silently wins in plain YAML)."""


def _no_duplicates(loader: yaml.SafeLoader, node: yaml.MappingNode, deep: bool = False) -> dict:
    seen: set = set()
    for key_node, _ in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in seen:
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (each key may appear once in a mapping)", key_node.start_mark)
        seen.add(key)
    return loader.construct_mapping(node, deep=deep)


_StrictLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _no_duplicates)
# YAML 1.1 (PyYAML) reads ``3.5e9`` (no dot or no exponent sign) as a string; YAML 1.2 and every
# other number parser read it as a float: so does this loader.
_StrictLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*(?:\.[0-9_]*)?|\.[0-9_]+)[eE][-+]?[0-9]+$"),
    list("-+0123456789."))


def _resolve_profiles(data: Any, folder: Path) -> Any:
    """Relative profile paths of a scenario file are relative to the file's folder."""
    tasks = data.get("tasks") if isinstance(data, dict) else None
    if not isinstance(tasks, list):
        return data
    out = dict(data)
    out["tasks"] = []
    for t in tasks:
        if isinstance(t, dict) and isinstance(t.get("profile"), str):
            prof = t["profile"]
            cand = folder / prof
            if (prof.endswith(".json") or "/" in prof) and not Path(prof).is_absolute() and cand.exists():
                t = {**t, "profile": str(cand)}
        out["tasks"].append(t)
    return out
