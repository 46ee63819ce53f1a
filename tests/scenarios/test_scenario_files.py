"""Scenario files: every shipped scenario loads; every kind of bad input fails with file, key,
value and what is allowed, the v1 keys (interference, radio, sessions, popularity, menu size)
included."""

from __future__ import annotations

import copy
import re
from pathlib import Path

import numpy as np
import pytest
import yaml

from scenarios import ScenarioError, available_scenarios, load_scenario, scenario_from_dict
from scenarios.loader import SCENARIO_DIR

SHIPPED = ["urban_smartphone", "tactile_xr", "iot_sensor", "highway_vehicle", "rural_macro", "stadium_xr",
           "factory_sensors"]


def test_shipped_scenarios_listed():
    assert set(SHIPPED) == set(available_scenarios())


@pytest.mark.parametrize("name", SHIPPED)
def test_every_scenario_loads(name):
    sc = load_scenario(name)
    assert sc.name == name
    assert sc.n_tasks >= 2 and sc.dt_s > 0
    assert sc.max_episode_steps == 250
    assert 1 <= sc.library.menu_size <= 64
    for t in sc.tasks:
        assert t.session_median_s > 0 and t.session_sigma >= 0
    pops = sc.context.popularity_day
    assert len(pops) in (1, sc.mobility.n_zones) and all(len(r) == sc.n_tasks for r in pops)
    assert load_scenario(SCENARIO_DIR / f"{name}.yaml") == sc  # by path too


#: Files whose ``context.popularity_night`` line carries no source or 'assumption' comment.
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
    assert scs["rural_macro"].channel.pathloss_model == "rma"
    assert min(t.inference_latency_budget_s for t in scs["tactile_xr"].tasks) <= 0.01  # ms-scale budgets
    assert {n for n, s in scs.items() if s.cell.device_mix} == {"stadium_xr", "factory_sensors"}
    # app popularity depends on the zone where there are several zones
    assert any(len({tuple(r) for r in s.context.popularity_day}) > 1 for s in scs.values())


# ---------------------------------------------------------------- bad files


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
    ("channel.carrier_hz", 1.0e13, ["'channel.carrier_hz'", "out of range", "allowed: [500000000.0, 1000000000000.0]"]),
    ("max_episode_steps", 2.5, ["'max_episode_steps'", "2.5", "allowed: an integer"]),
    ("library.fallthrough", "yes", ["'library.fallthrough'", "'yes'", "allowed: true or false"]),
    ("channel.pathloss_model", "rmb", ["'channel.pathloss_model'", "'rmb'", "allowed: one of ['umi', 'uma', 'rma']"]),
    ("tasks.1.request_rate_hz", -3.0, ["'tasks[1].request_rate_hz'", "-3.0", "out of range"]),
    ("tasks.0.inference_latency_budget_s", 0.0, ["'tasks[0].inference_latency_budget_s'", "allowed: (0.0"]),
    ("device.device_class", "toaster", ["'device.device_class'", "'toaster'", "smartphone"]),
    ("library.zone_tasks", [[0], [1]], ["'library.zone_tasks'", "one row per zone", "n_zones = 4"]),
    ("library.zone_tasks.0", [0, 9], ["'library.zone_tasks[0][1]'", "9", "allowed: [0, 3]"]),
    ("mobility.start_hour_max", 3.0, ["'mobility.start_hour_max'", "3.0", "start_hour_min"]),
    ("channel", "fast", ["'channel'", "'fast'", "a mapping"]),
    # v1: interference
    ("channel.interference.load_day", 1.5, ["'channel.interference.load_day'", "1.5", "out of range", "[0.0, 1.0]"]),
    ("channel.interference.change_prob", -0.1, ["'channel.interference.change_prob'", "out of range"]),
    ("channel.interference.enabled", "on", ["'channel.interference.enabled'", "'on'", "true or false"]),
    ("channel.interference.gain_db", 100.0, ["'channel.interference.gain_db'", "100.0", "[-40.0, 80.0]"]),
    ("channel.interference.sites", 2, ["'channel.interference.sites'", "unknown key", "load_day"]),
    ("channel.interference", [0.5], ["'channel.interference'", "a mapping"]),
    # v1: radio
    ("device.radio.tail_s", -1.0, ["'device.radio.tail_s'", "-1.0", "out of range", "[0.0, 3600.0]"]),
    ("device.radio.promotion_s", 100.0, ["'device.radio.promotion_s'", "100.0", "out of range"]),
    ("device.radio.rx_base_power_w", "high", ["'device.radio.rx_base_power_w'", "'high'", "a number"]),
    ("device.radio.rx_power_w", 1.0, ["'device.radio.rx_power_w'", "unknown key", "rx_base_power_w"]),
    ("device.rx_power_w", 1.0, ["'device.rx_power_w'", "unknown key", "radio"]),
    # v1: sessions
    ("tasks.0.session_median_s", 0.0, ["'tasks[0].session_median_s'", "0.0", "out of range", "allowed: (0.0"]),
    ("tasks.2.session_median_s", -5.0, ["'tasks[2].session_median_s'", "-5.0", "out of range"]),
    ("tasks.1.session_sigma", 6.0, ["'tasks[1].session_sigma'", "6.0", "[0.0, 5.0]"]),
    ("tasks.0.download_deadline_s", 0.5, ["'tasks[0].download_deadline_s'", "unknown key", "session_median_s"]),
    # v1: popularity
    ("context.popularity_day", [[1.0, 1.0]], ["'context.popularity_day'", "wrong shape", "n_zones = 4", "4 popularities"]),
    ("context.popularity_day", [[1.0, 1.0, 1.0, 1.0]] * 3, ["'context.popularity_day'", "wrong shape"]),
    ("context.popularity_day.1", [1.0, -2.0, 1.0, 1.0], ["'context.popularity_day[1][1]'", "-2.0", "[0, 1e6]"]),
    ("context.popularity_night", [[0.0, 5.0, 0.0, 0.0]], ["'context.popularity_night[0]'", "fewer than 2 tasks"]),
    ("context.popularity_day.0.2", "often", ["'context.popularity_day[0][2]'", "'often'", "a number"]),
    ("context.transition_day", [[1.0]], ["'context.transition_day'", "unknown key", "popularity_day"]),
    # v1: menu size
    ("library.menu_size", 0, ["'library.menu_size'", "0", "out of range", "[1, 64]"]),
    ("library.menu_size", 65, ["'library.menu_size'", "65", "out of range"]),
    ("library.menu_size", 2.5, ["'library.menu_size'", "2.5", "an integer"]),
    ("library.menu_size", "eight", ["'library.menu_size'", "'eight'", "an integer"]),
]


