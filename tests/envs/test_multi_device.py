"""The PettingZoo multi-device env (envs.multi_device) and the cell-coupling hooks (envs.sim.cell).

Uses the tiny test scenario of conftest.py. Needs pettingzoo (``pip install -e .[multi]``).
"""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("pettingzoo", reason="the multi-device env needs pettingzoo (pip install -e .[multi])")

from pettingzoo.test import parallel_api_test  # noqa: E402

from envs.adapter import make_params  # noqa: E402
from envs.multi_device import MultiDeviceEnv, expand_mix, parallel_env  # noqa: E402
from envs.sim import BatchSim  # noqa: E402
from envs.sim.cell import CellSim  # noqa: E402

#: One zone (every device in one cell), fixed tasks, empty edge cache, no background load: the
#: sharing tests then depend only on the devices' own actions.
ONE_CELL = {
    "mobility__n_zones": 1, "mobility__speed_mps": 0.0,
    "library__zone_tasks": [[0, 1]], "library__edge__initial_fill_prob": 0.0,
    "context__transition_day": [[1.0, 0.0], [0.0, 1.0]],
    "context__transition_night": [[1.0, 0.0], [0.0, 1.0]],
    "channel__load__mean_other_users_day": 0.0, "channel__load__mean_other_users_night": 0.0,
}
#: Full model of a tiny task from a tier: (source, depth level 1 = full, prune none, 32 bit).
FULL_FROM = {"edge": [1, 1, 0, 0], "local": [2, 1, 0, 0], "central": [3, 1, 0, 0]}
KEEP = [0, 0, 0, 0]


def _random_actions(env, rng):
    acts = {}
    for a in env.agents:
        valid = np.flatnonzero(env.action_mask(a))
        i = int(rng.choice(valid))
        acts[a] = np.array(np.unravel_index(i, tuple(env.nvec)), dtype=np.int64)
    return acts


@pytest.mark.parametrize("kw", [
    {"n_devices": 4},
    {"n_devices": 3, "scheduler": "proportional_fair"},
    {"n_devices": 3, "device_classes": [{}, {"device_class": "xr_glasses", "storage_bytes": 1e7}, "iot_sensor"],
     "action_mode": "discrete"},
])
def test_parallel_api(tiny_scenario_path, kw):
    env = parallel_env(tiny_scenario_path, **kw)
    parallel_api_test(env, num_cycles=120)


def _rollout(env, seed, steps=30):
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
    # devices are different draws (not copies of one device)
    assert not np.array_equal(a[0][0], a[0][1])
    # a later reset without a seed continues the seeded sequence reproducibly
    e1, e2 = parallel_env(tiny_scenario_path, **kw), parallel_env(tiny_scenario_path, **kw)
    e1.reset(seed=3)
    e2.reset(seed=3)
    o1, _ = e1.reset()
    o2, _ = e2.reset()
    assert all(np.array_equal(o1[k], o2[k]) for k in o1)


def test_cellsim_without_coupling_equals_batchsim(tiny_scenario_path):
    """The hooks are no-ops by default: CellSim (no shares, or shares of 1) == BatchSim bit for bit."""
    _, p = make_params(tiny_scenario_path)
    b, c1, c2 = BatchSim(p, 3), CellSim(p, 3), CellSim(p, 3)
    for s in (b, c1, c2):
        s.reset_rows([0, 1, 2], [np.random.default_rng(i) for i in range(3)])
    rng = np.random.default_rng(0)
    for _ in range(60):
        masks = b.action_masks()
        acts = np.array([rng.choice(np.flatnonzero(m)) for m in masks])
        rb, r1 = b.step(acts), c1.step(acts)
        r2 = c2.step(acts, rate_share=np.ones(3), backhaul_share=np.ones(3))
        for f in rb._fields:
            assert np.array_equal(getattr(rb, f), getattr(r1, f)), f
            assert np.array_equal(getattr(rb, f), getattr(r2, f)), f
        assert np.array_equal(b.observe(), c1.observe()) and np.array_equal(b.observe(), c2.observe())


