"""Reference values for the radio channel: 3GPP TR 38.901 formulas evaluated by hand, the
fading-averaged rate against a numerical integral, and the blockage chain against its closed form."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import integrate, linalg, special, stats

from envs.sim import channel as ch

C = 299_792_458.0
GAP_DB, SE_MAX = 3.0, 7.4063


# ---------------------------------------------------------------------------- path loss
def test_umi_los_pathloss_before_breakpoint():
    # d2D = 100 m < d'BP = 4 * 9 * 0.5 * 28e9 / c = 1681 m: PL1 = 32.4 + 21 log10(d3D) + 20 log10(28)
    # d3D = sqrt(100^2 + 8.5^2) = 100.36 m -> 32.4 + 42.033 + 28.943 = 103.376 dB
    pl = ch.pathloss_los_db("umi", np.array([100.0]), 28e9, 10.0, 1.5)
    assert pl[0] == pytest.approx(103.37599, abs=1e-4)


def test_umi_nlos_is_max_of_los_and_nlos_formula():
    # PL'_NLOS = 35.3 log10(100.36) + 22.4 + 21.3 log10(28) = 123.880 dB > PL_LOS
    pl = ch.pathloss_nlos_db("umi", np.array([100.0]), 28e9, 10.0, 1.5)
    assert pl[0] == pytest.approx(123.87965, abs=1e-4)
    d = np.array([10.0, 20.0, 50.0, 300.0, 2000.0])
    assert np.all(ch.pathloss_nlos_db("umi", d, 28e9, 10, 1.5) >= ch.pathloss_los_db("umi", d, 28e9, 10, 1.5))


def test_uma_los_both_sides_of_breakpoint():
    # f = 3.5 GHz, hBS 25 m, hUT 1.5 m: d'BP = 4 * 24 * 0.5 * 3.5e9 / c = 560.39 m
    assert ch.breakpoint_distance_m(3.5e9, 25.0, 1.5) == pytest.approx(560.38768, abs=1e-4)
    pl = ch.pathloss_los_db("uma", np.array([500.0, 1000.0]), 3.5e9, 25.0, 1.5)
    assert pl[0] == pytest.approx(98.26924, abs=1e-4)
    assert pl[1] == pytest.approx(109.40649, abs=1e-4)
    assert ch.pathloss_nlos_db("uma", np.array([1000.0]), 3.5e9, 25.0, 1.5)[0] == pytest.approx(141.66605, abs=1e-4)


# RMa, 38.901 Table 7.4.1-1, written out in the test: f_c = 0.7 GHz, h_BS = 35 m, h_UT = 1.5 m,
# W = 20 m, h = 5 m. d_BP = 2 pi h_BS h_UT f_c / c = 770.2 m (note 5: the actual heights).
RMA = {"fc": 0.7e9, "hb": 35.0, "hu": 1.5, "w": 20.0, "h": 5.0}


def _rma_pl1(d3d, fc_ghz, h):
    return (20 * math.log10(40 * math.pi * d3d * fc_ghz / 3) + min(0.03 * h ** 1.72, 10) * math.log10(d3d)
            - min(0.044 * h ** 1.72, 14.77) + 0.002 * math.log10(h) * d3d)


def _rma_by_hand(d2d):
    fc, hb, hu, w, h = RMA["fc"], RMA["hb"], RMA["hu"], RMA["w"], RMA["h"]
    fg = fc / 1e9
    d3d = math.hypot(d2d, hb - hu)
    dbp = 2 * math.pi * hb * hu * fc / C
    dbp3 = math.hypot(dbp, hb - hu)  # PL1 evaluated at the breakpoint's 3D distance (continuity)
    los = _rma_pl1(d3d, fg, h) if d2d <= dbp else _rma_pl1(dbp3, fg, h) + 40 * math.log10(d3d / dbp3)
    nlos_prime = (161.04 - 7.1 * math.log10(w) + 7.5 * math.log10(h)
                  - (24.37 - 3.7 * (h / hb) ** 2) * math.log10(hb)
                  + (43.42 - 3.1 * math.log10(hb)) * (math.log10(d3d) - 3)
                  + 20 * math.log10(fg) - (3.2 * math.log10(11.75 * hu) ** 2 - 4.97))
    return los, max(los, nlos_prime), dbp


@pytest.mark.parametrize("d2d", [500.0, 3000.0])
def test_rma_pathloss_by_hand(d2d):
    los, nlos, dbp = _rma_by_hand(d2d)
    assert dbp == pytest.approx(770.22, abs=0.01)
    assert ch.rma_breakpoint_distance_m(RMA["fc"], RMA["hb"], RMA["hu"]) == pytest.approx(dbp, rel=1e-12)
    args = (RMA["fc"], RMA["hb"], RMA["hu"])
    kw = {"street_width_m": RMA["w"], "building_height_m": RMA["h"]}
    got_los = ch.pathloss_los_db("rma", np.array([d2d]), *args, **kw)[0]
    got_nlos = ch.pathloss_nlos_db("rma", np.array([d2d]), *args, **kw)[0]
    assert got_los == pytest.approx(los, abs=1e-9)
    assert got_nlos == pytest.approx(nlos, abs=1e-9)
    # hand values: 500 m LOS before the breakpoint, 3000 m after it (slope 40 dB/decade)
    assert {500.0: 84.63, 3000.0: 112.45}[d2d] == pytest.approx(los, abs=0.01)
    assert {500.0: 104.84, 3000.0: 134.87}[d2d] == pytest.approx(nlos, abs=0.01)


def test_rma_los_is_continuous_at_the_breakpoint_and_shadowing_std():
    dbp = ch.rma_breakpoint_distance_m(RMA["fc"], RMA["hb"], RMA["hu"])
    d = np.array([dbp * (1 - 1e-9), dbp * (1 + 1e-9)])
    pl = ch.pathloss_los_db("rma", d, RMA["fc"], RMA["hb"], RMA["hu"])
    assert abs(pl[1] - pl[0]) < 1e-6
    std = ch.shadowing_std_db("rma", np.array([500.0, 3000.0, 500.0]), np.array([True, True, False]),
                              RMA["fc"], RMA["hb"], RMA["hu"])
    assert std.tolist() == [4.0, 6.0, 8.0]


def test_los_probability_table_7_4_2_1():
    assert ch.los_probability("umi", np.array([10.0, 18.0]))[0] == 1.0
    assert ch.los_probability("umi", np.array([50.0]))[0] == pytest.approx(0.5195854, abs=1e-6)
    assert ch.los_probability("uma", np.array([200.0]), 1.5)[0] == pytest.approx(0.1280477, abs=1e-6)
    # RMa: 1 up to 10 m, exp(-(d - 10) / 1000) beyond
    p = ch.los_probability("rma", np.array([5.0, 10.0, 1010.0, 3010.0]))
    assert p.tolist() == pytest.approx([1.0, 1.0, math.exp(-1.0), math.exp(-3.0)], abs=1e-12)
    with pytest.raises(ValueError, match="unknown"):
        ch.los_probability("xyz", np.array([1.0]))


@pytest.mark.parametrize("model,fc,hb,hu", [("umi", 28e9, 10.0, 1.5), ("uma", 3.5e9, 25.0, 1.5),
                                             ("rma", 0.7e9, 35.0, 1.5)])
def test_pathloss_by_state_equals_los_and_nlos_functions(model, fc, hb, hu):
    rng = np.random.default_rng(0)
    d = rng.uniform(1.0, 5000.0, 2000)
    los = rng.random(d.shape) < 0.5
    ref = np.where(los, ch.pathloss_los_db(model, d, fc, hb, hu), ch.pathloss_nlos_db(model, d, fc, hb, hu))
    assert np.array_equal(ch.pathloss_db(model, d, los, fc, hb, hu), ref)


def test_noise_sinr_and_shadowing_correlation():
    # -174 dBm/Hz + 10 log10(100 MHz) + 9 dB = -85 dBm
    assert ch.noise_power_dbm(100e6, 9.0) == pytest.approx(-85.0)
    n_mw = ch.noise_floor_mw(100e6, 9.0)
    assert n_mw == pytest.approx(10 ** -8.5)
    # S = -60 dBm, I = N: SINR = -60 - (-85 + 3.0103) = 21.99 dB
    assert ch.sinr_db(np.array([-60.0]), np.array([n_mw]), n_mw)[0] == pytest.approx(25.0 - 10 * math.log10(2))
    assert ch.shadowing_correlation(1.4, 1.0, 13.0) == pytest.approx(math.exp(-1.4 / 13.0))
    assert ch.coherence_time_s(0.0, 28e9) == float("inf")
    assert ch.coherence_time_s(1.4, 28e9) == pytest.approx(0.423 / (1.4 * 28e9 / C))


def test_ar1_has_unit_variance_and_lag_correlation():
    rho = 0.8
    rng = np.random.default_rng(1)
    x = ch.ar1_real(rho, rng.standard_normal(200), rng.standard_normal((200, 2000)))
    assert x.var() == pytest.approx(1.0, abs=0.03)
    lag1 = np.mean(x[:, 1:] * x[:, :-1]) / x.var()
    assert lag1 == pytest.approx(rho, abs=0.01)


# ---------------------------------------------------------------------------- fading-averaged rate
def _rate_integral(sinr_db: float, k_db: float | None) -> float:
    """E_h[min(log2(1 + g h / gap), SE_max)] by quadrature over the fading power's density
    (Rayleigh: h ~ Exp(1); Rician: unit-mean power with K-factor K)."""
    g = 10 ** ((sinr_db - GAP_DB) / 10)
    x_cap = (2 ** SE_MAX - 1) / g
    if k_db is None:
        def pdf(x):
            return np.exp(-x)
        tail = math.exp(-x_cap)
    else:
        k = 10 ** (k_db / 10)

        def pdf(x):
            z = 2 * np.sqrt(k * (k + 1) * x)
            return (k + 1) * np.exp(-k - (k + 1) * x + z) * special.i0e(z)
        tail = stats.ncx2.sf(2 * (k + 1) * x_cap, 2, 2 * k)
    body, _ = integrate.quad(lambda x: np.log2(1 + g * x) * pdf(x), 0.0, x_cap, limit=200,
                             epsabs=1e-12, epsrel=1e-10)
    return body + SE_MAX * tail


@pytest.mark.parametrize("k_db", [None, 9.0], ids=["rayleigh", "rician_9dB"])
@pytest.mark.parametrize("sinr", [-10.0, 0.0, 5.0, 10.0, 20.0, 30.0])
def test_rate_table_equals_numerical_integral(k_db, sinr):
    table = ch.RateTable(k_db, GAP_DB, SE_MAX)
    ref = _rate_integral(sinr, k_db)
    assert float(table(np.array([sinr]))[0]) == pytest.approx(ref, rel=2e-3, abs=1e-3)


def test_rate_table_limits_and_fading_loss():
    ray, ric = ch.RateTable(None, GAP_DB, SE_MAX), ch.RateTable(9.0, GAP_DB, SE_MAX)
    assert ray(np.array([90.0]))[0] == pytest.approx(SE_MAX, rel=1e-6)      # capped
    assert ray(np.array([-60.0]))[0] < 1e-6
    # by Jensen, fading costs rate below the cap; LoS (Rician) loses less than Rayleigh
    snr = 10.0
    awgn = math.log2(1 + 10 ** ((snr - GAP_DB) / 10))
    assert ray(np.array([snr]))[0] < ric(np.array([snr]))[0] < awgn
    for k in (None, 9.0):
        assert ch.fading_quantiles(k).mean() == pytest.approx(1.0, abs=2e-3)  # unit mean power


# ---------------------------------------------------------------------------- blockage
@pytest.mark.parametrize("lam,dur,dt", [(0.3, 0.5, 1.0), (2.0, 0.2, 0.1), (0.05, 3.0, 0.5)])
def test_blockage_step_probs_equal_the_matrix_exponential(lam, dur, dt):
    mu = 1.0 / dur
    q = np.array([[-lam, lam], [mu, -mu]])  # generator, state 0 clear, 1 blocked
    p = linalg.expm(q * dt)
    p01, p10, pi_b = ch.blockage_step_probs(lam, dur, dt)
    assert p01 == pytest.approx(p[0, 1], abs=1e-12)
    assert p10 == pytest.approx(p[1, 0], abs=1e-12)
    assert pi_b == pytest.approx(lam / (lam + mu), abs=1e-15)


def _blockage_run(rng, rows, steps, lam, dur, dt, stationary=True):
    pi_b = lam / (lam + 1 / dur)
    s0 = rng.random(rows) < pi_b if stationary else np.zeros(rows, dtype=bool)
    n_soj = int(2 * steps * dt / (1 / lam + dur) * 1.5) + 40
    hold = rng.standard_exponential((rows, n_soj))
    return s0, *ch.blockage_fractions(hold, s0, lam, dur, dt, steps)


def test_blockage_fractions_stationary_fraction_and_transitions():
    lam, dur, dt = 0.3, 0.5, 1.0
    rng = np.random.default_rng(0)
    s0, frac, state = _blockage_run(rng, 4000, 100, lam, dur, dt)
    p01, p10, pi_b = ch.blockage_step_probs(lam, dur, dt)
    assert frac.shape == state.shape == (4000, 100)
    assert np.all((frac >= 0) & (frac <= 1))
    assert frac.mean() == pytest.approx(pi_b, abs=0.004)           # pi_b = 0.130
    assert state.mean() == pytest.approx(pi_b, abs=0.004)
    # the step-end states form the sampled chain: P(1 | 0) = p01, P(0 | 1) = p10
    prev = np.concatenate([s0[:, None].astype(np.int64), state[:, :-1]], axis=1)
    n0, n1 = (prev == 0).sum(), (prev == 1).sum()
    f01 = ((prev == 0) & (state == 1)).sum() / n0
    f10 = ((prev == 1) & (state == 0)).sum() / n1
    assert f01 == pytest.approx(p01, abs=4 * math.sqrt(p01 * (1 - p01) / n0))
    assert f10 == pytest.approx(p10, abs=4 * math.sqrt(p10 * (1 - p10) / n1))
    # mean blocked fraction of a step that starts clear: pi_b (1 - (1 - e^{-s dt}) / (s dt)), s = lam + mu
    s = lam + 1 / dur
    want = pi_b * (1 - (1 - math.exp(-s * dt)) / (s * dt))
    clear_start = prev == 0
    got = frac[clear_start].mean()
    assert got == pytest.approx(want, abs=4 * frac[clear_start].std() / math.sqrt(clear_start.sum()))


def test_blockage_mean_run_length_in_continuous_time():
    """Runs of consecutive blocked steps on a fine time grid: blocked time per run -> 1 / mu."""
    lam, dur, dt = 0.3, 0.5, 0.02
    rng = np.random.default_rng(1)
    _, frac, _ = _blockage_run(rng, 200, 5000, lam, dur, dt, stationary=False)
    blocked = frac > 0
    # a run: maximal sequence of steps with blocked time; its length is the blocked time in it
    starts = blocked & ~np.concatenate([np.zeros((200, 1), dtype=bool), blocked[:, :-1]], axis=1)
    ends = blocked & ~np.concatenate([blocked[:, 1:], np.zeros((200, 1), dtype=bool)], axis=1)
    # drop runs cut by the window's end
    ends[:, -1] = False
    starts_idx, ends_idx = np.nonzero(starts), np.nonzero(ends)
    cum = np.cumsum(frac * dt, axis=1)
    lengths = []
    for r in range(200):
        s_r = starts_idx[1][starts_idx[0] == r]
        e_r = ends_idx[1][ends_idx[0] == r]
        s_r = s_r[: len(e_r)]
        lengths.append(cum[r, e_r] - cum[r, s_r] + frac[r, s_r] * dt)
    lengths = np.concatenate(lengths)
    assert len(lengths) > 3000
    # 2 % of bias allowance: a clear gap shorter than one step (prob 1 - e^{-lam dt} = 0.6 %) merges runs
    assert lengths.mean() == pytest.approx(dur, rel=0.02 + 4 * lengths.std() / lengths.mean() / math.sqrt(len(lengths)))
    # the fraction blocked over the whole window tends to pi_b from a clear start
    assert frac[:, 500:].mean() == pytest.approx(lam / (lam + 1 / dur), abs=0.01)


def test_blockage_fractions_reject_too_few_sojourns():
    with pytest.raises(ValueError, match="do not cover"):
        ch.blockage_fractions(np.full((2, 3), 1e-3), np.zeros(2, dtype=bool), 0.3, 0.5, 1.0, 100)


def test_blockage_fraction_of_a_hand_made_sojourn_sequence():
    # clear 1.5 s (holding 0.45 / lam 0.3), blocked 0.25 s (0.5 * 0.5), clear rest: step 1 is 25 % blocked
    hold = np.array([[0.45, 0.5, 100.0, 1.0]])
    frac, state = ch.blockage_fractions(hold, np.array([False]), 0.3, 0.5, 1.0, 3)
    assert frac[0].tolist() == pytest.approx([0.0, 0.25, 0.0], abs=1e-12)
    assert state[0].tolist() == [0, 0, 0]
