"""MixedVectorEnv: rows of several scenarios / device variants; row i == a single env of its group."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from insitu_test_helpers import assert_obs_equal, assert_row_info

import envs  # noqa: F401  (registers the ids)
from envs import CUSTOM_ID, SCENARIO_IDS
from envs.mixed import MixedVectorEnv


def random_actions(space, n, rng, venv=None):
    """Random actions of the space, every other row a valid one when the vector env is given."""
    flat = rng.integers(0, int(np.prod(space.nvec)) if hasattr(space, "nvec") else space.n, n)
    if venv is not None:
        fm = venv.flat_action_masks()
        for i in range(0, n, 2):
            flat[i] = rng.choice(np.flatnonzero(fm[i]))
    if hasattr(space, "nvec"):
        return np.stack(np.unravel_index(flat, tuple(space.nvec)), axis=-1)
    return flat


def _groups(path):
    """Three groups of the tiny scenario: the file as is, a small battery, a short horizon."""
    return [{"scenario": path, "num_envs": 2},
            {"scenario": path, "num_envs": 1, "device__energy_budget_j": 0.5},
            {"scenario": path, "num_envs": 2, "max_episode_steps": 20}]


def _singles(path, **kw):
    return [gym.make(CUSTOM_ID, scenario=path, **kw) for _ in range(2)] + \
        [gym.make(CUSTOM_ID, scenario=path, device__energy_budget_j=0.5, **kw)] + \
        [gym.make(CUSTOM_ID, scenario=path, max_episode_steps=20, **kw) for _ in range(2)]


@pytest.mark.parametrize("action_mode,obs_mode", [("discrete", "flat"), ("multidiscrete", "dict")])
def test_rows_equal_single_envs_of_their_group(tiny_scenario_path, action_mode, obs_mode):
    venv = MixedVectorEnv(_groups(tiny_scenario_path), action_mode=action_mode, obs_mode=obs_mode)
    singles = _singles(tiny_scenario_path, action_mode=action_mode, obs_mode=obs_mode)
    assert venv.num_envs == 5 and venv.row_group.tolist() == [0, 0, 1, 2, 2]
    assert venv.group_slices == [slice(0, 2), slice(2, 3), slice(3, 5)]
    obs, info = venv.reset(seed=40)
    for i, s in enumerate(singles):
        so, si = s.reset(seed=40 + i)
        assert_obs_equal(obs, i, so)
        assert_row_info(info, i, si, "reset")
    rng = np.random.default_rng(3)
    ended = [False] * 5
    resets = 0
    for t in range(70):
        acts = random_actions(venv.single_action_space, 5, rng, venv)
        obs, rew, term, trunc, info = venv.step(acts)
        for i, s in enumerate(singles):
            if ended[i]:  # NEXT_STEP autoreset: the row's action is ignored
                so, si = s.reset()
                sr, ste, str_ = 0.0, False, False
                resets += 1
            else:
                so, sr, ste, str_, si = s.step(acts[i])
            ended[i] = ste or str_
            assert_obs_equal(obs, i, so)
            assert (rew[i], term[i], trunc[i]) == (sr, ste, str_), f"step {t} row {i}"
            assert_row_info(info, i, si, f"step {t}")
        for i in (0, 2, 4):
            assert np.array_equal(venv.row_action_masks(i), singles[i].unwrapped.action_masks())
    assert resets >= 5


def test_same_step_final_obs_only_in_groups_that_ended(tiny_scenario_path):
    """SAME_STEP: keys that only some groups return (final_obs/final_info) are masked False elsewhere."""
    venv = MixedVectorEnv(_groups(tiny_scenario_path), autoreset_mode="same_step")
    singles = _singles(tiny_scenario_path)
    obs, _ = venv.reset(seed=5)
    for i, s in enumerate(singles):
        assert np.array_equal(obs[i], s.reset(seed=5 + i)[0])
    rng = np.random.default_rng(4)
    finals = 0
    for _ in range(45):
        acts = random_actions(venv.single_action_space, 5, rng, venv)
        obs, rew, term, trunc, info = venv.step(acts)
        for i, s in enumerate(singles):
            so, sr, ste, str_, si = s.step(acts[i])
            assert (rew[i], term[i], trunc[i]) == (sr, ste, str_)
            if ste or str_:
                finals += 1
                assert info["_final_obs"][i] and np.array_equal(info["final_obs"][i], so)
                assert info["final_info"]["energy_j"][i] == si["energy_j"]
                so, si = s.reset()
            else:
                assert "_final_obs" not in info or (not info["_final_obs"][i] and info["final_obs"][i] is None)
            assert np.array_equal(obs[i], so)
    assert finals >= 3


def test_reset_mask_spans_groups(tiny_scenario_path):
    venv = MixedVectorEnv(_groups(tiny_scenario_path), autoreset_mode="disabled")
    with pytest.raises(RuntimeError, match="first reset"):
        venv.reset(options={"reset_mask": np.array([True, False, False, False, False])})
    obs0, _ = venv.reset(seed=1)
    venv.step(np.zeros((5, 3), dtype=np.int64))
    mask = np.array([False, True, False, False, False])  # only a row of group 0
    obs, info = venv.reset(seed=[None, 101, None, None, None], options={"reset_mask": mask})
    single = gym.make(CUSTOM_ID, scenario=tiny_scenario_path)
    so, _ = single.reset(seed=101)
    assert np.array_equal(obs[1], so)
    assert info["_action_mask"].tolist() == mask.tolist() and info["_task"].tolist() == mask.tolist()
    assert info["joint_action_mask"].shape == (5, venv.n_actions) and not info["joint_action_mask"][2:].any()
    assert info["joint_action_mask"][1].any()


def test_shipped_scenarios_with_equal_spaces_mix():
    names = ["urban_smartphone", "highway_vehicle", "iot_sensor"]
    venv = MixedVectorEnv({n: 2 for n in names}, action_mode="discrete")
    obs, info = venv.reset(seed=0)
    assert obs.shape == (6, venv.single_observation_space.shape[0])
    assert venv.group_names == names
    singles = [gym.make(SCENARIO_IDS[n], action_mode="discrete") for n in names for _ in range(2)]
    rng = np.random.default_rng(0)
    for i, s in enumerate(singles):
        assert np.array_equal(obs[i], s.reset(seed=i)[0])
    for _ in range(30):
        masks = venv.flat_action_masks()
        acts = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        obs, rew, term, trunc, _ = venv.step(acts)
        for i, s in enumerate(singles):
            so, sr, *_ = s.step(int(acts[i]))
            assert np.array_equal(obs[i], so) and rew[i] == sr
    assert venv.planning_view(3)["valid"].shape == (venv.n_actions,)
    assert venv.one_step_rewards(5).shape == (venv.n_actions,)


def test_bad_groups_are_named():
    with pytest.raises(ValueError, match=r"groups\[1\] \(scenario 'tactile_xr'\) has single_observation_space"):
        MixedVectorEnv({"urban_smartphone": 2, "tactile_xr": 2})
    with pytest.raises(ValueError, match=r"groups\[0\]\['num_envs'\] = 0"):
        MixedVectorEnv({"urban_smartphone": 0})
    with pytest.raises(ValueError, match="'scenario' and 'num_envs'"):
        MixedVectorEnv([{"scenario": "urban_smartphone"}])
    with pytest.raises(ValueError, match="is empty"):
        MixedVectorEnv({})
    with pytest.raises(ValueError, match=r"groups\[0\] \(scenario 'urban_smartphone'\): .*no_such_key"):
        MixedVectorEnv([{"scenario": "urban_smartphone", "num_envs": 1, "device__no_such_key": 3}])
    venv = MixedVectorEnv({"urban_smartphone": 2, "iot_sensor": 1}, action_mode="discrete")
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions\[2\] = 100000"):
        venv.step(np.array([0, 0, 100000]))
    with pytest.raises(IndexError, match="row 3 outside"):
        venv.planning_view(3)


def test_sb3_adapter_over_mixed_env_equals_dummy_vec_env(tiny_scenario_path):
    from stable_baselines3.common.vec_env import DummyVecEnv

    from envs.sb3_vec import InsituSB3VecEnv

    native = InsituSB3VecEnv.wrap(MixedVectorEnv(_groups(tiny_scenario_path), autoreset_mode="disabled"))
    dummy = DummyVecEnv([lambda s=s: s for s in _singles(tiny_scenario_path)])
    native.seed(9)
    dummy.seed(9)
    assert np.array_equal(native.reset(), dummy.reset())
    rng = np.random.default_rng(6)
    dones = 0
    for t in range(60):
        acts = random_actions(native.action_space, 5, rng, native.venv)
        o1, r1, d1, i1 = native.step(acts)
        o2, r2, d2, i2 = dummy.step(acts)
        assert np.array_equal(o1, o2) and np.array_equal(d1, d2) and np.array_equal(r1, r2), f"step {t}"
        for x, y in zip(i1, i2):
            assert set(x) == set(y) and np.array_equal(x["energy_j"], y["energy_j"])
            if "terminal_observation" in y:
                assert np.array_equal(x["terminal_observation"], y["terminal_observation"])
        dones += int(d1.sum())
    assert dones >= 3
    with pytest.raises(ValueError, match="autoreset_mode='disabled'"):
        InsituSB3VecEnv.wrap(MixedVectorEnv(_groups(tiny_scenario_path)))