def test_cellsim_share_scales_air_and_backhaul_time(tiny_scenario_path):
    _, p = make_params(tiny_scenario_path, **ONE_CELL)
    sims = [CellSim(p, 1) for _ in range(3)]
    for s in sims:
        s.reset_rows([0], [np.random.default_rng(5)])
    a = sims[0].flat_actions(np.array([FULL_FROM["central"]]))
    rate = float(sims[0].true_rates_bps()[0])
    size = float(sims[0].action_rows(a)[0, 3])  # A_SIZE
    bh = p.tier_backhaul_bps[3]
    res = [sims[0].step(a),
           sims[1].step(a, rate_share=np.array([0.25]), backhaul_share=np.array([0.25])),
           sims[2].step(a, rate_share=np.array([0.01]), backhaul_share=np.array([1.0]))]
    lat = [r.latency_s[0] for r in res]
    rtt = p.tier_rtt_s[3]  # the full variant is sent uncompressed: no compression time
    assert size > 0 and all(r.bytes_downloaded[0] == size for r in res)
    assert lat[0] == pytest.approx(rtt + 8 * size * max(1 / rate, 1 / bh), rel=1e-12)
    assert lat[1] == pytest.approx(rtt + 8 * size * max(1 / (0.25 * rate), 1 / (0.25 * bh)), rel=1e-12)
    assert lat[1] - rtt == pytest.approx(4.0 * (lat[0] - rtt), rel=1e-12)
    assert lat[2] == pytest.approx(rtt + 8 * size * max(1 / (0.01 * rate), 1 / bh), rel=1e-12)
    assert lat[2] > lat[0]
    with pytest.raises(ValueError, match="rate_share"):
        sims[0].step(a, rate_share=np.array([0.0]))


def test_equal_share_two_downloads_each_get_less(tiny_scenario_path):
    both = parallel_env(tiny_scenario_path, n_devices=2, **ONE_CELL)
    alone = parallel_env(tiny_scenario_path, n_devices=2, **ONE_CELL)
    both.reset(seed=11)
    alone.reset(seed=11)
    _, _, _, _, ib = both.step({"device_0": FULL_FROM["central"], "device_1": FULL_FROM["central"]})
    obs, _, _, _, ia = alone.step({"device_0": FULL_FROM["central"], "device_1": KEEP})
    assert ib["device_0"]["rate_share"] == 0.5 and ib["device_1"]["rate_share"] == 0.5
    assert ia["device_0"]["rate_share"] == 1.0
    assert ib["device_0"]["backhaul_share"] == 0.5 and ia["device_0"]["backhaul_share"] == 1.0
    rtt = both.params.tier_rtt_s[3]
    # same device, same channel: sharing air and backhaul with one other download doubles the air time
    assert ib["device_0"]["latency_s"] - rtt == pytest.approx(2.0 * (ia["device_0"]["latency_s"] - rtt), rel=1e-12)
    assert ib["device_0"]["latency_s"] > ia["device_0"]["latency_s"]
    assert ib["device_0"]["bytes_downloaded"] == ia["device_0"]["bytes_downloaded"] > 0
    # the cell load feature: downloads active in the last step / n_devices
    assert ib["device_1"]["cell_load"] == 1.0 and ia["device_1"]["cell_load"] == 0.5
    assert obs["device_1"][-1] == np.float32(0.5)


def test_proportional_fair_shares(tiny_scenario_path):
    pf = parallel_env(tiny_scenario_path, n_devices=3, scheduler="proportional_fair", **ONE_CELL)
    eq = parallel_env(tiny_scenario_path, n_devices=3, **ONE_CELL)
    pf.reset(seed=2)
    eq.reset(seed=2)
    acts = {a: FULL_FROM["central"] for a in pf.agents}
    _, _, _, _, ip = pf.step(acts)
    _, _, _, _, ie = eq.step(acts)
    # at reset every device's average equals its rate: PF starts as the equal share
    for a in acts:
        assert ip[a]["rate_share"] == pytest.approx(ie[a]["rate_share"]) == pytest.approx(1 / 3)
    # later: shares of simultaneous starters are r_i/R_i normalised over the active devices
    rng = np.random.default_rng(0)
    for _ in range(40):
        if not pf.agents:
            break
        before_avg = pf.pf_avg.copy()
        rates = pf._gather(lambda s: s.true_rates_bps())
        inflight = pf._gather(lambda s: s.state.dyn.pending) > 0
        acts = _random_actions(pf, rng)
        _, _, _, _, info = pf.step(acts)
        starters = [a for a in info if info[a]["source_tier"] != "keep" and not info[a]["invalid_action"]]
        active = inflight.copy()
        active[[pf.agent_name_mapping[a] for a in starters]] = True
        if not active.any():
            assert all(info[a]["rate_share"] == 1.0 for a in info)
            continue
        metric = rates / before_avg
        for i in np.flatnonzero(active):
            a = pf.possible_agents[i]
            assert info[a]["rate_share"] == pytest.approx(metric[i] / metric[active].sum(), rel=1e-9)
        # the active devices (starting or in flight) divide the whole cell
        assert sum(info[pf.possible_agents[i]]["rate_share"] for i in np.flatnonzero(active)) == pytest.approx(1.0)


