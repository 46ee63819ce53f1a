"""Environment construction shared by training, evaluation and the baselines.

One place turns a user's ``--scenario`` into a Gymnasium env, so the CLI, the evaluator and the
vector-env factory agree on what a scenario name means:

- a scenario name (a ``scenarios/*.yaml`` stem such as ``urban_smartphone``) -> its registered
  id ``insitu/...-v0`` (``envs.SCENARIO_IDS``);
- a path to a YAML file -> ``insitu/Custom-v0`` with ``scenario=path``;
- an already registered Gymnasium id (e.g. a test double, or ``module:Id``) -> ``gymnasium.make``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym

#: Scenario the main job uses.
DEFAULT_SCENARIO = "urban_smartphone"
#: Action mode each algorithm trains in (DQN needs Discrete; MaskablePPO uses the exact joint
#: mask of the flattened Discrete mode; PPO the factored MultiDiscrete mode).
ALGO_ACTION_MODE = {"ppo": "multidiscrete", "maskable_ppo": "discrete", "dqn": "discrete"}


class ScenarioError(ValueError):
    """An unknown scenario name; the message lists the available ones."""


def available_scenarios() -> list[str]:
    """Scenario names accepted by ``--scenario``: the shipped scenarios registered as
    ``insitu/...`` ids (``envs.SCENARIO_IDS``)."""
    try:
        import envs
    except ImportError:  # environment package not built yet
        return []
    return sorted(envs.SCENARIO_IDS)


def scenario_env_id(scenario: str) -> tuple[str, dict[str, Any]]:
    """Resolve ``scenario`` to ``(gymnasium id, extra make kwargs)``.

    Raises:
        ScenarioError: naming the value and listing the available scenarios.
    """
    if scenario in gym.registry or ":" in scenario:
        return scenario, {}
    if scenario.endswith((".yaml", ".yml")):
        path = Path(scenario)
        if not path.is_file():
            raise ScenarioError(f"--scenario {scenario!r}: no such scenario file")
        import envs  # noqa: F401

        return "insitu/Custom-v0", {"scenario": str(path)}
    try:
        import envs
    except ImportError as exc:  # pragma: no cover - only before the env package exists
        raise ScenarioError(f"--scenario {scenario!r}: the envs package is not importable ({exc})") from exc
    ids = getattr(envs, "SCENARIO_IDS", {})
    if scenario not in ids:
        names = ", ".join(sorted(ids)) or "none"
        raise ScenarioError(
            f"--scenario {scenario!r} is not a known scenario; available: {names} "
            "(or give a path to a scenario .yaml file)"
        )
    return ids[scenario], {}


def make_env(scenario: str, action_mode: str = "multidiscrete", **kwargs: Any) -> gym.Env:
    """Build one environment for ``scenario`` (see the module docstring) in ``action_mode``."""
    env_id, extra = scenario_env_id(scenario)
    return gym.make(env_id, action_mode=action_mode, **extra, **kwargs)


def flat_to_env_action(env: gym.Env, flat_index: int):
    """Convert a flat joint action index to an action of ``env``'s action space."""
    if isinstance(env.action_space, gym.spaces.Discrete):
        return int(flat_index)
    return env.unwrapped.flat_to_action(int(flat_index))
