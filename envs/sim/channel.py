"""Radio channel: 3GPP TR 38.901 path loss, shadowing, blockage, interference and the rate.

All functions are vectorised numpy and take SI units (metres, hertz, seconds, dB / dBm).

Sources:
* 3GPP TR 38.901 V17.0.0 (2022), "Study on channel model for frequencies from 0.5 to 100 GHz":
  Table 7.4.1-1 (path loss UMi-Street Canyon, UMa and RMa, LOS/NLOS, shadow-fading std, validity
  ranges: UMa h_BS = 25 m, RMa h_BS 10-150 m), Table 7.4.2-1 (LOS probability), Table 7.5-6
  (Rician K-factor, shadow-fading correlation distances). The formulas are specified for
  0.5-100 GHz; using them above 100 GHz (sub-THz) is an *extrapolation*, which the scenario
  files flag, together with an explicit molecular-absorption term (ITU-R P.676).
* Gudmundson, "Correlation model for shadow fading in mobile radio systems", Electronics
  Letters 27(23), 1991: shadowing correlation exp(-moved distance / decorrelation distance).
* Fast fading within a step: a step (0.1-10 s) spans tens to thousands of coherence times
  (T_c ~ 0.423 / f_D; Rappaport, Wireless Communications, 2nd ed., eq. 5.40.c), so the rate of a
  step is the expectation of the capped Shannon rate over the fading distribution (Rayleigh in
  NLOS, Rician with the K-factor in LOS), :class:`RateTable`.
* Blockage: a continuous-time two-state Markov chain (MacCartney et al., GLOBECOM 2017, fit such
  chains to human blockage at mmWave), simulated exactly in continuous time
  (:func:`blockage_fractions`), so every step knows the fraction of its time the link was blocked.
* Interference: the downlink SINR of system-level evaluations, S / (sum_c rho_c I_c + N), with
  interfering cells weighted by their load rho_c (the fraction of their resources in use; full
  buffer, rho = 1, is the 3GPP calibration case of 38.901 section 7.8).
* Thermal noise density -174 dBm/Hz at 290 K (kT).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter

#: Speed of light in m/s.
SPEED_OF_LIGHT_MPS = 299_792_458.0
#: Thermal noise power spectral density at 290 K, dBm/Hz (10 log10(k T / 1 mW)).
THERMAL_NOISE_DBM_PER_HZ = -174.0
#: Effective environment height h_E (38.901 Table 7.4.1-1 note 1): 1 m for UMi; for UMa 1 m with
#: probability 1 / (1 + C(d2D, h_UT)), which is 1 for h_UT < 13 m. We use 1 m throughout (a
#: simplification for UMa devices above 13 m, e.g. drones).
EFFECTIVE_ENV_HEIGHT_M = 1.0
#: Shadow-fading std in dB per model and LOS/NLOS state (38.901 Table 7.4.1-1).
#: (RMa LOS: 4 dB before the breakpoint, 6 dB after it; :func:`shadowing_std_db`.)
SHADOWING_STD_DB = {"umi": {"los": 4.0, "nlos": 7.82}, "uma": {"los": 4.0, "nlos": 6.0},
                    "rma": {"los": 4.0, "nlos": 8.0}}
#: RMa LOS shadow-fading std beyond the breakpoint distance (38.901 Table 7.4.1-1).
RMA_LOS_STD_FAR_DB = 6.0
#: Smallest 2D distance at which the Table 7.4.1-1 formulas apply (10 m for UMi and UMa).
MIN_DISTANCE_2D_M = 10.0


def breakpoint_distance_m(carrier_hz: float, bs_height_m: float, ue_height_m: float) -> float:
    """Breakpoint distance d'_BP = 4 h'_BS h'_UT f_c / c (38.901 Table 7.4.1-1 note 1)."""
    hb = bs_height_m - EFFECTIVE_ENV_HEIGHT_M
    hu = ue_height_m - EFFECTIVE_ENV_HEIGHT_M
    return 4.0 * hb * hu * carrier_hz / SPEED_OF_LIGHT_MPS


