"""The Gymnasium adapter: registration, checkers on every id, determinism, info keys, masks,
errors, observations, planning helpers, pickling, spec round trip, rendering, episode ends."""

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
from insitu_test_helpers import assert_info_equal
from stable_baselines3.common.env_checker import check_env as sb3_check_env

import envs
from envs import CUSTOM_ID, SCENARIO_IDS, SINGLE_DEVICE_SCENARIOS, ModelDownloadEnv
from envs.adapter import OBS_GROUPS, component_masks
from envs.sim.dynamics import store_bytes
from envs.sim.params import SOURCES, TIERS
from envs.sim.reward import COST_NAMES, TERM_NAMES
from scenarios import ScenarioError, load_scenario

STEP_INFO_KEYS = {
    "reward_terms", "cost", "action_source", "source_tier", "target_task", "variant", "download_latency_s",
    "downloaded", "cancelled", "requests", "served_requests", "failed_requests", "no_model_requests",
    "late_requests", "accuracy", "accuracy_sum", "energy_j", "energy_radio_j", "air_bytes", "backhaul_bytes",
    "invalid_action", "invalid_actions", "energy_left_j", "task", "action_mask", "joint_action_mask"}
RESET_INFO_KEYS = {"action_mask", "joint_action_mask", "task", "energy_left_j"}
MODES = [("multidiscrete", "flat"), ("discrete", "flat"), ("multidiscrete", "dict"), ("discrete", "dict")]


def _tiny(path, **kw):
    return gym.make(CUSTOM_ID, scenario=path, **kw)


def _check_both(env_fn):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        gym_check_env(env_fn().unwrapped, skip_render_check=False)
        sb3_check_env(env_fn(), warn=True)


def _valid_action(env, rng, p_keep=0.3):
    u = env.unwrapped
    ok = np.flatnonzero(u.flat_action_mask())
    i = 0 if rng.random() < p_keep else int(rng.choice(ok))
    return u.flat_to_action(i)


# ---------------------------------------------------------------------------- registration and checkers
def test_ids_registered():
    assert len(SCENARIO_IDS) == 7 and CUSTOM_ID in gym.registry
    assert set(SINGLE_DEVICE_SCENARIOS) < set(SCENARIO_IDS)
    for name, env_id in SCENARIO_IDS.items():
        assert env_id.startswith("insitu/") and env_id.endswith("-v1")
        spec = gym.spec(env_id)
        assert spec.max_episode_steps == load_scenario(name).max_episode_steps == 250
        assert spec.vector_entry_point is not None
    env = gym.make(SCENARIO_IDS["tactile_xr"])
    assert env.unwrapped.scenario.name == "tactile_xr" and env.spec.max_episode_steps == 250
    with pytest.raises(ValueError, match="Custom-v1"):  # an id runs its own scenario only
        gym.make(SCENARIO_IDS["tactile_xr"], scenario="urban_smartphone")


def test_v0_ids_are_gone():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with pytest.raises(gym.error.Error, match="UrbanSmartphone-v1"):
            gym.make("insitu/UrbanSmartphone-v0")


@pytest.mark.parametrize("action_mode,obs_mode", MODES)
def test_checkers_pass_on_custom(tiny_scenario_path, action_mode, obs_mode):
    _check_both(lambda: _tiny(tiny_scenario_path, action_mode=action_mode, obs_mode=obs_mode))


@pytest.mark.parametrize("name", sorted(SCENARIO_IDS))
def test_checkers_pass_on_every_registered_id(name):
    for action_mode, obs_mode in (("multidiscrete", "flat"), ("discrete", "dict")):
        _check_both(lambda am=action_mode, om=obs_mode: gym.make(SCENARIO_IDS[name], action_mode=am, obs_mode=om))


# ---------------------------------------------------------------------------- determinism, pickling, spec
def _rollout(env, seed, n=60, action_seed=0):
    obs, info = env.reset(seed=seed)
    rng = np.random.default_rng(action_seed)
    out = [(obs, info)]
    for _ in range(n):
        step = env.step(_valid_action(env, rng))
        out.append(step)
        if step[2] or step[3]:
            out.append(env.reset())
    return out


def _same(a, b):
    if len(a) != len(b):
        return False
    for x, y in zip(a, b):
        for u, v in zip(x, y):
            if isinstance(v, dict):
                try:
                    assert_info_equal(u, v)
                except AssertionError:
                    return False
            elif not np.array_equal(u, v):
                return False
    return True


