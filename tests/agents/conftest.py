"""Fixtures for the agents tests.

``tiny_env`` (in this folder) is a TEST DOUBLE of the project's environment that implements the
contracts.md env API; it keeps the infrastructure tests fast and independent of the simulation.
Tests that need the real environment use ``real_scenario`` and are skipped only if the env
package has not been built yet.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import tiny_env  # noqa: E402

tiny_env.register()


@pytest.fixture
def tiny_id() -> str:
    """Gymnasium id of the registered test double."""
    return tiny_env.ENV_ID


@pytest.fixture
def real_scenario() -> str:
    """The default scenario of the real environment (skips if envs is not built yet)."""
    from agents.common import available_scenarios

    names = available_scenarios()
    if "urban_smartphone" not in names:
        pytest.skip("real environment not available yet")
    return "urban_smartphone"
