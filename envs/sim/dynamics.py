"""The one-step transition of B devices, vectorised over the rows (numpy only).

:func:`transition` is pure: it reads the step's exogenous columns, the actions and the
:class:`~envs.sim.state.Dyn` state and returns the next state and a
:class:`~envs.sim.state.StepResult` (without the clock-dependent flags, which the caller adds).

One step of a row (``docs/model.md`` has the formulas and their sources):

1. **Action.** Keep; cancel the download in flight (a progressive download keeps the bit-planes
   that have arrived if they serve better than the model they would replace); evict a task's
   model from the store; or download a menu variant of *any* task from a tier. A download is
   valid when none is in flight, the tier can serve the variant (stored there, or made on the fly
   at the edge for training-free variants, or forwarded up), and the variant fits the store's
   free space *beside* every model on board (double buffering: the old model of the task keeps
   serving until the new one has arrived). An invalid action is a penalised keep.
2. **Download.** It waits its fixed time (radio promotion when the radio is idle, the round
   trips of the tiers visited, on-the-fly compression), then moves its bytes at each step's true
   seconds per byte ``max(8 / rate_air, 8 / backhaul)``. Bit-planes of integer-coded variants
   arrive most significant first.
3. **Serving.** Requests of the current task are served by the better (more accurate) of the
   store's model for that task and the planes of a download of that task in flight; a download
   that lands planes during the step switches the serving model at the instant its last new plane
   arrives (intermediate planes of the same step are not used: conservative). Requests queue
   FIFO at the device (:mod:`envs.sim.queue`) and fail when waiting + inference exceed the
   task's budget, or when no model of the task is on board.
4. **Energy.** Radio (receive power x air time, tail, promotion: :func:`envs.sim.device.radio_step`)
   plus inference (:func:`envs.sim.device.inference_energy_j`) of every request computed; the
   battery stops at 0 (terminated).
5. **Reward.** The weighted terms of :mod:`envs.sim.reward`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from envs.sim import device as dev
from envs.sim.context import ARRIVAL_SCALE
from envs.sim.exogenous import C_TASK, E_INV_EXPREQ, E_INVRATE, E_NREQ, E_RATE
from envs.sim.library import download_time_s
from envs.sim.params import (
    AT_BH_BYTES,
    AT_EDGE_OP,
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
)
from envs.sim.queue import fifo_step
from envs.sim.reward import weighted_sum
from envs.sim.state import Dyn, StepResult

#: Bytes per GB (the unit of the byte terms).
GB = 1e9


@dataclass(frozen=True)
class StepConstants:
    """Per-scenario constants the transition reads (built once by :class:`BatchSim`)."""

    n_tasks: int
    no_model: int
    dt_s: float
    storage_bytes: float
    inv_allowance: float
    weights: tuple[float, ...]
    radio: object


def store_bytes(p: SimParams, s: Dyn) -> np.ndarray:
    """Bytes the store holds or has reserved, per row: the models on board plus the full size of
    the download in flight."""
    held = p.var_plane_bytes[s.store_var, np.maximum(s.store_planes - 1, 0)]
    held = np.where(s.store_var == p.no_model, 0.0, held).sum(axis=1)
    return held + np.where(s.dl_active, p.var_size_bytes[s.dl_var], 0.0)


def planes_received(p: SimParams, g: np.ndarray, done_bytes: np.ndarray) -> np.ndarray:
    """Bit-planes of variant ``g`` complete after ``done_bytes`` bytes (float variants: 0 or 1)."""
    cum = p.var_plane_bytes[g]
    n = (cum <= done_bytes[:, None] * (1.0 + 1e-12)).sum(axis=1)
    return np.minimum(n, p.var_planes[g])


def action_rows(p: SimParams, a: np.ndarray, zone: np.ndarray, edge_present: np.ndarray) -> np.ndarray:
    """Resolved action-table rows [B, N_AT] of flat actions ``a``: the tier context is whether the
    zone's edge caches the target task's full model and whether the zone's local tier stores it."""
    k = p.act_task[a]
    zk = zone * p.n_tasks + k
    eh = edge_present[np.arange(len(a)), zk] > 0 if edge_present.ndim == 2 else edge_present[zk] > 0
    lh = p.zone_local[zone, k]
    return p.act_table[a, eh.astype(np.int64) * 2 + lh.astype(np.int64)]


