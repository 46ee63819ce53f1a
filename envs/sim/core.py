"""The batched simulation: state of B devices, one step for all rows, observations, masks.

:class:`BatchSim` is the single core every adapter wraps: the Gymnasium env uses B = 1 with the
env's ``np_random`` as the row generator, the vector envs use B rows with one generator per row.

One step for each row (DESIGN.md section 3):

1. the action (flat index, see :mod:`envs.sim.params`) is looked up in the action table for the
   row's (task, download pending, edge has the task's model, local tier has it): an invalid
   action becomes a penalised no-op;
2. a download starts: it first takes its fixed time (round trips + on-the-fly compression), then
   moves its bytes at each step's *true* rate, ``min(rate_air, backhaul)`` re-read every step, so
   ``L = rtt_path + compress_time + S / min(rate_air, backhaul)`` when the rate holds (this
   projection at the start step's rate is ``latency_s`` and is checked against the deadline);
   receive energy ``P_rx x air_time`` is charged per step for the time the radio receives; while
   a download is in flight (possibly over several steps) no other can start (only *keep* is
   valid);
3. requests of this step (Poisson, pre-generated) are served *in situ*: the old model serves the
   fraction of the step before the new one arrives, the new one the rest; a request succeeds with
   the model's accuracy if the model is for the request's task and its inference latency meets
   the task's budget (accuracy terms are expectations over the arrival instants, uniform in the
   step);
4. inference energy ``MACs x e_mac(bits)`` per request processed by a model of the right task;
5. energy left decreases; terminated when it reaches 0; truncated at the scenario horizon;
6. downloads through the edge refresh/fill the edge LRU cache of the current zone.
"""

from __future__ import annotations

import operator
from typing import NamedTuple

import numpy as np

from envs.sim.exogenous import (
    E_DEADLINE,
    E_INV_EXPREQ,
    E_INVRATE,
    E_NREQ,
    E_RATE,
    E_RATE_EST,
    ExoBuffer,
)
from envs.sim.library import lru_update, lru_update_rows
from envs.sim.params import (
    A_BH_BYTES,
    A_BH_NORM,
    A_EDGE_OP,
    A_INVBH,
    A_IS_DL,
    A_LFIX,
    A_MI,
    A_SIZE,
    A_TIER,
    A_VALID,
    M_ACC,
    M_EINF,
    M_LATV,
    M_SERVED,
    N_MODEL_FEATURES,
    SimParams,
)


class _NumpyOps:
    """Array backend of the transition: columns of [B, F] tables, element-wise numpy."""

    minimum = staticmethod(np.minimum)
    maximum = staticmethod(np.maximum)

    @staticmethod
    def col(x, j):
        return x[:, j]

    @staticmethod
    def take(table, idx):
        return np.take(table, idx, axis=0)  # several times faster than table[idx] for row gathers

    @staticmethod
    def to_int(x):
        return x.astype(np.int64)


class _ScalarOps:
    """Python-scalar backend of the transition (one row; lists instead of arrays)."""

    minimum = staticmethod(min)
    maximum = staticmethod(max)

    col = staticmethod(operator.getitem)
    take = staticmethod(operator.getitem)  # on the list forms of the tables

    to_int = int


NUMPY_OPS = _NumpyOps()
SCALAR_OPS = _ScalarOps()

#: Names of the endogenous observation features (group, name), after the exogenous ones.
ENDO_FEATURE_NAMES = [
    ("device", "energy_left"), ("context", "episode_progress"),
    ("model", "has_model"), ("model", "task_match"), ("model", "accuracy"),
    ("model", "size_fraction"), ("model", "bits"), ("model", "latency_ok"),
    ("model", "download_pending"), ("model", "download_remaining"), ("model", "pending_task_match"),
    ("model", "pending_accuracy"), ("library", "edge_has_task"),
]
N_ENDO = len(ENDO_FEATURE_NAMES)


