"""Native Gymnasium vector env: N devices stepped together by ONE batched :class:`envs.sim.BatchSim`.

``gymnasium.make_vec("insitu/UrbanSmartphone-v0", num_envs=N, vectorization_mode="vector_entry_point")``
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
  ``bool [N, n_actions]`` (discrete mode, the exact joint mask) or ``bool [N, 4 + n_depth +
  n_prune + n_bits]`` (multi-discrete mode, per-component masks, as the single env).

``max_episode_steps`` (passed by ``make_vec`` from the registration) truncates like Gymnasium's
``TimeLimit`` wrapper around the single env; the scenario horizon truncates inside the core.

Rows of several scenarios or device variants in one batch: :class:`envs.mixed.MixedVectorEnv`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode
from gymnasium.vector.utils import batch_space

from envs.model_download import ACTION_MODES, OBS_GROUPS, OBS_MODES, make_params
from envs.sim import BatchSim
from envs.sim.params import SOURCES
from envs.sim.reward import COST_NAMES, TERM_NAMES

#: Accepted spellings of the autoreset modes.
AUTORESET_MODES = {
    "next_step": AutoresetMode.NEXT_STEP, "same_step": AutoresetMode.SAME_STEP,
    "disabled": AutoresetMode.DISABLED,
}
_SOURCE_NAMES = np.array(SOURCES)


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


def check_actions(actions: Any, n: int, action_mode: str, n_actions: int, nvec: np.ndarray,
                  single_space: spaces.Space) -> np.ndarray:
    """Validate a batch of ``n`` actions: int64 ``[n]`` (discrete) or ``[n, 4]`` (multi-discrete).

    Raises:
        ValueError: wrong shape, non-integer values, or a value outside the space (the row, the
            value and the allowed range are named).
    """
    a = np.asarray(actions)
    want = (n,) if action_mode == "discrete" else (n, 4)
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
        name = ("source", "depth", "prune", "bits")[j]
        raise ValueError(f"actions[{i}] = {a[i].tolist()} is outside the action space "
                         f"MultiDiscrete({nvec.tolist()}): {name}={int(a[i, j])} "
                         f"(allowed 0 .. {int(nvec[j]) - 1})")
    return a.astype(np.int64, copy=False)


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
        action_mode: ``"multidiscrete"`` (actions ``int [N, 4]``) or ``"discrete"`` (``int [N]``).
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
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"argument 'num_envs' = {num_envs!r} not allowed; it must be an int >= 1")
        if action_mode not in ACTION_MODES:
            raise ValueError(f"argument 'action_mode' = {action_mode!r} not allowed; allowed: {ACTION_MODES}")
        if obs_mode not in OBS_MODES:
            raise ValueError(f"argument 'obs_mode' = {obs_mode!r} not allowed; allowed: {OBS_MODES}")
        if render_mode is not None:
            raise ValueError(f"argument 'render_mode' = {render_mode!r} not allowed for the vector env; "
                             "allowed: None (render a single env, gymnasium.make(..., render_mode=...))")
        if max_episode_steps is not None and (isinstance(max_episode_steps, bool) or not isinstance(
                max_episode_steps, (int, np.integer)) or max_episode_steps < 1):
            raise ValueError(f"argument 'max_episode_steps' = {max_episode_steps!r} not allowed; "
                             "allowed: None or an int >= 1")
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
        nd, npr, nb = p.grid
        self._grid5 = (n, 4, nd, npr, nb)
        if action_mode == "discrete":
            self.single_action_space = spaces.Discrete(p.n_actions)
        else:
            self.single_action_space = spaces.MultiDiscrete(self.nvec)
        self.action_space = batch_space(self.single_action_space, n)
        self.feature_names = self.sim.feature_names
        d = self.sim.obs_dim
        groups = [g for g, _ in self.feature_names]
        self._group_idx = {g: np.array([i for i, gg in enumerate(groups) if gg == g]) for g in OBS_GROUPS}
        if obs_mode == "dict":
            self.single_observation_space = spaces.Dict({
                g: spaces.Box(-1.0, 1.0, (len(ix),), dtype=np.float32) for g, ix in self._group_idx.items()})
        else:
            self.single_observation_space = spaces.Box(-1.0, 1.0, (d,), dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, n)
        lv = np.array([p.variant_levels(v) for v in range(p.n_variants)], dtype=np.int64)
        self._lv_depth, self._lv_prune, self._lv_bits = lv[:, 0], lv[:, 1], lv[:, 2]
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
        g = m.reshape(self._grid5)
        return np.concatenate([g.any(axis=(2, 3, 4)), g.any(axis=(1, 3, 4)), g.any(axis=(1, 2, 4)),
                               g.any(axis=(1, 2, 3))], axis=1)

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
        k = sim.k
        return {
            "action_mask": masks, "_action_mask": rows_mask,
            "task": sim.exo.ci[sim.ar, k, 0].copy(), "_task": rows_mask,
            "energy_left_j": sim.energy_left.copy(), "_energy_left_j": rows_mask,
        }

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
        sim = self.sim
        ob_before = sim.ob_mi.copy()
        res = sim.step(a)
        self._masks = None
        self._elapsed += 1
        truncated = res.truncated
        if self.max_episode_steps is not None:
            truncated = truncated | (self._elapsed >= self.max_episode_steps)
        return res, truncated, ob_before

    def _step_info(self, res, a: np.ndarray, ob_before: np.ndarray, rows_mask: np.ndarray) -> dict[str, Any]:
        """The single env's step info, batched (each key masked by ``rows_mask``)."""
        sim = self.sim
        V = sim.V
        tier = res.source_tier.astype(np.int64)
        v = np.where(tier > 0, a % V, ob_before.astype(np.int64) % V)
        req = res.requests
        acc = np.divide(res.accuracy_sum, req, out=np.zeros_like(req), where=req > 0)
        m = rows_mask
        terms = {name: res.terms[:, j] for j, name in enumerate(TERM_NAMES)}
        terms.update({f"_{name}": m for name in TERM_NAMES})
        costs = dict(zip(COST_NAMES, (res.latency_violations, res.deadline_miss.astype(np.float64),
                                      res.energy_over_j, res.invalid.astype(np.float64))))
        costs.update({f"_{name}": m for name in COST_NAMES})
        info = {
            "reward_terms": terms,
            "cost": costs,
            "latency_s": res.latency_s,
            "energy_j": res.energy_j,
            "bytes_downloaded": res.bytes_downloaded,
            "backhaul_bytes": res.backhaul_bytes,
            "source_tier": _SOURCE_NAMES[tier],
            "variant": {"depth": self._lv_depth[v], "prune": self._lv_prune[v], "bits": self._lv_bits[v],
                        "_depth": m, "_prune": m, "_bits": m},
            "accuracy": acc,
            "accuracy_sum": res.accuracy_sum,
            "requests": req,
            "served_requests": res.served,
            "failed_requests": req - res.served,
            "invalid_action": res.invalid,
            "invalid_actions": sim.invalid_count.copy(),
            "energy_left_j": sim.energy_left.copy(),
            "action_mask": self.flat_action_masks(),
        }
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
            sim.k[again] = 0
            res, truncated, ob_before = self._raw_step(a)
            self._reset_rows(again, None)
            reward = np.where(stepped, res.reward, 0.0)
            terminated = res.terminated & stepped
            truncated = truncated & stepped
            info = self._step_info(res, a, ob_before, stepped)  # after the reset: reset rows' values
            info["_energy_left_j"] = info["_action_mask"] = self._all
            info["task"], info["_task"] = sim.exo.ci[sim.ar, sim.k, 0].copy(), ~stepped
        else:
            if mode == AutoresetMode.DISABLED and self._done.any():
                i = int(np.argmax(self._done))
                raise RuntimeError(f"row {i} has ended and autoreset_mode is DISABLED: reset it with "
                                   "reset(options={'reset_mask': mask}) before stepping")
            res, truncated, ob_before = self._raw_step(a)
            reward, terminated = res.reward, res.terminated
            info = self._step_info(res, a, ob_before, self._all)
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
                    info = self._step_info(res, a, ob_before, stepped)
                    info["_energy_left_j"] = info["_action_mask"] = self._all
                    info["task"], info["_task"] = sim.exo.ci[sim.ar, sim.k, 0].copy(), ended
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
    """Vector entry point of ``insitu/Custom-v0``: ``scenario`` (a YAML path or name) is required."""
    if scenario is None:
        raise TypeError('insitu/Custom-v0 needs the argument scenario="path/to/scenario.yaml"')
    return InsituVectorEnv(num_envs, scenario=scenario, **kwargs)
