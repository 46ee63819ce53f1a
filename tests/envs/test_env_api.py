"""The Gymnasium adapter: checkers, determinism, spaces, errors, info, pickling, vector envs, rendering."""

from __future__ import annotations

import copy
import json
import pickle
import subprocess
import sys
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env as gym_check_env
from insitu_test_helpers import shipped_profiles_missing
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs import CUSTOM_ID, SCENARIO_IDS, ModelDownloadEnv
from scenarios import ScenarioError

INFO_KEYS = {"reward_terms", "cost", "latency_s", "energy_j", "bytes_downloaded", "source_tier",
             "variant", "accuracy", "invalid_action", "invalid_actions", "served_requests",
             "failed_requests", "action_mask"}
MODES = [("multidiscrete", "flat"), ("discrete", "flat"), ("multidiscrete", "dict"), ("discrete", "dict")]


def _tiny(path, **kw):
    return gym.make(CUSTOM_ID, scenario=path, **kw)


def _check_both(env_fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env_fn().unwrapped, skip_render_check=False)
        sb3_check_env(env_fn(), warn=True)


def test_ids_registered():
    assert CUSTOM_ID in gym.registry
    for name, env_id in SCENARIO_IDS.items():
        assert env_id in gym.registry, name
        spec = gym.spec(env_id)
        assert spec.max_episode_steps is not None and spec.kwargs == {"scenario": name}


@pytest.mark.parametrize("action_mode,obs_mode", MODES)
def test_checkers_pass_on_custom(tiny_scenario_path, action_mode, obs_mode):
    _check_both(lambda: _tiny(tiny_scenario_path, action_mode=action_mode, obs_mode=obs_mode))


@pytest.mark.parametrize("name", sorted(SCENARIO_IDS))
def test_checkers_pass_on_shipped_ids(name):
    missing = shipped_profiles_missing(name)
    if missing:
        pytest.skip(f"shipped profiles not built yet: {missing}")
    for action_mode, obs_mode in (("multidiscrete", "flat"), ("discrete", "dict")):
        _check_both(lambda am=action_mode, om=obs_mode: gym.make(SCENARIO_IDS[name], action_mode=am, obs_mode=om))


def _rollout(env, seed, n=80, action_seed=0):
    obs, _ = env.reset(seed=seed)
    rng = np.random.default_rng(action_seed)
    out = [obs]
    for _ in range(n):
        mask = env.unwrapped.flat_action_mask()
        a = env.unwrapped.flat_to_action(int(rng.choice(np.flatnonzero(mask))))
        obs, r, term, trunc, info = env.step(a)
        out += [obs, r, term, trunc, info["energy_j"], info["latency_s"], info["reward_terms"]]
        if term or trunc:
            obs, _ = env.reset()
            out.append(obs)
    return out


def _same(a, b):
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        if isinstance(x, np.ndarray):
            if not np.array_equal(x, y):
                return False
        elif x != y:
            return False
    return True


def test_same_seed_same_trajectory_different_seed_different(tiny_scenario_path):
    e1, e2 = _tiny(tiny_scenario_path), _tiny(tiny_scenario_path)
    assert _same(_rollout(e1, 3), _rollout(e2, 3))
    assert not _same(_rollout(e1, 3), _rollout(e2, 4))


def test_info_keys_and_types(tiny_scenario_path):
    env = _tiny(tiny_scenario_path)
    env.reset(seed=0)
    _, r, term, trunc, info = env.step(env.action_space.sample())
    assert INFO_KEYS <= set(info)
    assert isinstance(r, float) and isinstance(term, bool) and isinstance(trunc, bool)
    assert set(info["reward_terms"]) == {"accuracy", "latency_violation", "deadline_miss", "energy",
                                         "backhaul", "invalid_action"}
    assert sum(info["reward_terms"].values()) == pytest.approx(r, abs=1e-12)
    assert all(v >= 0 for v in info["cost"].values())
    assert set(info["variant"]) == {"depth", "prune", "bits"}
    assert info["source_tier"] in ("keep", "edge", "local", "central")
    assert info["action_mask"].dtype == bool and info["action_mask"].shape == (env.unwrapped.n_actions,)


@pytest.mark.parametrize("bad", [[4, 0, 0, 0], [0, 2, 0, 0], [0, 0, 0, -1], [0, 0, 0], [0, 0.5, 0, 0]])
def test_action_outside_space_raises_multidiscrete(tiny_scenario_path, bad):
    env = _tiny(tiny_scenario_path)
    env.reset(seed=0)
    with pytest.raises(ValueError, match="action"):
        env.step(np.array(bad) if not any(isinstance(x, float) for x in bad) else bad)


