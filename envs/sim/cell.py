"""Coupling hooks for devices that share one cell: :class:`CellSim`, a :class:`BatchSim` whose rows
are devices of the same cell(s) instead of independent copies.

The physics is :class:`envs.sim.core.BatchSim`'s, unchanged (its pure ``_transition``); this
subclass only adds inputs that couple the rows, each a no-op by default, so a ``CellSim``
without them steps exactly like a ``BatchSim`` (tested):

* :meth:`CellSim.action_rows` and :meth:`CellSim.starts_download`: what the given actions resolve
  to in the current state (serving tier, backhaul seconds per byte; whether a download starts):
  what a scheduler must know *before* the step (read-only, no RNG use).
* ``CellSim.step(actions, rate_share=..., backhaul_share=...)``: in this step, the row's download
  (one starting now or one in flight) moves its bytes at ``rate_share`` (in (0, 1]) of the row's
  air rate and ``backhaul_share`` of its serving tier's backhaul: seconds per byte
  ``max(8 / (rate * rate_share), 8 / (backhaul * backhaul_share))``. The core re-reads the rate
  every step, so the shares are re-decided every step too (``download_latency_s`` of a download
  started now is the core's projection at this step's shared rate).
* :meth:`CellSim.share_edge_cache`: every row reads and writes ONE edge cache (per zone, as in the
  core) that can also be shared with other ``CellSim`` objects (devices of other classes in the
  same cell): one device's download through the edge warms the cache for all. Implemented with
  zero-stride views of shared arrays, so the core's in-place LRU updates act on the shared cache.
* ``CellSim.step(..., edge_before=snapshot)``: simultaneous moves across ``CellSim`` objects
  sharing a cache: this step's actions see the cache as it was before any of them stepped.

It relies on these hooks of the core: ``_action_rows(a, ci)`` and ``_transition(cur, ci, arr,
rows, a, s, t)`` (pure), ``state.edge_present``/``state.edge_lastuse`` (updated in place),
``state.dyn``, ``exo.f``/``exo.ci``; ``tests/envs/test_multi_device.py`` checks the coupling
against the core (identical without shares, exact latencies with them).

Used by :mod:`envs.multi_device`; numpy only (no gymnasium, no torch).
"""

from __future__ import annotations

import numpy as np

from envs.sim.core import BatchSim
from envs.sim.dynamics import action_rows
from envs.sim.exogenous import C_ZONE, E_INVRATE, E_RATE, E_ZONE
from envs.sim.params import AT_SPB_BH, AT_TIER, SRC_EDGE, SimParams
from envs.sim.state import StepResult

#: Air-interface schedulers of a cell (:func:`air_shares`).
SCHEDULERS = ("equal", "proportional_fair")


def air_shares(scheduler: str, active: np.ndarray, zone: np.ndarray, rate_bps: np.ndarray,
               pf_avg_bps: np.ndarray, n_zones: int) -> np.ndarray:
    """Share ``w_i`` of its own achievable rate that each device moves its bytes at this step.

    The devices whose downloads are active in the step (``active``, starting now or in flight)
    divide their zone's time-frequency resources; inactive devices get 1 (unused):

    * ``equal``: ``w_i = 1 / n_active`` of the zone (round robin / equal share);
    * ``proportional_fair``: ``w_i = (r_i / R_i) / sum_j (r_j / R_j)`` over the zone's active
      devices, ``R_i`` the device's exponentially averaged achievable rate (:func:`pf_average`).
      A fluid (time-share) form of the proportional-fair scheduler of Jalali, Padovani, Pankaj,
      "Data throughput of CDMA-HDR", IEEE VTC 2000 (each slot serves the largest ``r_i / R_i``),
      which maximises sum_i log(throughput_i) (Kelly, "Charging and rate control for elastic
      traffic", Eur. Trans. Telecomm. 8(1), 1997). Simplification (*assumption*): Jalali et al.
      average the *served* throughput; with every device backlogged and equal long-run time
      shares, that average is proportional to the achievable-rate average used here.

    Step-level fluid approximation (*assumption*): a download active at any time in the step
    (including its round-trip/compression phase) holds its share for the whole step.
    """
    share = np.ones(len(active))
    if not active.any():
        return share
    za = zone[active]
    if scheduler == "equal":
        counts = np.bincount(za, minlength=n_zones).astype(float)
        share[active] = 1.0 / counts[za]
    else:
        metric = rate_bps / np.maximum(pf_avg_bps, 1e-9)
        denom = np.bincount(za, weights=metric[active], minlength=n_zones)
        share[active] = metric[active] / denom[za]
    return np.clip(share, 1e-12, 1.0, out=share)


def backhaul_shares(active: np.ndarray, zone: np.ndarray, tier: np.ndarray, n_zones: int) -> np.ndarray:
    """Downloads served by the same tier (1 edge, 2 local, 3 central) in the same zone in the
    same step share that tier's backhaul equally (``1 / n``; in-flight downloads count)."""
    share = np.ones(len(active))
    if not active.any():
        return share
    key = zone * 4 + tier.astype(np.int64)
    counts = np.bincount(key[active], minlength=n_zones * 4).astype(float)
    share[active] = 1.0 / counts[key[active]]
    return share


def pf_average(avg_bps: np.ndarray, rate_bps: np.ndarray, time_constant_steps: float) -> np.ndarray:
    """Proportional-fair average, updated every step: ``R <- (1 - 1/t_c) R + (1/t_c) r``."""
    beta = 1.0 / time_constant_steps
    return (1.0 - beta) * avg_bps + beta * rate_bps


