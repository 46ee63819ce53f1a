"""Test helper: the REAL default scenario with small test profiles.

:func:`write_small_scenario` copies ``scenarios/urban_smartphone.yaml`` (every physics, device and
library setting as shipped) and replaces each task's library profile by a small, schema-valid
test profile (a 2 x 2 x 2 grid; the env's menus keep its 6 non-dominated variants, padded to the
scenario's menu size of 8: 6 x 4 x 8 = 192 flat actions) and the horizon by ``horizon`` steps,
so agent tests run the real environment quickly and independently of the shipped profile files.
The scenario's zero-shot proxy (#params) ties the two bit widths of each depth and pruning level.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[2]
#: Parameter counts of the test profiles per task (cycled): MB-scale models like the scenario's.
BASE_PARAMS = (5_000_000, 25_000_000, 5_000_000, 11_000_000)


def small_profile(name: str, base_params: int, base_acc: float) -> dict:
    """A schema-valid profile on a 2 x 2 x 2 grid (depth {1, 2}, prune {none, structured 0.5},
    bits {32, 8}); test values: size = params x bits / 8, MACs = 20 x params."""
    variants = []
    for depth in (1, 2):
        for kind, frac in (("none", 0.0), ("structured", 0.5)):
            for bits in (32, 8):
                params = int(base_params * depth / 2 * (1 - frac))
                acc = base_acc * (0.8 + 0.1 * depth) * (1 - 0.2 * frac) * (1 if bits == 32 else 0.98)
                variants.append({
                    "depth": depth, "prune": {"kind": kind, "fraction": frac}, "bits": bits,
                    "size_bytes": params * bits // 8, "macs": 20 * params, "params": params,
                    "accuracy": round(acc, 4), "latency_s": 20 * params / 1e10,
                    "proxies": {"synflow": float(np.log(params) + (bits == 8)), "params": float(params)},
                })
    return {"name": name, "task": name, "model": "small-test", "source": "user",
            "levels": {"depth": [1, 2], "prune": [{"kind": "none", "fraction": 0.0},
                                                   {"kind": "structured", "fraction": 0.5}],
                       "bits": [32, 8]},
            "variants": variants}


def write_small_scenario(folder: str | Path, horizon: int = 40) -> str:
    """Write the profiles and the scenario YAML into ``folder``; return the YAML path."""
    d = Path(folder)
    d.mkdir(parents=True, exist_ok=True)
    sc = yaml.safe_load((ROOT / "scenarios" / "urban_smartphone.yaml").read_text())
    for i, task in enumerate(sc["tasks"]):
        prof = small_profile(f"small_{i}", BASE_PARAMS[i % len(BASE_PARAMS)], 0.75 + 0.02 * i)
        path = d / f"small_{i}.json"
        path.write_text(json.dumps(prof))
        task["profile"] = str(path)
    sc["max_episode_steps"] = horizon
    out = d / "urban_small.yaml"
    out.write_text(yaml.safe_dump(sc))
    return str(out)
