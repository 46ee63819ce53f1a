"""The PettingZoo multi-device env (envs.multi_device) and the cell-coupling hooks (envs.sim.cell).

Uses the tiny test scenario of conftest.py, in one cell with fixed tasks for the sharing tests.
Needs pettingzoo (``pip install -e .[multi]``).
"""

from __future__ import annotations

import copy

import gymnasium as gym
import numpy as np
import pytest
import yaml

pytest.importorskip("pettingzoo", reason="the multi-device env needs pettingzoo (pip install -e .[multi])")

from insitu_test_helpers import assert_info_equal  # noqa: E402
from pettingzoo.test import parallel_api_test  # noqa: E402

from envs import CUSTOM_ID  # noqa: E402
from envs.adapter import make_params  # noqa: E402
from envs.multi_device import MultiDeviceEnv, expand_mix, parallel_env  # noqa: E402
from envs.sim import BatchSim  # noqa: E402
from envs.sim.cell import CellSim, air_shares, backhaul_shares, pf_average  # noqa: E402
from envs.sim.params import AT_SIZE, SRC_CENTRAL, SRC_EDGE  # noqa: E402

KEEP = np.zeros(3, dtype=np.int64)


@pytest.fixture(scope="module")
def cell_path(tiny_scenario_dict, tmp_path_factory):
    """The tiny scenario in one cell: one zone, no movement, an empty edge cache, no background
    load and sessions far longer than an episode (each device keeps its task)."""
    d = copy.deepcopy(tiny_scenario_dict)
    d["mobility"].update(n_zones=1, speed_mps=0.0)
    d["library"].update(zone_tasks=[[0, 1]])
    d["library"]["edge"]["initial_fill_prob"] = 0.0
    d["channel"]["load"].update(mean_other_users_day=0.0, mean_other_users_night=0.0)
    d["channel"]["blockage"]["enabled"] = False
    for t in d["tasks"]:
        t["session_median_s"] = 1e6
        t["session_sigma"] = 0.0
    d["context"] = {"popularity_day": [[1.0, 1.0]]}
    p = tmp_path_factory.mktemp("cell") / "tiny_cell.yaml"
    p.write_text(yaml.safe_dump(d))
    return str(p)


def _full_from(env, src, task):
    """Multi-discrete action: download ``task``'s full model from source ``src``."""
    p = env.params
    entry = int(np.flatnonzero(p.menu[task] == p.full_variant[task])[0])
    return np.array([src, task, entry], dtype=np.int64)


def _random_actions(env, rng, p_keep=0.4):
    acts = {}
    for a in env.agents:
        valid = np.flatnonzero(env.action_mask(a))
        i = 0 if rng.random() < p_keep else int(rng.choice(valid))
        acts[a] = np.array(np.unravel_index(i, tuple(env.nvec)), dtype=np.int64)
    return acts


@pytest.mark.parametrize("kw", [
    {"n_devices": 4},
    {"n_devices": 3, "scheduler": "proportional_fair"},
    {"n_devices": 3, "device_classes": [{}, {"device_class": "xr_glasses", "storage_bytes": 1e7}, "iot_sensor"],
     "action_mode": "discrete"},
])
def test_parallel_api(tiny_scenario_path, kw):
    parallel_api_test(parallel_env(tiny_scenario_path, **kw), num_cycles=60)


def _rollout(env, seed, steps=25):
    rng = np.random.default_rng(seed + 1000)
    obs, _ = env.reset(seed=seed)
    trace = [np.stack([obs[a] for a in env.possible_agents])]
    for _ in range(steps):
        if not env.agents:
            break
        obs, rew, *_ = env.step(_random_actions(env, rng))
        trace.append(np.array([rew[a] for a in sorted(rew)]))
        trace.append(np.stack([obs[a] for a in sorted(obs)]))
    return trace


