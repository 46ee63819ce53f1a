"""Three-tier AI library: download latency and the LRU edge cache.

Download latency of a variant of size S from tier t (DESIGN.md section 3, issue 3):

    L = rtt_path + compress_time_t + S / min(rate_air, backhaul_t)

``rtt_path`` is the round trip of every tier the request visits: a tier lacking the model
forwards the request to the next tier up and its round trip is added (``fallthrough``), or the
action is masked. ``compress_time_t = full_size / compress_bytes_per_s_t``: the tier compresses
the full model on the fly (0 when the uncompressed variant is sent). The edge caches *full*
models (so it can serve any variant) in an LRU cache of ``capacity_bytes``: a download *through
the edge* that misses streams the variant through and fills the cache with the full model over
the backhaul (those bytes count as backhaul cost); a hit refreshes the entry's recency.
Direct local/central downloads bypass the edge cache.
"""

from __future__ import annotations

import numpy as np


def download_latency_s(size_bytes: np.ndarray | float, rate_air_bps: np.ndarray | float,
                       backhaul_bps: float, rtt_path_s: float, compress_time_s: float) -> np.ndarray:
    """L = rtt_path + compress_time + 8 S / min(rate_air, backhaul) (sizes in bytes, rates in bit/s)."""
    return rtt_path_s + compress_time_s + 8.0 * np.asarray(size_bytes, float) / np.minimum(rate_air_bps, backhaul_bps)


def lru_update(lastuse: np.ndarray, present: np.ndarray, item: int, item_sizes: np.ndarray,
               capacity_bytes: float, now: float, fill: bool) -> None:
    """Refresh (``fill=False``) or insert (``fill=True``) ``item`` in one zone's LRU cache, in place.

    Args:
        lastuse: [n_items] time of last use (-inf where absent).
        present: [n_items] 1.0 where cached.
        item: index of the item.
        item_sizes: [n_items] sizes in bytes.
        capacity_bytes: cache capacity; items larger than it are never cached.
        now: current time (larger = more recent).
        fill: insert if absent (evicting least recently used items until it fits).
    """
    if present[item] > 0:
        lastuse[item] = now
        return
    if not fill or item_sizes[item] > capacity_bytes:
        return
    used = float(np.sum(item_sizes * (present > 0)))
    while used + item_sizes[item] > capacity_bytes:
        cand = np.where(present > 0, lastuse, np.inf)
        victim = int(np.argmin(cand))
        present[victim] = 0.0
        lastuse[victim] = -np.inf
        used -= item_sizes[victim]
    present[item] = 1.0
    lastuse[item] = now