def rma_breakpoint_distance_m(carrier_hz: float, bs_height_m: float, ue_height_m: float) -> float:
    """RMa breakpoint distance d_BP = 2 pi h_BS h_UT f_c / c (38.901 Table 7.4.1-1 note 5: the
    actual antenna heights)."""
    return 2.0 * np.pi * bs_height_m * ue_height_m * carrier_hz / SPEED_OF_LIGHT_MPS


def _rma_pl1_db(d3d: np.ndarray, fc_ghz: float, h: float) -> np.ndarray:
    """RMa PL1(d3D) of 38.901 Table 7.4.1-1 (h: average building height)."""
    return (20.0 * np.log10(40.0 * np.pi * d3d * fc_ghz / 3.0) + min(0.03 * h ** 1.72, 10.0) * np.log10(d3d)
            - min(0.044 * h ** 1.72, 14.77) + 0.002 * np.log10(h) * d3d)


def rma_pathloss_terms_db(d2d_m: np.ndarray, carrier_hz: float, bs_height_m: float, ue_height_m: float,
                          street_width_m: float = 20.0, building_height_m: float = 5.0
                          ) -> tuple[np.ndarray, np.ndarray]:
    """``(PL_LOS, PL'_NLOS)`` of the RMa scenario in dB (38.901 Table 7.4.1-1; defaults W = 20 m,
    h = 5 m, valid for h_BS 10-150 m, h_UT 1-10 m, 10 m <= d2D <= 10 km LOS / 5 km NLOS)."""
    d2d = np.maximum(np.asarray(d2d_m, dtype=float), MIN_DISTANCE_2D_M)
    d3d = distance_3d_m(d2d, bs_height_m, ue_height_m)
    fc = carrier_hz / 1e9
    h, w, hb, hu = building_height_m, street_width_m, bs_height_m, ue_height_m
    dbp = rma_breakpoint_distance_m(carrier_hz, hb, hu)
    d3d_bp = float(distance_3d_m(dbp, hb, hu))
    pl_los = np.where(d2d <= dbp, _rma_pl1_db(d3d, fc, h),
                      _rma_pl1_db(d3d_bp, fc, h) + 40.0 * np.log10(d3d / d3d_bp))
    pl_n = (161.04 - 7.1 * np.log10(w) + 7.5 * np.log10(h) - (24.37 - 3.7 * (h / hb) ** 2) * np.log10(hb)
            + (43.42 - 3.1 * np.log10(hb)) * (np.log10(d3d) - 3.0) + 20.0 * np.log10(fc)
            - (3.2 * np.log10(11.75 * hu) ** 2 - 4.97))
    return pl_los, pl_n


def distance_3d_m(d2d_m: np.ndarray, bs_height_m: float, ue_height_m: float) -> np.ndarray:
    """3D distance from the 2D ground distance and the antenna heights."""
    return np.sqrt(np.square(d2d_m) + (bs_height_m - ue_height_m) ** 2)


