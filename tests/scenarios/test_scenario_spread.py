"""Decisions matter on every single-device scenario: acting (random valid actions or the
clairvoyant one-step oracle) clearly beats never downloading anything."""

from __future__ import annotations

import numpy as np
import pytest

import envs


def _episode_return(name: str, policy: str, seed: int = 0) -> float:
    env = envs.make_env(name, action_mode="discrete")
    env.reset(seed=seed)
    u = env.unwrapped
    rng = np.random.default_rng(seed)
    total, done = 0.0, False
    while not done:
        if policy == "oracle":
            a = int(np.argmax(u.one_step_rewards()))
        elif policy == "random":
            a = int(rng.choice(np.flatnonzero(u.flat_action_mask())))
        else:
            a = 0
        _, r, term, trunc, _ = env.step(a)
        total += r
        done = term or trunc
    return total


@pytest.mark.slow
@pytest.mark.parametrize("name", envs.SINGLE_DEVICE_SCENARIOS)
def test_acting_beats_never_downloading(name):
    keep = _episode_return(name, "keep")
    rnd = _episode_return(name, "random")
    oracle = _episode_return(name, "oracle")
    best = max(rnd, oracle)
    assert best - keep > 0.1 * abs(keep) + 10.0, (keep, rnd, oracle)
