"""Device model: inference service time and energy per mode, and the radio's energy.

**Arithmetic modes.** A *float* variant (fp32, or weights stored at fewer bits and dequantized:
"weight-only" quantization) computes in fp32: its size and memory traffic shrink with the bits,
its speed and arithmetic energy do not. An *integer* variant (W8A8: int8 weights and
activations) runs on integer units: ``device.int8_speedup`` times the fp32 MAC rate (measured on
phone CPUs with TFLite: MobileNetV3-Large 1.16-1.38x on one big core, EfficientNet-Lite 1.85-2.5x
on four threads; the MobileNetV3 and EfficientNet-Lite model cards in tensorflow/models and
tensorflow/tpu) at the int8 MAC energy.

**Energy per inference.** ``MACs x e_mac(mode) x technology_scale + weight bytes x e_mem``.
Horowitz (ISSCC 2014, 45 nm): fp32 multiply 3.7 pJ + add 0.9 pJ = 4.6 pJ per MAC, int8 multiply
0.2 pJ + add 0.03 pJ = 0.23 pJ. Weights are read once per inference (batch 1: a model of MBs does
not stay in the caches); a 32-bit DRAM read costs 640 pJ in the same 45 nm table as used by Han
et al. ("Learning both weights and connections", NeurIPS 2015, Table 1), i.e. 160 pJ per byte.
``technology_scale`` and ``e_mem_per_byte_j`` are per device class in the scenario.

**Radio.** While receiving, ``P = rx_base + rx_per_mbps x rate`` (the linear LTE power model of
Huang et al., MobiSys 2012, "A close examination of performance and power characteristics of 4G
LTE networks": 1.2 W + 51.97 mW per Mbit/s downlink). After the last byte the radio stays
connected for the RRC inactivity tail (LTE: 10.1 s at 1.06 W in Huang et al.'s model, the AT&T
ARO defaults; 5G NSA and SA phones ~10 s, Narayanan et al., SIGCOMM 2021), and starting a
transfer from idle costs a promotion (LTE: 0.26 s at 1.21 W). A transfer inside the tail of the
previous one pays no promotion and restarts the tail: batching downloads saves energy.
"""

from __future__ import annotations

import numpy as np


def service_time_s(macs: np.ndarray, integer: np.ndarray, compute_macs_per_s: float,
                   int8_speedup: float) -> np.ndarray:
    """Time of one inference: MACs / (fp32 MAC rate x (int8_speedup for integer variants))."""
    rate = compute_macs_per_s * np.where(integer, int8_speedup, 1.0)
    return np.asarray(macs, dtype=float) / rate


def inference_energy_j(macs: np.ndarray, weight_bytes: np.ndarray, integer: np.ndarray, d) -> np.ndarray:
    """Energy of one inference on device ``d`` (a scenario ``device`` section): arithmetic plus
    weight traffic (see the module docstring)."""
    e_mac = np.where(integer, d.e_mac_int8_j, d.e_mac_fp32_j) * d.technology_scale
    return np.asarray(macs, dtype=float) * e_mac + np.asarray(weight_bytes, dtype=float) * d.e_mem_per_byte_j


def rx_power_w(radio, rate_bps):
    """Radio power while receiving at ``rate_bps`` (arrays or floats)."""
    return radio.rx_base_power_w + radio.rx_power_per_mbps_w * (rate_bps * 1e-6)


def promotion_s(radio, start, tail_left_s):
    """Promotion delay of downloads starting now: ``promotion_s`` where the radio is idle (its
    tail has run out), else 0. It is added to the download's fixed time."""
    return start * (tail_left_s <= 0.0) * radio.promotion_s


def radio_step(radio, dt_s, promo_s, tail_left_s, t_fix_s, t_rx_s, rate_bps):
    """Radio energy and tail of one step (arrays over rows).

    The radio is connected while a download spends its fixed time in this step (``t_fix_s``, of
    which ``promo_s`` is promotion, at the promotion power; the rest round trips and compression)
    and receives during ``t_rx_s``; both come first in the step, the tail follows the last
    activity.

    Returns:
        ``(energy_j, tail_left_s after the step)``.
    """
    busy = t_fix_s + t_rx_s
    idle = dt_s - busy
    tail_avail = np.where(busy > 0.0, radio.tail_s, tail_left_s)
    tail_used = np.minimum(tail_avail, idle)
    energy = (rx_power_w(radio, rate_bps) * t_rx_s + radio.tail_power_w * (t_fix_s - promo_s + tail_used)
              + radio.promotion_power_w * promo_s)
    return energy, np.maximum(tail_avail - idle, 0.0)