@pytest.mark.parametrize("path,value,pieces", BAD_CASES, ids=[f"{c[0]}={c[1]!r}"[:60] for c in BAD_CASES])
def test_bad_scenario_file_fails_with_message(tmp_path, base_dict, path, value, pieces):
    f = _write(tmp_path, _mutate(base_dict, path, value))
    with pytest.raises(ScenarioError) as exc:
        load_scenario(f)
    msg = str(exc.value)
    assert str(f) in msg
    for piece in pieces:
        assert piece in msg, (piece, msg)


def test_missing_required_keys(tmp_path, base_dict):
    for path, key in (("tasks.0.profile", r"'tasks\[0\]\.profile'"), ("context.popularity_day", "'context.popularity_day'"),
                      ("library", "'library'")):
        f = _write(tmp_path, _mutate(base_dict, path, None, delete=True))
        with pytest.raises(ScenarioError, match=key + ".*missing"):
            load_scenario(f)


def test_defaults_of_the_new_sections(base_dict):
    d = copy.deepcopy(base_dict)
    del d["channel"]["interference"]
    del d["device"]["radio"]
    del d["library"]["menu_size"]
    del d["context"]["popularity_night"]
    for t in d["tasks"]:
        del t["session_median_s"], t["session_sigma"]
    sc = scenario_from_dict(d, "mem.yaml")
    assert sc.channel.interference.enabled and sc.channel.interference.load_day == 0.5
    assert sc.device.radio.tail_s == 10.0 and sc.device.radio.promotion_s == 0.26
    assert sc.library.menu_size == 8
    assert sc.context.popularity_night == []
    assert all(t.session_median_s == 60.0 and t.session_sigma == 1.0 for t in sc.tasks)


def test_all_problems_of_a_file_are_reported_at_once(tmp_path, base_dict):
    d = copy.deepcopy(base_dict)
    d["dt_s"] = -1.0
    d["channel"]["carrier_hz"] = "fast"
    d["channel"]["colour"] = "blue"
    del d["tasks"][1]["profile"]
    f = _write(tmp_path, d)
    with pytest.raises(ScenarioError) as exc:
        load_scenario(f)
    keys = ["'dt_s'", "'channel.carrier_hz'", "'channel.colour'", "'tasks[1].profile'"]
    assert len(exc.value.problems) == 4 and str(exc.value).startswith("4 problems:")
    for key, line in zip(sorted(keys), sorted(exc.value.problems)):
        assert key in line and str(f) in line
    # one problem: the message is that problem alone
    d = copy.deepcopy(base_dict)
    d["dt_s"] = -1.0
    with pytest.raises(ScenarioError) as exc:
        load_scenario(_write(tmp_path, d))
    assert exc.value.problems == [str(exc.value)] and "'dt_s'" in str(exc.value)


