"""Environment construction shared by training, evaluation and the baselines.

One place turns a user's ``--scenario`` into a Gymnasium env, so the CLI, the evaluator and the
vector-env factory agree on what a scenario name means:

- a scenario name (a ``scenarios/*.yaml`` stem such as ``urban_smartphone``) -> its registered
  id (``envs.SCENARIO_IDS``, e.g. ``insitu/UrbanSmartphone-v1``);
- a path to a YAML file -> the custom-scenario id (``envs.CUSTOM_ID``) with ``scenario=path``;
- an already registered Gymnasium id (e.g. a test double, or ``module:Id``) -> ``gymnasium.make``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym

from scenarios import loader
from scenarios.loader import ScenarioError  # the one definition, re-exported for the CLI

__all__ = ["ALGO_ACTION_MODE", "DEFAULT_SCENARIO", "ScenarioError", "flat_to_env_action", "make_env",
           "merge_hyperparam_sections", "registered_scenarios", "scenario_env_id"]

#: Scenario the main job uses.
DEFAULT_SCENARIO = "urban_smartphone"
#: Action mode each algorithm trains in (DQN needs Discrete; MaskablePPO uses the exact joint
#: mask of the flattened Discrete mode; PPO the factored MultiDiscrete mode).
ALGO_ACTION_MODE = {"ppo": "multidiscrete", "maskable_ppo": "discrete", "dqn": "discrete"}


def registered_scenarios() -> list[str]:
    """Shipped scenario names ``--scenario`` accepts, in the order of ``envs.SCENARIO_IDS``: those
    :mod:`envs` registers as ``insitu/...`` ids whose file :func:`scenarios.loader.available_scenarios`
    finds."""
    try:
        import envs
    except ImportError:  # environment package not importable
        return []
    shipped = set(loader.available_scenarios())
    return [name for name in envs.SCENARIO_IDS if name in shipped]


def scenario_env_id(scenario: str) -> tuple[str, dict[str, Any]]:
    """Resolve ``scenario`` to ``(gymnasium id, extra make kwargs)``.

    Raises:
        ScenarioError: (:class:`scenarios.loader.ScenarioError`) naming the value and listing the
            registered scenarios.
    """
    if scenario in gym.registry or ":" in scenario:
        return scenario, {}
    if scenario.endswith((".yaml", ".yml")):
        path = Path(scenario)
        if not path.is_file():
            raise ScenarioError(f"--scenario {scenario!r}: no such scenario file")
        import envs

        return envs.CUSTOM_ID, {"scenario": str(path)}
    try:
        import envs
    except ImportError as exc:  # pragma: no cover - only before the env package exists
        raise ScenarioError(f"--scenario {scenario!r}: the envs package is not importable ({exc})") from exc
    ids = getattr(envs, "SCENARIO_IDS", {})
    if scenario not in ids:
        names = ", ".join(registered_scenarios()) or "none"
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


def merge_hyperparam_sections(path: Path, scenario: str, allowed: dict[str, str] | set[str],
                              error: type[Exception],
                              check: Callable[[str, str, Any], None] | None = None) -> dict[str, Any]:
    """Read an rl-zoo style hyperparameter YAML and merge its sections for ``scenario``.

    The file holds a ``default`` section and optional per-scenario sections (keyed by the
    scenario's file stem); the scenario's values override the defaults.

    Args:
        path: the YAML file.
        scenario: scenario name or path (its stem selects the section).
        allowed: the keys allowed in a section (a dict's values describe the key in errors).
        error: exception class to raise.
        check: optional ``check(section, key, value)`` validating each value.

    Raises:
        error: file missing or not YAML, no ``default`` section, a section that is not a mapping,
            an unknown key; every message names the file, the section and the key.
    """
    import yaml

    if not path.is_file():
        raise error(f"hyperparameter file {str(path)!r} not found")
    try:
        data = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise error(f"hyperparameter file {path}: not valid YAML ({exc})") from exc
    if not isinstance(data, dict) or "default" not in data:
        raise error(f"hyperparameter file {path}: needs a top-level 'default' section")
    if isinstance(allowed, dict):
        allowed_text = ", ".join(f"{k} ({v})" for k, v in allowed.items())
    else:
        allowed_text = ", ".join(sorted(allowed))
    merged: dict[str, Any] = {}
    for section in ("default", Path(scenario).stem):
        values = data.get(section) or {}
        if not isinstance(values, dict):
            raise error(f"hyperparameter file {path}, section {section!r}: must be a mapping")
        for key, value in values.items():
            if key not in allowed:
                raise error(f"hyperparameter file {path}, section {section!r}: unknown key {key!r}; "
                            f"allowed: {allowed_text}")
            if check is not None:
                check(section, key, value)
            merged[key] = value
    return merged
