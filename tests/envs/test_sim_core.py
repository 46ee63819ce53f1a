"""The batched core (BatchSim): rows independent of the batch, store invariants under random
action sequences (hypothesis), the joint mask equals what a step accepts, forks, planning view,
one-step rewards, starting state and the menus."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from envs.adapter import make_params
from envs.sim import BatchSim
from envs.sim.core import default_chunk_steps, endo_feature_names
from envs.sim.dynamics import action_rows, store_bytes
from envs.sim.exogenous import E_RATE_EST, exo_feature_names
from envs.sim.params import AT_FIX_S, AT_SIZE, AT_SPB_BH, SRC_EDGE, build_menu

#: The full model of task 0 is 8 MB: storage binds; 2 MHz of bandwidth: downloads take seconds.
STORE_OVERRIDES = {"device__storage_bytes": 1.2e7, "channel__bandwidth_hz": 2e6}


def _sim(params, seed=0, b=1, chunk=None):
    s = BatchSim(params, b, chunk)
    s.reset_rows(list(range(b)), [np.random.default_rng(seed + i) for i in range(b)])
    return s


def _valid_random(masks, rng, p_keep=0.3):
    out = np.zeros(len(masks), dtype=np.int64)
    for i, m in enumerate(masks):
        ok = np.flatnonzero(m)
        if rng.random() > p_keep:
            out[i] = int(rng.choice(ok))
    return out


def test_batch_rows_equal_single_sims(tiny_params):
    """Row i of a batch equals a batch of one drawing from the same generator, across chunk ends."""
    _, p = tiny_params()
    b = 4
    batch = _sim(p, 100, b)
    singles = [_sim(p, 100 + i) for i in range(b)]
    assert batch.T == default_chunk_steps(p) == 51
    rng = np.random.default_rng(7)
    for step in range(120):
        obs_b, mask_b = batch.observe(), batch.action_masks()
        for i, s in enumerate(singles):
            assert np.array_equal(obs_b[i], s.observe()[0]), step
            assert np.array_equal(mask_b[i], s.action_masks()[0])
        acts = np.where(rng.random(b) < 0.5, rng.integers(0, p.n_actions, b), _valid_random(mask_b, rng))
        res = batch.step(acts)
        for i, s in enumerate(singles):
            r = s.step(acts[i:i + 1])
            for f in res._fields:
                assert np.array_equal(getattr(res, f)[i], getattr(r, f)[0]), (step, f)


def test_reset_starting_state(tiny_params):
    _, p = tiny_params(library__edge__initial_fill_prob=0.5)
    b = 400
    sim = _sim(p, 0, b)
    d = sim.state.dyn
    held = d.store_var != p.no_model
    assert np.all(held.sum(axis=1) == 1)                      # one model of one task
    k = np.argmax(held, axis=1)
    g = d.store_var[np.arange(b), k]
    assert np.all(p.var_task[g] == k) and np.all(p.var_size_bytes[g] <= p.scenario.device.storage_bytes)
    assert np.array_equal(d.store_planes[np.arange(b), k], p.var_planes[g])
    assert set(np.unique(k)) == {0, 1}
    assert not d.dl_active.any() and np.all(d.tail_left_s == 0) and np.all(d.queue_s == 0)
    assert np.all(d.energy_left_j == p.scenario.device.energy_budget_j)
    # both full models (8 + 2 MB) fit the 50 MB edge cache: each is cached with probability 0.5
    assert sim.state.edge_present.mean() == pytest.approx(0.5, abs=0.04)
    assert np.all(sim.state.t == 0) and np.all(sim.state.invalid_count == 0)


def test_observation_layout(tiny_params):
    _, p = tiny_params()
    sim = _sim(p)
    k = p.n_tasks
    assert sim.feature_names == exo_feature_names(p) + endo_feature_names(p)
    assert sim.obs_dim == len(exo_feature_names(p)) + 4 + 1 + 7 * k + 4 + 2 * k
    assert len(set(sim.feature_names)) == sim.obs_dim
    o = sim.observe()
    assert o.shape == (1, sim.obs_dim) and o.dtype == np.float32 and np.all(np.abs(o) <= 1)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**31 - 1),
       moves=st.lists(st.tuples(st.booleans(), st.integers(0, 10_000)), min_size=1, max_size=60))
def test_store_invariants_under_random_actions(tiny_params, seed, moves):
    """Over any action sequence (valid or not) the store never holds more than the device's storage
    (models on board plus the reserved download), every slot holds a variant of its own task, and
    the download, battery, radio tail and queue stay within their ranges."""
    _, p = tiny_params(**STORE_OVERRIDES)
    sim = _sim(p, seed)
    storage = p.scenario.device.storage_bytes
    energy_prev = sim.state.dyn.energy_left_j[0]
    invalid = 0
    for use_mask, i in moves:
        if use_mask:
            ok = np.flatnonzero(sim.action_masks()[0])
            a = int(ok[i % len(ok)])
        else:
            a = i % p.n_actions
        res = sim.step(np.array([a]))
        d = sim.state.dyn
        invalid += int(res.invalid[0])
        assert store_bytes(p, d)[0] <= storage * (1 + 1e-12)
        for k in range(p.n_tasks):
            g, pl = int(d.store_var[0, k]), int(d.store_planes[0, k])
            if g == p.no_model:
                assert pl == 0
            else:
                assert p.var_task[g] == k and p.var_valid[g] and 1 <= pl <= p.var_planes[g]
        if d.dl_active[0]:
            g = int(d.dl_var[0])
            assert p.var_task[g] == d.dl_task[0] and 0 <= d.dl_done_bytes[0] < p.var_size_bytes[g]
            assert d.dl_tier[0] in (1, 2, 3)
        else:
            assert d.dl_var[0] == p.no_model and d.dl_done_bytes[0] == 0.0
        assert 0.0 <= d.energy_left_j[0] <= energy_prev
        energy_prev = d.energy_left_j[0]
        assert 0.0 <= d.tail_left_s[0] <= p.scenario.device.radio.tail_s
        assert 0.0 <= d.queue_s[0] <= p.latency_budget_s.max()
        assert sim.state.invalid_count[0] == invalid
        assert res.reward[0] == pytest.approx(res.terms[0].sum(), abs=1e-12)
        assert res.served[0] + res.no_model[0] + res.late[0] == res.requests[0]
        o = sim.observe()
        assert np.all(np.isfinite(o)) and np.all(np.abs(o) <= 1)


def _mask_agrees_with_step(sim):
    """Every flat action stepped from the current state: the canonical indices are valid exactly
    where masked, and the other indices of keep, cancel and evict act like their canonical one."""
    p = sim.p
    mask = sim.action_masks()[0]
    f = sim.fork(0, sim.A)
    res = f.step(np.arange(sim.A))
    src, task, entry = p.act_src, p.act_task, p.act_entry
    canonical = ~(((src <= 1) & ((task != 0) | (entry != 0))) | ((src == 2) & (entry != 0)))
    assert np.array_equal(~res.invalid & canonical, mask)
    assert not mask[~canonical].any()
    canon_of = np.where(src <= 1, src * p.n_tasks * p.n_menu, np.where(src == 2, (2 * p.n_tasks + task) * p.n_menu,
                                                                        np.arange(sim.A)))
    assert np.array_equal(res.invalid, res.invalid[canon_of])
    assert np.allclose(res.reward, res.reward[canon_of])
    return mask


@pytest.mark.parametrize("overrides", [STORE_OVERRIDES, {"channel__bandwidth_hz": 2e6, "library__fallthrough": False}])
def test_joint_mask_equals_what_a_step_accepts_tiny(tiny_params, overrides):
    _, p = tiny_params(**overrides)
    rng = np.random.default_rng(1)
    kinds = set()
    for seed in range(3):
        sim = _sim(p, seed)
        for _ in range(40):
            mask = _mask_agrees_with_step(sim)
            kinds.add((bool(mask[p.act_src == 1].any()), bool(sim.state.dyn.dl_active[0])))
            sim.step(_valid_random(mask[None, :], rng, p_keep=0.6))
    assert (True, True) in kinds and (False, False) in kinds  # with and without a download in flight


def test_joint_mask_equals_what_a_step_accepts_shipped():
    _, p = make_params("urban_smartphone")
    rng = np.random.default_rng(2)
    sim = _sim(p, 5)
    for t in range(30):
        mask = sim.action_masks()[0]
        if t % 5 == 0:
            _mask_agrees_with_step(sim)
        sim.step(_valid_random(mask[None, :], rng, p_keep=0.6))


def test_fork_and_one_step_rewards(tiny_params):
    _, p = tiny_params()
    sim = _sim(p, 3, b=2)
    rng = np.random.default_rng(0)
    for _ in range(10):
        sim.step(_valid_random(sim.action_masks(), rng))
    state_before = [x.copy() for x in sim.state.dyn]
    rng_state = sim.rngs[1].bit_generator.state
    osr = sim.one_step_rewards(1)
    assert osr.shape == (p.n_actions,)
    assert sim.rngs[1].bit_generator.state == rng_state
    assert all(np.array_equal(a, b) for a, b in zip(state_before, sim.state.dyn))
    # the one-step reward of each action is what that action gets on the real next step
    acts = np.array([0, int(np.argmax(osr))])
    res = sim.step(acts)
    assert res.reward[1] == osr[acts[1]]
    # a fork steps the row's future: its copies with one action equal the row stepping it
    f = sim.fork(0, 3)
    a = _valid_random(sim.action_masks()[:1], rng, p_keep=0.0)
    rf = f.step(np.repeat(a, 3))
    r0 = sim.step(np.array([a[0], 0]))
    assert np.all(rf.reward == r0.reward[0])
    assert np.array_equal(f.observe()[2], sim.observe()[0])
    f.take_rows(np.array([2, 2]))
    assert f.B == 2 and np.array_equal(f.observe()[1], sim.observe()[0])
    with pytest.raises(RuntimeError, match="forks only"):
        sim.take_rows(np.array([0]))
    g = sim.fork(0, 1)
    with pytest.raises(RuntimeError, match="cannot run past"):
        for _ in range(sim.steps_left_in_chunk(0) + 1):
            g.step(np.zeros(1, dtype=np.int64))


def test_planning_view_is_consistent_with_the_state(tiny_params):
    _, p = tiny_params(**STORE_OVERRIDES)
    sim = _sim(p, 4)
    rng = np.random.default_rng(4)
    radio = p.scenario.device.radio
    for _ in range(25):
        view = sim.planning_view(0)
        d = sim.state.dyn
        for key in ("valid", "source", "target_task", "entry", "variant", "tier", "size_bytes", "accuracy",
                    "service_s", "latency_ok", "training_free", "integer", "bits", "planes", "proxy_score",
                    "download_latency_s_est", "download_energy_j_est"):
            assert view[key].shape == (p.n_actions,), key
            assert not view[key].flags.writeable
        for key in ("store_variant", "store_accuracy", "store_size_bytes", "store_service_s", "store_last_used",
                    "budget_s", "request_rate_hz", "local_has", "edge_has"):
            assert view[key].shape == (p.n_tasks,), key
        assert np.array_equal(view["valid"], sim.action_masks()[0])
        assert float(view["free_bytes"]) == pytest.approx(p.scenario.device.storage_bytes - store_bytes(p, d)[0])
        assert np.array_equal(view["store_variant"], d.store_var[0])
        assert int(view["task"]) == int(sim.current_task()[0])
        assert int(view["steps_left"]) == p.scenario.max_episode_steps - int(sim.state.t[0])
        # the latency estimate: fixed time (+ promotion from idle) + bytes at the estimated rate
        dl = np.flatnonzero(view["valid"] & (view["source"] >= SRC_EDGE))
        if dl.size:
            rows = action_rows(p, dl, np.full(dl.size, int(view["zone"])), sim.state.edge_present[0])
            rate = max(float(sim.exo.f[0, sim.state.k[0], E_RATE_EST]), 1.0)
            promo = radio.promotion_s if d.tail_left_s[0] <= 0 else 0.0
            want = rows[:, AT_FIX_S] + promo + rows[:, AT_SIZE] * np.maximum(8 / rate, rows[:, AT_SPB_BH])
            assert np.allclose(view["download_latency_s_est"][dl], want, rtol=1e-12)
            # energy estimate: receiving at the estimated rate, waiting connected, the promotion
            rx = radio.rx_base_power_w + radio.rx_power_per_mbps_w * rate * 1e-6
            e = (rx * rows[:, AT_SIZE] * np.maximum(8 / rate, rows[:, AT_SPB_BH]) + radio.tail_power_w * rows[:, AT_FIX_S]
                 + radio.promotion_power_w * promo)
            assert np.allclose(view["download_energy_j_est"][dl], e, rtol=1e-12)
            assert np.array_equal(view["size_bytes"][dl], rows[:, AT_SIZE])
        assert np.all(view["download_latency_s_est"][view["source"] < SRC_EDGE] == 0)
        sim.step(_valid_random(view["valid"][None, :], rng, p_keep=0.5))


def test_build_menu_keeps_the_front_and_anchors():
    # six variants: (size, accuracy, service, training-free); variant 5 is dominated by 4
    size = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    acc = np.array([0.5, 0.6, 0.7, 0.8, 0.9, 0.85])
    svc = np.ones(6)
    tf = np.ones(6, dtype=bool)
    valid = np.ones(6, dtype=bool)
    assert build_menu(size, acc, svc, tf, valid, 4, 8).tolist() == [0, 1, 2, 3, 4]
    # three entries: the full model (3), the smallest (0) and the most accurate (4)
    assert build_menu(size, acc, svc, tf, valid, 3, 3).tolist() == [0, 3, 4]
    valid[4] = False  # invalid variants are never offered; 5 is then on the front
    assert 4 not in build_menu(size, acc, svc, tf, valid, 3, 8).tolist()


def test_menus_offer_only_variants_that_fit_the_store(tiny_params):
    _, p = tiny_params(device__storage_bytes=3e6)
    menu = p.menu[p.menu != p.no_model]
    assert menu.size and np.all(p.var_size_bytes[menu] <= 3e6)
    assert np.all(p.var_task[p.menu[0][p.menu[0] != p.no_model]] == 0)
    _, q = tiny_params()
    for k in range(q.n_tasks):  # entries sorted by size
        m = q.menu[k][q.menu[k] != q.no_model]
        assert np.all(np.diff(q.var_size_bytes[m]) >= 0)


def test_chunk_buffers_are_time_major_and_now_reads_each_row(tiny_params):
    _, p = tiny_params()
    sim = _sim(p, 0, b=37)
    for buf in (sim.exo.f, sim.exo.ci, sim.exo.arr, sim.exo.obs):
        assert buf.shape[:2] == (sim.B, sim.T)
        assert buf.transpose(1, 0, 2).flags.c_contiguous  # memory [T, B, F]
    sim.state.k[:] = np.random.default_rng(1).integers(0, sim.T, sim.B)
    for buf in (sim.exo.f, sim.exo.ci, sim.exo.obs):
        assert np.array_equal(sim.now(buf), buf[sim.ar, sim.state.k])
    row_major = np.ascontiguousarray(sim.exo.f)  # the other layout is read correctly too
    assert np.array_equal(sim.now(row_major), row_major[sim.ar, sim.state.k])