def _pathloss_terms_db(model: str, d2d_m: np.ndarray, carrier_hz: float, bs_height_m: float,
                       ue_height_m: float, **rma: float) -> tuple[np.ndarray, np.ndarray]:
    """``(PL_LOS, PL'_NLOS)`` in dB (38.901 Table 7.4.1-1, UMi-Street Canyon / UMa / RMa), f_c in
    GHz inside, with ``log10(d3D)`` computed once for the three formulas; ``rma``: street width
    and building height of the RMa formulas."""
    d2d = np.maximum(np.asarray(d2d_m, dtype=float), MIN_DISTANCE_2D_M)
    lg = np.log10(distance_3d_m(d2d, bs_height_m, ue_height_m))
    fc_ghz = carrier_hz / 1e9
    dbp = breakpoint_distance_m(carrier_hz, bs_height_m, ue_height_m)
    dh2 = (bs_height_m - ue_height_m) ** 2
    if model == "umi":
        pl1 = 32.4 + 21.0 * lg + 20.0 * np.log10(fc_ghz)
        pl2 = 32.4 + 40.0 * lg + 20.0 * np.log10(fc_ghz) - 9.5 * np.log10(dbp**2 + dh2)
        pl_n = 35.3 * lg + 22.4 + 21.3 * np.log10(fc_ghz) - 0.3 * (ue_height_m - 1.5)
    elif model == "uma":
        pl1 = 28.0 + 22.0 * lg + 20.0 * np.log10(fc_ghz)
        pl2 = 28.0 + 40.0 * lg + 20.0 * np.log10(fc_ghz) - 9.0 * np.log10(dbp**2 + dh2)
        pl_n = 13.54 + 39.08 * lg + 20.0 * np.log10(fc_ghz) - 0.6 * (ue_height_m - 1.5)
    elif model == "rma":
        return rma_pathloss_terms_db(d2d, carrier_hz, bs_height_m, ue_height_m, **rma)
    else:
        raise ValueError(f"pathloss model {model!r} unknown; allowed: 'umi', 'uma', 'rma'")
    return np.where(d2d <= dbp, pl1, pl2), pl_n


def pathloss_los_db(model: str, d2d_m: np.ndarray, carrier_hz: float, bs_height_m: float,
                    ue_height_m: float, **rma: float) -> np.ndarray:
    """LOS path loss in dB (38.901 Table 7.4.1-1)."""
    return _pathloss_terms_db(model, d2d_m, carrier_hz, bs_height_m, ue_height_m, **rma)[0]


def pathloss_nlos_db(model: str, d2d_m: np.ndarray, carrier_hz: float, bs_height_m: float,
                     ue_height_m: float, **rma: float) -> np.ndarray:
    """NLOS path loss in dB: max(PL_LOS, PL'_NLOS) (38.901 Table 7.4.1-1)."""
    pl_los, pl_n = _pathloss_terms_db(model, d2d_m, carrier_hz, bs_height_m, ue_height_m, **rma)
    return np.maximum(pl_los, pl_n)


def pathloss_db(model: str, d2d_m: np.ndarray, los: np.ndarray, carrier_hz: float, bs_height_m: float,
                ue_height_m: float, **rma: float) -> np.ndarray:
    """Path loss in dB of each element in its LOS state: ``where(los, PL_LOS, PL_NLOS)`` (one
    evaluation of the formulas for both states)."""
    pl_los, pl_n = _pathloss_terms_db(model, d2d_m, carrier_hz, bs_height_m, ue_height_m, **rma)
    return np.where(los, pl_los, np.maximum(pl_los, pl_n))


def shadowing_std_db(model: str, d2d_m: np.ndarray, los: np.ndarray, carrier_hz: float,
                     bs_height_m: float, ue_height_m: float) -> np.ndarray:
    """Shadow-fading std in dB per link state (38.901 Table 7.4.1-1; RMa LOS 4 dB up to the
    breakpoint distance, 6 dB beyond)."""
    std = SHADOWING_STD_DB[model]
    los_std = std["los"]
    if model == "rma":
        dbp = rma_breakpoint_distance_m(carrier_hz, bs_height_m, ue_height_m)
        los_std = np.where(np.asarray(d2d_m) <= dbp, std["los"], RMA_LOS_STD_FAR_DB)
    return np.where(los, los_std, std["nlos"])


def los_probability(model: str, d2d_m: np.ndarray, ue_height_m: float = 1.5) -> np.ndarray:
    """Probability of line of sight (38.901 Table 7.4.2-1, UMi-Street Canyon, UMa and RMa)."""
    d = np.maximum(np.asarray(d2d_m, dtype=float), 1e-9)
    if model == "rma":
        return np.where(d <= 10.0, 1.0, np.exp(-(d - 10.0) / 1000.0))
    if model == "umi":
        p = 18.0 / d + np.exp(-d / 36.0) * (1.0 - 18.0 / d)
    elif model == "uma":
        c = 0.0 if ue_height_m <= 13.0 else ((ue_height_m - 13.0) / 10.0) ** 1.5
        p = (18.0 / d + np.exp(-d / 63.0) * (1.0 - 18.0 / d)) * (
            1.0 + c * 1.25 * (d / 100.0) ** 3 * np.exp(-d / 150.0))
    else:
        raise ValueError(f"pathloss model {model!r} unknown; allowed: 'umi', 'uma', 'rma'")
    return np.where(d <= 18.0, 1.0, np.clip(p, 0.0, 1.0))


