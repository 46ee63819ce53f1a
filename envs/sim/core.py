"""The batched simulation: state of B devices, one step for all rows, observations, masks.

:class:`BatchSim` is the single core every adapter wraps: the Gymnasium env uses B = 1 with the
env's ``np_random`` as the row generator, the vector envs use B rows with one generator per row.
The state is a :class:`~envs.sim.state.SimState`; one step is :func:`envs.sim.dynamics.transition`
(pure), fed with the step's pre-generated exogenous columns (:mod:`envs.sim.exogenous`);
downloads through the edge then refresh/fill the edge LRU cache of the current zone
(:mod:`envs.sim.library`).
"""

from __future__ import annotations

import numpy as np

from envs.sim import device as dev
from envs.sim.dynamics import StepConstants, action_rows, planes_received, store_bytes, transition
from envs.sim.exogenous import C_AGE, C_TASK, C_ZONE, E_HOUR, E_RATE, E_RATE_EST, ExoBuffer
from envs.sim.library import download_time_s, lru_update, lru_update_rows
from envs.sim.observation import BITS_SCALE
from envs.sim.params import (
    AT_FIX_S,
    AT_SIZE,
    AT_SPB_BH,
    AT_TIER,
    AT_VALID,
    SRC_CANCEL,
    SRC_EDGE,
    SRC_EVICT,
    SRC_KEEP,
    SimParams,
    flat_action_index,
)
from envs.sim.state import Dyn, SimState, StepResult


