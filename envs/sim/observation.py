"""How raw quantities become observation features in [-1, 1]: the one table of scalings.

Every feature is a ratio (energy left / budget, step / horizon, bytes / storage, bits / 32,
distance / inter-site distance, zone index / (zones - 1)), a flag, a sin/cos of the hour, or one
of the scalings below. The env docstring's observation table lists each feature with its scaling.
"""

from __future__ import annotations

import numpy as np

#: ``(log10(x) - lo) / span`` clipped to ``[clip_lo, 1]``: feature kind -> (lo, span, clip_lo).
LOG_SCALES: dict[str, tuple[float, float, float]] = {
    "compute_macs_per_s": (9.0, 6.0, -1.0),  # 1 GMAC/s -> 0, 1 PMAC/s -> 1
    "storage_bytes": (3.0, 10.0, 0.0),       # 1 kB -> 0, 10 TB -> 1
    "rate_bps": (0.0, 11.0, 0.0),            # rates and backhauls: 1 bit/s -> 0, 100 Gbit/s -> 1
    "time_s": (-4.0, 5.0, 0.0),              # budgets and deadlines: 0.1 ms -> 0, 10 s -> 1
    "rtt_s": (-4.0, 4.0, 0.0),               # round trips (+ 0.1 ms): 0.1 ms -> 0, 1 s -> 1
}
#: ``log10(1 + x) / span`` clipped to [0, 1]: feature kind -> span.
LOG1P_SCALES: dict[str, float] = {
    "request_rate_hz": 4.0,  # 0 /s -> 0, 9999 /s -> 1
    "speedup": 2.0,          # integer over fp32 throughput: 1 -> 0.15, 99 -> 1
    "time_s_long": 4.0,      # time in the current task: 0 s -> 0, 9999 s -> 1
}
#: Estimated SNR in dB is divided by this (clipped to [-1, 1]).
SNR_SCALE_DB = 50.0
#: Bit widths are divided by this.
BITS_SCALE = 32.0
#: Offset added to round-trip times before their log scaling (an RTT of 0 stays finite).
RTT_OFFSET_S = 1e-4


def log_scaled(x, kind: str):
    """The log scaling of :data:`LOG_SCALES` ``kind`` (arrays or floats)."""
    lo, span, clip_lo = LOG_SCALES[kind]
    return np.clip((np.log10(np.maximum(x, 1e-30)) - lo) / span, clip_lo, 1.0)


def log1p_scaled(x, kind: str):
    """The ``log10(1 + x)`` scaling of :data:`LOG1P_SCALES` ``kind``."""
    return np.clip(np.log10(1.0 + np.asarray(x, dtype=float)) / LOG1P_SCALES[kind], 0.0, 1.0)
