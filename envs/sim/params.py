"""Simulation parameters: a scenario plus its library profiles, turned into numpy tables.

Everything that does not change during an episode is computed here once, at make time, so that a
step is a handful of table look-ups and vectorised arithmetic (see :mod:`envs.sim.dynamics`).

**Variants.** Variant ``v`` of task ``k``'s profile (a cell of its depth x prune x bits grid,
``V`` cells per task) has the global index ``g = k * V + v``; ``g = K * V`` is "no model". Per
variant: accuracy (and where it comes from), size, MACs, weight bits, arithmetic (float: weights
dequantized and computed in fp32, or integer W8A8), whether it is training-free (post-training
quantization, truncation at an exit: an edge can make it on the fly) or needs fine-tuning (pruned:
only tiers that store it serve it), the inference service time and energy on this device, and
its bit-planes (a variant with integer codes arrives most significant plane first; after p of
its planes it serves at the profile's per-plane accuracy).

**Menus.** The action space offers ``library.menu_size`` variants per task, chosen once from
the task's profile (:func:`build_menu`): the variants no other variant beats on every one of
size, accuracy, service time and availability (training-free), spread over the size range.

**Actions.** ``a = (source * K + task) * M + entry`` with ``source`` 0 keep, 1 cancel the download
in flight, 2 evict the task's model from the store, 3 download from the edge, 4 from the local
tier, 5 from the central tier; ``task`` is the task whose model is downloaded or evicted (any
task: prefetching), ``entry`` the menu entry. Keep and cancel ignore task and entry, evict
ignores entry: every such index does the same, and the joint mask lists only the canonical one
(task 0, entry 0; evict: entry 0), so a flat policy sees each action once while a factored
(multi-discrete) policy need not pick the canonical values.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from compression.profile import Profile, load_profile
from envs.sim import channel as ch
from envs.sim import device as dev
from envs.sim.library import fixed_time_s as lib_fixed_time_s
from scenarios.loader import DEVICE_CLASSES, REWARD_TERMS, Scenario

#: Action sources in action order.
SOURCES = ("keep", "cancel", "evict", "edge", "local", "central")
SRC_KEEP, SRC_CANCEL, SRC_EVICT, SRC_EDGE, SRC_LOCAL, SRC_CENTRAL = range(6)
#: Library tiers that serve a download (index = serving tier; 0: none).
TIERS = ("none", "edge", "local", "central")
#: Rate-estimate history length in the observation (current estimate and the two before).
N_RATE_HISTORY = 3
#: Most bit-planes of a variant (8-bit codes).
MAX_PLANES = 8

# Columns of the resolved action table [A, 4 (edge has, local has), N_AT]
(AT_VALID, AT_TIER, AT_FIX_S, AT_SPB_BH, AT_SIZE, AT_BH_BYTES, AT_EDGE_OP) = range(7)
N_AT = 7


@dataclass
class SimParams:
    """All per-scenario constants and look-up tables (read-only after construction).

    Shapes: K tasks, V grid cells per task, G = K * V + 1 variants (the last: no model), M menu
    entries per task, A = 6 * K * M actions.

    Attributes:
        scenario, profiles: the validated scenario and one profile per task.
        grid: (n_depth, n_prune, n_bits) shared by the tasks (the largest profile grid).
        n_tasks, n_variants (V), n_menu (M), n_actions (A).
        var_valid, var_accuracy, var_size_bytes, var_macs, var_bits, var_integer,
        var_training_free, var_service_s, var_energy_j, var_planes [G]: per variant.
        var_plane_bytes, var_plane_accuracy [G, MAX_PLANES]: cumulative bytes and accuracy after
            p + 1 planes (float variants: one "plane", the whole model).
        var_task [G]: the task of each variant (K for "no model").
        var_lat_ok [G]: service time within the task's inference budget.
        menu [K, M]: global variant index of each menu entry (G - 1 where the menu is shorter).
        act_src, act_task, act_entry, act_var [A]: the decoded actions.
        act_table [A, 4, N_AT]: per action and (edge has the task's full model, local tier
            stores the task): validity, serving tier, fixed time, backhaul seconds per byte,
            bytes, backhaul bytes, edge-cache operation (0 none, 1 refresh, 2 fill).
        zone_local [n_zones, K]: the zone's local tier stores the task.
        reward_weights [6]: signed weights of REWARD_TERMS (penalties negative).
        request_rate_hz, latency_budget_s [K]; session_median_s, session_sigma [K].
        next_task_pop_day, next_task_pop_night [n_zones, K].
        full_variant [K]: the uncompressed variant of each task; full_size_bytes [K].
        tier_rtt_s, tier_backhaul_bps [4] (index 0 unused).
        energy_allowance_j: episode budget / horizon (the unit of the energy term).
    """

    scenario: Scenario
    profiles: list[Profile]
    grid: tuple[int, int, int]
    n_tasks: int
    n_variants: int
    n_menu: int
    n_actions: int
    var_valid: np.ndarray
    var_accuracy: np.ndarray
    var_size_bytes: np.ndarray
    var_macs: np.ndarray
    var_bits: np.ndarray
    var_integer: np.ndarray
    var_training_free: np.ndarray
    var_service_s: np.ndarray
    var_energy_j: np.ndarray
    var_planes: np.ndarray
    var_plane_bytes: np.ndarray
    var_plane_accuracy: np.ndarray
    var_task: np.ndarray
    var_lat_ok: np.ndarray
    var_proxy: np.ndarray
    menu: np.ndarray
    act_src: np.ndarray
    act_task: np.ndarray
    act_entry: np.ndarray
    act_var: np.ndarray
    act_table: np.ndarray
    zone_local: np.ndarray
    reward_weights: np.ndarray
    request_rate_hz: np.ndarray
    latency_budget_s: np.ndarray
    session_median_s: np.ndarray
    session_sigma: np.ndarray
    next_task_pop_day: np.ndarray
    next_task_pop_night: np.ndarray
    full_variant: np.ndarray
    full_size_bytes: np.ndarray
    tier_rtt_s: np.ndarray
    tier_backhaul_bps: np.ndarray
    energy_allowance_j: float
    constants: dict[str, float] = field(default_factory=dict)

    @property
    def no_model(self) -> int:
        """Global variant index of "no model"."""
        return self.n_tasks * self.n_variants

    @property
    def action_nvec(self) -> tuple[int, int, int]:
        """MultiDiscrete sizes (6 sources, K tasks, M menu entries)."""
        return (len(SOURCES), self.n_tasks, self.n_menu)

    def variant_levels(self, g: int) -> tuple[int, int, int]:
        """(depth, prune, bits) level indices of global variant ``g`` (-1s for no model)."""
        if g >= self.no_model:
            return -1, -1, -1
        d, p, b = np.unravel_index(g % self.n_variants, self.grid)
        return int(d), int(p), int(b)


def flat_action_index(source, task, entry, n_tasks: int, n_menu: int):
    """Flat action index of (source, task, entry): ``(source * K + task) * M + entry`` (Python
    ints or integer arrays; ``np.ravel_multi_index`` order over ``(6, K, M)``)."""
    return (source * n_tasks + task) * n_menu + entry


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


def _profile_arrays(p: Profile) -> dict[str, np.ndarray]:
    """The v1 per-variant fields of a profile grid (defaults for profiles that lack them: float
    arithmetic, training-free iff not pruned, one plane)."""
    shape = p.shape
    arith = getattr(p, "arithmetic", None) or ["float"] * shape[2]
    integer = np.broadcast_to(np.array([a == "integer" for a in arith])[None, None, :], shape)
    tf = getattr(p, "training_free", None)
    if tf is None:
        tf = np.broadcast_to(np.array([k == "none" for k, _ in p.prunes])[None, :, None], shape)
    pacc = getattr(p, "progressive_accuracy", None)
    psize = getattr(p, "progressive_size_bytes", None)
    if pacc is None or psize is None:
        pacc = np.full(shape + (MAX_PLANES,), np.nan)
        psize = np.full(shape + (MAX_PLANES,), np.nan)
    return {"integer": np.asarray(integer, dtype=bool), "training_free": np.asarray(tf, dtype=bool),
            "pacc": np.asarray(pacc, dtype=float)[..., :MAX_PLANES],
            "psize": np.asarray(psize, dtype=float)[..., :MAX_PLANES]}


def build_menu(size: np.ndarray, acc: np.ndarray, service: np.ndarray, tf: np.ndarray,
               valid: np.ndarray, full: int, m: int) -> np.ndarray:
    """Up to ``m`` variant indices of one task for the action space.

    Candidates: the valid variants (that fit the store) no other valid variant dominates (at
    most the size and the service time, at least the accuracy and the availability, better in
    one). Of those, the full model (when it is a candidate), the smallest one and the most
    accurate one are always kept; the rest are taken at evenly spaced ranks of size. Returns the
    indices sorted by size (ties: accuracy).
    """
    idx = np.flatnonzero(valid)
    s, a, t, f = size[idx], acc[idx], service[idx], tf[idx].astype(float)
    le = (s[:, None] >= s[None, :]) & (t[:, None] >= t[None, :]) & (a[:, None] <= a[None, :]) & (
        f[:, None] <= f[None, :])
    lt = (s[:, None] > s[None, :]) | (t[:, None] > t[None, :]) | (a[:, None] < a[None, :]) | (
        f[:, None] < f[None, :])
    dominated = (le & lt).any(axis=1)
    front = idx[~dominated]
    order = front[np.lexsort((-acc[front], size[front]))]
    if len(order) <= m:
        return order
    must = {int(full), int(order[0]), int(order[np.argmax(acc[order])])}
    must &= set(order.tolist())
    rest = [int(v) for v in order if int(v) not in must]
    k = m - len(must)
    if k > 0:
        picks = np.unique(np.rint(np.linspace(0, len(rest) - 1, k)).astype(int))
        must |= {rest[i] for i in picks}
    chosen = np.array(sorted(must), dtype=np.int64)
    return chosen[np.lexsort((-acc[chosen], size[chosen]))]


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
    g_all = k * nv + 1
    extra = [_profile_arrays(p) for p in profiles]

    def table(get, fill=0.0, tail=()):
        out = np.full((k, nd, npr, nb) + tail, fill, dtype=float)
        for i, p in enumerate(profiles):
            sel = p.valid if not tail else p.valid[..., None]
            out[i, : p.shape[0], : p.shape[1], : p.shape[2]] = np.where(sel, get(p, extra[i]), fill)
        flat = out.reshape((k * nv,) + tail)
        return np.concatenate([flat, np.full((1,) + tail, fill)])

    valid = table(lambda p, e: p.valid.astype(float)) > 0.5
    acc = table(lambda p, e: p.accuracy)
    size = table(lambda p, e: p.size_bytes)
    macs = table(lambda p, e: p.macs)
    bits = table(lambda p, e: np.broadcast_to(np.asarray(p.bits, dtype=float)[None, None, :], p.shape))
    integer = table(lambda p, e: e["integer"].astype(float)) > 0.5
    tfree = table(lambda p, e: e["training_free"].astype(float)) > 0.5
    pacc = table(lambda p, e: np.nan_to_num(e["pacc"], nan=-1.0), fill=-1.0, tail=(MAX_PLANES,))
    psize = table(lambda p, e: np.nan_to_num(e["psize"], nan=-1.0), fill=-1.0, tail=(MAX_PLANES,))
    try:
        proxy_raw = table(lambda p, e: np.nan_to_num(_proxy_grid(p, sc.proxy), nan=0.0))
    except ValueError as exc:
        raise ValueError(f"scenario {sc.source_file}: key 'proxy': {exc}") from exc
    var_task = np.concatenate([np.repeat(np.arange(k), nv), [k]])

    proxy = np.zeros(g_all)
    for i in range(k):
        sl = slice(i * nv, (i + 1) * nv)
        row = np.where(valid[sl], proxy_raw[sl], np.nan)
        lo, hi = np.nanmin(row), np.nanmax(row)
        proxy[sl] = np.where(valid[sl], (proxy_raw[sl] - lo) / (hi - lo) if hi > lo else 1.0, 0.0)

    # bit-planes: integer-coded variants with a per-plane table; others one plane (the model)
    planes = np.ones(g_all, dtype=np.int64)
    plane_bytes = np.repeat(size[:, None], MAX_PLANES, axis=1)
    plane_acc = np.repeat(acc[:, None], MAX_PLANES, axis=1)
    has_prog = valid & (pacc[:, 0] >= 0) & (psize[:, 0] > 0)
    for g in np.flatnonzero(has_prog):
        n = int(np.sum(pacc[g] >= 0))
        planes[g] = n
        plane_bytes[g, :n] = psize[g, :n]
        plane_acc[g, :n] = pacc[g, :n]
        plane_bytes[g, n:] = psize[g, n - 1]
        plane_acc[g, n:] = pacc[g, n - 1]

    d = sc.device
    service = np.where(valid, dev.service_time_s(macs, integer, d.compute_macs_per_s, d.int8_speedup), np.inf)
    einf = np.where(valid, dev.inference_energy_j(macs, size, integer, d), 0.0)
    budget = np.array([t.inference_latency_budget_s for t in sc.tasks])
    lat_ok = valid & (service <= np.concatenate([budget, [0.0]])[var_task])

    # uncompressed variant per task: deepest level, no pruning, widest float bits
    full = np.zeros(k, dtype=np.int64)
    for i, p in enumerate(profiles):
        pi0 = [j for j, (kind, frac) in enumerate(p.prunes) if frac == 0.0]
        cand = None
        if pi0:
            cand = i * nv + int(np.ravel_multi_index((p.shape[0] - 1, pi0[0], int(np.argmax(p.bits))), grid))
        if cand is None or not valid[cand]:
            sl = slice(i * nv, (i + 1) * nv)
            cand = i * nv + int(np.argmax(np.where(valid[sl], size[sl], -1.0)))
        full[i] = cand
    full_size = size[full]

    m = sc.library.menu_size
    menu = np.full((k, m), g_all - 1, dtype=np.int64)
    fits = valid & (size <= d.storage_bytes)
    for i in range(k):
        sl = slice(i * nv, (i + 1) * nv)
        ch_ = build_menu(size[sl], acc[sl], service[sl], tfree[sl], fits[sl], full[i] - i * nv, m)
        menu[i, :len(ch_)] = ch_ + i * nv

    # ---- actions
    n_src = len(SOURCES)
    a_all = np.arange(n_src * k * m)
    src, task, entry = np.unravel_index(a_all, (n_src, k, m))
    gvar = menu[task, entry]
    lib = sc.library
    rtt = np.array([0.0, lib.edge.rtt_s, lib.local.rtt_s, lib.central.rtt_s])
    bh = np.array([np.inf, lib.edge.backhaul_bps, lib.local.backhaul_bps, lib.central.backhaul_bps])
    cap = lib.edge.capacity_bytes
    at = np.zeros((len(a_all), 4, N_AT))
    # keep and cancel ignore task and entry, evict ignores entry (every such index is valid; the
    # joint mask lists only the canonical one, see BatchSim.action_masks)
    canon = np.where(src <= SRC_EVICT, True, valid[gvar] & (gvar < g_all - 1))
    for ctx in range(4):
        eh, lh = bool(ctx // 2), bool(ctx % 2)
        at[:, ctx, AT_VALID] = canon & (src <= SRC_EVICT)
        for s_req in (SRC_EDGE, SRC_LOCAL, SRC_CENTRAL):
            sel = (src == s_req) & canon
            if not sel.any():
                continue
            g = gvar[sel]
            tf = tfree[g]
            is_full = np.isin(g, full)
            tier = np.zeros(len(g))
            path = np.zeros(len(g))
            comp = np.zeros(len(g))
            edge_op = np.zeros(len(g))
            if s_req == SRC_EDGE:
                hit = eh & tf  # the edge makes a training-free variant from its cached full model
                up_tier, up_rtt = (2, rtt[1] + rtt[2]) if lh else (3, rtt[1] + rtt[2] + rtt[3])
                tier = np.where(hit, 1.0, up_tier if lib.fallthrough else 0.0)
                path = np.where(hit, rtt[1], up_rtt)
                comp = np.where(hit & ~is_full, full_size[task[sel]] / lib.edge.compress_bytes_per_s, 0.0)
                # a miss streams the variant through the edge, which caches the full model
                fill_ok = (not eh) and bool(lib.fallthrough)
                edge_op = np.where(hit, 1.0, np.where(full_size[task[sel]] <= cap, 2.0, 0.0) if fill_ok else 0.0)
            elif s_req == SRC_LOCAL:
                tier = np.full(len(g), 2.0 if lh else (3.0 if lib.fallthrough else 0.0))
                path = np.full(len(g), rtt[2] if lh else rtt[2] + rtt[3])
            else:
                tier = np.full(len(g), 3.0)
                path = np.full(len(g), rtt[3])
            ok = tier > 0
            ti = tier.astype(int)
            bh_bytes = np.where(ti >= 2, size[g], 0.0) + np.where(edge_op == 2.0, full_size[task[sel]], 0.0)
            rows = np.flatnonzero(sel)
            at[rows, ctx, AT_VALID] = ok
            at[rows, ctx, AT_TIER] = np.where(ok, tier, 0.0)
            at[rows, ctx, AT_FIX_S] = np.where(ok, lib_fixed_time_s(path, comp), 0.0)
            at[rows, ctx, AT_SPB_BH] = np.where(ok, 8.0 / bh[ti], 0.0)
            at[rows, ctx, AT_SIZE] = np.where(ok, size[g], 0.0)
            at[rows, ctx, AT_BH_BYTES] = np.where(ok, bh_bytes, 0.0)
            at[rows, ctx, AT_EDGE_OP] = np.where(ok, edge_op, 0.0)

    rw = sc.reward
    weights = np.array([rw.accuracy, -rw.failed_requests, -rw.energy, -rw.air_bytes, -rw.backhaul_bytes,
                        -rw.invalid_action])
    assert len(weights) == len(REWARD_TERMS)
    zone_local = np.zeros((sc.mobility.n_zones, k), dtype=bool)
    for z, row in enumerate(lib.zone_tasks):
        zone_local[z, row] = True
    nz = sc.mobility.n_zones
    pop_day = np.asarray(sc.context.popularity_day, dtype=float)
    pop_night = np.asarray(sc.context.popularity_night or sc.context.popularity_day, dtype=float)
    pop_day = np.broadcast_to(pop_day, (nz, k)) if len(pop_day) == 1 else pop_day
    pop_night = np.broadcast_to(pop_night, (nz, k)) if len(pop_night) == 1 else pop_night

    cst = sc.channel
    consts = {
        "noise_dbm": float(ch.noise_power_dbm(cst.bandwidth_hz, cst.noise_figure_db)),
        "shadow_rho": ch.shadowing_correlation(sc.mobility.speed_mps, sc.dt_s, cst.shadowing_corr_distance_m),
        "device_class_index": float(DEVICE_CLASSES.index(d.device_class)),
        "coherence_time_s": ch.coherence_time_s(sc.mobility.speed_mps, cst.carrier_hz),
    }
    return SimParams(
        scenario=sc, profiles=profiles, grid=grid, n_tasks=k, n_variants=nv, n_menu=m,
        n_actions=len(a_all), var_valid=valid, var_accuracy=acc, var_size_bytes=size, var_macs=macs,
        var_bits=bits, var_integer=integer, var_training_free=tfree, var_service_s=service,
        var_energy_j=einf, var_planes=planes, var_plane_bytes=plane_bytes, var_plane_accuracy=plane_acc,
        var_task=var_task, var_lat_ok=lat_ok, var_proxy=proxy, menu=menu, act_src=src, act_task=task,
        act_entry=entry, act_var=gvar, act_table=at, zone_local=zone_local, reward_weights=weights,
        request_rate_hz=np.array([t.request_rate_hz for t in sc.tasks]), latency_budget_s=budget,
        session_median_s=np.array([t.session_median_s for t in sc.tasks]),
        session_sigma=np.array([t.session_sigma for t in sc.tasks]),
        next_task_pop_day=np.array(pop_day), next_task_pop_night=np.array(pop_night),
        full_variant=full, full_size_bytes=full_size, tier_rtt_s=rtt, tier_backhaul_bps=bh,
        energy_allowance_j=d.energy_budget_j / sc.max_episode_steps, constants=consts,
    )
