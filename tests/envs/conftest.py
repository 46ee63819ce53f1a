"""Fixtures: tiny, valid library profiles and a scenario that uses them (independent of shipped files)."""

from __future__ import annotations

import copy
import json
import sys
from pathlib import Path

import pytest
import yaml

sys.path.insert(0, str(Path(__file__).resolve().parent))
from insitu_test_helpers import TINY_PROFILE_ARGS, TINY_SCENARIO, tiny_profile  # noqa: E402,F401


@pytest.fixture(scope="session")
def tiny_profile_paths(tmp_path_factory) -> list[str]:
    """Two tiny profile files (paths)."""
    d = tmp_path_factory.mktemp("profiles")
    paths = []
    for name, args in TINY_PROFILE_ARGS:
        p = d / f"{name}.json"
        p.write_text(json.dumps(tiny_profile(name, name, *args)))
        paths.append(str(p))
    return paths


@pytest.fixture(scope="session")
def tiny_scenario_dict(tiny_profile_paths) -> dict:
    """The tiny scenario as a dict pointing at the tiny profiles."""
    sc = copy.deepcopy(TINY_SCENARIO)
    sc["tasks"][0]["profile"] = tiny_profile_paths[0]
    sc["tasks"][1]["profile"] = tiny_profile_paths[1]
    return sc


@pytest.fixture(scope="session")
def tiny_scenario_path(tiny_scenario_dict, tmp_path_factory) -> str:
    """The tiny scenario written to a YAML file."""
    p = tmp_path_factory.mktemp("scenarios") / "tiny.yaml"
    p.write_text(yaml.safe_dump(tiny_scenario_dict))
    return str(p)


@pytest.fixture(scope="session")
def tiny_params(tiny_scenario_path):
    """``make_params(**overrides)`` of the tiny scenario: ``(scenario, SimParams)`` (cached)."""
    from envs.adapter import make_params

    def build(**overrides):
        return make_params(tiny_scenario_path, **overrides)

    return build