def endo_feature_names(params: SimParams) -> list[tuple[str, str]]:
    """(group, name) of the endogenous observation features, after the exogenous ones."""
    tasks = [t.name for t in params.scenario.tasks]
    names = [("hardware", n) for n in ("energy_left", "storage_free", "queue_backlog", "radio_tail")]
    names += [("context", "episode_progress")]
    for t in tasks:
        names += [("store", f"{t}_{n}") for n in ("has_model", "accuracy", "bits", "size", "service_over_budget",
                                                  "integer", "planes")]
    names += [("store", n) for n in ("download_pending", "download_remaining", "download_accuracy",
                                     "download_planes")]
    names += [("store", f"download_task_{t}") for t in tasks]
    names += [("library", f"edge_has_{t}") for t in tasks]
    return names


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
    * ``step(actions) -> StepResult``: actions are flat indices [B] (or [B, 3] multi-discrete).
    * ``observe() -> float32 [B, obs_dim]``; ``action_masks() -> bool [B, n_actions]``.
    * ``planning_view(row)``, ``one_step_rewards(row)`` and ``fork(row, n)`` for baselines,
      planners and yardsticks.
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
        self.nomodel = p.no_model
        self.zk = sc.mobility.n_zones * self.K
        d = sc.device
        self.budget_j = d.energy_budget_j
        self.storage = d.storage_bytes
        self.consts = StepConstants(
            n_tasks=self.K, no_model=self.nomodel, dt_s=self.dt, storage_bytes=self.storage,
            inv_allowance=1.0 / p.energy_allowance_j, weights=tuple(float(x) for x in p.reward_weights),
            radio=d.radio)
        self.rngs: list[np.random.Generator | None] = [None] * batch_size
        self.ar = np.arange(batch_size)
        self.state = SimState.initial(batch_size, self.K, self.nomodel, self.budget_j, self.zk)
        self.feature_names = list(self.exo.names) + endo_feature_names(p)
        self.obs_dim = len(self.feature_names)
        self._edge_sizes = np.tile(p.full_size_bytes, sc.mobility.n_zones)
        self._cap = sc.library.edge.capacity_bytes
        self._fill_p = sc.library.edge.initial_fill_prob
        self._frozen = False  # a fork: its chunk is a copy and must not be extended
        self._shared = False  # a fork: all rows share one exogenous row and one step index
        # static validity of the downloads per (tier, task, entry, context) and menu sizes
        valid = (p.act_table[:, :, AT_VALID] > 0.5).reshape(6, self.K, p.n_menu, 4)
        self._dl_valid = np.ascontiguousarray(valid[SRC_EDGE:].transpose(1, 3, 0, 2))  # [K, 4, 3, M]
        self._menu_size = p.var_size_bytes[p.menu]                                     # [K, M]
        fits = p.var_valid & (p.var_size_bytes <= self.storage)
        fit_lists = [np.flatnonzero(fits[m * self.V:(m + 1) * self.V]) + m * self.V for m in range(self.K)]
        self._fit_count = np.array([len(f) for f in fit_lists], dtype=np.int64)
        self._fit_table = np.zeros((self.K, max(1, int(self._fit_count.max()))), dtype=np.int64)
        for k, f in enumerate(fit_lists):
            self._fit_table[k, :len(f)] = f

    def now(self, buf: np.ndarray) -> np.ndarray:
        """Every row's current step of a chunk buffer: ``buf[ar, k]`` ([B, T, F] -> [B, F]), by one
        ``np.take`` on the flattened time-major storage (adjacent memory when rows share a step)."""
        b, t = buf.shape[:2]
        rest = buf.shape[2:]
        k = self.state.k
        if self._shared:  # a fork: every row reads the one copied row at the same step
            return np.broadcast_to(buf[0, k[0]], (self.B,) + rest)
        tm = buf.transpose(1, 0, *range(2, buf.ndim))
        if tm.flags.c_contiguous:
            return np.take(tm.reshape((t * b,) + rest), k * b + self.ar, axis=0)
        return buf[self.ar, k]

    def current_task(self) -> np.ndarray:
        """Task index of every row's current step, int64 [B] (a copy)."""
        return self.exo.ci[self.ar, self.state.k, C_TASK]

    def energy_left_j(self) -> np.ndarray:
        """Energy left of every row, J [B] (a copy)."""
        return self.state.dyn.energy_left_j.copy()

    # ------------------------------------------------------------------ actions
    def flat_actions(self, multi: np.ndarray) -> np.ndarray:
        """[B, 3] (source, task, entry) -> flat indices [B] (np.ravel_multi_index order)."""
        m = np.asarray(multi, dtype=np.int64)
        return flat_action_index(m[..., 0], m[..., 1], m[..., 2], self.K, self.p.n_menu)

    def multi_actions(self, flat: np.ndarray) -> np.ndarray:
        """Flat indices -> [..., 3] (source, task, entry)."""
        return np.stack(np.unravel_index(np.asarray(flat, dtype=np.int64), self.p.action_nvec), axis=-1)

    # ------------------------------------------------------------------ reset
    def reset_rows(self, rows, rngs: list[np.random.Generator]) -> None:
        """Reset ``rows``; row ``rows[i]`` draws (now and later) from ``rngs[i]``.

        Starting state: the device holds one random variant (that fits its store) of a random
        task; each (zone, task) full model is in the edge cache with ``initial_fill_prob`` (up to
        the capacity, oldest first in index order); battery full, nothing in flight, radio idle.
        """
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        if len(rows) != len(rngs):
            raise ValueError(f"reset_rows: {len(rows)} rows but {len(rngs)} generators")
        for r, g in zip(rows, rngs):
            self.rngs[r] = g
        self.exo.init_rows(rows, rngs)
        st = self.state
        d = st.dyn
        nz = self.p.scenario.mobility.n_zones
        u = np.empty((len(rows), 2 + self.zk))
        for i, g in enumerate(rngs):  # each row's draws from its own generator
            u[i] = g.random(2 + self.zk)
        # the store: one random fitting variant of a random task
        m = np.minimum((u[:, 0] * self.K).astype(np.int64), self.K - 1)
        cnt = self._fit_count[m]
        pick = np.maximum(np.minimum((u[:, 1] * cnt).astype(np.int64), cnt - 1), 0)
        gv = self._fit_table[m, pick]
        d.store_var[rows] = self.nomodel
        d.store_planes[rows] = 0
        d.store_used_t[rows] = -np.inf
        has = cnt > 0
        d.store_var[rows[has], m[has]] = gv[has]
        d.store_planes[rows[has], m[has]] = self.p.var_planes[gv[has]]
        # the edge caches: each (zone, task) full model with initial_fill_prob, up to the capacity
        present = np.zeros((len(rows), self.zk))
        lastuse = np.full((len(rows), self.zk), -np.inf)
        if self._fill_p > 0:
            used = np.zeros((len(rows), nz))
            for j in range(self.zk):
                z = j // self.K
                ok = (u[:, 2 + j] < self._fill_p) & (used[:, z] + self._edge_sizes[j] <= self._cap)
                used[:, z] += np.where(ok, self._edge_sizes[j], 0.0)
                present[:, j] = ok
                lastuse[:, j] = np.where(ok, -1.0 - u[:, 2 + j], -np.inf)  # older than any step
        if st.edge_present.strides[0] == 0:  # one cache shared by the rows: the last row's fill wins
            st.edge_present[0] = present[-1]
            st.edge_lastuse[0] = lastuse[-1]
        else:
            st.edge_present[rows] = present
            st.edge_lastuse[rows] = lastuse
        st.k[rows] = 0
        st.t[rows] = 0
        d.dl_active[rows] = False
        d.dl_task[rows] = 0
        d.dl_var[rows] = self.nomodel
        d.dl_tier[rows] = 0
        d.dl_fixed_s[rows] = 0.0
        d.dl_promo_s[rows] = 0.0
        d.dl_done_bytes[rows] = 0.0
        d.dl_s_per_byte_bh[rows] = 0.0
        d.energy_left_j[rows] = self.budget_j
        d.tail_left_s[rows] = 0.0
        d.queue_s[rows] = 0.0
        st.invalid_count[rows] = 0

    # ------------------------------------------------------------------ step
    def _action_rows(self, a: np.ndarray, ci: np.ndarray) -> np.ndarray:
        """Resolved action-table rows of ``a`` in the current state (hook of CellSim)."""
        return action_rows(self.p, a, ci[:, C_ZONE], self.state.edge_present)

    def _transition(self, cur, ci, arr, rows, a, s, t):
        """:func:`envs.sim.dynamics.transition` with this scenario's tables (hook of CellSim)."""
        return transition(self.p, self.consts, cur, ci, arr, rows, a, s, t)

    def _advance(self, rows_hit_end: np.ndarray) -> None:
        if self._frozen:
            raise RuntimeError("a forked simulation cannot run past the end of its copied chunk")
        self.exo.generate(rows_hit_end, [self.rngs[r] for r in rows_hit_end], fresh=False)
        self.state.k[rows_hit_end] = 0

    def _edge_update(self, rs: np.ndarray, zone: np.ndarray, task: np.ndarray, op: np.ndarray) -> None:
        st = self.state
        if st.edge_present.strides[0] == 0:  # one cache shared by all rows: row by row
            for r, z, k, o in zip(rs.tolist(), zone.tolist(), task.tolist(), op.tolist()):
                sl = slice(z * self.K, (z + 1) * self.K)
                lru_update(st.edge_lastuse[r, sl], st.edge_present[r, sl], k, self.p.full_size_bytes,
                           self._cap, float(st.t[r]), o == 2.0)
        else:
            lru_update_rows(st.edge_lastuse, st.edge_present, rs, zone * self.K, task, self.p.full_size_bytes,
                            self._cap, st.t[rs].astype(np.float64), op == 2.0)

    def step(self, actions) -> StepResult:
        """Advance every row by one step with ``actions`` (flat [B] or multi-discrete [B, 3])."""
        a = np.asarray(actions, dtype=np.int64)
        if a.ndim == 2:
            a = self.flat_actions(a)
        st = self.state
        ci = self.now(self.exo.ci)
        rows = self._action_rows(a, ci)
        st.dyn, res = self._transition(self.now(self.exo.f), ci, self.now(self.exo.arr), rows, a, st.dyn, st.t)
        st.invalid_count += res.invalid
        op = res.edge_op
        if np.count_nonzero(op):
            rs = np.flatnonzero(op)
            self._edge_update(rs, ci[rs, C_ZONE], res.target_task[rs], op[rs])
        st.t += 1
        st.k += 1
        if np.count_nonzero(st.k >= self.T):
            self._advance(np.flatnonzero(st.k >= self.T))
        return res._replace(truncated=st.t >= self.horizon)

    # ------------------------------------------------------------------ observation / masks
    def observe(self) -> np.ndarray:
        """Observation of every row: float32 [B, obs_dim] (a fresh array)."""
        p, st = self.p, self.state
        d = st.dyn
        ci = self.now(self.exo.ci)
        task, zone = ci[:, C_TASK], ci[:, C_ZONE]
        out = np.empty((self.B, self.obs_dim), dtype=np.float32)
        nx = self.exo.D
        out[:, :nx] = self.now(self.exo.obs)
        cols = [d.energy_left_j / self.budget_j, 1.0 - store_bytes(p, d) / self.storage,
                np.minimum(d.queue_s / p.latency_budget_s[task], 1.0),
                d.tail_left_s / max(self.p.scenario.device.radio.tail_s, 1e-9), st.t / self.horizon]
        g, pl = d.store_var, d.store_planes
        has = g != self.nomodel
        acc = np.where(has, p.var_plane_accuracy[g, np.maximum(pl - 1, 0)], 0.0)
        svc = np.where(has, np.minimum(p.var_service_s[g] / p.latency_budget_s[None, :], 1.0), 0.0)
        per_task = np.stack([has, acc, p.var_bits[g] / BITS_SCALE, p.var_size_bytes[g] / self.storage, svc,
                             p.var_integer[g], np.where(has, pl / p.var_planes[g], 0.0)], axis=-1)  # [B, K, 7]
        dv = d.dl_var
        total = p.var_size_bytes[dv]
        dpl = np.where(d.dl_active, planes_received(p, dv, d.dl_done_bytes), 0)
        dl_cols = [d.dl_active, np.where(d.dl_active, 1.0 - d.dl_done_bytes / np.maximum(total, 1.0), 0.0),
                   np.where(d.dl_active, p.var_accuracy[dv], 0.0), np.where(d.dl_active, dpl / p.var_planes[dv], 0.0)]
        j = nx
        for col in cols:
            out[:, j] = col
            j += 1
        out[:, j:j + 7 * self.K] = per_task.reshape(self.B, -1)
        j += 7 * self.K
        for col in dl_cols:
            out[:, j] = col
            j += 1
        out[:, j:j + self.K] = (d.dl_task[:, None] == np.arange(self.K)[None, :]) & d.dl_active[:, None]
        j += self.K
        zk = zone[:, None] * self.K + np.arange(self.K)[None, :]
        out[:, j:j + self.K] = np.take_along_axis(st.edge_present, zk, axis=1) if st.edge_present.strides[0] else \
            st.edge_present[0][zk]
        np.clip(out, -1.0, 1.0, out=out)
        return out

    def action_masks(self) -> np.ndarray:
        """Joint action mask of every row: bool [B, n_actions] (a fresh array).

        Built per (source, task, entry) block: keep is (0, 0) only; cancel needs a download in
        flight; evict a model of the task; a download the tier's static validity in the row's
        (edge has, local stores) context of the target task, no download in flight, and the
        variant fitting the free storage.
        """
        p, st = self.p, self.state
        d = st.dyn
        b, k, m = self.B, self.K, p.n_menu
        zone = self.now(self.exo.ci)[:, C_ZONE]
        zk = zone[:, None] * k + np.arange(k)[None, :]
        ep = st.edge_present
        eh = (np.take_along_axis(ep, zk, axis=1) if ep.strides[0] else ep[0][zk]) > 0     # [B, K]
        ctx = eh.astype(np.int64) * 2 + p.zone_local[zone].astype(np.int64)                # [B, K]
        out = np.zeros((b, 6, k, m), dtype=bool)
        out[:, SRC_KEEP, 0, 0] = True
        out[:, SRC_CANCEL, 0, 0] = d.dl_active
        out[:, SRC_EVICT, :, 0] = d.store_var != self.nomodel
        static = self._dl_valid[np.arange(k)[None, :], ctx].transpose(0, 2, 1, 3)           # [B, 3, K, M]
        free = self.storage - store_bytes(p, d)
        fits = self._menu_size[None, :, :] <= free[:, None, None]                          # [B, K, M]
        out[:, SRC_EDGE:] = static & fits[:, None] & ~d.dl_active[:, None, None, None]
        return out.reshape(b, self.A)

    # ------------------------------------------------------------------ planning support
    def planning_view(self, row: int = 0) -> dict[str, np.ndarray]:
        """Per-action estimates and the state of row ``row`` from *observed* quantities (no RNG,
        no state change), for the baselines and the model-predictive controller.

        Per flat action (length n_actions): ``valid``, ``source`` (0 keep, 1 cancel, 2 evict, 3-5
        edge/local/central), ``target_task``, ``entry``, ``variant``, ``tier`` (serving tier of a
        download), ``size_bytes``, ``accuracy``, ``service_s``, ``latency_ok``, ``training_free``,
        ``integer``, ``bits``, ``planes``, ``proxy_score``, ``download_latency_s_est`` (at the
        estimated rate), ``download_energy_j_est`` (receive + connected waiting, no tail).
        Per task (length K): ``store_variant`` (``no_model`` where empty), ``store_planes``,
        ``store_full`` (holds a model with all its planes), ``store_accuracy``, ``store_size_bytes``,
        ``store_service_s``, ``store_last_used``, ``budget_s``, ``request_rate_hz``, ``local_has``,
        ``edge_has``. Scalars: ``task``, ``zone``, ``hour``, ``day``, ``time_in_task_s``,
        ``rate_est_bps``, ``free_bytes``, ``storage_bytes``, ``energy_left_j``,
        ``energy_budget_j``, ``download_pending``, ``download_task``, ``download_variant``,
        ``download_remaining_bytes``, ``tail_left_s``, ``queue_s``, ``dt_s``, ``steps_left``,
        ``no_model`` (the variant index of an empty slot).
        """
        p, st = self.p, self.state
        d = st.dyn
        k = st.k[row]
        cur = self.exo.f[row, k]
        ci = self.exo.ci[row, k]
        task, zone = int(ci[C_TASK]), int(ci[C_ZONE])
        mask = self.action_masks()[row] if self.B == 1 or self._shared else self.fork(row, 1).action_masks()[0]
        ep = st.edge_present[row]
        a = np.arange(self.A)
        rows_ = action_rows(p, a, np.full(self.A, zone), ep)
        rate_est = max(float(cur[E_RATE_EST]), 1.0)
        spb = np.maximum(8.0 / rate_est, rows_[:, AT_SPB_BH])
        fix = rows_[:, AT_FIX_S] + dev.promotion_s(p.scenario.device.radio, 1.0, d.tail_left_s[row])
        lat = download_time_s(fix, rows_[:, AT_SIZE], spb)
        radio = p.scenario.device.radio
        promo = dev.promotion_s(radio, 1.0, d.tail_left_s[row])
        e_dl = (dev.rx_power_w(radio, rate_est) * rows_[:, AT_SIZE] * spb + radio.tail_power_w * (fix - promo)
                + radio.promotion_power_w * promo)
        g = p.act_var
        sv, spl = d.store_var[row], d.store_planes[row]
        has = sv != self.nomodel
        s_acc = np.where(has, p.var_plane_accuracy[sv, np.maximum(spl - 1, 0)], 0.0)
        view = {
            "valid": mask, "source": p.act_src.copy(), "target_task": p.act_task.copy(), "entry": p.act_entry.copy(),
            "variant": g.copy(), "tier": rows_[:, AT_TIER].astype(np.int64), "size_bytes": rows_[:, AT_SIZE].copy(),
            "accuracy": p.var_accuracy[g], "service_s": p.var_service_s[g], "latency_ok": p.var_lat_ok[g],
            "training_free": p.var_training_free[g], "integer": p.var_integer[g], "bits": p.var_bits[g],
            "planes": p.var_planes[g], "proxy_score": p.var_proxy[g],
            "download_latency_s_est": np.where(p.act_src >= SRC_EDGE, lat, 0.0),
            "download_energy_j_est": np.where(p.act_src >= SRC_EDGE, e_dl, 0.0),
            "store_variant": sv.copy(), "store_planes": spl.copy(), "store_full": has & (spl >= p.var_planes[sv]),
            "store_accuracy": s_acc, "store_size_bytes": np.where(
                has, p.var_plane_bytes[sv, np.maximum(spl - 1, 0)], 0.0),
            "store_service_s": np.where(has, p.var_service_s[sv], np.inf), "store_last_used": d.store_used_t[row].copy(),
            "budget_s": p.latency_budget_s.copy(), "request_rate_hz": p.request_rate_hz.copy(),
            "local_has": p.zone_local[zone].copy(), "edge_has": ep[zone * self.K:(zone + 1) * self.K] > 0,
            "task": np.asarray(task), "zone": np.asarray(zone), "hour": np.asarray(cur[E_HOUR]),
            "time_in_task_s": np.asarray(float(ci[C_AGE]) * self.dt), "rate_est_bps": np.asarray(rate_est),
            "free_bytes": np.asarray(self.storage - float(store_bytes(p, _row_dyn(d, row))[0])),
            "storage_bytes": np.asarray(self.storage), "energy_left_j": np.asarray(d.energy_left_j[row]),
            "energy_budget_j": np.asarray(self.budget_j), "download_pending": np.asarray(bool(d.dl_active[row])),
            "download_task": np.asarray(int(d.dl_task[row]) if d.dl_active[row] else -1),
            "download_variant": np.asarray(int(d.dl_var[row])),
            "download_remaining_bytes": np.asarray(float(p.var_size_bytes[d.dl_var[row]] - d.dl_done_bytes[row])
                                                   if d.dl_active[row] else 0.0),
            "tail_left_s": np.asarray(d.tail_left_s[row]), "queue_s": np.asarray(d.queue_s[row]),
            "dt_s": np.asarray(self.dt), "steps_left": np.asarray(self.horizon - int(st.t[row])),
            "no_model": np.asarray(self.nomodel),
            "day": np.asarray(bool(self.exo._is_day(np.asarray(cur[E_HOUR])))),
        }
        for v in view.values():
            v.setflags(write=False)
        return view

    def one_step_rewards(self, row: int = 0) -> np.ndarray:
        """Reward every flat action would get on row ``row``'s true next step (no state/RNG change);
        invalid actions get the invalid-action penalty, as in a real step."""
        f = self.fork(row, self.A)
        a = np.arange(self.A)
        st = f.state
        ci = f.now(f.exo.ci)
        rows = f._action_rows(a, ci)
        _, res = f._transition(f.now(f.exo.f), ci, f.now(f.exo.arr), rows, a, st.dyn, st.t)
        return res.reward

    def fork(self, row: int, n: int) -> BatchSim:
        """``n`` copies of row ``row`` with its pre-generated future (the rest of its current chunk)
        and its state, for clairvoyant planning: stepping them is stepping that row's future with
        other actions. The copies share one copy of the row's exogenous chunk and always step
        together; a fork cannot step past the end of the chunk (RuntimeError)."""
        f = BatchSim.__new__(BatchSim)
        f.__dict__.update({k: v for k, v in self.__dict__.items() if k not in ("exo", "state", "rngs", "ar")})
        f.B = n
        f.ar = np.arange(n)
        f.rngs = [None] * n
        f._frozen = True
        f._shared = True
        exo = ExoBuffer.__new__(ExoBuffer)
        exo.__dict__.update(self.exo.__dict__)
        for name in ("f", "ci", "arr", "obs"):
            setattr(exo, name, getattr(self.exo, name)[row:row + 1].copy())
        exo.B = 1
        f.exo = exo
        st = self.state
        f.state = SimState(dyn=Dyn(*[np.repeat(x[row:row + 1], n, axis=0) for x in st.dyn]),
                           t=np.full(n, st.t[row]), k=np.full(n, st.k[row]),
                           invalid_count=np.full(n, st.invalid_count[row]),
                           edge_present=np.repeat(st.edge_present[row:row + 1], n, axis=0),
                           edge_lastuse=np.repeat(st.edge_lastuse[row:row + 1], n, axis=0))
        return f

    def take_rows(self, keep: np.ndarray) -> None:
        """Keep only rows ``keep`` (in that order; repeats allowed) of a fork, for beam search."""
        if not self._shared:
            raise RuntimeError("take_rows is for forks only")
        keep = np.asarray(keep, dtype=np.int64)
        st = self.state
        self.state = SimState(dyn=Dyn(*[x[keep] for x in st.dyn]), t=st.t[keep], k=st.k[keep],
                              invalid_count=st.invalid_count[keep], edge_present=st.edge_present[keep],
                              edge_lastuse=st.edge_lastuse[keep])
        self.B = len(keep)
        self.ar = np.arange(self.B)
        self.rngs = [None] * self.B

    def steps_left_in_chunk(self, row: int = 0) -> int:
        """Steps of row ``row`` still in its pre-generated chunk (a fork's planning horizon)."""
        return int(self.T - self.state.k[row])

    def true_rate_bps(self, row: int = 0) -> float:
        """True air rate of the row's current step (for tests and rendering)."""
        return float(self.exo.f[row, self.state.k[row], E_RATE])


def _row_dyn(d: Dyn, row: int) -> Dyn:
    return Dyn(*[x[row:row + 1] for x in d])


__all__ = ["BatchSim", "default_chunk_steps", "endo_feature_names"]
