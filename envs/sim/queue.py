"""The device's inference queue: FIFO, one server, deterministic service time per request.

Requests arrive at known instants in the step (:mod:`envs.sim.context`) and are served in
order; request i of a step, served in ``D_i`` seconds (its model's service time), leaves at

    d_i = S_i + max(b, max_{j <= i} (a_j - S_{j-1})),   S_i = D_1 + ... + D_i,

with ``b`` the backlog (seconds of work) at the step start: the Lindley recursion of a FIFO
queue in closed form, vectorised over the requests by a cumulative maximum. A request fails
when its waiting plus service time ``d_i - a_i`` exceeds the task's budget. Requests are not
dropped within the step (every request is computed; late ones count as failed); the work
carried into the next step is capped at the budget, because work older than the budget belongs
to requests that have already failed (*assumption*: stale requests are discarded at the step
boundary, a bounded queue). With an infinite budget this is the M/D/1 queue, whose mean wait is
Pollaczek-Khinchine's ``rho D / (2 (1 - rho))`` (:func:`md1_mean_wait_s`, tested).
"""

from __future__ import annotations

import numpy as np


def fifo_step(backlog_s: np.ndarray, arrivals_s: np.ndarray, service_s: np.ndarray, active: np.ndarray,
              budget_s: np.ndarray, dt_s: float) -> tuple[np.ndarray, np.ndarray]:
    """One step of B queues.

    Args:
        backlog_s: [B] work in the queue at the step start (s).
        arrivals_s: [B, N] arrival instants in the step, ascending along axis 1.
        service_s: [B, N] service time of each request (0 for requests with no model: they are
            not computed and fail).
        active: [B, N] the request exists (its index is below the step's count).
        budget_s: [B] waiting + service budget of the requests.
        dt_s: step length.

    Returns:
        ``(late [B, N] bool: waiting + service over the budget, backlog at the step end [B])``.
    """
    d = np.where(active, service_s, 0.0)
    s = np.cumsum(d, axis=1)
    s_prev = s - d
    start = np.maximum.accumulate(np.where(active, arrivals_s - s_prev, -np.inf), axis=1)
    depart = s + np.maximum(backlog_s[:, None], start)
    late = active & (depart - arrivals_s > budget_s[:, None])
    end = np.where(active.any(axis=1), depart[:, -1], backlog_s)  # inactive tail: s and start carried
    nxt = np.minimum(np.maximum(end - dt_s, 0.0), budget_s)
    return late, nxt


def md1_mean_wait_s(rate_hz: float, service_s: float) -> float:
    """Mean waiting time of the M/D/1 queue (Pollaczek-Khinchine): ``rho D / (2 (1 - rho))``."""
    rho = rate_hz * service_s
    if rho >= 1.0:
        return float("inf")
    return rho * service_s / (2.0 * (1.0 - rho))
