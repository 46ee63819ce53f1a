"""Radio channel: 3GPP TR 38.901 path loss, shadowing, fading, blockage and achievable rate.

All functions are vectorised numpy and take SI units (metres, hertz, seconds, dB / dBm).

Sources:
* 3GPP TR 38.901 V17.0.0 (2022), "Study on channel model for frequencies from 0.5 to 100 GHz":
  Table 7.4.1-1 (path loss UMi-Street Canyon and UMa, LOS/NLOS, shadow-fading std),
  Table 7.4.2-1 (LOS probability), Table 7.5-6 (Rician K-factor, shadow-fading correlation
  distances). The formulas are specified for 0.5-100 GHz; using them above 100 GHz (sub-THz) is an
  *extrapolation*, which the scenario files flag, together with an explicit molecular-absorption
  term (ITU-R P.676) that the 38.901 formulas do not contain.
* Jakes / Clarke model: time correlation of the complex fading gain rho = J0(2 pi f_D dt),
  f_D = v f_c / c (W. C. Jakes, Microwave Mobile Communications, 1974).
* Gudmundson, "Correlation model for shadow fading in mobile radio systems", Electronics
  Letters 27(23), 1991: shadowing correlation exp(-moved distance / decorrelation distance).
* Thermal noise density -174 dBm/Hz at 290 K (kT).
"""

from __future__ import annotations

import numpy as np
from scipy.signal import lfilter
from scipy.special import j0

#: Speed of light in m/s.
SPEED_OF_LIGHT_MPS = 299_792_458.0
#: Thermal noise power spectral density at 290 K, dBm/Hz (10 log10(k T / 1 mW)).
THERMAL_NOISE_DBM_PER_HZ = -174.0
#: Effective environment height h_E (38.901 Table 7.4.1-1 note 1): 1 m for UMi; for UMa 1 m with
#: probability 1 / (1 + C(d2D, h_UT)), which is 1 for h_UT < 13 m. We use 1 m throughout (a
#: simplification for UMa devices above 13 m, e.g. drones).
EFFECTIVE_ENV_HEIGHT_M = 1.0
#: Shadow-fading std in dB per model and LOS/NLOS state (38.901 Table 7.4.1-1).
SHADOWING_STD_DB = {"umi": {"los": 4.0, "nlos": 7.82}, "uma": {"los": 4.0, "nlos": 6.0}}
#: Smallest 2D distance at which the Table 7.4.1-1 formulas apply (10 m for UMi and UMa).
MIN_DISTANCE_2D_M = 10.0


def breakpoint_distance_m(carrier_hz: float, bs_height_m: float, ue_height_m: float) -> float:
    """Breakpoint distance d'_BP = 4 h'_BS h'_UT f_c / c (38.901 Table 7.4.1-1 note 1)."""
    hb = bs_height_m - EFFECTIVE_ENV_HEIGHT_M
    hu = ue_height_m - EFFECTIVE_ENV_HEIGHT_M
    return 4.0 * hb * hu * carrier_hz / SPEED_OF_LIGHT_MPS


def distance_3d_m(d2d_m: np.ndarray, bs_height_m: float, ue_height_m: float) -> np.ndarray:
    """3D distance from the 2D ground distance and the antenna heights."""
    return np.sqrt(np.square(d2d_m) + (bs_height_m - ue_height_m) ** 2)


def _pathloss_terms_db(model: str, d2d_m: np.ndarray, carrier_hz: float, bs_height_m: float,
                       ue_height_m: float) -> tuple[np.ndarray, np.ndarray]:
    """``(PL_LOS, PL'_NLOS)`` in dB (38.901 Table 7.4.1-1, UMi-Street Canyon / UMa), f_c in GHz
    inside, with ``log10(d3D)`` computed once for the three formulas."""
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
    else:
        raise ValueError(f"pathloss model {model!r} unknown; allowed: 'umi', 'uma'")
    return np.where(d2d <= dbp, pl1, pl2), pl_n


