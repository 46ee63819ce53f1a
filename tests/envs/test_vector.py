"""The native vector env and the SB3 adapter: row i == a single env seeded seed + i, step by step,
in every autoreset mode; SB3 adapter == DummyVecEnv of single envs."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AutoresetMode
from insitu_test_helpers import assert_obs_equal, assert_row_info
from stable_baselines3.common.vec_env import DummyVecEnv, VecMonitor

import envs
from envs import CUSTOM_ID
from envs.sb3_vec import InsituSB3VecEnv
from envs.sim.params import SRC_EDGE
from envs.vector import InsituVectorEnv

N = 3
#: Slow downloads (2 MHz): downloads stay in flight over several steps and cancels matter.
SLOW = {"channel__bandwidth_hz": 2e6}


def _single(path, **kw):
    return gym.make(CUSTOM_ID, scenario=path, **kw)


def _vec(path, n=N, **kw):
    return gym.make_vec(CUSTOM_ID, num_envs=n, vectorization_mode="vector_entry_point", scenario=path, **kw)


def _actions(venv, rng, flat_masks=None):
    """Half the rows a random action of the space (often invalid), half a valid one."""
    n = venv.num_envs
    fm = venv.flat_action_masks() if flat_masks is None else flat_masks
    flat = np.array([rng.choice(np.flatnonzero(m)) for m in fm])
    rand = rng.integers(0, venv.n_actions, n)
    flat = np.where(rng.random(n) < 0.5, rand, flat)
    if venv.action_mode == "discrete":
        return flat
    return np.stack(np.unravel_index(flat, tuple(venv.nvec)), axis=-1)


CASES = [
    # (action_mode, obs_mode, make kwargs, steps): short time limits, energy terminations,
    # and the scenario horizon (50 steps, chunk of 51 steps) all force autoresets
    ("multidiscrete", "flat", {"max_episode_steps": 12, **SLOW}, 40),
    ("discrete", "dict", {"max_episode_steps": 9}, 30),
    ("multidiscrete", "flat", {"device__energy_budget_j": 0.5}, 40),
    ("discrete", "flat", SLOW, 120),
]


@pytest.mark.parametrize("action_mode,obs_mode,kw,steps", CASES)
def test_next_step_rows_equal_single_envs(tiny_scenario_path, action_mode, obs_mode, kw, steps):
    venv = _vec(tiny_scenario_path, action_mode=action_mode, obs_mode=obs_mode, **kw)
    assert isinstance(venv, InsituVectorEnv)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
    singles = [_single(tiny_scenario_path, action_mode=action_mode, obs_mode=obs_mode, **kw) for _ in range(N)]
    obs, info = venv.reset(seed=100)
    for i, s in enumerate(singles):
        so, si = s.reset(seed=100 + i)
        assert_obs_equal(obs, i, so)
        assert_row_info(info, i, si, "reset")
    rng = np.random.default_rng(1)
    ended = [False] * N
    resets = 0
    for t in range(steps):
        acts = _actions(venv, rng)
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
            assert_obs_equal(obs, i, so)
            assert (rew[i], term[i], trunc[i]) == (sr, ste, str_), f"step {t} row {i}"
            assert_row_info(info, i, si, f"step {t}")
        assert np.array_equal(venv.action_masks()[0], singles[0].unwrapped.action_masks())
    assert resets >= N  # every row went through at least one autoreset


@pytest.fixture(scope="module")
def long_tiny_path(tiny_scenario_dict, tmp_path_factory):
    """The tiny scenario with a 300-step horizon: episodes cross the end of a 256-step chunk."""
    import yaml

    p = tmp_path_factory.mktemp("long") / "tiny_long.yaml"
    p.write_text(yaml.safe_dump({**tiny_scenario_dict, "max_episode_steps": 300}))
    return str(p)


def test_rows_equal_single_envs_across_chunk_ends(long_tiny_path):
    kw = {"channel__bandwidth_hz": 2e6, "device__energy_budget_j": 1e5}
    venv = InsituVectorEnv(2, scenario=long_tiny_path, action_mode="discrete", **kw)
    assert venv.sim.T == 256
    singles = [_single(long_tiny_path, action_mode="discrete", **kw) for _ in range(2)]
    obs, _ = venv.reset(seed=30)
    for i, s in enumerate(singles):
        assert np.array_equal(obs[i], s.reset(seed=30 + i)[0])
    rng = np.random.default_rng(8)
    for t in range(262):
        acts = _actions(venv, rng)
        obs, rew, term, trunc, info = venv.step(acts)
        for i, s in enumerate(singles):
            so, sr, ste, str_, si = s.step(int(acts[i]))
            assert np.array_equal(obs[i], so) and (rew[i], term[i], trunc[i]) == (sr, ste, str_), f"step {t}"
            assert_row_info(info, i, si, f"step {t}")
        assert not (term.any() or trunc.any())


@pytest.mark.parametrize("kw", [{"max_episode_steps": 7, **SLOW}, {"device__energy_budget_j": 0.5}])
def test_same_step_rows_equal_single_envs(tiny_scenario_path, kw):
    venv = _vec(tiny_scenario_path, autoreset_mode="same_step", **kw)
    assert venv.metadata["autoreset_mode"] == AutoresetMode.SAME_STEP
    singles = [_single(tiny_scenario_path, **kw) for _ in range(N)]
    obs, _ = venv.reset(seed=7)
    for i, s in enumerate(singles):
        assert np.array_equal(obs[i], s.reset(seed=7 + i)[0])
    rng = np.random.default_rng(2)
    finals = 0
    for t in range(30):
        acts = _actions(venv, rng)
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
            assert_row_info(info, i, si, f"step {t}")
    assert finals >= N


def test_disabled_autoreset_and_reset_mask(tiny_scenario_path):
    venv = InsituVectorEnv(2, scenario=tiny_scenario_path, autoreset_mode="disabled", max_episode_steps=3)
    s0, s1 = _single(tiny_scenario_path, max_episode_steps=3), _single(tiny_scenario_path, max_episode_steps=3)
    venv.reset(seed=[0, 1])
    s0.reset(seed=0)
    s1.reset(seed=1)
    keep = np.zeros((2, 3), dtype=np.int64)
    for _ in range(3):
        obs, rew, term, trunc, _ = venv.step(keep)
        o0, r0, *_ = s0.step(keep[0])
        o1, r1, *_ = s1.step(keep[1])
        assert np.array_equal(obs[0], o0) and np.array_equal(obs[1], o1) and rew.tolist() == [r0, r1]
    assert trunc.all()
    with pytest.raises(RuntimeError, match="DISABLED"):
        venv.step(keep)
    obs, info = venv.reset(options={"reset_mask": np.array([True, False])})
    assert info["_task"].tolist() == [True, False]
    assert np.array_equal(obs[0], s0.reset()[0])
    with pytest.raises(RuntimeError, match="row 1"):
        venv.step(keep)


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
    a = 144
    for mode, width in (("discrete", a), ("multidiscrete", 6 + 2 + 12)):
        venv = InsituVectorEnv(4, scenario=tiny_scenario_path, action_mode=mode)
        _, info = venv.reset(seed=3)
        m = venv.action_masks()
        assert m.shape == (4, width) and m.dtype == np.bool_
        assert venv.flat_action_masks().shape == (4, a)
        assert info["action_mask"].dtype == np.int8 and np.array_equal(info["action_mask"].astype(bool), m)
        assert np.array_equal(info["joint_action_mask"], venv.flat_action_masks())
        for i in range(4):
            s = _single(tiny_scenario_path, action_mode=mode)
            s.reset(seed=3 + i)
            assert np.array_equal(m[i], s.unwrapped.action_masks())
            assert np.array_equal(venv.row_action_masks(i), m[i])
            for key, val in s.unwrapped.planning_view().items():
                assert np.array_equal(venv.planning_view(i)[key], val), key
            assert np.array_equal(venv.one_step_rewards(i), s.unwrapped.one_step_rewards())
        assert venv.flat_action_masks()[:, 0].all()  # keep is always valid
        rng = np.random.default_rng(0)
        for _ in range(15):  # masked actions are never invalid
            fm = venv.flat_action_masks()
            flat = np.array([rng.choice(np.flatnonzero(r)) for r in fm])
            acts = flat if mode == "discrete" else venv.sim.multi_actions(flat)
            _, _, _, _, info = venv.step(acts)
            assert not info["invalid_action"].any()


def test_spaces_and_make_vec(tiny_scenario_path):
    venv = _vec(tiny_scenario_path, n=5, action_mode="multidiscrete")
    assert venv.num_envs == 5
    assert venv.single_action_space == gym.spaces.MultiDiscrete([6, 2, 12])
    assert venv.action_space.shape == (5, 3)
    single = _single(tiny_scenario_path)
    assert venv.single_observation_space == single.observation_space
    assert venv.observation_space.shape == (5, *single.observation_space.shape)
    obs, _ = venv.reset(seed=0)
    assert obs.dtype == np.float32 and venv.observation_space.contains(obs)
    assert venv.spec is not None and venv.spec.id == CUSTOM_ID
    sync = gym.make_vec(CUSTOM_ID, num_envs=2, vectorization_mode="sync", scenario=tiny_scenario_path)
    assert isinstance(sync, gym.vector.SyncVectorEnv)
    sync.close()


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
        venv.step(np.zeros((3, 3), dtype=np.int64))
    venv.reset(seed=0)
    with pytest.raises(ValueError, match=r"expected shape \(3, 3\).*got shape \(2, 3\)"):
        venv.step(np.zeros((2, 3), dtype=np.int64))
    bad = np.zeros((3, 3), dtype=np.int64)
    bad[1, 1] = 2
    with pytest.raises(ValueError, match=r"actions\[1\] = \[0, 2, 0\].*task=2 \(allowed 0 .. 1\)"):
        venv.step(bad)
    bad[1, 1] = 0
    bad[2, 2] = -1
    with pytest.raises(ValueError, match=r"entry=-1"):
        venv.step(bad)
    with pytest.raises(ValueError, match="integers"):
        venv.step(np.full((3, 3), 0.5))
    disc = InsituVectorEnv(2, scenario=tiny_scenario_path, action_mode="discrete")
    disc.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions\[0\] = 144 .*Discrete\(144\): allowed 0 .. 143"):
        disc.step(np.array([144, 0]))
    assert disc.step(np.array([0.0, 1.0]))[1].shape == (2,)  # integral floats are accepted
    with pytest.raises(ValueError, match="reset_mask"):
        disc.reset(options={"reset_mask": np.array([1, 0])})


def test_rows_equal_single_envs_with_edge_evictions(tiny_scenario_path):
    """A small edge cache (both tasks' full models, 8 + 2 MB, do not fit in 9 MB) forces LRU evictions."""
    kw = {"library__edge__capacity_bytes": 9e6, "max_episode_steps": 25}
    n = 6
    venv = _vec(tiny_scenario_path, n=n, action_mode="discrete", **kw)
    singles = [_single(tiny_scenario_path, action_mode="discrete", **kw) for _ in range(n)]
    venv.reset(seed=50)
    for i, s in enumerate(singles):
        s.reset(seed=50 + i)
    edge_actions = np.flatnonzero((venv.params.act_src == SRC_EDGE) & (venv.params.act_var != venv.params.no_model))
    rng = np.random.default_rng(5)
    ended = [False] * n
    evicted = 0
    for t in range(50):
        masks = venv.flat_action_masks()
        cand = rng.choice(edge_actions, n)
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


@pytest.mark.parametrize("name", sorted(envs.SCENARIO_IDS))
def test_make_vec_on_registered_ids(name):
    env_id = envs.SCENARIO_IDS[name]
    venv = gym.make_vec(env_id, num_envs=2)  # default mode: the vector entry point
    assert isinstance(venv, InsituVectorEnv)
    assert venv.max_episode_steps == gym.spec(env_id).max_episode_steps
    single = gym.make(env_id)
    obs, _ = venv.reset(seed=3)
    so, _ = single.reset(seed=3)
    assert np.array_equal(obs[0], so)
    rng = np.random.default_rng(0)
    for _ in range(8):
        acts = _actions(venv, rng)
        obs, rew, _, _, _ = venv.step(acts)
        so, sr, _, _, _ = single.step(acts[0])
        assert np.array_equal(obs[0], so) and rew[0] == sr


# ---------------------------------------------------------------------- SB3 adapter
@pytest.mark.parametrize("action_mode,kw", [("multidiscrete", {"max_episode_steps": 11, **SLOW}),
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
        assert set(a) == set(b)
    rng = np.random.default_rng(3)
    dones = 0
    for t in range(60):
        fm = native.venv.flat_action_masks()
        acts = _actions(native.venv, rng, fm)
        o1, r1, d1, i1 = native.step(acts)
        o2, r2, d2, i2 = dummy.step(acts)
        assert np.array_equal(o1, o2) and np.array_equal(d1, d2), f"step {t}"
        assert r1.dtype == r2.dtype and np.array_equal(r1, r2)
        for x, y in zip(i1, i2):
            assert set(x) == set(y), set(x) ^ set(y)
            for key in y:
                if key == "action_mask" and isinstance(y[key], tuple):
                    assert all(np.array_equal(u, v) for u, v in zip(x[key], y[key]))
                elif isinstance(y[key], dict):
                    assert x[key] == y[key], key
                else:
                    assert np.array_equal(x[key], y[key]), key
        assert np.array_equal(np.stack(native.env_method("action_masks")),
                              np.stack(dummy.env_method("action_masks")))
        dones += int(d1.sum())
    assert dones >= N


def test_sb3_adapter_attributes(tiny_scenario_path):
    venv = InsituSB3VecEnv(4, scenario=tiny_scenario_path, action_mode="discrete")
    venv.seed(0)
    venv.reset()
    masks = venv.action_masks()
    assert masks.shape == (4, 144)
    fns = venv.get_attr("action_masks", indices=[1, 3])
    assert np.array_equal(fns[0](), masks[1]) and np.array_equal(fns[1](), masks[3])
    assert venv.has_attr("action_masks")
    assert venv.get_attr("n_actions") == [144] * 4
    assert venv.get_attr("action_space")[0] == gym.spaces.Discrete(144)
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


def test_maskable_ppo_learns_on_adapter(tiny_scenario_path):
    import torch
    from sb3_contrib import MaskablePPO
    from sb3_contrib.common.maskable.utils import get_action_masks, is_masking_supported

    torch.set_num_threads(1)
    venv = VecMonitor(InsituSB3VecEnv(4, scenario=tiny_scenario_path, action_mode="discrete", max_episode_steps=20))
    model = MaskablePPO("MlpPolicy", venv, n_steps=32, batch_size=64, n_epochs=1, seed=0, device="cpu",
                        policy_kwargs={"net_arch": [16]})
    assert is_masking_supported(venv)
    assert get_action_masks(venv).shape == (4, 144)
    model.learn(128)
    assert model.num_timesteps == 128
    assert len(model.ep_info_buffer) >= 4  # VecMonitor saw the time-limited episodes end
    act, _ = model.predict(venv.reset(), deterministic=True, action_masks=get_action_masks(venv))
    assert all(get_action_masks(venv)[i, a] for i, a in enumerate(act))
