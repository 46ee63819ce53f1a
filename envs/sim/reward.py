"""Reward terms of one step and their weighted sum.

Every term is normalised so that its typical magnitude per step is about 1, the scenario weighs
them (``reward:`` section), and ``info["reward_terms"]`` holds each *weighted, signed*
contribution, so the terms sum to the reward:

* ``accuracy`` (+): sum over this step's requests of the accuracy of the model that served them
  (0 for a failed request), divided by the expected number of requests per step of the task.
* ``failed_requests`` (-): requests that failed (no model of their task on board, or waiting +
  inference over the task's budget), per expected request.
* ``energy`` (-): energy spent this step (radio and inference) in units of the episode budget
  divided by the horizon: spending the whole battery over an episode costs ``weight x horizon``.
  The battery is a real budget: when it is empty the episode terminates.
* ``air_bytes`` (-): GB received over the air this step (the spectrum the download takes from
  the cell's other users).
* ``backhaul_bytes`` (-): GB moved over the backhaul beyond the edge (local and central
  downloads, edge cache fills), charged when the download starts.
* ``invalid_action`` (-): 1 if the action was invalid (handled as keep).
"""

from __future__ import annotations

from scenarios.loader import REWARD_TERMS

#: Names of the reward terms in column order.
TERM_NAMES = REWARD_TERMS
#: Names of the constraint costs in ``info["cost"]`` (Safety-Gymnasium style, >= 0): the energy
#: spent (J) and the failed requests, so a user can train with budgets instead of prices.
COST_NAMES = ("energy_j", "failed_requests")


def weighted_sum(raw, weights):
    """Weighted terms and their sum: ``(tuple of raw_i * w_i, sum)``, summed left to right.

    ``raw`` holds the six unweighted terms in :data:`TERM_NAMES` order (arrays over rows);
    ``weights`` the signed weights (penalties negative), e.g.
    :attr:`envs.sim.params.SimParams.reward_weights`.
    """
    r0, r1, r2, r3, r4, r5 = raw
    w0, w1, w2, w3, w4, w5 = weights
    terms = (r0 * w0, r1 * w1, r2 * w2, r3 * w3, r4 * w4, r5 * w5)
    return terms, terms[0] + terms[1] + terms[2] + terms[3] + terms[4] + terms[5]