@pytest.mark.parametrize("bad", [32, -1, 2.5])
def test_action_outside_space_raises_discrete(tiny_scenario_path, bad):
    env = _tiny(tiny_scenario_path, action_mode="discrete")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"Discrete\(32\)"):
        env.step(bad)


def test_invalid_action_counted(tiny_scenario_path):
    env = _tiny(tiny_scenario_path, action_mode="discrete", device__storage_bytes=1.5e6)
    env.reset(seed=0)
    u = env.unwrapped
    count = 0
    for _ in range(30):
        mask = u.flat_action_mask()
        bad = np.flatnonzero(~mask)
        a = int(bad[0]) if len(bad) else 0
        _, _, term, trunc, info = env.step(a)
        count += int(len(bad) > 0)
        assert info["invalid_action"] == (len(bad) > 0)
        assert info["invalid_actions"] == count
        if term or trunc:
            break
    assert count > 0


def test_action_mask_shapes_and_conversion(tiny_scenario_path):
    md = _tiny(tiny_scenario_path).unwrapped
    md.reset(seed=0)
    assert md.action_masks().shape == (4 + 2 + 2 + 2,)
    assert md.flat_action_mask().shape == (32,)
    for i in range(32):
        assert md.action_to_flat(md.flat_to_action(i)) == i
        assert md.action_to_flat(md.flat_to_action(i)) == int(np.ravel_multi_index(md.flat_to_action(i), (4, 2, 2, 2)))
    d = _tiny(tiny_scenario_path, action_mode="discrete").unwrapped
    d.reset(seed=0)
    assert np.array_equal(d.action_masks(), d.flat_action_mask())


def test_dict_obs_matches_flat(tiny_scenario_path):
    ef, ed = _tiny(tiny_scenario_path), _tiny(tiny_scenario_path, obs_mode="dict")
    of, _ = ef.reset(seed=5)
    od, _ = ed.reset(seed=5)
    assert set(od) == {"device", "context", "channel", "library", "model"}
    u = ef.unwrapped
    for g, ix in u._group_idx.items():
        assert np.array_equal(od[g], of[ix])
    assert sum(len(v) for v in od.values()) == of.shape[0] == len(u.feature_names)


def test_planning_view_and_oracle(tiny_scenario_path):
    env = _tiny(tiny_scenario_path, action_mode="discrete")
    env.reset(seed=2)
    u = env.unwrapped
    for _ in range(25):
        view = u.planning_view()
        for key in ("valid", "accuracy", "size_bytes", "download_latency_s_est", "energy_j_est",
                    "inference_latency_s", "fits_deadline", "proxy_score", "source", "depth", "prune", "bits"):
            assert view[key].shape == (u.n_actions,), key
            assert not view[key].flags.writeable
        for key in ("deadline_s", "inference_budget_s", "energy_left_j", "storage_bytes"):
            assert np.ndim(view[key]) == 0
        task = u.scenario.tasks[int(view["task"])]
        assert float(view["inference_budget_s"]) == task.inference_latency_budget_s
        assert np.array_equal(view["valid"], u.flat_action_mask())
        assert np.all((view["accuracy"] >= 0) & (view["accuracy"] <= 1))
        rng_state = copy.deepcopy(u.np_random.bit_generator.state)
        osr = u.one_step_rewards()
        assert u.np_random.bit_generator.state == rng_state
        best = int(np.argmax(osr))
        twin = copy.deepcopy(env)
        _, r_twin, *_ = twin.step(best)
        _, r, term, trunc, _ = env.step(best)
        assert r == osr[best] == r_twin
        if term or trunc:
            break


def test_pickle_roundtrip_continues_identically(tiny_scenario_path):
    env = _tiny(tiny_scenario_path)
    env.reset(seed=11)
    for _ in range(5):
        env.step(env.action_space.sample())
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(20):
        a = env.action_space.sample()
        o1, r1, *_ = env.step(a)
        o2, r2, *_ = clone.step(a)
        assert np.array_equal(o1, o2) and r1 == r2


