"""Episode metrics, confidence intervals and the comparison report."""

from __future__ import annotations

import math

import numpy as np
import pytest

from agents.evaluate import compare, markdown_table, mean_ci, run_episodes, summarize
from agents.metrics import EpisodeAccumulator
from agents.policies import GreedyPolicy, OraclePolicy, RandomPolicy


def _info(acc, served, failed, tier, energy=0.0, nbytes=0.0, lat=0.0, depth=0, latv=0.0, miss=0.0):
    return {"accuracy": acc, "served_requests": served, "failed_requests": failed,
            "cost": {"latency_violation": latv, "deadline_miss": miss},
            "energy_j": energy, "bytes_downloaded": nbytes, "latency_s": lat, "source_tier": tier,
            "reward_terms": {"accuracy": acc * (served + failed), "violation": -failed},
            "variant": {"depth": depth, "prune": 0, "bits": 1}, "invalid_action": False,
            "invalid_actions": 0}


def test_accumulator_known_values():
    acc = EpisodeAccumulator()
    # info["accuracy"] is the step's mean over its requests (failed ones count 0)
    acc.add(1.0, _info(0.6, 3, 1, "central", energy=0.5, nbytes=1e6, lat=0.02, depth=2, latv=1, miss=1))
    acc.add(2.0, _info(0.6, 2, 0, "keep"))
    acc.add(-1.0, _info(0.0, 0, 4, 1, energy=0.1, nbytes=5e5, lat=0.04, depth=1))
    s = acc.result()
    assert s.ret == pytest.approx(2.0)
    assert s.length == 3
    assert s.accuracy == pytest.approx((0.6 * 4 + 0.6 * 2) / 10)
    assert s.violation_rate == pytest.approx(5 / 10)
    assert s.latency_violation_rate == pytest.approx(1 / 10)
    assert s.deadline_miss_rate == pytest.approx(1 / 2)
    assert s.energy_j == pytest.approx(0.6)
    assert s.bytes_downloaded == pytest.approx(1.5e6)
    assert s.latency_s == pytest.approx(0.03)
    assert s.tier_share == {"keep": pytest.approx(1 / 3), "edge": pytest.approx(1 / 3),
                            "local": 0.0, "central": pytest.approx(1 / 3)}
    assert s.reward_terms == {"accuracy": pytest.approx(3.6), "violation": pytest.approx(-5)}
    assert s.depths == [2, 1]


def test_mean_ci_t_interval_known_values():
    m, lo, hi = mean_ci([1, 2, 3, 4, 5])
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)
    assert m == 3 and lo == pytest.approx(3 - half) and hi == pytest.approx(3 + half)
    m, lo, hi = mean_ci([4.0])
    assert m == 4.0 and math.isnan(lo) and math.isnan(hi)


def test_same_seeds_give_same_episodes_and_summary(tiny_id):
    a = run_episodes(GreedyPolicy(), tiny_id, [0, 1], 2)
    b = run_episodes(GreedyPolicy(), tiny_id, [0, 1], 2)
    assert [r.stats.ret for r in a] == [r.stats.ret for r in b]
    rows = summarize(a)
    assert rows[0]["policy"] == "greedy" and rows[0]["n"] == 4
    assert rows[0]["return"] == pytest.approx(np.mean([r.stats.ret for r in a]))


def test_compare_writes_report_and_refuses_to_overwrite(tiny_id, tmp_path):
    out = tmp_path / "cmp"
    rows, records = compare([RandomPolicy(0), GreedyPolicy(), OraclePolicy()], tiny_id, [0, 1], 2, out,
                            logdir=tmp_path / "tb", show_progress=False)
    assert [r["policy"] for r in rows] == ["random", "greedy", "oracle"]
    for f in ("results.md", "results.csv", "episodes.csv", "returns.png", "accuracy_latency.png"):
        assert (out / f).stat().st_size > 0
    md = (out / "results.md").read_text()
    assert "| oracle | 4 |" in md and md == markdown_table(rows, tiny_id)
    # the oracle beats random on the double
    assert rows[2]["return"] > rows[0]["return"]
    assert len(list((tmp_path / "tb").iterdir())) == 6  # one TensorBoard run per policy and seed
    with pytest.raises(FileExistsError, match="already holds a report"):
        compare([GreedyPolicy()], tiny_id, [0], 1, out, show_progress=False)
