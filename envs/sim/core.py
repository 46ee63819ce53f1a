"""The batched simulation: state of B devices, one step for all rows, observations, masks.

:class:`BatchSim` is the single core every adapter wraps: the Gymnasium env uses B = 1 with the
env's ``np_random`` as the row generator, the vector envs use B rows with one generator per row.
The state is a :class:`~envs.sim.state.SimState`; one step is :func:`envs.sim.dynamics.transition`
(pure, the same code for arrays over rows and for one row), fed with the step's pre-generated
exogenous columns (:mod:`envs.sim.exogenous`); downloads through the edge then refresh/fill the
edge LRU cache of the current zone (:mod:`envs.sim.library`).
"""

from __future__ import annotations

import numpy as np

from envs.sim.dynamics import NUMPY_OPS, SCALAR_OPS, StepConstants, transition
from envs.sim.exogenous import E_DEADLINE, E_RATE, E_RATE_EST, ExoBuffer
from envs.sim.library import download_time_s, lru_update, lru_update_rows
from envs.sim.params import (
    A_BH_BYTES,
    A_EDGE_OP,
    A_INVBH,
    A_LFIX,
    A_SIZE,
    A_TIER,
    A_VALID,
    N_MODEL_FEATURES,
    SimParams,
    flat_action_index,
)
from envs.sim.state import Dyn, SimState, StepResult

#: Names of the endogenous observation features (group, name), after the exogenous ones.
ENDO_FEATURE_NAMES = [
    ("device", "energy_left"), ("context", "episode_progress"),
    ("model", "has_model"), ("model", "task_match"), ("model", "accuracy"),
    ("model", "size_fraction"), ("model", "bits"), ("model", "latency_ok"),
    ("model", "download_pending"), ("model", "download_remaining"), ("model", "pending_task_match"),
    ("model", "pending_accuracy"), ("library", "edge_has_task"),
]
N_ENDO = len(ENDO_FEATURE_NAMES)


def default_chunk_steps(params: SimParams) -> int:
    """Steps generated per chunk: 256, or the horizon + 1 when shorter (one chunk per episode).

    The chunk length fixes the order of random draws, so every adapter of one scenario must use
    the same value (this function) to reproduce each other's trajectories.
    """
    return int(min(256, params.scenario.max_episode_steps + 1))