def noise_power_dbm(bandwidth_hz: float, noise_figure_db: float) -> float:
    """Receiver noise power: -174 dBm/Hz + 10 log10(B) + NF."""
    return THERMAL_NOISE_DBM_PER_HZ + 10.0 * np.log10(bandwidth_hz) + noise_figure_db


def doppler_hz(speed_mps: float, carrier_hz: float) -> float:
    """Maximum Doppler shift f_D = v f_c / c."""
    return speed_mps * carrier_hz / SPEED_OF_LIGHT_MPS


def coherence_time_s(speed_mps: float, carrier_hz: float) -> float:
    """Coherence time T_c = 0.423 / f_D (Rappaport, eq. 5.40.c); infinite for a static device."""
    fd = doppler_hz(speed_mps, carrier_hz)
    return float("inf") if fd <= 0.0 else 0.423 / fd


def shadowing_correlation(speed_mps: float, dt_s: float, corr_distance_m: float) -> float:
    """Lag-dt correlation of shadowing, exp(-v dt / d_corr) (Gudmundson 1991)."""
    return float(np.exp(-speed_mps * dt_s / corr_distance_m))


def blockage_step_probs(rate_per_s: float, mean_duration_s: float, dt_s: float) -> tuple[float, float, float]:
    """Exact per-step transition probabilities of the continuous-time blockage chain sampled
    every ``dt_s``: ``(p_clear_to_blocked, p_blocked_to_clear, stationary blocked fraction)``.

    With onset rate lambda and release rate mu = 1 / mean duration,
    ``P(blocked at t + dt | clear at t) = pi_b (1 - exp(-(lambda + mu) dt))`` and
    ``P(clear | blocked) = (1 - pi_b) (1 - exp(-(lambda + mu) dt))``, pi_b = lambda / (lambda + mu).
    """
    lam, mu = rate_per_s, 1.0 / mean_duration_s
    pi_b = lam / (lam + mu)
    e = 1.0 - np.exp(-(lam + mu) * dt_s)
    return float(pi_b * e), float((1.0 - pi_b) * e), float(pi_b)


