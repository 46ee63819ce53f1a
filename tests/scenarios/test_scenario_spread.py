"""Decisions matter on every shipped scenario: the one-step oracle and greedy clearly beat random."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "envs"))
from insitu_test_helpers import shipped_profiles_missing  # noqa: E402

_spec = importlib.util.spec_from_file_location("check_policy_spread", ROOT / "benchmarks" / "check_policy_spread.py")
spread = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(spread)

SHIPPED = ["urban_smartphone", "tactile_xr", "iot_sensor", "highway_vehicle", "rural_macro"]


@pytest.mark.parametrize("name", SHIPPED)
def test_oracle_and_greedy_beat_random(name):
    missing = shipped_profiles_missing(name)
    if missing:
        pytest.skip(f"shipped profiles not built yet: {missing}")
    rnd, _ = spread.evaluate(name, "random", episodes=2)
    greedy, _ = spread.evaluate(name, "greedy_compute", episodes=2)
    oracle, _ = spread.evaluate(name, "oracle", episodes=2)
    assert oracle - rnd > 0.2 * abs(oracle), (rnd, greedy, oracle)
    assert greedy > rnd, (rnd, greedy, oracle)
