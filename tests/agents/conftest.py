"""Fixtures for the agents tests.

``tiny_env`` (in this folder) is a TEST DOUBLE of the project's environment with the v1 env API of
``envs.ModelDownloadEnv``; it keeps the infrastructure tests fast and independent of the simulation.
Tests of the real environment use ``real_scenario``: the shipped default scenario with small
test profiles (``small_scenario.py``).
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import tiny_env  # noqa: E402
from small_scenario import write_small_scenario  # noqa: E402

tiny_env.register()


@pytest.fixture
def tiny_id() -> str:
    """Gymnasium id of the registered test double."""
    return tiny_env.ENV_ID


@pytest.fixture(scope="session")
def real_scenario(tmp_path_factory) -> str:
    """A YAML file of the REAL environment's default scenario (scenarios/urban_smartphone.yaml,
    every physics setting as shipped) whose tasks use small test profiles (menus of 6 variants,
    192 flat actions) and a 40-step horizon, so the real env runs in tests independently of the
    shipped profile files."""
    return write_small_scenario(tmp_path_factory.mktemp("real_scenario"))
