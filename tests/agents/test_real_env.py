"""Policies, oracle, yardsticks, evaluator and training on the REAL environment
(envs.ModelDownloadEnv) with the shipped default scenario's physics and small test profiles
(fixture ``real_scenario``)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from agents.common import make_env
from agents.evaluate import compare, run_episodes
from agents.policies import (
    BASELINES,
    KEEP,
    LazyPolicy,
    OraclePolicy,
    TaskMenu,
    load_learned_policy,
    make_policy,
)
from agents.sb3 import train

#: A device 20x slower than the scenario's: some menu variants miss their task's budget.
SLOW_DEVICE = {"device": {"compute_macs_per_s": 1.0e9}}


def _yardsticks_available() -> bool:
    try:
        import agents.yardsticks  # noqa: F401
    except ImportError:
        return False
    return True


NAMES = [n for n, f in BASELINES.items() if not isinstance(f, LazyPolicy) or _yardsticks_available()]


@pytest.mark.parametrize("mode", ["multidiscrete", "discrete"])
def test_every_baseline_runs_full_episodes_without_invalid_actions(real_scenario, mode):
    env = make_env(real_scenario, action_mode=mode)
    for name in NAMES:
        policy = make_policy(name, seed=0)
        policy.reset(seed=5)
        obs, _ = env.reset(seed=5)
        done, steps = False, 0
        while not done:
            action = policy.act(obs, env)
            assert env.action_space.contains(np.asarray(action) if mode == "multidiscrete" else action)
            obs, _, term, trunc, info = env.step(action)
            assert not info["invalid_action"], name
            done = term or trunc
            steps += 1
        assert steps == 40


def test_oracle_one_step_reward_is_max_on_recorded_states(real_scenario):
    """On states recorded along a greedy rollout: stepping a copy of the env with EVERY flat
    action gives exactly one_step_rewards(), and the oracle's action has the largest reward among
    the valid actions (the lowest index on ties)."""
    env = make_env(real_scenario, action_mode="discrete")
    greedy = make_policy("greedy_compute")
    oracle = OraclePolicy()
    obs, _ = env.reset(seed=11)
    spread = 0.0
    for _ in range(6):
        base = env.unwrapped
        predicted = base.one_step_rewards()
        true = np.array([copy.deepcopy(base).step(a)[1] for a in range(base.n_actions)])
        np.testing.assert_allclose(true, predicted, rtol=0, atol=1e-9)
        mask = base.flat_action_mask()
        a_star = oracle.act(obs, env)
        best = true[mask].max()
        assert mask[a_star] and true[a_star] == best
        assert a_star == np.flatnonzero(mask & (true == best))[0]
        spread = max(spread, best - true[mask].min())
        obs, *_ = env.step(greedy.act(obs, env))
    assert spread > 0  # the actions really differ on these states


def _downloads_started(env, policy, seed: int, steps: int = 40):
    """(view, flat action) of every download ``policy`` starts in one episode."""
    out = []
    obs, _ = env.reset(seed=seed)
    for _ in range(steps):
        view = env.unwrapped.planning_view()
        a = policy.choose(env.unwrapped, view)
        if view["source"][a] >= 3:
            out.append((view, a))
        obs, _, term, trunc, _ = env.step(a)
        if term or trunc:
            break
    return out


def test_greedy_family_rules_on_the_real_planning_view(real_scenario):
    env = make_env(real_scenario, action_mode="discrete", **SLOW_DEVICE)
    seen = {"greedy": 0, "greedy_compute": 0, "over_budget": 0}
    for seed in (0, 1, 2):
        for name in ("greedy", "greedy_compute"):
            for view, a in _downloads_started(env, make_policy(name), seed):
                task = int(view["task"])
                assert view["target_task"][a] == task and not view["download_pending"]
                menu = TaskMenu(view, task)
                cand = menu.exists & (menu.size <= float(view["storage_bytes"]))
                if name == "greedy_compute":  # never a variant whose service time exceeds the budget
                    assert view["service_s"][a] <= view["budget_s"][task]
                    cand &= menu.latency_ok
                seen["over_budget"] += name == "greedy" and view["service_s"][a] > view["budget_s"][task]
                # the most accurate candidate the store can take (beside the task's own model),
                # fitting the free space, from the fastest valid tier
                e = int(view["entry"][a])
                others = np.arange(len(view["budget_s"])) != task
                room = float(view["free_bytes"]) + float(view["store_size_bytes"][others].sum())
                reachable = cand & (menu.size <= room)
                assert menu.accuracy[e] == menu.accuracy[reachable].max()
                assert menu.size[e] <= float(view["free_bytes"]) and not menu.on_board(e)
                same = view["valid"] & (view["source"] >= 3) & (view["target_task"] == task) & (view["entry"] == e)
                assert view["download_latency_s_est"][a] == view["download_latency_s_est"][same].min()
                seen[name] += 1
    assert seen["greedy"] > 0 and seen["greedy_compute"] > 0
    assert seen["over_budget"] > 0  # greedy ignores compute: it downloads over-budget variants


def test_zero_shot_prefers_more_bits_among_proxy_ties(real_scenario):
    """The scenario's proxy (#params) ties the bit widths of one depth and pruning level: zero-shot
    takes the widest, the best proxy among the variants within budget that fit the store."""
    env = make_env(real_scenario, action_mode="discrete", **SLOW_DEVICE)
    ties = 0
    for seed in (0, 1, 2):
        for view, a in _downloads_started(env, make_policy("zero_shot"), seed):
            task = int(view["task"])
            menu = TaskMenu(view, task)
            feas = menu.exists & menu.latency_ok & (menu.size <= float(view["storage_bytes"]))
            e = int(view["entry"][a])
            assert feas[e] and menu.proxy[e] == menu.proxy[feas].max()
            tied = feas & np.isclose(menu.proxy, menu.proxy[e])
            assert menu.bits[e] == menu.bits[tied].max()
            ties += int(tied.sum() > 1)
    assert ties > 0  # the tie-break was exercised


def test_keep_once_on_board(real_scenario):
    env = make_env(real_scenario, action_mode="discrete")
    env.reset(seed=3)
    base = env.unwrapped
    pol = make_policy("greedy_compute")
    for _ in range(40):
        a = pol.choose(base, base.planning_view())
        env.step(a)
        view = base.planning_view()
        if not view["download_pending"] and a == KEEP:
            break
    task = int(view["task"])
    assert view["store_variant"][task] < base.params.no_model  # a model is on board, and kept
    assert pol.choose(base, view) == KEEP


@pytest.mark.skipif(not _yardsticks_available(), reason="agents.yardsticks is not there yet")
def test_upper_bound_is_recorded_without_acting_and_bounds_the_others(real_scenario):
    ub = run_episodes(make_policy("upper_bound"), real_scenario, [0, 1], 2)
    assert all(r.stats.length == 40 and np.isnan(r.stats.energy_j) for r in ub)
    for name in ("oracle", "greedy_compute"):
        other = run_episodes(make_policy(name), real_scenario, [0, 1], 2)
        for u, o in zip(ub, other):
            assert u.stats.ret >= o.stats.ret - 1e-9, (name, u.seed, u.episode)


def test_compare_on_real_env_writes_report(real_scenario, tmp_path):
    pols = [make_policy(n, seed=0) for n in NAMES]
    rows, _ = compare(pols, real_scenario, [0], 2, tmp_path / "r", logdir=tmp_path / "tb", show_progress=False)
    by = {r["policy"]: r for r in rows}
    assert set(by) == set(NAMES)
    assert by["oracle"]["return"] >= by["random"]["return"]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows if not np.isnan(r["accuracy"]))
    ea = EventAccumulator(str(next((tmp_path / "tb").glob("urban_small__greedy__0__*"))))
    ea.Reload()
    tags = set(ea.Tags()["scalars"])
    assert {"episode/reward_terms/accuracy", "episode/failed_rate", "episode/energy_left_j",
            "episode/downloads_completed", "episode/air_mb", "episode/tier_share/none"} <= tags


@pytest.mark.parametrize("algo", ["ppo", "maskable_ppo", "dqn"])
def test_train_on_real_env_and_evaluate(real_scenario, tmp_path, algo):
    run = train(algo, real_scenario, timesteps=200, seed=0, n_envs=2, logdir=tmp_path, progress_bar=False)
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "finished" and meta["num_timesteps"] >= 200
    ea = EventAccumulator(str(run))
    ea.Reload()
    terms = {t for t in ea.Tags()["scalars"] if t.startswith("episode/reward_terms/")}
    env = make_env(real_scenario)  # every reward term of the env has its own curve
    env.reset(seed=0)
    _, _, _, _, info = env.step(env.action_space.sample())
    assert terms == {f"episode/reward_terms/{k}" for k in info["reward_terms"]}
    recs = run_episodes(load_learned_policy(run), real_scenario, [0], 1)
    assert recs[0].stats.length == 40