class StepResult(NamedTuple):
    """Per-row outputs of one step (arrays with leading dimension B)."""

    reward: np.ndarray            # float64 [B]
    terminated: np.ndarray        # bool [B]: energy budget spent
    truncated: np.ndarray         # bool [B]: horizon reached
    terms: np.ndarray             # float64 [B, 6]: weighted reward terms (REWARD_TERMS order)
    latency_s: np.ndarray         # download latency of a download started now (0 otherwise)
    energy_j: np.ndarray          # energy spent this step
    bytes_downloaded: np.ndarray  # size of the variant whose download started now
    backhaul_bytes: np.ndarray    # bytes over the backhaul beyond the edge
    source_tier: np.ndarray       # serving tier 0 none/keep, 1 edge, 2 local, 3 central
    action: np.ndarray            # flat action index taken
    invalid: np.ndarray           # bool [B]
    requests: np.ndarray          # requests this step
    served: np.ndarray            # requests served (expected count)
    latency_violations: np.ndarray  # requests whose inference exceeded the budget
    accuracy_sum: np.ndarray      # sum of accuracies over requests
    deadline_miss: np.ndarray     # bool [B]
    energy_over_j: np.ndarray     # energy beyond the per-step allowance
    air_time_s: np.ndarray        # time the radio received during this step


def default_chunk_steps(params: SimParams) -> int:
    """Steps generated per chunk: 256, or the horizon + 1 when shorter (one chunk per episode).

    The chunk length fixes the order of random draws, so every adapter of one scenario must use
    the same value (this function) to reproduce each other's trajectories.
    """
    return int(min(256, params.scenario.max_episode_steps + 1))


#: Order of the per-row state arrays that :meth:`BatchSim._transition` reads and returns.
STATE_FIELDS = ("ob_mi", "pend_mi", "pend_fix", "pend_bytes", "pend_spbh", "pend_act", "energy_left")


class RowStep(NamedTuple):
    """Outputs of :meth:`BatchSim.step_row` for one row (Python scalars; fields as StepResult)."""

    reward: float
    terminated: bool
    truncated: bool
    terms: tuple
    latency_s: float
    energy_j: float
    bytes_downloaded: float
    backhaul_bytes: float
    source_tier: int
    action: int
    invalid: bool
    requests: float
    served: float
    latency_violations: float
    accuracy_sum: float
    deadline_miss: bool
    energy_over_j: float
    air_time_s: float


