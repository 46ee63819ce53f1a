"""Scenario files (YAML) and their typed loader (:mod:`scenarios.loader`)."""

from scenarios.loader import (
    Scenario,
    ScenarioError,
    available_scenarios,
    load_scenario,
    scenario_from_dict,
)

__all__ = ["Scenario", "ScenarioError", "available_scenarios", "load_scenario", "scenario_from_dict"]
