"""The one-step transition of one device, written once for arrays over rows and for one row.

:func:`transition` is pure: it reads the step's exogenous columns, the action and the
:class:`~envs.sim.state.Dyn` state and returns the next state and the step's outputs. It is
written against a tiny array backend ``xp``:

* :data:`NUMPY_OPS`: every value is an array over the B rows; a table look-up returns the
  gathered rows *transposed*, so ``row[j]`` is column j for every row;
* :data:`SCALAR_OPS`: every value is a Python float of one row and the tables are nested lists
  (the single env's fast path: a few dozen float operations instead of numpy calls).

Only IEEE-exact operations (+, -, *, /, min, max, comparisons) touch the values, so both
backends give bit-identical results. The caller gathers the columns of the row(s) (``cur``:
the ``E_*`` columns of the exogenous table, ``ci``: task, zone * K + task, action-table base)
and passes them in; nothing here branches on the backend.

One step (see ``docs/model.md``):

1. the action is looked up in the action table for the row's (task, download in flight, edge
   has the task's model, local tier has it): an invalid action becomes a penalised no-op;
2. a download starts: it first spends its fixed time (round trips + on-the-fly compression),
   then moves its bytes at each step's *true* seconds per byte ``max(8 / rate_air, 8 /
   backhaul)``, re-read every step; :func:`envs.sim.library.download_time_s` is its latency if
   this step's rate held (checked against the deadline); no other download can start meanwhile;
3. this step's requests are served *in situ*: the old model serves the fraction of the step
   before the new one arrives, the new one the rest; a request succeeds with the model's
   accuracy if the model is for the request's task and meets the task's inference budget;
4. energy: receive power x air time, plus ``MACs x e_mac(bits)`` per request processed by a
   model of the right task; the battery stops at 0;
5. the weighted reward terms (:mod:`envs.sim.reward`).
"""

from __future__ import annotations

import operator
from dataclasses import dataclass

import numpy as np

from envs.sim.exogenous import E_DEADLINE, E_INV_EXPREQ, E_INVRATE, E_NREQ
from envs.sim.library import download_time_s
from envs.sim.params import (
    A_BH_NORM,
    A_INVBH,
    A_IS_DL,
    A_LFIX,
    A_MI,
    A_SIZE,
    A_VALID,
    M_ACC,
    M_EINF,
    M_LATV,
    M_SERVED,
)
from envs.sim.reward import weighted_sum
from envs.sim.state import Dyn


class _NumpyOps:
    """Array backend: values are arrays over rows; table look-ups return transposed rows."""

    minimum = staticmethod(np.minimum)
    maximum = staticmethod(np.maximum)

    @staticmethod
    def take(table, idx):
        """Rows ``idx`` of ``table`` as columns ([F, B]); ``np.take`` is several times faster
        than ``table[idx]`` for row gathers."""
        return np.take(table, idx, axis=0).T

    @staticmethod
    def to_int(x):
        return x.astype(np.int64)


class _ScalarOps:
    """Python-scalar backend of one row: lists instead of arrays."""

    minimum = staticmethod(min)
    maximum = staticmethod(max)
    take = staticmethod(operator.getitem)  # on the list forms of the tables
    to_int = int


NUMPY_OPS = _NumpyOps()
SCALAR_OPS = _ScalarOps()


@dataclass(frozen=True)
class StepConstants:
    """Per-scenario constants the transition reads (built once by :class:`BatchSim`)."""

    n_actions: int
    n_tasks: int
    dt_s: float
    inv_dt: float
    no_model: float
    rx_power_w: float
    allowance_j: float
    inv_allowance: float
    weights: tuple[float, ...]


def transition(xp, c: StepConstants, at, mt, cur, ci, eh, a, s: Dyn):
    """One step of every row (``xp = NUMPY_OPS``) or of one row (``SCALAR_OPS``).

    Args:
        xp: the backend.
        c: the scenario's :class:`StepConstants`.
        at, mt: action and model tables (arrays, or nested lists for the scalar backend).
        cur: the step's ``E_*`` columns (``cur[E_RATE]`` ...); ci: task, zone * K + task and the
            action-table base index; eh: the edge cache holds the task's model (1.0 / 0.0).
        a: flat action index.
        s: the state before the step.

    Returns:
        ``(next state, outputs)`` with outputs ``(reward, terms, latency_s, energy_j, row,
        requests, served, latency_violations, accuracy_sum, deadline_miss, energy_over_j,
        invalid, air_time_s)``; ``row`` is the action-table row (columns ``A_*``).
    """
    model, pend_mi, pend_fix, pend_bytes, pend_spbh, pend_act, energy_left = s
    task = ci[0]
    row = xp.take(at, ci[2] + xp.to_int(pend_act * 4.0 + eh * 2.0) * c.n_actions + a)
    is_dl = row[A_IS_DL]
    # a download starts (only when none is in flight: the pending fields are 0 then)
    pend_fix = pend_fix + row[A_LFIX]
    pend_bytes = pend_bytes + row[A_SIZE]
    pend_spbh = pend_spbh + row[A_INVBH]
    pend_mi = xp.minimum(pend_mi, row[A_MI])
    pend_act = pend_act + is_dl
    spb = xp.maximum(cur[E_INVRATE], pend_spbh)  # seconds per byte this step
    lat = download_time_s(row[A_LFIX], row[A_SIZE], spb)
    # progress within this step
    dt = c.dt_s
    t_fix = xp.minimum(pend_fix, dt)
    t_need = pend_bytes * spb
    t_tx = xp.minimum(t_need, dt - t_fix)
    arr = pend_act * (t_fix + t_need <= dt)  # the new model arrives in this step
    q = (t_fix + t_tx) * c.inv_dt            # fraction of the step before arrival
    nreq = cur[E_NREQ]
    wo = (arr * q + (1.0 - arr)) * nreq  # requests the old model serves
    wn = arr * (1.0 - q) * nreq          # requests the new model serves
    mo = xp.take(mt, xp.to_int(model) * c.n_tasks + task)
    mn = xp.take(mt, xp.to_int(pend_mi) * c.n_tasks + task)
    served = wo * mo[M_SERVED] + wn * mn[M_SERVED]
    acc_sum = wo * mo[M_ACC] + wn * mn[M_ACC]
    latv = wo * mo[M_LATV] + wn * mn[M_LATV]
    energy = c.rx_power_w * t_tx + (wo * mo[M_EINF] + wn * mn[M_EINF])
    energy_left = xp.maximum(energy_left - energy, 0.0)  # the battery stops at empty (terminated)
    over = xp.maximum(energy - c.allowance_j, 0.0)
    inv_exp = cur[E_INV_EXPREQ]
    dmiss = (lat > cur[E_DEADLINE]) * 1.0
    invalid = 1.0 - row[A_VALID]
    terms, reward = weighted_sum((acc_sum * inv_exp, latv * inv_exp, dmiss, over * c.inv_allowance,
                                  row[A_BH_NORM], invalid), c.weights)
    # bookkeeping of the download in flight; arrival: the new model replaces the old one
    keep = 1.0 - arr
    nxt = Dyn(model + arr * (pend_mi - model), pend_mi + arr * (c.no_model - pend_mi),
              (pend_fix - t_fix) * keep, (pend_bytes - t_tx / spb) * keep, pend_spbh * keep,
              pend_act - arr, energy_left)
    return nxt, (reward, terms, lat, energy, row, nreq, served, latv, acc_sum, dmiss, over, invalid, t_tx)