def test_edge_cache_is_shared(tiny_scenario_path):
    """Device 0's download through the edge fills the cell's cache; device 1 then hits it."""
    seed = next(s for s in range(200) if len({i["task"] for i in
                                              parallel_env(tiny_scenario_path, n_devices=2, **ONE_CELL)
                                              .reset(seed=s)[1].values()}) == 1)
    warm = parallel_env(tiny_scenario_path, n_devices=2, **ONE_CELL)
    cold = parallel_env(tiny_scenario_path, n_devices=2, **ONE_CELL)
    _, info0 = warm.reset(seed=seed)
    cold.reset(seed=seed)
    task = info0["device_0"]["task"]
    assert not warm.edge_cache().any()
    obs_w, _, _, _, iw = warm.step({"device_0": FULL_FROM["edge"], "device_1": KEEP})
    obs_c, _, _, _, _ = cold.step({"device_0": KEEP, "device_1": KEEP})
    assert iw["device_0"]["source_tier"] != "edge"  # miss: fell through and filled the edge
    assert warm.edge_cache()[0, task] and not cold.edge_cache().any()
    edge_feat = warm.feature_names.index(("library", "edge_has_task"))
    assert obs_w["device_1"][edge_feat] == 1.0 and obs_c["device_1"][edge_feat] == 0.0
    _, _, _, _, iw = warm.step({"device_0": KEEP, "device_1": FULL_FROM["edge"]})
    _, _, _, _, ic = cold.step({"device_0": KEEP, "device_1": FULL_FROM["edge"]})
    assert iw["device_1"]["source_tier"] == "edge"
    assert ic["device_1"]["source_tier"] != "edge"
    assert iw["device_1"]["latency_s"] < ic["device_1"]["latency_s"]


def test_heterogeneous_classes(tiny_scenario_path):
    classes = [{"device_class": "smartphone"},
               {"device_class": "iot_sensor", "storage_bytes": 1.5e6, "compute_macs_per_s": 1e8,
                "energy_budget_j": 20.0, "rx_power_w": 0.1}]
    env = parallel_env(tiny_scenario_path, n_devices=2, device_classes=classes, **ONE_CELL)
    obs, info = env.reset(seed=0)
    assert [env.device_class(a) for a in env.agents] == ["smartphone", "iot_sensor"]
    assert info["device_1"]["device_class"] == "iot_sensor"
    cls = [env.feature_names.index(("device", f"class_{c}")) for c in ("smartphone", "iot_sensor")]
    assert obs["device_0"][cls].tolist() == [1.0, 0.0] and obs["device_1"][cls].tolist() == [0.0, 1.0]
    # storage: the sensor cannot take the 32-bit full models (several MB), the phone can
    m0, m1 = env.action_mask("device_0"), env.action_mask("device_1")
    assert m0.sum() > m1.sum() and m1[0]
    assert len(env.sims) == 2
    # both classes share the one edge cache
    assert env.sims[0].state.edge_present.base is not None
    assert np.shares_memory(env.sims[0].state.edge_present, env.sims[1].state.edge_present)


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
        env.step({"device_0": KEEP, "device_1": [9, 0, 0, 0]})
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

    for name, n, classes in (("stadium_xr", 50, {"xr_glasses": 40, "smartphone": 10}),
                             ("factory_sensors", 100, {"iot_sensor": 90, "drone": 10})):
        sc = load_scenario(name)
        assert sc.mobility.n_zones == 1 and sc.cell.n_devices == n
        env = envs.parallel_env(name)
        assert isinstance(env, MultiDeviceEnv) and env.n_devices == n
        names = [env.device_class(a) for a in env.possible_agents]
        assert {c: names.count(c) for c in set(names)} == classes
        obs, _ = env.reset(seed=0)
        assert len(obs) == n and all(env.observation_space(a).contains(o) for a, o in obs.items())
        # a mix entry inherits the keys it does not set from the scenario's device section
        second = sc.cell.device_mix[1].device
        assert second.e_mult_8bit_j == sc.device.e_mult_8bit_j
        assert second.storage_bytes != sc.device.storage_bytes


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


