"""The context processes: semi-Markov task sessions (log-normal lengths, popularity by zone and
part of day, no self-switches) and the arrival instants of the requests."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats

from envs.sim import context as ctx

#: Three tasks with different session medians (in steps of dt = 1 s) and shapes.
MEDIAN_S = np.array([5.0, 20.0, 50.0])
SIGMA = np.array([0.5, 0.8, 0.3])
#: Popularity per zone (2 zones) by day and by night.
POP_DAY = np.array([[6.0, 3.0, 1.0], [1.0, 1.0, 8.0]])
POP_NIGHT = np.array([[1.0, 4.0, 5.0], [2.0, 2.0, 2.0]])


def _chain(rows=400, n=4000, seed=0, zone=None, day=None):
    rng = np.random.default_rng(seed)
    cdf = ctx.next_task_cdf(POP_DAY, POP_NIGHT)
    task0 = rng.integers(0, 3, rows)
    left0 = np.ones(rows, dtype=np.int64)  # its last step is step 0: the first switch is at step 1
    age0 = np.ones(rows, dtype=np.int64)  # the session under way started a step before the chunk
    zone = rng.integers(0, 2, (rows, n)) if zone is None else zone
    day = rng.random((rows, n)) < 0.5 if day is None else day
    u, z = rng.random((rows, n)), rng.standard_normal((rows, n))
    out = ctx.semi_markov_chunk(task0, left0, age0, u, z, zone, day, cdf, MEDIAN_S, SIGMA, 1.0)
    return out, (task0, zone, day)


def test_session_steps_rounding_and_floor():
    z = np.array([0.0, 0.0, -10.0, 1.0])
    got = ctx.session_steps(z, np.array([25.0, 0.2, 25.0, 10.0]), np.array([1.0, 1.0, 1.0, 0.5]), 1.0)
    assert got.tolist() == [25, 1, 1, round(10 * math.exp(0.5))]
    assert ctx.session_steps(np.zeros(1), np.array([25.0]), np.ones(1), 0.5).tolist() == [50]


def test_next_task_cdf_excludes_the_current_task():
    cdf = ctx.next_task_cdf(POP_DAY, POP_NIGHT)
    assert cdf.shape == (2, 2, 3, 3)  # (night, day), zone, current, next
    p = np.diff(np.concatenate([np.zeros(cdf.shape[:-1] + (1,)), np.minimum(cdf, 1.0)], axis=-1), axis=-1)
    assert np.allclose(p[..., [0, 1, 2], [0, 1, 2]], 0.0)
    # zone 0 by day, current task 0: next is 1 or 2 with 3 : 1
    assert p[1, 0, 0].tolist() == pytest.approx([0.0, 0.75, 0.25])
    # zone 1 by night, current task 2: next 0 or 1, equally
    assert p[0, 1, 2].tolist() == pytest.approx([0.5, 0.5, 0.0])
    assert np.all(cdf[..., -1] > 1.0)
    one = ctx.next_task_cdf(np.array([[1.0]]), np.array([[1.0]]))
    assert np.all(one[..., -1] > 1.0)  # a single task always "switches" to itself


def _sessions(task, age):
    """(task, length) of every complete session starting at step >= 1 and before n - 1000."""
    rows, n = task.shape
    out_t, out_len = [], []
    for r in range(rows):
        starts = np.flatnonzero(age[r] == 0)
        starts = starts[starts >= 1]
        for s, e in zip(starts[:-1], starts[1:]):
            if s < n - 1000:
                out_t.append(task[r, s])
                out_len.append(e - s)
    return np.array(out_t), np.array(out_len)


def test_session_lengths_are_log_normal_with_the_task_median():
    (task, age, *_), _ = _chain()
    kind, length = _sessions(task, age)
    for k in range(3):
        lens = length[kind == k]
        assert len(lens) > 3000
        # the median of the rounded log-normal length is the median (whole steps here)
        assert np.median(lens) == pytest.approx(MEDIAN_S[k], abs=max(1.0, 0.04 * MEDIAN_S[k]))
        # the whole distribution: P(L <= j) = Phi(ln((j + 1/2) / median) / sigma), j >= 1 (DKW band)
        j = np.arange(1, int(lens.max()) + 1)
        want = stats.norm.cdf(np.log((j + 0.5) / MEDIAN_S[k]) / SIGMA[k])
        got = np.searchsorted(np.sort(lens), j, side="right") / len(lens)
        eps = math.sqrt(math.log(2 / 1e-6) / (2 * len(lens)))
        assert np.max(np.abs(got - want)) < eps, k


def test_next_task_never_equals_the_ending_task_and_age_counts_steps():
    (task, age, cur, left, age_end), (task0, _, _) = _chain(rows=200, n=2000, seed=1)
    start = age == 0
    prev = np.concatenate([task0[:, None], task[:, :-1]], axis=1)
    assert np.all(task[start] != prev[start])            # a new session is another task
    assert np.all(task[~start] == prev[~start])          # within a session the task holds
    assert np.all(age[:, 1:][~start[:, 1:]] == age[:, :-1][~start[:, 1:]] + 1)
    assert np.array_equal(cur, task[:, -1]) and np.all(left >= 0)  # 0: the next chunk starts a session
    assert np.array_equal(age_end, age[:, -1] + 1)


def test_next_task_follows_popularity_by_zone_and_part_of_day():
    (task, age, *_), (task0, zone, day) = _chain(rows=400, n=3000, seed=2)
    start = age == 0
    prev = np.concatenate([task0[:, None], task[:, :-1]], axis=1)
    for d, pops in ((True, POP_DAY), (False, POP_NIGHT)):
        for z in range(2):
            for c in range(3):
                sel = start & (zone == z) & (day == d) & (prev == c)
                n = sel.sum()
                assert n > 500
                p = pops[z].copy()
                p[c] = 0
                p /= p.sum()
                freq = np.bincount(task[sel], minlength=3) / n
                assert freq[c] == 0
                tol = 4.5 * np.sqrt(p * (1 - p) / n) + 1e-12
                assert np.all(np.abs(freq - p) <= tol), (d, z, c, freq, p)


def test_chunks_continue_a_session_exactly():
    """Two chunks (carrying task, steps left and age) equal one long chunk with the same draws."""
    rng = np.random.default_rng(3)
    rows, n = 50, 300
    cdf = ctx.next_task_cdf(POP_DAY, POP_NIGHT)
    task0 = rng.integers(0, 3, rows)
    left0 = rng.integers(1, 30, rows)
    age0 = rng.integers(1, 10, rows)
    zone, day = rng.integers(0, 2, (rows, n)), rng.random((rows, n)) < 0.5
    u, z = rng.random((rows, n)), rng.standard_normal((rows, n))
    full = ctx.semi_markov_chunk(task0, left0, age0, u, z, zone, day, cdf, MEDIAN_S, SIGMA, 1.0)
    h = 137
    a = ctx.semi_markov_chunk(task0, left0, age0, u[:, :h], z[:, :h], zone[:, :h], day[:, :h], cdf,
                              MEDIAN_S, SIGMA, 1.0)
    b = ctx.semi_markov_chunk(a[2], a[3], a[4], u[:, h:], z[:, h:], zone[:, h:], day[:, h:], cdf,
                              MEDIAN_S, SIGMA, 1.0)
    assert np.array_equal(np.concatenate([a[0], b[0]], axis=1), full[0])
    assert np.array_equal(np.concatenate([a[1], b[1]], axis=1), full[1])
    # the session under way at the start lasts left0 steps
    first_switch = np.argmax(full[1] == 0, axis=1)
    assert np.array_equal(first_switch[left0 < n], left0[left0 < n])


# ---------------------------------------------------------------------------- arrivals
def test_arrival_offsets_sorted_and_uniform():
    rng = np.random.default_rng(4)
    n_max = 40
    counts = rng.poisson(8.0, 20000)
    counts[:5] = [0, 1, n_max, n_max + 7, 3]
    arr = ctx.arrival_offsets(rng.standard_exponential((20000, n_max + 1)), counts)
    assert arr.dtype == np.uint16 and arr.shape == (20000, n_max)
    c = np.minimum(counts, n_max)
    valid = np.arange(n_max)[None, :] < c[:, None]
    assert np.all(arr[~valid] == 65535)
    # ascending within the count
    d = np.diff(arr.astype(np.int64), axis=1)
    assert np.all(d[valid[:, 1:]] >= 0)
    # pooled instants are uniform on the step (KS), and so is each order statistic's mean
    x = (arr[valid].astype(float) + 0.5) / ctx.ARRIVAL_SCALE
    assert stats.kstest(x, "uniform").pvalue > 1e-3
    # the first of n uniforms has mean 1 / (n + 1)
    n8 = counts == 8
    first = arr[n8, 0].astype(float) / ctx.ARRIVAL_SCALE
    assert first.mean() == pytest.approx(1 / 9, abs=4 * first.std() / math.sqrt(n8.sum()))


def test_arrival_counts_are_clipped_to_the_buffer():
    rng = np.random.default_rng(5)
    e = rng.standard_exponential((100, 11))
    over = ctx.arrival_offsets(e, np.full(100, 25))
    at = ctx.arrival_offsets(e, np.full(100, 10))
    assert np.array_equal(over, at)
    assert np.all(np.diff(at.astype(int), axis=1) >= 0)


def test_max_requests_per_step_covers_the_poisson_tail():
    for mean in (0.5, 2.0, 10.0, 100.0):
        n = ctx.max_requests_per_step(mean)
        assert stats.poisson.sf(n, mean) <= 1e-9
        assert n == 1 or stats.poisson.sf(n - 1, mean) > 1e-9
    assert ctx.max_requests_per_step(0.0) == 1
