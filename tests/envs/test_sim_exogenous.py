"""Exogenous processes: fast Markov chains equal the step-by-step definition; Poisson draws; statistics."""

from __future__ import annotations

import numpy as np
import pytest
from insitu_test_helpers import markov_chain_reference, random_chain

from envs.sim import channel as ch
from envs.sim.exogenous import _markov_chain, _poisson_cdf_table, _poisson_icdf, _two_state_chain


def _ref_two(u, p_on, p_off, s0):
    nb, n = u.shape
    out = np.empty((nb, n), dtype=int)
    for r in range(nb):
        s = s0[r]
        for j in range(n):
            s = int(u[r, j] < p_on) if s == 0 else int(u[r, j] >= p_off)
            out[r, j] = s
    return out


@pytest.mark.parametrize("trial", range(10))
def test_markov_chain_equals_step_by_step(trial):
    u, cum, which, s0 = random_chain(np.random.default_rng(trial), 3, 300)
    assert np.array_equal(_markov_chain(u, cum, which, s0), markov_chain_reference(u, cum, which, s0))


@pytest.mark.parametrize("trial", range(6))
def test_markov_chain_many_rows_equals_step_by_step(trial):
    """The task chain over many rows (as in a batch) equals the step-by-step definition."""
    u, cum, which, s0 = random_chain(np.random.default_rng(trial), 40, 257)
    assert np.array_equal(_markov_chain(u, cum, which, s0), markov_chain_reference(u, cum, which, s0))


@pytest.mark.parametrize("trial", range(10))
def test_two_state_chain_equals_step_by_step(trial):
    rng = np.random.default_rng(100 + trial)
    u = rng.random((4, 300))
    p_on, p_off = rng.random(2)
    s0 = rng.integers(0, 2, 4)
    assert np.array_equal(_two_state_chain(u, p_on, p_off, s0), _ref_two(u, p_on, p_off, s0))


def test_blockage_chain_stationary_fraction():
    p_on, p_off = ch.blockage_transition_probs(0.2, 0.5, 1.0)
    u = np.random.default_rng(0).random((1, 200_000))
    frac = _two_state_chain(u, p_on, p_off, np.zeros(1, dtype=int)).mean()
    assert frac == pytest.approx(p_on / (p_on + p_off), abs=0.01)


@pytest.mark.parametrize("lam", [0.0, 0.5, 3.0, 20.0])
def test_poisson_by_inverse_cdf(lam):
    table = _poisson_cdf_table(np.array([lam]))
    u = np.random.default_rng(1).random(200_000)
    x = _poisson_icdf(u, table, np.zeros(len(u), dtype=int))
    assert x.mean() == pytest.approx(lam, abs=0.02 + 0.01 * lam)
    assert x.var() == pytest.approx(lam, abs=0.03 + 0.02 * lam)


@pytest.mark.parametrize("trial", range(4))
def test_markov_chain_bool_flag_equals_int_index(trial):
    """Two matrices picked by a bool flag (the day flag) give the chain of the int index 0/1."""
    rng = np.random.default_rng(300 + trial)
    u, cum, _, s0 = random_chain(rng, 8, 200)
    flag = rng.random(u.shape) < 0.5
    ref = markov_chain_reference(u, cum, flag.astype(np.int64), s0)
    assert np.array_equal(_markov_chain(u, cum, flag, s0), ref)
    assert np.array_equal(_markov_chain(u, cum, flag, s0, sorted_rows=True), ref)


def test_forward_fill_holds_last_redrawn_value():
    from envs.sim.exogenous import _ffill

    rng = np.random.default_rng(7)
    values, redraw, carry = rng.random((5, 40)), rng.random((5, 40)) < 0.2, rng.random(5)
    redraw[0] = False  # a row that never redraws keeps its carried value
    ref = np.empty_like(values)
    for r in range(5):
        held = carry[r]
        for j in range(40):
            held = values[r, j] if redraw[r, j] else held
            ref[r, j] = held
    assert np.array_equal(_ffill(values, redraw, carry), ref)
    flags = rng.random((5, 40)) < 0.5  # bool values (as the blockage chain uses it)
    out = _ffill(flags, redraw, np.zeros(5, dtype=bool))
    assert out.dtype == np.bool_ and not out[0].any()
