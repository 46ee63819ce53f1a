"""Golden recording of the environments' behaviour: record, compare, regenerate.

Every registered id, the vector env in each autoreset mode, the SB3 adapter and the multi-device
env are stepped for a few hundred steps with seeded random *valid* actions; each stream
(observations, rewards, flags, every info key) is reduced to a SHA-256 digest of its exact bytes.
``tests/envs/golden.json`` holds the digests; ``tests/envs/test_golden.py`` recomputes them and
names every stream that differs.

A refactor leaves the recording unchanged. A deliberate change of behaviour regenerates it, in a
commit of its own that says why::

    python tests/envs/golden.py --write      # rewrite tests/envs/golden.json
    python tests/envs/golden.py              # print which streams differ, write nothing
"""

from __future__ import annotations

import argparse
import hashlib
import json
import struct
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import gymnasium as gym  # noqa: E402

import envs  # noqa: E402  (registers the ids)

GOLDEN_FILE = Path(__file__).resolve().parent / "golden.json"
#: Steps per recording.
STEPS = 300
#: Seed of the env resets and of the random action choices.
SEED = 2024
#: Probability of a keep (no download) among the random valid actions: downloads then also
#: stay in flight over several steps and old models keep serving.
P_KEEP = 0.6


class Digest:
    """Per-stream SHA-256 digests of canonically encoded values."""

    def __init__(self) -> None:
        self._h: dict[str, Any] = {}

    def add(self, stream: str, value: Any) -> None:
        """Append ``value`` to ``stream`` (dicts expand into one stream per key)."""
        if isinstance(value, dict):
            for k in sorted(value):
                self.add(f"{stream}.{k}", value[k])
            return
        h = self._h.get(stream)
        if h is None:
            h = self._h[stream] = hashlib.sha256()
        h.update(_encode(value))

    def result(self) -> dict[str, str]:
        """Stream name -> hex digest (first 16 hex digits)."""
        return {k: h.hexdigest()[:16] for k, h in sorted(self._h.items())}


def _encode(v: Any) -> bytes:
    """Exact bytes of a value: type tag plus contents (floats bit for bit)."""
    if v is None:
        return b"N"
    if isinstance(v, (bool, np.bool_)):
        return b"T" if v else b"F"
    if isinstance(v, (int, np.integer)):
        return b"i" + str(int(v)).encode()
    if isinstance(v, (float, np.floating)):
        return b"f" + struct.pack("<d", float(v))
    if isinstance(v, str):
        return b"s" + v.encode() + b"\0"
    if isinstance(v, np.ndarray):
        if v.dtype == object:
            return b"o" + b"".join(_encode(x) for x in v.ravel().tolist())
        a = np.ascontiguousarray(v)
        return b"a" + a.dtype.str.encode() + str(a.shape).encode() + a.tobytes()
    if isinstance(v, (list, tuple)):
        return b"l" + b"".join(_encode(x) for x in v) + b"]"
    if isinstance(v, dict):
        return b"d" + b"".join(_encode(k) + _encode(v[k]) for k in sorted(v)) + b"}"
    raise TypeError(f"golden recording: cannot encode {type(v).__name__} {v!r}")


def _pick(rng: np.random.Generator, mask: np.ndarray) -> int:
    """A random valid flat action: keep with probability P_KEEP, else a valid download."""
    valid = np.flatnonzero(mask)
    n_keep = mask.shape[-1] // 4  # flat actions of source 0 (keep) come first
    keep, dl = valid[valid < n_keep], valid[valid >= n_keep]
    if dl.size == 0 or (keep.size and rng.random() < P_KEEP):
        return int(keep[rng.integers(keep.size)]) if keep.size else int(valid[rng.integers(valid.size)])
    return int(dl[rng.integers(dl.size)])


def record_single(env_id: str, **kwargs: Any) -> dict[str, str]:
    """A single env through ``gymnasium.make`` (discrete actions), resets on episode end."""
    env = gym.make(env_id, **kwargs)
    rng = np.random.default_rng(SEED)
    dg = Digest()
    obs, info = env.reset(seed=SEED)
    dg.add("reset.obs", obs)
    dg.add("reset.info", info)
    for _ in range(STEPS):
        a = _pick(rng, env.unwrapped.flat_action_mask())
        if kwargs.get("action_mode") != "discrete":
            a = env.unwrapped.flat_to_action(a)
        obs, r, term, trunc, info = env.step(a)
        dg.add("obs", obs)
        dg.add("reward", r)
        dg.add("flags", (term, trunc))
        dg.add("info", info)
        if term or trunc:
            obs, info = env.reset()
            dg.add("reset.obs", obs)
            dg.add("reset.info", info)
    env.close()
    return dg.result()


def record_vector(scenario: str, mode: str, n: int = 4, **kwargs: Any) -> dict[str, str]:
    """The native vector env in autoreset ``mode`` (``disabled``: ended rows reset by mask)."""
    venv = gym.make_vec(envs.SCENARIO_IDS[scenario], num_envs=n, vectorization_mode="vector_entry_point",
                        autoreset_mode=mode, action_mode="discrete", **kwargs)
    rng = np.random.default_rng(SEED)
    dg = Digest()
    obs, info = venv.reset(seed=SEED)
    dg.add("reset.obs", obs)
    dg.add("reset.info", info)
    for _ in range(STEPS):
        masks = venv.unwrapped.flat_action_masks()
        a = np.array([_pick(rng, masks[i]) for i in range(n)])
        obs, r, term, trunc, info = venv.step(a)
        dg.add("obs", obs)
        dg.add("reward", r)
        dg.add("flags", (term, trunc))
        dg.add("info", info)
        ended = term | trunc
        if mode == "disabled" and ended.any():
            obs, info = venv.reset(options={"reset_mask": ended})
            dg.add("reset.obs", obs)
            dg.add("reset.info", info)
    venv.close()
    return dg.result()


