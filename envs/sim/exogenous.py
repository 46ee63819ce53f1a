"""Exogenous processes, pre-generated in chunks: time, mobility, channel, load, tasks, requests.

In the single-device model nothing in this module depends on the agent's actions, so every
process is generated ``chunk_steps`` steps at a time, vectorised over time (cumulative sums,
``scipy.signal.lfilter`` for the AR(1) processes, table look-ups for the Markov chains), and a
step only reads one slice. Each batch row draws all its random numbers from its *own*
``numpy.random.Generator``, in a fixed order, so row i of a batch reproduces a single
environment seeded like row i exactly.

Processes (each documented where it is generated):
* time of day: advances by dt; "day" hours select the day task matrix and cell load;
* mobility: movement along a straight route at ``speed_mps`` with sites every
  ``inter_site_distance_m``; the serving site is the nearest one (handover when it changes);
  zone = cell index mod ``n_zones``; turning around with ``direction_change_prob`` per step;
* LoS state: a uniform u held for ``los_corr_distance_m`` of movement (and redrawn at
  handover), LoS iff u < Pr_LoS(d) (38.901 Table 7.4.2-1; spatially consistent in the spirit of
  38.901 section 7.6.3);
* shadowing: unit Gaussian AR(1) with Gudmundson correlation, times the LOS/NLOS std;
* fading: complex Gaussian AR(1) with Jakes correlation J0(2 pi f_D dt); Rician (K-factor) in
  LoS, Rayleigh in NLoS;
* blockage: two-state Markov chain (clear/blocked);
* cell load: Poisson number of other users, redrawn with ``change_prob`` per step; equal share;
* task: Markov chain with a day and a night matrix;
* requests: Poisson(rate of the active task x dt);
* rate estimate in the observation: the rate measured ``delay_steps`` ago with log-normal error.
"""

from __future__ import annotations

from bisect import bisect_right

import numpy as np

from envs.sim import channel as ch
from envs.sim.observation import RTT_OFFSET_S, SNR_SCALE_DB, log1p_scaled, log_scaled
from envs.sim.params import N_RATE_HISTORY, SimParams

# Columns of the float exogenous table: what the transition reads (requests, rates, expected
# requests, deadline) and what the single env's render and the multi-device cell read (SNR, hour,
# zone). The other processes (LoS, blockage, load share, distance, handover) reach the agent through
# the observation columns only; the task indices are in the integer table ``ci``.
(E_NREQ, E_RATE, E_INVRATE, E_INV_EXPREQ, E_DEADLINE, E_SNR_DB, E_HOUR, E_ZONE, E_RATE_EST) = range(9)
N_E_FIELDS = 9

# Uniform and normal draw columns per step.
_U_DIR, _U_LOSR, _U_LOSV, _U_BLOCK, _U_TASK, _U_LOAD, _U_LOADV, _U_REQ = range(8)
_N_U = 8
_Z_FRE, _Z_FIM, _Z_SF, _Z_EST = range(4)

#: Names of the exogenous observation features (in order); see envs.model_download docstring.
DEVICE_CLASS_FEATURES = 5


def exo_feature_names(params: SimParams) -> list[tuple[str, str]]:
    """(group, name) of each exogenous observation feature, in order."""
    names = [("device", f"class_{c}") for c in
             ("smartphone", "xr_glasses", "iot_sensor", "vehicle", "drone")]
    names += [("device", "compute"), ("device", "storage"), ("device", "rx_power")]
    names += [("context", f"task_{t.name}") for t in params.scenario.tasks]
    names += [("context", n) for n in ("request_rate", "latency_budget", "download_deadline",
                                        "zone", "handover", "hour_sin", "hour_cos", "day")]
    names += [("channel", n) for n in ("snr_est", "rate_est", "rate_est_prev1", "rate_est_prev2",
                                        "blocked", "bandwidth_share", "distance")]
    names += [("library", n) for n in ("local_has_task", "rtt_edge", "rtt_local", "rtt_central",
                                        "backhaul_edge", "backhaul_local", "backhaul_central")]
    return names