def test_simultaneous_moves_across_classes(tiny_scenario_path):
    """Two devices of different classes (two CellSims) missing the same model in the same step
    both miss: neither sees the other's same-step fill of the shared cache."""
    classes = [{}, {"device_class": "xr_glasses"}]

    def make():
        return parallel_env(tiny_scenario_path, n_devices=2, device_classes=classes, **ONE_CELL)

    seed = next(s for s in range(200) if len({i["task"] for i in make().reset(seed=s)[1].values()}) == 1)
    env = make()
    env.reset(seed=seed)
    assert len(env.sims) == 2 and not env.edge_cache().any()
    _, _, _, _, info = env.step({"device_0": FULL_FROM["edge"], "device_1": FULL_FROM["edge"]})
    assert info["device_0"]["source_tier"] != "edge" and info["device_1"]["source_tier"] != "edge"
    assert info["device_0"]["rate_share"] == info["device_1"]["rate_share"] == 0.5
    assert env.edge_cache().sum() == 1


def test_in_flight_download_slows_when_others_start(tiny_scenario_path):
    """Downloads progress at each step's share: one in flight slows down when others join."""
    kw = dict(ONE_CELL, dt_s=0.02)  # 20 ms steps: a full central download takes many steps

    def steps_until_arrival(join: bool) -> tuple[int, list[float]]:
        env = parallel_env(tiny_scenario_path, n_devices=3, **kw)
        env.reset(seed=4)
        pending = env.feature_names.index(("model", "download_pending"))
        obs, _, _, _, info = env.step({"device_0": FULL_FROM["central"], "device_1": KEEP, "device_2": KEEP})
        shares = [info["device_0"]["rate_share"]]
        for t in range(1, 200):
            other = FULL_FROM["central"] if join and t == 1 else KEEP
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


def test_one_row_scalar_path_equals_numpy_path(tiny_scenario_path):
    """A one-device CellSim steps through the core's scalar path: bit-identical to its numpy path,
    with and without shares and edge snapshots."""
    _, p = make_params(tiny_scenario_path, **ONE_CELL)
    fast, slow = CellSim(p, 1), CellSim(p, 1)
    slow.scalar_rows = 0
    for s in (fast, slow):
        s.reset_rows([0], [np.random.default_rng(9)])
    rng = np.random.default_rng(1)
    for t in range(80):
        m = fast.action_mask_row(0)
        assert np.array_equal(m, slow.action_masks()[0])
        a = np.array([rng.choice(np.flatnonzero(m))])
        kw = {}
        if t % 3 == 1:
            kw = {"rate_share": np.array([0.3]), "backhaul_share": np.array([0.6])}
        elif t % 3 == 2:
            kw = {"edge_before": np.zeros(fast.zk)}
        rf, rs = fast.step(a, **kw), slow.step(a, **kw)
        for f in rf._fields:
            assert np.array_equal(np.asarray(getattr(rf, f), float), np.asarray(getattr(rs, f), float)), (t, f)
        assert np.array_equal(fast.observe_row(0), slow.observe()[0])


def test_render_ansi(tiny_scenario_path):
    env = parallel_env(tiny_scenario_path, n_devices=2, render_mode="ansi", **ONE_CELL)
    env.reset(seed=0)
    assert "2 devices" in env.render()
    env.step({"device_0": FULL_FROM["central"], "device_1": KEEP})
    text = env.render()
    assert "device_0" in text and "central" in text and "share 1.00" in text
    assert parallel_env(tiny_scenario_path, n_devices=1).render() is None
    with pytest.raises(ValueError, match="render_mode"):
        parallel_env(tiny_scenario_path, n_devices=1, render_mode="human")
