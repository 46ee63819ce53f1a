"""Device model: arithmetic energy per MAC as a function of bit width, inference speed.

Energy per operation (M. Horowitz, "Computing's energy problem (and what we can do about it)",
ISSCC 2014, 45 nm, 0.9 V): 8-bit integer add 0.03 pJ, 8-bit integer multiply 0.2 pJ,
32-bit integer add 0.1 pJ, 32-bit integer multiply 3.1 pJ, 32-bit float multiply 3.7 pJ.
The multiplier energy grows about quadratically with the operand width (0.2 pJ -> 3.1 pJ for
8 -> 32 bit, ratio 15.5 ~ 4^2) and the adder about linearly (0.03 -> 0.1 pJ, ratio 3.3 ~ 4), so
we model one multiply-accumulate at b bits as

    e_mac(b) = scale * (e_mult8 * (b / 8)^2 + e_add8 * (b / 8))

which gives 0.23 pJ at 8 bit and 3.32 pJ at 32 bit (Horowitz: 3.2 pJ for a 32-bit integer MAC,
4.6 pJ for fp32). ``scale`` (``device.technology_scale``) maps the 45 nm numbers to the device's
process node (a scenario assumption).

Inference speed: the device's ``compute_macs_per_s`` is its fp32 rate. A fixed-width SIMD unit
holds 32/b lanes of b-bit integers down to 8 bit (e.g. a 128-bit NEON register: 4 fp32 or 16 int8
lanes), so throughput grows as 32 / max(b, 8); widths below 8 bit run on 8-bit lanes (no native
sub-byte arithmetic on common mobile CPUs). This speed-up rule is an *assumption* documented here.
"""

from __future__ import annotations

import numpy as np


def energy_per_mac_j(bits: np.ndarray | float, e_mult_8bit_j: float = 0.2e-12,
                     e_add_8bit_j: float = 0.03e-12, technology_scale: float = 1.0) -> np.ndarray:
    """Energy of one multiply-accumulate at ``bits`` bits (Horowitz ISSCC 2014 scaling, see module doc)."""
    r = np.asarray(bits, dtype=float) / 8.0
    return technology_scale * (e_mult_8bit_j * r * r + e_add_8bit_j * r)


def compute_speedup(bits: np.ndarray | float) -> np.ndarray:
    """Throughput factor over fp32 for ``bits``-bit arithmetic: 32 / max(bits, 8) (SIMD lanes)."""
    return 32.0 / np.maximum(np.asarray(bits, dtype=float), 8.0)


def inference_latency_s(macs: np.ndarray, bits: np.ndarray, compute_macs_per_s: float) -> np.ndarray:
    """Latency of one inference: MACs / (fp32 MAC rate x speed-up(bits))."""
    return np.asarray(macs, dtype=float) / (compute_macs_per_s * compute_speedup(bits))
