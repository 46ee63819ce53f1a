"""Stable-Baselines3 ``VecEnv`` over the batched simulation (no per-env Python objects).

:class:`InsituSB3VecEnv` is a ``stable_baselines3.common.vec_env.VecEnv`` over the same
:class:`envs.vector.InsituVectorEnv` core, with SB3's conventions:

* same-step autoreset: a row that ended is reset inside ``step_wait``; its info holds
  ``"terminal_observation"`` (the last observation of the episode) and the returned observation
  is the first of the next episode; ``self.reset_infos[i]`` holds the reset info;
* ``info["TimeLimit.truncated"] = truncated and not terminated`` on every step (as SB3's
  ``DummyVecEnv``); infos are one dict per row with the single env's keys;
* ``reset()`` returns observations only and uses the seeds of ``seed(s)`` (row i: ``s + i``) once;
* rewards are float32 (as ``DummyVecEnv`` stores them);
* ``env_method("action_masks")`` / ``get_attr("action_masks")`` work per row, so sb3-contrib's
  ``MaskablePPO`` (``get_action_masks(env) = np.stack(env.env_method("action_masks"))``) masks
  the whole batch; :meth:`action_masks` returns the stacked masks directly.

With the same seeds it reproduces ``DummyVecEnv([lambda: gym.make(id), ...])`` exactly (tested).
Wrap it in ``VecMonitor`` for episode statistics (``agents.sb3.make_vec_env`` does).
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from envs.adapter import component_masks, info_rows
from envs.vector import InsituVectorEnv

#: Per-row methods answered by :meth:`InsituSB3VecEnv.env_method` / ``get_attr``.
ROW_METHODS = ("action_masks", "flat_action_mask", "planning_view", "one_step_rewards")
class InsituSB3VecEnv(VecEnv):
    """SB3 vector env of ``num_envs`` rows of one scenario (arguments as :class:`InsituVectorEnv`).

    Args:
        num_envs: number of rows (int >= 1).
        scenario, action_mode, obs_mode, max_episode_steps, **overrides: as for
            :class:`envs.vector.InsituVectorEnv` (``max_episode_steps`` acts like ``TimeLimit``).
    """

    def __init__(self, num_envs: int, scenario: str = "urban_smartphone", action_mode: str = "multidiscrete",
                 obs_mode: str = "flat", max_episode_steps: int | None = None, **overrides: Any):
        self._attach(InsituVectorEnv(num_envs, scenario=scenario, action_mode=action_mode, obs_mode=obs_mode,
                                     autoreset_mode="disabled", max_episode_steps=max_episode_steps,
                                     **overrides))

    def _attach(self, venv: Any) -> None:
        self.venv = venv
        super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
        self._actions: np.ndarray | None = None
        self._obs_now = None

    @classmethod
    def wrap(cls, venv: Any) -> InsituSB3VecEnv:
        """The SB3 adapter over an existing vector env of this package, e.g. an
        :class:`envs.mixed.MixedVectorEnv` of several scenarios, built with
        ``autoreset_mode="disabled"`` (the adapter resets ended rows itself, in the same step).

        Raises:
            ValueError: the vector env resets rows by itself.
        """
        if venv.autoreset_mode != AutoresetMode.DISABLED:
            raise ValueError(f"InsituSB3VecEnv.wrap: the vector env has autoreset_mode={venv.autoreset_mode}; "
                             "build it with autoreset_mode='disabled'")
        self = cls.__new__(cls)
        self._attach(venv)
        return self

    # ------------------------------------------------------------------ core API
    def reset(self):
        """Reset every row (seeds from :meth:`seed` are used once); returns the observations."""
        seeds = self._seeds if any(s is not None for s in self._seeds) else None
        obs, info = self.venv.reset(seed=seeds)
        self.reset_infos = self._reset_info_list(info, range(self.num_envs))
        self._reset_seeds()
        self._reset_options()
        self._obs_now = obs
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        """Store the actions of the next :meth:`step_wait`."""
        self._actions = actions

    def step_wait(self) -> VecEnvStepReturn:
        """Step every row; rows that ended are reset in the same call (see the module docstring)."""
        if self._actions is None:
            raise RuntimeError("step_wait() without step_async(actions)")
        obs, rew, term, trunc, info = self.venv.step(self._actions)
        self._actions = None
        dones = term | trunc
        infos = self._step_info_list(info, term, trunc)
        if dones.any():
            rows = np.flatnonzero(dones)
            for r in rows.tolist():
                infos[r]["terminal_observation"] = ({g: o[r].copy() for g, o in obs.items()}
                                                    if isinstance(obs, dict) else obs[r].copy())
            obs, rinfo = self.venv.reset(options={"reset_mask": dones})
            for r, d in zip(rows.tolist(), self._reset_info_list(rinfo, rows.tolist())):
                self.reset_infos[r] = d
        self._obs_now = obs
        return obs, rew.astype(np.float32), dones, infos

    def close(self) -> None:
        """Close the underlying vector env."""
        self.venv.close()

    # ------------------------------------------------------------------ infos
    def _row_masks(self, joint: np.ndarray, rows) -> list[tuple[Any, np.ndarray]]:
        """(action_mask in the single env's form, joint_action_mask) of ``rows`` (the component
        masks computed once for the batch)."""
        v = self.venv
        rows = list(rows)
        if v.action_mode == "discrete":
            m8 = joint.astype(np.int8)
            return [(m8[r], joint[r]) for r in rows]
        comp = component_masks(joint, v.nvec).astype(np.int8)
        cuts = np.concatenate([[0], np.cumsum(v.nvec)])
        sl = [slice(int(a), int(b)) for a, b in zip(cuts[:-1], cuts[1:])]
        return [(tuple(comp[r, s] for s in sl), joint[r]) for r in rows]

    def _reset_info_list(self, info: dict[str, Any], rows) -> list[dict[str, Any]]:
        task, energy = info["task"], info["energy_left_j"]
        out = []
        for r, (m, jm) in zip(rows, self._row_masks(info["joint_action_mask"], rows)):
            out.append({"action_mask": m, "joint_action_mask": jm, "task": int(task[r]),
                        "energy_left_j": float(energy[r])})
        return out

    def _step_info_list(self, info: dict[str, Any], term: np.ndarray, trunc: np.ndarray) -> list[dict[str, Any]]:
        plain = _strip_masks(info)
        out = info_rows(plain, skip=("action_mask", "joint_action_mask"))
        tl = (trunc & ~term).tolist()
        for i, (dct, (m, jm)) in enumerate(zip(out, self._row_masks(info["joint_action_mask"], range(len(out))))):
            dct["action_mask"] = m
            dct["joint_action_mask"] = jm
            dct["TimeLimit.truncated"] = tl[i]
        return out

    # ------------------------------------------------------------------ masks and attributes
    def action_masks(self) -> np.ndarray:
        """Masks of every row, stacked (what ``get_action_masks`` builds from :meth:`env_method`)."""
        return self.venv.action_masks()

    def _indices(self, indices: VecEnvIndices) -> list[int]:
        return list(self._get_indices(indices))

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """Per-row view of an attribute: row methods (``action_masks`` ...) as callables bound to the
        row, ``action_space``/``observation_space`` as the single spaces, other attributes of the
        shared :class:`InsituVectorEnv` (the same value for every row).

        Raises:
            AttributeError: neither a row method nor an attribute of the vector env.
        """
        idx = self._indices(indices)
        if attr_name in ROW_METHODS:
            return [functools.partial(self._row_method, attr_name, i) for i in idx]
        if attr_name in ("action_space", "observation_space"):
            return [getattr(self.venv, f"single_{attr_name}")] * len(idx)
        if attr_name == "render_mode":
            return [None] * len(idx)
        if not hasattr(self.venv, attr_name):
            raise AttributeError(f"InsituSB3VecEnv rows have no attribute {attr_name!r}")
        return [getattr(self.venv, attr_name)] * len(idx)

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute of the shared vector env; only for all rows at once (they share one core).

        Raises:
            ValueError: ``indices`` select only some rows.
        """
        idx = self._indices(indices)
        if sorted(idx) != list(range(self.num_envs)):
            raise ValueError(f"set_attr({attr_name!r}) for rows {idx}: the rows share one simulation, so "
                             "attributes can only be set for all rows (indices=None)")
        setattr(self.venv, attr_name, value)

    def _row_method(self, name: str, i: int, *args: Any, **kwargs: Any) -> Any:
        if name == "action_masks":
            return self.venv.action_masks()[i]
        if name == "flat_action_mask":
            return self.venv.flat_action_masks()[i].copy()
        return getattr(self.venv, name)(i, *args, **kwargs)

    def env_method(self, method_name: str, *method_args: Any, indices: VecEnvIndices = None,
                   **method_kwargs: Any) -> list[Any]:
        """Call a per-row method (one of :data:`ROW_METHODS`) for the selected rows.

        Raises:
            AttributeError: ``method_name`` is not a per-row method.
        """
        idx = self._indices(indices)
        if method_name == "action_masks" and not method_args and not method_kwargs:
            m = self.venv.action_masks()
            return [m[i] for i in idx]
        if method_name not in ROW_METHODS:
            raise AttributeError(f"InsituSB3VecEnv.env_method({method_name!r}): rows support only {ROW_METHODS}")
        return [self._row_method(method_name, i, *method_args, **method_kwargs) for i in idx]

    def env_is_wrapped(self, wrapper_class: type, indices: VecEnvIndices = None) -> list[bool]:
        """Rows are not Gymnasium envs, so no row is wrapped."""
        return [False] * len(self._indices(indices))

    def get_images(self) -> Sequence[np.ndarray | None]:
        """No rendering in the batched env (render a single env instead)."""
        return [None] * self.num_envs


def _strip_masks(info: dict[str, Any]) -> dict[str, Any]:
    """A vector info without its ``_key`` masks (nested dicts too)."""
    return {k: (_strip_masks(v) if isinstance(v, dict) else v) for k, v in info.items() if not k.startswith("_")}
