"""Pre-generated exogenous processes: consistency of the columns, statistics against the scenario
(request counts, blocked fraction, load), interference lowers the SINR, and the Poisson look-ups."""

from __future__ import annotations

import numpy as np
import pytest

from envs.adapter import make_params
from envs.sim import BatchSim
from envs.sim import channel as ch
from envs.sim.context import ARRIVAL_SCALE
from envs.sim.exogenous import (
    C_AGE,
    C_TASK,
    C_ZONE,
    E_BLOCKED,
    E_HOUR,
    E_INV_EXPREQ,
    E_INVRATE,
    E_NREQ,
    E_RATE,
    E_RATE_EST,
    E_SINR_DB,
    E_ZONE,
    ICDF_BINS,
    _ffill,
    _icdf_bins,
    _poisson_cdf_table,
    _poisson_icdf,
    _poisson_icdf_binned,
)


def _sim(p, b=64, seed=0):
    s = BatchSim(p, b)
    s.reset_rows(np.arange(b), [np.random.default_rng(seed + i) for i in range(b)])
    return s


def test_columns_are_consistent(tiny_params):
    _, p = tiny_params()
    sim = _sim(p)
    ex = sim.exo
    f, ci, arr = ex.f, ex.ci, ex.arr
    sc = p.scenario
    assert np.allclose(f[..., E_INVRATE], 8.0 / f[..., E_RATE], rtol=1e-15)
    assert np.all(f[..., E_RATE] >= 1.0)
    # at most the whole band at the capped spectral efficiency
    assert np.all(f[..., E_RATE] <= sc.channel.bandwidth_hz * sc.channel.max_spectral_efficiency * (1 + 1e-9))
    assert np.all((f[..., E_BLOCKED] >= 0) & (f[..., E_BLOCKED] <= 1))
    assert np.array_equal(f[..., E_ZONE], ci[..., C_ZONE]) and set(np.unique(ci[..., C_ZONE])) <= {0, 1}
    assert np.array_equal(f[..., E_INV_EXPREQ], 1.0 / (p.request_rate_hz[ci[..., C_TASK]] * sc.dt_s))
    assert np.all((ci[..., C_TASK] >= 0) & (ci[..., C_TASK] < p.n_tasks))
    # the hour advances by dt every step (mod 24)
    dh = np.mod(np.diff(f[..., E_HOUR], axis=1), 24.0)
    assert np.allclose(dh, sc.dt_s / 3600.0)
    # arrivals: ascending within the count, the rest padded
    n = f[..., E_NREQ].astype(int)
    assert np.all(n <= ex.n_max)
    idx = np.arange(ex.n_max)
    assert np.all(arr[idx[None, None, :] >= n[..., None]] == ARRIVAL_SCALE - 1)
    d = np.diff(arr.astype(int), axis=-1)
    assert np.all(d[(idx[None, None, 1:] < n[..., None])] >= 0)
    # the session age counts steps and restarts with a new task
    age, task = ci[..., C_AGE], ci[..., C_TASK]
    new = age[:, 1:] == 0
    assert np.all(task[:, 1:][new] != task[:, :-1][new])
    assert np.all(age[:, 1:][~new] == age[:, :-1][~new] + 1)


def test_request_counts_are_poisson_with_the_task_rate(tiny_params):
    _, p = tiny_params()
    sim = _sim(p, b=256)
    f, ci = sim.exo.f, sim.exo.ci
    for k in range(p.n_tasks):
        sel = ci[..., C_TASK] == k
        x = f[..., E_NREQ][sel]
        lam = p.request_rate_hz[k] * p.scenario.dt_s
        assert x.mean() == pytest.approx(lam, abs=4 * np.sqrt(lam / sel.sum()))
        assert x.var() == pytest.approx(lam, rel=0.05)


def test_blocked_fraction_is_the_stationary_fraction(tiny_params):
    _, p = tiny_params()
    sim = _sim(p, b=256)
    bc = p.scenario.channel.blockage
    want = bc.rate_per_s / (bc.rate_per_s + 1 / bc.mean_duration_s)  # 0.3 / 1.3
    assert sim.exo.f[..., E_BLOCKED].mean() == pytest.approx(want, abs=0.01)
    _, q = tiny_params(channel__blockage__enabled=False)
    assert not _sim(q, b=4).exo.f[..., E_BLOCKED].any()