def test_same_seed_same_trajectory_different_seed_different(tiny_scenario_path):
    e1, e2 = _tiny(tiny_scenario_path), _tiny(tiny_scenario_path)
    assert _same(_rollout(e1, 3), _rollout(e2, 3))
    assert not _same(_rollout(e1, 3), _rollout(e2, 4))


def test_shipped_id_is_deterministic():
    env_id = SCENARIO_IDS["urban_smartphone"]
    assert _same(_rollout(gym.make(env_id), 1, n=30), _rollout(gym.make(env_id), 1, n=30))


def test_pickle_roundtrip_continues_identically(tiny_scenario_path):
    env = _tiny(tiny_scenario_path)
    env.reset(seed=11)
    rng = np.random.default_rng(0)
    for _ in range(5):
        env.step(_valid_action(env, rng))
    clone = pickle.loads(pickle.dumps(env))
    for _ in range(20):
        a = _valid_action(env, rng)
        o1, r1, t1, u1, i1 = env.step(a)
        o2, r2, t2, u2, i2 = clone.step(a)
        assert np.array_equal(o1, o2) and (r1, t1, u1) == (r2, t2, u2)
        assert_info_equal(i1, i2)


def test_spec_json_and_make_from_spec(tiny_scenario_path):
    env = _tiny(tiny_scenario_path, dt_s=0.5, channel={"bandwidth_hz": 2e8}, library__menu_size=4)
    text = env.spec.to_json()
    json.loads(text)
    env2 = gym.make(gym.envs.registration.EnvSpec.from_json(text))
    sc = env2.unwrapped.scenario
    assert sc.dt_s == 0.5 and sc.channel.bandwidth_hz == 2e8 and sc.library.menu_size == 4
    assert env2.action_space == gym.spaces.MultiDiscrete([6, 2, 4])
    shipped = gym.make(SCENARIO_IDS["rural_macro"])
    again = gym.make(gym.envs.registration.EnvSpec.from_json(shipped.spec.to_json()))
    assert again.unwrapped.scenario == shipped.unwrapped.scenario


# ---------------------------------------------------------------------------- spaces, infos, masks
def test_spaces_follow_the_params(tiny_scenario_path):
    md = _tiny(tiny_scenario_path).unwrapped
    dc = _tiny(tiny_scenario_path, action_mode="discrete").unwrapped
    p = md.params
    k, m = p.n_tasks, p.n_menu
    assert (k, m) == (2, 12) and p.n_actions == 6 * k * m
    assert md.action_space == gym.spaces.MultiDiscrete([6, k, m])
    assert dc.action_space == gym.spaces.Discrete(6 * k * m)
    assert md.observation_space.shape == (len(md.feature_names),)
    for i in range(p.n_actions):
        s, t, e = md.flat_to_action(i)
        assert i == (s * k + t) * m + e == md.action_to_flat([s, t, e])
        assert dc.flat_to_action(i) == i
        assert p.act_src[i] == s and p.act_task[i] == t and p.act_entry[i] == e and p.act_var[i] == p.menu[t, e]


def test_info_keys_types_and_sums(tiny_scenario_path):
    env = _tiny(tiny_scenario_path)
    _, info = env.reset(seed=0)
    assert set(info) == RESET_INFO_KEYS
    rng = np.random.default_rng(0)
    for _ in range(30):
        _, r, term, trunc, info = env.step(_valid_action(env, rng))
        assert set(info) == STEP_INFO_KEYS
        assert isinstance(r, float) and isinstance(term, bool) and isinstance(trunc, bool)
        assert tuple(info["reward_terms"]) == TERM_NAMES and tuple(info["cost"]) == COST_NAMES
        assert sum(info["reward_terms"].values()) == pytest.approx(r, abs=1e-12)
        assert all(v >= 0 for v in info["cost"].values())
        assert info["cost"]["failed_requests"] == info["failed_requests"] == info["requests"] - info["served_requests"]
        assert info["failed_requests"] == info["no_model_requests"] + info["late_requests"]
        assert set(info["variant"]) == {"depth", "prune", "bits", "integer"}
        assert info["action_source"] in SOURCES and info["source_tier"] in TIERS
        if info["requests"]:
            assert info["accuracy"] == pytest.approx(info["accuracy_sum"] / info["requests"])
        assert 0 <= info["energy_radio_j"] <= info["energy_j"] == info["cost"]["energy_j"]
        for key in ("requests", "served_requests", "energy_j", "air_bytes", "accuracy", "energy_left_j"):
            assert isinstance(info[key], float), key
        for key in ("invalid_actions", "task", "target_task"):
            assert isinstance(info[key], int), key
        if info["source_tier"] == "none":
            assert info["variant"]["depth"] == -1 and info["download_latency_s"] == 0.0
        if term or trunc:
            break