def test_spec_json_and_make_from_spec(tiny_scenario_path):
    env = _tiny(tiny_scenario_path, dt_s=0.5, channel={"bandwidth_hz": 2e8})
    text = env.spec.to_json()
    spec = gym.envs.registration.EnvSpec.from_json(text)
    env2 = gym.make(spec)
    assert env2.unwrapped.scenario.dt_s == 0.5
    assert env2.unwrapped.scenario.channel.bandwidth_hz == 2e8
    json.loads(text)


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_make_vec(tiny_scenario_path, mode):
    venv = gym.make_vec(CUSTOM_ID, num_envs=2, vectorization_mode=mode, scenario=tiny_scenario_path)
    try:
        obs, _ = venv.reset(seed=0)
        assert obs.shape == (2, venv.single_observation_space.shape[0])
        for _ in range(3):
            obs, r, term, trunc, info = venv.step(venv.action_space.sample())
        assert r.shape == (2,)
    finally:
        venv.close()


def test_render_modes(tiny_scenario_path):
    env = _tiny(tiny_scenario_path, render_mode="ansi")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    text = env.render()
    assert "reward" in text and "channel" in text
    env = _tiny(tiny_scenario_path, render_mode="rgb_array")
    env.reset(seed=0)
    for _ in range(4):
        env.step(env.action_space.sample())
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and frame.shape[2] == 3


def test_constructor_errors(tiny_scenario_path):
    with pytest.raises(ValueError, match="action_mode"):
        ModelDownloadEnv(tiny_scenario_path, action_mode="box")
    with pytest.raises(ValueError, match="obs_mode"):
        ModelDownloadEnv(tiny_scenario_path, obs_mode="image")
    with pytest.raises(ValueError, match="render_mode"):
        ModelDownloadEnv(tiny_scenario_path, render_mode="human")
    with pytest.raises(ScenarioError, match=r"channel\.carrier_hz.*out of range"):
        _tiny(tiny_scenario_path, channel__carrier_hz=-1.0)
    with pytest.raises(ScenarioError, match=r"'dt_sec'.*unknown key"):
        _tiny(tiny_scenario_path, dt_sec=1.0)
    with pytest.raises(TypeError, match="Custom-v0 needs"):
        gym.make(CUSTOM_ID)
    with pytest.raises(FileNotFoundError, match="shipped scenarios"):
        gym.make(CUSTOM_ID, scenario="no_such_scenario")
    env = _tiny(tiny_scenario_path)
    with pytest.raises((RuntimeError, gym.error.ResetNeeded)):
        env.step(env.action_space.sample())


def test_module_prefix_make_in_fresh_process(tiny_scenario_path):
    code = (f"import gymnasium as gym; e = gym.make('envs:insitu/Custom-v0', scenario={tiny_scenario_path!r}); "
            "o, _ = e.reset(seed=0); print(o.shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "(45,)" in out.stdout


def test_make_env_helper(tiny_scenario_path):
    env = envs.make_env(tiny_scenario_path)
    assert isinstance(env.unwrapped, ModelDownloadEnv)


def test_observation_features_mean_what_the_docstring_says(tiny_scenario_path):
    env = _tiny(tiny_scenario_path)
    obs, info = env.reset(seed=9)
    u = env.unwrapped
    names = [n for _, n in u.feature_names]
    assert len(names) == u.observation_space.shape[0] == u.scenario.n_tasks + 43
    for _ in range(20):
        obs, _, term, trunc, info = env.step(env.action_space.sample())
        sim = u.sim
        task = int(sim.exo.ci[0, int(sim.state.k[0]), 0])
        onehot = [obs[names.index(f"task_{t.name}")] for t in u.scenario.tasks]
        assert int(np.argmax(onehot)) == task and sum(onehot) == 1.0
        assert obs[names.index("energy_left")] == pytest.approx(info["energy_left_j"] / u.scenario.device.energy_budget_j, abs=1e-6)
        assert obs[names.index("class_smartphone")] == 1.0
        assert obs[names.index("download_pending")] == float(sim.state.dyn.pending[0])
        m = int(sim.state.dyn.model[0]) // u.params.n_variants
        assert obs[names.index("task_match")] == float(m == task)
        if term or trunc:
            break


def test_docstring_observation_table_lists_every_feature(tiny_scenario_path):
    doc = ModelDownloadEnv.__doc__
    table = doc[doc.index("## Observation Space"):doc.index("## Rewards")]
    u = _tiny(tiny_scenario_path).unwrapped
    for group, name in u.feature_names:
        if name.startswith(("class_", "task_")):
            continue  # documented as the one-hot rows
        assert f"| {group} |" in table and name in table, (group, name)
