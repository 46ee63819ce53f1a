"""Context processes: which task is active (a semi-Markov chain) and when its requests arrive.

* **Sessions.** A task stays active for a session whose length is log-normal (per task: median
  and shape in the scenario), the dwell-time family fitted to app sessions (app-usage studies
  report short, heavy-tailed sessions: a mean of 71.6 s, Boehmer et al., MobileHCI 2011; about
  40 % of app launches under 15 s, Ferreira et al., MobileHCI 2014). When it ends, the next task
  is drawn with probability proportional to its popularity in the current zone and part of the
  day (day or night), the ending task excluded. Lengths are whole steps, at least one.
* **Requests.** Given the Poisson count n of a step, the arrival instants are the order
  statistics of n uniforms on the step, drawn without sorting as normalised cumulative sums of
  n + 1 exponentials (a standard identity: the spacings of uniform order statistics are
  Dirichlet(1, ..., 1)).

Numpy only; every function takes the random draws as arrays, so callers fix the draw order.
"""

from __future__ import annotations

import numpy as np

#: Resolution of the stored arrival instants (fractions of a step, unsigned 16-bit).
ARRIVAL_SCALE = 65536.0


def session_steps(z: np.ndarray, median_s: np.ndarray, sigma: np.ndarray, dt_s: float) -> np.ndarray:
    """Session lengths in steps from standard normals ``z``: ``max(1, round(median exp(sigma z) / dt))``."""
    return np.maximum(1, np.rint(median_s * np.exp(sigma * z) / dt_s)).astype(np.int64)


def next_task_cdf(popularity_day: np.ndarray, popularity_night: np.ndarray) -> np.ndarray:
    """Cumulative next-task probabilities ``[2 (night, day), zones, K (current), K]``: the
    popularities of the zone and part of day with the current task's entry set to 0, normalised
    (the last column is nudged above 1 so that a uniform in [0, 1) always selects a task)."""
    pops = np.stack([popularity_night, popularity_day]).astype(float)   # [2, Z, K]
    k = pops.shape[-1]
    p = np.repeat(pops[:, :, None, :], k, axis=2)                       # [2, Z, K, K]
    p[..., np.arange(k), np.arange(k)] = 0.0
    if k == 1:
        p[...] = 1.0
    p /= p.sum(axis=-1, keepdims=True)
    cdf = np.cumsum(p, axis=-1)
    cdf[..., -1] = 1.0 + 1e-12
    return cdf


def semi_markov_chunk(task0: np.ndarray, left0: np.ndarray, age0: np.ndarray, u_next: np.ndarray,
                      z_len: np.ndarray, zone: np.ndarray, day: np.ndarray, cdf: np.ndarray,
                      median_s: np.ndarray, sigma: np.ndarray, dt_s: float):
    """Tasks of R rows over n steps.

    Args:
        task0, left0, age0: [R] task before the chunk, steps left in its session (>= 0; 0: a new
            session starts at the chunk's first step) and steps
            it has lasted so far.
        u_next, z_len: [R, n] uniforms (next task) and normals (session length) of each step: a
            session ending before step t draws the next task and its length from step t's values.
        zone, day: [R, n] int zone and bool day flag of each step.
        cdf: :func:`next_task_cdf`; median_s, sigma: [K] session parameters per task.

    Returns:
        ``(task [R, n], age [R, n] (steps since the session started, 0 at its first step),
        task, left and age after the chunk)``.
    """
    r, n = u_next.shape
    task = np.empty((r, n), dtype=np.int64)
    switch = np.zeros((r, n), dtype=bool)
    new_task = np.zeros((r, n), dtype=np.int64)
    cur = task0.astype(np.int64).copy()
    start = left0.astype(np.int64).copy()      # step index of the next session start
    rows = np.arange(r)
    active = start < n
    while active.any():
        ra, s = rows[active], start[active]
        c = cdf[day[ra, s].astype(np.int64), zone[ra, s], cur[ra]]     # [m, K]
        nxt = np.minimum((c <= u_next[ra, s][:, None]).sum(axis=1), c.shape[1] - 1)
        switch[ra, s] = True
        new_task[ra, s] = nxt
        cur[ra] = nxt
        start[ra] = s + session_steps(z_len[ra, s], median_s[nxt], sigma[nxt], dt_s)
        active = start < n
    idx = np.where(switch, np.arange(1, n + 1)[None, :], 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    held = np.concatenate([task0.astype(np.int64)[:, None], new_task], axis=1)
    task[:] = np.take_along_axis(held, idx, axis=1)
    steps = np.arange(n)[None, :]
    age = np.where(idx > 0, steps - (idx - 1), age0[:, None] + steps)
    return task, age, cur, start - n, age[:, -1] + 1


def arrival_offsets(exp_draws: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """Arrival instants (fractions of the step, uint16 of :data:`ARRIVAL_SCALE`) of ``counts``
    requests per step from ``exp_draws`` [..., n_max + 1] unit exponentials; entries at and
    beyond the count are the largest value (65535) and must be masked by the count."""
    n_max = exp_draws.shape[-1] - 1
    cum = np.cumsum(exp_draws, axis=-1)
    c = np.minimum(counts.astype(np.int64), n_max)
    total = np.take_along_axis(cum, c[..., None], axis=-1)
    frac = cum[..., :n_max] / total
    out = np.minimum(np.floor(frac * ARRIVAL_SCALE), ARRIVAL_SCALE - 1.0).astype(np.uint16)
    out[np.arange(n_max) >= c[..., None]] = int(ARRIVAL_SCALE - 1)
    return out


def max_requests_per_step(mean: float, tail: float = 1e-9) -> int:
    """Smallest count whose Poisson(mean) tail probability is below ``tail`` (at least 1)."""
    from scipy import stats

    if mean <= 0:
        return 1
    return int(max(1, stats.poisson.isf(tail, mean)))
