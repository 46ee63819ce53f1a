"""Reference values for the channel model (3GPP TR 38.901 formulas evaluated by hand)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.special import j0

from envs.sim import channel as ch
from envs.sim import device as dev
from envs.sim import library as lib

C = 299_792_458.0


def test_umi_los_pathloss_before_breakpoint():
    # d2D = 100 m < d'BP = 4 * 9 * 0.5 * 28e9 / c = 1681 m: PL1 = 32.4 + 21 log10(d3D) + 20 log10(28)
    # d3D = sqrt(100^2 + 8.5^2) = 100.36 m -> 32.4 + 42.033 + 28.943 = 103.376 dB
    pl = ch.pathloss_los_db("umi", np.array([100.0]), 28e9, 10.0, 1.5)
    assert pl[0] == pytest.approx(103.37599, abs=1e-4)


def test_umi_nlos_is_max_of_los_and_nlos_formula():
    # PL'_NLOS = 35.3 log10(100.36) + 22.4 + 21.3 log10(28) = 123.880 dB > PL_LOS
    pl = ch.pathloss_nlos_db("umi", np.array([100.0]), 28e9, 10.0, 1.5)
    assert pl[0] == pytest.approx(123.87965, abs=1e-4)
    # very close in: the NLOS value never falls below the LOS value
    d = np.array([10.0, 20.0, 50.0, 300.0, 2000.0])
    assert np.all(ch.pathloss_nlos_db("umi", d, 28e9, 10, 1.5) >= ch.pathloss_los_db("umi", d, 28e9, 10, 1.5))


def test_uma_los_both_sides_of_breakpoint():
    # f = 3.5 GHz, hBS 25 m, hUT 1.5 m: d'BP = 4 * 24 * 0.5 * 3.5e9 / c = 560.39 m
    assert ch.breakpoint_distance_m(3.5e9, 25.0, 1.5) == pytest.approx(560.38768, abs=1e-4)
    # 500 m: PL1 = 28 + 22 log10(500.55) + 20 log10(3.5) = 98.269 dB
    # 1000 m: PL2 = 28 + 40 log10(1000.28) + 20 log10(3.5) - 9 log10(560.39^2 + 23.5^2) = 109.406 dB
    pl = ch.pathloss_los_db("uma", np.array([500.0, 1000.0]), 3.5e9, 25.0, 1.5)
    assert pl[0] == pytest.approx(98.26924, abs=1e-4)
    assert pl[1] == pytest.approx(109.40649, abs=1e-4)
    # NLOS at 1000 m: 13.54 + 39.08 log10(1000.28) + 20 log10(3.5) = 141.666 dB
    assert ch.pathloss_nlos_db("uma", np.array([1000.0]), 3.5e9, 25.0, 1.5)[0] == pytest.approx(141.66605, abs=1e-4)


def test_los_probability_table_7_4_2_1():
    assert ch.los_probability("umi", np.array([10.0, 18.0]))[0] == 1.0
    # UMi at 50 m: 18/50 + exp(-50/36) (1 - 18/50) = 0.51959
    assert ch.los_probability("umi", np.array([50.0]))[0] == pytest.approx(0.5195854, abs=1e-6)
    # UMa at 200 m, hUT 1.5 m (C' = 0): 18/200 + exp(-200/63) (1 - 18/200) = 0.12805
    assert ch.los_probability("uma", np.array([200.0]), 1.5)[0] == pytest.approx(0.1280477, abs=1e-6)


def test_noise_power():
    # -174 dBm/Hz + 10 log10(100 MHz) + 9 dB = -174 + 80 + 9 = -85 dBm
    assert ch.noise_power_dbm(100e6, 9.0) == pytest.approx(-85.0)


def test_fading_correlation_is_jakes():
    # pedestrian 1.4 m/s at 28 GHz: f_D = 1.4 * 28e9 / c = 130.757 Hz; dt = 1 ms -> J0(2 pi f_D dt) = 0.83824
    assert ch.doppler_hz(1.4, 28e9) == pytest.approx(130.75713, abs=1e-4)
    assert ch.fading_correlation(1.4, 28e9, 1e-3) == pytest.approx(0.8382418, abs=1e-6)
    assert ch.fading_correlation(0.0, 28e9, 1.0) == 1.0
    assert ch.fading_correlation(30.0, 3.5e9, 0.01) == pytest.approx(float(j0(2 * math.pi * 30 * 3.5e9 / C * 0.01)))


def test_ar1_fading_empirical_autocorrelation_matches_rho():
    rho = ch.fading_correlation(1.4, 28e9, 1e-3)
    rng = np.random.default_rng(0)
    n = 200_000
    w = (rng.standard_normal((1, n)) + 1j * rng.standard_normal((1, n))) / np.sqrt(2)
    h0 = (rng.standard_normal(1) + 1j * rng.standard_normal(1)) / np.sqrt(2)
    h = ch.ar1_complex(rho, h0, w)[0]
    assert np.mean(np.abs(h) ** 2) == pytest.approx(1.0, abs=0.02)  # unit power
    lag1 = np.real(np.mean(h[1:] * np.conj(h[:-1]))) / np.mean(np.abs(h) ** 2)
    assert lag1 == pytest.approx(rho, abs=0.01)


def test_rician_power_unit_mean_and_rayleigh_limit():
    rng = np.random.default_rng(1)
    h = (rng.standard_normal(100_000) + 1j * rng.standard_normal(100_000)) / np.sqrt(2)
    assert np.mean(ch.rician_power(h, 10 ** 0.9)) == pytest.approx(1.0, abs=0.02)
    assert np.allclose(ch.rician_power(h, 0.0), np.abs(h) ** 2)


def test_rate_formula_and_cap():
    # SNR 20 dB, gap 3 dB -> log2(1 + 10^1.7) = log2(51.119) = 5.6758 bit/s/Hz; 100 MHz, share 1/2 -> 283.79 Mbit/s
    r = ch.achievable_rate_bps(np.array([20.0]), 100e6, 0.5, 3.0, 7.4063)
    assert r[0] == pytest.approx(0.5 * 100e6 * math.log2(1 + 10 ** 1.7), rel=1e-12)
    assert r[0] == pytest.approx(283.789e6, rel=1e-5)
    # SNR 40 dB hits the 256-QAM cap of 7.4063 bit/s/Hz
    assert ch.achievable_rate_bps(np.array([40.0]), 100e6, 1.0, 3.0, 7.4063)[0] == pytest.approx(740.63e6)


def test_blockage_transition_probabilities():
    p_on, p_off = ch.blockage_transition_probs(0.5, 0.25, 0.1)
    assert p_on == pytest.approx(1 - math.exp(-0.05))
    assert p_off == pytest.approx(1 - math.exp(-0.4))


def test_energy_per_mac_horowitz():
    # 8 bit: 0.2 pJ multiply + 0.03 pJ add; 32 bit: 0.2*16 + 0.03*4 = 3.32 pJ
    assert dev.energy_per_mac_j(8) == pytest.approx(0.23e-12)
    assert dev.energy_per_mac_j(32) == pytest.approx(3.32e-12)
    assert dev.energy_per_mac_j(4) == pytest.approx(0.2e-12 / 4 + 0.03e-12 / 2)
    assert list(dev.compute_speedup(np.array([32, 16, 8, 4]))) == [1.0, 2.0, 4.0, 4.0]


def test_download_latency_formula():
    # 10 MB over min(400 Mbit/s air, 1 Gbit/s backhaul) + 20 ms rtt + 50 ms compression = 0.27 s
    spb = lib.seconds_per_byte(400e6, 1e9)
    assert spb == pytest.approx(8 / 400e6)
    assert lib.download_time_s(lib.fixed_time_s(0.02, 0.05), 10e6, spb) == pytest.approx(0.02 + 0.05 + 0.2)
    # backhaul-limited: 10 MB at 100 Mbit/s = 0.8 s
    assert lib.download_time_s(0.0, 10e6, lib.seconds_per_byte(400e6, 100e6)) == pytest.approx(0.8)


def test_lru_cache_evicts_least_recent():
    sizes = np.array([40.0, 30.0, 50.0])
    last = np.full(3, -np.inf)
    pres = np.zeros(3)
    lib.lru_update(last, pres, 0, sizes, 100.0, 1.0, fill=True)
    lib.lru_update(last, pres, 1, sizes, 100.0, 2.0, fill=True)
    lib.lru_update(last, pres, 0, sizes, 100.0, 3.0, fill=False)  # refresh 0
    lib.lru_update(last, pres, 2, sizes, 100.0, 4.0, fill=True)  # needs 50: evict 1 (least recent)
    assert list(pres) == [1.0, 0.0, 1.0]
    assert np.sum(sizes * pres) <= 100.0
    lib.lru_update(last, pres, 1, sizes, 100.0, 5.0, fill=False)  # refresh of an absent item: no fill
    assert pres[1] == 0.0


@pytest.mark.parametrize("model,fc,hb,hu", [("umi", 28e9, 10.0, 1.5), ("uma", 3.5e9, 25.0, 1.5),
                                             ("uma", 140e9, 25.0, 30.0)])
def test_pathloss_by_state_equals_los_and_nlos_functions(model, fc, hb, hu):
    """The one-pass path loss (LOS computed once) equals the LOS/NLOS functions bit for bit."""
    rng = np.random.default_rng(0)
    d = np.concatenate([rng.uniform(1.0, 3000.0, 5000), [5.0, 10.0, ch.breakpoint_distance_m(fc, hb, hu)]])
    los = rng.random(d.shape) < 0.5
    ref = np.where(los, ch.pathloss_los_db(model, d, fc, hb, hu), ch.pathloss_nlos_db(model, d, fc, hb, hu))
    assert np.array_equal(ch.pathloss_db(model, d, los, fc, hb, hu), ref)
