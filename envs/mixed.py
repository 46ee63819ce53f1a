"""Rows of several scenarios or device variants in one Gymnasium vector env.

:class:`MixedVectorEnv` batches *groups* of rows, each group a scenario (shipped name or YAML
path) with its own validated overrides, e.g. different devices in the same city, or the same
device in several cities (domain randomisation across the batch)::

    from envs.mixed import MixedVectorEnv
    venv = MixedVectorEnv({"urban_smartphone": 512, "highway_vehicle": 256, "iot_sensor": 256})
    venv = MixedVectorEnv([
        {"scenario": "urban_smartphone", "num_envs": 512},
        {"scenario": "urban_smartphone", "num_envs": 512, "device__compute_macs_per_s": 2e10},
    ])

Each group is one :class:`envs.vector.InsituVectorEnv` (one batched :class:`envs.sim.BatchSim`
over its rows; no other copy of the physics), and the groups' rows are concatenated in the
order given: row ``i`` of the mixed env is row ``i - offset[g]`` of group ``g``
(:attr:`row_group`, :attr:`group_slices`). Everything else follows
:class:`envs.vector.InsituVectorEnv`: the autoreset modes, infos as dicts of arrays with
``_key`` masks, ``reset(seed=s)`` seeding row ``i`` with ``s + i`` (so row ``i`` reproduces a
single env of its group's scenario reset with ``s + i``, step for step; tested), and
``reset(options={"reset_mask": mask})``.

Rows of one batch must share the observation and action spaces, i.e. scenarios with the same
number of tasks and the same compression grid (the shipped ``urban_smartphone``,
``iot_sensor`` and ``highway_vehicle`` have 4 tasks each, ``tactile_xr`` and ``rural_macro``
3); other combinations are refused with the groups and their spaces named. Columns mean the
same *kind* of feature in every group, but the task one-hot column ``j`` is task ``j`` of the
row's own scenario (:attr:`group_feature_names` lists each group's names); the device-class
one-hot, compute and storage columns tell the device kinds apart.

Each group steps as one batch, so a mixed batch of G groups costs about G times the fixed
per-step overhead of a batch plus the per-row work (``benchmarks/bench_vector.py --part mixed``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from envs.adapter import check_actions
from envs.vector import InsituVectorEnv, _autoreset_mode, check_reset_mask, row_seeds


def _parse_groups(groups: Any) -> list[tuple[str, int, dict[str, Any]]]:
    """``(scenario, num_envs, overrides)`` per group, with errors that name the entry."""
    if isinstance(groups, Mapping):
        entries = [{"scenario": k, "num_envs": v} for k, v in groups.items()]
    elif isinstance(groups, Sequence) and not isinstance(groups, str):
        entries = list(groups)
    else:
        raise ValueError(f"argument 'groups' = {groups!r} not allowed; allowed: a mapping "
                         "{scenario: num_envs} or a list of {'scenario': ..., 'num_envs': ..., **overrides}")
    if not entries:
        raise ValueError("argument 'groups' is empty; give at least one group")
    out = []
    for g, e in enumerate(entries):
        if not isinstance(e, Mapping) or "scenario" not in e or "num_envs" not in e:
            raise ValueError(f"groups[{g}] = {e!r} not allowed; each group is a mapping with the keys "
                             "'scenario' and 'num_envs' (other keys are scenario overrides)")
        n = e["num_envs"]
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"groups[{g}]['num_envs'] = {n!r} not allowed; it must be an int >= 1")
        overrides = {k: v for k, v in e.items() if k not in ("scenario", "num_envs")}
        out.append((str(e["scenario"]), int(n), overrides))
    return out


def _fill_like(value: np.ndarray, n: int) -> np.ndarray:
    """Placeholder rows for a group that has no value for an info key (masked False)."""
    if value.dtype == object:
        return np.full((n,) + value.shape[1:], None, dtype=object)
    return np.zeros((n,) + value.shape[1:], dtype=value.dtype)


def _merge_infos(parts: list[dict[str, Any]], sizes: list[int]) -> dict[str, Any]:
    """Concatenate the groups' vector infos (dicts of arrays, nested dicts, ``_key`` masks)."""
    keys: list[str] = []
    for p in parts:
        keys += [k for k in p if k not in keys]
    out: dict[str, Any] = {}
    for k in keys:
        vals = [p.get(k) for p in parts]
        ref = next(v for v in vals if v is not None)
        if isinstance(ref, dict):
            out[k] = _merge_infos([v if v is not None else {} for v in vals], sizes)
        elif k.startswith("_"):
            out[k] = np.concatenate([v if v is not None else np.zeros(n, dtype=bool) for v, n in zip(vals, sizes)])
        else:
            out[k] = np.concatenate([v if v is not None else _fill_like(ref, n) for v, n in zip(vals, sizes)])
    return out