def test_gym_mask_form_works_with_sample(tiny_scenario_path):
    rng = np.random.default_rng(1)
    for mode in ("discrete", "multidiscrete"):
        env = _tiny(tiny_scenario_path, action_mode=mode, device__storage_bytes=1.2e7, channel__bandwidth_hz=2e6)
        _, info = env.reset(seed=2)
        u = env.unwrapped
        env.action_space.seed(3)
        for _ in range(40):
            joint = info["joint_action_mask"]
            assert joint.dtype == np.bool_ and np.array_equal(joint, u.flat_action_mask())
            mask = info["action_mask"]
            if mode == "discrete":
                assert mask.dtype == np.int8 and np.array_equal(mask.astype(bool), joint)
                for _ in range(5):
                    assert joint[env.action_space.sample(mask=mask)]
                assert np.array_equal(u.action_masks(), joint)
            else:
                assert isinstance(mask, tuple) and [len(x) for x in mask] == list(u.nvec)
                comp = component_masks(joint, u.nvec)
                assert np.array_equal(np.concatenate(mask).astype(bool), comp)
                assert np.array_equal(u.action_masks(), comp)
                for _ in range(5):
                    a = env.action_space.sample(mask=mask)
                    assert all(m[x] for m, x in zip(mask, a))
                # each allowed component value belongs to some valid joint action
                g = joint.reshape(tuple(u.nvec))
                assert np.array_equal(mask[0].astype(bool), g.any(axis=(1, 2)))
            _, _, term, trunc, info = env.step(_valid_action(env, rng, p_keep=0.5))
            if term or trunc:
                break


def test_keep_and_cancel_ignore_task_and_entry_evict_ignores_entry(tiny_scenario_path):
    """Only the canonical indices are in the joint mask, but the others act the same and are
    valid (a factored policy need not pick the canonical values)."""
    env = _tiny(tiny_scenario_path, action_mode="discrete")
    env.reset(seed=0)
    u = env.unwrapped
    p = u.params
    mask = u.flat_action_mask()
    keeps = np.flatnonzero(p.act_src == 0)
    assert mask[keeps].sum() == 1 and mask[0]
    osr = u.one_step_rewards()
    assert np.allclose(osr[keeps], osr[0])
    _, _, _, _, info = env.step(int(keeps[-1]))
    assert not info["invalid_action"] and info["action_source"] == "keep"


def test_invalid_action_is_a_penalised_keep(tiny_scenario_path):
    env = _tiny(tiny_scenario_path, action_mode="discrete")
    env.reset(seed=0)
    u = env.unwrapped
    w = u.scenario.reward.invalid_action
    count = 0
    p = u.params
    for _ in range(20):
        mask = u.flat_action_mask()
        # masked downloads, and cancel (canonical index) with nothing in flight, are invalid
        canon_cancel = (p.act_src == 1) & (p.act_task == 0) & (p.act_entry == 0)
        candidates = ~mask & ((p.act_src >= 3) | canon_cancel)
        bad = int(np.flatnonzero(candidates)[0])
        osr = u.one_step_rewards()
        assert osr[bad] == pytest.approx(osr[0] - w, abs=1e-12)
        _, r, term, trunc, info = env.step(bad)
        count += 1
        assert info["invalid_action"] and info["invalid_actions"] == count
        assert info["reward_terms"]["invalid_action"] == -w and info["action_source"] == SOURCES[u.params.act_src[bad]]
        assert r == osr[bad]
        if term or trunc:
            break


@pytest.mark.parametrize("bad,msg", [([6, 0, 0], "source=6"), ([0, 2, 0], "task=2"), ([0, 0, 12], "entry=12"),
                                     ([0, 0, -1], "entry=-1"), ([0, 0], "3"), ([0, 0.5, 0], "task=0.5")])
