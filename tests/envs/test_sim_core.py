"""The batched simulation core: equivalence of backends and batch rows, accounting, masks, invariants."""

from __future__ import annotations

import copy

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from envs.sim import BatchSim, build_params
from envs.sim.exogenous import E_INVRATE, E_NREQ, E_RATE
from envs.sim.params import A_VALID
from scenarios import scenario_from_dict


@pytest.fixture(scope="module")
def params(tiny_scenario_dict):
    return build_params(scenario_from_dict(tiny_scenario_dict))


def _params_with(tiny_scenario_dict, **overrides):
    return build_params(scenario_from_dict(tiny_scenario_dict, **overrides))


def _sim(params, seed=0, b=1):
    s = BatchSim(params, b)
    s.reset_rows(list(range(b)), [np.random.default_rng(seed + i) for i in range(b)])
    return s


def test_tables_shapes(params):
    assert params.grid == (2, 2, 2)
    assert params.n_actions == 32
    assert params.mask_table.shape == (2 * 8, 32)
    # the uncompressed variant is depth 2, no pruning, 32 bit -> grid index (1, 0, 0) = 4
    assert list(params.full_variant) == [4, 4]


def test_batch_rows_equal_single_sims(params):
    """Row i of a batch equals a single sim seeded like row i, across chunk ends and resets."""
    b = 4
    batch = _sim(params, 100, b)
    singles = [_sim(params, 100 + i) for i in range(b)]
    rng = np.random.default_rng(7)
    for step in range(130):  # horizon 50: crosses resets; chunk = 51 steps
        obs_b, mask_b = batch.observe(), batch.action_masks()
        for i, s in enumerate(singles):
            assert np.array_equal(obs_b[i], s.observe_row(0))
            assert np.array_equal(mask_b[i], s.action_mask_row(0))
        acts = rng.integers(0, params.n_actions, b)
        res = batch.step(acts)
        for i, s in enumerate(singles):
            r = s.step_row(0, int(acts[i]))
            assert res.reward[i] == r.reward
            assert res.energy_j[i] == r.energy_j and res.latency_s[i] == r.latency_s
            assert res.terminated[i] == r.terminated and res.truncated[i] == r.truncated
            assert np.array_equal(res.terms[i], np.asarray(r.terms))
            if r.terminated or r.truncated:
                s.reset_rows([0], [np.random.default_rng(1000 + step)])
                batch.reset_rows([i], [np.random.default_rng(1000 + step)])


def test_different_seeds_differ(params):
    a, b = _sim(params, 1), _sim(params, 2)
    assert not np.array_equal(a.exo.f[0], b.exo.f[0])


def test_one_step_rewards_equal_stepping(params):
    sim = _sim(params, 3)
    rng = np.random.default_rng(0)
    for _ in range(40):
        osr = sim.one_step_rewards(0)
        k0 = sim.state.k.copy()
        for a in rng.choice(params.n_actions, 6, replace=False).tolist() + [int(np.argmax(osr))]:
            c = copy.deepcopy(sim)
            assert c.step_row(0, a).reward == osr[a]
        assert np.array_equal(sim.state.k, k0)  # no state change
        sim.step_row(0, int(rng.integers(params.n_actions)))


def test_download_latency_and_energy_accounting(params):
    sim = _sim(params, 4)
    # find a step where a central download of the full model of the current task is valid
    for _ in range(200):
        mask = sim.action_mask_row(0)
        k = int(sim.state.k[0])
        task = int(sim.exo.ci[0, k, 0])
        v = int(params.full_variant[task])
        a = 3 * params.n_variants + v
        if mask[a] and sim.state.dyn.pending[0] == 0:
            break
        sim.step_row(0, 0)
    rate = sim.exo.f[0, k, E_RATE]
    size = params.size_bytes[task, v]
    rtt_c = params.scenario.library.central.rtt_s
    bh_c = params.scenario.library.central.backhaul_bps
    expected_lat = rtt_c + 0.0 + 8 * size / min(rate, bh_c)  # uncompressed: no compression time
    ob_mi, nreq = int(sim.state.dyn.model[0]), sim.exo.f[0, k, E_NREQ]
    r = copy.deepcopy(sim).step_row(0, a)
    assert r.latency_s == pytest.approx(expected_lat, rel=1e-12)
    assert r.bytes_downloaded == size
    # energy = P_rx * receive time in this step + inference energy of the requests processed by a
    # model of the right task; the old model serves until the new one has arrived
    dt = params.scenario.dt_s
    spb = 8.0 / min(rate, bh_c)
    t_fix = min(rtt_c, dt)
    t_tx = min(size * spb, dt - t_fix)
    arrives = t_fix + size * spb <= dt
    q = (t_fix + t_tx) / dt
    m, vo = divmod(ob_mi, params.n_variants)
    e_old = params.inference_energy_j[m, vo] if m == task else 0.0
    e_new = params.inference_energy_j[task, v]
    w_old = nreq * (q if arrives else 1.0)
    w_new = nreq * (1.0 - q) if arrives else 0.0
    expected_e = params.scenario.device.rx_power_w * t_tx + w_old * e_old + w_new * e_new
    assert r.air_time_s == pytest.approx(t_tx, rel=1e-12)
    assert r.energy_j == pytest.approx(expected_e, rel=1e-9)
    # a compressed variant adds the on-the-fly compression time full_size / throughput
    vc = int(np.flatnonzero(params.valid[task] & (np.arange(params.n_variants) != v))[0])
    r2 = copy.deepcopy(sim).step_row(0, 3 * params.n_variants + vc)
    tput = params.scenario.library.central.compress_bytes_per_s
    exp2 = rtt_c + params.full_size_bytes[task] / tput + params.size_bytes[task, vc] * sim.exo.f[0, k, E_INVRATE] \
        if rate < bh_c else None
    if exp2 is not None:
        assert r2.latency_s == pytest.approx(exp2, rel=1e-12)


