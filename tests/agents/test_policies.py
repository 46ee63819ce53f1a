"""Baselines and the oracle behind the common Policy interface (on the tiny test double)."""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest

from agents.policies import (
    BASELINES,
    FixedCentralFullPolicy,
    FixedSmallestPolicy,
    GreedyPolicy,
    OraclePolicy,
    RandomPolicy,
    ZeroShotPolicy,
    keep_index,
    make_policy,
)


def _rollout_states(env, n_steps: int, seed: int = 3):
    """Step the env with random valid actions; yield after each reset/step."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    for _ in range(n_steps):
        yield obs
        mask = env.unwrapped.flat_action_mask()
        a = int(rng.choice(np.flatnonzero(mask)))
        obs, _, term, trunc, _ = env.step(env.unwrapped.flat_to_action(a)
                                          if isinstance(env.action_space, gym.spaces.MultiDiscrete) else a)
        if term or trunc:
            obs, _ = env.reset()


@pytest.mark.parametrize("mode", ["multidiscrete", "discrete"])
@pytest.mark.parametrize("name", list(BASELINES))
def test_every_baseline_returns_actions_of_the_env_space(tiny_id, name, mode):
    env = gym.make(tiny_id, action_mode=mode)
    policy = make_policy(name, seed=1)
    for obs in _rollout_states(env, 30):
        action = policy.act(obs, env)
        assert env.action_space.contains(np.asarray(action) if mode == "multidiscrete" else action)


def test_random_only_picks_valid_actions_and_is_seeded(tiny_id):
    env = gym.make(tiny_id, action_mode="discrete")
    env.reset(seed=0)
    mask = env.unwrapped.flat_action_mask()
    assert not mask.all()  # the double has invalid actions, so the test can fail
    a, b = RandomPolicy(5), RandomPolicy(5)
    picks = [a.act(None, env) for _ in range(200)]
    assert all(mask[p] for p in picks)
    assert picks == [b.act(None, env) for _ in range(200)]
    assert len(set(picks)) == int(mask.sum())  # uniform over all valid ones: each gets drawn


def test_greedy_picks_the_most_accurate_feasible_download(tiny_id):
    env = gym.make(tiny_id, action_mode="discrete")
    checked = 0
    for _ in _rollout_states(env, 40):
        view = env.unwrapped.planning_view()
        choice = GreedyPolicy().choose(env.unwrapped, view)
        feas = (view["valid"] & (view["source"] != 0) & view["fits_deadline"]
                & (view["energy_j_est"] <= view["energy_left_j"]))
        if feas.any() and view["source"][choice] != 0:
            assert feas[choice]
            assert view["accuracy"][choice] == view["accuracy"][feas].max()
            checked += 1
        elif view["source"][choice] == 0:
            k = keep_index(view)
            assert choice == k
    assert checked > 0


def test_zero_shot_ranks_by_proxy_not_accuracy(tiny_id):
    env = gym.make(tiny_id, action_mode="discrete")
    env.reset(seed=1)
    view = env.unwrapped.planning_view()
    z = ZeroShotPolicy().choose(env.unwrapped, view)
    feas = (view["valid"] & (view["source"] != 0) & view["fits_deadline"])
    assert view["proxy_score"][z] == view["proxy_score"][feas].max()


def test_fixed_policies(tiny_id):
    env = gym.make(tiny_id, action_mode="discrete")
    env.reset(seed=2)
    base = env.unwrapped
    view = base.planning_view()
    small = FixedSmallestPolicy().choose(base, view)
    dl = view["valid"] & (view["source"] != 0)
    assert view["size_bytes"][small] == view["size_bytes"][dl].min()
    # the full model of the double does not fit storage -> documented fallback: keep
    full = FixedCentralFullPolicy().choose(base, view)
    assert view["source"][full] == 0
    # after downloading the smallest variant the fixed policy keeps it
    env.step(small)
    view = base.planning_view()
    if view["accuracy"][keep_index(view)] > 0:
        assert view["source"][FixedSmallestPolicy().choose(base, view)] == 0


def test_oracle_one_step_reward_beats_every_other_action_on_recorded_states(tiny_id):
    """Step a copy of the env with EVERY action: the true rewards equal one_step_rewards() and the
    oracle's action gets the maximum."""
    env = gym.make(tiny_id, action_mode="discrete")
    oracle = OraclePolicy()
    for _ in _rollout_states(env, 15, seed=4):
        base = env.unwrapped
        predicted = base.one_step_rewards()
        true = np.empty(base.n_actions)
        for a in range(base.n_actions):
            twin = copy.deepcopy(base)
            true[a] = twin.step(a)[1]
        np.testing.assert_allclose(true, predicted)
        choice = oracle.act(None, env)
        assert true[choice] >= true.max() - 1e-12


def test_make_policy_rejects_unknown_names():
    with pytest.raises(ValueError, match="'nope' is neither a baseline"):
        make_policy("nope")