def test_action_outside_space_raises_multidiscrete(tiny_scenario_path, bad, msg):
    env = _tiny(tiny_scenario_path)
    env.reset(seed=0)
    with pytest.raises(ValueError, match=msg):
        env.step(bad)


@pytest.mark.parametrize("bad", [144, -1, 2.5, "x"])
def test_action_outside_space_raises_discrete(tiny_scenario_path, bad):
    env = _tiny(tiny_scenario_path, action_mode="discrete")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"Discrete\(144\)"):
        env.step(bad)


def test_dict_obs_matches_flat(tiny_scenario_path):
    ef, ed = _tiny(tiny_scenario_path), _tiny(tiny_scenario_path, obs_mode="dict")
    of, _ = ef.reset(seed=5)
    od, _ = ed.reset(seed=5)
    assert tuple(od) == OBS_GROUPS
    u = ef.unwrapped
    for g, ix in u._group_idx.items():
        assert np.array_equal(od[g], of[ix])
        assert all(u.feature_names[i][0] == g for i in ix)


def test_dict_obs_holds_every_feature(tiny_scenario_path):
    env = _tiny(tiny_scenario_path, obs_mode="dict")
    od, _ = env.reset(seed=5)
    assert sum(len(v) for v in od.values()) == len(env.unwrapped.feature_names)
    assert {g for g, _ in env.unwrapped.feature_names} <= set(OBS_GROUPS)


def test_observation_features_mean_what_the_docstring_says(tiny_scenario_path):
    env = _tiny(tiny_scenario_path, channel__bandwidth_hz=2e6)
    obs, info = env.reset(seed=9)
    u = env.unwrapped
    p = u.params
    names = [n for _, n in u.feature_names]
    col = {n: names.index(n) for n in names}
    rng = np.random.default_rng(0)
    storage = u.scenario.device.storage_bytes
    for t in range(1, 40):
        obs, _, term, trunc, info = env.step(_valid_action(env, rng, p_keep=0.5))
        d, st = u.sim.state.dyn, u.sim.state
        onehot = [obs[col[f"task_{tk.name}"]] for tk in u.scenario.tasks]
        assert int(np.argmax(onehot)) == info["task"] and sum(onehot) == 1.0
        assert obs[col["energy_left"]] == pytest.approx(info["energy_left_j"] / u.scenario.device.energy_budget_j, abs=1e-6)
        assert obs[col["class_smartphone"]] == 1.0 and obs[col["class_drone"]] == 0.0
        assert obs[col["episode_progress"]] == pytest.approx(t / u.scenario.max_episode_steps)
        assert obs[col["download_pending"]] == float(d.dl_active[0])
        assert obs[col["storage_free"]] == pytest.approx(1 - store_bytes(p, d)[0] / storage, abs=1e-6)
        for k, tk in enumerate(u.scenario.tasks):
            g = int(d.store_var[0, k])
            assert obs[col[f"{tk.name}_has_model"]] == float(g != p.no_model)
            if g != p.no_model:
                pl = int(d.store_planes[0, k])
                assert obs[col[f"{tk.name}_accuracy"]] == pytest.approx(p.var_plane_accuracy[g, pl - 1], abs=1e-6)
                assert obs[col[f"{tk.name}_planes"]] == pytest.approx(pl / p.var_planes[g], abs=1e-6)
                assert obs[col[f"{tk.name}_integer"]] == float(p.var_integer[g])
            assert obs[col[f"download_task_{tk.name}"]] == float(bool(d.dl_active[0]) and d.dl_task[0] == k)
            zone = int(u.planning_view()["zone"])
            assert obs[col[f"edge_has_{tk.name}"]] == float(st.edge_present[0, zone * p.n_tasks + k] > 0)
            assert obs[col[f"local_has_{tk.name}"]] == float(p.zone_local[zone, k])
        if term or trunc:
            break


def test_docstring_observation_table_lists_every_feature(tiny_scenario_path):
    doc = ModelDownloadEnv.__doc__
    table = doc[doc.index("## Observation Space"):doc.index("## Rewards")]
    u = _tiny(tiny_scenario_path).unwrapped
    for group, name in u.feature_names:
        if name.startswith(("class_", "task_", "local_has_", "edge_has_", "download_task_")) or "_" in name and \
                name.split("_", 1)[0] in [t.name for t in u.scenario.tasks]:
            continue  # documented as one-hot or per-task rows
        head, _, tail = name.partition("_")
        assert name in table or (f"{head}_" in table and f"/{tail}" in table), (group, name)