def test_seeding_deterministic(tiny_scenario_path):
    kw = {"n_devices": 4, "scheduler": "proportional_fair",
          "device_classes": [{}, {}, {"device_class": "xr_glasses", "storage_bytes": 1e7}, {}]}
    a = _rollout(parallel_env(tiny_scenario_path, **kw), seed=7)
    b = _rollout(parallel_env(tiny_scenario_path, **kw), seed=7)
    c = _rollout(parallel_env(tiny_scenario_path, **kw), seed=8)
    assert len(a) == len(b) and all(np.array_equal(x, y) for x, y in zip(a, b))
    assert not all(x.shape == y.shape and np.array_equal(x, y) for x, y in zip(a, c))
    assert not np.array_equal(a[0][0], a[0][1])  # devices are different draws
    e1, e2 = parallel_env(tiny_scenario_path, **kw), parallel_env(tiny_scenario_path, **kw)
    e1.reset(seed=3)
    e2.reset(seed=3)
    o1, _ = e1.reset()
    o2, _ = e2.reset()
    assert all(np.array_equal(o1[k], o2[k]) for k in o1)


@pytest.mark.parametrize("action_mode", ["multidiscrete", "discrete"])
def test_one_device_equals_the_single_env(tiny_scenario_path, action_mode):
    """With one device no share applies: the device is the single env whose generator is the
    device's (SeedSequence(seed).spawn(1)[0]), except the extra cell_load feature and info keys."""
    seed = 12
    multi = parallel_env(tiny_scenario_path, n_devices=1, action_mode=action_mode, channel__bandwidth_hz=2e6)
    single = gym.make(CUSTOM_ID, scenario=tiny_scenario_path, action_mode=action_mode, channel__bandwidth_hz=2e6)
    obs_m, info_m = multi.reset(seed=seed)
    single.unwrapped.np_random = np.random.default_rng(np.random.SeedSequence(seed).spawn(1)[0])
    obs_s, info_s = single.reset()
    assert np.array_equal(obs_m["device_0"][:-1], obs_s) and obs_m["device_0"][-1] == 0.0
    assert info_m["device_0"]["task"] == info_s["task"]
    rng = np.random.default_rng(0)
    extra = {"rate_share", "backhaul_share", "cell_load", "device_class"}
    downloads = 0
    for t in range(45):
        u = single.unwrapped
        ok = np.flatnonzero(u.flat_action_mask())
        flat = 0 if rng.random() < 0.4 else int(rng.choice(ok))
        a = u.flat_to_action(flat)
        obs_m, rew_m, term_m, trunc_m, info_m = multi.step({"device_0": a})
        obs_s, rew_s, term_s, trunc_s, info_s = single.step(a)
        im = info_m["device_0"]
        assert np.array_equal(obs_m["device_0"][:-1], obs_s), t
        assert (rew_m["device_0"], term_m["device_0"], trunc_m["device_0"]) == (rew_s, term_s, trunc_s)
        assert set(im) == set(info_s) | extra
        assert_info_equal({k: v for k, v in im.items() if k not in extra}, info_s, f"step {t}")
        assert im["rate_share"] == im["backhaul_share"] == 1.0
        downloads += info_s["source_tier"] != "none"
        if term_s or trunc_s:
            break
    assert downloads > 3


def test_cellsim_without_coupling_equals_batchsim(tiny_scenario_path):
    """The hooks are no-ops by default: CellSim (no shares, or shares of 1) == BatchSim bit for bit."""
    _, p = make_params(tiny_scenario_path, channel__bandwidth_hz=2e6)
    b, c1, c2 = BatchSim(p, 3), CellSim(p, 3), CellSim(p, 3)
    for s in (b, c1, c2):
        s.reset_rows([0, 1, 2], [np.random.default_rng(i) for i in range(3)])
    rng = np.random.default_rng(0)
    for _ in range(50):
        masks = b.action_masks()
        assert np.array_equal(masks, c1.action_masks())
        acts = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        rb, r1 = b.step(acts), c1.step(acts)
        r2 = c2.step(acts, rate_share=np.ones(3), backhaul_share=np.ones(3))
        for f in rb._fields:
            assert np.array_equal(getattr(rb, f), getattr(r1, f)), f
            assert np.array_equal(getattr(rb, f), getattr(r2, f)), f
        assert np.array_equal(b.observe(), c1.observe()) and np.array_equal(b.observe(), c2.observe())