def transition(p: SimParams, c: StepConstants, cur: np.ndarray, ci: np.ndarray, arr: np.ndarray,
               rows: np.ndarray, a: np.ndarray, s: Dyn, t: np.ndarray) -> tuple[Dyn, StepResult]:
    """One step of every row.

    Args:
        p, c: the scenario's tables and constants.
        cur: [B, N_E_FIELDS] the step's exogenous floats; ci: [B, N_C_FIELDS] its task, zone,
            session age; arr: [B, n_max] arrival instants (uint16 fractions of the step).
        rows: [B, N_AT] the resolved action rows (:func:`action_rows`).
        a: [B] flat actions; s: the state; t: [B] the step index in the episode.
    """
    b = len(a)
    ar = np.arange(b)
    dt = c.dt_s
    task = ci[:, C_TASK]
    src = p.act_src[a]
    k_act = p.act_task[a]
    g_act = p.act_var[a]
    store_var, store_planes, store_used = s.store_var.copy(), s.store_planes.copy(), s.store_used_t.copy()
    dl_active, dl_task, dl_var = s.dl_active.copy(), s.dl_task.copy(), s.dl_var.copy()
    dl_tier, dl_fix, dl_done, dl_spb = s.dl_tier.copy(), s.dl_fixed_s.copy(), s.dl_done_bytes.copy(), \
        s.dl_s_per_byte_bh.copy()
    dl_promo = s.dl_promo_s.copy()

    # ---- 1. the action
    free = c.storage_bytes - store_bytes(p, s)
    static_ok = rows[:, AT_VALID] > 0.5
    ok_dl = (src >= SRC_EDGE) & static_ok & ~dl_active & (rows[:, AT_SIZE] <= free)
    ok_cancel = (src == SRC_CANCEL) & static_ok & dl_active
    ok_evict = (src == SRC_EVICT) & static_ok & (store_var[ar, k_act] != c.no_model)
    valid = ((src == SRC_KEEP) & static_ok) | ok_dl | ok_cancel | ok_evict
    # evict
    ev = np.flatnonzero(ok_evict)
    store_var[ev, k_act[ev]] = c.no_model
    store_planes[ev, k_act[ev]] = 0
    # cancel: the planes that have arrived replace the task's model if they serve better
    cn = np.flatnonzero(ok_cancel)
    if cn.size:
        g, kk = dl_var[cn], dl_task[cn]
        pl = planes_received(p, g, dl_done[cn])
        acc_new = np.where(pl > 0, p.var_plane_accuracy[g, np.maximum(pl - 1, 0)], -1.0)
        old_g, old_p = store_var[cn, kk], store_planes[cn, kk]
        acc_old = np.where(old_g != c.no_model, p.var_plane_accuracy[old_g, np.maximum(old_p - 1, 0)], -1.0)
        keep_new = (pl > 0) & (acc_new > acc_old)
        store_var[cn, kk] = np.where(keep_new, g, old_g)
        store_planes[cn, kk] = np.where(keep_new, pl, old_p)
        dl_active[cn] = False
    # start a download
    promo = dev.promotion_s(c.radio, ok_dl, s.tail_left_s)
    st = np.flatnonzero(ok_dl)
    dl_active[st] = True
    dl_task[st] = k_act[st]
    dl_var[st] = g_act[st]
    dl_tier[st] = rows[st, AT_TIER].astype(np.int64)
    dl_fix[st] = rows[st, AT_FIX_S] + promo[st]
    dl_promo[st] = promo[st]
    dl_done[st] = 0.0
    dl_spb[st] = rows[st, AT_SPB_BH]
    dl_var = np.where(dl_active, dl_var, c.no_model)

    # ---- 2. progress of the download in flight
    any_dl = bool(dl_active.any())  # (a batch-level fast path: no row downloads)
    if any_dl:
        total = np.where(dl_active, p.var_size_bytes[dl_var], 0.0)
        spb = np.maximum(cur[:, E_INVRATE], dl_spb)
        t_fix = np.where(dl_active, np.minimum(dl_fix, dt), 0.0)
        t_promo = np.where(dl_active, np.minimum(dl_promo, t_fix), 0.0)  # the promotion comes first
        t_need = (total - dl_done) * spb
        t_tx = np.where(dl_active, np.minimum(t_need, dt - t_fix), 0.0)
        complete = dl_active & (t_fix + t_need <= dt)
        done_after = np.where(complete, total, dl_done + t_tx / spb)
        p0 = np.where(dl_active, planes_received(p, dl_var, dl_done), 0)
        p1 = np.where(dl_active, planes_received(p, dl_var, done_after), 0)
        lat = np.where(ok_dl, download_time_s(rows[:, AT_FIX_S] + promo, rows[:, AT_SIZE], spb), 0.0)
        # instant (s) the serving model may change: when the last plane landing in this step lands
        new_planes = p1 > p0
        last_plane_bytes = p.var_plane_bytes[dl_var, np.maximum(p1 - 1, 0)]
        tau = np.where(new_planes, np.clip(t_fix + (last_plane_bytes - dl_done) * spb, 0.0, dt), np.inf)
    else:
        zeros = np.zeros(b)
        t_fix = t_promo = t_tx = done_after = lat = zeros
        complete = np.zeros(b, dtype=bool)
        tau = np.full(b, np.inf)

    # ---- 3. serving the current task's requests
    slot_g = store_var[ar, task]
    slot_p = store_planes[ar, task]
    has_slot = slot_g != c.no_model
    acc_slot = np.where(has_slot, p.var_plane_accuracy[slot_g, np.maximum(slot_p - 1, 0)], -1.0)
    if any_dl:
        same = dl_active & (dl_task == task)

        def serving(planes):
            acc_dl = np.where(same & (planes > 0), p.var_plane_accuracy[dl_var, np.maximum(planes - 1, 0)], -1.0)
            use_dl = acc_dl > acc_slot
            g = np.where(use_dl, dl_var, slot_g)
            return np.where(use_dl, acc_dl, acc_slot), g, (use_dl | has_slot)

        acc0, g0, has0 = serving(p0)
        acc1, g1, has1 = serving(p1)
    else:
        acc0 = acc1 = acc_slot
        g0 = g1 = slot_g
        has0 = has1 = has_slot
    nreq = cur[:, E_NREQ]
    n_max = arr.shape[1]
    active = np.arange(n_max)[None, :] < nreq[:, None]
    arrive = arr.astype(np.float64) * (dt / ARRIVAL_SCALE)
    after = arrive >= tau[:, None]
    acc_j = np.where(after, acc1[:, None], acc0[:, None])
    g_j = np.where(after, g1[:, None], g0[:, None])
    has_j = np.where(after, has1[:, None], has0[:, None]) & active
    service_j = np.where(has_j, p.var_service_s[g_j], 0.0)
    budget = p.latency_budget_s[task]
    late, queue_next = fifo_step(s.queue_s, arrive, service_j, has_j, budget, dt)
    served_j = has_j & ~late
    served = served_j.sum(axis=1).astype(np.float64)
    acc_sum = np.where(served_j, acc_j, 0.0).sum(axis=1)
    e_inf = np.where(has_j, p.var_energy_j[g_j], 0.0).sum(axis=1)
    used_now = served > 0
    store_used[ar[used_now], task[used_now]] = t[used_now]

    # ---- 4. energy
    e_radio, tail_next = dev.radio_step(c.radio, dt, t_promo, s.tail_left_s, t_fix, t_tx, cur[:, E_RATE])
    energy = e_radio + e_inf
    energy_left = np.maximum(s.energy_left_j - energy, 0.0)

    # ---- 5. bookkeeping: a completed download replaces the task's model
    cp = np.flatnonzero(complete)
    store_var[cp, dl_task[cp]] = dl_var[cp]
    store_planes[cp, dl_task[cp]] = p.var_planes[dl_var[cp]]
    still = dl_active & ~complete
    nxt = Dyn(store_var, store_planes, store_used, still, np.where(still, dl_task, 0),
              np.where(still, dl_var, c.no_model), np.where(still, dl_tier, 0),
              np.where(still, dl_fix - t_fix, 0.0), np.where(still, dl_promo - t_promo, 0.0),
              np.where(still, done_after, 0.0),
              np.where(still, dl_spb, 0.0), energy_left, tail_next, queue_next)

    # ---- 6. reward
    inv_exp = cur[:, E_INV_EXPREQ]
    failed = nreq - served
    air = np.where(dl_active, done_after - dl_done, 0.0)
    bh = np.where(ok_dl, rows[:, AT_BH_BYTES], 0.0)
    invalid = ~valid
    terms, reward = weighted_sum((acc_sum * inv_exp, failed * inv_exp, energy * c.inv_allowance, air / GB,
                                  bh / GB, invalid * 1.0), c.weights)
    res = StepResult(
        reward=reward, terminated=energy_left <= 0.0, truncated=np.zeros(b, dtype=bool),
        terms=np.stack(terms, axis=1), action=a, invalid=invalid,
        source_tier=np.where(ok_dl, rows[:, AT_TIER], 0).astype(np.int64),
        target_task=np.where(ok_dl | ok_evict, k_act, -1),
        variant=np.where(ok_dl, g_act, c.no_model), download_latency_s=lat, downloaded=complete,
        cancelled=ok_cancel, requests=nreq, served=served, accuracy_sum=acc_sum,
        no_model=(active & ~has_j).sum(axis=1).astype(np.float64), late=late.sum(axis=1).astype(np.float64),
        energy_j=energy, energy_radio_j=e_radio, air_bytes=air, backhaul_bytes=bh, air_time_s=t_tx,
        edge_op=np.where(ok_dl, rows[:, AT_EDGE_OP], 0.0))
    return nxt, res
