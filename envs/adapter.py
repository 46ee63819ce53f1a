"""What the three environment adapters share: the single env (:mod:`envs.model_download`), the
vector envs (:mod:`envs.vector`, :mod:`envs.mixed`) and the multi-device env
(:mod:`envs.multi_device`) are siblings over the one core :class:`envs.sim.BatchSim`.

* :func:`make_params`: scenario (name or path) + validated overrides -> tables (cached);
* argument checks (:func:`check_choice`, :func:`check_int`) and action validation
  (:func:`check_action` for one action, :func:`check_actions` for a batch);
* spaces (:func:`action_space`, :func:`observation_space`);
* the per-step info dict (:class:`InfoBuilder`), for one row or a batch.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import numpy as np
from gymnasium import spaces

from envs.sim import SimParams, build_params
from envs.sim.params import SOURCES, TIERS, flat_action_index
from envs.sim.reward import COST_NAMES, TERM_NAMES
from envs.sim.state import StepResult
from scenarios.loader import Scenario, _plain, load_scenario, scenario_path

ACTION_MODES = ("multidiscrete", "discrete")
OBS_MODES = ("flat", "dict")
#: Groups of the dict observation (``hardware``, not ``device``: TorchRL reserves ``device``).
OBS_GROUPS = ("hardware", "context", "channel", "library", "store")
#: Names of the components of a multi-discrete action.
ACTION_COMPONENTS = ("source", "task", "entry")
_SOURCE_NAMES = np.array(SOURCES)
_TIER_NAMES = np.array(TIERS)


@functools.lru_cache(maxsize=32)
def _cached_params(path: str, mtime: float, overrides_json: str) -> tuple[Scenario, SimParams]:
    sc = load_scenario(path, **json.loads(overrides_json))
    return sc, build_params(sc)


def make_params(scenario: str | Path, **overrides: Any) -> tuple[Scenario, SimParams]:
    """Load a scenario (name or path) with validated overrides and build its tables (cached by
    the file, its modification time and the overrides)."""
    path = scenario_path(scenario)
    overrides = {k: _plain(v) for k, v in overrides.items()}
    try:
        key = json.dumps(overrides, sort_keys=True)
    except TypeError as exc:
        raise TypeError(f"scenario overrides must be JSON-serialisable (got {overrides!r}): {exc}") from exc
    return _cached_params(str(path.resolve()), path.stat().st_mtime, key)


# ---------------------------------------------------------------------------------- arguments
def check_choice(name: str, value: Any, allowed: tuple, none_ok: bool = False) -> None:
    """Raise ValueError naming argument ``name``, its value and the allowed values."""
    if (value is None and none_ok) or value in allowed:
        return
    extra = "None or one of " if none_ok else ""
    raise ValueError(f"argument {name!r} = {value!r} not allowed; allowed: {extra}{allowed}")


def check_int(name: str, value: Any, low: int = 1, none_ok: bool = False) -> None:
    """Raise ValueError unless ``value`` is an int >= ``low`` (or None when ``none_ok``)."""
    if value is None and none_ok:
        return
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"argument {name!r} = {value!r} not allowed; allowed: "
                         f"{'None or ' if none_ok else ''}an int >= {low}")


# ---------------------------------------------------------------------------------- spaces
def action_space(params: SimParams, action_mode: str) -> spaces.Space:
    """``Discrete(n_actions)`` or ``MultiDiscrete([6, K, M])`` (source, task, menu entry)."""
    if action_mode == "discrete":
        return spaces.Discrete(params.n_actions)
    return spaces.MultiDiscrete(np.array(params.action_nvec, dtype=np.int64))


def group_index(feature_names: list[tuple[str, str]]) -> dict[str, np.ndarray]:
    """Per observation group, the indices of its features in the flat observation."""
    groups = [g for g, _ in feature_names]
    return {g: np.array([i for i, gg in enumerate(groups) if gg == g]) for g in OBS_GROUPS}


def observation_space(feature_names: list[tuple[str, str]], obs_mode: str) -> spaces.Space:
    """``Box(-1, 1, (obs_dim,))`` (flat) or a ``Dict`` of one Box per group (dict)."""
    if obs_mode == "dict":
        return spaces.Dict({g: spaces.Box(-1.0, 1.0, (len(ix),), dtype=np.float32)
                            for g, ix in group_index(feature_names).items()})
    return spaces.Box(-1.0, 1.0, (len(feature_names),), dtype=np.float32)


# ---------------------------------------------------------------------------------- actions
def check_action(action: Any, action_mode: str, nvec: np.ndarray, n_actions: int, who: str = "") -> int:
    """Validate one action of the env's action space and return its flat index.

    Raises:
        ValueError: the action is outside the action space (the message says which component).
    """
    of = f" of {who}" if who else ""
    if action_mode == "discrete":
        try:
            i = int(action)
        except (TypeError, ValueError):
            raise ValueError(f"action {action!r}{of} is not an integer; the action space is "
                             f"Discrete({n_actions})") from None
        if i != action or not 0 <= i < n_actions:
            raise ValueError(f"action {action!r}{of} is outside the action space Discrete({n_actions}): "
                             f"allowed integers 0 .. {n_actions - 1}")
        return i
    n = len(nvec)
    try:
        vals = action.tolist() if isinstance(action, np.ndarray) else list(action)
    except TypeError:
        raise ValueError(f"action {action!r}{of} is not a sequence of {n} integers; the action space is "
                         f"MultiDiscrete({nvec.tolist()})") from None
    if len(vals) != n:
        raise ValueError(f"action {action!r}{of} has {len(vals)} components; the action space "
                         f"MultiDiscrete({nvec.tolist()}) needs {n} ({', '.join(ACTION_COMPONENTS)})")
    bad = []
    for name, x, m in zip(ACTION_COMPONENTS, vals, nvec):
        ok = isinstance(x, (int, np.integer)) and not isinstance(x, bool) or (
            isinstance(x, (float, np.floating)) and float(x).is_integer())
        if not ok or not 0 <= x < m:
            bad.append(f"{name}={x!r} (allowed integers 0 .. {int(m) - 1})")
    if bad:
        raise ValueError(f"action {action!r}{of} is outside the action space MultiDiscrete({nvec.tolist()}): "
                         + ", ".join(bad))
    s_, k_, e_ = (int(x) for x in vals)
    return int(flat_action_index(s_, k_, e_, int(nvec[1]), int(nvec[2])))


def check_actions(actions: Any, n: int, action_mode: str, n_actions: int, nvec: np.ndarray,
                  single_space: spaces.Space) -> np.ndarray:
    """Validate a batch of ``n`` actions: int64 ``[n]`` (discrete) or ``[n, 3]`` (multi-discrete).

    Raises:
        ValueError: wrong shape, non-integer values, or a value outside the space (the row, the
            value and the allowed range are named).
    """
    a = np.asarray(actions)
    want = (n,) if action_mode == "discrete" else (n, len(nvec))
    if a.shape != want:
        raise ValueError(f"actions: expected shape {want} for {single_space} x num_envs={n}, "
                         f"got shape {a.shape}")
    if not np.issubdtype(a.dtype, np.integer):
        if a.dtype.kind not in "fb" or (a.dtype.kind == "f" and not np.all(np.floor(a) == a)):
            raise ValueError(f"actions must be integers, got dtype {a.dtype}: {a.ravel()[:8].tolist()}")
        a = a.astype(np.int64)
    if action_mode == "discrete":
        bad = (a < 0) | (a >= n_actions)
        if bad.any():
            i = int(np.argmax(bad))
            raise ValueError(f"actions[{i}] = {int(a[i])} is outside the action space "
                             f"Discrete({n_actions}): allowed 0 .. {n_actions - 1}")
        return a.astype(np.int64, copy=False)
    bad = (a < 0) | (a >= nvec)
    if bad.any():
        i, j = (int(x) for x in np.argwhere(bad)[0])
        raise ValueError(f"actions[{i}] = {a[i].tolist()} is outside the action space "
                         f"MultiDiscrete({nvec.tolist()}): {ACTION_COMPONENTS[j]}={int(a[i, j])} "
                         f"(allowed 0 .. {int(nvec[j]) - 1})")
    return a.astype(np.int64, copy=False)


def component_masks(flat_masks: np.ndarray, nvec: np.ndarray) -> np.ndarray:
    """Per-component masks of multi-discrete actions from joint flat masks ``[..., n_actions]``:
    ``[..., sum(nvec)]``, the components concatenated; value x of a component is allowed if some
    valid joint action has it. A factored mask cannot express every joint constraint: a
    combination allowed component by component may still be invalid jointly (a penalised keep)."""
    lead = flat_masks.shape[:-1]
    g = flat_masks.reshape(lead + tuple(int(x) for x in nvec))
    ax = len(lead)
    nc = len(nvec)
    comps = [g.any(axis=tuple(ax + j for j in range(nc) if j != c)) for c in range(nc)]
    return np.concatenate(comps, axis=-1)


def gym_mask(flat_mask: np.ndarray, nvec: np.ndarray, action_mode: str):
    """The mask in the form ``action_space.sample(mask=...)`` takes: int8 [n_actions] for
    ``Discrete``, a tuple of int8 per-component masks for ``MultiDiscrete`` (factored, see
    :func:`component_masks`)."""
    if action_mode == "discrete":
        return flat_mask.astype(np.int8)
    comp = component_masks(flat_mask, nvec).astype(np.int8)
    cuts = np.cumsum(nvec)[:-1]
    return tuple(np.split(comp, cuts, axis=-1))


# ---------------------------------------------------------------------------------- infos
class InfoBuilder:
    """The per-step ``info`` dict of every adapter, from a :class:`~envs.sim.state.StepResult` of
    a batch; :meth:`step` returns arrays over the rows, :func:`info_rows` splits them per row.

    Keys: ``reward_terms`` (each signed, weighted term), ``cost`` (``energy_j``,
    ``failed_requests``: constraint costs >= 0), ``action_source`` (the action's source name),
    ``source_tier`` (serving tier of a download started now: none, edge, local, central),
    ``target_task`` (task of a download started or a model evicted, -1 otherwise), ``variant``
    (depth, prune, bits level indices and ``integer`` of a download started now; -1 otherwise),
    ``download_latency_s`` (its latency if this step's rate held), ``downloaded`` (a download
    completed), ``cancelled``, ``requests``, ``served_requests``, ``failed_requests``,
    ``no_model_requests``, ``late_requests``, ``accuracy`` (mean over this step's requests, 0
    when none), ``accuracy_sum``, ``energy_j``, ``energy_radio_j``, ``air_bytes``,
    ``backhaul_bytes``, ``invalid_action``, ``invalid_actions`` (count since reset),
    ``energy_left_j``, ``task`` (the current task after the step), ``action_mask`` (valid
    actions of the next state in the form ``action_space.sample(mask=...)`` takes) and
    ``joint_action_mask`` (the exact joint mask over flat actions, bool [n_actions]).
    """

    def __init__(self, params: SimParams) -> None:
        lv = np.array([params.variant_levels(g) for g in range(params.no_model + 1)], dtype=np.int64)
        self._lv = (lv[:, 0], lv[:, 1], lv[:, 2])
        self._integer = params.var_integer
        self._src = params.act_src

    def step(self, res: StepResult, invalid_count: np.ndarray, energy_left_j: np.ndarray, task: np.ndarray,
             action_mask: Any, joint_mask: np.ndarray | None) -> dict:
        """The info dict of one step, arrays over the rows (see the class docstring)."""
        req = res.requests
        g = res.variant
        started = res.source_tier > 0
        acc = np.divide(res.accuracy_sum, req, out=np.zeros_like(req), where=req > 0)
        failed = req - res.served
        info = {
            "reward_terms": {name: res.terms[:, j] for j, name in enumerate(TERM_NAMES)},
            "cost": dict(zip(COST_NAMES, (res.energy_j, failed))),
            "action_source": _SOURCE_NAMES[self._src[res.action]],
            "source_tier": _TIER_NAMES[res.source_tier],
            "target_task": res.target_task,
            "variant": {"depth": self._lv[0][g], "prune": self._lv[1][g], "bits": self._lv[2][g],
                        "integer": np.where(started, self._integer[g], False)},
            "download_latency_s": res.download_latency_s,
            "downloaded": res.downloaded,
            "cancelled": res.cancelled,
            "requests": req,
            "served_requests": res.served,
            "failed_requests": failed,
            "no_model_requests": res.no_model,
            "late_requests": res.late,
            "accuracy": acc,
            "accuracy_sum": res.accuracy_sum,
            "energy_j": res.energy_j,
            "energy_radio_j": res.energy_radio_j,
            "air_bytes": res.air_bytes,
            "backhaul_bytes": res.backhaul_bytes,
            "invalid_action": res.invalid,
            "invalid_actions": invalid_count,
            "energy_left_j": energy_left_j,
            "task": task,
        }
        if action_mask is not None:
            info["action_mask"] = action_mask
        if joint_mask is not None:
            info["joint_action_mask"] = joint_mask
        return info


def info_rows(info: dict[str, Any], skip: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    """Split a batched info dict (arrays over B rows, nested dicts) into B dicts of Python scalars
    (keys in ``skip`` are left out)."""
    cols: dict[str, Any] = {}
    n = None
    for k, v in info.items():
        if k in skip:
            continue
        if isinstance(v, dict):
            cols[k] = info_rows(v)
            n = len(cols[k])
        else:
            cols[k] = v.tolist()
            n = len(cols[k])
    return [{k: c[i] for k, c in cols.items()} for i in range(n or 0)]
