"""Three-tier AI library: download latency and the LRU edge cache.

Download latency of a variant of size S from tier t:

    L = rtt_path + compress_time_t + S / min(rate_air, backhaul_t)

``rtt_path`` is the round trip of every tier the request visits: a tier lacking the variant
forwards the request to the next tier up and its round trip is added (``fallthrough``), or the
action is masked. Local and central tiers *store* their variants (no compression time); only the
edge compresses on the fly, training-free variants from a cached full model:
``compress_time = full_size / compress_bytes_per_s`` of the edge (0 for the uncompressed variant). The bytes move at each
step's *true* rate, so the transition tracks the fixed part and the bytes separately and
:func:`download_time_s` is the latency at one step's rate. The edge caches *full* models (so it
can serve any variant) in an LRU cache of ``capacity_bytes``: a download *through the edge* that
misses streams the variant through and fills the cache with the full model over the backhaul
(those bytes count as backhaul cost); a hit refreshes the entry's recency. Direct local/central
downloads bypass the edge cache.
"""

from __future__ import annotations

import numpy as np


def seconds_per_byte(rate_bps, backhaul_bps):
    """Seconds per byte of a transfer limited by the slower of air and backhaul: ``8 / min(rate,
    backhaul)``, written ``max(8 / rate, 8 / backhaul)`` as the transition reads it."""
    return np.maximum(8.0 / np.asarray(rate_bps, float), 8.0 / np.asarray(backhaul_bps, float))


def fixed_time_s(rtt_path_s, compress_time_s):
    """The part of a download's latency that does not depend on the rate: round trips of the
    tiers visited plus the on-the-fly compression time."""
    return rtt_path_s + compress_time_s


def download_time_s(fixed_s, size_bytes, s_per_byte):
    """Download latency ``L = fixed + S x seconds per byte`` (= rtt_path + compress_time +
    8 S / min(rate_air, backhaul)) at one rate; works on arrays and on Python floats."""
    return fixed_s + size_bytes * s_per_byte


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


def lru_update_rows(lastuse: np.ndarray, present: np.ndarray, rows: np.ndarray, base: np.ndarray,
                    item: np.ndarray, item_sizes: np.ndarray, capacity_bytes: float, now: np.ndarray,
                    fill: np.ndarray) -> None:
    """:func:`lru_update` for many rows at once (each row its own cache), in place.

    Row ``rows[i]`` updates item ``item[i]`` of its cache slice ``base[i] .. base[i] + n_items``
    of ``lastuse``/``present`` ([B, n_zones * n_items]), at time ``now[i]``, inserting if
    ``fill[i]``. Gives exactly :func:`lru_update`'s result row by row (same victims, ties to the
    lowest index, same byte accounting), as long as no two entries of ``rows`` share memory
    (caches shared between rows must be updated one row at a time).
    """
    n_items = len(item_sizes)
    if not (present.flags.c_contiguous and lastuse.flags.c_contiguous and present.ndim == 2
            and lastuse.shape == present.shape):
        _lru_update_rows_indexed(lastuse, present, rows, base, item, item_sizes, capacity_bytes, now, fill)
        return
    # Flat indices into the [B, n_zones * n_items] caches: one gather for the hit test, one
    # scatter for the hits' time stamps; only the rows that insert read and write their whole
    # cache slice (the other rows' slices are left untouched, as the gather/write-back of the
    # indexed version leaves them unchanged).
    start = rows * present.shape[1] + base
    flat_item = start + item
    pres_flat = present.reshape(-1)
    last_flat = lastuse.reshape(-1)
    hit = np.take(pres_flat, flat_item) > 0
    size = np.take(item_sizes, item)
    ins = ~hit & fill & (size <= capacity_bytes)
    if hit.any():
        last_flat[flat_item[hit]] = now[hit]
    if ins.any():
        j = np.flatnonzero(ins)
        cols = start[j, None] + np.arange(n_items)[None, :]
        p_j, l_j, it, sz = np.take(pres_flat, cols), np.take(last_flat, cols), item[j], size[j]
        _insert_evicting_lru(p_j, l_j, it, sz, item_sizes, capacity_bytes, now[j])
        pres_flat[cols] = p_j
        last_flat[cols] = l_j


def _insert_evicting_lru(p_j: np.ndarray, l_j: np.ndarray, it: np.ndarray, sz: np.ndarray,
                         item_sizes: np.ndarray, capacity_bytes: float, now_j: np.ndarray) -> None:
    """Insert item ``it[i]`` (``sz[i]`` bytes) into cache row i of ``p_j``/``l_j`` (presence,
    last use; [n, n_items], in place), evicting least recently used items until it fits."""
    used = np.sum(item_sizes * (p_j > 0), axis=1)
    need = used + sz > capacity_bytes
    while need.any():
        k = np.flatnonzero(need)
        cand = np.where(p_j[k] > 0, l_j[k], np.inf)
        victim = np.argmin(cand, axis=1)
        p_j[k, victim] = 0.0
        l_j[k, victim] = -np.inf
        used[k] -= item_sizes[victim]
        need[k] = used[k] + sz[k] > capacity_bytes
    aj = np.arange(len(it))
    p_j[aj, it] = 1.0
    l_j[aj, it] = now_j


def _lru_update_rows_indexed(lastuse: np.ndarray, present: np.ndarray, rows: np.ndarray, base: np.ndarray,
                             item: np.ndarray, item_sizes: np.ndarray, capacity_bytes: float,
                             now: np.ndarray, fill: np.ndarray) -> None:
    """:func:`lru_update_rows` by two-array indexing (any memory layout of the caches)."""
    n_items = len(item_sizes)
    cols = base[:, None] + np.arange(n_items)[None, :]
    r2 = rows[:, None]
    pres = present[r2, cols]
    last = lastuse[r2, cols]
    ar = np.arange(len(rows))
    hit = pres[ar, item] > 0
    size = item_sizes[item]
    ins = ~hit & fill & (size <= capacity_bytes)
    last[ar[hit], item[hit]] = now[hit]
    if ins.any():
        j = np.flatnonzero(ins)
        p_j, l_j, it, sz = pres[j], last[j], item[j], size[j]
        _insert_evicting_lru(p_j, l_j, it, sz, item_sizes, capacity_bytes, now[j])
        pres[j] = p_j
        last[j] = l_j
    present[r2, cols] = pres
    lastuse[r2, cols] = last