def test_cellsim_share_scales_air_and_backhaul_time(cell_path):
    _, p = make_params(cell_path)
    sims = [CellSim(p, 1) for _ in range(3)]
    for s in sims:
        s.reset_rows([0], [np.random.default_rng(5)])
    task = 0
    g = int(p.full_variant[task])
    a = np.array([int(np.flatnonzero((p.act_src == SRC_CENTRAL) & (p.act_var == g))[0])])
    rate = float(sims[0].true_rates_bps()[0])
    size = float(sims[0].action_rows(a)[0, AT_SIZE])
    bh = p.tier_backhaul_bps[3]
    fixed = p.tier_rtt_s[3] + p.scenario.device.radio.promotion_s  # the radio starts idle
    res = [sims[0].step(a),
           sims[1].step(a, rate_share=np.array([0.25]), backhaul_share=np.array([0.25])),
           sims[2].step(a, rate_share=np.array([0.01]), backhaul_share=np.array([1.0]))]
    lat = [r.download_latency_s[0] for r in res]
    assert size == p.var_size_bytes[g] and all(r.source_tier[0] == 3 for r in res)
    assert lat[0] == pytest.approx(fixed + 8 * size * max(1 / rate, 1 / bh), rel=1e-12)
    assert lat[1] == pytest.approx(fixed + 8 * size * max(1 / (0.25 * rate), 1 / (0.25 * bh)), rel=1e-12)
    assert lat[1] - fixed == pytest.approx(4.0 * (lat[0] - fixed), rel=1e-12)
    assert lat[2] == pytest.approx(fixed + 8 * size * max(1 / (0.01 * rate), 1 / bh), rel=1e-12)
    # the bytes of the step follow the shared rate
    assert res[2].air_bytes[0] < res[0].air_bytes[0]
    with pytest.raises(ValueError, match="rate_share"):
        sims[0].step(a, rate_share=np.array([0.0]))


def test_scheduler_and_backhaul_share_functions():
    active = np.array([True, True, False, True])
    zone = np.array([0, 0, 0, 1])
    assert air_shares("equal", active, zone, np.ones(4), np.ones(4), 2).tolist() == [0.5, 0.5, 1.0, 1.0]
    rate, avg = np.array([4.0, 1.0, 9.0, 2.0]), np.array([2.0, 1.0, 1.0, 1.0])
    # metric r / R = 2 and 1 in zone 0: shares 2/3 and 1/3
    assert air_shares("proportional_fair", active, zone, rate, avg, 2).tolist() == pytest.approx([2 / 3, 1 / 3, 1, 1])
    tier = np.array([3, 3, 3, 1])
    assert backhaul_shares(active, zone, tier, 2).tolist() == [0.5, 0.5, 1.0, 1.0]
    assert backhaul_shares(active, zone, np.array([3, 2, 3, 1]), 2).tolist() == [1.0, 1.0, 1.0, 1.0]
    assert pf_average(np.array([10.0]), np.array([20.0]), 10.0).tolist() == [11.0]


def test_equal_share_two_downloads_each_get_half(cell_path):
    both = parallel_env(cell_path, n_devices=2)
    alone = parallel_env(cell_path, n_devices=2)
    both.reset(seed=11)
    alone.reset(seed=11)
    full = _full_from(both, SRC_CENTRAL, 0)
    _, _, _, _, ib = both.step({"device_0": full, "device_1": full})
    obs, _, _, _, ia = alone.step({"device_0": full, "device_1": KEEP})
    assert ib["device_0"]["rate_share"] == 0.5 and ib["device_1"]["rate_share"] == 0.5
    assert ia["device_0"]["rate_share"] == 1.0
    assert ib["device_0"]["backhaul_share"] == 0.5 and ia["device_0"]["backhaul_share"] == 1.0
    fixed = both.params.tier_rtt_s[3] + both.params.scenario.device.radio.promotion_s
    lb, la = ib["device_0"]["download_latency_s"], ia["device_0"]["download_latency_s"]
    assert lb - fixed == pytest.approx(2.0 * (la - fixed), rel=1e-12)
    assert ib["device_0"]["source_tier"] == ia["device_0"]["source_tier"] == "central"
    # the cell load feature: downloads active in the last step / n_devices
    assert ib["device_1"]["cell_load"] == 1.0 and ia["device_1"]["cell_load"] == 0.5
    assert obs["device_1"][-1] == np.float32(0.5)