def test_keep_energy_is_inference_only(params):
    sim = _sim(params, 5)
    for _ in range(60):
        k = int(sim.state.k[0])
        task = int(sim.exo.ci[0, k, 0])
        m, v = divmod(int(sim.state.dyn.model[0]), params.n_variants)
        nreq = sim.exo.f[0, k, E_NREQ]
        if sim.state.dyn.pending[0] == 0:
            r = sim.step_row(0, 0)
            e = params.inference_energy_j[m, v] * nreq if m == task else 0.0
            assert r.energy_j == pytest.approx(e, rel=1e-12, abs=1e-300)
            assert r.latency_s == 0.0 and r.bytes_downloaded == 0.0
        else:
            sim.step_row(0, 0)


def test_masks_follow_storage_rule(tiny_scenario_dict):
    # storage of 1.5 MB: tiny_a (2 M params) fits only in 8 bit / pruned variants
    p = _params_with(tiny_scenario_dict, device__storage_bytes=1.5e6)
    for c in range(p.n_tasks):
        fits = p.valid[c] & (p.size_bytes[c] <= 1.5e6)
        for base in range(c * 8, c * 8 + 4):  # not pending
            m = p.mask_table[base].reshape(4, p.n_variants)
            assert m[0].all()  # keep always valid
            for src in (1, 2, 3):
                allowed = m[src]
                assert not (allowed & ~fits).any()
    sim = _sim(p, 6)
    for _ in range(100):
        mask = sim.action_mask_row(0)
        a = int(np.random.default_rng(0).choice(np.flatnonzero(mask)))
        sim.step_row(0, a)
        m, v = divmod(int(sim.state.dyn.model[0]), p.n_variants)
        if m < p.n_tasks:
            assert p.size_bytes[m, v] <= 1.5e6


def test_masks_follow_tier_rules_without_fallthrough(tiny_scenario_dict):
    p = _params_with(tiny_scenario_dict, library__fallthrough=False)
    nv = p.n_variants
    for c in range(p.n_tasks):
        for pend in (0, 1):
            for eh in (0, 1):
                for lh in (0, 1):
                    m = p.mask_table[c * 8 + pend * 4 + eh * 2 + lh].reshape(4, nv)
                    fits = p.valid[c] & (p.size_bytes[c] <= p.scenario.device.storage_bytes)
                    assert m[0].all()
                    assert np.array_equal(m[1], fits & bool(eh) & (pend == 0))
                    assert np.array_equal(m[2], fits & bool(lh) & (pend == 0))
                    assert np.array_equal(m[3], fits & (pend == 0))


def test_invalid_action_is_penalised_noop(tiny_scenario_dict):
    params = _params_with(tiny_scenario_dict, device__storage_bytes=1.5e6)
    sim = _sim(params, 8)
    for _ in range(100):
        mask = sim.action_mask_row(0)
        if not mask.all():
            break
        sim.step_row(0, 0)
    bad = int(np.flatnonzero(~mask)[0])
    c1, c2 = copy.deepcopy(sim), copy.deepcopy(sim)
    r_bad = c1.step_row(0, bad)
    r_keep = c2.step_row(0, 0)
    assert r_bad.invalid and not r_keep.invalid
    w = params.scenario.reward.invalid_action
    assert r_bad.reward == pytest.approx(r_keep.reward - w)
    assert r_bad.bytes_downloaded == 0.0 and c1.state.invalid_count[0] == 1
    assert c1.state.dyn.model[0] == c2.state.dyn.model[0] and c1.state.dyn.pending[0] == c2.state.dyn.pending[0]


