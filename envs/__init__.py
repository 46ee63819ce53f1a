"""Gymnasium environments for in-situ model downloading; importing this package registers the ids.

Ids (namespace ``insitu/``): one per shipped scenario (:data:`SCENARIO_IDS`) plus
``insitu/Custom-v1``, which loads a user's scenario file: ``gymnasium.make("insitu/Custom-v1",
scenario="my.yaml")``. ``gymnasium.make("envs:insitu/UrbanSmartphone-v1")`` imports this package
and works without a prior ``import envs``. The v0 ids (the first model of the environment) are no
longer registered; Gymnasium's error for them names the v1 id.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym

from envs.model_download import ModelDownloadEnv
from scenarios.loader import load_scenario

#: Scenario name (YAML stem) -> registered env id.
SCENARIO_IDS: dict[str, str] = {
    "urban_smartphone": "insitu/UrbanSmartphone-v1",
    "tactile_xr": "insitu/TactileXR-v1",
    "iot_sensor": "insitu/IoTSensor-v1",
    "highway_vehicle": "insitu/HighwayVehicle-v1",
    "rural_macro": "insitu/RuralMacro-v1",
    "stadium_xr": "insitu/StadiumXR-v1",
    "factory_sensors": "insitu/FactorySensors-v1",
}
#: The five single-device scenarios (the other two are cells of many devices, also usable as one).
SINGLE_DEVICE_SCENARIOS = ("urban_smartphone", "tactile_xr", "iot_sensor", "highway_vehicle", "rural_macro")
#: Id of the environment for a user's own scenario file.
CUSTOM_ID = "insitu/Custom-v1"
ENTRY_POINT = "envs.model_download:ModelDownloadEnv"
#: Native batched vector env (``gymnasium.make_vec(id, num_envs=N)``), see :mod:`envs.vector`.
VECTOR_ENTRY_POINT = "envs.vector:InsituVectorEnv"


def make_custom(scenario: str | None = None, **kwargs: Any) -> ModelDownloadEnv:
    """Entry point of ``insitu/Custom-v1``: ``scenario`` (a YAML path or a shipped name) is required."""
    if scenario is None:
        raise TypeError('insitu/Custom-v1 needs the argument scenario="path/to/scenario.yaml"')
    return ModelDownloadEnv(scenario=scenario, **kwargs)


def make_registered(registered_scenario: str, scenario: Any = None, **kwargs: Any) -> ModelDownloadEnv:
    """Entry point of the ids of the shipped scenarios: ``scenario=`` is refused (it belongs to
    ``insitu/Custom-v1``; on another id it would silently run another scenario under that id)."""
    if scenario is not None and scenario != registered_scenario:
        raise ValueError(f"argument 'scenario' = {scenario!r} not allowed here: this id runs the shipped scenario "
                         f"{registered_scenario!r}; use {CUSTOM_ID} (gymnasium.make({CUSTOM_ID!r}, scenario=...)) "
                         "to run another scenario")
    return ModelDownloadEnv(scenario=registered_scenario, **kwargs)


def make_env(scenario_name: str, **kwargs: Any) -> gym.Env:
    """``gymnasium.make`` of a shipped scenario by name (or of a YAML path via Custom-v1)."""
    if scenario_name in SCENARIO_IDS:
        return gym.make(SCENARIO_IDS[scenario_name], **kwargs)
    return gym.make(CUSTOM_ID, scenario=scenario_name, **kwargs)


def parallel_env(scenario: str = "urban_smartphone", n_devices: int | None = None, **kwargs: Any):
    """PettingZoo multi-device env (N devices sharing one cell), see :mod:`envs.multi_device`.

    Needs the optional extra ``pip install -e .[multi]`` (pettingzoo); imported lazily.
    """
    try:
        from envs.multi_device import parallel_env as _parallel_env
    except ImportError as exc:
        if "pettingzoo" not in str(exc):
            raise
        raise ImportError("envs.parallel_env needs pettingzoo, an optional extra: pip install -e .[multi] "
                          f"({exc})") from exc
    return _parallel_env(scenario=scenario, n_devices=n_devices, **kwargs)


def __getattr__(name: str) -> Any:
    """``envs.MixedVectorEnv`` (rows of several scenarios in one vector env), imported on first use."""
    if name == "MixedVectorEnv":
        from envs.mixed import MixedVectorEnv

        return MixedVectorEnv
    raise AttributeError(f"module 'envs' has no attribute {name!r}")


def _register() -> None:
    for name, env_id in SCENARIO_IDS.items():
        if env_id in gym.registry:
            continue
        try:
            horizon = load_scenario(name).max_episode_steps
        except FileNotFoundError:
            continue  # scenario file not shipped (yet)
        gym.register(id=env_id, entry_point="envs:make_registered", kwargs={"registered_scenario": name},
                     max_episode_steps=horizon, vector_entry_point="envs.vector:make_registered_vec")
    if CUSTOM_ID not in gym.registry:
        gym.register(id=CUSTOM_ID, entry_point="envs:make_custom",
                     vector_entry_point="envs.vector:make_custom_vec")


_register()

__all__ = ["CUSTOM_ID", "SCENARIO_IDS", "MixedVectorEnv", "ModelDownloadEnv", "make_custom", "make_env",
           "parallel_env", "SINGLE_DEVICE_SCENARIOS"]