def pathloss_los_db(model: str, d2d_m: np.ndarray, carrier_hz: float, bs_height_m: float,
                    ue_height_m: float) -> np.ndarray:
    """LOS path loss in dB (38.901 Table 7.4.1-1, PL_UMi-LOS / PL_UMa-LOS)."""
    return _pathloss_terms_db(model, d2d_m, carrier_hz, bs_height_m, ue_height_m)[0]


def pathloss_nlos_db(model: str, d2d_m: np.ndarray, carrier_hz: float, bs_height_m: float,
                     ue_height_m: float) -> np.ndarray:
    """NLOS path loss in dB: max(PL_LOS, PL'_NLOS) (38.901 Table 7.4.1-1)."""
    pl_los, pl_n = _pathloss_terms_db(model, d2d_m, carrier_hz, bs_height_m, ue_height_m)
    return np.maximum(pl_los, pl_n)


def pathloss_db(model: str, d2d_m: np.ndarray, los: np.ndarray, carrier_hz: float, bs_height_m: float,
                ue_height_m: float) -> np.ndarray:
    """Path loss in dB of each element in its LOS state: ``where(los, PL_LOS, PL_NLOS)`` (one
    evaluation of the formulas for both states)."""
    pl_los, pl_n = _pathloss_terms_db(model, d2d_m, carrier_hz, bs_height_m, ue_height_m)
    return np.where(los, pl_los, np.maximum(pl_los, pl_n))


def los_probability(model: str, d2d_m: np.ndarray, ue_height_m: float = 1.5) -> np.ndarray:
    """Probability of line of sight (38.901 Table 7.4.2-1, UMi-Street Canyon and UMa)."""
    d = np.maximum(np.asarray(d2d_m, dtype=float), 1e-9)
    if model == "umi":
        p = 18.0 / d + np.exp(-d / 36.0) * (1.0 - 18.0 / d)
    elif model == "uma":
        c = 0.0 if ue_height_m <= 13.0 else ((ue_height_m - 13.0) / 10.0) ** 1.5
        p = (18.0 / d + np.exp(-d / 63.0) * (1.0 - 18.0 / d)) * (
            1.0 + c * 1.25 * (d / 100.0) ** 3 * np.exp(-d / 150.0))
    else:
        raise ValueError(f"pathloss model {model!r} unknown; allowed: 'umi', 'uma'")
    return np.where(d <= 18.0, 1.0, np.clip(p, 0.0, 1.0))


def noise_power_dbm(bandwidth_hz: float, noise_figure_db: float) -> float:
    """Receiver noise power: -174 dBm/Hz + 10 log10(B) + NF."""
    return THERMAL_NOISE_DBM_PER_HZ + 10.0 * np.log10(bandwidth_hz) + noise_figure_db


def doppler_hz(speed_mps: float, carrier_hz: float) -> float:
    """Maximum Doppler shift f_D = v f_c / c."""
    return speed_mps * carrier_hz / SPEED_OF_LIGHT_MPS


def fading_correlation(speed_mps: float, carrier_hz: float, dt_s: float) -> float:
    """Lag-dt correlation of the complex fading gain, rho = J0(2 pi f_D dt) (Jakes)."""
    return float(j0(2.0 * np.pi * doppler_hz(speed_mps, carrier_hz) * dt_s))


def shadowing_correlation(speed_mps: float, dt_s: float, corr_distance_m: float) -> float:
    """Lag-dt correlation of shadowing, exp(-v dt / d_corr) (Gudmundson 1991)."""
    return float(np.exp(-speed_mps * dt_s / corr_distance_m))


def blockage_transition_probs(rate_per_s: float, mean_duration_s: float, dt_s: float) -> tuple[float, float]:
    """Per-step probabilities (clear -> blocked, blocked -> clear) of the two-state Markov chain.

    Onsets form a Poisson process of rate ``rate_per_s`` while clear and blockages last an
    exponential time of mean ``mean_duration_s``; sampled every ``dt_s`` this is a two-state
    Markov chain with the probabilities returned here.
    """
    p_on = 1.0 - np.exp(-rate_per_s * dt_s)
    p_off = 1.0 - np.exp(-dt_s / mean_duration_s)
    return float(p_on), float(p_off)


