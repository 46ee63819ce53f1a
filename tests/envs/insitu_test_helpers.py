"""Test helpers for the environment tests (imported by conftest.py and the test modules).

The profile numbers are test values on a 2 x 2 x 3 grid (depth {1, 2}, prune {none, structured
0.5}, bits {32 float, 8 float, 8 integer W8A8}); they follow schema 2 of compression/profile.py,
with per-plane accuracies and sizes for the variants with integer codes (the two 8-bit levels).
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from compression.profile import PROFILE_DIR

#: Fraction of a variant's accuracy after 1 .. 8 of its bit-planes (most significant first).
PLANE_ACCURACY_FRACTION = (0.05, 0.1, 0.2, 0.4, 0.7, 0.9, 0.98, 1.0)
#: Accuracy factor of the bit levels (32 float, 8 float, 8 integer).
BIT_LEVEL_FACTOR = {(32, "float"): 1.0, (8, "float"): 0.99, (8, "integer"): 0.98}


def tiny_profile(name: str, task: str, base_params: int, base_macs: int, base_acc: float) -> dict:
    """A valid schema-2 profile dict: size = params x bits / 8, MACs scale with depth and pruning,
    pruned variants need fine-tuning (not training-free), 8-bit variants arrive in 8 bit-planes
    of equal size."""
    variants = []
    for depth in (1, 2):
        for kind, frac in (("none", 0.0), ("structured", 0.5)):
            for (bits, arith), factor in BIT_LEVEL_FACTOR.items():
                params = int(base_params * depth / 2 * (1 - frac))
                macs = int(base_macs * depth / 2 * (1 - frac))
                acc = round(base_acc * (0.8 + 0.2 * depth / 2) * (1 - 0.2 * frac) * factor, 4)
                size = params * bits // 8
                v = {
                    "depth": depth, "prune": {"kind": kind, "fraction": frac}, "bits": bits,
                    "arithmetic": arith, "training_free": kind == "none", "accuracy_source": "measured",
                    "size_bytes": size, "macs": macs, "params": params,
                    "accuracy": acc, "latency_s": macs / 1e10,
                    "proxies": {"synflow": float(np.log(params)), "params": float(params)},
                }
                if bits <= 8:
                    v["progressive_accuracy"] = [round(acc * f, 6) for f in PLANE_ACCURACY_FRACTION[:-1]] + [acc]
                    v["progressive_size_bytes"] = [size * (j + 1) // 8 for j in range(8)]
                variants.append(v)
    return {
        "schema_version": 2,
        "name": name, "task": task, "model": "tiny", "source": "user",
        "levels": {"depth": [1, 2], "prune": [{"kind": "none", "fraction": 0.0},
                                               {"kind": "structured", "fraction": 0.5}],
                   "bits": [32, 8, 8], "arithmetic": ["float", "float", "integer"]},
        "variants": variants,
    }


TINY_SCENARIO = {
    "name": "tiny",
    "description": "test scenario",
    "dt_s": 1.0,
    "max_episode_steps": 50,
    "proxy": "synflow",
    "channel": {"pathloss_model": "umi", "carrier_hz": 28e9, "bandwidth_hz": 100e6,
                "tx_power_dbm": 35.0, "antenna_gain_db": 20.0,
                "blockage": {"enabled": True, "rate_per_s": 0.3, "mean_duration_s": 1.0,
                             "attenuation_db": 20.0},
                "load": {"mean_other_users_day": 2.0, "mean_other_users_night": 0.5,
                         "change_prob": 0.2},
                "interference": {"enabled": True, "load_day": 0.5, "load_night": 0.2,
                                 "change_prob": 0.1, "gain_db": 0.0},
                "estimate": {"delay_steps": 1, "noise_db": 1.0}},
    "device": {"device_class": "smartphone", "compute_macs_per_s": 1e10, "int8_speedup": 2.0,
               "storage_bytes": 3e7, "energy_budget_j": 200.0,
               "e_mac_fp32_j": 4.6e-12, "e_mac_int8_j": 0.23e-12, "technology_scale": 0.5,
               "e_mem_per_byte_j": 160e-12,
               "radio": {"rx_base_power_w": 1.2, "rx_power_per_mbps_w": 0.05, "tail_power_w": 1.0,
                         "tail_s": 5.0, "promotion_s": 0.26, "promotion_power_w": 1.21}},
    "mobility": {"speed_mps": 1.4, "direction_change_prob": 0.05, "n_zones": 2},
    "tasks": [
        {"name": "a", "profile": "PLACEHOLDER_A", "request_rate_hz": 5.0,
         "inference_latency_budget_s": 0.1, "session_median_s": 10.0, "session_sigma": 1.0},
        {"name": "b", "profile": "PLACEHOLDER_B", "request_rate_hz": 2.0,
         "inference_latency_budget_s": 0.05, "session_median_s": 5.0, "session_sigma": 0.5},
    ],
    "library": {
        "edge": {"rtt_s": 0.001, "backhaul_bps": 1e10, "compress_bytes_per_s": 1e9,
                 "capacity_bytes": 5e7, "initial_fill_prob": 0.5},
        "local": {"rtt_s": 0.01, "backhaul_bps": 1e9},
        "central": {"rtt_s": 0.05, "backhaul_bps": 2e8},
        "fallthrough": True,
        "zone_tasks": [[0], [1]],
        "menu_size": 12,
    },
    "context": {"popularity_day": [[3.0, 1.0], [1.0, 3.0]], "popularity_night": [[1.0, 1.0]]},
    "reward": {"accuracy": 1.0, "failed_requests": 1.0, "energy": 0.5, "air_bytes": 1.0,
               "backhaul_bytes": 0.2, "invalid_action": 1.0},
}
#: Arguments of :func:`tiny_profile` for the two tiny tasks.
TINY_PROFILE_ARGS = (("tiny_a", (2_000_000, 50_000_000, 0.9)), ("tiny_b", (500_000, 10_000_000, 0.8)))


def shipped_profiles_missing(scenario_name: str) -> list[str]:
    """Profiles a shipped scenario names that are not (yet) in compression/profiles/."""
    from scenarios import load_scenario

    sc = load_scenario(scenario_name)
    return [t.profile for t in sc.tasks
            if not Path(t.profile).suffix and not (PROFILE_DIR / f"{t.profile}.json").exists()]


def random_actions(space, n, rng):
    """Random actions in the space (valid and invalid ones), reproducible."""
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(0, space.n, n)
    return np.stack([rng.integers(0, space.nvec) for _ in range(n)])


def masked_actions(masks: np.ndarray, rng: np.random.Generator, p_keep: float = 0.5) -> np.ndarray:
    """One valid flat action per row of joint masks ``[N, A]`` (keep with probability ``p_keep``)."""
    out = np.zeros(len(masks), dtype=np.int64)
    for i, m in enumerate(masks):
        ok = np.flatnonzero(m)
        if rng.random() >= p_keep and ok.size > 1:
            out[i] = int(rng.choice(ok[ok != 0]))
    return out


def assert_row_info(vinfo, i, sinfo, where=""):
    """Every key of the single env's info is in the vector info (masked True) with the same value,
    and no other key is marked present for row i."""
    for key, val in sinfo.items():
        assert vinfo[f"_{key}"][i], f"{where}: key {key!r} not marked for row {i}"
        if isinstance(val, dict):
            for sub, sval in val.items():
                assert vinfo[key][f"_{sub}"][i]
                assert vinfo[key][sub][i] == sval, f"{where}: {key}/{sub}: {vinfo[key][sub][i]} != {sval}"
        elif isinstance(val, tuple):  # multi-discrete gym mask: the vector env concatenates the components
            assert np.array_equal(vinfo[key][i], np.concatenate(val)), f"{where}: {key}"
        else:
            assert np.array_equal(vinfo[key][i], val), f"{where}: {key}: {vinfo[key][i]!r} != {val!r}"
    present = {k for k in vinfo if not k.startswith("_") and k not in ("final_obs", "final_info")
               and vinfo[f"_{k}"][i]}
    assert present == set(sinfo), f"{where}: row {i} keys differ: {present ^ set(sinfo)}"


def assert_obs_equal(vobs, i, sobs):
    """Row ``i`` of a batched observation (flat or dict) equals a single env's observation."""
    if isinstance(sobs, dict):
        assert set(vobs) == set(sobs)
        for g in sobs:
            assert np.array_equal(vobs[g][i], sobs[g])
    else:
        assert np.array_equal(vobs[i], sobs)


def assert_info_equal(a: dict, b: dict, where: str = "") -> None:
    """Two single-env infos are equal key by key (arrays, tuples of arrays and nested dicts)."""
    assert set(a) == set(b), f"{where}: keys differ: {set(a) ^ set(b)}"
    for k in b:
        x, y = a[k], b[k]
        if isinstance(y, dict):
            assert_info_equal(x, y, f"{where}/{k}")
        elif isinstance(y, tuple):
            assert len(x) == len(y) and all(np.array_equal(u, v) for u, v in zip(x, y)), f"{where}: {k}"
        else:
            assert np.array_equal(x, y), f"{where}: {k}: {x!r} != {y!r}"
