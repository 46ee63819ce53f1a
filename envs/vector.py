"""Native Gymnasium vector env: N devices stepped together by ONE batched :class:`envs.sim.BatchSim`.

``gymnasium.make_vec("insitu/UrbanSmartphone-v1", num_envs=N, vectorization_mode="vector_entry_point")``
(or ``InsituVectorEnv(N, scenario="urban_smartphone")``) returns an :class:`InsituVectorEnv`. There
is no second copy of the physics: the single env (:class:`envs.ModelDownloadEnv`) is the same
core with B = 1, and row i of this env, reset with ``seed + i``, reproduces a single env reset with
``seed + i`` step for step (observations, rewards, flags and infos, across autoresets); the tests
in ``tests/envs/test_vector.py`` check exactly that.

Gymnasium 1.x API (``AutoresetMode`` and ``metadata["autoreset_mode"]`` exist since 1.1, so RLlib's
1.2 pin works; written against the installed 1.4 source of ``SyncVectorEnv``/``CartPoleVectorEnv``):

* ``metadata["autoreset_mode"]``: :attr:`gymnasium.vector.AutoresetMode.NEXT_STEP` by default
  (as ``SyncVectorEnv`` and ``CartPoleVectorEnv``): the step after a row ended resets that row,
  ignores its action and returns its reset observation with reward 0 and both flags False.
  ``autoreset_mode="same_step"`` (``SAME_STEP``) resets in the same step and puts the last
  observation/info into ``info["final_obs"]`` / ``info["final_info"]``; ``"disabled"`` never
  resets (use ``reset(options={"reset_mask": mask})``; stepping a row that ended raises
  ``RuntimeError``).
* infos are dicts of arrays with a boolean ``_key`` mask per key (nested dicts keep their own
  masks), as ``SyncVectorEnv`` builds them from the single env's info: the step keys for rows that
  stepped, the reset keys (``action_mask``, ``task``, ``energy_left_j``) for rows that were reset.
* ``reset(seed=s)`` seeds row i with ``s + i`` (a list of N seeds/None is accepted too);
  ``reset()`` without a seed continues each row's generator, like a single env.
* ``action_masks()``: the masks of the whole batch for sb3-contrib-style masking:
  ``bool [N, n_actions]`` (discrete mode, the exact joint mask) or ``bool [N, 6 + K + M]``
  (multi-discrete mode, per-component masks, as the single env); ``info["action_mask"]`` is the
  same as int8, ``info["joint_action_mask"]`` the exact joint masks ``bool [N, n_actions]``.
* TorchRL: wrap it with ``autoreset_mode="disabled"`` (TorchRL resets ended rows itself).

``max_episode_steps`` (passed by ``make_vec`` from the registration) truncates like Gymnasium's
``TimeLimit`` wrapper around the single env; the scenario horizon truncates inside the core.

Rows of several scenarios or device variants in one batch: :class:`envs.mixed.MixedVectorEnv`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from envs.adapter import (
    ACTION_MODES,
    OBS_MODES,
    InfoBuilder,
    action_space,
    check_actions,
    check_choice,
    check_int,
    component_masks,
    group_index,
    make_params,
    observation_space,
)
from envs.sim import BatchSim

#: Accepted spellings of the autoreset modes.
AUTORESET_MODES = {
    "next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP,
    "disabled": AutoresetMode.DISABLED,
}


def _autoreset_mode(value: Any) -> AutoresetMode:
    if isinstance(value, AutoresetMode):
        return value
    if isinstance(value, str):
        key = value.lower()
        for mode in AutoresetMode:
            if key in (mode.value.lower(), mode.name.lower()):
                return mode
    raise ValueError(f"argument 'autoreset_mode' = {value!r} not allowed; allowed: "
                     f"{sorted(AUTORESET_MODES)} or a gymnasium.vector.AutoresetMode")


def row_seeds(seed: Any, n: int) -> list[int | None]:
    """Per-row seeds of ``reset(seed=...)``: ``None`` for all, ``seed + i`` for an int, or a list of n."""
    if seed is None:
        return [None] * n
    if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
        return [int(seed) + i for i in range(n)]
    seeds = list(seed)
    if len(seeds) != n:
        raise ValueError(f"reset(seed=...): a list of seeds must have num_envs={n} entries, got {len(seeds)}")
    return seeds


def check_reset_mask(options: dict[str, Any] | None, n: int) -> np.ndarray | None:
    """``options["reset_mask"]`` validated (bool [n] with a True), or None when not given."""
    if not options or "reset_mask" not in options:
        return None
    m = options["reset_mask"]
    if not isinstance(m, np.ndarray) or m.dtype != np.bool_ or m.shape != (n,) or not m.any():
        raise ValueError(f"options['reset_mask'] must be a bool numpy array of shape ({n},) with at "
                         f"least one True, got {m!r}")
    return m


class InsituVectorEnv(gym.vector.VectorEnv):
    """N independent devices of one scenario in one batched simulation (Gymnasium ``VectorEnv``).

    Args:
        num_envs: number of rows N (int >= 1).
        scenario: shipped scenario name or YAML path (as :class:`envs.ModelDownloadEnv`).
        action_mode: ``"multidiscrete"`` (actions ``int [N, 3]``) or ``"discrete"`` (``int [N]``).
        obs_mode: ``"flat"`` (``float32 [N, obs_dim]``) or ``"dict"`` (dict of ``[N, group_dim]``).
        autoreset_mode: ``"next_step"`` (default), ``"same_step"`` or ``"disabled"`` (or the
            :class:`gymnasium.vector.AutoresetMode` member).
        max_episode_steps: optional time limit per episode (like ``TimeLimit``); ``None`` keeps
            only the scenario horizon.
        render_mode: only ``None`` (render a single env to watch an episode).
        **overrides: validated scenario overrides, as for the single env.

    Extras: :meth:`action_masks`, :meth:`flat_action_masks`, :meth:`planning_view`,
    :meth:`one_step_rewards` (per row), :attr:`sim` (the :class:`envs.sim.BatchSim`).
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, scenario: str = "urban_smartphone",
                 action_mode: str = "multidiscrete", obs_mode: str = "flat",
                 autoreset_mode: Any = AutoresetMode.NEXT_STEP, max_episode_steps: int | None = None,
                 render_mode: str | None = None, **overrides: Any):
        check_int("num_envs", num_envs)
        check_choice("action_mode", action_mode, ACTION_MODES)
        check_choice("obs_mode", obs_mode, OBS_MODES)
        if render_mode is not None:
            raise ValueError(f"argument 'render_mode' = {render_mode!r} not allowed for the vector env; "
                             "allowed: None (render a single env, gymnasium.make(..., render_mode=...))")
        check_int("max_episode_steps", max_episode_steps, none_ok=True)
        mode = _autoreset_mode(autoreset_mode)
        self.metadata = {**type(self).metadata, "autoreset_mode": mode}
        self.autoreset_mode = mode
        self.render_mode = None
        self.num_envs = n = int(num_envs)
        self.scenario, self.params = make_params(str(scenario), **overrides)
        self.action_mode, self.obs_mode = action_mode, obs_mode
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        p = self.params
        self.sim = BatchSim(p, n)
        self.n_actions = p.n_actions
        self.nvec = np.array(p.action_nvec, dtype=np.int64)
        self.single_action_space = action_space(p, action_mode)
        self.action_space = batch_space(self.single_action_space, n)
        self.feature_names = self.sim.feature_names
        self._group_idx = group_index(self.feature_names)
        self.single_observation_space = observation_space(self.feature_names, obs_mode)
        self.observation_space = batch_space(self.single_observation_space, n)
        self._info = InfoBuilder(p)
        self._rngs: list[np.random.Generator | None] = [None] * n
        self._elapsed = np.zeros(n, dtype=np.int64)
        self._done = np.zeros(n, dtype=bool)       # row ended at the last step (NEXT_STEP / DISABLED)
        self._ever_reset = False
        self._all = np.ones(n, dtype=bool)
        self._all.setflags(write=False)
        self._masks: np.ndarray | None = None      # joint masks of the current state (cached)

    # ------------------------------------------------------------------ actions
    def _flat_actions(self, actions: Any) -> np.ndarray:
        """Validate a batch of actions and return flat indices int64 [N] (clear error otherwise)."""
        a = check_actions(actions, self.num_envs, self.action_mode, self.n_actions, self.nvec,
                          self.single_action_space)
        return a if self.action_mode == "discrete" else self.sim.flat_actions(a)

    # ------------------------------------------------------------------ observations / masks
    def _obs(self):
        flat = self.sim.observe()
        if self.obs_mode == "dict":
            return {g: flat[:, ix] for g, ix in self._group_idx.items()}
        return flat

    def flat_action_masks(self) -> np.ndarray:
        """Joint masks over the flat actions of every row: bool [N, n_actions] (read-only)."""
        if self._masks is None:
            self._masks = self.sim.action_masks()
            self._masks.setflags(write=False)
        return self._masks

    def action_masks(self) -> np.ndarray:
        """Masks of the whole batch for MaskablePPO-style masking (see the module docstring)."""
        m = self.flat_action_masks()
        if self.action_mode == "discrete":
            return m
        return component_masks(m, self.nvec)

    def row_action_masks(self, i: int) -> np.ndarray:
        """``action_masks()`` of row ``i`` only (what the single env's ``action_masks()`` returns)."""
        return self.action_masks()[i]

    def planning_view(self, i: int) -> dict[str, np.ndarray]:
        """:meth:`envs.ModelDownloadEnv.planning_view` of row ``i``."""
        return self.sim.planning_view(self._row(i))

    def one_step_rewards(self, i: int) -> np.ndarray:
        """:meth:`envs.ModelDownloadEnv.one_step_rewards` of row ``i``."""
        return self.sim.one_step_rewards(self._row(i))

    def _row(self, i: int) -> int:
        if not 0 <= int(i) < self.num_envs:
            raise IndexError(f"row {i} outside 0 .. {self.num_envs - 1}")
        return int(i)

    # ------------------------------------------------------------------ reset
    def _reset_rows(self, rows: np.ndarray, seeds: list[int | None] | None) -> None:
        """Reset ``rows``; a row with a seed gets a new generator, others continue theirs."""
        gens = []
        for j, r in enumerate(rows.tolist()):
            s = None if seeds is None else seeds[j]
            if s is not None or self._rngs[r] is None:
                self._rngs[r] = seeding.np_random(s)[0]
            gens.append(self._rngs[r])
        self.sim.reset_rows(rows, gens)
        self._elapsed[rows] = 0
        self._done[rows] = False
        self._masks = None

    def _reset_info(self, rows_mask: np.ndarray) -> dict[str, Any]:
        sim = self.sim
        masks = self.flat_action_masks()
        return {
            "action_mask": self._gym_masks(masks), "_action_mask": rows_mask,
            "joint_action_mask": masks, "_joint_action_mask": rows_mask,
            "task": sim.current_task(), "_task": rows_mask,
            "energy_left_j": sim.energy_left_j(), "_energy_left_j": rows_mask,
        }

    def _gym_masks(self, flat: np.ndarray) -> np.ndarray:
        """int8 masks per row: the joint flat mask (discrete) or the concatenated component
        masks (multi-discrete; factored)."""
        if self.action_mode == "discrete":
            return flat.astype(np.int8)
        return component_masks(flat, self.nvec).astype(np.int8)

    def reset(self, *, seed: int | list[int | None] | None = None, options: dict[str, Any] | None = None):
        """Reset every row (or the rows of ``options["reset_mask"]``); see the module docstring.

        Returns:
            ``(obs, info)``: the batched observation and a dict of arrays (``action_mask``,
            ``task``, ``energy_left_j`` with their ``_key`` masks).
        """
        n = self.num_envs
        seeds = row_seeds(seed, n)
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            super().reset(seed=int(seed))
        rows_mask = self._all
        m = check_reset_mask(options, n)
        if m is not None:
            if not self._ever_reset and not m.all():
                raise RuntimeError("the first reset() must reset every row (no reset_mask)")
            rows_mask = m.copy()
        rows = np.flatnonzero(rows_mask)
        self._reset_rows(rows, [seeds[r] for r in rows.tolist()])
        self._ever_reset = True
        return self._obs(), self._reset_info(rows_mask)

    # ------------------------------------------------------------------ step
    def _raw_step(self, a: np.ndarray):
        """Step every row (rows in ``skip`` are reset right after by the caller); returns the result."""
        res = self.sim.step(a)
        self._masks = None
        self._elapsed += 1
        truncated = res.truncated
        if self.max_episode_steps is not None:
            truncated = truncated | (self._elapsed >= self.max_episode_steps)
        return res, truncated

    def _step_info(self, res, rows_mask: np.ndarray) -> dict[str, Any]:
        """The single env's step info, batched (each key masked by ``rows_mask``)."""
        sim = self.sim
        masks = self.flat_action_masks()
        info = self._info.step(res, sim.state.invalid_count.copy(), sim.energy_left_j(), sim.current_task(),
                               self._gym_masks(masks), masks)
        m = rows_mask
        for sub in ("reward_terms", "cost", "variant"):
            d = info[sub]
            d.update({f"_{name}": m for name in list(d)})
        for key in list(info):
            info[f"_{key}"] = m
        return info

    def step(self, actions):
        """Step every row; see the module docstring for the autoreset semantics.

        Returns:
            ``(obs, rewards float64 [N], terminated bool [N], truncated bool [N], info)``.

        Raises:
            RuntimeError: before the first ``reset()``.
            ValueError: actions of the wrong shape, type or outside the action space.
        """
        if not self._ever_reset:
            raise RuntimeError("call reset() before step()")
        a = self._flat_actions(actions)
        sim = self.sim
        mode = self.autoreset_mode
        if mode == AutoresetMode.NEXT_STEP and self._done.any():
            again = np.flatnonzero(self._done)
            stepped = ~self._done
            # these rows are reset below and their step is discarded; k = 0 keeps the throw-away
            # step from reaching a chunk end (which would draw from the row's generator)
            sim.state.k[again] = 0
            res, truncated = self._raw_step(a)
            self._reset_rows(again, None)
            reward = np.where(stepped, res.reward, 0.0)
            terminated = res.terminated & stepped
            truncated = truncated & stepped
            info = self._step_info(res, stepped)  # after the reset: reset rows' values
            for key in ("energy_left_j", "action_mask", "joint_action_mask", "task"):
                info[f"_{key}"] = self._all
        else:
            if mode == AutoresetMode.DISABLED and self._done.any():
                i = int(np.argmax(self._done))
                raise RuntimeError(f"row {i} has ended and autoreset_mode is DISABLED: reset it with "
                                   "reset(options={'reset_mask': mask}) before stepping")
            res, truncated = self._raw_step(a)
            reward, terminated = res.reward, res.terminated
            info = self._step_info(res, self._all)
            if mode == AutoresetMode.SAME_STEP:
                ended = terminated | truncated
                if ended.any():
                    final_obs = np.full(self.num_envs, None, dtype=object)
                    obs_now = self._obs()
                    rows = np.flatnonzero(ended)
                    for r in rows.tolist():
                        final_obs[r] = ({g: o[r] for g, o in obs_now.items()} if self.obs_mode == "dict"
                                        else obs_now[r])
                    final_info = info
                    final_info.update({k: ended for k in final_info if k.startswith("_")})
                    for sub in ("reward_terms", "cost", "variant"):
                        final_info[sub] = {k: (ended if k.startswith("_") else v)
                                           for k, v in final_info[sub].items()}
                    self._reset_rows(rows, None)
                    stepped = ~ended
                    info = self._step_info(res, stepped)
                    for key in ("energy_left_j", "action_mask", "joint_action_mask", "task"):
                        info[f"_{key}"] = self._all
                    info["final_obs"], info["_final_obs"] = final_obs, ended
                    info["final_info"], info["_final_info"] = final_info, ended
            else:
                self._done = terminated | truncated
        if mode == AutoresetMode.NEXT_STEP:
            self._done = terminated | truncated
        return self._obs(), reward, terminated, truncated, info

    def close_extras(self, **kwargs: Any) -> None:
        """Nothing to release (no subprocesses, no files)."""


def make_custom_vec(num_envs: int = 1, scenario: str | None = None, **kwargs: Any) -> InsituVectorEnv:
    """Vector entry point of ``insitu/Custom-v1``: ``scenario`` (a YAML path or name) is required."""
    if scenario is None:
        raise TypeError('insitu/Custom-v1 needs the argument scenario="path/to/scenario.yaml"')
    return InsituVectorEnv(num_envs, scenario=scenario, **kwargs)


def make_registered_vec(num_envs: int = 1, registered_scenario: str = "urban_smartphone", scenario: Any = None,
                        **kwargs: Any) -> InsituVectorEnv:
    """Vector entry point of the ids of the shipped scenarios (``scenario=`` refused, as for the
    single env: it belongs to ``insitu/Custom-v1``)."""
    if scenario is not None and scenario != registered_scenario:
        raise ValueError(f"argument 'scenario' = {scenario!r} not allowed here: this id runs the shipped scenario "
                         f"{registered_scenario!r}; use insitu/Custom-v1 to run another scenario")
    return InsituVectorEnv(num_envs, scenario=registered_scenario, **kwargs)