def blockage_fractions(holding: np.ndarray, s0: np.ndarray, rate_per_s: float, mean_duration_s: float,
                       dt_s: float, n_steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Blocked fraction of each step and the state at each step end, from the exact continuous-time
    two-state chain.

    Args:
        holding: [R, E] unit-mean exponentials; sojourn i of row r lasts ``holding[r, i]`` divided
            by the rate of the state it is in (onset rate while clear, 1 / mean duration while
            blocked); the chain alternates states. The sojourns must cover ``n_steps * dt_s``
            (raises ValueError otherwise). The chain is memoryless, so starting a new sojourn at the
            chunk start (carrying only the state) is exact.
        s0: [R] state at time 0 (1 blocked).

    Returns:
        ``(fraction [R, n_steps], state at each step end [R, n_steps])``.
    """
    r, e = holding.shape
    lam, mu = rate_per_s, 1.0 / mean_duration_s
    s0 = np.asarray(s0, dtype=bool)
    k = np.arange(e)
    blocked_seg = s0[:, None] ^ (k % 2 == 1)[None, :]          # state of sojourn i
    dur = holding / np.where(blocked_seg, mu, lam)
    ends = np.cumsum(dur, axis=1)
    horizon = n_steps * dt_s
    if not np.all(ends[:, -1] >= horizon):
        raise ValueError("blockage_fractions: the sojourns do not cover the steps; draw more")
    cum_blocked = np.cumsum(np.where(blocked_seg, dur, 0.0), axis=1)  # blocked time at each end
    t = np.arange(n_steps + 1) * dt_s
    # index of the sojourn holding each boundary time, per row (flat searchsorted with offsets)
    off = (np.arange(r) * (float(ends[:, -1].max()) + 1.0))[:, None]
    idx = np.searchsorted((ends + off).ravel(), (t[None, :] + off).ravel(), side="right").reshape(r, -1)
    idx -= (np.arange(r) * e)[:, None]
    idx = np.minimum(idx, e - 1)
    rows = np.arange(r)[:, None]
    start = np.where(idx > 0, ends[rows, np.maximum(idx - 1, 0)], 0.0)
    before = np.where(idx > 0, cum_blocked[rows, np.maximum(idx - 1, 0)], 0.0)
    seg_b = blocked_seg[rows, idx]
    b_t = before + np.where(seg_b, t[None, :] - start, 0.0)
    frac = np.clip(np.diff(b_t, axis=1) / dt_s, 0.0, 1.0)
    return frac, seg_b[:, 1:].astype(np.int64)


def noise_floor_mw(bandwidth_hz: float, noise_figure_db: float) -> float:
    """Receiver noise power in mW."""
    return float(10.0 ** (noise_power_dbm(bandwidth_hz, noise_figure_db) / 10.0))


def sinr_db(signal_dbm: np.ndarray, interference_mw: np.ndarray, noise_mw: float) -> np.ndarray:
    """SINR in dB: S / (I + N), with S in dBm and the interference and noise in mW."""
    return np.asarray(signal_dbm) - 10.0 * np.log10(np.asarray(interference_mw) + noise_mw)


def fading_quantiles(k_factor_db: float | None, n: int = 512) -> np.ndarray:
    """``n`` equal-probability points of the unit-mean fading power gain |h|^2: the midpoints
    ``F^-1((i + 1/2) / n)`` of the Rayleigh law (``k_factor_db`` None: |h|^2 ~ Exp(1)) or of
    the Rician law with K-factor K (2 (K + 1) |h|^2 is non-central chi-square with 2 degrees of
    freedom and non-centrality 2 K)."""
    from scipy import stats

    q = (np.arange(n) + 0.5) / n
    if k_factor_db is None:
        return -np.log1p(-q)
    k = 10.0 ** (k_factor_db / 10.0)
    return stats.ncx2.ppf(q, 2, 2.0 * k) / (2.0 * (k + 1.0))


class RateTable:
    """Expected spectral efficiency over fast fading, ``E_h[min(log2(1 + g h / gap), SE_max)]``, as
    a function of the mean SINR g in dB: tabulated once per scenario on a 0.05 dB grid from
    ``n_quantiles`` equal-probability fading points and read by linear interpolation
    (tests compare it with a numerical integral)."""

    GRID_DB = np.arange(-60.0, 90.0 + 1e-9, 0.05)

    def __init__(self, k_factor_db: float | None, gap_db: float, max_spectral_efficiency: float,
                 n_quantiles: int = 512) -> None:
        h = fading_quantiles(k_factor_db, n_quantiles)
        g = 10.0 ** ((self.GRID_DB - gap_db) / 10.0)
        se = np.minimum(np.log2(1.0 + g[:, None] * h[None, :]), max_spectral_efficiency)
        self.table = se.mean(axis=1)

    def __call__(self, sinr_db_: np.ndarray) -> np.ndarray:
        """Expected bit/s/Hz at mean SINR ``sinr_db_`` (clipped to the grid)."""
        return np.interp(sinr_db_, self.GRID_DB, self.table)


def ar1_real(rho: float, x0: np.ndarray, innovations: np.ndarray) -> np.ndarray:
    """Real AR(1) x_t = rho x_{t-1} + sqrt(1 - rho^2) w_t along axis 1 (unit stationary variance)."""
    b = [np.sqrt(max(0.0, 1.0 - rho * rho))]
    a = [1.0, -rho]
    out, _ = lfilter(b, a, innovations, axis=1, zi=(rho * x0)[:, None])
    return out
