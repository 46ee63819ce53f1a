"""Test helpers for the environment tests (imported by conftest.py and test modules).

The profile numbers are test values (a 2 x 2 x 2 grid: depth {1, 2}, prune {none, structured 0.5},
bits {32, 8}); they follow the schema of compression/profile.py exactly.
"""

from __future__ import annotations

from pathlib import Path

import gymnasium as gym
import numpy as np

from compression.profile import PROFILE_DIR


def tiny_profile(name: str, task: str, base_params: int, base_macs: int, base_acc: float) -> dict:
    """A valid profile dict: size = params x bits / 8, MACs scale with depth and pruning."""
    variants = []
    for depth in (1, 2):
        for kind, frac in (("none", 0.0), ("structured", 0.5)):
            for bits in (32, 8):
                params = int(base_params * depth / 2 * (1 - frac))
                macs = int(base_macs * depth / 2 * (1 - frac))
                acc = base_acc * (0.8 + 0.2 * depth / 2) * (1 - 0.2 * frac) * (1.0 if bits >= 8 else 0.9)
                variants.append({
                    "depth": depth, "prune": {"kind": kind, "fraction": frac}, "bits": bits,
                    "size_bytes": params * bits // 8, "macs": macs, "params": params,
                    "accuracy": round(acc, 4), "latency_s": macs / 1e10,
                    "proxies": {"synflow": float(np.log(params)), "params": float(params)},
                })
    return {
        "name": name, "task": task, "model": "tiny", "source": "user",
        "levels": {"depth": [1, 2], "prune": [{"kind": "none", "fraction": 0.0},
                                               {"kind": "structured", "fraction": 0.5}],
                   "bits": [32, 8]},
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
                         "change_prob": 0.2}},
    "device": {"device_class": "smartphone", "compute_macs_per_s": 1e10, "storage_bytes": 3e7,
               "energy_budget_j": 200.0, "rx_power_w": 1.0},
    "mobility": {"speed_mps": 1.4, "direction_change_prob": 0.05, "n_zones": 2},
    "tasks": [
        {"name": "a", "profile": "PLACEHOLDER_A", "request_rate_hz": 5.0,
         "inference_latency_budget_s": 0.1, "download_deadline_s": 0.5},
        {"name": "b", "profile": "PLACEHOLDER_B", "request_rate_hz": 2.0,
         "inference_latency_budget_s": 0.05, "download_deadline_s": 1.0},
    ],
    "library": {
        "edge": {"rtt_s": 0.001, "backhaul_bps": 1e10, "compress_bytes_per_s": 1e9,
                 "capacity_bytes": 5e7, "initial_fill_prob": 0.5},
        "local": {"rtt_s": 0.01, "backhaul_bps": 1e9, "compress_bytes_per_s": 1e9},
        "central": {"rtt_s": 0.05, "backhaul_bps": 2e8, "compress_bytes_per_s": 5e8},
        "fallthrough": True,
        "zone_tasks": [[0], [1]],
    },
    "context": {"transition_day": [[0.8, 0.2], [0.3, 0.7]],
                "transition_night": [[0.9, 0.1], [0.1, 0.9]]},
}


def shipped_profiles_missing(scenario_name: str) -> list[str]:
    """Profiles a shipped scenario names that are not (yet) in compression/profiles/."""
    from scenarios import load_scenario

    sc = load_scenario(scenario_name)
    return [t.profile for t in sc.tasks
            if not Path(t.profile).suffix and not (PROFILE_DIR / f"{t.profile}.json").exists()]


def markov_chain_reference(u, cum, which, s0) -> np.ndarray:
    """Step-by-step definition of the task Markov chain (the reference for the fast versions).

    Row r starts in ``s0[r]``; at step j it moves to the number of entries of the CDF row
    ``cum[which[r, j], s]`` that are <= ``u[r, j]`` (capped at k - 1).
    """
    nb, n = u.shape
    k = cum.shape[1]
    out = np.empty((nb, n), dtype=np.int64)
    for r in range(nb):
        s = s0[r]
        for j in range(n):
            s = min(int((u[r, j] >= cum[which[r, j], s]).sum()), k - 1)
            out[r, j] = s
    return out


def random_chain(rng: np.random.Generator, nb: int, n: int):
    """A random task chain (day/night CDF tables over 1-5 states) and its draws for nb rows."""
    k = int(rng.integers(1, 6))
    m = rng.random((2, k, k)) ** 3 + np.eye(k) * rng.random() * 20
    m /= m.sum(-1, keepdims=True)
    cum = np.cumsum(m, -1)
    cum[:, :, -1] = 1 + 1e-12
    u = rng.random((nb, n))
    which = rng.integers(0, 2, (nb, n))
    s0 = rng.integers(0, k, nb)
    return u, cum, which, s0


def random_actions(space, n, rng):
    """Random actions in the space (valid and invalid ones), reproducible."""
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(0, space.n, n)
    return np.stack([rng.integers(0, space.nvec) for _ in range(n)])


def assert_row_info(vinfo, i, sinfo, where=""):
    """Every key of the single env's info is in the vector info (masked True) with the same value,
    and no other key is marked present for row i."""
    for key, val in sinfo.items():
        assert vinfo[f"_{key}"][i], f"{where}: key {key!r} not marked for row {i}"
        if isinstance(val, dict):
            for sub, sval in val.items():
                assert vinfo[key][f"_{sub}"][i]
                assert vinfo[key][sub][i] == sval, f"{where}: {key}/{sub}: {vinfo[key][sub][i]} != {sval}"
        else:
            assert np.array_equal(vinfo[key][i], val), f"{where}: {key}: {vinfo[key][i]!r} != {val!r}"
    present = {k for k in vinfo if not k.startswith("_") and k not in ("final_obs", "final_info")
               and vinfo[f"_{k}"][i]}
    assert present == set(sinfo), f"{where}: row {i} keys differ: {present ^ set(sinfo)}"


def assert_obs_equal(vobs, i, sobs):
    if isinstance(sobs, dict):
        assert set(vobs) == set(sobs)
        for g in sobs:
            assert np.array_equal(vobs[g][i], sobs[g])
    else:
        assert np.array_equal(vobs[i], sobs)