def test_proportional_fair_shares(cell_path):
    pf = parallel_env(cell_path, n_devices=3, scheduler="proportional_fair", channel__bandwidth_hz=2e6)
    eq = parallel_env(cell_path, n_devices=3, channel__bandwidth_hz=2e6)
    pf.reset(seed=2)
    eq.reset(seed=2)
    acts = {a: _full_from(pf, SRC_CENTRAL, 1) for a in pf.agents}
    _, _, _, _, ip = pf.step(acts)
    _, _, _, _, ie = eq.step(acts)
    for a in acts:  # at reset every device's average equals its rate: PF starts as the equal share
        assert ip[a]["rate_share"] == pytest.approx(ie[a]["rate_share"]) == pytest.approx(1 / 3)
    rng = np.random.default_rng(0)
    checked = 0
    for _ in range(30):
        if not pf.agents:
            break
        before_avg = pf.pf_avg.copy()
        rates = pf._gather(lambda s: s.true_rates_bps())
        inflight = pf._gather(lambda s: s.state.dyn.dl_active) > 0
        _, _, _, _, info = pf.step(_random_actions(pf, rng))
        active = inflight.copy()
        for a, inf in info.items():
            if inf["source_tier"] != "none":
                active[pf.agent_name_mapping[a]] = True
        if not active.any():
            assert all(info[a]["rate_share"] == 1.0 for a in info)
            continue
        metric = rates / before_avg
        for i in np.flatnonzero(active):
            a = pf.possible_agents[i]
            assert info[a]["rate_share"] == pytest.approx(metric[i] / metric[active].sum(), rel=1e-9)
        assert sum(info[pf.possible_agents[i]]["rate_share"] for i in np.flatnonzero(active)) == pytest.approx(1.0)
        checked += 1
    assert checked > 5


def _same_task_seed(make):
    return next(s for s in range(200) if len({i["task"] for i in make().reset(seed=s)[1].values()}) == 1)


def test_edge_cache_is_shared(cell_path):
    """Device 0's download through the edge fills the cell's cache; device 1 then hits it."""
    def make():
        return parallel_env(cell_path, n_devices=2)

    seed = _same_task_seed(make)
    warm, cold = make(), make()
    _, info0 = warm.reset(seed=seed)
    cold.reset(seed=seed)
    task = info0["device_0"]["task"]
    assert not warm.edge_cache().any()
    edge_full = _full_from(warm, SRC_EDGE, task)
    obs_w, _, _, _, iw = warm.step({"device_0": edge_full, "device_1": KEEP})
    obs_c, _, _, _, _ = cold.step({"device_0": KEEP, "device_1": KEEP})
    assert iw["device_0"]["source_tier"] != "edge"  # miss: forwarded up, the edge is filled
    assert warm.edge_cache()[0, task] and not cold.edge_cache().any()
    names = [n for _, n in warm.feature_names]
    edge_feat = names.index(f"edge_has_{warm.scenario.tasks[task].name}")
    assert obs_w["device_1"][edge_feat] == 1.0 and obs_c["device_1"][edge_feat] == 0.0
    _, _, _, _, iw = warm.step({"device_0": KEEP, "device_1": edge_full})
    _, _, _, _, ic = cold.step({"device_0": KEEP, "device_1": edge_full})
    assert iw["device_1"]["source_tier"] == "edge" and ic["device_1"]["source_tier"] != "edge"
    assert iw["device_1"]["download_latency_s"] < ic["device_1"]["download_latency_s"]
    assert iw["device_1"]["backhaul_bytes"] == 0.0 < ic["device_1"]["backhaul_bytes"]


