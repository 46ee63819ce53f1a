"""The scenario schema page (``docs/scenario_schema.md``), generated from the typed dataclasses of
:mod:`scenarios.loader`, so that keys, types, units, defaults, ranges and meanings cannot drift
from what the loader enforces.

Run ``python -m scenarios.schema --write`` after changing a dataclass, ``--check`` to compare
the committed page with the generated one (exit code 1 when they differ).
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
import typing
from pathlib import Path
from typing import Any

import yaml

from scenarios import loader
from scenarios.loader import Scenario

#: The generated page, relative to the repository root.
SCHEMA_PAGE = Path(__file__).resolve().parent.parent / "docs" / "scenario_schema.md"

#: Unit of a key, by the suffix of its name (the project's naming rule: units in names).
_UNITS = (
    ("_per_mbps_w", "W per Mbit/s"), ("_db_per_km", "dB/km"), ("_bytes_per_s", "byte/s"),
    ("_macs_per_s", "MAC/s"), ("_per_byte_j", "J/byte"), ("_per_s", "1/s"), ("_hz", "Hz"),
    ("_bps", "bit/s"), ("_dbm", "dBm"), ("_db", "dB"), ("_mps", "m/s"), ("_m", "m"), ("_w", "W"),
    ("_j", "J"), ("_s", "s"), ("_bytes", "byte"), ("_hour", "h (0-24)"), ("_hour_min", "h (0-24)"),
    ("_hour_max", "h (0-24)"), ("_prob", "probability"), ("_steps", "steps"),
)

#: The smallest scenario file the loader accepts: every required key, nothing else.
MINIMAL_EXAMPLE = """\
name: my_scenario
tasks:
  - {name: classify, profile: reference_mobilenet_v2, request_rate_hz: 5.0, inference_latency_budget_s: 0.1}
  - {name: detect, profile: reference_resnet50, request_rate_hz: 2.0, inference_latency_budget_s: 0.2}
library:
  edge: {rtt_s: 0.002, backhaul_bps: 1.0e+10, capacity_bytes: 2.0e+8}
  local: {rtt_s: 0.01, backhaul_bps: 1.0e+9}
  central: {rtt_s: 0.05, backhaul_bps: 2.0e+8}
context:
  popularity_day: [[1.0, 1.0]]
"""

_SECTIONS_DOC = """\
A scenario is one YAML file (the shipped ones are in `scenarios/`; pass a path to use your own).
It is loaded into typed, frozen dataclasses and validated once: an unknown key, a wrong type or an
out-of-range value is refused with a message naming the file, the dotted key, the value and what
is allowed; all such problems of a file are reported together.

Overrides use the same keys: `gymnasium.make("insitu/Custom-v1", scenario="my.yaml",
channel__bandwidth_hz=2e8)` or `load_scenario(name, channel={"bandwidth_hz": 2e8})`
(`section__key`, or a mapping merged into the section).

Writing values:

* Numbers may be written `3.5e9`, `3.5e+9` or `3500000000`; integers are accepted where a float
  is expected, and a float with no fractional part where an integer is expected.
* A task's `profile` is a library profile name (`compression/profiles/<name>.json`, listed by
  `compression.library.available_profiles()`) or the path of a profile JSON file; a relative
  path is resolved against the folder of the scenario file.
* Units follow from the key's name (`_hz`, `_s`, `_bps`, `_db`, `_j`, `_w`, `_bytes`, ...);
  the *unit* column repeats them.
