"""Experiment connectivity: required rates, reference classes, report files."""

from __future__ import annotations

import csv

import pytest

from agents.connectivity import rate_class, required_rate_bps, run_connectivity
from compression.profile import save_profile


def make_profile_file(path):
    """A small schema-valid profile: 2 depths x 2 prune levels x 2 bit widths (test data)."""
    prunes = [{"kind": "none", "fraction": 0.0}, {"kind": "structured", "fraction": 0.5}]
    variants = []
    for d in (1, 2):
        for pi, p in enumerate(prunes):
            for b in (32, 8):
                size = int(1_000_000 * d / 2 * (1 - 0.5 * pi) * b / 32)
                variants.append({"depth": d, "prune": p, "bits": b, "size_bytes": size, "macs": 1000 * d,
                                 "params": size // 4, "accuracy": 0.5 + 0.2 * d - 0.1 * pi - 0.01 * (b == 8),
                                 "latency_s": 0.001, "proxies": {"params": float(size)}})
    data = {"name": "toy", "task": "toy", "model": "toy-mlp", "source": "user",
            "levels": {"depth": [1, 2], "prune": prunes, "bits": [32, 8]}, "variants": variants}
    return save_profile(data, path)


def test_required_rate_known_values():
    assert required_rate_bps(1_000_000, 0.01) == pytest.approx(800e6)  # 1 MB in 10 ms
    assert required_rate_bps(12_500, 1e-3) == pytest.approx(100e6)
    with pytest.raises(ValueError, match="latency budget must be > 0 s"):
        required_rate_bps(1, 0.0)


@pytest.mark.parametrize("rate, cls", [(100e6, "5G UE"), (100.1e6, "6G UE"), (500e6, "6G UE"),
                                       (1e9, "5G peak"), (21e9, "6G peak"), (300e9, "beyond 6G peak")])
def test_rate_class(rate, cls):
    assert rate_class(rate) == cls


def test_run_connectivity_writes_table_plot_and_csv(tmp_path):
    prof = make_profile_file(tmp_path / "toy.json")
    out = tmp_path / "conn"
    md = run_connectivity(out, [str(prof)])
    # full model: 1 MB -> 8000 Mbit/s at 1 ms, 800 at 10 ms, 80 at 100 ms, 8 at 1 s
    assert "| toy | full (d2, none 0, 32 bit) | 1,000.0 | 0.900 | 8,000 | 800 | 80 | 8 | 5G peak |" in md
    # smallest: d1, structured 0.5, 8 bit = 62,500 B
    assert "| toy | smallest (d1, structured 0.5, 8 bit) | 62.5 |" in md
    # at 10 ms, 100 Mbit/s moves 125 kB: d2/structured 0.5/8 bit (125 kB, acc 0.79) beats
    # d1/none/8 bit (125 kB, acc 0.69); at 1 ms nothing fits 12.5 kB
    row = next(line for line in md.splitlines() if line.startswith("| toy | 0.900 |"))
    assert row.split(" | ")[2:5] == ["none fits", "0.590", "0.790"]
    with open(out / "connectivity.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 8
    assert (out / "connectivity.png").stat().st_size > 0
    with pytest.raises(FileExistsError, match="already holds connectivity results"):
        run_connectivity(out, [str(prof)])
