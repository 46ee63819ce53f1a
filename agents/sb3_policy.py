"""Trained stable-baselines3 / sb3-contrib models behind the :class:`~agents.policy_base.Policy`
interface, loaded from the run folders :func:`agents.sb3.train` writes.

Importing this module does not import SB3 or torch: :func:`load_learned_policy` imports them
(through :mod:`agents.sb3`) when it loads a model.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.policy_base import Policy
from agents.runs import META_FILE, RunError, read_meta


class SB3Policy(Policy):
    """A trained stable-baselines3 / sb3-contrib model behind the :class:`Policy` interface.

    Observations are normalised with the saved ``VecNormalize`` statistics when the model was
    trained with them; MaskablePPO receives the env's action mask.
    """

    privileged = False

    def __init__(self, model: Any, algo: str, action_mode: str, obs_normalizer: Any = None,
                 name: str | None = None):
        self.model = model
        self.algo = algo
        self.action_mode = action_mode
        self.obs_normalizer = obs_normalizer
        self.name = name or algo
        self._checked_env: Any = None

    @property
    def run_label(self) -> str:
        """Evaluation runs are labelled ``{name}-eval`` so they never look like training runs."""
        return f"{self.name}-eval"

    def check_env(self, env: gym.Env) -> None:
        """Raise :class:`~agents.runs.RunError` when ``env``'s spaces are not the model's (a model
        trained on another scenario or action mode)."""
        for what, model_space, env_space in (("observation", self.model.observation_space, env.observation_space),
                                             ("action", self.model.action_space, env.action_space)):
            if model_space != env_space:
                raise RunError(f"model {self.name!r} was trained with the {what} space {model_space}; this "
                               f"env has {env_space} (evaluate it on the scenario and action mode it was "
                               "trained on: its run's meta.json names them)")

    def act(self, obs: Any, env: gym.Env) -> Any:
        """Deterministic action of the model."""
        if env is not self._checked_env:
            self.check_env(env)
            self._checked_env = env
        if self.obs_normalizer is not None:
            obs = self.obs_normalizer.normalize_obs(obs)
        kwargs = {}
        if self.algo == "maskable_ppo":
            kwargs["action_masks"] = env.unwrapped.action_masks()
        action, _ = self.model.predict(obs, deterministic=True, **kwargs)
        if isinstance(env.action_space, gym.spaces.Discrete):
            return int(np.asarray(action).item())
        return np.asarray(action, dtype=np.int64)


def load_learned_policy(path: str | Path, name: str | None = None) -> SB3Policy:
    """Load a trained model from a run folder or a model ``.zip`` (with its ``meta.json``).

    The run folder written by ``train.py train`` holds ``model.zip``, ``meta.json`` (algorithm,
    scenario, action mode; see :mod:`agents.runs`) and, when used, ``vecnormalize.pkl``.

    Raises:
        FileNotFoundError: naming the path and what was expected there.
    """
    from agents.sb3 import ALGOS  # lazy: SB3 imports torch

    path = Path(path)
    if path.is_dir():
        run_dir, model_path = path, path / "model.zip"
    else:
        run_dir, model_path = path.parent, path
    if not model_path.is_file():
        raise FileNotFoundError(f"model {str(path)!r}: expected a run folder with model.zip or a .zip file")
    if not (run_dir / META_FILE).is_file():
        raise FileNotFoundError(f"model {str(path)!r}: no {META_FILE} beside it (written by train.py train)")
    meta = read_meta(run_dir)
    algo = meta["algo"]
    model = ALGOS[algo].load(str(model_path), device="cpu")
    normalizer = None
    vn_path = run_dir / "vecnormalize.pkl"
    if vn_path.is_file():
        with open(vn_path, "rb") as fh:
            normalizer = pickle.load(fh)
        normalizer.training = False
    return SB3Policy(model, algo, meta["action_mode"], normalizer, name=name or algo)