* *required* in the default column means the key has no default and must be given.
"""


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is list:
        return f"list of {_type_name(typing.get_args(tp)[0])}"
    if dataclasses.is_dataclass(tp):
        return f"section `{tp.__name__}`"
    return {float: "number", int: "integer", bool: "true/false", str: "string"}.get(tp, str(tp))


def _unit(cls: type, name: str) -> str:
    if cls is loader.RewardConfig:  # keys are reward-term names, values dimensionless weights
        return "weight"
    for suffix, unit in _UNITS:
        if name.endswith(suffix):
            return unit
    return ""


def _value(v: Any) -> str:
    if isinstance(v, float):
        short = f"{v:.6g}"
        return f"`{short if float(short) == v else repr(v)}`"
    return f"`{yaml.safe_dump(v, default_flow_style=True).strip().removesuffix('...').strip()}`"


def _default(f: dataclasses.Field) -> str:
    if f.default is not dataclasses.MISSING:
        return _value(f.default)
    if f.default_factory is not dataclasses.MISSING:
        value = f.default_factory()
        if dataclasses.is_dataclass(value):
            return "section defaults"
        return _value(value)
    return "*required*"


def _allowed(meta: Any) -> str:
    if meta.get("choices") is not None:
        return ", ".join(f"`{c}`" for c in meta["choices"])
    lo, hi = meta.get("lo"), meta.get("hi")
    if lo is None and hi is None:
        return ""
    left = "(" if meta.get("lo_open") else "["
    return f"{left}{lo:g}, {hi:g}]" if hi is not None else f"{left}{lo:g}, inf)"


def _sections() -> list[tuple[str, type]]:
    """Every section dataclass with its dotted path, depth first from the top level."""
    out: list[tuple[str, type]] = []

    def walk(cls: type, path: str) -> None:
        out.append((path, cls))
        hints = typing.get_type_hints(cls)
        for f in loader._public_fields(cls):
            tp = hints[f.name]
            inner = typing.get_args(tp)[0] if typing.get_origin(tp) is list else tp
            if dataclasses.is_dataclass(inner):
                suffix = "[i]" if inner is not tp else ""
                walk(inner, f"{path}.{f.name}{suffix}" if path else f"{f.name}{suffix}")

    walk(Scenario, "")
    return out


def _field_doc(f: dataclasses.Field, tp: Any) -> str:
    doc = f.metadata.get("doc", "")
    inner = typing.get_args(tp)[0] if typing.get_origin(tp) is list else tp
    if not doc and dataclasses.is_dataclass(inner):
        doc = _doc(inner)
    return doc.replace("|", "\\|")


def _doc(cls: type) -> str:
    """A class docstring on one line, reStructuredText literals as Markdown code."""
    return " ".join((cls.__doc__ or "").split()).replace("``", "`")


def _full_example() -> str:
    """The default scenario with every key written out (defaults filled in)."""
    sc = loader.load_scenario("urban_smartphone")
    return yaml.safe_dump(sc.to_dict(), sort_keys=False, width=100)


def schema_markdown() -> str:
    """The schema page as Markdown."""
    lines = ["# Scenario schema", "",
             "<!-- Generated by `python -m scenarios.schema --write` from scenarios/loader.py; "
             "do not edit by hand. -->", "", _SECTIONS_DOC]
    first: dict[type, str] = {}
    for path, cls in _sections():
        title = f"`{path}`" if path else "Top level"
        if cls in first:
            lines += [f"## {title}", "", f"The same keys as `{first[cls]}`.", ""]
            continue
        first[cls] = path
        lines += [f"## {title}", "", _doc(cls), "",
                  "| key | type | unit | default | allowed | meaning |", "|---|---|---|---|---|---|"]
        hints = typing.get_type_hints(cls)
        for f in loader._public_fields(cls):
            tp = hints[f.name]
            lines.append(f"| `{f.name}` | {_type_name(tp)} | {_unit(cls, f.name)} | {_default(f)} | "
                         f"{_allowed(f.metadata)} | {_field_doc(f, tp)} |")
        lines.append("")
    lines += ["## Cross-field rules", "",
              "* `tasks` holds at least one task; task names are unique.",
              "* `context.popularity_day` (and `popularity_night` when given) has 1 or `mobility.n_zones`"
              " rows of K popularities in [0, 1e6]; with K > 1 each row gives at least 2 tasks a"
              " popularity above 0 (a session ends in a switch to another task).",
              "* `library.zone_tasks`, when given, has one row per zone of task indices in [0, K-1].",
              "* `mobility.start_hour_max` >= `mobility.start_hour_min`.",
              "* `cell.device_mix` shares sum to 1; a class's `device` keys not given are taken from"
              " the top-level `device` section.",
              "* `library.edge.initial_fill_prob` > 0 needs `library.edge.capacity_bytes` > 0.",
              "* `proxy` must be a proxy every task's profile carries (checked when the env is built).",
              "",
              "## Minimal example", "",
              "Every required key and nothing else; everything else takes the defaults above.", "",
              "```yaml", MINIMAL_EXAMPLE.rstrip(), "```", "",
              "## Full example", "",
              "The default scenario (`urban_smartphone`) with every key written out; the shipped file",
              "`scenarios/urban_smartphone.yaml` gives the source of each number.", "",
              "```yaml", _full_example().rstrip(), "```", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Write or check the schema page."""
    ap = argparse.ArgumentParser(prog="python -m scenarios.schema", description=__doc__.splitlines()[0])
    g = ap.add_mutually_exclusive_group(required=True)
    g.add_argument("--write", action="store_true", help=f"write {SCHEMA_PAGE.name}")
    g.add_argument("--check", action="store_true", help="exit 1 if the committed page differs")
    args = ap.parse_args(argv)
    text = schema_markdown()
    if args.write:
        SCHEMA_PAGE.write_text(text)
        print(f"wrote {SCHEMA_PAGE}")
        return 0
    if not SCHEMA_PAGE.exists() or SCHEMA_PAGE.read_text() != text:
        print(f"{SCHEMA_PAGE} is out of date: run python -m scenarios.schema --write", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
