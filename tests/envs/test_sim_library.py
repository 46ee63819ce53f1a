"""The AI library: download latency through the tiers and the LRU edge cache (one zone, and
many rows at once)."""

from __future__ import annotations

import numpy as np
import pytest

from envs.sim import library as lib


def test_download_latency_formula():
    # 10 MB over min(400 Mbit/s air, 1 Gbit/s backhaul) + 20 ms rtt + 50 ms compression = 0.27 s
    spb = lib.seconds_per_byte(400e6, 1e9)
    assert spb == pytest.approx(8 / 400e6)
    assert lib.download_time_s(lib.fixed_time_s(0.02, 0.05), 10e6, spb) == pytest.approx(0.02 + 0.05 + 0.2)
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
    lib.lru_update(last, pres, 1, sizes, 100.0, 5.0, fill=False)  # refresh of an absent item: no fill
    assert pres[1] == 0.0


@pytest.mark.parametrize("layout", ["C", "F"])
def test_lru_update_rows_equals_row_by_row(layout):
    rng = np.random.default_rng(0)
    sizes = np.array([5e6, 3e6, 8e6, 2e6, 6e6])
    cap = 12e6
    n_items, zones, b = len(sizes), 3, 200
    present = np.zeros((b, zones * n_items))
    lastuse = np.full(present.shape, -np.inf)
    for step in range(25):
        p_ref, l_ref = (np.array(present, order=layout), np.array(lastuse, order=layout))
        present, lastuse = p_ref.copy(order=layout), l_ref.copy(order=layout)
        rows = np.sort(rng.choice(b, 80, replace=False))
        zone = rng.integers(0, zones, 80)
        item = rng.integers(0, n_items, 80)
        fill = rng.random(80) < 0.7
        now = np.full(80, 100.0 + step)
        for i, r in enumerate(rows):
            sl = slice(zone[i] * n_items, (zone[i] + 1) * n_items)
            lib.lru_update(l_ref[r, sl], p_ref[r, sl], int(item[i]), sizes, cap, float(now[i]), bool(fill[i]))
        lib.lru_update_rows(lastuse, present, rows, zone * n_items, item, sizes, cap, now, fill)
        assert np.array_equal(present, p_ref) and np.array_equal(lastuse, l_ref), f"step {step}"
        for z in range(zones):
            assert np.all((present[:, z * n_items:(z + 1) * n_items] * sizes).sum(1) <= cap)