class MixedVectorEnv(gym.vector.VectorEnv):
    """Groups of rows of different scenarios / device variants in one vector env (see the module).

    Args:
        groups: ``{scenario: num_envs}``, or a list of mappings ``{"scenario": name_or_path,
            "num_envs": n, **overrides}`` (overrides as for :class:`envs.ModelDownloadEnv`,
            validated per group; ``max_episode_steps`` there sets that group's time limit).
        action_mode, obs_mode, autoreset_mode: as for :class:`envs.vector.InsituVectorEnv`, the
            same for every group.
        max_episode_steps: time limit of the groups that do not set their own (``None``: only
            each scenario's horizon).

    Attributes:
        envs: the groups' :class:`envs.vector.InsituVectorEnv`, in order.
        group_slices: the rows of each group (``slice``), in order.
        row_group: int64 [N], the group of each row.
        group_names: the scenario (name or path) of each group.
        group_feature_names: the observation feature names of each group.
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, groups: Any, action_mode: str = "multidiscrete", obs_mode: str = "flat",
                 autoreset_mode: Any = AutoresetMode.NEXT_STEP, max_episode_steps: int | None = None,
                 render_mode: str | None = None):
        self.envs: list[InsituVectorEnv] = []  # (close() works even when a check below fails)
        parsed = _parse_groups(groups)
        mode = _autoreset_mode(autoreset_mode)
        if render_mode is not None:
            raise ValueError(f"argument 'render_mode' = {render_mode!r} not allowed for a vector env; "
                             "allowed: None (render a single env)")
        for g, (scenario, n, overrides) in enumerate(parsed):
            kw = {"max_episode_steps": max_episode_steps, **overrides}  # a group's own limit wins
            try:
                env = InsituVectorEnv(n, scenario=scenario, action_mode=action_mode, obs_mode=obs_mode,
                                      autoreset_mode=mode, **kw)
            except (ValueError, TypeError, KeyError) as exc:
                raise type(exc)(f"groups[{g}] (scenario {scenario!r}): {exc}") from exc
            first = self.envs[0] if self.envs else env
            for what in ("single_observation_space", "single_action_space"):
                if getattr(env, what) != getattr(first, what):
                    raise ValueError(
                        f"groups[{g}] (scenario {scenario!r}) has {what} {getattr(env, what)} but groups[0] "
                        f"(scenario {parsed[0][0]!r}) has {getattr(first, what)}: rows of one batch need the "
                        "same spaces (scenarios with the same number of tasks and the same compression grid)")
            self.envs.append(env)
        self.metadata = {**type(self).metadata, "autoreset_mode": mode}
        self.autoreset_mode = mode
        self.render_mode = None
        self.action_mode, self.obs_mode = action_mode, obs_mode
        sizes = [e.num_envs for e in self.envs]
        self._sizes = sizes
        self.num_envs = n_all = int(sum(sizes))
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(int)
        self.group_slices = [slice(int(offsets[g]), int(offsets[g + 1])) for g in range(len(sizes))]
        self.row_group = np.repeat(np.arange(len(sizes)), sizes).astype(np.int64)
        self.group_names = [p[0] for p in parsed]
        self.group_feature_names = [e.feature_names for e in self.envs]
        first = self.envs[0]
        self.n_actions, self.nvec = first.n_actions, first.nvec
        self.single_observation_space = first.single_observation_space
        self.single_action_space = first.single_action_space
        self.observation_space = batch_space(self.single_observation_space, n_all)
        self.action_space = batch_space(self.single_action_space, n_all)

    # ------------------------------------------------------------------ helpers
    def _split(self, x: np.ndarray) -> list[np.ndarray]:
        return [x[s] for s in self.group_slices]

    def _concat_obs(self, parts: list[Any]) -> Any:
        if self.obs_mode == "dict":
            return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        return np.concatenate(parts)

    def _locate(self, i: int) -> tuple[InsituVectorEnv, int]:
        if not 0 <= int(i) < self.num_envs:
            raise IndexError(f"row {i} outside 0 .. {self.num_envs - 1}")
        g = int(self.row_group[int(i)])
        return self.envs[g], int(i) - self.group_slices[g].start

    # ------------------------------------------------------------------ API
    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset every row (or those of ``options["reset_mask"]``); row ``i`` is seeded ``seed + i``.

        Returns ``(obs, info)`` as :meth:`envs.vector.InsituVectorEnv.reset`.
        """
        n = self.num_envs
        seeds = row_seeds(seed, n)
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            super().reset(seed=int(seed))
        mask = check_reset_mask(options, n)
        if mask is not None:
            if not mask.all() and not all(e._ever_reset for e in self.envs):
                raise RuntimeError("the first reset() must reset every row (no reset_mask)")
        obs, infos = [], []
        for env, sl in zip(self.envs, self.group_slices):
            m = None if mask is None else mask[sl]
            if m is not None and not m.any():  # nothing to reset in this group
                obs.append(env._obs())
                infos.append({})
                continue
            o, i = env.reset(seed=seeds[sl], options=None if m is None else {"reset_mask": m})
            obs.append(o)
            infos.append(i)
        return self._concat_obs(obs), _merge_infos(infos, self._sizes)

    def step(self, actions):
        """Step every row (actions ``int [N]`` or ``int [N, 3]``); returns the batched 5-tuple."""
        a = check_actions(actions, self.num_envs, self.action_mode, self.n_actions, self.nvec,
                          self.single_action_space)
        outs = [env.step(part) for env, part in zip(self.envs, self._split(a))]
        obs = self._concat_obs([o[0] for o in outs])
        rew, term, trunc = (np.concatenate([o[j] for o in outs]) for j in (1, 2, 3))
        return obs, rew, term, trunc, _merge_infos([o[4] for o in outs], self._sizes)

    def action_masks(self) -> np.ndarray:
        """Masks of the whole batch (as :meth:`envs.vector.InsituVectorEnv.action_masks`)."""
        return np.concatenate([e.action_masks() for e in self.envs])

    def flat_action_masks(self) -> np.ndarray:
        """Joint masks over the flat actions of every row: bool [N, n_actions]."""
        return np.concatenate([e.flat_action_masks() for e in self.envs])

    def row_action_masks(self, i: int) -> np.ndarray:
        """``action_masks()`` of row ``i`` only."""
        env, j = self._locate(i)
        return env.row_action_masks(j)

    def planning_view(self, i: int) -> dict[str, np.ndarray]:
        """:meth:`envs.ModelDownloadEnv.planning_view` of row ``i``."""
        env, j = self._locate(i)
        return env.planning_view(j)

    def one_step_rewards(self, i: int) -> np.ndarray:
        """:meth:`envs.ModelDownloadEnv.one_step_rewards` of row ``i``."""
        env, j = self._locate(i)
        return env.one_step_rewards(j)

    def close_extras(self, **kwargs: Any) -> None:
        """Close every group."""
        for e in self.envs:
            e.close()
