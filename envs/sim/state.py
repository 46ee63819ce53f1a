"""Named state and step-result types of the simulation (numpy only).

* :class:`Dyn`: the per-row state the transition reads and returns: the model store, the
  download in flight, the battery, the radio tail and the inference queue (arrays with leading
  axis B; the store arrays are [B, K], one slot per task).
* :class:`SimState`: everything that changes during an episode for B rows: the ``Dyn`` arrays,
  the clock and the edge caches.
* :class:`StepResult`: what one step returns, per row.

Variants are global indices ``g = task * V + v`` (:mod:`envs.sim.params`); ``K * V`` is "no model".
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


class Dyn(NamedTuple):
    """Per-row state of the transition (arrays over the B rows)."""

    store_var: np.ndarray     # int64 [B, K]: variant held for each task (no model: K * V)
    store_planes: np.ndarray  # int64 [B, K]: bit-planes of it on board (float variants: 1)
    store_used_t: np.ndarray  # float [B, K]: last step the model served a request (-inf: never)
    dl_active: np.ndarray     # bool [B]: a download is in flight
    dl_task: np.ndarray       # int64 [B]: its task
    dl_var: np.ndarray        # int64 [B]: its variant
    dl_tier: np.ndarray       # int64 [B]: its serving tier (1 edge, 2 local, 3 central)
    dl_fixed_s: np.ndarray    # float [B]: promotion, round trips and compression still to wait
    dl_promo_s: np.ndarray    # float [B]: of which the radio promotion (it comes first)
    dl_done_bytes: np.ndarray  # float [B]: bytes arrived so far
    dl_s_per_byte_bh: np.ndarray  # float [B]: backhaul seconds per byte of the serving tier
    energy_left_j: np.ndarray  # float [B]: battery left (stops at 0: terminated)
    tail_left_s: np.ndarray   # float [B]: radio tail still to run (0: idle)
    queue_s: np.ndarray       # float [B]: inference work waiting at the step start


def initial_dyn(batch_size: int, n_tasks: int, no_model: int, energy_budget_j: float) -> Dyn:
    """State of ``batch_size`` rows before their first reset (empty store, nothing in flight)."""
    b, k = batch_size, n_tasks
    return Dyn(np.full((b, k), no_model, dtype=np.int64), np.zeros((b, k), dtype=np.int64),
               np.full((b, k), -np.inf), np.zeros(b, dtype=bool), np.zeros(b, dtype=np.int64),
               np.full(b, no_model, dtype=np.int64), np.zeros(b, dtype=np.int64), np.zeros(b), np.zeros(b),
               np.zeros(b), np.zeros(b), np.full(b, energy_budget_j), np.zeros(b), np.zeros(b))


@dataclass
class SimState:
    """Endogenous state of B rows (every array has the leading batch axis B).

    Attributes:
        dyn: the :class:`Dyn` arrays.
        t: int64 [B], steps since the row's reset.
        k: int64 [B], index of the row's current step in its pre-generated chunk.
        invalid_count: int64 [B], invalid actions since the reset.
        edge_present, edge_lastuse: float [B, n_zones * K], the edge LRU cache of every zone
            (1.0 where the task's full model is cached; time of last use, -inf where absent).
            Devices of one cell share one cache through zero-stride views
            (:meth:`envs.sim.cell.CellSim.share_edge_cache`).
    """

    dyn: Dyn
    t: np.ndarray
    k: np.ndarray
    invalid_count: np.ndarray
    edge_present: np.ndarray
    edge_lastuse: np.ndarray

    @classmethod
    def initial(cls, batch_size: int, n_tasks: int, no_model: int, energy_budget_j: float,
                n_cache: int) -> SimState:
        """State of ``batch_size`` rows before their first reset."""
        b = batch_size
        return cls(dyn=initial_dyn(b, n_tasks, no_model, energy_budget_j), t=np.zeros(b, dtype=np.int64),
                   k=np.zeros(b, dtype=np.int64), invalid_count=np.zeros(b, dtype=np.int64),
                   edge_present=np.zeros((b, n_cache)), edge_lastuse=np.full((b, n_cache), -np.inf))


class StepResult(NamedTuple):
    """Per-row outputs of one step (arrays [B]; ``terms`` is [B, 6])."""

    reward: np.ndarray            # float64: weighted sum of the terms
    terminated: np.ndarray        # bool: battery empty
    truncated: np.ndarray         # bool: horizon reached
    terms: np.ndarray             # float64 [B, 6]: weighted reward terms (REWARD_TERMS order)
    action: np.ndarray            # flat action index taken
    invalid: np.ndarray           # bool: the action was invalid (executed as keep)
    source_tier: np.ndarray       # int: serving tier of a download started now (0: none)
    target_task: np.ndarray       # int: task of a download started now / model evicted (-1: none)
    variant: np.ndarray           # int: global variant of a download started now (K * V: none)
    download_latency_s: np.ndarray  # latency of a download started now if this step's rate held
    downloaded: np.ndarray        # bool: a download completed in this step
    cancelled: np.ndarray         # bool: a download was cancelled in this step
    requests: np.ndarray          # requests this step
    served: np.ndarray            # requests served within their budget
    accuracy_sum: np.ndarray      # sum of the accuracies of the served requests
    no_model: np.ndarray          # requests that found no model of their task in the store
    late: np.ndarray              # requests over the budget (waiting + inference)
    energy_j: np.ndarray          # energy spent this step (radio + inference)
    energy_radio_j: np.ndarray    # of which the radio (receive, tail, promotion)
    air_bytes: np.ndarray         # bytes received over the air this step
    backhaul_bytes: np.ndarray    # bytes over the backhaul beyond the edge (at download start)
    air_time_s: np.ndarray        # time the radio received during this step
    edge_op: np.ndarray           # edge-cache operation of a download started now (internal)