def test_in_situ_replacement_old_model_serves_until_arrival(tiny_scenario_dict):
    # slow central backhaul: a download spans several steps; meanwhile only keep is valid
    p = _params_with(tiny_scenario_dict, library__central={"backhaul_bps": 2e6})
    sim = _sim(p, 9)
    k = int(sim.state.k[0])
    task = int(sim.exo.ci[0, k, 0])
    a = 3 * p.n_variants + int(p.full_variant[task])
    assert sim.action_mask_row(0)[a]
    ob_before = sim.state.dyn.model[0]
    r = sim.step_row(0, a)
    assert r.latency_s > 2 * p.scenario.dt_s
    assert sim.state.dyn.pending[0] == 1.0 and sim.state.dyn.model[0] == ob_before
    m = sim.action_mask_row(0).reshape(4, p.n_variants)
    assert m[0].all() and not m[1:].any()
    steps = 0
    while sim.state.dyn.pending[0] == 1.0:
        sim.step_row(0, 0)
        steps += 1
    assert steps == int(np.ceil(r.latency_s / p.scenario.dt_s)) - 1
    assert sim.state.dyn.model[0] == task * p.n_variants + p.full_variant[task]


def test_chunks_continue_seamlessly(tiny_scenario_dict):
    p = _params_with(tiny_scenario_dict, max_episode_steps=2000)
    sim = _sim(p, 10)
    rates = []
    for _ in range(700):  # > 2 chunks of 256
        rates.append(sim.true_rate_bps(0))
        sim.step_row(0, 0)
    rates = np.log(np.array(rates))
    # the rate process stays time-correlated across chunk boundaries (no reset at 256, 512)
    assert np.all(np.isfinite(rates)) and np.std(rates) > 0


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**31 - 1), actions=st.lists(st.integers(0, 31), min_size=1, max_size=60))
def test_invariants(params, seed, actions):
    sim = _sim(params, seed)
    storage = params.scenario.device.storage_bytes
    for a in actions:
        r = sim.step_row(0, a)
        assert r.latency_s >= 0.0
        assert r.energy_j >= 0.0
        assert sim.state.dyn.energy_left_j[0] >= 0.0
        assert r.terminated == (sim.state.dyn.energy_left_j[0] == 0.0)
        assert 0.0 <= r.accuracy_sum <= r.requests + 1e-9
        assert 0.0 <= r.served <= r.requests + 1e-9
        m, v = divmod(int(sim.state.dyn.model[0]), params.n_variants)
        if m < params.n_tasks:
            assert params.size_bytes[m, v] <= storage
            assert 0.0 <= params.accuracy[m, v] <= 1.0
        obs = sim.observe_row(0)
        assert obs.dtype == np.float32 and np.all(obs >= -1.0) and np.all(obs <= 1.0)
        if r.terminated or r.truncated:
            break
    assert np.all(params.action_table[:, A_VALID] >= 0)


def test_download_progresses_at_each_steps_rate(tiny_scenario_dict):
    """Bytes in flight shrink by (time available) / (seconds per byte of *that* step)."""
    p = _params_with(tiny_scenario_dict, library__central={"backhaul_bps": 1e12},
                     channel__bandwidth_hz=2e6,
                     channel__blockage={"rate_per_s": 2.0, "mean_duration_s": 1.0})
    sim = _sim(p, 12)
    k = int(sim.state.k[0])
    task = int(sim.exo.ci[0, k, 0])
    a = 3 * p.n_variants + int(p.full_variant[task])
    size = p.size_bytes[task, p.full_variant[task]]
    fix = p.scenario.library.central.rtt_s
    moved, steps = 0.0, 0
    r = sim.step_row(0, a)
    assert r.air_time_s == pytest.approx(p.scenario.dt_s - fix)  # the download spans several steps
    moved += r.air_time_s / sim.exo.f[0, k, E_INVRATE]
    while sim.state.dyn.pending[0] == 1.0:
        k = int(sim.state.k[0])
        assert sim.state.dyn.pending_bytes[0] == pytest.approx(size - moved, rel=1e-9)
        r = sim.step_row(0, 0)
        spb = sim.exo.f[0, k, E_INVRATE]
        moved += r.air_time_s / spb
        steps += 1
    assert moved == pytest.approx(size, rel=1e-9)
    assert steps >= 2
    assert sim.state.dyn.pending_bytes[0] == 0.0 and sim.state.dyn.pending_fixed_s[0] == 0.0
