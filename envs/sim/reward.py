"""Reward terms of one step and their weighted sum.

Every term is normalised so that its typical magnitude per step is about 1, the scenario weighs
them (``reward:`` section), and ``info["reward_terms"]`` holds each *weighted, signed*
contribution, so the terms sum to the reward:

* ``accuracy`` (+): sum over this step's requests of the accuracy of the model that served them
  (0 for a failed request), divided by the expected number of requests per step of the task.
* ``latency_violation`` (-): requests served by a model of the right task whose inference latency
  (MACs / compute) exceeds the task's budget, divided by the expected number of requests.
* ``deadline_miss`` (-): 1 if a download started this step takes longer than the task's download
  deadline.
* ``energy`` (-): energy spent this step beyond the per-step allowance (episode budget / horizon),
  in units of that allowance.
* ``backhaul`` (-): bytes moved over the backhaul beyond the edge (local/central downloads and
  edge cache fills), in units of the task's full model size.
* ``invalid_action`` (-): 1 if the action was invalid (handled as a no-op).
"""

from __future__ import annotations

import numpy as np

from scenarios.loader import REWARD_TERMS

#: Names of the reward terms in column order.
TERM_NAMES = REWARD_TERMS
#: Names of the constraint costs in ``info["cost"]`` (Safety-Gymnasium style, >= 0).
COST_NAMES = ("latency_violation", "deadline_miss", "energy_over_budget_j", "invalid_action")


def weighted_terms(raw: np.ndarray, weights: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Weighted terms [B, 6] and reward [B] (row sums, summed in a fixed order per row)."""
    wt = raw * weights
    return wt, wt.sum(axis=1)
