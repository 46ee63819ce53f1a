"""The yardsticks on the real environment (default scenario, small test profiles, 40 steps):
the planner is never below the oracle and replays its planned return exactly, the upper bound is
above every policy, and the MPC does not read the true future."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

import envs  # noqa: F401  (registers the ids)
from agents.policies import make_policy
from agents.yardsticks import (
    MPCPolicy,
    PlannerPolicy,
    UpperBoundPolicy,
    rollout_return,
    upper_bound_steps,
)
from envs.sim.exogenous import E_INVRATE, E_NREQ, E_RATE

SEEDS = (3, 4)


def _env(real_scenario):
    return gym.make(envs.CUSTOM_ID, scenario=real_scenario, action_mode="discrete")


def _play(env, pol, seed) -> float:
    obs, _ = env.reset(seed=seed)
    pol.reset(seed)
    total, done = 0.0, False
    while not done:
        obs, r, term, trunc, _ = env.step(pol.act(obs, env))
        total += r
        done = term or trunc
    return total


@pytest.mark.parametrize("seed", SEEDS)
def test_planner_is_never_below_the_oracle_and_replays_its_plan(real_scenario, seed):
    env = _env(real_scenario)
    planner = PlannerPolicy(beam=4, lookahead=10)
    got = _play(env, planner, seed)
    assert got == pytest.approx(planner.plan_return, abs=1e-9)  # a fork steps exactly the true future
    oracle = _play(env, make_policy("oracle"), seed)
    assert got >= oracle - 1e-9


@pytest.mark.parametrize("seed", SEEDS)
def test_upper_bound_is_above_every_policy(real_scenario, seed):
    env = _env(real_scenario)
    env.reset(seed=seed)
    ub = UpperBoundPolicy().episode_result(env)["return"]
    for name in ("random", "greedy", "greedy_compute", "zero_shot", "oracle", "mpc", "planner"):
        pol = make_policy(name, seed=seed)
        if name == "planner":
            pol = PlannerPolicy(beam=4, lookahead=10)
        assert ub >= _play(env, pol, seed) - 1e-9, name


def test_upper_bound_step_values_are_the_best_single_variant(real_scenario):
    env = _env(real_scenario)
    env.reset(seed=5)
    sim = env.unwrapped.sim
    steps = upper_bound_steps(sim)
    assert len(steps) == sim.horizon
    # holding nothing can never beat the bound's step
    keep_only = rollout_return(sim, np.zeros(sim.horizon, dtype=np.int64))
    assert np.max(np.cumsum(steps)) >= keep_only


def test_mpc_does_not_read_the_true_future(real_scenario):
    env = _env(real_scenario)
    env.reset(seed=6)
    mpc = MPCPolicy()
    mpc.reset(6)
    for _ in range(3):
        env.step(mpc.act(None, env))
    sim = env.unwrapped.sim
    state = [x.copy() for x in sim.state.dyn]
    k = int(sim.state.k[0])
    first = MPCPolicy()
    first.__dict__.update({key: (list(v) if isinstance(v, list) else v) for key, v in mpc.__dict__.items()})
    first._rng = np.random.default_rng(99)
    a1 = first.act(None, env)
    # rewrite everything the true future holds from the next step on: the decision must not change
    f = sim.exo.f
    f[0, k + 1:, E_RATE] *= 0.01
    f[0, k + 1:, E_INVRATE] *= 100.0
    f[0, k + 1:, E_NREQ] = 0.0
    sim.exo.ci[0, k + 1:, 0] = (sim.exo.ci[0, k + 1:, 0] + 1) % sim.K
    second = MPCPolicy()
    second.__dict__.update({key: (list(v) if isinstance(v, list) else v) for key, v in mpc.__dict__.items()})
    second._rng = np.random.default_rng(99)
    a2 = second.act(None, env)
    assert all(np.array_equal(x, y) for x, y in zip(state, sim.state.dyn))  # planning changes nothing
    assert a1 == a2