class BatchSim:
    """B independent devices of one scenario, stepped together.

    Public API (used by :class:`envs.ModelDownloadEnv` and the vector envs):

    * ``BatchSim(params, batch_size, chunk_steps=None)`` (default :func:`default_chunk_steps`)
    * ``reset_rows(rows, rngs)``: reset the given rows, row ``rows[i]`` drawing from ``rngs[i]``
      (kept as that row's generator for all its later random draws).
    * ``step(actions) -> StepResult``: actions are flat indices [B] (or [B, 4] multi-discrete).
    * ``observe() -> float32 [B, obs_dim]``; ``action_masks() -> bool [B, n_actions]``.
    * ``planning_view(row)`` and ``one_step_rewards(row)`` for baselines and the oracle.
    * ``flat_actions(multi)`` / ``multi_actions(flat)`` convert between action encodings.

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
        self.inv_dt = 1.0 / sc.dt_s
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
        self.allow_j = p.energy_allowance_j
        self.inv_allow = 1.0 / self.allow_j
        self.rngs: list[np.random.Generator | None] = [None] * batch_size
        self.ar = np.arange(batch_size)
        self._ar_zk = self.ar * (sc.mobility.n_zones * p.n_tasks)  # row offsets of edge_present
        b = batch_size
        self.k = np.zeros(b, dtype=np.int64)
        self.t = np.zeros(b, dtype=np.int64)
        self.ob_mi = np.full(b, self.nomodel)
        self.pend_mi = np.full(b, self.nomodel)
        self.pend_fix = np.zeros(b)
        self.pend_bytes = np.zeros(b)
        self.pend_spbh = np.zeros(b)
        self.pend_act = np.zeros(b)
        self.energy_left = np.full(b, self.budget_j)
        self.invalid_count = np.zeros(b, dtype=np.int64)
        self.edge_present = np.zeros((b, self.zk))
        self.edge_lastuse = np.full((b, self.zk), -np.inf)
        self.obs_dim = self.exo.D + N_ENDO
        self.feature_names = list(self.exo.names) + ENDO_FEATURE_NAMES
        self._wl = [float(x) for x in p.reward_weights]
        self._mt = p.model_table
        self._mf = p.model_features
        self._at = p.action_table
        self._at_l: list | None = None
        self._mt_l: list | None = None
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
        tm = buf.transpose(1, 0, 2)
        if tm.flags.c_contiguous:
            return np.take(tm.reshape(t * b, nf), self.k * b + self.ar, axis=0)
        return np.take(buf.reshape(b * t, nf), self.ar * t + self.k, axis=0)

    def edge_has(self, zt: np.ndarray) -> np.ndarray:
        """``edge_present[ar, zt]``: whether each row's edge cache holds model ``zt`` (zone*K + task).

        A flat ``np.take`` (faster than the two-array index) unless the cache is shared by all rows
        (a stride-0 view, see :class:`envs.sim.cell.CellSim`).
        """
        ep = self.edge_present
        if ep.strides[0] == 0 or not ep.flags.c_contiguous:
            return ep[self.ar, zt]
        return np.take(ep.reshape(-1), self._ar_zk + zt)

    # ------------------------------------------------------------------ actions
    def flat_actions(self, multi: np.ndarray) -> np.ndarray:
        """[B, 4] (source, depth, prune, bits) -> flat indices [B] (np.ravel_multi_index order)."""
        m = np.asarray(multi, dtype=np.int64)
        nd, npr, nb = self.p.grid
        return ((m[..., 0] * nd + m[..., 1]) * npr + m[..., 2]) * nb + m[..., 3]

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
        if self.edge_present.strides[0] == 0 or len(rows) == 1:  # shared cache / single row: row by row
            self._reset_rows_loop(rows, rngs)
        else:
            self._reset_rows_batch(rows, rngs)
        self.k[rows] = 0
        self.t[rows] = 0
        self.pend_mi[rows] = self.nomodel
        self.pend_fix[rows] = 0.0
        self.pend_bytes[rows] = 0.0
        self.pend_spbh[rows] = 0.0
        self.pend_act[rows] = 0.0
        self.energy_left[rows] = self.budget_j
        self.invalid_count[rows] = 0

    def _reset_rows_loop(self, rows: np.ndarray, rngs: list[np.random.Generator]) -> None:
        """On-board model and edge-cache fill of ``rows``, one row at a time."""
        p = self.p
        storage = p.scenario.device.storage_bytes
        for r, g in zip(rows, rngs):
            u = g.random(2 + self.zk)
            m = min(int(u[0] * self.K), self.K - 1)
            fits = np.flatnonzero(p.valid[m] & (p.size_bytes[m] <= storage))
            if fits.size:
                v = int(fits[min(int(u[1] * fits.size), fits.size - 1)])
                self.ob_mi[r] = float(m * self.V + v)
            else:
                self.ob_mi[r] = self.nomodel
            self.edge_present[r] = 0.0
            self.edge_lastuse[r] = -np.inf
            if self._fill_p > 0:
                used = np.zeros(p.scenario.mobility.n_zones)
                for j in range(self.zk):
                    z = j // self.K
                    size = self._edge_sizes[j]
                    if u[2 + j] < self._fill_p and used[z] + size <= self._cap:
                        used[z] += size
                        self.edge_present[r, j] = 1.0
                        self.edge_lastuse[r, j] = -1.0 - u[2 + j]  # older than any step

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
        nr = len(rows)
        u = np.empty((nr, 2 + self.zk))
        for i, g in enumerate(rngs):
            u[i] = g.random(2 + self.zk)
        m = np.minimum((u[:, 0] * self.K).astype(np.int64), self.K - 1)
        cnt = self._fit_count[m]
        pick = np.maximum(np.minimum((u[:, 1] * cnt).astype(np.int64), cnt - 1), 0)
        v = self._fit_table[m, pick]
        self.ob_mi[rows] = np.where(cnt > 0, (m * self.V + v).astype(np.float64), self.nomodel)
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
        self.edge_present[rows] = present
        self.edge_lastuse[rows] = lastuse

    # ------------------------------------------------------------------ transition
    def _transition(self, xp, cur, ci, eh, a, ob_mi, pend_mi, pend_fix, pend_bytes, pend_spbh,
                    pend_act, energy_left):
        """Pure one-step transition, written once for both backends (no mutation).

        ``xp`` is :data:`NUMPY_OPS` (arrays over rows) or :data:`SCALAR_OPS` (Python floats of one
        row). Only IEEE-exact operations (+, -, *, /, min, max, comparisons) touch the values, so
        both backends give bit-identical results. State order: :data:`STATE_FIELDS`.

        A download first spends its fixed time (round trips + compression, ``pend_fix``), then
        moves its bytes (``pend_bytes``) at this step's seconds-per-byte ``max(8 / rate_air,
        8 / backhaul)``; the rate is re-read every step, so a download started during a blockage
        speeds up when the blockage ends. It arrives inside the step once both are done.
        """
        if xp is NUMPY_OPS:  # column j of a [B, F] table is row j of its transpose (a view)
            cur, ci = cur.T, ci.T
            at, mt = self._at, self._mt
        else:
            at, mt = self._scalar_tables()
        task = ci[0]
        idx = ci[2] + xp.to_int(pend_act * 4.0 + eh * 2.0) * self.A + a
        row_bf = xp.take(at, idx)
        row = row_bf.T if xp is NUMPY_OPS else row_bf
        is_dl = row[A_IS_DL]
        # a download starts (only when none is pending: the pending fields are 0 then)
        pend_fix = pend_fix + row[A_LFIX]
        pend_bytes = pend_bytes + row[A_SIZE]
        pend_spbh = pend_spbh + row[A_INVBH]
        pend_mi = xp.minimum(pend_mi, row[A_MI])
        pend_act = pend_act + is_dl
        spb = xp.maximum(cur[E_INVRATE], pend_spbh)  # seconds per byte this step
        # latency of a download started now if this step's rate held (deadline check, info)
        lat = row[A_LFIX] + row[A_SIZE] * spb
        # progress within this step
        t_fix = xp.minimum(pend_fix, self.dt)
        t_need = pend_bytes * spb
        t_tx = xp.minimum(t_need, self.dt - t_fix)
        arr = pend_act * (t_fix + t_need <= self.dt)  # the new model arrives in this step
        q = (t_fix + t_tx) * self.inv_dt               # fraction of the step before arrival
        nreq = cur[E_NREQ]
        wo = (arr * q + (1.0 - arr)) * nreq  # requests the old model serves
        wn = arr * (1.0 - q) * nreq          # requests the new model serves
        mo = xp.take(mt, xp.to_int(ob_mi) * self.K + task)
        mn = xp.take(mt, xp.to_int(pend_mi) * self.K + task)
        if xp is NUMPY_OPS:
            mo, mn = mo.T, mn.T
        served = wo * mo[M_SERVED] + wn * mn[M_SERVED]
        acc_sum = wo * mo[M_ACC] + wn * mn[M_ACC]
        latv = wo * mo[M_LATV] + wn * mn[M_LATV]
        energy = self.rx_power_w * t_tx + (wo * mo[M_EINF] + wn * mn[M_EINF])
        energy_left = xp.maximum(energy_left - energy, 0.0)  # the battery stops at empty (terminated)
        over = xp.maximum(energy - self.allow_j, 0.0)
        inv_exp = cur[E_INV_EXPREQ]
        w = self._wl
        dmiss = (lat > cur[E_DEADLINE]) * 1.0
        invalid = 1.0 - row[A_VALID]
        terms = (acc_sum * inv_exp * w[0], latv * inv_exp * w[1], dmiss * w[2],
                 over * self.inv_allow * w[3], row[A_BH_NORM] * w[4], invalid * w[5])
        reward = terms[0] + terms[1] + terms[2] + terms[3] + terms[4] + terms[5]
        # bookkeeping of the download in flight; arrival: the new model replaces the old one
        keep = 1.0 - arr
        pend_fix = (pend_fix - t_fix) * keep
        pend_bytes = (pend_bytes - t_tx / spb) * keep
        pend_spbh = pend_spbh * keep
        ob_mi = ob_mi + arr * (pend_mi - ob_mi)
        pend_mi = pend_mi + arr * (self.nomodel - pend_mi)
        pend_act = pend_act - arr
        state = (ob_mi, pend_mi, pend_fix, pend_bytes, pend_spbh, pend_act, energy_left)
        out = (reward, terms, lat, energy, row_bf, nreq, served, latv, acc_sum, dmiss, over, invalid, t_tx)
        return state, out

    def _scalar_tables(self) -> tuple[list, list]:
        """Action and model tables as nested lists (Python floats, exact) for the row path."""
        if self._at_l is None:
            self._at_l = self._at.tolist()
            self._mt_l = self._mt.tolist()
        return self._at_l, self._mt_l

    def _get_state(self) -> tuple:
        """State arrays in :data:`STATE_FIELDS` order."""
        return tuple(getattr(self, n) for n in STATE_FIELDS)

    def _set_state(self, state: tuple) -> None:
        for n, v in zip(STATE_FIELDS, state):
            setattr(self, n, v)

    def _advance(self, rows_hit_end: np.ndarray) -> None:
        self.exo.generate(rows_hit_end, [self.rngs[r] for r in rows_hit_end], fresh=False)
        self.k[rows_hit_end] = 0

    def _edge_update(self, r: int, ci_r, op: float) -> None:
        task, zt = int(ci_r[0]), int(ci_r[1])
        sl = slice(zt - task, zt - task + self.K)
        lru_update(self.edge_lastuse[r, sl], self.edge_present[r, sl], task,
                   self.p.full_size_bytes, self._cap, float(self.t[r]), op == 2.0)

    def step(self, actions) -> StepResult:
        """Advance every row by one step with ``actions`` (flat [B] or multi-discrete [B, 4])."""
        a = np.asarray(actions)
        if a.ndim == 2:
            a = self.flat_actions(a)
        cur = self.now(self.exo.f)
        ci = self.now(self.exo.ci)
        eh = self.edge_has(ci[:, 1])
        state, out = self._transition(NUMPY_OPS, cur, ci, eh, a, *self._get_state())
        self._set_state(state)
        reward, terms, lat, energy, row, nreq, served, latv, acc_sum, dmiss, over, invalid, air = out
        inv = invalid > 0.0
        self.invalid_count += inv
        edge_op = row[:, A_EDGE_OP]
        if np.count_nonzero(edge_op):
            rs = np.flatnonzero(edge_op)
            if self.edge_present.strides[0] == 0:  # one cache shared by all rows: row by row
                for r in rs:
                    self._edge_update(int(r), ci[r], float(edge_op[r]))
            else:
                task = ci[rs, 0]
                lru_update_rows(self.edge_lastuse, self.edge_present, rs, ci[rs, 1] - task, task,
                                self.p.full_size_bytes, self._cap, self.t[rs].astype(np.float64),
                                edge_op[rs] == 2.0)
        self.t += 1
        self.k += 1
        if np.count_nonzero(self.k >= self.T):
            self._advance(np.flatnonzero(self.k >= self.T))
        return StepResult(
            reward=reward, terminated=self.energy_left <= 0.0, truncated=self.t >= self.horizon,
            terms=np.stack(terms, axis=1), latency_s=lat, energy_j=energy,
            bytes_downloaded=row[:, A_SIZE], backhaul_bytes=row[:, A_BH_BYTES],
            source_tier=row[:, A_TIER], action=a, invalid=inv, requests=nreq, served=served,
            latency_violations=latv, accuracy_sum=acc_sum, deadline_miss=dmiss > 0.0,
            energy_over_j=over, air_time_s=air,
        )

    def step_row(self, r: int, a: int) -> RowStep:
        """Advance only row ``r`` with flat action ``a`` (Python-scalar backend, same transition).

        This is the fast path of the single environment (B = 1); it gives bit-identical results to
        :meth:`step` on that row.
        """
        k = int(self.k[r])
        cur = self.exo.f[r, k].tolist()
        ci = self.exo.ci_l[k] if self.B == 1 else self.exo.ci[r, k].tolist()
        eh = float(self.edge_present[r, ci[1]])
        state, out = self._transition(
            SCALAR_OPS, cur, ci, eh, a, float(self.ob_mi[r]), float(self.pend_mi[r]),
            float(self.pend_fix[r]), float(self.pend_bytes[r]), float(self.pend_spbh[r]),
            float(self.pend_act[r]), float(self.energy_left[r]))
        (self.ob_mi[r], self.pend_mi[r], self.pend_fix[r], self.pend_bytes[r], self.pend_spbh[r],
         self.pend_act[r], energy_left) = state  # STATE_FIELDS order
        self.energy_left[r] = energy_left
        reward, terms, lat, energy, row, nreq, served, latv, acc_sum, dmiss, over, invalid, air = out
        if invalid > 0.0:
            self.invalid_count[r] += 1
        if row[A_EDGE_OP]:
            self._edge_update(r, ci, row[A_EDGE_OP])
        t = int(self.t[r]) + 1
        self.t[r] = t
        self.k[r] = k + 1
        if k + 1 >= self.T:
            self._advance(np.array([r]))
        return RowStep(reward, energy_left <= 0.0, t >= self.horizon, terms, lat, energy, row[A_SIZE],
                       row[A_BH_BYTES], int(row[A_TIER]), a, invalid > 0.0, nreq, served, latv,
                       acc_sum, dmiss > 0.0, over, air)

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
        out[:, d] = self.energy_left * self.inv_budget
        out[:, d + 1] = self.t * (1.0 / self.horizon)
        out[:, d + 2:d + 2 + N_MODEL_FEATURES] = np.take(self._mf, self.ob_mi.astype(np.int64) * self.K + task,
                                                         axis=0)
        j = d + 2 + N_MODEL_FEATURES
        pf = np.take(self._mf, self.pend_mi.astype(np.int64) * self.K + task, axis=0)
        out[:, j] = self.pend_act
        out[:, j + 1] = np.minimum(self.pend_bytes * self.inv_storage, 1.0)
        out[:, j + 2] = pf[:, 1]
        out[:, j + 3] = pf[:, 2]
        out[:, j + 4] = self.edge_has(ci[:, 1])
        np.clip(out, -1.0, 1.0, out=out)
        return out

    def observe_row(self, r: int) -> np.ndarray:
        """Observation of row ``r``: float32 [obs_dim] (a fresh array; equals ``observe()[r]``)."""
        k = int(self.k[r])
        task, zt, _ = self.exo.ci_l[k] if self.B == 1 else self.exo.ci[r, k].tolist()
        out = np.empty(self.obs_dim, dtype=np.float32)
        d = self.exo.D
        out[:d] = self.exo.obs[r, k]
        if not self.exo.task_in_chunk:
            out[self.exo.task_cols] = self.exo.task_features[task]
        e = float(self.energy_left[r]) * self.inv_budget
        prog = float(self.t[r]) * (1.0 / self.horizon)
        rem = float(self.pend_bytes[r]) * self.inv_storage
        pf = self._mf[int(self.pend_mi[r]) * self.K + task].tolist()
        out[d:] = [-1.0 if e < -1.0 else (1.0 if e > 1.0 else e), prog if prog < 1.0 else 1.0,
                   *self._mf[int(self.ob_mi[r]) * self.K + task].tolist(),
                   float(self.pend_act[r]), rem if rem < 1.0 else 1.0, pf[1], pf[2], float(self.edge_present[r, zt])]
        return out

    def action_mask_row(self, r: int) -> np.ndarray:
        """Joint action mask of row ``r``: bool [n_actions] (a fresh array)."""
        k = int(self.k[r])
        task, zt, base = self.exo.ci_l[k] if self.B == 1 else self.exo.ci[r, k].tolist()
        i = base // self.A + int(float(self.pend_act[r]) * 4.0 + float(self.edge_present[r, zt]) * 2.0)
        return self.p.mask_table[i].copy()

    def _mask_index(self) -> np.ndarray:
        ci = self.now(self.exo.ci)
        eh = self.edge_has(ci[:, 1])
        return ci[:, 2] // self.A + (self.pend_act * 4.0 + eh * 2.0).astype(np.int64)

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
        p = self.p
        k = self.k[row]
        cur = self.exo.f[row, k]
        ci = self.exo.ci[row, k]
        task = int(ci[0])
        eh = self.edge_present[row, ci[1]]
        base = int(ci[2]) + int(self.pend_act[row] * 4.0 + eh * 2.0) * self.A
        tab = self._at[base:base + self.A]
        valid = tab[:, A_VALID] > 0.5
        vid = np.arange(self.A) % self.V
        src = np.arange(self.A) // self.V
        inv_rate_est = 8.0 / max(float(cur[E_RATE_EST]), 1.0)
        air = tab[:, A_SIZE] * np.maximum(inv_rate_est, tab[:, A_INVBH])
        lat = tab[:, A_LFIX] + air
        mi_keep = int(self.ob_mi[row])
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
            "energy_left_j": np.asarray(self.energy_left[row]),
            "storage_bytes": np.asarray(p.scenario.device.storage_bytes),
            "rate_est_bps": np.asarray(cur[E_RATE_EST]),
            "requests_expected": np.asarray(req),
            "task": np.asarray(task),
            "download_pending": np.asarray(bool(self.pend_act[row] > 0)),
        }
        for v in view.values():
            v.setflags(write=False)
        return view

    def one_step_rewards(self, row: int = 0) -> np.ndarray:
        """Reward every flat action would get on row ``row``'s true next step (no state/RNG change)."""
        n = self.A
        k = self.k[row]
        cur = np.broadcast_to(self.exo.f[row, k], (n, self.exo.f.shape[2]))
        ci = np.broadcast_to(self.exo.ci[row, k], (n, 3))
        eh = np.full(n, self.edge_present[row, self.exo.ci[row, k, 1]])

        def rep(x):
            return np.full(n, x[row])

        _, out = self._transition(NUMPY_OPS, cur, ci, eh, np.arange(n),
                                  *[rep(x) for x in self._get_state()])
        return out[0]

    def true_rate_bps(self, row: int = 0) -> float:
        """True air rate of the row's current step (for tests and rendering)."""
        return float(self.exo.f[row, self.k[row], E_RATE])