class CellSim(BatchSim):
    """A :class:`BatchSim` with the cell-coupling inputs described in the module docstring."""

    def __init__(self, params: SimParams, batch_size: int, chunk_steps: int | None = None):
        super().__init__(params, batch_size, chunk_steps)
        self._rate_override: tuple[np.ndarray, np.ndarray] | None = None
        self._edge_before: np.ndarray | None = None

    # ------------------------------------------------------------------ read-only views
    def action_rows(self, actions, edge_before: np.ndarray | None = None) -> np.ndarray:
        """Resolved action-table rows [B, N_AT] of flat ``actions`` [B] now (columns ``AT_*`` of
        :mod:`envs.sim.params`: ``AT_TIER`` serving tier 0..3, ``AT_SPB_BH`` backhaul seconds per
        byte, ...). ``edge_before``: read the edge cache from this snapshot (see :meth:`step`)."""
        a = np.asarray(actions, dtype=np.int64)
        ci = self.now(self.exo.ci)
        ep = self.state.edge_present if edge_before is None else edge_before
        return action_rows(self.p, a, ci[:, C_ZONE], ep)

    def starts_download(self, actions) -> np.ndarray:
        """Whether each row's flat action is a valid download now, bool [B]."""
        a = np.asarray(actions, dtype=np.int64)
        return self.action_masks()[self.ar, a] & (self.p.act_src[a] >= SRC_EDGE)

    def true_rates_bps(self) -> np.ndarray:
        """True air rate of every row's current step, bit/s [B] (a copy)."""
        return self.exo.f[self.ar, self.state.k, E_RATE]

    def zones(self) -> np.ndarray:
        """Current zone (cell index mod n_zones) of every row, int [B]."""
        return self.exo.f[self.ar, self.state.k, E_ZONE].astype(np.int64)

    # ------------------------------------------------------------------ coupling
    def share_edge_cache(self, present: np.ndarray, lastuse: np.ndarray) -> None:
        """Make every row use the edge cache ``present``/``lastuse`` (float arrays [n_zones * K]).

        Pass the same two arrays to several ``CellSim`` objects to share one cache among them.
        A reset row re-initialises the shared cache (its own initial fill); resetting all rows
        together leaves the fill drawn by the last row reset.
        """
        zk = self.zk
        for name, arr in (("present", present), ("lastuse", lastuse)):
            if not (isinstance(arr, np.ndarray) and arr.shape == (zk,) and arr.dtype == np.float64
                    and arr.flags.c_contiguous and arr.flags.writeable):
                raise ValueError(f"share_edge_cache: {name} must be a writeable contiguous float64 "
                                 f"array of shape ({zk},) (n_zones x n_tasks)")
        view = np.lib.stride_tricks.as_strided
        self.state.edge_present = view(present, shape=(self.B, zk), strides=(0, present.strides[0]),
                                 writeable=True)
        self.state.edge_lastuse = view(lastuse, shape=(self.B, zk), strides=(0, lastuse.strides[0]),
                                 writeable=True)

    def step(self, actions, rate_share: np.ndarray | None = None,
             backhaul_share: np.ndarray | None = None,
             edge_before: np.ndarray | None = None) -> StepResult:
        """:meth:`BatchSim.step` with per-row shares of the air rate and the tier backhaul.

        ``rate_share`` / ``backhaul_share``: float [B] in (0, 1] (``None``: 1, the core's step
        exactly), for the row's download of this step (starting now or in flight): it moves its
        bytes at ``max(8 / (rate x rate_share), 8 / (backhaul x backhaul_share))`` seconds per
        byte, and the radio's receive power follows the shared rate. ``edge_before``: a copy of
        the shared edge cache's ``present`` array taken before ANY sim sharing it stepped: the
        step's actions then see the cache as it was at the start of the step (simultaneous moves;
        the fills are applied afterwards in order).
        """
        a = np.asarray(actions, dtype=np.int64)
        if a.ndim == 2:
            a = self.flat_actions(a)
        self._edge_before = edge_before
        if rate_share is not None or backhaul_share is not None:
            ones = np.ones(self.B)
            rs = ones if rate_share is None else np.asarray(rate_share, dtype=float)
            bs = ones if backhaul_share is None else np.asarray(backhaul_share, dtype=float)
            for name, s_ in (("rate_share", rs), ("backhaul_share", bs)):
                if s_.shape != (self.B,) or not np.all((s_ > 0.0) & (s_ <= 1.0)):
                    raise ValueError(f"CellSim.step: {name} must be {self.B} values in (0, 1], got {s_!r}")
            rows = self.action_rows(a, edge_before)
            d = self.state.dyn
            rate = self.true_rates_bps() * rs
            # backhaul seconds per byte of the row's download this step: the one in flight, or
            # the one starting now (a row without a download ignores it)
            inv_bh = np.where(d.dl_active, d.dl_s_per_byte_bh, rows[:, AT_SPB_BH]) / bs
            self._rate_override = (rate, np.maximum(8.0 / rate, inv_bh))
        try:
            return super().step(a)
        finally:
            self._rate_override = None
            self._edge_before = None

    def _action_rows(self, a, ci):
        ep = self.state.edge_present if self._edge_before is None else self._edge_before
        return action_rows(self.p, a, ci[:, C_ZONE], ep)

    def _transition(self, cur, ci, arr, rows, a, s, t):
        if self._rate_override is not None:
            cur = cur.copy()
            cur[:, E_RATE], cur[:, E_INVRATE] = self._rate_override
        return super()._transition(cur, ci, arr, rows, a, s, t)


#: Re-exported names the multi-device adapter reads.
__all__ = ["AT_SPB_BH", "AT_TIER", "SCHEDULERS", "CellSim", "air_shares", "backhaul_shares", "pf_average"]