def record_sb3(scenario: str, n: int = 3) -> dict[str, str]:
    """The SB3 ``VecEnv`` adapter (same-step autoreset, terminal observations in the infos)."""
    from envs.sb3_vec import InsituSB3VecEnv

    venv = InsituSB3VecEnv(n, scenario=scenario, action_mode="discrete")
    venv.seed(SEED)
    rng = np.random.default_rng(SEED)
    dg = Digest()
    dg.add("reset.obs", venv.reset())
    for _ in range(STEPS):
        masks = venv.env_method("flat_action_mask")
        venv.step_async(np.array([_pick(rng, m) for m in masks]))
        obs, r, dones, infos = venv.step_wait()
        dg.add("obs", obs)
        dg.add("reward", r)
        dg.add("dones", dones)
        for i in infos:
            dg.add("info", i)
    venv.close()
    return dg.result()


def record_multi(scenario: str, scheduler: str, n: int = 3) -> dict[str, str]:
    """The PettingZoo multi-device env (devices sharing one cell)."""
    env = envs.parallel_env(scenario=scenario, n_devices=n, scheduler=scheduler, action_mode="discrete")
    rng = np.random.default_rng(SEED)
    dg = Digest()
    obs, infos = env.reset(seed=SEED)
    dg.add("reset.obs", obs)
    dg.add("reset.info", infos)
    for _ in range(STEPS):
        if not env.agents:
            obs, infos = env.reset()
            dg.add("reset.obs", obs)
            dg.add("reset.info", infos)
        acts = {a: _pick(rng, env.action_mask(a)) for a in env.agents}
        obs, r, term, trunc, infos = env.step(acts)
        dg.add("obs", obs)
        dg.add("reward", r)
        dg.add("flags", (term, trunc))
        dg.add("info", infos)
    env.close()
    return dg.result()


def recordings() -> dict[str, Callable[[], dict[str, str]]]:
    """Name -> recorder of every recording in the golden file."""
    out: dict[str, Callable[[], dict[str, str]]] = {}
    for name, env_id in envs.SCENARIO_IDS.items():
        out[f"single/{name}"] = lambda i=env_id: record_single(i, action_mode="discrete")
    first = next(iter(envs.SCENARIO_IDS))
    out[f"single/{first}/multidiscrete_dict"] = lambda: record_single(
        envs.SCENARIO_IDS[first], obs_mode="dict")
    out["single/custom_factory_sensors"] = lambda: record_single(
        envs.CUSTOM_ID, scenario=str(ROOT / "scenarios" / "factory_sensors.yaml"), action_mode="discrete")
    for mode in ("next_step", "same_step", "disabled"):
        out[f"vector/{first}/{mode}"] = lambda m=mode: record_vector(first, m)
    out["vector/iot_sensor/next_step_dict"] = lambda: record_vector("iot_sensor", "next_step", obs_mode="dict")
    out[f"sb3/{first}"] = lambda: record_sb3(first)
    out["sb3/iot_sensor"] = lambda: record_sb3("iot_sensor")
    out[f"multi/{first}/equal"] = lambda: record_multi(first, "equal")
    out["multi/stadium_xr/proportional_fair"] = lambda: record_multi("stadium_xr", "proportional_fair", n=4)
    return out


def load_golden() -> dict[str, dict[str, str]]:
    """The committed recording."""
    return json.loads(GOLDEN_FILE.read_text())["recordings"]


def diff(name: str, got: dict[str, str], want: dict[str, str]) -> list[str]:
    """Lines naming each stream of recording ``name`` that differs, is new or is missing."""
    out = []
    for k in sorted(set(got) | set(want)):
        if k not in want:
            out.append(f"{name}: stream {k} is new")
        elif k not in got:
            out.append(f"{name}: stream {k} is missing")
        elif got[k] != want[k]:
            out.append(f"{name}: stream {k} differs")
    return out


def main(argv: list[str] | None = None) -> int:
    """Compare with (or, with ``--write``, rewrite) the golden file."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--write", action="store_true", help="rewrite tests/envs/golden.json")
    args = ap.parse_args(argv)
    got = {name: rec() for name, rec in recordings().items()}
    if args.write:
        GOLDEN_FILE.write_text(json.dumps(
            {"about": "digests of tests/envs/golden.py; regenerate with: python tests/envs/golden.py --write",
             "steps": STEPS, "seed": SEED, "recordings": got}, indent=1, sort_keys=True) + "\n")
        print(f"wrote {GOLDEN_FILE} ({len(got)} recordings)")
        return 0
    want = load_golden() if GOLDEN_FILE.exists() else {}
    lines = []
    for name in sorted(set(got) | set(want)):
        lines += diff(name, got.get(name, {}), want.get(name, {}))
    print("\n".join(lines) if lines else f"all {len(got)} recordings equal the golden file")
    return 1 if lines else 0


if __name__ == "__main__":
    sys.exit(main())
