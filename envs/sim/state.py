"""Named state and step-result types of the simulation (numpy only).

* :class:`Dyn`: the per-row state the transition reads and returns (download in flight, model on
  board, energy). Its fields are arrays ``[B]`` in the batched path and Python floats in the
  one-row path, so the same transition code serves both.
* :class:`SimState`: everything that changes during an episode for B rows: the ``Dyn`` arrays,
  the clock and the edge caches.
* :class:`StepResult`: what one step returns, per row.

Model indices: ``m * V + v`` for variant ``v`` of task ``m``'s profile (``V`` variants per task),
``K * V`` for "no model" (K tasks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


class Dyn(NamedTuple):
    """Per-row state of the transition (arrays [B], or Python floats for one row)."""

    model: np.ndarray | float           # model on board (model index, float)
    pending_model: np.ndarray | float   # model of the download in flight (K * V: none)
    pending_fixed_s: np.ndarray | float  # round-trip/compression time still to spend
    pending_bytes: np.ndarray | float   # bytes still to arrive
    pending_s_per_byte_bh: np.ndarray | float  # backhaul seconds per byte of that download
    pending: np.ndarray | float         # 1.0 while a download is in flight
    energy_left_j: np.ndarray | float   # battery energy left (stops at 0: terminated)


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
    def initial(cls, batch_size: int, no_model: float, energy_budget_j: float, n_cache: int) -> SimState:
        """State of ``batch_size`` rows before their first reset."""
        b = batch_size
        dyn = Dyn(np.full(b, no_model), np.full(b, no_model), np.zeros(b), np.zeros(b), np.zeros(b),
                  np.zeros(b), np.full(b, energy_budget_j))
        return cls(dyn=dyn, t=np.zeros(b, dtype=np.int64), k=np.zeros(b, dtype=np.int64),
                   invalid_count=np.zeros(b, dtype=np.int64), edge_present=np.zeros((b, n_cache)),
                   edge_lastuse=np.full((b, n_cache), -np.inf))


class StepResult(NamedTuple):
    """Per-row outputs of one step: arrays [B] from :meth:`BatchSim.step`, Python scalars from
    :meth:`BatchSim.step_row` (``terms`` is then a tuple)."""

    reward: np.ndarray            # float64: weighted sum of the terms
    terminated: np.ndarray        # bool: energy budget spent
    truncated: np.ndarray         # bool: horizon reached
    terms: np.ndarray             # float64 [B, 6]: weighted reward terms (REWARD_TERMS order)
    latency_s: np.ndarray         # download latency of a download started now (0 otherwise)
    energy_j: np.ndarray          # energy spent this step
    bytes_downloaded: np.ndarray  # size of the variant whose download started now
    backhaul_bytes: np.ndarray    # bytes over the backhaul beyond the edge
    source_tier: np.ndarray       # serving tier 0 none/keep, 1 edge, 2 local, 3 central
    action: np.ndarray            # flat action index taken
    variant: np.ndarray           # variant index of the download started now, else of the model kept
    invalid: np.ndarray           # bool
    requests: np.ndarray          # requests this step
    served: np.ndarray            # requests served (expected count)
    latency_violations: np.ndarray  # requests whose inference exceeded the budget
    accuracy_sum: np.ndarray      # sum of accuracies over requests
    deadline_miss: np.ndarray     # bool
    energy_over_j: np.ndarray     # energy beyond the per-step allowance
    air_time_s: np.ndarray        # time the radio received during this step