def achievable_rate_bps(snr_db: np.ndarray, bandwidth_hz: float, share: np.ndarray | float,
                        gap_db: float, max_spectral_efficiency: float) -> np.ndarray:
    """Rate = share x B x min(log2(1 + SNR / gap), SE_max).

    ``gap_db`` is the SNR gap of practical coding and modulation to Shannon capacity;
    ``max_spectral_efficiency`` caps the rate at the highest MCS (e.g. 7.4063 bit/s/Hz for
    256-QAM, code rate 948/1024, 3GPP TS 38.214 Table 5.1.3.1-2).
    """
    snr = np.power(10.0, (np.asarray(snr_db, dtype=float) - gap_db) / 10.0)
    se = np.minimum(np.log2(1.0 + snr), max_spectral_efficiency)
    return share * bandwidth_hz * se


def link_snr_db(c, pathloss_db: np.ndarray, shadowing_db: np.ndarray, blocked: np.ndarray,
                d3d_m: np.ndarray, fading_gain: np.ndarray, noise_dbm: float) -> np.ndarray:
    """Link budget: SNR in dB of the serving link.

    ``P_tx + G - PL - SF - A_block x blocked - alpha x d3D / 1000 - L_O2I + 10 log10(|h|^2) - N``
    with the scenario's ``channel`` section ``c`` (tx power, combined antenna gain, blockage
    attenuation, molecular absorption per km, outdoor-to-indoor loss) and the noise power
    :func:`noise_power_dbm`.
    """
    return (c.tx_power_dbm + c.antenna_gain_db - pathloss_db - shadowing_db - c.blockage.attenuation_db * blocked
            - c.absorption_db_per_km * d3d_m / 1000.0 - c.o2i_loss_db
            + 10.0 * np.log10(np.maximum(fading_gain, 1e-12)) - noise_dbm)


def link_rate_bps(c, snr_db: np.ndarray, share: np.ndarray | float) -> np.ndarray:
    """Air rate of the device's share of the cell: :func:`achievable_rate_bps` with the
    ``channel`` section's bandwidth, SNR gap and spectral-efficiency cap, at least 1 bit/s."""
    return np.maximum(achievable_rate_bps(snr_db, c.bandwidth_hz, share, c.implementation_gap_db,
                                          c.max_spectral_efficiency), 1.0)


def ar1_complex(rho: float, h0: np.ndarray, innovations: np.ndarray) -> np.ndarray:
    """Complex AR(1) h_t = rho h_{t-1} + sqrt(1 - rho^2) w_t along axis 1, starting after ``h0``.

    Args:
        rho: correlation per step.
        h0: [B] complex value before the first step (stationary CN(0, 1)).
        innovations: [B, n] complex CN(0, 1) innovations w_t.

    Returns:
        [B, n] complex gains with unit mean power.
    """
    b = [np.sqrt(max(0.0, 1.0 - rho * rho))]
    a = [1.0, -rho]
    zi = (rho * h0)[:, None]
    out, _ = lfilter(b, a, innovations, axis=1, zi=zi)
    return out


def ar1_real(rho: float, x0: np.ndarray, innovations: np.ndarray) -> np.ndarray:
    """Real AR(1) x_t = rho x_{t-1} + sqrt(1 - rho^2) w_t along axis 1 (unit stationary variance)."""
    b = [np.sqrt(max(0.0, 1.0 - rho * rho))]
    a = [1.0, -rho]
    out, _ = lfilter(b, a, innovations, axis=1, zi=(rho * x0)[:, None])
    return out


def rician_power(h: np.ndarray, k_linear: float) -> np.ndarray:
    """Power gain |sqrt(K/(K+1)) + sqrt(1/(K+1)) h|^2 (unit mean); K = 0 gives Rayleigh |h|^2."""
    los = np.sqrt(k_linear / (k_linear + 1.0))
    sc = np.sqrt(1.0 / (k_linear + 1.0))
    return np.abs(los + sc * h) ** 2
