"""Exogenous processes, pre-generated in chunks: time, mobility, channel, load, tasks, requests.

Nothing in this module depends on the agent's actions, so every process is generated
``chunk_steps`` steps at a time, vectorised over time, and a step only reads one slice. Each
batch row draws all its random numbers from its *own* ``numpy.random.Generator``, in a fixed
order, so row i of a batch reproduces a single environment seeded like row i exactly.

Processes (each documented where it is generated):

* time of day: advances by dt; "day" hours select the day popularities and loads;
* mobility: movement along a straight route at ``speed_mps`` with sites every
  ``inter_site_distance_m``; the serving site is the nearest one (handover when it changes);
  zone = cell index mod ``n_zones``; turning around with ``direction_change_prob`` per step;
* serving link: LoS state from a uniform held for ``los_corr_distance_m`` of movement (and
  redrawn at handover), LoS iff u < Pr_LoS(d) (38.901 Table 7.4.2-1; spatially consistent in the
  spirit of 38.901 section 7.6.3); shadowing a unit Gaussian AR(1) with Gudmundson correlation
  times the state's std, *fresh* after a handover (a new link);
* interference: the previous and the next site along the route, each in NLoS (*assumption*:
  their beams serve other users) with its own shadowing (fresh after a handover) and a load
  (resource utilisation) redrawn with ``change_prob`` per step, uniform on [0, 2 x mean]
  clipped to [0, 1] (*assumption*), the mean by day or night;
* blockage of the serving link: the continuous-time chain simulated exactly; each step knows
  the fraction of its time blocked (:func:`envs.sim.channel.blockage_fractions`);
* serving-cell load: Poisson number of other users, redrawn with ``change_prob`` per step;
  equal share of the air interface;
* rate: ``share x B x [(1 - f) SE(SINR) + f SE(SINR - A_block)]`` with SE the capped Shannon
  spectral efficiency averaged over the fast fading of the step (:class:`channel.RateTable`,
  Rician in LoS, Rayleigh in NLoS) and f the blocked fraction;
* tasks: the semi-Markov chain of :mod:`envs.sim.context`; requests: Poisson(rate x dt) per
  step with their arrival instants;
* estimates in the observation: the rate and SINR measured ``delay_steps`` ago with log-normal
  error.
"""

from __future__ import annotations

import numpy as np

from envs.sim import channel as ch
from envs.sim import context as ctx
from envs.sim.observation import RTT_OFFSET_S, SNR_SCALE_DB, log1p_scaled, log_scaled
from envs.sim.params import N_RATE_HISTORY, SimParams

# Columns of the float exogenous table.
(E_NREQ, E_RATE, E_INVRATE, E_INV_EXPREQ, E_SINR_DB, E_HOUR, E_ZONE, E_RATE_EST, E_BLOCKED) = range(9)
N_E_FIELDS = 9
# Columns of the integer exogenous table.
(C_TASK, C_ZONE, C_AGE) = range(3)
N_C_FIELDS = 3

# Uniform and normal draw columns per step.
(_U_DIR, _U_LOSR, _U_LOSV, _U_LOAD, _U_LOADV, _U_REQ, _U_NB, _U_NBV0, _U_NBV1, _U_TASK) = range(10)
_N_U = 10
(_Z_SF, _Z_SF0, _Z_SF1, _Z_EST, _Z_LEN) = range(5)
_N_Z = 5

#: Number of device-class one-hot features.
DEVICE_CLASS_FEATURES = 5


