"""Episode metrics, confidence intervals, policies that compute their episode without acting,
and the comparison report."""

from __future__ import annotations

import csv
import math

import numpy as np
import pytest

from agents.evaluate import compare, markdown_table, mean_ci, run_episodes, summarize
from agents.metrics import EpisodeAccumulator, EpisodeStats, log_episode
from agents.policies import GreedyPolicy, OraclePolicy, RandomPolicy
from agents.policy_base import Policy


def _info(requests, served, acc_sum, tier="none", *, no_model=0.0, late=0.0, energy=0.0, radio=0.0,
          air=0.0, bh=0.0, lat=0.0, depth=-1, downloaded=False, cancelled=False, source="keep",
          invalid=False, left=100.0):
    """A step info with the v1 keys (envs.adapter.InfoBuilder)."""
    return {"requests": requests, "served_requests": served, "failed_requests": requests - served,
            "no_model_requests": no_model, "late_requests": late, "accuracy_sum": acc_sum,
            "accuracy": acc_sum / requests if requests else 0.0, "energy_j": energy, "energy_radio_j": radio,
            "air_bytes": air, "backhaul_bytes": bh, "download_latency_s": lat, "source_tier": tier,
            "action_source": source, "downloaded": downloaded, "cancelled": cancelled,
            "invalid_action": invalid, "invalid_actions": 0, "energy_left_j": left,
            "reward_terms": {"accuracy": acc_sum, "failed_requests": -(requests - served)},
            "cost": {"energy_j": energy, "failed_requests": requests - served},
            "variant": {"depth": depth, "prune": 0 if depth >= 0 else -1, "bits": 1 if depth >= 0 else -1,
                        "integer": False}}


def test_accumulator_known_values():
    acc = EpisodeAccumulator()
    acc.add(1.0, _info(4, 3, 1.8, "central", no_model=1, energy=0.5, radio=0.4, air=1e6, bh=2e6, lat=0.02,
                       depth=2, source="central", left=99.5))
    acc.add(2.0, _info(2, 2, 1.2, downloaded=True, left=99.4))
    acc.add(-1.0, _info(4, 0, 0.0, "edge", late=4, energy=0.1, air=5e5, lat=0.04, depth=1, source="edge",
                        left=99.0))
    acc.add(-1.0, _info(0, 0, 0.0, source="evict", cancelled=True, left=99.0))
    acc.add(-1.0, _info(0, 0, 0.0, invalid=True, left=98.0))
    s = acc.result()
    assert s.ret == pytest.approx(0.0) and s.length == 5 and s.requests == 10
    assert s.accuracy == pytest.approx(3.0 / 10)
    assert s.failed_rate == pytest.approx(5 / 10)
    assert s.no_model_rate == pytest.approx(1 / 10) and s.late_rate == pytest.approx(4 / 10)
    assert s.energy_j == pytest.approx(0.6) and s.energy_radio_j == pytest.approx(0.4)
    assert s.energy_left_j == 98.0
    assert (s.downloads, s.downloads_completed, s.cancels, s.evictions, s.invalid_actions) == (2, 1, 1, 1, 1)
    assert s.air_mb == pytest.approx(1.5) and s.backhaul_mb == pytest.approx(2.0)
    assert s.download_latency_s == pytest.approx(0.03)
    assert s.tier_share == {"none": pytest.approx(3 / 5), "edge": pytest.approx(1 / 5), "local": 0.0,
                            "central": pytest.approx(1 / 5)}
    assert s.reward_terms == {"accuracy": pytest.approx(3.0), "failed_requests": pytest.approx(-5)}
    assert s.depths == [2, 1]
    sc = s.scalars()
    assert sc["return"] == s.ret and sc["failed_rate"] == s.failed_rate and "tier_share/none" in sc
    assert not any(k in sc for k in ("violation_rate", "latency_violation_rate", "deadline_miss_rate"))


def test_stats_from_a_result_leave_the_rest_unmeasured():
    s = EpisodeStats.from_result({"return": 3.5, "length": 10, "accuracy": 0.5})
    assert s.ret == 3.5 and s.length == 10 and s.accuracy == 0.5
    assert math.isnan(s.energy_j) and math.isnan(s.failed_rate)
    with pytest.raises(ValueError, match="must give 'return'"):
        EpisodeStats.from_result({"accuracy": 0.5})
    with pytest.raises(ValueError, match=r"\['bogus'\] are not EpisodeStats fields"):
        EpisodeStats.from_result({"return": 1.0, "bogus": 2})

    class Writer:
        def __init__(self):
            self.tags = []

        def add_scalar(self, tag, value, step):
            self.tags.append(tag)

    w = Writer()
    log_episode(w, s, 1)
    assert sorted(w.tags) == ["episode/accuracy", "episode/length", "episode/return"]  # no NaN curves


