"""The device model by hand: service time (int8 speed-up), energy per inference (arithmetic plus
weight traffic, float and integer), and the radio's receive, tail and promotion energy."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from envs.sim import device as dev

DEVICE = SimpleNamespace(e_mac_fp32_j=4.6e-12, e_mac_int8_j=0.23e-12, technology_scale=0.5, e_mem_per_byte_j=160e-12)
RADIO = SimpleNamespace(rx_base_power_w=1.2, rx_power_per_mbps_w=0.05, tail_power_w=1.0, tail_s=10.0,
                        promotion_s=0.26, promotion_power_w=1.21)


def test_service_time_with_int8_speedup():
    # 1e9 MACs at 2e10 MAC/s: 50 ms in fp32, 50 / 1.85 = 27.03 ms on the integer units
    t = dev.service_time_s(np.array([1e9, 1e9]), np.array([False, True]), 2e10, 1.85)
    assert t.tolist() == pytest.approx([0.05, 0.05 / 1.85])


def test_inference_energy_by_hand():
    # 3e8 MACs, 5 MB of weights read once:
    #   float:   3e8 x 4.6 pJ x 0.5 + 5e6 x 160 pJ = 0.69 mJ + 0.8 mJ = 1.49 mJ
    #   integer: 3e8 x 0.23 pJ x 0.5 + 5e6 x 160 pJ = 0.0345 mJ + 0.8 mJ = 0.8345 mJ
    e = dev.inference_energy_j(np.array([3e8, 3e8]), np.array([5e6, 5e6]), np.array([False, True]), DEVICE)
    assert e.tolist() == pytest.approx([1.49e-3, 0.8345e-3], rel=1e-12)


def test_variant_tables_use_the_device_model(tiny_params):
    """params.var_energy_j / var_service_s of one float and one integer variant, by hand from the
    tiny device (1e10 MAC/s, int8 speed-up 2, 45 nm energies x 0.5, 160 pJ per weight byte)."""
    _, p = tiny_params()
    d = p.scenario.device
    for g in (int(np.flatnonzero(p.var_valid & ~p.var_integer)[0]), int(np.flatnonzero(p.var_integer)[0])):
        macs, size = p.var_macs[g], p.var_size_bytes[g]
        e_mac = (0.23e-12 if p.var_integer[g] else 4.6e-12) * 0.5
        assert p.var_energy_j[g] == pytest.approx(macs * e_mac + size * 160e-12, rel=1e-12)
        assert p.var_service_s[g] == pytest.approx(macs / (1e10 * (2.0 if p.var_integer[g] else 1.0)), rel=1e-12)
        assert d.compute_macs_per_s == 1e10 and d.int8_speedup == 2.0
    # the integer W8A8 variant of the full model: same MACs as its float 8-bit twin, less energy and time
    g_int = int(np.flatnonzero(p.var_integer & (p.var_task == 0))[-1])
    g_flt = g_int - 1  # the 8-bit float level precedes the integer one on the grid
    assert p.var_bits[g_int] == p.var_bits[g_flt] == 8 and not p.var_integer[g_flt]
    assert p.var_macs[g_int] == p.var_macs[g_flt]
    assert p.var_energy_j[g_int] < p.var_energy_j[g_flt] and p.var_service_s[g_int] == p.var_service_s[g_flt] / 2


def test_receive_power_is_linear_in_rate():
    # 1.2 W + 0.05 W per Mbit/s: 100 Mbit/s -> 6.2 W
    assert dev.rx_power_w(RADIO, 100e6) == pytest.approx(6.2)
    assert dev.rx_power_w(RADIO, 0.0) == pytest.approx(1.2)


def test_promotion_only_from_idle():
    assert dev.promotion_s(RADIO, np.array([True, True, False]), np.array([0.0, 3.0, 0.0])).tolist() == [0.26, 0.0, 0.0]


def test_radio_step_download_from_idle():
    # start from idle: promotion 0.26 s at 1.21 W, then 0.05 s of round trips at the tail power,
    # then 0.5 s receiving at 100 Mbit/s (6.2 W), then the tail for the rest of the 1 s step (0.19 s)
    promo = dev.promotion_s(RADIO, np.array([True]), np.array([0.0]))
    e, tail = dev.radio_step(RADIO, 1.0, promo, np.array([0.0]), np.array([0.31]), np.array([0.5]), np.array([100e6]))
    assert e[0] == pytest.approx(0.26 * 1.21 + 0.05 * 1.0 + 0.5 * 6.2 + 0.19 * 1.0)
    assert tail[0] == pytest.approx(10.0 - 0.19)


def test_radio_step_inside_the_tail_and_idle():
    dt = 1.0
    zero = np.zeros(3)
    # no activity: a running tail costs tail power until it runs out; an idle radio costs nothing
    e, tail = dev.radio_step(RADIO, dt, zero, np.array([0.4, 5.0, 0.0]), zero, zero, zero)
    assert e.tolist() == pytest.approx([0.4, 1.0, 0.0])
    assert tail.tolist() == pytest.approx([0.0, 4.0, 0.0])
    # a download inside the tail pays no promotion and restarts the tail after its last byte
    promo = dev.promotion_s(RADIO, np.array([True]), np.array([3.0]))
    e, tail = dev.radio_step(RADIO, dt, promo, np.array([3.0]), np.array([0.01]), np.array([0.2]), np.array([20e6]))
    assert promo[0] == 0.0
    assert e[0] == pytest.approx(0.01 * 1.0 + 0.2 * (1.2 + 0.05 * 20) + (1.0 - 0.21) * 1.0)
    assert tail[0] == pytest.approx(10.0 - 0.79)
    # receiving the whole step: no tail used yet, the full tail is still ahead
    e, tail = dev.radio_step(RADIO, dt, np.zeros(1), np.array([0.0]), np.zeros(1), np.ones(1), np.array([10e6]))
    assert e[0] == pytest.approx(1.2 + 0.5) and tail[0] == pytest.approx(10.0)


def test_batching_downloads_saves_promotion_and_tail():
    """Two transfers in consecutive steps: the second starts inside the first's tail."""
    dt = 1.0
    promo1 = dev.promotion_s(RADIO, np.array([True]), np.array([0.0]))
    e1, tail1 = dev.radio_step(RADIO, dt, promo1, np.array([0.0]), promo1, np.array([0.2]), np.array([10e6]))
    promo2 = dev.promotion_s(RADIO, np.array([True]), tail1)
    e2, tail2 = dev.radio_step(RADIO, dt, promo2, tail1, promo2, np.array([0.2]), np.array([10e6]))
    assert promo2[0] == 0.0 and e2[0] < e1[0]
    assert e1[0] - e2[0] == pytest.approx(0.26 * 1.21 - 0.26 * 1.0)  # promotion instead of tail time