def exo_feature_names(params: SimParams) -> list[tuple[str, str]]:
    """(group, name) of each exogenous observation feature, in order."""
    tasks = [t.name for t in params.scenario.tasks]
    names = [("hardware", f"class_{c}") for c in
             ("smartphone", "xr_glasses", "iot_sensor", "vehicle", "drone")]
    names += [("hardware", "compute"), ("hardware", "int8_speedup"), ("hardware", "storage")]
    names += [("context", f"task_{t}") for t in tasks]
    names += [("context", n) for n in ("time_in_task", "request_rate", "latency_budget", "zone", "handover",
                                        "hour_sin", "hour_cos", "day")]
    names += [("channel", n) for n in ("sinr_est", "rate_est", "rate_est_prev1", "rate_est_prev2",
                                        "blocked", "bandwidth_share", "distance")]
    names += [("library", f"local_has_{t}") for t in tasks]
    names += [("library", n) for n in ("rtt_edge", "rtt_local", "rtt_central",
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
        ci: int64 [B, T, N_C_FIELDS]: task, zone, steps since the session started.
        arr: uint16 [B, T, n_max]: arrival instants of the step's requests as fractions of the
            step (:data:`envs.sim.context.ARRIVAL_SCALE`), ascending; the count is ``f[..., E_NREQ]``.
        obs: float32 [B, T, D_exo], exogenous observation features per step.

    The four are transposed views of time-major ([T, B, F]) arrays: a step reads the current step
    of every row, and rows at the same step are then adjacent in memory.
    """

    #: Rows generated together at most: every process is row-wise, and blocks of this many rows
    #: keep the [rows, steps] temporaries in cache.
    ROW_BLOCK = 32

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
        self.k = params.n_tasks
        self._prepare_constants()
        self.f = np.zeros((t, b, N_E_FIELDS)).transpose(1, 0, 2)
        self.ci = np.zeros((t, b, N_C_FIELDS), dtype=np.int64).transpose(1, 0, 2)
        self.arr = np.zeros((t, b, self.n_max), dtype=np.uint16).transpose(1, 0, 2)
        self.obs = np.zeros((t, b, self.D), dtype=np.float32).transpose(1, 0, 2)
        # carried state of every process
        self.x = np.zeros(b)
        self.dir = np.ones(b)
        self.cell = np.zeros(b, dtype=np.int64)
        self.hour0 = np.zeros(b)
        self.t_next = np.zeros(b, dtype=np.int64)
        self.task = np.zeros(b, dtype=np.int64)
        self.task_left = np.zeros(b, dtype=np.int64)
        self.task_age = np.zeros(b, dtype=np.int64)
        self.blocked = np.zeros(b, dtype=bool)
        self.zsf = np.zeros((b, 3))      # shadowing of the serving, previous and next site's links
        self.losu = np.zeros(b)
        self.load = np.zeros(b)
        self.nb_load = np.zeros((b, 2))
        w = max(self.W, 1)
        self.hist = {k: np.zeros((b, w)) for k in ("rate", "sinr", "noise", "blocked", "share")}
        static_dev, static_lib = self._static_features()
        self._n_dev = len(static_dev)
        self.obs[:, :, :self._n_dev] = static_dev
        self.obs[:, :, self.D - len(static_lib):] = static_lib
        self.task_cols = slice(self._n_dev, self._n_dev + self.k)

    # ------------------------------------------------------------------ constants
    def _prepare_constants(self) -> None:
        p, sc = self.p, self.p.scenario
        c, m = sc.channel, sc.mobility
        self.session_cdf = ctx.next_task_cdf(p.next_task_pop_day, p.next_task_pop_night)
        self.blockage_on = bool(c.blockage.enabled and c.blockage.rate_per_s > 0)
        self.p_los_redraw = min(1.0, m.speed_mps * sc.dt_s / c.los_corr_distance_m)
        self.rho_sf = p.constants["shadow_rho"]
        self.lam_load = (c.load.mean_other_users_night, c.load.mean_other_users_day)
        self.nb_mean = (c.interference.load_night, c.interference.load_day)
        self.req_mean = p.request_rate_hz * sc.dt_s
        self.n_max = max(ctx.max_requests_per_step(float(x)) for x in self.req_mean)
        # Poisson draws by inverse CDF of one uniform: requests of the active task, other users
        self.req_cdf = _poisson_cdf_table(self.req_mean)
        self.load_cdf = _poisson_cdf_table(np.asarray(self.lam_load, dtype=float))
        self.req_bins = _icdf_bins(self.req_cdf)
        self.load_bins = _icdf_bins(self.load_cdf)
        self.inv_exp = np.where(self.req_mean > 0, 1.0 / np.maximum(self.req_mean, 1e-300), 0.0)
        self.rate_los = ch.RateTable(c.rician_k_db, c.implementation_gap_db, c.max_spectral_efficiency)
        self.rate_nlos = ch.RateTable(None, c.implementation_gap_db, c.max_spectral_efficiency)
        self.noise_mw = ch.noise_floor_mw(c.bandwidth_hz, c.noise_figure_db)
        self.rma = ({"street_width_m": c.street_width_m, "building_height_m": c.building_height_m}
                    if c.pathloss_model == "rma" else {})
        # sojourns of the blockage chain per chunk: mean cycle lambda^-1 + mu^-1, generous margin
        if self.blockage_on:
            cycle = 1.0 / c.blockage.rate_per_s + c.blockage.mean_duration_s
            self.n_sojourns = int(np.ceil(2.0 * (self.T + self.W) * sc.dt_s / cycle * 1.5)) + 16
        else:
            self.n_sojourns = 0

    def _static_features(self) -> tuple[np.ndarray, np.ndarray]:
        p, sc = self.p, self.p.scenario
        d = sc.device
        onehot = np.zeros(DEVICE_CLASS_FEATURES)
        onehot[int(p.constants["device_class_index"])] = 1.0
        dev = [log_scaled(d.compute_macs_per_s, "compute_macs_per_s"), log1p_scaled(d.int8_speedup, "speedup"),
               log_scaled(d.storage_bytes, "storage_bytes")]
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
        p, sc = self.p, self.p.scenario
        m, c = sc.mobility, sc.channel
        rows = np.asarray(rows)
        nr = len(rows)
        u = np.empty((nr, 8))
        z = np.empty((nr, 4))
        for i, g in enumerate(rngs):  # each row's draws in its generator's fixed order
            u[i] = g.random(8)
            z[i] = g.standard_normal(4)
        x = u[:, 0] * c.inter_site_distance_m * m.n_zones
        hour0 = m.start_hour_min + u[:, 2] * (m.start_hour_max - m.start_hour_min)
        day = self._is_day(hour0)
        self.x[rows] = x
        self.dir[rows] = np.where(u[:, 1] < 0.5, 1.0, -1.0)
        self.hour0[rows] = hour0
        task = np.minimum((u[:, 3] * self.k).astype(np.int64), self.k - 1)
        self.task[rows] = task
        # the session under way at the start: a whole session length, of which a uniform
        # fraction has passed (assumption: no length biasing of the session caught at reset)
        total = ctx.session_steps(z[:, 3], p.session_median_s[task], p.session_sigma[task], sc.dt_s)
        age = np.minimum((u[:, 7] * total).astype(np.int64), total - 1)
        self.task_age[rows] = age
        self.task_left[rows] = total - age
        if self.blockage_on:
            _, _, pi_b = ch.blockage_step_probs(c.blockage.rate_per_s, c.blockage.mean_duration_s, sc.dt_s)
            self.blocked[rows] = u[:, 4] < pi_b
        else:
            self.blocked[rows] = False
        self.losu[rows] = u[:, 5]
        self.zsf[rows] = z[:, :3]
        lam = np.where(day, self.lam_load[1], self.lam_load[0]).tolist()
        self.load[rows] = [float(g.poisson(lam_r)) for g, lam_r in zip(rngs, lam)]
        nbm = np.where(day, self.nb_mean[1], self.nb_mean[0])
        self.nb_load[rows] = np.clip(2.0 * nbm[:, None] * np.stack([u[:, 6], 1.0 - u[:, 6]], axis=1), 0.0, 1.0)
        self.cell[rows] = np.floor(x / c.inter_site_distance_m + 0.5).astype(np.int64)
        self.t_next[rows] = -self.W
        self.generate(rows, rngs, fresh=True)

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
        Z = np.empty((nb, n, _N_Z))
        H = np.empty((nb, self.n_sojourns))
        R = np.empty((nb, T, self.n_max + 1))
        for i, g in enumerate(rngs):  # drawn straight into the buffers (same values, no copy)
            g.random(out=U[i])
            g.standard_normal(out=Z[i])
            if self.n_sojourns:
                g.standard_exponential(out=H[i])
            g.standard_exponential(out=R[i])

        # mobility along the route; serving site = nearest site
        flips = np.cumsum(U[:, :, _U_DIR] < m.direction_change_prob, axis=1)
        direction = self.dir[rows][:, None] * np.where(flips % 2 == 1, -1.0, 1.0)
        x = self.x[rows][:, None] + np.cumsum(direction * m.speed_mps * dt, axis=1)
        isd = c.inter_site_distance_m
        cell = np.floor(x / isd + 0.5).astype(np.int64)
        prev_cell = np.concatenate([self.cell[rows][:, None], cell[:, :-1]], axis=1)
        handover = cell != prev_cell
        along = x - cell * isd
        off2 = c.route_offset_m ** 2
        d2d = np.sqrt(along * along + off2)
        d2d_nb = np.sqrt(np.stack([(along + isd) ** 2, (along - isd) ** 2], axis=-1) + off2)
        zone = np.mod(cell, m.n_zones)

        # serving link: LoS state held over the LoS correlation distance, redrawn at handover
        redraw = (U[:, :, _U_LOSR] < self.p_los_redraw) | handover
        losu = _ffill(U[:, :, _U_LOSV], redraw, self.losu[rows])
        los = losu < ch.los_probability(c.pathloss_model, d2d, c.ue_height_m)
        # shadowing of the three links: AR(1), restarted from a fresh draw after a handover
        zsf = np.stack([_ar1_restart(self.rho_sf, self.zsf[rows, j], Z[:, :, zc], handover)
                        for j, zc in enumerate((_Z_SF, _Z_SF0, _Z_SF1))], axis=-1)
        sf_std = ch.shadowing_std_db(c.pathloss_model, d2d, los, c.carrier_hz, c.bs_height_m, c.ue_height_m)
        pl = ch.pathloss_db(c.pathloss_model, d2d, los, c.carrier_hz, c.bs_height_m, c.ue_height_m, **self.rma)
        d3d = ch.distance_3d_m(d2d, c.bs_height_m, c.ue_height_m)
        signal_dbm = (c.tx_power_dbm + c.antenna_gain_db - pl - sf_std * zsf[..., 0]
                      - c.absorption_db_per_km * d3d / 1000.0 - c.o2i_loss_db)
        if c.interference.enabled:
            nb_redraw = (U[:, :, _U_NB] < c.interference.change_prob) | handover
            nbm = np.where(day, self.nb_mean[1], self.nb_mean[0])
            nb_vals = np.clip(2.0 * nbm[..., None] * U[:, :, [_U_NBV0, _U_NBV1]], 0.0, 1.0)
            rho_nb = np.stack([_ffill(nb_vals[..., j], nb_redraw, self.nb_load[rows, j]) for j in (0, 1)], axis=-1)
            pl_nb = ch.pathloss_nlos_db(c.pathloss_model, d2d_nb, c.carrier_hz, c.bs_height_m, c.ue_height_m,
                                        **self.rma)
            std_nb = ch.SHADOWING_STD_DB[c.pathloss_model]["nlos"]
            d3d_nb = ch.distance_3d_m(d2d_nb, c.bs_height_m, c.ue_height_m)
            i_dbm = (c.tx_power_dbm + c.interference.gain_db - pl_nb - std_nb * zsf[..., 1:]
                     - c.absorption_db_per_km * d3d_nb / 1000.0 - c.o2i_loss_db)
            interference_mw = np.sum(rho_nb * 10.0 ** (i_dbm / 10.0), axis=-1)
        else:
            rho_nb = np.zeros((nb, n, 2))
            interference_mw = np.zeros((nb, n))
        sinr = ch.sinr_db(signal_dbm, interference_mw, self.noise_mw)

        # blockage (exact continuous-time chain, blocked fraction of each step)
        if self.blockage_on:
            bc = c.blockage
            frac, bstate = ch.blockage_fractions(H, self.blocked[rows], bc.rate_per_s, bc.mean_duration_s, dt, n)
        else:
            frac, bstate = np.zeros((nb, n)), np.zeros((nb, n), dtype=np.int64)

        # serving-cell load: other users, redrawn with change_prob; equal share
        load_redraw = U[:, :, _U_LOAD] < c.load.change_prob
        NL = np.zeros((nb, n))
        NL[load_redraw] = _poisson_icdf_binned(U[:, :, _U_LOADV][load_redraw], self.load_cdf,
                                               self.load_bins, day[load_redraw])
        load = _ffill(NL, load_redraw, self.load[rows])
        share = 1.0 / (1.0 + load)

        # rate: the fading-averaged spectral efficiency of the clear and blocked parts of the step
        table = np.where(los, 1, 0)
        se_clear = np.where(table, self.rate_los(sinr), self.rate_nlos(sinr))
        sinr_b = sinr - (c.blockage.attenuation_db if self.blockage_on else 0.0)
        se_block = np.where(table, self.rate_los(sinr_b), self.rate_nlos(sinr_b)) if self.blockage_on else se_clear
        rate = np.maximum(share * c.bandwidth_hz * ((1.0 - frac) * se_clear + frac * se_block), 1.0)
        sinr_eff = (1.0 - frac) * sinr + frac * sinr_b
        noise_db = c.estimate.noise_db * Z[:, :, _Z_EST]

        # delayed estimates, from the carried history
        series = {"rate": rate, "sinr": sinr_eff, "noise": noise_db, "blocked": frac, "share": share}
        comb = {}
        for key, val in series.items():
            comb[key] = val if fresh else np.concatenate([self.hist[key][rows][:, : self.W], val], axis=1)
        Wd = self.W

        def delayed(key, lag):  # comb[key][:, W + j - delay - lag] for chunk steps j, as a view
            start = Wd - self.delay - lag
            return comb[key][:, start:start + T]

        est = comb["rate"][:, Wd - self.delay - 2:Wd - self.delay + T]
        est = est * 10.0 ** (comb["noise"][:, Wd - 2:Wd + T] / 10.0)
        r_est = est[:, 2:]
        sl = slice(n - T, n)

        # tasks (semi-Markov) and requests of the chunk's T steps
        task, age, t_end, left_end, age_end = ctx.semi_markov_chunk(
            self.task[rows], self.task_left[rows], self.task_age[rows], U[:, sl, _U_TASK], Z[:, sl, _Z_LEN],
            zone[:, sl], day[:, sl], self.session_cdf, p.session_median_s, p.session_sigma, dt)
        zone_c = zone[:, sl]
        nreq = np.minimum(_poisson_icdf_binned(U[:, sl, _U_REQ], self.req_cdf, self.req_bins, task), self.n_max)
        arr = ctx.arrival_offsets(R, nreq)

        dst = rows
        f = np.empty((nb, T, N_E_FIELDS))
        for col, val in enumerate((nreq, rate[:, sl], 8.0 / rate[:, sl], self.inv_exp[task], sinr_eff[:, sl],
                                   hours[:, sl], zone_c, r_est, frac[:, sl])):
            f[:, :, col] = val
        self.f[dst] = f
        self.ci[dst] = np.stack([task, zone_c, age], axis=-1)
        self.arr[dst] = arr
        ang = (2.0 * np.pi / 24.0) * hours[:, sl]
        est_n = log_scaled(est, "rate_bps")
        sinr_est = delayed("sinr", 0) + comb["noise"][:, Wd:Wd + T]
        o = self.obs[dst]
        j = self.task_cols.start
        o[:, :, j:j + K] = np.eye(K, dtype=np.float32)[task]
        j += K
        tin = log1p_scaled(age * dt, "time_s_long")
        vals = (tin, log1p_scaled(p.request_rate_hz[task], "request_rate_hz"),
                log_scaled(p.latency_budget_s[task], "time_s"), zone_c / max(m.n_zones - 1, 1), handover[:, sl],
                np.sin(ang), np.cos(ang), day[:, sl], np.clip(sinr_est / SNR_SCALE_DB, -1.0, 1.0), est_n[:, 2:],
                est_n[:, 1:T + 1], est_n[:, :T], delayed("blocked", 0), delayed("share", 0),
                np.clip(d2d[:, sl] / isd, 0.0, 1.0))
        for jj, val in enumerate(vals, start=j):
            o[:, :, jj] = val
        j += len(vals)
        o[:, :, j:j + K] = p.zone_local[zone_c]
        self.obs[dst] = o

        # carry
        self.x[rows] = x[:, -1]
        self.dir[rows] = direction[:, -1]
        self.cell[rows] = cell[:, -1]
        self.task[rows] = t_end
        self.task_left[rows] = left_end
        self.task_age[rows] = age_end
        self.blocked[rows] = bstate[:, -1].astype(bool)
        self.zsf[rows] = zsf[:, -1]
        self.losu[rows] = losu[:, -1]
        self.load[rows] = load[:, -1]
        self.nb_load[rows] = rho_nb[:, -1]
        self.t_next[rows] = t0 + n
        if self.W > 0:
            for key in series:
                self.hist[key][rows, : self.W] = comb[key][:, -self.W:]


def _ar1_restart(rho: float, x0: np.ndarray, w: np.ndarray, restart: np.ndarray) -> np.ndarray:
    """Unit-variance AR(1) along axis 1 from ``x0``, restarted from the fresh draw ``w[t]``
    where ``restart[t]`` (a new link): ``x_t = y_t + rho^(t - h) (w_h - y_h)`` with y the AR(1)
    without restarts and h the last restart at or before t."""
    y = ch.ar1_real(rho, x0, w)
    n = w.shape[1]
    t = np.arange(n)
    h = np.where(restart, t[None, :], -1)
    np.maximum.accumulate(h, axis=1, out=h)
    hi = np.maximum(h, 0)
    corr = np.where(h >= 0, np.take_along_axis(w - y, hi, axis=1) * np.power(rho, t[None, :] - hi), 0.0)
    return y + corr
