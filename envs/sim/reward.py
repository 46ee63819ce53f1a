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

from scenarios.loader import REWARD_TERMS

#: Names of the reward terms in column order.
TERM_NAMES = REWARD_TERMS
#: Names of the constraint costs in ``info["cost"]`` (Safety-Gymnasium style, >= 0).
COST_NAMES = ("latency_violation", "deadline_miss", "energy_over_budget_j", "invalid_action")


def weighted_sum(raw, weights):
    """Weighted terms and their sum: ``(tuple of raw_i * w_i, sum)``, summed left to right.

    ``raw`` holds the six unweighted terms in :data:`TERM_NAMES` order (arrays over rows or Python
    floats of one row); ``weights`` the signed weights (penalties negative), e.g.
    :attr:`envs.sim.params.SimParams.reward_weights`. Written out for the six terms: this runs
    once per step of the single env.
    """
    r0, r1, r2, r3, r4, r5 = raw
    w0, w1, w2, w3, w4, w5 = weights
    terms = (r0 * w0, r1 * w1, r2 * w2, r3 * w3, r4 * w4, r5 * w5)
    return terms, terms[0] + terms[1] + terms[2] + terms[3] + terms[4] + terms[5]