def test_simultaneous_moves_across_classes(cell_path):
    """Two devices of different classes (two CellSims) missing the same model in the same step
    both miss: neither sees the other's same-step fill of the shared cache."""
    def make():
        return parallel_env(cell_path, n_devices=2, device_classes=[{}, {"device_class": "xr_glasses"}])

    seed = _same_task_seed(make)
    env = make()
    _, info = env.reset(seed=seed)
    task = info["device_0"]["task"]
    assert len(env.sims) == 2 and not env.edge_cache().any()
    a = _full_from(env, SRC_EDGE, task)
    _, _, _, _, info = env.step({"device_0": a, "device_1": a})
    assert info["device_0"]["source_tier"] != "edge" and info["device_1"]["source_tier"] != "edge"
    assert info["device_0"]["rate_share"] == info["device_1"]["rate_share"] == 0.5
    assert env.edge_cache().sum() == 1


def test_in_flight_download_slows_when_others_start(cell_path):
    """Downloads progress at each step's share: one in flight slows down when others join."""
    kw = {"dt_s": 0.02, "max_episode_steps": 500}  # 20 ms steps: a full central download takes many steps

    def steps_until_arrival(join: bool) -> tuple[int, list[float]]:
        env = parallel_env(cell_path, n_devices=3, **kw)
        env.reset(seed=4)
        full = _full_from(env, SRC_CENTRAL, 0)
        pending = [n for _, n in env.feature_names].index("download_pending")
        obs, _, _, _, info = env.step({"device_0": full, "device_1": KEEP, "device_2": KEEP})
        shares = [info["device_0"]["rate_share"]]
        for t in range(1, 400):
            other = full if join and t == 1 else KEEP
            obs, _, _, _, info = env.step({"device_0": KEEP, "device_1": other, "device_2": other})
            shares.append(info["device_0"]["rate_share"])
            if obs["device_0"][pending] == 0.0:
                return t, shares
        raise AssertionError("download never arrived")

    t_alone, s_alone = steps_until_arrival(join=False)
    t_shared, s_shared = steps_until_arrival(join=True)
    assert t_alone > 2 and set(s_alone) == {1.0}
    assert s_shared[0] == 1.0 and s_shared[1] == pytest.approx(1 / 3)
    assert t_shared > t_alone


def test_heterogeneous_classes(cell_path):
    classes = [{"device_class": "smartphone"},
               {"device_class": "iot_sensor", "storage_bytes": 1.5e6, "compute_macs_per_s": 1e8,
                "energy_budget_j": 20.0, "radio": {"rx_base_power_w": 0.1}}]
    env = parallel_env(cell_path, n_devices=2, device_classes=classes)
    obs, info = env.reset(seed=0)
    assert [env.device_class(a) for a in env.agents] == ["smartphone", "iot_sensor"]
    assert info["device_1"]["device_class"] == "iot_sensor"
    names = [n for _, n in env.feature_names]
    cls = [names.index(f"class_{c}") for c in ("smartphone", "iot_sensor")]
    assert obs["device_0"][cls].tolist() == [1.0, 0.0] and obs["device_1"][cls].tolist() == [0.0, 1.0]
    # storage: the sensor cannot take the larger models, the phone can
    m0, m1 = env.action_mask("device_0"), env.action_mask("device_1")
    assert m0.sum() > m1.sum() and m1[0]
    assert len(env.sims) == 2
    assert np.shares_memory(env.sims[0].state.edge_present, env.sims[1].state.edge_present)
    assert env.sims[1].p.scenario.device.radio.rx_base_power_w == 0.1


def test_bad_arguments(tiny_scenario_path):
    with pytest.raises(ValueError, match="'n_devices'"):
        parallel_env(tiny_scenario_path, n_devices=0)
    with pytest.raises(ValueError, match="'scheduler'.*allowed"):
        parallel_env(tiny_scenario_path, n_devices=2, scheduler="max_rate")
    with pytest.raises(ValueError, match="list of 2 device-section overrides"):
        parallel_env(tiny_scenario_path, n_devices=2, device_classes=[{}])
    with pytest.raises(ValueError, match=r"device_classes\[1\]"):
        parallel_env(tiny_scenario_path, n_devices=2, device_classes=[{}, "toaster"])
    env = parallel_env(tiny_scenario_path, n_devices=2)
    with pytest.raises(RuntimeError, match="reset"):
        env.step({})
    env.reset(seed=0)
    with pytest.raises(ValueError, match="missing"):
        env.step({"device_0": KEEP})
    with pytest.raises(ValueError, match="outside the action space MultiDiscrete"):
        env.step({"device_0": KEEP, "device_1": [9, 0, 0]})
    with pytest.raises(KeyError, match="unknown agent"):
        env.action_space("device_9")


