"""Scenario files: every shipped scenario loads; every kind of bad input fails with file, key, value, allowed."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import pytest
import yaml

from scenarios import ScenarioError, available_scenarios, load_scenario, scenario_from_dict
from scenarios.loader import SCENARIO_DIR

SHIPPED = ["urban_smartphone", "tactile_xr", "iot_sensor", "highway_vehicle", "rural_macro"]


def test_shipped_scenarios_listed():
    assert set(SHIPPED) <= set(available_scenarios())


@pytest.mark.parametrize("name", SHIPPED)
def test_every_scenario_loads(name):
    sc = load_scenario(name)
    assert sc.name == name
    assert sc.n_tasks >= 2
    assert sc.max_episode_steps > 0 and sc.dt_s > 0
    assert load_scenario(SCENARIO_DIR / f"{name}.yaml") == sc  # by path too


@pytest.mark.parametrize("name", SHIPPED)
def test_every_number_has_a_source_comment(name):
    """A key with a numeric value carries a comment (a source or 'assumption'); matrix rows and
    list items need a comment on their key line or just above it."""
    lines = (SCENARIO_DIR / f"{name}.yaml").read_text().splitlines()
    block_documented = prev_comment = False
    for i, line in enumerate(lines):
        text = line.strip()
        body = line.split("#")[0].strip()
        if text.startswith("#"):
            block_documented = prev_comment = True
            continue
        if body.startswith("- ") and re.search(r"-?[0-9]", body) and "name:" not in body:
            assert "#" in line or block_documented, f"{name}.yaml line {i + 1}: {line!r}"
            continue
        if re.search(r":\s*(-?[0-9][0-9.e+-]*|\[.*[0-9].*\])\s*$", body):
            assert "#" in line, f"{name}.yaml line {i + 1} has no source or 'assumption': {line!r}"
        if body.endswith(":"):
            block_documented = "#" in line or prev_comment
        prev_comment = False
    assert "assumption" in "\n".join(lines)


def test_the_scenarios_differ_in_kind():
    scs = {n: load_scenario(n) for n in SHIPPED}
    assert len({s.device.device_class for s in scs.values()}) >= 4
    assert scs["tactile_xr"].channel.carrier_hz > 100e9            # sub-THz
    assert scs["urban_smartphone"].channel.carrier_hz >= 24e9      # mmWave
    assert scs["iot_sensor"].channel.bandwidth_hz <= 200e3         # narrowband
    assert all(t.profile.startswith("measured_") for t in scs["iot_sensor"].tasks)
    assert scs["iot_sensor"].device.storage_bytes < 1e6
    assert scs["highway_vehicle"].mobility.speed_mps >= 20          # handovers every few seconds
    assert scs["rural_macro"].library.central.backhaul_bps < 1e8   # weak backhaul
    assert min(t.download_deadline_s for t in scs["tactile_xr"].tasks) < 0.05  # ms-scale deadlines


# ---------------------------------------------------------------- bad files

BASE = None


@pytest.fixture(scope="module")
def base_dict():
    return yaml.safe_load((SCENARIO_DIR / "urban_smartphone.yaml").read_text())


def _write(tmp_path: Path, data) -> Path:
    p = tmp_path / "bad.yaml"
    p.write_text(yaml.safe_dump(data) if not isinstance(data, str) else data)
    return p


def _mutate(d, dotted, value, delete=False):
    d = copy.deepcopy(d)
    node = d
    parts = dotted.split(".")
    for part in parts[:-1]:
        node = node[int(part)] if isinstance(node, list) else node[part]
    last = parts[-1]
    if isinstance(node, list):
        last = int(last)
    if delete:
        del node[last]
    else:
        node[last] = value
    return d


BAD_CASES = [
    # (mutation path, value, expected message pieces)
    ("foo", 1, ["'foo'", "unknown key", "allowed keys here"]),
    ("channel.carrier_ghz", 28, ["'channel.carrier_ghz'", "unknown key", "carrier_hz"]),
    ("dt_s", "fast", ["'dt_s'", "'fast'", "allowed: a number"]),
    ("channel.carrier_hz", 1.0e13, ["'channel.carrier_hz'", "10000000000000.0", "out of range", "allowed: [500000000.0, 1000000000000.0]"]),
    ("max_episode_steps", 2.5, ["'max_episode_steps'", "2.5", "allowed: an integer"]),
    ("library.fallthrough", "yes", ["'library.fallthrough'", "'yes'", "allowed: true or false"]),
    ("channel.pathloss_model", "rma", ["'channel.pathloss_model'", "'rma'", "allowed: one of ['umi', 'uma']"]),
    ("tasks.1.request_rate_hz", -3.0, ["'tasks[1].request_rate_hz'", "-3.0", "out of range"]),
    ("tasks.0.inference_latency_budget_s", 0.0, ["'tasks[0].inference_latency_budget_s'", "allowed: (0.0"]),
    ("device.device_class", "toaster", ["'device.device_class'", "'toaster'", "smartphone"]),
    ("context.transition_day", [[1.0, 0.0], [0.0, 1.0]], ["'context.transition_day'", "4 x 4"]),
    ("context.transition_day.0", [0.5, 0.2, 0.2, 0.2], ["'context.transition_day[0]'", "sums to 1.1", "rows summing to 1"]),
    ("library.zone_tasks", [[0], [1]], ["'library.zone_tasks'", "one row per zone", "n_zones = 4"]),
    ("library.zone_tasks.0", [0, 9], ["'library.zone_tasks[0][1]'", "9", "allowed: [0, 3]"]),
    ("mobility.start_hour_max", 3.0, ["'mobility.start_hour_max'", "3.0", "start_hour_min"]),
    ("channel", "fast", ["'channel'", "'fast'", "a mapping"]),
]


@pytest.mark.parametrize("path,value,pieces", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_scenario_file_fails_with_message(tmp_path, base_dict, path, value, pieces):
    f = _write(tmp_path, _mutate(base_dict, path, value))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(f)
    msg = str(exc.value)
    assert str(f) in msg
    for piece in pieces:
        assert piece in msg, (piece, msg)


def test_missing_required_key(tmp_path, base_dict):
    f = _write(tmp_path, _mutate(base_dict, "tasks.0.profile", None, delete=True))
    with pytest.raises(ScenarioError, match=r"'tasks\[0\]\.profile'.*missing"):
        load_scenario(f)


def test_invalid_yaml(tmp_path):
    f = _write(tmp_path, "name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(f)


def test_unknown_scenario_name():
    with pytest.raises(FileNotFoundError, match="shipped scenarios: .*urban_smartphone"):
        load_scenario("no_such_scenario")


def test_overrides_three_spellings_and_errors():
    sc = load_scenario("urban_smartphone", dt_s=0.5, channel__bandwidth_hz=1e8,
                       device={"storage_bytes": 1e8})
    assert sc.dt_s == 0.5 and sc.channel.bandwidth_hz == 1e8 and sc.device.storage_bytes == 1e8
    assert sc.device.rx_power_w == load_scenario("urban_smartphone").device.rx_power_w  # merged, not replaced
    with pytest.raises(ScenarioError, match=r"'channel\.bandwidth_hz'.*'wide'.*a number"):
        load_scenario("urban_smartphone", channel__bandwidth_hz="wide")
    with pytest.raises(ScenarioError, match=r"'device\.storage_gb'.*unknown key"):
        load_scenario("urban_smartphone", device__storage_gb=1)
    with pytest.raises(ScenarioError, match=r"with overrides"):
        load_scenario("urban_smartphone", dt_s=-1.0)


def test_scenario_from_dict_roundtrip(base_dict):
    sc = scenario_from_dict(base_dict, "mem.yaml")
    again = scenario_from_dict(sc.to_dict(), "mem2.yaml")
    assert again == sc
