"""Simulation parameters: a scenario plus its library profiles, turned into numpy tables.

Everything that does not change during an episode is computed here once, at make time, so that a
step is a handful of table look-ups and vectorised arithmetic (see :mod:`envs.sim.core`).

Action layout (shared by every layer): ``a = ((source * n_depth + depth) * n_prune + prune) * n_bits
+ bits`` with ``source`` 0 keep, 1 edge, 2 local, 3 central; ``depth``/``prune``/``bits`` are level
*indices* into the task's profile (level i of a profile with fewer levels than the largest grid of
the scenario does not exist for that task and is masked). ``v = a % n_variants`` is the variant
index inside the grid, ``source = a // n_variants``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compression.profile import Profile, load_profile
from envs.sim import channel as ch
from envs.sim import device as dev
from envs.sim.library import fixed_time_s as lib_fixed_time_s
from envs.sim.observation import BITS_SCALE
from scenarios.loader import DEVICE_CLASSES, REWARD_TERMS, Scenario

#: Source tiers in action order.
SOURCES = ("keep", "edge", "local", "central")
#: Rate-estimate history length in the observation (current estimate and the two before).
N_RATE_HISTORY = 3

# Columns of the action table (see SimParams.action_table).
A_VALID, A_IS_DL, A_LFIX, A_SIZE, A_INVBH, A_TIER, A_EDGE_OP, A_BH_NORM, A_MI, A_BH_BYTES = range(10)
N_A_FIELDS = 10
# Columns of the model table (model (task m, variant v) serving a request of task c).
M_SERVED, M_ACC, M_LATV, M_EINF = range(4)
N_M_FIELDS = 4
#: Model features in the observation: has model, task match, accuracy, size/storage, bits/32,
#: inference latency within budget.
N_MODEL_FEATURES = 6


@dataclass
class SimParams:
    """All per-scenario constants and look-up tables (read-only after construction).

    Attributes (shapes; K tasks, V = n_depth * n_prune * n_bits variants, A = 4 V actions):
        scenario: the validated scenario.
        profiles: one :class:`~compression.profile.Profile` per task.
        grid: (n_depth, n_prune, n_bits), the action grid (max over the tasks' profiles).
        n_variants, n_actions: V and A.
        valid [K+1, V]: the variant exists in the task's profile (row K: "no model", all False).
        accuracy, size_bytes, macs, bits, params [K+1, V]: variant tables (0 where invalid).
        inference_latency_s [K+1, V], latency_ok [K+1, V] (within the task's budget),
        inference_energy_j [K+1, V] (per request), proxy_score [K+1, V] (in [0, 1]).
        full_variant [K]: index of the uncompressed variant; full_size_bytes [K].
        action_table [K*8*A, N_A_FIELDS]: per (task, pending, edge_has, local_has, action), see
            ``A_*`` columns; invalid actions hold a penalised no-op row (A_VALID = 0).
        mask_table [K*8, A] bool: the joint action mask per (task, pending, edge_has, local_has).
        model_table [(K+1)*V*K, N_M_FIELDS]: per (model index m*V+v, current task c).
        model_features [(K+1)*V*K, N_MODEL_FEATURES] float32.
        reward_weights [6]: signed weights of REWARD_TERMS (penalties negative).
    """

    scenario: Scenario
    profiles: list[Profile]
    grid: tuple[int, int, int]
    n_variants: int
    n_actions: int
    n_tasks: int
    valid: np.ndarray
    accuracy: np.ndarray
    size_bytes: np.ndarray
    macs: np.ndarray
    bits: np.ndarray
    params: np.ndarray
    inference_latency_s: np.ndarray
    latency_ok: np.ndarray
    inference_energy_j: np.ndarray
    proxy_score: np.ndarray
    full_variant: np.ndarray
    full_size_bytes: np.ndarray
    action_table: np.ndarray
    mask_table: np.ndarray
    model_table: np.ndarray
    model_features: np.ndarray
    reward_weights: np.ndarray
    tier_rtt_s: np.ndarray
    tier_backhaul_bps: np.ndarray
    tier_compress_bytes_per_s: np.ndarray
    request_rate_hz: np.ndarray
    latency_budget_s: np.ndarray
    deadline_s: np.ndarray
    zone_local: np.ndarray
    energy_allowance_j: float
    constants: dict[str, float] = field(default_factory=dict)

    @property
    def action_nvec(self) -> tuple[int, int, int, int]:
        """MultiDiscrete sizes (4 sources, n_depth, n_prune, n_bits)."""
        return (4, *self.grid)

    def variant_levels(self, v: int) -> tuple[int, int, int]:
        """(depth, prune, bits) level indices of variant index ``v``."""
        d, p, b = np.unravel_index(v, self.grid)
        return int(d), int(p), int(b)


def flat_action_index(source, depth, prune, bits, grid: tuple[int, int, int]):
    """Flat action index of (source, depth, prune, bits) level indices: ``((source * n_depth +
    depth) * n_prune + prune) * n_bits + bits`` (``np.ravel_multi_index`` order over ``(4,
    *grid)``); Python ints or integer arrays."""
    nd, npr, nb = grid
    return ((source * nd + depth) * npr + prune) * nb + bits


def _proxy_grid(profile: Profile, name: str) -> np.ndarray:
    if name in profile.proxies:
        return profile.proxies[name]
    if name == "params":
        return profile.params
    if name in ("macs", "flops"):
        return profile.macs
    raise ValueError(
        f"scenario proxy {name!r} is not in profile {profile.name!r} (proxies: "
        f"{sorted(profile.proxies)}; also allowed: params, macs, flops)"
    )


def build_params(scenario: Scenario, profiles: list[Profile] | None = None) -> SimParams:
    """Load the scenario's profiles (unless given) and build every table.

    Raises:
        FileNotFoundError / compression.profile.ProfileError: a named profile is missing/invalid
            (the message names the scenario file and task).
    """
    sc = scenario
    if profiles is None:
        profiles = []
        for i, t in enumerate(sc.tasks):
            try:
                profiles.append(load_profile(t.profile))
            except (FileNotFoundError, ValueError) as exc:
                raise type(exc)(f"scenario {sc.source_file}: key 'tasks[{i}].profile': {exc}") from exc
    k = len(profiles)
    nd = max(p.shape[0] for p in profiles)
    npr = max(p.shape[1] for p in profiles)
    nb = max(p.shape[2] for p in profiles)
    grid = (nd, npr, nb)
    nv = nd * npr * nb
    na = 4 * nv

    def table(get, fill=0.0):
        out = np.full((k + 1, nd, npr, nb), fill, dtype=float)
        for i, p in enumerate(profiles):
            g = np.where(p.valid, get(p), fill)
            out[i, : p.shape[0], : p.shape[1], : p.shape[2]] = g
        return out.reshape(k + 1, nv)

    valid = table(lambda p: p.valid.astype(float)) > 0.5
    acc = table(lambda p: p.accuracy)
    size = table(lambda p: p.size_bytes)
    macs = table(lambda p: p.macs)
    nparams = table(lambda p: p.params)
    bits = table(lambda p: np.broadcast_to(np.asarray(p.bits, dtype=float), p.shape))
    proxy_raw = table(lambda p: np.nan_to_num(_proxy_grid(p, sc.proxy), nan=0.0))
    proxy = np.zeros_like(proxy_raw)
    for i in range(k):
        row = np.where(valid[i], proxy_raw[i], np.nan)
        lo, hi = np.nanmin(row), np.nanmax(row)
        proxy[i] = np.where(valid[i], (proxy_raw[i] - lo) / (hi - lo) if hi > lo else 1.0, 0.0)

    d = sc.device
    lat = np.where(valid, dev.inference_latency_s(macs, np.maximum(bits, 1), d.compute_macs_per_s), 0.0)
    budget = np.array([t.inference_latency_budget_s for t in sc.tasks] + [np.inf])
    lat_ok = valid & (lat <= budget[:, None])
    einf = np.where(valid, macs * dev.energy_per_mac_j(bits, d.e_mult_8bit_j, d.e_add_8bit_j,
                                                        d.technology_scale), 0.0)

    # uncompressed variant: deepest level, no pruning, widest bits; fall back to the largest
    full = np.zeros(k, dtype=np.int64)
    for i, p in enumerate(profiles):
        pi0 = [j for j, (kind, frac) in enumerate(p.prunes) if frac == 0.0]
        cand = None
        if pi0:
            cand = np.ravel_multi_index((p.shape[0] - 1, pi0[0], int(np.argmax(p.bits))), grid)
        if cand is None or not valid[i, cand]:
            cand = int(np.argmax(np.where(valid[i], size[i], -1.0)))
        full[i] = cand
    full_size = size[np.arange(k), full]

    lib = sc.library
    tiers = (lib.edge, lib.local, lib.central)
    rtt = np.array([0.0] + [t.rtt_s for t in tiers])
    bh = np.array([np.inf] + [t.backhaul_bps for t in tiers])
    tput = np.array([np.inf] + [t.compress_bytes_per_s for t in tiers])
    cap = lib.edge.capacity_bytes
    fits = valid[:k] & (size[:k] <= d.storage_bytes)

    # ---- action table: (task c, pending, edge_has, local_has, action)
    at = np.zeros((k, 2, 2, 2, na, N_A_FIELDS))
    vidx = np.arange(nv)
    for c in range(k):
        ctime = np.where(vidx == full[c], 0.0, full_size[c] / tput[1:, None])  # [3, V]
        for pend in (0, 1):
            for eh in (0, 1):
                for lh in (0, 1):
                    rows = at[c, pend, eh, lh]
                    rows[:nv, A_VALID] = 1.0  # keep: always valid, variant ignored
                    rows[:, A_MI] = k * nv  # no model (also for invalid downloads)
                    for src in (1, 2, 3):
                        tier, rtt_path = _resolve(src, bool(eh), bool(lh), lib.fallthrough, rtt)
                        sl = slice(src * nv, (src + 1) * nv)
                        ok = fits[c] & (tier > 0) & (pend == 0)
                        r = rows[sl]
                        r[:, A_VALID] = ok
                        r[:, A_MI] = np.where(ok, c * nv + vidx, k * nv)
                        if tier == 0:
                            continue
                        edge_op = 0.0
                        if src == 1:
                            edge_op = 1.0 if eh else (2.0 if full_size[c] <= cap else 0.0)
                        bh_bytes = (size[c] if tier >= 2 else np.zeros(nv)) + (
                            full_size[c] if edge_op == 2.0 else 0.0)
                        r[:, A_IS_DL] = ok
                        r[:, A_LFIX] = np.where(ok, lib_fixed_time_s(rtt_path, ctime[tier - 1]), 0.0)
                        r[:, A_SIZE] = np.where(ok, size[c], 0.0)
                        r[:, A_INVBH] = np.where(ok, 8.0 / bh[tier], 0.0)  # seconds per byte
                        r[:, A_TIER] = np.where(ok, tier, 0.0)
                        r[:, A_EDGE_OP] = np.where(ok, edge_op, 0.0)
                        r[:, A_BH_BYTES] = np.where(ok, bh_bytes, 0.0)
                        r[:, A_BH_NORM] = np.where(ok, bh_bytes / full_size[c], 0.0)
    mask_table = at[..., A_VALID].reshape(k * 8, na) > 0.5
    action_table = at.reshape(k * 8 * na, N_A_FIELDS)

    # ---- model table: model mi = m*V + v (m = K: no model) serving a request of task c
    m_of = np.repeat(np.arange(k + 1), nv)
    v_of = np.tile(vidx, k + 1)
    mt = np.zeros((k + 1) * nv * k * N_M_FIELDS).reshape((k + 1) * nv, k, N_M_FIELDS)
    mf = np.zeros(((k + 1) * nv, k, N_MODEL_FEATURES), dtype=np.float32)
    for c in range(k):
        match = (m_of == c) & valid[m_of, v_of]
        ok = match & lat_ok[m_of, v_of]
        mt[:, c, M_SERVED] = ok
        mt[:, c, M_ACC] = np.where(ok, acc[m_of, v_of], 0.0)
        mt[:, c, M_LATV] = match & ~lat_ok[m_of, v_of]
        mt[:, c, M_EINF] = np.where(match, einf[m_of, v_of], 0.0)
        has = valid[m_of, v_of]
        mf[:, c, 0] = has
        mf[:, c, 1] = match
        mf[:, c, 2] = np.where(has, acc[m_of, v_of], 0.0)
        mf[:, c, 3] = np.where(has, size[m_of, v_of] / d.storage_bytes, 0.0)
        mf[:, c, 4] = np.where(has, bits[m_of, v_of] / BITS_SCALE, 0.0)
        mf[:, c, 5] = has & lat_ok[m_of, v_of]
    model_table = mt.reshape(-1, N_M_FIELDS)
    model_features = mf.reshape(-1, N_MODEL_FEATURES)

    rw = sc.reward
    weights = np.array([rw.accuracy, -rw.latency_violation, -rw.deadline_miss, -rw.energy,
                        -rw.backhaul, -rw.invalid_action])
    assert len(weights) == len(REWARD_TERMS)

    zone_local = np.zeros((sc.mobility.n_zones, k), dtype=bool)
    for z, row in enumerate(lib.zone_tasks):
        zone_local[z, row] = True

    cst = sc.channel
    consts = {
        "noise_dbm": float(ch.noise_power_dbm(cst.bandwidth_hz, cst.noise_figure_db)),
        "fading_rho": ch.fading_correlation(sc.mobility.speed_mps, cst.carrier_hz, sc.dt_s),
        "shadow_rho": ch.shadowing_correlation(sc.mobility.speed_mps, sc.dt_s, cst.shadowing_corr_distance_m),
        "device_class_index": float(DEVICE_CLASSES.index(d.device_class)),
    }
    return SimParams(
        scenario=sc, profiles=profiles, grid=grid, n_variants=nv, n_actions=na, n_tasks=k,
        valid=valid, accuracy=acc, size_bytes=size, macs=macs, bits=bits, params=nparams,
        inference_latency_s=lat, latency_ok=lat_ok, inference_energy_j=einf, proxy_score=proxy,
        full_variant=full, full_size_bytes=full_size, action_table=action_table,
        mask_table=mask_table, model_table=model_table, model_features=model_features,
        reward_weights=weights, tier_rtt_s=rtt, tier_backhaul_bps=bh, tier_compress_bytes_per_s=tput,
        request_rate_hz=np.array([t.request_rate_hz for t in sc.tasks]),
        latency_budget_s=budget[:k].copy(),
        deadline_s=np.array([t.download_deadline_s for t in sc.tasks]),
        zone_local=zone_local, energy_allowance_j=d.energy_budget_j / sc.max_episode_steps,
        constants=consts,
    )


def _resolve(src: int, edge_has: bool, local_has: bool, fallthrough: bool, rtt: np.ndarray) -> tuple[int, float]:
    """Serving tier (0 = unreachable/masked) and the round-trip path for a request to ``src``.

    A tier that lacks the model forwards the request to the next tier up, adding its round trip,
    when ``fallthrough``; otherwise the action is masked. Central holds every model.
    """
    if src == 1:
        if edge_has:
            return 1, float(rtt[1])
        if not fallthrough:
            return 0, 0.0
        if local_has:
            return 2, float(rtt[1] + rtt[2])
        return 3, float(rtt[1] + rtt[2] + rtt[3])
    if src == 2:
        if local_has:
            return 2, float(rtt[2])
        if not fallthrough:
            return 0, 0.0
        return 3, float(rtt[2] + rtt[3])
    return 3, float(rtt[3])
