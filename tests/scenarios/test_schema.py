"""The generated scenario schema page: up to date, complete, its examples load."""

from __future__ import annotations

import dataclasses
import re
import typing

import yaml

from scenarios import load_scenario, loader, scenario_from_dict
from scenarios.loader import Scenario, _StrictLoader
from scenarios.schema import MINIMAL_EXAMPLE, SCHEMA_PAGE, _sections, main, schema_markdown


def test_committed_page_is_the_generated_one():
    assert SCHEMA_PAGE.read_text() == schema_markdown(), "run python -m scenarios.schema --write"
    assert main(["--check"]) == 0


def _tables(text: str) -> dict[str, dict[str, list[str]]]:
    """Section title -> key -> the row's cells."""
    out: dict[str, dict[str, list[str]]] = {}
    title = ""
    for line in text.splitlines():
        if line.startswith("## "):
            title = line[3:].strip("`")
            out[title] = {}
        elif line.startswith("| `"):
            cells = [c.strip() for c in line.strip("|").split(" | ")]
            out[title][cells[0].strip("`")] = cells
    return out


def test_every_key_is_documented_with_the_loader_default_and_range():
    tables = _tables(schema_markdown())
    seen = {}
    for path, cls in _sections():
        rows = tables["Top level" if not path else path]
        if cls in seen:  # a repeated section refers to the first one
            assert not rows
            continue
        seen[cls] = path
        hints = typing.get_type_hints(cls)
        fields = loader._public_fields(cls)
        assert list(rows) == [f.name for f in fields]
        for f in fields:
            cells = rows[f.name]
            default = cells[3]
            if f.default is not dataclasses.MISSING and not isinstance(f.default, str):
                assert yaml.load(default.strip("`"), Loader=_StrictLoader) == f.default, (path, f.name)  # noqa: S506
            elif f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING:
                assert default == "*required*"
            lo, hi = f.metadata.get("lo"), f.metadata.get("hi")
            if lo is not None:
                m = re.fullmatch(r"([\[(])(\S+), (\S+)\]", cells[4])
                assert m and float(m[2]) == lo and float(m[3]) == hi, (path, f.name, cells[4])
                assert (m[1] == "(") == f.metadata.get("lo_open")
            assert cells[5], f"{path}.{f.name} has no meaning"
            assert hints[f.name] is not float or cells[1] == "number"


def test_units_come_from_the_key_names():
    rows = _tables(schema_markdown())
    assert rows["channel"]["carrier_hz"][2] == "Hz"
    assert rows["channel"]["absorption_db_per_km"][2] == "dB/km"
    assert rows["device.radio"]["rx_power_per_mbps_w"][2] == "W per Mbit/s"
    assert rows["library.edge"]["backhaul_bps"][2] == "bit/s"
    assert rows["reward"]["air_bytes"][2] == "weight"  # a reward weight, not a byte count


def _yaml_blocks(text: str) -> list[str]:
    return re.findall(r"```yaml\n(.*?)```", text, flags=re.S)


def test_minimal_example_loads_and_takes_the_defaults(tmp_path):
    minimal, full = _yaml_blocks(schema_markdown())
    assert minimal == MINIMAL_EXAMPLE
    path = tmp_path / "my.yaml"
    path.write_text(minimal)
    sc = load_scenario(path)
    assert sc.n_tasks == 2 and sc.reward == loader.RewardConfig() and sc.channel == loader.ChannelConfig()
    assert sc.library.edge.capacity_bytes == 2e8 and sc.library.menu_size == 8


def test_full_example_is_the_default_scenario():
    _, full = _yaml_blocks(schema_markdown())
    data = yaml.load(full, Loader=_StrictLoader)  # noqa: S506 (a SafeLoader subclass)
    ref = load_scenario("urban_smartphone")
    assert set(data) == {f.name for f in loader._public_fields(Scenario)}
    assert scenario_from_dict(data).to_dict() == ref.to_dict()