class BatchSim:
    """B independent devices of one scenario, stepped together.

    Public API (used by :class:`envs.ModelDownloadEnv` and the vector envs):

    * ``BatchSim(params, batch_size, chunk_steps=None)`` (default :func:`default_chunk_steps`)
    * ``reset_rows(rows, rngs)``: reset the given rows, row ``rows[i]`` drawing from ``rngs[i]``
      (kept as that row's generator for all its later random draws).
    * ``step(actions) -> StepResult``: actions are flat indices [B] (or [B, 4] multi-discrete);
      ``step_row(r, a)``: row ``r`` only, through the Python-scalar backend (bit-identical).
    * ``observe() -> float32 [B, obs_dim]``; ``action_masks() -> bool [B, n_actions]``.
    * ``planning_view(row)`` and ``one_step_rewards(row)`` for baselines and the oracle.
    * ``flat_actions(multi)`` / ``multi_actions(flat)`` convert between action encodings.
    * ``state``: the :class:`~envs.sim.state.SimState`; ``current_task()``, ``energy_left_j()``.

    Rows that terminated or truncated keep their state until they are reset; stepping them
    further is allowed (the vector adapters reset them first).
    """

    def __init__(self, params: SimParams, batch_size: int, chunk_steps: int | None = None):
        if chunk_steps is None:
            chunk_steps = default_chunk_steps(params)
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        p = self.p = params
        self.B = batch_size
        self.exo = ExoBuffer(params, batch_size, chunk_steps)
        self.T = chunk_steps
        sc = params.scenario
        self.dt = sc.dt_s
        self.horizon = sc.max_episode_steps
        self.K = p.n_tasks
        self.V = p.n_variants
        self.A = p.n_actions
        self.nomodel = float(self.K * self.V)
        self.zk = sc.mobility.n_zones * self.K
        self.rx_power_w = sc.device.rx_power_w
        self.budget_j = sc.device.energy_budget_j
        self.inv_budget = 1.0 / self.budget_j
        self.inv_storage = 1.0 / sc.device.storage_bytes
        self.consts = StepConstants(
            n_actions=self.A, n_tasks=self.K, dt_s=self.dt, inv_dt=1.0 / self.dt, no_model=self.nomodel,
            rx_power_w=self.rx_power_w, allowance_j=p.energy_allowance_j,
            inv_allowance=1.0 / p.energy_allowance_j, weights=tuple(float(x) for x in p.reward_weights))
        self.rngs: list[np.random.Generator | None] = [None] * batch_size
        self.ar = np.arange(batch_size)
        self._ar_zk = self.ar * (sc.mobility.n_zones * p.n_tasks)  # row offsets of edge_present
        self.state = SimState.initial(batch_size, self.nomodel, self.budget_j, self.zk)
        self.obs_dim = self.exo.D + N_ENDO
        self.feature_names = list(self.exo.names) + ENDO_FEATURE_NAMES
        self._mf = p.model_features
        self._tables = {NUMPY_OPS: (p.action_table, p.model_table)}
        self._edge_sizes = np.tile(p.full_size_bytes, sc.mobility.n_zones)
        self._cap = sc.library.edge.capacity_bytes
        self._fill_p = sc.library.edge.initial_fill_prob
        self._fit_table: np.ndarray | None = None  # per task: variants that fit the storage
        self._fit_count: np.ndarray | None = None

    def now(self, buf: np.ndarray) -> np.ndarray:
        """Every row's current step of a chunk buffer: ``buf[ar, k]`` ([B, T, F] -> [B, F]).

        ``np.take`` on the flattened (step, row) axis of the time-major storage of the buffer
        (see :class:`envs.sim.exogenous.ExoBuffer`) gives the same array several times faster
        than indexing with the two index arrays (and reads adjacent memory when the rows are at
        the same step); a row-major buffer is read on its flattened (row, step) axis.
        """
        b, t, nf = buf.shape
        k = self.state.k
        tm = buf.transpose(1, 0, 2)
        if tm.flags.c_contiguous:
            return np.take(tm.reshape(t * b, nf), k * b + self.ar, axis=0)
        return np.take(buf.reshape(b * t, nf), self.ar * t + k, axis=0)

    def edge_has(self, zt: np.ndarray) -> np.ndarray:
        """``edge_present[ar, zt]``: whether each row's edge cache holds model ``zt`` (zone*K + task).

        A flat ``np.take`` (faster than the two-array index) unless the cache is shared by all rows
        (a stride-0 view, see :class:`envs.sim.cell.CellSim`).
        """
        ep = self.state.edge_present
        if ep.strides[0] == 0 or not ep.flags.c_contiguous:
            return ep[self.ar, zt]
        return np.take(ep.reshape(-1), self._ar_zk + zt)

    def current_task(self) -> np.ndarray:
        """Task index of every row's current step, int64 [B] (a copy)."""
        return self.exo.ci[self.ar, self.state.k, 0]

    def energy_left_j(self) -> np.ndarray:
        """Energy left of every row, J [B] (a copy)."""
        return self.state.dyn.energy_left_j.copy()

    # ------------------------------------------------------------------ actions
    def flat_actions(self, multi: np.ndarray) -> np.ndarray:
        """[B, 4] (source, depth, prune, bits) -> flat indices [B] (np.ravel_multi_index order)."""
        m = np.asarray(multi, dtype=np.int64)
        return flat_action_index(m[..., 0], m[..., 1], m[..., 2], m[..., 3], self.p.grid)

    def multi_actions(self, flat: np.ndarray) -> np.ndarray:
        """Flat indices -> [..., 4] (source, depth, prune, bits)."""
        return np.stack(np.unravel_index(np.asarray(flat, dtype=np.int64), self.p.action_nvec), axis=-1)

    # ------------------------------------------------------------------ reset
    def reset_rows(self, rows, rngs: list[np.random.Generator]) -> None:
        """Reset ``rows``; row ``rows[i]`` draws (now and later) from ``rngs[i]``."""
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) != len(rngs):
            raise ValueError(f"reset_rows: {len(rows)} rows but {len(rngs)} generators")
        for r, g in zip(rows, rngs):
            self.rngs[r] = g
        self.exo.init_rows(rows, rngs)
        st = self.state
        if st.edge_present.strides[0] == 0 or len(rows) == 1:  # shared cache / single row: row by row
            self._reset_rows_loop(rows, rngs)
        else:
            self._reset_rows_batch(rows, rngs)
        st.k[rows] = 0
        st.t[rows] = 0
        d = st.dyn
        d.pending_model[rows] = self.nomodel
        d.pending_fixed_s[rows] = 0.0
        d.pending_bytes[rows] = 0.0
        d.pending_s_per_byte_bh[rows] = 0.0
        d.pending[rows] = 0.0
        d.energy_left_j[rows] = self.budget_j
        st.invalid_count[rows] = 0

    def _reset_rows_loop(self, rows: np.ndarray, rngs: list[np.random.Generator]) -> None:
        """On-board model and edge-cache fill of ``rows``, one row at a time."""
        p, st = self.p, self.state
        storage = p.scenario.device.storage_bytes
        for r, g in zip(rows, rngs):
            u = g.random(2 + self.zk)
            m = min(int(u[0] * self.K), self.K - 1)
            fits = np.flatnonzero(p.valid[m] & (p.size_bytes[m] <= storage))
            if fits.size:
                v = int(fits[min(int(u[1] * fits.size), fits.size - 1)])
                st.dyn.model[r] = float(m * self.V + v)
            else:
                st.dyn.model[r] = self.nomodel
            st.edge_present[r] = 0.0
            st.edge_lastuse[r] = -np.inf
            if self._fill_p > 0:
                used = np.zeros(p.scenario.mobility.n_zones)
                for j in range(self.zk):
                    z = j // self.K
                    size = self._edge_sizes[j]
                    if u[2 + j] < self._fill_p and used[z] + size <= self._cap:
                        used[z] += size
                        st.edge_present[r, j] = 1.0
                        st.edge_lastuse[r, j] = -1.0 - u[2 + j]  # older than any step

    def _reset_rows_batch(self, rows: np.ndarray, rngs: list[np.random.Generator]) -> None:
        """:meth:`_reset_rows_loop` vectorised over the rows (same draws, bit-identical result)."""
        if self._fit_table is None:
            p = self.p
            storage = p.scenario.device.storage_bytes
            fits = [np.flatnonzero(p.valid[m] & (p.size_bytes[m] <= storage)) for m in range(self.K)]
            self._fit_count = np.array([len(f) for f in fits], dtype=np.int64)
            self._fit_table = np.zeros((self.K, max(1, int(self._fit_count.max()))), dtype=np.int64)
            for m, f in enumerate(fits):
                self._fit_table[m, :len(f)] = f
        st = self.state
        nr = len(rows)
        u = np.empty((nr, 2 + self.zk))
        for i, g in enumerate(rngs):
            u[i] = g.random(2 + self.zk)
        m = np.minimum((u[:, 0] * self.K).astype(np.int64), self.K - 1)
        cnt = self._fit_count[m]
        pick = np.maximum(np.minimum((u[:, 1] * cnt).astype(np.int64), cnt - 1), 0)
        v = self._fit_table[m, pick]
        st.dyn.model[rows] = np.where(cnt > 0, (m * self.V + v).astype(np.float64), self.nomodel)
        present = np.zeros((nr, self.zk))
        lastuse = np.full((nr, self.zk), -np.inf)
        if self._fill_p > 0:
            used = np.zeros((nr, self.p.scenario.mobility.n_zones))
            for j in range(self.zk):
                z = j // self.K
                size = self._edge_sizes[j]
                uj = u[:, 2 + j]
                ok = (uj < self._fill_p) & (used[:, z] + size <= self._cap)
                used[:, z] += np.where(ok, size, 0.0)
                present[:, j] = ok
                lastuse[:, j] = np.where(ok, -1.0 - uj, -np.inf)  # older than any step
        st.edge_present[rows] = present
        st.edge_lastuse[rows] = lastuse

    # ------------------------------------------------------------------ step
    def _scalar_tables(self) -> tuple[list, list]:
        """Action and model tables as nested lists (Python floats, exact) for the row path."""
        tabs = self._tables.get(SCALAR_OPS)
        if tabs is None:
            tabs = self._tables[SCALAR_OPS] = (self.p.action_table.tolist(), self.p.model_table.tolist())
        return tabs

    def _transition(self, xp, cur, ci, eh, a, s: Dyn):
        """:func:`envs.sim.dynamics.transition` with this scenario's constants and tables (the
        hook :class:`envs.sim.cell.CellSim` overrides to couple rows)."""
        at, mt = self._tables[NUMPY_OPS] if xp is NUMPY_OPS else self._scalar_tables()
        return transition(xp, self.consts, at, mt, cur, ci, eh, a, s)

    def _advance(self, rows_hit_end: np.ndarray) -> None:
        self.exo.generate(rows_hit_end, [self.rngs[r] for r in rows_hit_end], fresh=False)
        self.state.k[rows_hit_end] = 0

    def _edge_update(self, r: int, ci_r, op: float) -> None:
        task, zt = int(ci_r[0]), int(ci_r[1])
        sl = slice(zt - task, zt - task + self.K)
        st = self.state
        lru_update(st.edge_lastuse[r, sl], st.edge_present[r, sl], task, self.p.full_size_bytes,
                   self._cap, float(st.t[r]), op == 2.0)

    def step(self, actions) -> StepResult:
        """Advance every row by one step with ``actions`` (flat [B] or multi-discrete [B, 4])."""
        a = np.asarray(actions)
        if a.ndim == 2:
            a = self.flat_actions(a)
        st = self.state
        ci = self.now(self.exo.ci)
        eh = self.edge_has(ci[:, 1])
        before = st.dyn.model
        st.dyn, out = self._transition(NUMPY_OPS, self.now(self.exo.f).T, ci.T, eh, a, st.dyn)
        reward, terms, lat, energy, row, nreq, served, latv, acc_sum, dmiss, over, invalid, air = out
        inv = invalid > 0.0
        st.invalid_count += inv
        edge_op = row[A_EDGE_OP]
        if np.count_nonzero(edge_op):
            rs = np.flatnonzero(edge_op)
            if st.edge_present.strides[0] == 0:  # one cache shared by all rows: row by row
                for r in rs:
                    self._edge_update(int(r), ci[r], float(edge_op[r]))
            else:
                task = ci[rs, 0]
                lru_update_rows(st.edge_lastuse, st.edge_present, rs, ci[rs, 1] - task, task,
                                self.p.full_size_bytes, self._cap, st.t[rs].astype(np.float64),
                                edge_op[rs] == 2.0)
        st.t += 1
        st.k += 1
        if np.count_nonzero(st.k >= self.T):
            self._advance(np.flatnonzero(st.k >= self.T))
        tier = row[A_TIER]
        return StepResult(
            reward=reward, terminated=st.dyn.energy_left_j <= 0.0, truncated=st.t >= self.horizon,
            terms=np.stack(terms, axis=1), latency_s=lat, energy_j=energy,
            bytes_downloaded=row[A_SIZE], backhaul_bytes=row[A_BH_BYTES], source_tier=tier, action=a,
            variant=np.where(tier > 0, a % self.V, before.astype(np.int64) % self.V), invalid=inv,
            requests=nreq, served=served, latency_violations=latv, accuracy_sum=acc_sum,
            deadline_miss=dmiss > 0.0, energy_over_j=over, air_time_s=air,
        )

    def step_row(self, r: int, a: int) -> StepResult:
        """Advance only row ``r`` with flat action ``a`` (Python-scalar backend, same transition).

        This is the fast path of the single environment (B = 1); it gives bit-identical results to
        :meth:`step` on that row, as Python scalars.
        """
        st = self.state
        k = int(st.k[r])
        cur = self.exo.f[r, k].tolist()
        ci = self.exo.ci_l[k] if self.B == 1 else self.exo.ci[r, k].tolist()
        eh = float(st.edge_present[r, ci[1]])
        d = st.dyn
        before = float(d.model[r])
        nxt, out = self._transition(SCALAR_OPS, cur, ci, eh, a, Dyn(
            before, float(d.pending_model[r]), float(d.pending_fixed_s[r]), float(d.pending_bytes[r]),
            float(d.pending_s_per_byte_bh[r]), float(d.pending[r]), float(d.energy_left_j[r])))
        (d.model[r], d.pending_model[r], d.pending_fixed_s[r], d.pending_bytes[r], d.pending_s_per_byte_bh[r],
         d.pending[r], d.energy_left_j[r]) = nxt
        reward, terms, lat, energy, row, nreq, served, latv, acc_sum, dmiss, over, invalid, air = out
        if invalid > 0.0:
            st.invalid_count[r] += 1
        if row[A_EDGE_OP]:
            self._edge_update(r, ci, row[A_EDGE_OP])
        t = int(st.t[r]) + 1
        st.t[r] = t
        st.k[r] = k + 1
        if k + 1 >= self.T:
            self._advance(np.array([r]))
        tier = int(row[A_TIER])
        return StepResult(reward, nxt.energy_left_j <= 0.0, t >= self.horizon, terms, lat, energy,
                          row[A_SIZE], row[A_BH_BYTES], tier, a, a % self.V if tier else int(before) % self.V,
                          invalid > 0.0, nreq, served, latv, acc_sum, dmiss > 0.0, over, air)

    # ------------------------------------------------------------------ observation / masks
    def observe(self) -> np.ndarray:
        """Observation of every row: float32 [B, obs_dim] (a fresh array)."""
        ci = self.now(self.exo.ci)
        task = ci[:, 0]
        out = np.empty((self.B, self.obs_dim), dtype=np.float32)
        d = self.exo.D
        out[:, :d] = self.now(self.exo.obs)
        if not self.exo.task_in_chunk:
            out[:, self.exo.task_cols] = np.take(self.exo.task_features, task, axis=0)
        st = self.state
        dyn = st.dyn
        out[:, d] = dyn.energy_left_j * self.inv_budget
        out[:, d + 1] = st.t * (1.0 / self.horizon)
        out[:, d + 2:d + 2 + N_MODEL_FEATURES] = np.take(self._mf, dyn.model.astype(np.int64) * self.K + task,
                                                         axis=0)
        j = d + 2 + N_MODEL_FEATURES
        pf = np.take(self._mf, dyn.pending_model.astype(np.int64) * self.K + task, axis=0)
        out[:, j] = dyn.pending
        out[:, j + 1] = np.minimum(dyn.pending_bytes * self.inv_storage, 1.0)
        out[:, j + 2] = pf[:, 1]
        out[:, j + 3] = pf[:, 2]
        out[:, j + 4] = self.edge_has(ci[:, 1])
        np.clip(out, -1.0, 1.0, out=out)
        return out

    def observe_row(self, r: int) -> np.ndarray:
        """Observation of row ``r``: float32 [obs_dim] (a fresh array; equals ``observe()[r]``)."""
        st = self.state
        dyn = st.dyn
        k = int(st.k[r])
        task, zt, _ = self.exo.ci_l[k] if self.B == 1 else self.exo.ci[r, k].tolist()
        out = np.empty(self.obs_dim, dtype=np.float32)
        d = self.exo.D
        out[:d] = self.exo.obs[r, k]
        if not self.exo.task_in_chunk:
            out[self.exo.task_cols] = self.exo.task_features[task]
        e = float(dyn.energy_left_j[r]) * self.inv_budget
        prog = float(st.t[r]) * (1.0 / self.horizon)
        rem = float(dyn.pending_bytes[r]) * self.inv_storage
        pf = self._mf[int(dyn.pending_model[r]) * self.K + task].tolist()
        out[d:] = [-1.0 if e < -1.0 else (1.0 if e > 1.0 else e), prog if prog < 1.0 else 1.0,
                   *self._mf[int(dyn.model[r]) * self.K + task].tolist(),
                   float(dyn.pending[r]), rem if rem < 1.0 else 1.0, pf[1], pf[2], float(st.edge_present[r, zt])]
        return out

    def action_mask_row(self, r: int) -> np.ndarray:
        """Joint action mask of row ``r``: bool [n_actions] (a fresh array)."""
        st = self.state
        k = int(st.k[r])
        task, zt, base = self.exo.ci_l[k] if self.B == 1 else self.exo.ci[r, k].tolist()
        i = base // self.A + int(float(st.dyn.pending[r]) * 4.0 + float(st.edge_present[r, zt]) * 2.0)
        return self.p.mask_table[i].copy()

    def _mask_index(self) -> np.ndarray:
        ci = self.now(self.exo.ci)
        eh = self.edge_has(ci[:, 1])
        return ci[:, 2] // self.A + (self.state.dyn.pending * 4.0 + eh * 2.0).astype(np.int64)

    def action_masks(self) -> np.ndarray:
        """Joint action mask of every row: bool [B, n_actions] (a fresh array)."""
        return np.take(self.p.mask_table, self._mask_index(), axis=0)

    # ------------------------------------------------------------------ planning support
    def planning_view(self, row: int = 0) -> dict[str, np.ndarray]:
        """Per-action estimates for row ``row`` from *observed* quantities (no RNG, no state change).

        Keys (arrays of length n_actions): valid, accuracy, size_bytes, download_latency_s_est,
        energy_j_est, inference_latency_s, fits_deadline, proxy_score, source, depth, prune, bits;
        scalars (0-d arrays): deadline_s, inference_budget_s (the current task's per-request
        inference latency budget), energy_left_j, storage_bytes, rate_est_bps, requests_expected,
        task, download_pending.
        """
        p, st = self.p, self.state
        dyn = st.dyn
        k = st.k[row]
        cur = self.exo.f[row, k]
        ci = self.exo.ci[row, k]
        task = int(ci[0])
        eh = st.edge_present[row, ci[1]]
        base = int(ci[2]) + int(dyn.pending[row] * 4.0 + eh * 2.0) * self.A
        tab = p.action_table[base:base + self.A]
        valid = tab[:, A_VALID] > 0.5
        vid = np.arange(self.A) % self.V
        src = np.arange(self.A) // self.V
        inv_rate_est = 8.0 / max(float(cur[E_RATE_EST]), 1.0)
        spb = np.maximum(inv_rate_est, tab[:, A_INVBH])
        air = tab[:, A_SIZE] * spb
        lat = download_time_s(tab[:, A_LFIX], tab[:, A_SIZE], spb)
        mi_keep = int(dyn.model[row])
        m_keep, v_keep = divmod(mi_keep, self.V)
        acc = np.where(src == 0, p.accuracy[m_keep, v_keep] if m_keep == task else 0.0,
                       p.accuracy[task, vid])
        einf = np.where(src == 0, p.inference_energy_j[m_keep, v_keep] if m_keep == task else 0.0,
                        p.inference_energy_j[task, vid])
        req = float(p.request_rate_hz[task] * self.dt)
        ilat = np.where(src == 0, p.inference_latency_s[m_keep, v_keep], p.inference_latency_s[task, vid])
        d, pr, b = np.unravel_index(vid, p.grid)
        view = {
            "valid": valid,
            "accuracy": np.where(valid, acc, 0.0),
            "size_bytes": tab[:, A_SIZE].copy(),
            "download_latency_s_est": lat,
            "energy_j_est": self.rx_power_w * air + einf * req,
            "inference_latency_s": ilat,
            "fits_deadline": lat <= cur[E_DEADLINE],
            "proxy_score": np.where(src == 0, 0.0, p.proxy_score[task, vid]),
            "source": src,
            "depth": d,
            "prune": pr,
            "bits": b,
            "deadline_s": np.asarray(cur[E_DEADLINE]),
            "inference_budget_s": np.asarray(p.latency_budget_s[task]),
            "energy_left_j": np.asarray(dyn.energy_left_j[row]),
            "storage_bytes": np.asarray(p.scenario.device.storage_bytes),
            "rate_est_bps": np.asarray(cur[E_RATE_EST]),
            "requests_expected": np.asarray(req),
            "task": np.asarray(task),
            "download_pending": np.asarray(bool(dyn.pending[row] > 0)),
        }
        for v in view.values():
            v.setflags(write=False)
        return view

    def one_step_rewards(self, row: int = 0) -> np.ndarray:
        """Reward every flat action would get on row ``row``'s true next step (no state/RNG change)."""
        n = self.A
        st = self.state
        k = st.k[row]
        cur = np.broadcast_to(self.exo.f[row, k], (n, self.exo.f.shape[2]))
        ci = np.broadcast_to(self.exo.ci[row, k], (n, 3))
        eh = np.full(n, st.edge_present[row, self.exo.ci[row, k, 1]])
        s = Dyn(*[np.full(n, x[row]) for x in st.dyn])
        _, out = self._transition(NUMPY_OPS, cur.T, ci.T, eh, np.arange(n), s)
        return out[0]

    def true_rate_bps(self, row: int = 0) -> float:
        """True air rate of the row's current step (for tests and rendering)."""
        return float(self.exo.f[row, self.state.k[row], E_RATE])
