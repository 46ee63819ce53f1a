"""The native vector env and the SB3 adapter: column i == a single env seeded seed + i, step by step."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from insitu_test_helpers import assert_obs_equal as _assert_obs_equal
from insitu_test_helpers import assert_row_info as _assert_row_info
from insitu_test_helpers import random_actions as _actions
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

import envs  # noqa: F401  (registers the ids)
from envs import CUSTOM_ID
from envs.sb3_vec import InsituSB3VecEnv
from envs.vector import InsituVectorEnv

N = 3


def _single(path, **kw):
    return gym.make(CUSTOM_ID, scenario=path, **kw)


def _vec(path, n=N, **kw):
    return gym.make_vec(CUSTOM_ID, num_envs=n, vectorization_mode="vector_entry_point", scenario=path, **kw)


CASES = [
    # (action_mode, obs_mode, make kwargs, steps): short time limits, energy terminations,
    # and the scenario horizon (50 steps, chunk of 51 steps) all force autoresets
    ("multidiscrete", "flat", {"max_episode_steps": 12}, 40),
    ("discrete", "dict", {"max_episode_steps": 9}, 30),
    ("multidiscrete", "flat", {"device__energy_budget_j": 0.5}, 40),
    ("discrete", "flat", {}, 130),
]


@pytest.mark.parametrize("action_mode,obs_mode,kw,steps", CASES)
def test_next_step_columns_equal_single_envs(tiny_scenario_path, action_mode, obs_mode, kw, steps):
    venv = _vec(tiny_scenario_path, action_mode=action_mode, obs_mode=obs_mode, **kw)
    assert isinstance(venv, InsituVectorEnv)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    singles = [_single(tiny_scenario_path, action_mode=action_mode, obs_mode=obs_mode, **kw) for _ in range(N)]
    obs, info = venv.reset(seed=100)
    for i, s in enumerate(singles):
        so, si = s.reset(seed=100 + i)
        _assert_obs_equal(obs, i, so)
        _assert_row_info(info, i, si, "reset")
    rng = np.random.default_rng(1)
    ended = [False] * N
    resets = 0
    for t in range(steps):
        acts = _actions(venv.single_action_space, N, rng)
        obs, rew, term, trunc, info = venv.step(acts)
        assert rew.shape == term.shape == trunc.shape == (N,)
        for i, s in enumerate(singles):
            if ended[i]:  # NEXT_STEP: the row is reset, its action ignored
                so, si = s.reset()
                sr, ste, str_ = 0.0, False, False
                resets += 1
            else:
                so, sr, ste, str_, si = s.step(acts[i])
            ended[i] = ste or str_
            _assert_obs_equal(obs, i, so)
            assert (rew[i], term[i], trunc[i]) == (sr, ste, str_), f"step {t} row {i}"
            _assert_row_info(info, i, si, f"step {t}")
        assert np.array_equal(venv.action_masks()[0], singles[0].unwrapped.action_masks())
    assert resets >= N  # every row went through at least one autoreset


@pytest.mark.parametrize("kw", [{"max_episode_steps": 7}, {"device__energy_budget_j": 0.5}])
def test_same_step_columns_equal_single_envs(tiny_scenario_path, kw):
    venv = _vec(tiny_scenario_path, autoreset_mode="same_step", **kw)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    singles = [_single(tiny_scenario_path, **kw) for _ in range(N)]
    obs, _ = venv.reset(seed=7)
    for i, s in enumerate(singles):
        assert np.array_equal(obs[i], s.reset(seed=7 + i)[0])
    rng = np.random.default_rng(2)
    finals = 0
    for t in range(30):
        acts = _actions(venv.single_action_space, N, rng)
        obs, rew, term, trunc, info = venv.step(acts)
        for i, s in enumerate(singles):
            so, sr, ste, str_, si = s.step(acts[i])
            assert (rew[i], term[i], trunc[i]) == (sr, ste, str_)
            if ste or str_:
                finals += 1
                assert info["_final_obs"][i] and info["_final_info"][i]
                assert np.array_equal(info["final_obs"][i], so)
                assert info["final_info"]["energy_j"][i] == si["energy_j"]
                assert info["final_info"]["reward_terms"]["accuracy"][i] == si["reward_terms"]["accuracy"]
                so, si = s.reset()
            else:
                assert "_final_obs" not in info or not info["_final_obs"][i]
            assert np.array_equal(obs[i], so)
            _assert_row_info(info, i, si, f"step {t}")
    assert finals >= N


def test_seeding_lists_continuation_and_distinct_rows(tiny_scenario_path):
    venv = InsituVectorEnv(2, scenario=tiny_scenario_path)
    a, _ = venv.reset(seed=[5, 9])
    s5, s9 = _single(tiny_scenario_path), _single(tiny_scenario_path)
    assert np.array_equal(a[0], s5.reset(seed=5)[0]) and np.array_equal(a[1], s9.reset(seed=9)[0])
    b, _ = venv.reset()  # continues each row's generator, like reset() of a single env
    assert np.array_equal(b[0], s5.reset()[0]) and np.array_equal(b[1], s9.reset()[0])
    c, _ = venv.reset(seed=5)
    assert np.array_equal(c[0], a[0]) and not np.array_equal(c[1], a[1])  # row 1 now seeded with 6
    d, _ = InsituVectorEnv(2, scenario=tiny_scenario_path).reset(seed=5)
    assert np.array_equal(c, d)
    with pytest.raises(ValueError, match="num_envs=2"):
        venv.reset(seed=[1, 2, 3])


def test_masks_shapes_and_rows(tiny_scenario_path):
    for mode, width in (("discrete", 32), ("multidiscrete", 4 + 2 + 2 + 2)):
        venv = InsituVectorEnv(4, scenario=tiny_scenario_path, action_mode=mode)
        venv.reset(seed=3)
        m = venv.action_masks()
        assert m.shape == (4, width) and m.dtype == np.bool_
        assert venv.flat_action_masks().shape == (4, 32)
        for i in range(4):
            s = _single(tiny_scenario_path, action_mode=mode)
            s.reset(seed=3 + i)
            assert np.array_equal(m[i], s.unwrapped.action_masks())
            assert np.array_equal(venv.row_action_masks(i), m[i])
            for key, val in s.unwrapped.planning_view().items():
                assert np.array_equal(venv.planning_view(i)[key], val), key
            assert np.array_equal(venv.one_step_rewards(i), s.unwrapped.one_step_rewards())
        assert m[:, 0].all()  # keep is always valid
        # masking the invalid download actions: a batch of masked actions is never invalid
        rng = np.random.default_rng(0)
        for _ in range(20):
            fm = venv.flat_action_masks()
            flat = np.array([rng.choice(np.flatnonzero(r)) for r in fm])
            acts = flat if mode == "discrete" else venv.sim.multi_actions(flat)
            _, _, _, _, info = venv.step(acts)
            assert not info["invalid_action"].any()


def test_spaces_and_make_vec(tiny_scenario_path):
    venv = _vec(tiny_scenario_path, n=5, action_mode="multidiscrete")
    assert venv.num_envs == 5
    assert venv.single_action_space == gym.spaces.MultiDiscrete([4, 2, 2, 2])
    assert venv.action_space.shape == (5, 4)
    single = _single(tiny_scenario_path)
    assert venv.single_observation_space == single.observation_space
    assert venv.observation_space.shape == (5, *single.observation_space.shape)
    obs, _ = venv.reset(seed=0)
    assert obs.dtype == np.float32 and venv.observation_space.contains(obs)
    assert venv.spec is not None and venv.spec.id == CUSTOM_ID
    # the shipped ids carry the vector entry point too
    for env_id in envs.SCENARIO_IDS.values():
        if env_id in gym.registry:
            assert gym.spec(env_id).vector_entry_point == "envs.vector:InsituVectorEnv"
    # sync mode still builds Gymnasium's SyncVectorEnv of single envs
    sync = gym.make_vec(CUSTOM_ID, num_envs=2, vectorization_mode="sync", scenario=tiny_scenario_path)
    assert isinstance(sync, gym.vector.SyncVectorEnv)


@pytest.mark.parametrize("bad", [0, -3, 1.5, True, "4"])
def test_bad_num_envs(tiny_scenario_path, bad):
    with pytest.raises(ValueError, match="num_envs"):
        InsituVectorEnv(bad, scenario=tiny_scenario_path)


def test_bad_arguments_and_actions(tiny_scenario_path):
    with pytest.raises(ValueError, match="autoreset_mode"):
        InsituVectorEnv(2, scenario=tiny_scenario_path, autoreset_mode="sometimes")
    with pytest.raises(ValueError, match="action_mode"):
        InsituVectorEnv(2, scenario=tiny_scenario_path, action_mode="box")
    with pytest.raises(ValueError, match="max_episode_steps"):
        InsituVectorEnv(2, scenario=tiny_scenario_path, max_episode_steps=0)
    with pytest.raises(ValueError, match="render_mode"):
        InsituVectorEnv(2, scenario=tiny_scenario_path, render_mode="human")
    with pytest.raises(TypeError, match="scenario="):
        gym.make_vec(CUSTOM_ID, num_envs=2, vectorization_mode="vector_entry_point")
    venv = InsituVectorEnv(3, scenario=tiny_scenario_path)
    with pytest.raises(RuntimeError, match="reset"):
        venv.step(np.zeros((3, 4), dtype=np.int64))
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected shape \(3, 4\).*got shape \(2, 4\)"):
        venv.step(np.zeros((2, 4), dtype=np.int64))
    bad = np.zeros((3, 4), dtype=np.int64)
    bad[1, 2] = 2
    with pytest.raises(ValueError, match=r"actions\[1\] = \[0, 0, 2, 0\].*prune=2 \(allowed 0 .. 1\)"):
        venv.step(bad)
    bad[1, 2] = -1
    with pytest.raises(ValueError, match=r"prune=-1"):
        venv.step(bad)
    with pytest.raises(ValueError, match="integers"):
        venv.step(np.full((3, 4), 0.5))
    disc = InsituVectorEnv(2, scenario=tiny_scenario_path, action_mode="discrete")
    disc.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions\[0\] = 32 .*Discrete\(32\): allowed 0 .. 31"):
        disc.step(np.array([32, 0]))
    assert disc.step(np.array([0.0, 1.0]))[1].shape == (2,)  # integral floats are accepted
    with pytest.raises(ValueError, match="reset_mask"):
        disc.reset(options={"reset_mask": np.array([1, 0])})


def test_disabled_autoreset_and_reset_mask(tiny_scenario_path):
    venv = InsituVectorEnv(2, scenario=tiny_scenario_path, autoreset_mode="disabled", max_episode_steps=3)
    s0, s1 = _single(tiny_scenario_path, max_episode_steps=3), _single(tiny_scenario_path, max_episode_steps=3)
    venv.reset(seed=[0, 1])
    s0.reset(seed=0)
    s1.reset(seed=1)
    keep = np.zeros((2, 4), dtype=np.int64)
    for _ in range(3):
        _, _, term, trunc, _ = venv.step(keep)
        s0.step(keep[0])
        s1.step(keep[1])
    assert trunc.all()
    with pytest.raises(RuntimeError, match="DISABLED"):
        venv.step(keep)
    obs, info = venv.reset(options={"reset_mask": np.array([True, False])})
    assert info["_task"].tolist() == [True, False]
    assert np.array_equal(obs[0], s0.reset()[0])
    with pytest.raises(RuntimeError, match="row 1"):
        venv.step(keep)


# ---------------------------------------------------------------------- SB3 adapter
@pytest.mark.parametrize("action_mode,kw", [("multidiscrete", {"max_episode_steps": 11}),
                                            ("discrete", {"device__energy_budget_j": 0.5}),
                                            ("discrete", {})])
def test_sb3_adapter_equals_dummy_vec_env(tiny_scenario_path, action_mode, kw):
    native = InsituSB3VecEnv(N, scenario=tiny_scenario_path, action_mode=action_mode, **kw)

    def thunk():
        return _single(tiny_scenario_path, action_mode=action_mode, **kw)

    dummy = DummyVecEnv([thunk for _ in range(N)])
    assert native.observation_space == dummy.observation_space and native.action_space == dummy.action_space
    native.seed(21)
    dummy.seed(21)
    assert np.array_equal(native.reset(), dummy.reset())
    for a, b in zip(native.reset_infos, dummy.reset_infos):
        assert set(a) == set(b) and all(np.array_equal(a[k], b[k]) for k in b)
    rng = np.random.default_rng(3)
    dones = 0
    for t in range(70):
        acts = _actions(native.action_space, N, rng)
        o1, r1, d1, i1 = native.step(acts)
        o2, r2, d2, i2 = dummy.step(acts)
        assert np.array_equal(o1, o2) and np.array_equal(d1, d2), f"step {t}"
        assert r1.dtype == r2.dtype and np.array_equal(r1, r2)
        for x, y in zip(i1, i2):
            assert set(x) == set(y), set(x) ^ set(y)
            for key in y:
                assert (x[key] == y[key]) if isinstance(y[key], dict) else np.array_equal(x[key], y[key]), key
        for x, y in zip(native.reset_infos, dummy.reset_infos):
            assert all(np.array_equal(x[k], y[k]) for k in y)
        assert np.array_equal(np.stack(native.env_method("action_masks")),
                              np.stack(dummy.env_method("action_masks")))
        dones += int(d1.sum())
    assert dones >= N
    assert any(info["TimeLimit.truncated"] for info in i1) or "max_episode_steps" not in kw or dones


def test_sb3_adapter_attributes(tiny_scenario_path):
    venv = InsituSB3VecEnv(4, scenario=tiny_scenario_path, action_mode="discrete")
    venv.seed(0)
    venv.reset()
    masks = venv.action_masks()
    assert masks.shape == (4, 32)
    fns = venv.get_attr("action_masks", indices=[1, 3])
    assert np.array_equal(fns[0](), masks[1]) and np.array_equal(fns[1](), masks[3])
    assert venv.has_attr("action_masks")
    assert venv.get_attr("n_actions") == [32] * 4
    assert venv.get_attr("action_space")[0] == gym.spaces.Discrete(32)
    assert np.array_equal(venv.env_method("one_step_rewards", indices=2)[0], venv.venv.one_step_rewards(2))
    with pytest.raises(AttributeError, match="no attribute"):
        venv.get_attr("nonexistent")
    with pytest.raises(AttributeError, match="render"):
        venv.env_method("render")
    with pytest.raises(ValueError, match="all rows"):
        venv.set_attr("max_episode_steps", 5, indices=[0])
    venv.set_attr("max_episode_steps", 5)
    assert venv.venv.max_episode_steps == 5
    assert venv.env_is_wrapped(gym.Wrapper) == [False] * 4
    with pytest.raises(ValueError, match="actions"):
        venv.step(np.array([0, 1]))


@pytest.mark.parametrize("algo", ["ppo", "maskable_ppo"])
def test_sb3_learns_on_adapter(tiny_scenario_path, algo):
    import torch
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported
    from stable_baselines3 import PPO

    torch.set_num_threads(1)
    mode = "discrete" if algo == "maskable_ppo" else "multidiscrete"
    venv = VecMonitor(InsituSB3VecEnv(4, scenario=tiny_scenario_path, action_mode=mode, max_episode_steps=20))
    cls = MaskablePPO if algo == "maskable_ppo" else PPO
    model = cls("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu",
                policy_kwargs={"net_arch": [16]})
    if algo == "maskable_ppo":
        assert is_masking_supported(venv)
        assert get_action_masks(venv).shape == (4, 32)
    model.learn(256)
    assert model.num_timesteps == 256
    assert len(model.ep_info_buffer) >= 4  # VecMonitor saw the time-limited episodes end
    act, _ = model.predict(venv.reset(), deterministic=True,
                           **({"action_masks": get_action_masks(venv)} if algo == "maskable_ppo" else {}))
    assert venv.action_space.contains(act[0])


def test_make_vec_env_native_and_dummy(tiny_scenario_path):
    from agents.sb3 import make_vec_env

    native = make_vec_env(tiny_scenario_path, 3, seed=4, algo="maskable_ppo", vec="native")
    assert isinstance(native, VecMonitor) and isinstance(native.venv, InsituSB3VecEnv)
    # the default picks the batched env from NATIVE_MIN_ENVS envs on, DummyVecEnv below
    from agents.sb3 import NATIVE_MIN_ENVS

    auto_big = make_vec_env(tiny_scenario_path, NATIVE_MIN_ENVS, seed=4, algo="ppo")
    assert isinstance(auto_big.venv, InsituSB3VecEnv)
    assert isinstance(make_vec_env(tiny_scenario_path, NATIVE_MIN_ENVS - 1, seed=4, algo="ppo"), DummyVecEnv)
    dummy = make_vec_env(tiny_scenario_path, 3, seed=4, algo="maskable_ppo", vec="dummy")
    assert isinstance(dummy, DummyVecEnv)
    assert np.array_equal(native.reset(), dummy.reset())
    acts = np.zeros(3, dtype=np.int64)
    o1, r1, _, _ = native.step(acts)
    o2, r2, _, _ = dummy.step(acts)
    assert np.array_equal(o1, o2) and np.array_equal(r1, r2)
    with pytest.raises(ValueError, match="vec='subproc'"):
        make_vec_env(tiny_scenario_path, 3, seed=4, algo="ppo", vec="subproc")


# ---------------------------------------------------------------------- batched LRU (core step)
@pytest.mark.parametrize("layout", ["C", "F"])
def test_lru_update_rows_equals_row_by_row(layout):
    """Flat-index path (C-contiguous caches) and two-array-index path (other layouts) alike."""
    from envs.sim.library import lru_update, lru_update_rows

    rng = np.random.default_rng(0)
    sizes = np.array([5e6, 3e6, 8e6, 2e6, 6e6])
    cap = 12e6
    n_items, zones, b = len(sizes), 3, 400
    present = (rng.random((b, zones * n_items)) < 0.4).astype(float)
    lastuse = np.where(present > 0, rng.integers(-5, 50, present.shape).astype(float), -np.inf)
    # keep every initial cache within capacity
    for r in range(b):
        for z in range(zones):
            sl = slice(z * n_items, (z + 1) * n_items)
            while np.sum(sizes * present[r, sl]) > cap:
                present[r, sl.start + int(np.argmax(present[r, sl]))] = 0.0
        lastuse[r, present[r] == 0] = -np.inf
    present, lastuse = np.array(present, order=layout), np.array(lastuse, order=layout)
    assert present.flags.c_contiguous == (layout == "C")
    evictions = 0
    for step in range(30):
        rows = np.sort(rng.choice(b, 150, replace=False))
        zone = rng.integers(0, zones, 150)
        item = rng.integers(0, n_items, 150)
        fill = rng.random(150) < 0.7
        now = np.full(150, 100.0 + step)
        p_ref, l_ref = present.copy(), lastuse.copy()
        for i, r in enumerate(rows):
            sl = slice(zone[i] * n_items, (zone[i] + 1) * n_items)
            lru_update(l_ref[r, sl], p_ref[r, sl], int(item[i]), sizes, cap, float(now[i]), bool(fill[i]))
        before = present.sum()
        lru_update_rows(lastuse, present, rows, zone * n_items, item, sizes, cap, now, fill)
        assert np.array_equal(present, p_ref) and np.array_equal(lastuse, l_ref), f"step {step}"
        evictions += int(before + fill.sum() - present.sum() > 0)
    assert evictions > 0


def test_columns_equal_single_envs_with_edge_evictions(tiny_scenario_path):
    """A tiny edge cache (both tasks' models do not fit together) forces LRU evictions in the batch."""
    kw = {"library__edge__capacity_bytes": 9e6, "max_episode_steps": 25}
    n = 6
    venv = _vec(tiny_scenario_path, n=n, action_mode="discrete", **kw)
    singles = [_single(tiny_scenario_path, action_mode="discrete", **kw) for _ in range(n)]
    venv.reset(seed=50)
    for i, s in enumerate(singles):
        s.reset(seed=50 + i)
    rng = np.random.default_rng(5)
    ended = [False] * n
    evicted = 0
    for t in range(60):
        masks = venv.flat_action_masks()
        # prefer edge downloads (flat actions 8..15 = source 1) when valid, else keep
        cand = rng.integers(8, 16, n)
        acts = np.where(masks[np.arange(n), cand], cand, 0)
        before = venv.sim.state.edge_present.copy()
        obs, rew, term, trunc, info = venv.step(acts)
        evicted += int(np.any((before > 0) & (venv.sim.state.edge_present == 0) & ~np.asarray(ended)[:, None]))
        for i, s in enumerate(singles):
            if ended[i]:
                so, _ = s.reset()
                sr = 0.0
            else:
                so, sr, ste, str_, _ = s.step(int(acts[i]))
            ended[i] = bool(term[i] or trunc[i])
            assert np.array_equal(obs[i], so) and rew[i] == sr, f"step {t} row {i}"
            assert np.array_equal(venv.sim.state.edge_present[i], s.unwrapped.sim.state.edge_present[0])
    assert evicted > 0


@pytest.mark.parametrize("overrides", [{"library__edge__capacity_bytes": 9e6, "library__edge__initial_fill_prob": 0.9},
                                       {"device__storage_bytes": 2e5}])
def test_batched_row_reset_equals_row_by_row(tiny_scenario_dict, overrides):
    """BatchSim's vectorised reset (on-board model, edge fill) equals its row-by-row version."""
    from envs.sim import BatchSim, build_params
    from scenarios import scenario_from_dict

    params = build_params(scenario_from_dict(tiny_scenario_dict, **overrides))
    b = 64
    fast, slow = BatchSim(params, b), BatchSim(params, b)
    slow._reset_rows_batch = slow._reset_rows_loop  # force the reference path
    for seed in (0, 1):
        rows = np.arange(b) if seed == 0 else np.arange(3, b, 2)
        fast.reset_rows(rows, [np.random.default_rng(seed * 1000 + int(r)) for r in rows])
        slow.reset_rows(rows, [np.random.default_rng(seed * 1000 + int(r)) for r in rows])
        assert np.array_equal(fast.state.dyn.model, slow.state.dyn.model)
        assert np.array_equal(fast.state.edge_present, slow.state.edge_present)
        assert np.array_equal(fast.state.edge_lastuse, slow.state.edge_lastuse)
        assert np.array_equal(fast.observe(), slow.observe())
    assert 0 < fast.state.edge_present.mean() < 1 or "device__storage_bytes" in overrides
    if "device__storage_bytes" in overrides:  # task 0 has no variant that fits: no model on board
        assert (fast.state.dyn.model == fast.nomodel).any() and (fast.state.dyn.model != fast.nomodel).any()


@pytest.mark.parametrize("name", sorted(envs.SCENARIO_IDS))
def test_make_vec_on_shipped_ids(name):
    from insitu_test_helpers import shipped_profiles_missing

    missing = shipped_profiles_missing(name)
    if missing:
        pytest.skip(f"shipped profiles not built yet: {missing}")
    env_id = envs.SCENARIO_IDS[name]
    venv = gym.make_vec(env_id, num_envs=2)  # default mode: the vector entry point
    assert isinstance(venv, InsituVectorEnv)
    assert venv.max_episode_steps == gym.spec(env_id).max_episode_steps
    single = gym.make(env_id)
    obs, _ = venv.reset(seed=3)
    so, _ = single.reset(seed=3)
    assert np.array_equal(obs[0], so)
    for _ in range(20):
        acts = np.stack([venv.single_action_space.sample() for _ in range(2)])
        obs, rew, _, _, _ = venv.step(acts)
        so, sr, _, _, _ = single.step(acts[0])
        assert np.array_equal(obs[0], so) and rew[0] == sr


def test_poisson_icdf_equals_comparison_count():
    """The searchsorted inverse CDF equals counting the CDF entries <= u (its definition)."""
    from envs.sim.exogenous import _poisson_cdf_table, _poisson_icdf

    rng = np.random.default_rng(0)
    for means in ([10.0], [0.5, 3.0], [0.0, 2.0, 30.0, 0.01, 100.0]):
        table = _poisson_cdf_table(np.array(means))
        for shape in ((1, 7), (40, 257)):
            u = rng.random(shape)
            u[0, :3] = [0.0, 1.0 - 1e-16, table[0, 0] if table[0, 0] < 1 else 0.3]  # edges, a CDF value
            for which in (rng.integers(0, len(means), shape), np.zeros(shape, dtype=np.int64)):
                ref = (u[..., None] >= table[which]).sum(-1).astype(float)
                assert np.array_equal(_poisson_icdf(u, table, which), ref)