def test_mean_ci_t_interval_known_values():
    m, lo, hi = mean_ci([1, 2, 3, 4, 5])
    half = 2.7764451051977987 * math.sqrt(2.5) / math.sqrt(5)
    assert m == 3 and lo == pytest.approx(3 - half) and hi == pytest.approx(3 + half)
    m, lo, hi = mean_ci([4.0])
    assert m == 4.0 and math.isnan(lo) and math.isnan(hi)
    assert all(math.isnan(x) for x in mean_ci([]))


def test_same_seeds_give_same_episodes_and_summary(tiny_id):
    a = run_episodes(GreedyPolicy(), tiny_id, [0, 1], 2)
    b = run_episodes(GreedyPolicy(), tiny_id, [0, 1], 2)
    assert [r.stats.ret for r in a] == [r.stats.ret for r in b]
    rows = summarize(a)
    assert rows[0]["policy"] == "greedy" and rows[0]["n"] == 4
    assert rows[0]["return"] == pytest.approx(np.mean([r.stats.ret for r in a]))
    assert all(r.stats.length == 40 for r in a)


class Bound(Policy):
    """Computes its episode from the env's state right after the reset and never acts."""

    name = "bound"
    privileged = True

    def __init__(self):
        self.seen: list[tuple[int, float]] = []

    def episode_result(self, env):
        u = env.unwrapped
        assert u._t == 0  # called right after the reset, before any step
        value = 100.0 + float(u._rate)
        self.seen.append((u._task, value))
        return {"return": value, "length": 40, "accuracy": 0.9}

    def act(self, obs, env):
        raise AssertionError("a policy with an episode_result is never asked to act")


def test_evaluator_records_episode_result_without_stepping(tiny_id):
    pol = Bound()
    recs = run_episodes(pol, tiny_id, [0, 1], 2)
    assert [r.stats.ret for r in recs] == [v for _, v in pol.seen] and len(recs) == 4
    assert all(r.stats.length == 40 and r.stats.accuracy == 0.9 for r in recs)
    assert all(math.isnan(r.stats.energy_j) for r in recs)
    # the same reset seeds as every other policy (common random numbers)
    again = Bound()
    run_episodes(again, tiny_id, [0, 1], 2)
    assert again.seen == pol.seen
    row = summarize(recs)[0]
    assert row["n"] == 4 and row["accuracy"] == pytest.approx(0.9) and math.isnan(row["energy_j"])
    assert "| bound | 4 |" in markdown_table([row], tiny_id) and "n/a" in markdown_table([row], tiny_id)


def test_compare_writes_report_and_refuses_to_overwrite(tiny_id, tmp_path):
    out = tmp_path / "cmp"
    rows, records = compare([RandomPolicy(0), GreedyPolicy(), OraclePolicy(), Bound()], tiny_id, [0, 1], 2, out,
                            logdir=tmp_path / "tb", show_progress=False)
    assert [r["policy"] for r in rows] == ["random", "greedy", "oracle", "bound"]
    for f in ("results.md", "results.csv", "episodes.csv", "returns.png", "accuracy_latency.png"):
        assert (out / f).stat().st_size > 0
    md = (out / "results.md").read_text()
    assert "| oracle | 4 |" in md and md == markdown_table(rows, tiny_id)
    columns = {c.strip() for c in md.splitlines()[2].split("|")}
    assert {"return", "accuracy", "failed", "no model", "late", "energy (J)", "energy left (J)", "downloads",
            "completed", "cancels", "invalid", "air (MB)", "backhaul (MB)"} <= columns
    with open(out / "results.csv") as fh:
        header = next(csv.reader(fh))
    assert {"return", "accuracy", "failed_rate", "no_model_rate", "late_rate", "energy_left_j",
            "downloads_completed", "air_mb", "backhaul_mb"} <= set(header)
    # the oracle beats random on the double
    assert rows[2]["return"] > rows[0]["return"]
    assert len(list((tmp_path / "tb").iterdir())) == 8  # one TensorBoard run per policy and seed
    with pytest.raises(FileExistsError, match="already holds a report"):
        compare([GreedyPolicy()], tiny_id, [0], 1, out, show_progress=False)