def test_interference_lowers_the_sinr_draw_for_draw(tiny_params):
    """The draws are the same with and without interference, so every step's SINR is lower with it."""
    _, p_on = tiny_params()
    _, p_off = tiny_params(channel__interference__enabled=False)
    on, off = _sim(p_on, b=16, seed=3), _sim(p_off, b=16, seed=3)
    s_on, s_off = on.exo.f[..., E_SINR_DB], off.exo.f[..., E_SINR_DB]
    assert np.all(s_on <= s_off + 1e-9) and np.mean(s_off - s_on) > 0.1
    assert np.array_equal(on.exo.ci, off.exo.ci)  # tasks, zones: the same draws
    # a neighbour at zero load interferes with nothing
    _, p_zero = tiny_params(channel__interference__load_day=0.0, channel__interference__load_night=0.0)
    assert np.allclose(_sim(p_zero, b=16, seed=3).exo.f[..., E_SINR_DB], s_off)


def test_rate_estimate_is_the_delayed_rate_with_noise(tiny_params):
    _, p = tiny_params(channel__estimate__noise_db=0.0, channel__estimate__delay_steps=2)
    sim = _sim(p, b=8)
    f = sim.exo.f
    # the estimate of step t is the true rate of step t - 2 (within the chunk)
    assert np.allclose(f[:, 2:, E_RATE_EST], f[:, :-2, E_RATE], rtol=1e-12)


def test_rural_macro_uses_rma_and_interference():
    _, p = make_params("rural_macro")
    sc = p.scenario
    assert sc.channel.pathloss_model == "rma" and sc.channel.interference.enabled
    sim = _sim(p, b=8)
    assert np.all(np.isfinite(sim.exo.f)) and np.all(sim.exo.f[..., E_RATE] >= 1.0)


# ---------------------------------------------------------------------------- Poisson look-ups
@pytest.mark.parametrize("lam", [0.0, 0.5, 3.0, 20.0])
def test_poisson_by_inverse_cdf(lam):
    table = _poisson_cdf_table(np.array([lam]))
    u = np.random.default_rng(1).random(200_000)
    x = _poisson_icdf(u, table, np.zeros(len(u), dtype=int))
    assert x.mean() == pytest.approx(lam, abs=0.02 + 0.01 * lam)
    assert x.var() == pytest.approx(lam, abs=0.03 + 0.02 * lam)


def test_poisson_icdf_equals_comparison_count():
    rng = np.random.default_rng(0)
    for means in ([10.0], [0.5, 3.0], [0.0, 2.0, 30.0, 0.01, 100.0]):
        table = _poisson_cdf_table(np.array(means))
        u = rng.random((40, 257))
        which = rng.integers(0, len(means), u.shape)
        ref = (u[..., None] >= table[which]).sum(-1).astype(float)
        assert np.array_equal(_poisson_icdf(u, table, which), ref)


@pytest.mark.parametrize("means", [[0.0, 0.3, 2.0, 7.5, 40.0], [3.0, 12.0], [0.001, 100.0]])
def test_binned_poisson_icdf_equals_search(means):
    rng = np.random.default_rng(5)
    table = _poisson_cdf_table(np.array(means))
    cdf = table[table < 1.5]
    edges = np.arange(ICDF_BINS) / ICDF_BINS
    u = np.concatenate([rng.random(20_000), cdf, np.nextafter(cdf, 0.0), np.nextafter(cdf, 1.0), edges])
    u = u[(u >= 0.0) & (u < 1.0)]
    which = rng.integers(0, len(means), u.shape)
    assert np.array_equal(_poisson_icdf_binned(u, table, _icdf_bins(table), which), _poisson_icdf(u, table, which))


def test_forward_fill_holds_last_redrawn_value():
    rng = np.random.default_rng(7)
    values, redraw, carry = rng.random((5, 40)), rng.random((5, 40)) < 0.2, rng.random(5)
    redraw[0] = False
    ref = np.empty_like(values)
    for r in range(5):
        held = carry[r]
        for j in range(40):
            held = values[r, j] if redraw[r, j] else held
            ref[r, j] = held
    assert np.array_equal(_ffill(values, redraw, carry), ref)


def test_blockage_initial_state_probability():
    _, _, pi_b = ch.blockage_step_probs(0.2, 0.5, 1.0)
    assert pi_b == pytest.approx(0.2 / 2.2)
