"""The device's FIFO inference queue: the closed form equals the Lindley recursion, the M/D/1
mean wait (Pollaczek-Khinchine), hand-made cases and the backlog cap."""

from __future__ import annotations

import math

import numpy as np
import pytest

from envs.sim.queue import fifo_step, md1_mean_wait_s


def _lindley(backlog, arrivals, service, active, budget, dt):
    """Step-by-step FIFO: each request starts when it has arrived and the server is free."""
    b, n = arrivals.shape
    late = np.zeros((b, n), dtype=bool)
    nxt = np.zeros(b)
    for r in range(b):
        free_at = backlog[r]                      # the server is busy with the backlog until then
        for i in range(n):
            if not active[r, i]:
                continue
            start = max(arrivals[r, i], free_at)
            free_at = start + service[r, i]
            late[r, i] = free_at - arrivals[r, i] > budget[r]
        nxt[r] = min(max(free_at - dt, 0.0), budget[r])
    return late, nxt


@pytest.mark.parametrize("seed", range(5))
def test_closed_form_equals_lindley_recursion(seed):
    rng = np.random.default_rng(seed)
    b, n, dt = 300, 12, 1.0
    arrivals = np.sort(rng.random((b, n)) * dt, axis=1)
    service = rng.exponential(0.15, (b, n)) * (rng.random((b, n)) < 0.9)  # some requests not computed
    count = rng.integers(0, n + 1, b)
    active = np.arange(n)[None, :] < count[:, None]
    backlog = rng.exponential(0.2, b) * (rng.random(b) < 0.6)
    budget = rng.uniform(0.05, 1.5, b)
    late, nxt = fifo_step(backlog, arrivals, service, active, budget, dt)
    ref_late, ref_nxt = _lindley(backlog, arrivals, service, active, budget, dt)
    assert np.array_equal(late, ref_late)
    assert np.allclose(nxt, ref_nxt, rtol=0, atol=1e-12)
    assert np.all(nxt <= budget) and not late[~active].any()


def test_hand_made_step():
    # backlog 0.2 s; arrivals 0.1, 0.15, 0.9 s; 0.3 s each: departures 0.5, 0.8, 1.2 s,
    # waiting + service 0.4, 0.65, 0.3 s; 0.2 s of work carried into the next step
    args = (np.array([0.2]), np.array([[0.1, 0.15, 0.9]]), np.full((1, 3), 0.3), np.ones((1, 3), dtype=bool))
    late, nxt = fifo_step(*args, np.array([0.5]), 1.0)
    assert late.tolist() == [[False, True, False]] and nxt[0] == pytest.approx(0.2)
    late, nxt = fifo_step(*args, np.array([0.7]), 1.0)
    assert not late.any() and nxt[0] == pytest.approx(0.2)


def test_backlog_cap_and_idle_steps():
    # three requests at t = 0 of 0.5 s each: departures 0.5, 1.0, 1.5; carried work 0.5 s
    args = (np.zeros(2), np.zeros((2, 3)), np.full((2, 3), 0.5), np.ones((2, 3), dtype=bool))
    late, nxt = fifo_step(*args, np.array([0.7, 0.3]), 1.0)
    assert late.tolist() == [[False, True, True], [True, True, True]]
    assert nxt.tolist() == pytest.approx([0.5, 0.3])   # the work beyond the budget is dropped
    # a step without requests works the backlog off
    late, nxt = fifo_step(np.array([2.5, 0.4]), np.zeros((2, 3)), np.zeros((2, 3)), np.zeros((2, 3), dtype=bool),
                          np.array([10.0, 10.0]), 1.0)
    assert not late.any() and nxt.tolist() == pytest.approx([1.5, 0.0])


def test_md1_formula():
    # rho = 0.5, D = 0.1 s: W = 0.5 * 0.1 / (2 * 0.5) = 0.05 s; rho = 0.8: 0.8 * 0.1 / 0.4 = 0.2 s
    assert md1_mean_wait_s(5.0, 0.1) == pytest.approx(0.05)
    assert md1_mean_wait_s(8.0, 0.1) == pytest.approx(0.2)
    assert md1_mean_wait_s(10.0, 0.1) == float("inf")


def _md1_run(rate, service, rows=1500, steps=250, warmup=50, dt=1.0, seed=0):
    """Poisson arrivals, deterministic service, infinite budget. Returns the step-boundary
    backlogs (the workload at fixed instants) and the fraction of requests that waited."""
    rng = np.random.default_rng(seed)
    n_max = int(rate * dt + 8 * math.sqrt(rate * dt) + 6)  # Poisson tail beyond: < 1e-9
    backlog = np.zeros(rows)
    inf = np.full(rows, np.inf)
    eps = np.full(rows, service * (1 + 1e-9))
    samples, waited, total = [], 0, 0
    for t in range(steps):
        count = np.minimum(rng.poisson(rate * dt, rows), n_max)
        active = np.arange(n_max)[None, :] < count[:, None]
        # `count` sorted uniforms on the step, the unused entries after them
        arrivals = np.sort(np.where(active, rng.random((rows, n_max)) * dt, dt + 1.0), axis=1)
        d = np.full((rows, n_max), service)
        if t >= warmup:
            w_late, _ = fifo_step(backlog, arrivals, d, active, eps, dt)  # late = waited > 0
            waited += int(w_late.sum())
            total += int(active.sum())
        _, backlog = fifo_step(backlog, arrivals, d, active, inf, dt)
        if t >= warmup:
            samples.append(backlog.copy())
    return np.array(samples), waited / total


@pytest.mark.parametrize("rho", [0.5, 0.8])
def test_mean_wait_is_pollaczek_khinchine(rho):
    """By PASTA, Poisson arrivals see the time-average workload, which the backlog at the step
    boundaries (fixed instants) samples: its mean is the M/D/1 mean wait. The probability that
    a request waits at all is rho."""
    service = 0.1
    rate = rho / service
    samples, p_wait = _md1_run(rate, service)
    want = md1_mean_wait_s(rate, service)
    per_row = samples.mean(axis=0)                  # rows are independent queues
    se = per_row.std() / math.sqrt(len(per_row))
    assert se < 0.01 * want                        # the estimate is precise enough to test 3 %
    assert samples.mean() == pytest.approx(want, rel=0.03)
    assert p_wait == pytest.approx(rho, abs=0.01)