def _poisson_cdf_table(means: np.ndarray) -> np.ndarray:
    """CDF tables [len(means), L] of Poisson distributions, padded with 2.0 (never reached).

    L covers mean + 12 sqrt(mean) + 20, where the remaining tail mass is below 1e-15.
    """
    means = np.atleast_1d(np.asarray(means, dtype=float))
    length = int(np.ceil(means.max() + 12.0 * np.sqrt(means.max()) + 20.0))
    ks = np.arange(length)
    out = np.full((len(means), length), 2.0)
    for i, lam in enumerate(means):
        if lam <= 0:
            continue  # no events: the count of CDF entries <= u is always 0
        logp = -lam + ks * np.log(lam) - np.cumsum(np.log(np.maximum(ks, 1)))
        cdf = np.cumsum(np.exp(logp))
        out[i, :] = np.where(cdf < 1.0 - 1e-15, cdf, 2.0)
    return out


def _poisson_icdf(u: np.ndarray, cdf_table: np.ndarray, which: np.ndarray) -> np.ndarray:
    """Poisson counts by inverse CDF: the number of CDF entries <= u, table row ``which``.

    The table rows are non-decreasing, so ``np.searchsorted(row, u, side="right")`` is exactly
    that count, without building a [..., table length] comparison array (which costs memory and
    time in proportion to the table length for large batches).
    """
    out = np.empty(u.shape)
    which = np.broadcast_to(which, u.shape)
    for w in range(len(cdf_table)):
        m = which == w
        if m.all():
            out[...] = np.searchsorted(cdf_table[w], u, side="right")
            break
        if m.any():
            out[m] = np.searchsorted(cdf_table[w], u[m], side="right")
    return out


#: Bins per unit interval of the binned inverse CDF (a power of two: ``u * ICDF_BINS`` is exact).
ICDF_BINS = 4096


def _icdf_bins(cdf_table: np.ndarray, bins: int = ICDF_BINS) -> tuple[np.ndarray, np.ndarray]:
    """Per table row and bin ``[i / bins, (i + 1) / bins)`` of u: the count of CDF entries <= u
    at the bin's lowest and at its highest uniform ([M, bins] int64 each)."""
    lo_u = np.arange(bins) / bins
    hi_u = np.nextafter(np.arange(1, bins + 1) / bins, 0.0)  # largest double below the bin end
    lo = np.stack([np.searchsorted(row, lo_u, side="right") for row in cdf_table])
    hi = np.stack([np.searchsorted(row, hi_u, side="right") for row in cdf_table])
    return lo.astype(np.int64), hi.astype(np.int64)


def _poisson_icdf_binned(u: np.ndarray, cdf_table: np.ndarray, bins: tuple[np.ndarray, np.ndarray],
                         which: np.ndarray) -> np.ndarray:
    """:func:`_poisson_icdf` (the same values) by table look-up of the uniform's bin.

    The count is non-decreasing in u, so where a bin's lowest and highest uniforms give the same
    count (all bins but the few holding a CDF value) every u in it has that count. In the other
    bins, with counts lo < hi at the bin's ends, the entries below lo are <= u and those from hi
    on are > u, so the count is lo plus the number of entries lo .. hi - 1 that are <= u: one
    vectorised comparison where the bin holds one CDF value, a search per uniform in the few bins
    of the far tail that hold several.
    """
    lo, hi = bins
    nb = lo.shape[1]
    which = np.asarray(which, dtype=np.int64)
    idx = which * nb + (u * nb).astype(np.int64)
    cnt = np.take(lo.reshape(-1), idx)
    amb = np.flatnonzero((np.take(hi.reshape(-1), idx) != cnt).reshape(-1))
    if amb.size:
        cnt = cnt.reshape(-1)
        i_amb = idx.reshape(-1)[amb]
        a, b = np.take(lo.reshape(-1), i_amb), np.take(hi.reshape(-1), i_amb)
        ua = u.reshape(-1)[amb]
        w_amb = i_amb // nb  # the table row (idx = which * nb + bin, bin < nb)
        start = w_amb * cdf_table.shape[1] + a
        flat = cdf_table.reshape(-1)
        extra = (np.take(flat, start) <= ua).astype(np.int64)  # entry a (most bins hold one value)
        many = np.flatnonzero(b - a > 1)  # bins holding several values (the CDF's far tail)
        cnt[amb] = a + extra
        if many.size:  # a few uniforms per chunk: searched one by one
            for i in many.tolist():
                cnt[amb[i]] = np.searchsorted(cdf_table[w_amb[i]], ua[i], side="right")
        cnt = cnt.reshape(u.shape)
    return cnt.astype(np.float64)


