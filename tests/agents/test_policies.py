"""Baselines and the oracle behind the common Policy interface (on the tiny test double), and the
registry (aliases, yardsticks imported lazily)."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import tiny_env

from agents.policies import (
    BASELINES,
    KEEP,
    SRC_CENTRAL,
    SRC_EVICT,
    FixedCentralFullPolicy,
    FixedSmallestPolicy,
    GreedyComputeAwarePolicy,
    GreedyPolicy,
    LazyPolicy,
    OraclePolicy,
    RandomPolicy,
    ZeroShotPolicy,
    flat_index,
    keep_index,
    lru_other_task,
    make_policy,
)

ROOT = Path(__file__).resolve().parents[2]
#: Baselines that run on any env with the planning-view API (the yardsticks need the real sim).
ACTING = [n for n, f in BASELINES.items() if not isinstance(f, LazyPolicy)]


def _decode(a: int) -> tuple[int, int, int]:
    s, k, e = np.unravel_index(int(a), (6, tiny_env.K, tiny_env.M))
    return int(s), int(k), int(e)


def _rollout_states(env, n_steps: int, seed: int = 3, policy=None):
    """Step the env (random valid actions, or ``policy``); yield the observation before each step."""
    rng = np.random.default_rng(seed)
    obs, _ = env.reset(seed=seed)
    for _ in range(n_steps):
        yield obs
        if policy is not None:
            action = policy.act(obs, env)
        else:
            a = int(rng.choice(np.flatnonzero(env.unwrapped.flat_action_mask())))
            action = env.unwrapped.flat_to_action(a)
        obs, _, term, trunc, _ = env.step(action)
        if term or trunc:
            obs, _ = env.reset()


def _set_state(env, task: int, store: list[int], last_used=None):
    """Put the double into a chosen state: current task, store contents, nothing in flight."""
    u = env.unwrapped
    u._task = task
    u._store = np.array(store, dtype=np.int64)
    u._last_used = np.array(last_used if last_used is not None else [-np.inf] * tiny_env.K, dtype=float)
    u._dl_active, u._dl_var = False, tiny_env.NO_MODEL
    return u


@pytest.mark.parametrize("mode", ["multidiscrete", "discrete"])
@pytest.mark.parametrize("name", ACTING)
def test_every_baseline_sends_valid_actions_of_the_env_space(tiny_id, name, mode):
    env = gym.make(tiny_id, action_mode=mode)
    policy = make_policy(name, seed=1)
    for obs in _rollout_states(env, 40):
        action = policy.act(obs, env)
        assert env.action_space.contains(np.asarray(action) if mode == "multidiscrete" else action)
        assert env.unwrapped.flat_action_mask()[env.unwrapped.action_to_flat(action)], name


def test_random_only_picks_valid_actions_and_is_seeded(tiny_id):
    env = gym.make(tiny_id, action_mode="discrete")
    env.reset(seed=0)
    mask = env.unwrapped.flat_action_mask()
    assert not mask.all()  # the double has invalid actions, so the test can fail
    a, b = RandomPolicy(5), RandomPolicy(5)
    picks = [a.act(None, env) for _ in range(300)]
    assert all(mask[p] for p in picks)
    assert picks == [b.act(None, env) for _ in range(300)]
    assert len(set(picks)) == int(mask.sum())  # uniform over all valid ones: each gets drawn


def test_fixed_downloads_the_full_model_from_central_and_keeps_it(tiny_id):
    env = gym.make(tiny_id, action_mode="discrete")
    env.reset(seed=2)
    u = _set_state(env, 1, [tiny_env.NO_MODEL, tiny_env.NO_MODEL])
    assert make_policy("fixed_central_full").name == "fixed"  # the former name still works
    a = FixedCentralFullPolicy().choose(u, u.planning_view())
    assert _decode(a) == (SRC_CENTRAL, 1, 2)  # task 1's largest entry (3 MB)
    env.step(a)
    for _ in range(60):  # in flight: keep; then on board: keep
        u._task = 1
        assert FixedCentralFullPolicy().choose(u, u.planning_view()) == KEEP
        if u._store[1] == 1 * tiny_env.M + 2:
            break
        env.step(KEEP)
    assert u._store[1] == 1 * tiny_env.M + 2
    # task 0's full model (4 MB) does not fit beside it: the fixed policy keeps (it never evicts)
    u._task = 0
    view = u.planning_view()
    assert not view["valid"][flat_index(SRC_CENTRAL, 0, 2, view)]
    assert FixedCentralFullPolicy().choose(u, view) == KEEP


def test_fixed_smallest_takes_the_smallest_entry_from_the_fastest_tier(tiny_id):
    env = gym.make(tiny_id, action_mode="discrete")
    checked = 0
    for _ in _rollout_states(env, 40, seed=5, policy=FixedSmallestPolicy()):
        u = env.unwrapped
        view = u.planning_view()
        a = FixedSmallestPolicy().choose(u, view)
        if a == KEEP:
            continue
        s, k, e = _decode(a)
        assert k == int(view["task"]) and e == 0  # the smallest entry of the current task
        same = view["valid"] & (view["target_task"] == k) & (view["entry"] == 0) & (view["source"] >= 3)
        assert view["download_latency_s_est"][a] == view["download_latency_s_est"][same].min()
        checked += 1
    assert checked > 0


def test_greedy_targets_the_most_accurate_fitting_variant_and_ignores_compute(tiny_id):
    env = gym.make(tiny_id, action_mode="discrete")
    env.reset(seed=0)
    u = _set_state(env, 0, [tiny_env.NO_MODEL, tiny_env.NO_MODEL])
    view = u.planning_view()
    a = GreedyPolicy().choose(u, view)
    s, k, e = _decode(a)
    assert (k, e) == (0, 2) and s >= 3  # entry 2: the most accurate, over task 0's budget
    assert view["service_s"][a] > view["budget_s"][0]
    assert view["download_latency_s_est"][a] == view["download_latency_s_est"][
        view["valid"] & (view["target_task"] == 0) & (view["entry"] == 2)].min()
    # the compute-aware variants pick the best variant within the budget
    b = GreedyComputeAwarePolicy().choose(u, view)
    assert _decode(b)[1:] == (0, 1) and view["latency_ok"][b]


def test_greedy_evicts_the_lru_model_of_another_task_then_downloads(tiny_id):
    env = gym.make(tiny_id, action_mode="discrete")
    env.reset(seed=0)
    # task 0 current with its small model; task 1's 3 MB model leaves 1 MB free, target needs 4 MB
    u = _set_state(env, 0, [0, 1 * tiny_env.M + 2], last_used=[3.0, 1.0])
    view = u.planning_view()
    a = GreedyPolicy().choose(u, view)
    assert a == flat_index(SRC_EVICT, 1, 0, view)
    env.step(a)
    assert u._store[1] == tiny_env.NO_MODEL
    view = u.planning_view()
    assert _decode(GreedyPolicy().choose(u, view))[1:] == (0, 2)  # now it fits: download


def test_greedy_never_evicts_the_current_tasks_own_model(tiny_id):
    env = gym.make(tiny_id, action_mode="discrete")
    env.reset(seed=0)
    # only task 0's own 2 MB model is on board: the 4 MB target cannot fit beside it (double
    # buffering) and nothing else can be evicted, so greedy keeps the model it has
    u = _set_state(env, 0, [1, tiny_env.NO_MODEL])
    assert GreedyPolicy().choose(u, u.planning_view()) == KEEP
    evicts_own = 0
    for _ in _rollout_states(env, 120, seed=7):
        view = env.unwrapped.planning_view()
        for pol in (GreedyPolicy(), GreedyComputeAwarePolicy(), ZeroShotPolicy()):
            s, k, _ = _decode(pol.choose(env.unwrapped, view))
            evicts_own += s == SRC_EVICT and k == int(view["task"])
    assert evicts_own == 0


def test_lru_other_task_on_a_hand_made_view():
    k, m = 3, 2
    valid = np.zeros(6 * k * m, dtype=bool)
    view = {"budget_s": np.ones(k), "valid": valid, "store_last_used": np.array([5.0, 2.0, -np.inf])}
    assert lru_other_task(view, 0) is None  # nothing held
    for task in range(k):
        valid[flat_index(SRC_EVICT, task, 0, view)] = True
    assert lru_other_task(view, 0) == 2  # never used: evicted first
    assert lru_other_task(view, 2) == 1  # the current task's model is never a victim
    view["store_last_used"] = np.array([4.0, 4.0, 4.0])
    assert lru_other_task(view, 0) == 1  # ties: the lowest task index


def test_greedy_compute_never_downloads_a_variant_over_the_budget(tiny_id):
    env = gym.make(tiny_id, action_mode="discrete")
    downloads = {"greedy_compute": 0, "zero_shot": 0, "greedy_over_budget": 0}
    for _ in _rollout_states(env, 200, seed=11):
        u = env.unwrapped
        view = u.planning_view()
        for name, pol in (("greedy_compute", GreedyComputeAwarePolicy()), ("zero_shot", ZeroShotPolicy())):
            a = pol.choose(u, view)
            if view["source"][a] >= 3:
                assert view["service_s"][a] <= view["budget_s"][view["target_task"][a]], name
                downloads[name] += 1
        a = GreedyPolicy().choose(u, view)
        downloads["greedy_over_budget"] += bool(view["source"][a] >= 3 and not view["latency_ok"][a])
    assert min(downloads.values()) > 0  # both downloaded, and greedy did pick over-budget ones


def test_zero_shot_ranks_by_proxy_and_breaks_ties_towards_more_bits(tiny_id):
    env = gym.make(tiny_id, action_mode="discrete")
    env.reset(seed=1)
    u = _set_state(env, 1, [tiny_env.NO_MODEL, tiny_env.NO_MODEL])
    view = u.planning_view()
    z = ZeroShotPolicy().choose(u, view)
    # task 1: entries 1 and 2 tie on the proxy; entry 2 has more bits (and less accuracy)
    assert _decode(z)[1:] == (1, 2)
    assert view["bits"][z] == 32 and view["accuracy"][z] < tiny_env.ACCURACY[1, 1]
    assert _decode(GreedyPolicy().choose(u, view))[1:] == (1, 1)  # greedy: the most accurate
    # task 0: entry 2 has a lower proxy and is over budget; entry 1 has the best proxy
    u._task = 0
    assert _decode(ZeroShotPolicy().choose(u, u.planning_view()))[1:] == (0, 1)


def test_baselines_keep_once_their_target_is_on_board(tiny_id):
    env = gym.make(tiny_id, action_mode="discrete")
    env.reset(seed=4)
    u = _set_state(env, 0, [1, tiny_env.NO_MODEL])  # task 0's entry 1 on board
    view = u.planning_view()
    assert GreedyComputeAwarePolicy().choose(u, view) == KEEP
    assert ZeroShotPolicy().choose(u, view) == KEEP
    u = _set_state(env, 0, [0, tiny_env.NO_MODEL])
    assert FixedSmallestPolicy().choose(u, u.planning_view()) == KEEP
    assert keep_index(u.planning_view()) == KEEP


def test_oracle_takes_the_valid_action_with_the_largest_true_one_step_reward(tiny_id):
    """Step a copy of the env with EVERY action: the true rewards equal one_step_rewards() and the
    oracle's action is the lowest-index valid action with the maximum."""
    env = gym.make(tiny_id, action_mode="discrete")
    oracle = OraclePolicy()
    for _ in _rollout_states(env, 20, seed=4):
        base = env.unwrapped
        predicted = base.one_step_rewards()
        true = np.array([copy.deepcopy(base).step(a)[1] for a in range(base.n_actions)])
        np.testing.assert_allclose(true, predicted)
        mask = base.flat_action_mask()
        choice = oracle.act(None, env)
        assert mask[choice]
        best = true[mask].max()
        assert true[choice] == best and choice == np.flatnonzero(mask & (true == best))[0]


