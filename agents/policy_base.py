"""The interface every compared policy implements (baselines, the oracle, learned models).

:class:`Policy` lives in its own module, free of the baselines and of any learning library, so
both :mod:`agents.policies` (baselines, the policy registry) and :mod:`agents.sb3_policy` (trained
SB3 models) build on it without importing each other.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym


class Policy:
    """Common interface of every policy compared in this project.

    Attributes:
        name: short name used in tables, plots and TensorBoard run names.
        action_mode: the env action mode the policy needs (``"multidiscrete"``/``"discrete"``),
            or None if it works in either.
        privileged: True if the policy reads the env's hidden state (planning view, true next
            step), i.e. it is a yardstick rather than a deployable policy.
    """

    name = "policy"
    action_mode: str | None = None
    privileged = False

    @property
    def run_label(self) -> str:
        """Label of the policy's TensorBoard evaluation runs (``{scenario}__{label}__{seed}__{time}``)."""
        return self.name

    def reset(self, seed: int | None = None) -> None:
        """Called at the start of every episode (with the episode's seed)."""

    def episode_result(self, env: gym.Env) -> dict[str, Any] | None:
        """The result of the episode ``env`` was just reset to, computed without acting, or None.

        A policy that does not act (a bound computed from the episode's known future) returns a
        dict with at least ``"return"`` and optionally values keyed like the fields of
        :class:`agents.metrics.EpisodeStats` (``length``, ``accuracy``, ...); the evaluator then
        records it as the episode and does not step the env. The default (every acting policy):
        None.
        """
        return None

    def act(self, obs: Any, env: gym.Env) -> Any:
        """Return an action of ``env.action_space`` for observation ``obs``."""
        raise NotImplementedError