def test_expand_mix():
    specs = expand_mix([(0.8, {"device_class": "xr_glasses"}), (0.2, {"device_class": "smartphone"})], 10)
    assert [s["device_class"] for s in specs] == ["xr_glasses"] * 8 + ["smartphone"] * 2
    specs = expand_mix([(0.5, {"a": 1}), (0.5, {"a": 2})], 3)
    assert [s["a"] for s in specs] == [1, 1, 2]
    assert isinstance(parallel_env.__doc__, str) and MultiDeviceEnv.__doc__


def test_shipped_sharing_scenarios():
    import envs
    from scenarios import load_scenario

    for name in ("stadium_xr", "factory_sensors"):
        sc = load_scenario(name)
        n = sc.cell.n_devices
        assert sc.mobility.n_zones == 1 and n >= 10 and len(sc.cell.device_mix) == 2
        env = envs.parallel_env(name)
        assert isinstance(env, MultiDeviceEnv) and env.n_devices == n
        names = [env.device_class(a) for a in env.possible_agents]
        want = expand_mix([(m.share, {"device_class": m.device.device_class}) for m in sc.cell.device_mix], n)
        assert names == [w["device_class"] for w in want]
        obs, _ = env.reset(seed=0)
        assert len(obs) == n and all(env.observation_space(a).contains(o) for a, o in obs.items())
        # a mix entry inherits the keys it does not set from the scenario's device section
        second = sc.cell.device_mix[1].device
        assert second.e_mac_int8_j == sc.device.e_mac_int8_j and second.radio == sc.device.radio
        assert second.storage_bytes != sc.device.storage_bytes
        acts = {a: KEEP for a in env.agents}
        _, rew, _, _, _ = env.step(acts)
        assert len(rew) == n


def test_cell_section_validation(tiny_scenario_dict):
    from scenarios.loader import ScenarioError, scenario_from_dict

    d = dict(tiny_scenario_dict)
    d["cell"] = {"n_devices": 3, "device_mix": [{"share": 0.5, "device": {"device_class": "drone"}},
                                                {"share": 0.4, "device": {}}]}
    with pytest.raises(ScenarioError, match=r"cell.device_mix.*summing to 0.9"):
        scenario_from_dict(d, "t.yaml")
    d["cell"] = {"scheduler": "max_rate"}
    with pytest.raises(ScenarioError, match=r"key 'cell.scheduler'.*allowed"):
        scenario_from_dict(d, "t.yaml")
    d["cell"] = {"device_mix": [{"share": 1.0, "device": {"storage_bytes": -1}}]}
    with pytest.raises(ScenarioError, match=r"cell.device_mix\[0\].device.storage_bytes"):
        scenario_from_dict(d, "t.yaml")
    d.pop("cell")
    assert scenario_from_dict(d, "t.yaml").cell.n_devices == 4  # default when the section is absent


def test_render_without_mode_and_errors(tiny_scenario_path):
    assert parallel_env(tiny_scenario_path, n_devices=1).render() is None
    with pytest.raises(ValueError, match="render_mode"):
        parallel_env(tiny_scenario_path, n_devices=1, render_mode="human")
    env = parallel_env(tiny_scenario_path, n_devices=2, render_mode="ansi")
    env.reset(seed=0)
    assert "2 devices" in env.render()


def test_render_ansi_after_a_step(cell_path):
    env = parallel_env(cell_path, n_devices=2, render_mode="ansi")
    env.reset(seed=0)
    env.step({"device_0": _full_from(env, SRC_CENTRAL, 0), "device_1": KEEP})
    text = env.render()
    assert "device_0" in text and "central" in text and "share 1.00" in text
