"""Policies, oracle, evaluator and training on the REAL environment (envs.ModelDownloadEnv) with
the shipped default scenario's physics and small test profiles (fixture ``real_scenario``)."""

from __future__ import annotations

import copy
import json

import numpy as np
import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from agents.common import make_env
from agents.evaluate import compare, run_episodes
from agents.policies import BASELINES, OraclePolicy, keep_index, load_learned_policy, make_policy
from agents.sb3 import train


@pytest.mark.parametrize("mode", ["multidiscrete", "discrete"])
def test_every_baseline_runs_full_episodes(real_scenario, mode):
    env = make_env(real_scenario, action_mode=mode)
    for name in BASELINES:
        policy = make_policy(name, seed=0)
        obs, _ = env.reset(seed=5)
        done, steps = False, 0
        while not done:
            action = policy.act(obs, env)
            assert env.action_space.contains(np.asarray(action) if mode == "multidiscrete" else action)
            obs, _, term, trunc, info = env.step(action)
            if name != "random":  # masked-aware baselines never send an invalid action
                assert not info["invalid_action"], name
            done = term or trunc
            steps += 1
        assert steps == 40


def test_oracle_one_step_reward_is_max_on_recorded_states(real_scenario):
    """On states recorded along a greedy rollout: stepping a copy of the env with EVERY flat
    action gives exactly one_step_rewards(), and the oracle's action has the largest reward."""
    env = make_env(real_scenario, action_mode="discrete")
    greedy = make_policy("greedy")
    oracle = OraclePolicy()
    obs, _ = env.reset(seed=11)
    spread = 0.0
    for _ in range(12):
        base = env.unwrapped
        predicted = base.one_step_rewards()
        true = np.array([copy.deepcopy(base).step(a)[1] for a in range(base.n_actions)])
        np.testing.assert_allclose(true, predicted, rtol=0, atol=1e-9)
        a_star = oracle.act(obs, env)
        assert true[a_star] == true.max()
        spread = max(spread, true.max() - true.min())
        obs, *_ = env.step(greedy.act(obs, env))
    assert spread > 0  # the actions really differ on these states


def test_baseline_rules_on_real_planning_view(real_scenario):
    env = make_env(real_scenario, action_mode="discrete")
    env.reset(seed=3)
    base = env.unwrapped
    for _ in range(15):
        view = base.planning_view()
        g = make_policy("greedy").choose(base, view)
        feas = (view["valid"] & (view["source"] != 0) & view["fits_deadline"]
                & (view["energy_j_est"] <= view["energy_left_j"]))
        if view["source"][g] != 0:
            assert feas[g] and view["accuracy"][g] == view["accuracy"][feas].max()
        else:
            assert g == keep_index(view)
        env.step(g)


def test_compute_aware_baselines_respect_the_inference_budget(real_scenario):
    env = make_env(real_scenario, action_mode="discrete")
    env.reset(seed=8)
    base = env.unwrapped
    checked = 0
    for _ in range(20):
        view = base.planning_view()
        budget = base.scenario.tasks[int(view["task"])].inference_latency_budget_s
        for name in ("greedy_compute", "zero_shot"):
            a = make_policy(name).choose(base, view)
            feas = view["fits_deadline"][a] and view["energy_j_est"][a] <= view["energy_left_j"]
            if view["source"][a] != 0 and feas:
                assert view["inference_latency_s"][a] <= budget, name
                checked += 1
        env.step(make_policy("greedy_compute").choose(base, view))
    assert checked > 0


def test_compare_on_real_env_writes_report(real_scenario, tmp_path):
    pols = [make_policy(n, seed=0) for n in BASELINES]
    rows, _ = compare(pols, real_scenario, [0], 2, tmp_path / "r", logdir=tmp_path / "tb", show_progress=False)
    by = {r["policy"]: r for r in rows}
    assert set(by) == set(BASELINES)
    assert by["oracle"]["return"] >= by["random"]["return"]
    assert all(0.0 <= r["accuracy"] <= 1.0 for r in rows)
    ea = EventAccumulator(str(next((tmp_path / "tb").glob("urban_small__greedy__0__*"))))
    ea.Reload()
    assert "episode/reward_terms/accuracy" in ea.Tags()["scalars"]


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