def test_exponent_numbers_without_sign_or_dot_are_numbers(tmp_path, base_dict):
    text = yaml.safe_dump(base_dict).replace("bandwidth_hz: 400000000.0", "bandwidth_hz: 4e8")
    assert "bandwidth_hz: 4e8" in text  # plain YAML 1.1 would read this as the string '4e8'
    assert load_scenario(_write(tmp_path, text)).channel.bandwidth_hz == 4e8
    quoted = text.replace("bandwidth_hz: 4e8", "bandwidth_hz: '4e8'")
    with pytest.raises(ScenarioError, match=r"'channel.bandwidth_hz'.*quoted numbers are strings"):
        load_scenario(_write(tmp_path, quoted))


def test_invalid_and_duplicate_yaml(tmp_path):
    f = _write(tmp_path, "name: [unclosed\n")
    with pytest.raises(ScenarioError, match="not valid YAML"):
        load_scenario(f)
    f = _write(tmp_path, "name: a\nname: b\n")
    with pytest.raises(ScenarioError, match="duplicate key 'name'"):
        load_scenario(f)


def test_unknown_scenario_name_and_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="shipped scenarios: .*urban_smartphone"):
        load_scenario("no_such_scenario")
    with pytest.raises(FileNotFoundError, match="is a folder"):
        load_scenario(tmp_path)


def test_overrides_three_spellings_and_errors():
    base = load_scenario("urban_smartphone")
    sc = load_scenario("urban_smartphone", dt_s=0.5, channel__bandwidth_hz=1e8,
                       device={"storage_bytes": 1e8}, device__radio__tail_s=3.0,
                       channel__interference__load_day=0.9, library__menu_size=4)
    assert sc.dt_s == 0.5 and sc.channel.bandwidth_hz == 1e8 and sc.device.storage_bytes == 1e8
    assert sc.device.radio.tail_s == 3.0 and sc.device.radio.rx_base_power_w == base.device.radio.rx_base_power_w
    assert sc.channel.interference.load_day == 0.9 and sc.channel.interference.gain_db == base.channel.interference.gain_db
    assert sc.library.menu_size == 4
    assert sc.device.e_mem_per_byte_j == base.device.e_mem_per_byte_j  # merged, not replaced
    with pytest.raises(ScenarioError, match=r"'channel\.bandwidth_hz'.*'wide'.*a number"):
        load_scenario("urban_smartphone", channel__bandwidth_hz="wide")
    with pytest.raises(ScenarioError, match=r"'device\.storage_gb'.*unknown key"):
        load_scenario("urban_smartphone", device__storage_gb=1)
    with pytest.raises(ScenarioError, match=r"with overrides"):
        load_scenario("urban_smartphone", dt_s=-1.0)
    with pytest.raises(ScenarioError, match=r"'channel\.interference\.load_night'.*out of range"):
        load_scenario("urban_smartphone", channel__interference__load_night=2.0)
    with pytest.raises(ScenarioError, match=r"'library\.menu_size'.*out of range"):
        load_scenario("urban_smartphone", library__menu_size=100)
    with pytest.raises(ScenarioError, match=r"unexpected keyword argument 'speed'") as exc:
        load_scenario("urban_smartphone", speed=3.0)
    assert isinstance(exc.value, TypeError)


def test_numpy_override_values_are_plain():
    sc = load_scenario("urban_smartphone", dt_s=np.float64(0.5), library__menu_size=np.int64(4),
                       context__popularity_night=np.array([[1.0, 2.0, 3.0, 4.0]]))
    assert sc.dt_s == 0.5 and type(sc.dt_s) is float and sc.library.menu_size == 4
    assert sc.context.popularity_night == [[1.0, 2.0, 3.0, 4.0]]


def test_scenario_from_dict_roundtrip(base_dict):
    sc = scenario_from_dict(base_dict, "mem.yaml")
    again = scenario_from_dict(sc.to_dict(), "mem2.yaml")
    assert again == sc


def test_device_mix_entries_take_the_device_keys_they_do_not_set():
    sc = load_scenario("stadium_xr")
    base, phone = sc.device, sc.cell.device_mix[1].device
    assert phone.device_class == "smartphone" and phone.e_mac_fp32_j == base.e_mac_fp32_j
    assert phone.radio == base.radio


def test_device_mix_radio_keys_not_set_come_from_the_device_section():
    d = yaml.safe_load((SCENARIO_DIR / "stadium_xr.yaml").read_text())
    d["cell"]["device_mix"][1]["device"]["radio"] = {"tail_s": 3.0}
    sc = scenario_from_dict(d, "mix.yaml")
    radio = sc.cell.device_mix[1].device.radio
    assert radio.tail_s == 3.0
    assert radio.rx_base_power_w == sc.device.radio.rx_base_power_w


def test_nested_mapping_override_merges_into_subsections():
    base = load_scenario("urban_smartphone")
    sc = load_scenario("urban_smartphone", device={"radio": {"tail_s": 3.0}})
    assert sc.device.radio.tail_s == 3.0
    assert sc.device.radio.rx_base_power_w == base.device.radio.rx_base_power_w