# ---------------------------------------------------------------------------- planning helpers
def test_planning_view_and_oracle(tiny_scenario_path):
    env = _tiny(tiny_scenario_path, action_mode="discrete")
    env.reset(seed=2)
    u = env.unwrapped
    for _ in range(20):
        view = u.planning_view()
        assert np.array_equal(view["valid"], u.flat_action_mask())
        assert float(view["budget_s"][int(view["task"])]) == u.scenario.tasks[int(view["task"])].inference_latency_budget_s
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


# ---------------------------------------------------------------------------- episode ends
def test_truncation_at_the_horizon_of_a_shipped_scenario():
    env = gym.make(SCENARIO_IDS["iot_sensor"])
    env.reset(seed=0)
    keep = np.zeros(3, dtype=np.int64)
    for t in range(1, 251):
        _, _, term, trunc, _ = env.step(keep)
        if term:
            break
        assert trunc == (t == 250), t


def test_termination_when_the_battery_is_empty(tiny_scenario_path):
    env = _tiny(tiny_scenario_path, device__energy_budget_j=0.5)
    env.reset(seed=0)
    rng = np.random.default_rng(0)
    for _ in range(50):
        _, _, term, trunc, info = env.step(_valid_action(env, rng, p_keep=0.0))
        if term:
            break
    assert term and not trunc and info["energy_left_j"] == 0.0


# ---------------------------------------------------------------------------- construction, rendering
def test_overrides_reach_the_simulation(tiny_scenario_path):
    env = _tiny(tiny_scenario_path, dt_s=0.5, device__storage_bytes=3e6, channel={"bandwidth_hz": 2e8})
    u = env.unwrapped
    assert u.scenario.dt_s == 0.5 and u.sim.storage == 3e6 and u.scenario.channel.bandwidth_hz == 2e8
    menu = u.params.menu[u.params.menu != u.params.no_model]
    assert np.all(u.params.var_size_bytes[menu] <= 3e6)


def test_render_modes(tiny_scenario_path):
    env = _tiny(tiny_scenario_path, render_mode="ansi")
    env.reset(seed=0)
    assert "episode start" in env.render()
    env.step(env.action_space.sample())
    text = env.render()
    assert "reward" in text and "channel" in text and "store" in text
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
    with pytest.raises(TypeError, match="scenario"):
        ModelDownloadEnv(scenario=3)
    with pytest.raises(ScenarioError, match=r"channel\.carrier_hz.*out of range"):
        _tiny(tiny_scenario_path, channel__carrier_hz=-1.0)
    with pytest.raises(ScenarioError, match=r"unexpected keyword argument 'dt_sec'") as exc:
        _tiny(tiny_scenario_path, dt_sec=1.0)
    assert isinstance(exc.value, TypeError)
    with pytest.raises(ScenarioError, match=r"'device\.storage_gb'.*unknown key"):
        _tiny(tiny_scenario_path, device__storage_gb=1.0)
    with pytest.raises(TypeError, match="Custom-v1 needs"):
        gym.make(CUSTOM_ID)
    with pytest.raises(FileNotFoundError, match="shipped scenarios"):
        gym.make(CUSTOM_ID, scenario="no_such_scenario")
    env = _tiny(tiny_scenario_path)
    with pytest.raises((RuntimeError, gym.error.ResetNeeded)):
        env.step(env.action_space.sample())
    with pytest.raises(ValueError, match="flat action"):
        env.unwrapped.flat_to_action(144)


def test_make_env_helper_and_module_prefix(tiny_scenario_path):
    assert isinstance(envs.make_env(tiny_scenario_path).unwrapped, ModelDownloadEnv)
    assert isinstance(envs.make_env("tactile_xr").unwrapped, ModelDownloadEnv)
    code = (f"import gymnasium as gym; e = gym.make('envs:insitu/Custom-v1', scenario={tiny_scenario_path!r}); "
            "o, _ = e.reset(seed=0); print(o.shape)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "(60,)" in out.stdout