def test_oracle_ignores_invalid_actions_even_with_a_larger_reward():
    class FakeEnv:
        def one_step_rewards(self):
            return np.array([0.0, 5.0, 1.0, 1.0])

        def flat_action_mask(self):
            return np.array([True, False, True, True])

    assert OraclePolicy().choose(FakeEnv()) == 2  # 1 is invalid; 2 and 3 tie: the lower index


def test_make_policy_rejects_unknown_names():
    with pytest.raises(ValueError, match="'nope' is neither a baseline"):
        make_policy("nope")


def test_yardsticks_are_registered_lazily():
    for name in ("upper_bound", "planner", "mpc"):
        assert isinstance(BASELINES[name], LazyPolicy)
    code = ("import sys; sys.modules['agents.yardsticks'] = None\n"  # as if the module did not exist
            "from agents.policies import BASELINES, make_policy\n"
            "assert 'planner' in BASELINES and make_policy('greedy').name == 'greedy'\n"
            "try:\n    make_policy('planner')\nexcept ImportError:\n    print('lazy ok')\n")
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=120)
    assert proc.returncode == 0 and "lazy ok" in proc.stdout, proc.stderr


def test_make_policy_makes_the_yardsticks():
    pytest.importorskip("agents.yardsticks")
    for name in ("upper_bound", "planner", "mpc"):
        policy = make_policy(name)
        assert policy.name == name and type(policy) is BASELINES[name].load()