def _markov_chain(u: np.ndarray, cum: np.ndarray, which: np.ndarray, s0: np.ndarray,
                  stay: tuple[np.ndarray, np.ndarray] | None = None,
                  sorted_rows: bool | None = None) -> np.ndarray:
    """States [nb, n] of a Markov chain: next = #{j : cum[which_t][state, j] <= u_t} (inverse CDF).

    Args:
        u: [nb, n] uniforms; cum: [M, K, K] row-cumulative transition matrices (last column >= 1);
        which: [nb, n] matrix index per step (int, or bool when M = 2); s0: [nb] state before the
        first step; stay: optional precomputed :func:`_stay_bounds` of ``cum``; sorted_rows:
        optional precomputed "every row of ``cum`` is non-decreasing".

    Only steps whose uniform leaves the "stay" interval of some state can change the state, so
    the sequential loop runs over those steps only (the result equals the step-by-step chain).
    The loop runs over the candidate steps of all rows at once in plain Python (the count of
    CDF entries <= u of a non-decreasing CDF row is ``bisect_right``); the states between
    candidates are filled in vectorised.
    """
    nb, n = u.shape
    k = cum.shape[1]
    lo_all, hi_all = stay if stay is not None else _stay_bounds(cum)
    which = np.asarray(which)
    if which.dtype == np.bool_:  # two matrices chosen by a flag: select the bounds without a gather
        lo_w, hi_w = np.where(which, lo_all[1], lo_all[0]), np.where(which, hi_all[1], hi_all[0])
    else:
        lo_w, hi_w = lo_all[which], hi_all[which]
    cand = np.flatnonzero(((u < lo_w) | (u >= hi_w)).reshape(-1))  # not inside every stay interval
    s0 = np.asarray(s0, dtype=np.int64)
    if cand.size == 0:
        return np.repeat(s0[:, None], n, axis=1)
    rows_c = (cand // n).tolist()
    uc = u.reshape(-1)[cand].tolist()
    wc = np.broadcast_to(which, u.shape).reshape(-1)[cand].tolist()
    cum_l = cum.tolist()
    s0_l = s0.tolist()
    states = []
    prev_r = -1
    state = 0
    if sorted_rows is None:
        sorted_rows = bool(np.all(np.diff(cum, axis=2) >= 0))
    if sorted_rows:  # sorted CDF rows: count = bisect_right
        for r, uu, w in zip(rows_c, uc, wc):
            if r != prev_r:
                state, prev_r = s0_l[r], r
            state = bisect_right(cum_l[w][state], uu)
            if state >= k:
                state = k - 1
            states.append(state)
    else:  # general rows (not expected): count the entries one by one
        for r, uu, w in zip(rows_c, uc, wc):
            if r != prev_r:
                state, prev_r = s0_l[r], r
            state = min(sum(1 for c in cum_l[w][state] if c <= uu), k - 1)
            states.append(state)
    pos = np.full(nb * n, -1, dtype=np.int64)
    pos[cand] = np.arange(cand.size)
    pos = pos.reshape(nb, n)
    np.maximum.accumulate(pos, axis=1, out=pos)  # last candidate at or before each step
    st = np.asarray(states, dtype=np.int64)
    return np.where(pos >= 0, st[np.maximum(pos, 0)], s0[:, None])


def _stay_bounds(cum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per matrix, the interval [lo, hi) of uniforms for which *every* state stays put."""
    k = cum.shape[1]
    lo = np.concatenate([np.zeros((cum.shape[0], 1)), cum[:, np.arange(1, k), np.arange(k - 1)]], axis=1)
    hi = cum[:, np.arange(k), np.arange(k)]  # state c stays iff lo[c] <= u < hi[c]
    return lo.max(axis=1), hi.min(axis=1)


def _two_state_chain(u: np.ndarray, p_on: float, p_off: float, s0: np.ndarray) -> np.ndarray:
    """States [nb, n] of the clear(0)/blocked(1) chain: 0 -> 1 iff u < p_on, 1 -> 0 iff u < p_off.

    Vectorised: each step maps the previous state by a constant (a reset: both states go to
    ``u < p_on``), the identity or a swap. With P_t the parity of the swaps up to step t, the
    state after the last reset r <= t is ``(u_r < p_on) ^ P_r ^ P_t``, and ``s0 ^ P_t`` before
    the first reset: a forward fill of ``(u < p_on) ^ P`` over the resets, XOR P.
    """
    to1_from0 = u < p_on
    stay1 = u >= p_off
    const = to1_from0 == stay1            # f(0) == f(1): the step forgets the past
    swap = to1_from0 > stay1              # f(0) = 1, f(1) = 0
    parity = np.logical_xor.accumulate(swap, axis=1)
    held = _ffill(to1_from0 ^ parity, const, np.asarray(s0).astype(bool))
    return (held ^ parity).astype(np.int64)


def _ffill(values: np.ndarray, redraw: np.ndarray, carry: np.ndarray) -> np.ndarray:
    """Hold the last redrawn value along axis 1 (``carry`` before the first redraw).

    Index of the value to hold: the last redraw at or before each step (0 = ``carry``, found by a
    running maximum), read by one flat ``np.take`` from ``[carry, values]`` rows.
    """
    b, n = values.shape
    full = np.concatenate([carry[:, None], values], axis=1)
    idx = np.where(redraw, np.arange(1, n + 1)[None, :], 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    idx += (np.arange(b) * (n + 1))[:, None]
    return np.take(full.reshape(-1), idx)


class ExoBuffer:
    """Pre-generated exogenous trajectories of B rows, ``chunk_steps`` steps at a time.

    Attributes:
        f: float64 [B, T, N_E_FIELDS], the ``E_*`` columns per step.
        ci: int64 [B, T, 3]: task, zone*K + task, action-table base index ((task*8 + local_has) * A).
        obs: float32 [B, T, D_exo], exogenous observation features per step; the task feature
            columns ``task_cols`` only if ``task_in_chunk`` (B = 1), else 0 here and a reader
            takes them from ``task_features`` by the step's task index, ``ci[..., 0]``.
        task_features: float32 [K, len(task_cols)], those columns per task.

    The three are transposed views of time-major ([T, B, F]) arrays (see
    :meth:`envs.sim.core.BatchSim.now`).
    """

    def __init__(self, params: SimParams, batch_size: int, chunk_steps: int = 256):
        self.p = params
        self.B = batch_size
        self.T = chunk_steps
        sc = params.scenario
        self.delay = sc.channel.estimate.delay_steps
        self.W = self.delay + N_RATE_HISTORY - 1
        self.names = exo_feature_names(params)
        self.D = len(self.names)
        b, t = batch_size, chunk_steps
        # Stored time-major ([T, B, F] in memory) and exposed as [B, T, F] views: a step reads the
        # current step of every row, and rows at the same step are then adjacent in memory (one
        # sequential read instead of B cache/TLB misses B * T * F apart).
        self.f = np.zeros((t, b, N_E_FIELDS)).transpose(1, 0, 2)
        self.ci = np.zeros((t, b, 3), dtype=np.int64).transpose(1, 0, 2)
        self.ci_l: list = []
        self.obs = np.zeros((t, b, self.D), dtype=np.float32).transpose(1, 0, 2)
        # carried state of every process
        self.x = np.zeros(b)
        self.dir = np.ones(b)
        self.cell = np.zeros(b, dtype=np.int64)
        self.hour0 = np.zeros(b)
        self.t_next = np.zeros(b, dtype=np.int64)
        self.task = np.zeros(b, dtype=np.int64)
        self.blocked = np.zeros(b, dtype=np.int64)
        self.h = np.zeros(b, dtype=complex)
        self.zsf = np.zeros(b)
        self.losu = np.zeros(b)
        self.load = np.zeros(b)
        w = max(self.W, 1)
        self.hist = {k: np.zeros((b, w)) for k in ("rate", "snr", "noise", "blocked", "share")}
        self._static_obs = self._static_features()
        self._n_dev = len(self._static_obs[0])
        # constant feature columns (device, library) are written once here, never per chunk
        self._n_lib = len(self._static_obs[1])
        self.obs[:, :, :self._n_dev] = self._static_obs[0]
        self.obs[:, :, self.D - self._n_lib:] = self._static_obs[1]
        self._prepare_constants()
        k = params.n_tasks
        tobs = np.zeros((k, k + 3), dtype=np.float32)
        tobs[:, :k] = np.eye(k)
        tobs[:, k] = log1p_scaled(params.request_rate_hz, "request_rate_hz")
        tobs[:, k + 1] = log_scaled(params.latency_budget_s, "time_s")
        tobs[:, k + 2] = log_scaled(params.deadline_s, "time_s")
        self.task_features = tobs
        #: Columns [task_cols.start, task_cols.stop) of ``obs`` are the task features (one-hot,
        #: request rate, latency budget, deadline): a row of ``task_features`` per task. With many
        #: rows they are written by the readers of ``obs`` (BatchSim.observe / observe_row) from
        #: the task index in ``ci`` (one small gather per step instead of K + 3 columns per
        #: row-step in every chunk; they stay 0 in ``obs``); with one row (the single env, whose
        #: step is a few Python-scalar operations) the chunk stores them (``task_in_chunk``).
        self.task_cols = slice(self._n_dev, self._n_dev + k + 3)
        self.task_in_chunk = batch_size == 1

    # ------------------------------------------------------------------ constants
    def _prepare_constants(self) -> None:
        p, sc = self.p, self.p.scenario
        c, m = sc.channel, sc.mobility
        self.k = p.n_tasks
        cum_day = np.cumsum(np.asarray(sc.context.transition_day, dtype=float), axis=1)
        night = sc.context.transition_night or sc.context.transition_day
        cum_night = np.cumsum(np.asarray(night, dtype=float), axis=1)
        cum_day[:, -1] = cum_night[:, -1] = 1.0 + 1e-12
        self.cum = np.stack([cum_night, cum_day])  # [2, K, K], index by day flag
        self.stay = _stay_bounds(self.cum)
        self.cum_sorted = bool(np.all(np.diff(self.cum, axis=2) >= 0))
        self.blockage_on = bool(c.blockage.enabled)
        self.p_on, self.p_off = ch.blockage_transition_probs(
            c.blockage.rate_per_s, c.blockage.mean_duration_s, sc.dt_s)
        if not c.blockage.enabled:
            self.p_on, self.p_off = 0.0, 1.0
        self.p_los_redraw = min(1.0, m.speed_mps * sc.dt_s / c.los_corr_distance_m)
        self.rho_f = p.constants["fading_rho"]
        self.rho_sf = p.constants["shadow_rho"]
        self.k_lin = 10.0 ** (c.rician_k_db / 10.0)
        std = ch.SHADOWING_STD_DB[c.pathloss_model]
        self.sf_std = (std["nlos"], std["los"])
        self.lam_load = (c.load.mean_other_users_night, c.load.mean_other_users_day)
        self.req_mean = p.request_rate_hz * sc.dt_s
        # Poisson draws by inverse CDF of one uniform: requests of the active task, other users
        self.req_cdf = _poisson_cdf_table(self.req_mean)
        self.load_cdf = _poisson_cdf_table(np.asarray(self.lam_load, dtype=float))
        self.req_bins = _icdf_bins(self.req_cdf)
        self.load_bins = _icdf_bins(self.load_cdf)
        self.inv_exp = np.where(self.req_mean > 0, 1.0 / np.maximum(self.req_mean, 1e-300), 0.0)

    def _static_features(self) -> np.ndarray:
        p, sc = self.p, self.p.scenario
        d = sc.device
        onehot = np.zeros(DEVICE_CLASS_FEATURES)
        onehot[int(p.constants["device_class_index"])] = 1.0
        dev = [
            log_scaled(d.compute_macs_per_s, "compute_macs_per_s"),
            log_scaled(d.storage_bytes, "storage_bytes"),
            log1p_scaled(d.rx_power_w, "rx_power_w"),
        ]
        lib = [log_scaled(p.tier_rtt_s[i] + RTT_OFFSET_S, "rtt_s") for i in (1, 2, 3)]
        lib += [log_scaled(p.tier_backhaul_bps[i], "rate_bps") for i in (1, 2, 3)]
        return np.concatenate([onehot, dev]), np.asarray(lib)

    def _is_day(self, hours: np.ndarray) -> np.ndarray:
        m = self.p.scenario.mobility
        if m.day_start_hour <= m.day_end_hour:
            return (hours >= m.day_start_hour) & (hours < m.day_end_hour)
        return (hours >= m.day_start_hour) | (hours < m.day_end_hour)

    # ------------------------------------------------------------------ reset / generate
    def init_rows(self, rows: np.ndarray, rngs: list[np.random.Generator]) -> None:
        """Draw the initial state of ``rows`` (each from its own generator) and a fresh chunk."""
        sc = self.p.scenario
        m, c = sc.mobility, sc.channel
        rows = np.asarray(rows)
        nr = len(rows)
        u = np.empty((nr, 6))
        z = np.empty((nr, 3))
        for i, g in enumerate(rngs):  # each row's draws in its generator's fixed order
            u[i] = g.random(6)
            z[i] = g.standard_normal(3)
        x = u[:, 0] * c.inter_site_distance_m * m.n_zones
        hour0 = m.start_hour_min + u[:, 2] * (m.start_hour_max - m.start_hour_min)
        self.x[rows] = x
        self.dir[rows] = np.where(u[:, 1] < 0.5, 1.0, -1.0)
        self.hour0[rows] = hour0
        self.task[rows] = np.minimum((u[:, 3] * self.k).astype(np.int64), self.k - 1)
        stat_blocked = self.p_on / max(self.p_on + self.p_off, 1e-12)
        self.blocked[rows] = (u[:, 4] < stat_blocked).astype(np.int64)
        self.losu[rows] = u[:, 5]
        self.h[rows] = (z[:, 0] + 1j * z[:, 1]) / np.sqrt(2.0)
        self.zsf[rows] = z[:, 2]
        lam = np.where(self._is_day(hour0), self.lam_load[1], self.lam_load[0]).tolist()
        self.load[rows] = [float(g.poisson(lam_r)) for g, lam_r in zip(rngs, lam)]
        self.cell[rows] = np.floor(x / c.inter_site_distance_m + 0.5).astype(np.int64)
        self.t_next[rows] = -self.W
        self.generate(np.asarray(rows), rngs, fresh=True)

    #: Rows generated together at most: every process is row-wise, and blocks of this many rows
    #: keep the [rows, steps] temporaries in cache (the block size was chosen by timing one
    #: chunk of 4096 rows; see benchmarks/HISTORY.md).
    ROW_BLOCK = 32

    #: Rows per strided column write into the [rows, steps, fields] buffers: a block of this many
    #: rows of the buffer stays in the L2 cache while its columns are written one by one.
    WRITE_BLOCK = 16

    def generate(self, rows: np.ndarray, rngs: list[np.random.Generator], fresh: bool) -> None:
        """Generate the next chunk of ``rows`` (``fresh``: after init, with W warm-up steps)."""
        if len(rows) > self.ROW_BLOCK:
            rows = np.asarray(rows)
            for st in range(0, len(rows), self.ROW_BLOCK):
                self.generate(rows[st:st + self.ROW_BLOCK], rngs[st:st + self.ROW_BLOCK], fresh)
            return
        p, sc = self.p, self.p.scenario
        m, c = sc.mobility, sc.channel
        dt, K, T, W = sc.dt_s, self.k, self.T, self.W
        n = T + W if fresh else T
        nb = len(rows)
        t0 = self.t_next[rows]
        steps = t0[:, None] + np.arange(n)[None, :]
        hours = np.mod(self.hour0[rows][:, None] + steps * dt / 3600.0, 24.0)
        day = self._is_day(hours)
        U = np.empty((nb, n, _N_U))
        Z = np.empty((nb, n, 4))
        for i, g in enumerate(rngs):  # drawn straight into the buffers (same values, no copy)
            g.random(out=U[i])
            g.standard_normal(out=Z[i])
        # other users' count where the load is redrawn (the forward fill reads nothing else)
        load_redraw = U[:, :, _U_LOAD] < c.load.change_prob
        NL = np.zeros((nb, n))
        NL[load_redraw] = _poisson_icdf_binned(U[:, :, _U_LOADV][load_redraw], self.load_cdf,
                                               self.load_bins, day[load_redraw])

        # mobility along the route; serving site = nearest site
        flips = np.cumsum(U[:, :, _U_DIR] < m.direction_change_prob, axis=1)
        direction = self.dir[rows][:, None] * np.where(flips % 2 == 1, -1.0, 1.0)
        x = self.x[rows][:, None] + np.cumsum(direction * m.speed_mps * dt, axis=1)
        isd = c.inter_site_distance_m
        cell = np.floor(x / isd + 0.5).astype(np.int64)
        prev_cell = np.concatenate([self.cell[rows][:, None], cell[:, :-1]], axis=1)
        handover = cell != prev_cell
        along = x - cell * isd
        d2d = np.sqrt(along * along + c.route_offset_m ** 2)
        zone = np.mod(cell, m.n_zones)

        # LoS state (uniform held over the LoS correlation distance, redrawn at handover)
        redraw = (U[:, :, _U_LOSR] < self.p_los_redraw) | handover
        losu = _ffill(U[:, :, _U_LOSV], redraw, self.losu[rows])
        los = losu < ch.los_probability(c.pathloss_model, d2d, c.ue_height_m)

        # shadowing and fading
        zsf = ch.ar1_real(self.rho_sf, self.zsf[rows], Z[:, :, _Z_SF])
        sf_db = np.where(los, self.sf_std[1], self.sf_std[0]) * zsf
        w = (Z[:, :, _Z_FRE] + 1j * Z[:, :, _Z_FIM]) / np.sqrt(2.0)
        h = ch.ar1_complex(self.rho_f, self.h[rows], w)
        gain = np.where(los, ch.rician_power(h, self.k_lin), np.abs(h) ** 2)

        # Markov chains: task (day/night matrix) and blockage (two states)
        task = _markov_chain(U[:, :, _U_TASK], self.cum, day, self.task[rows], self.stay, self.cum_sorted)
        if self.blockage_on:
            blocked = _two_state_chain(U[:, :, _U_BLOCK], self.p_on, self.p_off, self.blocked[rows])
        else:
            blocked = np.zeros((nb, n), dtype=np.int64)

        # cell load
        load = _ffill(NL, load_redraw, self.load[rows])
        share = 1.0 / (1.0 + load)

        # SNR and rate
        pl = ch.pathloss_db(c.pathloss_model, d2d, los, c.carrier_hz, c.bs_height_m, c.ue_height_m)
        d3d = ch.distance_3d_m(d2d, c.bs_height_m, c.ue_height_m)
        snr_db = ch.link_snr_db(c, pl, sf_db, blocked, d3d, gain, p.constants["noise_dbm"])
        rate = ch.link_rate_bps(c, snr_db, share)
        noise_db = c.estimate.noise_db * Z[:, :, _Z_EST]

        # combine with the carried history to build delayed estimates
        series = {"rate": rate, "snr": snr_db, "noise": noise_db, "blocked": blocked.astype(float),
                  "share": share}
        comb = {}
        for key, val in series.items():
            comb[key] = val if fresh else np.concatenate([self.hist[key][rows][:, : self.W], val], axis=1)
        # comb has length W + T; step j of the chunk is comb index W + j
        Wd = self.W

        def delayed(key, lag):  # comb[key][:, W + j - delay - lag] for chunk steps j, as a view
            start = Wd - self.delay - lag
            return comb[key][:, start:start + T]

        # rate estimates of lags 0, 1, 2 (rate measured delay + lag steps ago, log-normal error of
        # that step): est_rate(lag)[:, j] = est[:, j + 2 - lag], one array for the three (W = delay + 2)
        est = comb["rate"][:, Wd - self.delay - 2:Wd - self.delay + T]
        est = est * 10.0 ** (comb["noise"][:, Wd - 2:Wd + T] / 10.0)
        r_est = est[:, 2:]
        sl = slice(n - T, n)
        task_c, zone_c = task[:, sl], zone[:, sl]
        local_has = p.zone_local[zone_c, task_c]
        nreq = _poisson_icdf_binned(U[:, sl, _U_REQ], self.req_cdf, self.req_bins, task_c)

        # per-step tables: float fields, integer indices, exogenous observation features, written
        # column by column into the buffers (a view of them when the rows are one contiguous range)
        contiguous = nb == int(rows[-1]) - int(rows[0]) + 1 and bool(np.all(np.diff(rows) == 1))
        dst = slice(int(rows[0]), int(rows[-1]) + 1) if contiguous else rows
        f = self.f[dst] if contiguous else np.empty((nb, T, N_E_FIELDS))
        sub = self.WRITE_BLOCK
        zt_c = zone_c * K + task_c
        abase_c = (task_c * 8 + local_has) * p.n_actions
        fvals = (nreq, rate[:, sl], 8.0 / rate[:, sl],  # E_INVRATE: seconds per byte
                 self.inv_exp[task_c], p.deadline_s[task_c], snr_db[:, sl], hours[:, sl], zone_c, r_est)
        for s0 in range(0, nb, sub):  # all columns of a few rows while they are in cache
            fs = f[s0:s0 + sub]
            for col, val in enumerate(fvals):
                fs[:, :, col] = val[s0:s0 + sub]
        if not contiguous:
            self.f[dst] = f
        if contiguous:
            cview = self.ci[dst]
            for col, val in enumerate((task_c, zt_c, abase_c)):
                cview[:, :, col] = val
        else:
            self.ci[dst] = np.stack([task_c, zt_c, abase_c], axis=-1)
        ang = (2.0 * np.pi / 24.0) * hours[:, sl]
        est_n = log_scaled(est, "rate_bps")  # normalised estimates of lags 0, 1, 2 as shifted views
        snr_est = delayed("snr", 0) + comb["noise"][:, Wd:Wd + T]
        # the constant device/library columns of self.obs were written once in __init__
        o = self.obs[dst]  # a view (contiguous rows) or a copy written back below
        j = self.task_cols.stop  # the task feature columns: see task_in_chunk in __init__
        if self.task_in_chunk:
            o[:, :, self.task_cols] = np.take(self.task_features, task_c, axis=0)
        ovals = (zone_c / max(m.n_zones - 1, 1), handover[:, sl], np.sin(ang), np.cos(ang), day[:, sl],
                 np.clip(snr_est / SNR_SCALE_DB, -1.0, 1.0), est_n[:, 2:], est_n[:, 1:T + 1], est_n[:, :T],
                 delayed("blocked", 0), delayed("share", 0), np.clip(d2d[:, sl] / isd, 0.0, 1.0),
                 local_has)
        for s0 in range(0, nb, sub):  # float32 (the same rounding as a float64 array cast)
            os_ = o[s0:s0 + sub]
            for jj, val in enumerate(ovals, start=j):
                os_[:, :, jj] = val[s0:s0 + sub]
        if not contiguous:
            self.obs[dst] = o
        if self.B == 1:  # list form of the indices for the single-row fast path (BatchSim.step_row)
            self.ci_l = self.ci[0].tolist()

        # carry
        self.x[rows] = x[:, -1]
        self.dir[rows] = direction[:, -1]
        self.cell[rows] = cell[:, -1]
        self.task[rows] = task[:, -1]
        self.blocked[rows] = blocked[:, -1]
        self.h[rows] = h[:, -1]
        self.zsf[rows] = zsf[:, -1]
        self.losu[rows] = losu[:, -1]
        self.load[rows] = load[:, -1]
        self.t_next[rows] = t0 + n
        if self.W > 0:
            for key in series:
                self.hist[key][rows, : self.W] = comb[key][:, -self.W:]
