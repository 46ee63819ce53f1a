"""One step of the transition on hand-made rows of the tiny scenario: progressive serving while
bit-planes arrive, cancelling, evicting, double buffering, the queue, energy and the reward terms.

Each case builds the state and the step's exogenous values by hand and calls the pure
``envs.sim.dynamics.transition``; the expected numbers come from the tiny profiles (tests/envs/
insitu_test_helpers.py) and the tiny scenario's tiers and radio.
"""

from __future__ import annotations

import numpy as np
import pytest

from envs.sim import BatchSim
from envs.sim.context import ARRIVAL_SCALE
from envs.sim.dynamics import GB, action_rows, planes_received, store_bytes, transition
from envs.sim.exogenous import (
    C_AGE,
    C_TASK,
    C_ZONE,
    E_INV_EXPREQ,
    E_INVRATE,
    E_NREQ,
    E_RATE,
    N_C_FIELDS,
    N_E_FIELDS,
)
from envs.sim.params import (
    AT_BH_BYTES,
    AT_EDGE_OP,
    AT_FIX_S,
    AT_SIZE,
    AT_SPB_BH,
    AT_TIER,
    AT_VALID,
    SRC_CANCEL,
    SRC_CENTRAL,
    SRC_EDGE,
    SRC_EVICT,
    SRC_KEEP,
    SRC_LOCAL,
    flat_action_index,
)
from envs.sim.reward import TERM_NAMES
from envs.sim.state import initial_dyn

#: Global variants of task 0 (tiny_a, V = 12: g = 6 d + 3 p + b with depth d, prune p, bit level b).
G_D1_FP32 = 0      # depth 1, no pruning, 32 bit: 4 MB, accuracy 0.81 (not in the menu: dominated)
G_FULL = 6         # depth 2, no pruning, 32 bit: the full model, 8 MB, accuracy 0.9
G_W8A8 = 8         # depth 2, no pruning, W8A8: 2 MB in 8 planes of 250 kB, accuracy 0.882
G_FP8 = 7          # depth 2, no pruning, 8-bit weight-only: 2 MB, accuracy 0.891
RATE = 2.6e6       # air rate: 325 kB/s, the air limits (central backhaul 200 Mbit/s = 25 MB/s)


class Harness:
    """Hand-made single rows of the tiny scenario stepped through the pure transition."""

    def __init__(self, params):
        self.p = params
        self.sim = BatchSim(params, 1)
        self.c = self.sim.consts
        self.t = 0

    def flat(self, src, task=0, g=None):
        p = self.p
        entry = 0 if g is None else int(np.flatnonzero(p.menu[task] == g)[0])
        return int(flat_action_index(src, task, entry, p.n_tasks, p.n_menu))

    def state(self, models=(), energy=None, tail=0.0, queue=0.0):
        p = self.p
        s = initial_dyn(1, p.n_tasks, p.no_model, p.scenario.device.energy_budget_j)
        for k, g, *pl in models:
            s.store_var[0, k] = g
            s.store_planes[0, k] = pl[0] if pl else p.var_planes[g]
        s = s._replace(tail_left_s=np.array([tail]), queue_s=np.array([queue]))
        if energy is not None:
            s = s._replace(energy_left_j=np.array([float(energy)]))
        return s

    def step(self, s, a, task=0, zone=0, rate=RATE, arrivals=(), edge=None):
        """``arrivals``: instants in the step (fractions of dt; 1.0 = the last representable instant)."""
        p = self.p
        dt = p.scenario.dt_s
        cur = np.zeros((1, N_E_FIELDS))
        cur[0, E_NREQ] = len(arrivals)
        cur[0, E_RATE] = rate
        cur[0, E_INVRATE] = 8.0 / rate
        cur[0, E_INV_EXPREQ] = 1.0 / (p.request_rate_hz[task] * dt)
        ci = np.zeros((1, N_C_FIELDS), dtype=np.int64)
        ci[0, C_TASK], ci[0, C_ZONE], ci[0, C_AGE] = task, zone, 3
        arr = np.full((1, max(1, len(arrivals))), 65535, dtype=np.uint16)
        arr[0, :len(arrivals)] = np.minimum(np.round(np.asarray(arrivals) * ARRIVAL_SCALE), 65535)
        ep = np.zeros((1, self.sim.zk)) if edge is None else np.asarray(edge, dtype=float)[None, :]
        a = np.array([a])
        rows = action_rows(p, a, np.array([zone]), ep)
        nxt, res = transition(p, self.c, cur, ci, arr, rows, a, s, np.array([self.t]))
        self.t += 1
        return nxt, res


@pytest.fixture(scope="module")
def h(tiny_params):
    _, p = tiny_params()
    return Harness(p)


def test_tiny_variant_table(h):
    p = h.p
    assert p.var_size_bytes[[G_D1_FP32, G_FULL, G_W8A8, G_FP8]].tolist() == [4e6, 8e6, 2e6, 2e6]
    assert p.var_accuracy[[G_D1_FP32, G_FULL, G_W8A8, G_FP8]].tolist() == pytest.approx([0.81, 0.9, 0.882, 0.891])
    assert p.var_integer[G_W8A8] and not p.var_integer[G_FP8]
    assert p.var_planes[G_W8A8] == 8 and p.var_planes[G_FULL] == 1
    assert p.var_plane_bytes[G_W8A8].tolist() == [250_000.0 * (j + 1) for j in range(8)]
    frac = [0.05, 0.1, 0.2, 0.4, 0.7, 0.9, 0.98, 1.0]
    assert p.var_plane_accuracy[G_W8A8].tolist() == pytest.approx([0.882 * f for f in frac], abs=1e-6)
    assert p.full_variant[0] == G_FULL and G_W8A8 in p.menu[0] and G_D1_FP32 not in p.menu[0]


def test_action_table_tiers_and_fixed_times(h):
    """Tier resolution of a W8A8 download of task 0 in zone 0 (its local tier stores task 0)."""
    p = h.p
    a_edge, a_local, a_central = (h.flat(s, 0, G_W8A8) for s in (SRC_EDGE, SRC_LOCAL, SRC_CENTRAL))
    zk = h.sim.zk
    hit = np.zeros(zk)
    hit[0] = 1.0  # zone 0's edge caches task 0's full model
    r = action_rows(p, np.array([a_edge, a_edge, a_local, a_central]), np.zeros(4, dtype=np.int64),
                    np.stack([hit, np.zeros(zk), hit, hit]))
    assert r[:, AT_VALID].tolist() == [1, 1, 1, 1]
    assert r[:, AT_TIER].tolist() == [1, 2, 2, 3]
    # edge hit: edge round trip + on-the-fly compression of the 8 MB full model at 1 GB/s
    assert r[0, AT_FIX_S] == pytest.approx(0.001 + 8e6 / 1e9)
    assert r[0, AT_BH_BYTES] == 0.0 and r[0, AT_EDGE_OP] == 1.0 and r[0, AT_SPB_BH] == pytest.approx(8 / 1e10)
    # edge miss: forwarded to the local tier (edge + local round trips), the edge is filled with the full model
    assert r[1, AT_FIX_S] == pytest.approx(0.011)
    assert r[1, AT_BH_BYTES] == 2e6 + 8e6 and r[1, AT_EDGE_OP] == 2.0 and r[1, AT_SPB_BH] == pytest.approx(8 / 1e9)
    assert r[2, AT_FIX_S] == pytest.approx(0.01) and r[2, AT_BH_BYTES] == 2e6
    assert r[3, AT_FIX_S] == pytest.approx(0.05) and r[3, AT_SPB_BH] == pytest.approx(8 / 2e8)
    assert r[:, AT_SIZE].tolist() == [2e6] * 4
    # a pruned (fine-tuned) variant cannot be made at the edge: an edge request goes up even on a hit
    g_pruned = int(next(g for g in p.menu[0] if not p.var_training_free[g]))
    rp = action_rows(p, np.array([h.flat(SRC_EDGE, 0, g_pruned)]), np.zeros(1, dtype=np.int64), hit[None, :])
    assert rp[0, AT_TIER] == 2.0
    # keep and cancel ignore task and entry, evict ignores entry: every such index acts like its
    # canonical one (task 0, entry 0; evict: entry 0)
    k, m = p.n_tasks, p.n_menu
    other = [flat_action_index(SRC_KEEP, 1, 0, k, m), flat_action_index(SRC_KEEP, 0, 3, k, m),
             flat_action_index(SRC_CANCEL, 1, 0, k, m), flat_action_index(SRC_EVICT, 1, 2, k, m)]
    canon = [flat_action_index(SRC_KEEP, 0, 0, k, m), flat_action_index(SRC_KEEP, 0, 0, k, m),
             flat_action_index(SRC_CANCEL, 0, 0, k, m), flat_action_index(SRC_EVICT, 1, 0, k, m)]
    assert p.act_table[other, :, AT_VALID].all()
    assert np.array_equal(p.act_table[other], p.act_table[canon])
    # menu padding (no variant) is never valid
    pad = np.flatnonzero(p.act_var == p.no_model)
    assert pad.size and not p.act_table[pad[p.act_src[pad] >= SRC_EDGE], :, AT_VALID].any()


def _expected_done(t_end, fixed, size, bytes_per_s):
    return min(size, max(0.0, t_end - fixed) * bytes_per_s)


def _acc_after(p, g, done, old_acc):
    pl = int(np.sum(p.var_plane_bytes[g][: p.var_planes[g]] <= done))
    return max(old_acc, p.var_plane_accuracy[g, pl - 1] if pl else -1.0), pl


@pytest.mark.parametrize("old", [G_D1_FP32, None], ids=["old_model_0.81", "no_old_model"])
def test_progressive_serving_while_planes_arrive(h, old):
    """A W8A8 download from central (fixed time: promotion 0.26 s + round trip 0.05 s; 325 kB/s):
    a request at the start and one at the end of each step are served by the better of the old
    model and the planes arrived by then, at the profile's per-plane accuracy."""
    p = h.p
    old_acc = p.var_accuracy[old] if old is not None else -1.0
    s = h.state(models=[(0, old)] if old is not None else [])
    bps = RATE / 8
    fixed = 0.26 + 0.05
    a = h.flat(SRC_CENTRAL, 0, G_W8A8)
    done_prev, planes_seen = 0.0, []
    for step in range(1, 9):
        s, res = h.step(s, a if step == 1 else 0, arrivals=(0.0, 1.0))
        assert not res.invalid[0]
        done = _expected_done(float(step), fixed, 2e6, bps)
        acc0, _ = _acc_after(p, G_W8A8, done_prev, old_acc)
        acc1, pl = _acc_after(p, G_W8A8, done, old_acc)
        planes_seen.append(pl)
        n_served = int(acc0 > 0) + int(acc1 > 0)
        assert res.served[0] == n_served and res.no_model[0] == 2 - n_served
        assert res.accuracy_sum[0] == pytest.approx(max(acc0, 0) + max(acc1, 0), abs=1e-12), step
        assert res.air_bytes[0] == pytest.approx(done - done_prev, rel=1e-9)
        if done < 2e6:
            assert s.dl_active[0] and s.dl_done_bytes[0] == pytest.approx(done, rel=1e-9)
            assert planes_received(p, s.dl_var, s.dl_done_bytes)[0] == pl
            # the old model stays on board, the download's full size is reserved beside it
            held = p.var_size_bytes[old] if old is not None else 0.0
            assert store_bytes(p, s)[0] == pytest.approx(held + 2e6)
            assert s.store_var[0, 0] == (old if old is not None else p.no_model)
        else:
            assert res.downloaded[0] and not s.dl_active[0]
            assert s.store_var[0, 0] == G_W8A8 and s.store_planes[0, 0] == 8
            assert store_bytes(p, s)[0] == 2e6
            break
        done_prev = done
    assert planes_seen[:6] == [0, 2, 3, 4, 6, 7]  # 224, 549, 874, 1199, 1524, 1849 kB after each step
    assert step == 7  # 0.31 s + 2 MB / 325 kB/s = 6.46 s


def test_progressive_download_switches_at_the_plane_instant(h):
    """Within a step, requests before the instant the step's last new plane lands use the old
    planes, requests after it the new ones."""
    p = h.p
    s = h.state()
    a = h.flat(SRC_CENTRAL, 0, G_W8A8)
    s, _ = h.step(s, a)                        # 224 250 bytes after step 1 (no plane yet)
    # step 2: plane 1 at 250 000 B (t = 0.079 s), plane 2 at 500 000 B (t = 0.848 s)
    t2 = (500_000 - 224_250) / (RATE / 8)
    s2, res = h.step(s, 0, arrivals=(0.05, 0.5, t2 - 0.01, t2 + 0.01))
    pacc = p.var_plane_accuracy[G_W8A8]
    # before t2 the planes of the step start (none: no model, failed); after t2 two planes
    assert res.no_model[0] == 3 and res.served[0] == 1
    assert res.accuracy_sum[0] == pytest.approx(pacc[1])


def test_cancel_keeps_arrived_planes_only_if_better(h):
    p = h.p
    a = h.flat(SRC_CENTRAL, 0, G_W8A8)
    cancel = h.flat(SRC_CANCEL)
    # (old model, steps before cancelling, expected store afterwards)
    for old, n, want_var, want_planes in ((G_D1_FP32, 3, G_D1_FP32, 1),   # 3 planes: 0.176 < 0.81
                                          (None, 3, G_W8A8, 3),           # nothing better on board
                                          (G_D1_FP32, 6, G_W8A8, 7)):     # 7 planes: 0.864 > 0.81
        s = h.state(models=[(0, old)] if old is not None else [])
        s, _ = h.step(s, a)
        for _ in range(n - 1):
            s, _ = h.step(s, 0)
        assert s.dl_active[0]
        before = store_bytes(p, s)[0]
        s, res = h.step(s, cancel)
        assert res.cancelled[0] and not res.invalid[0] and not s.dl_active[0]
        assert s.store_var[0, 0] == want_var and s.store_planes[0, 0] == want_planes
        held = p.var_plane_bytes[want_var, want_planes - 1]
        assert store_bytes(p, s)[0] == pytest.approx(held)   # the reservation is freed
        assert store_bytes(p, s)[0] < before
        assert s.dl_var[0] == p.no_model and s.dl_done_bytes[0] == 0.0
    # a cancelled float download (one plane, not arrived) leaves the store as it was
    s = h.state(models=[(1, 18)])
    s, _ = h.step(s, h.flat(SRC_CENTRAL, 0, G_FULL))
    assert store_bytes(p, s)[0] == 2e6 + 8e6
    s, res = h.step(s, cancel)
    assert res.cancelled[0] and s.store_var[0].tolist() == [p.no_model, 18] and store_bytes(p, s)[0] == 2e6


def test_cancel_and_evict_validity_and_effect(h):
    p = h.p
    w_inv = p.scenario.reward.invalid_action
    s = h.state(models=[(0, G_FULL), (1, 18)])
    # nothing in flight: cancel is invalid, a penalised keep
    s1, res = h.step(s, h.flat(SRC_CANCEL), arrivals=(0.5,))
    assert res.invalid[0] and not res.cancelled[0]
    assert res.terms[0, TERM_NAMES.index("invalid_action")] == -w_inv
    # evict task 1: its slot is empty, its bytes free
    s2, res = h.step(s, h.flat(SRC_EVICT, 1))
    assert not res.invalid[0] and res.target_task[0] == 1
    assert s2.store_var[0].tolist() == [G_FULL, p.no_model] and s2.store_planes[0].tolist() == [1, 0]
    assert store_bytes(p, s2)[0] == 8e6 and store_bytes(p, s)[0] == 10e6
    # evicting an empty slot is invalid
    _, res = h.step(s2, h.flat(SRC_EVICT, 1))
    assert res.invalid[0] and res.target_task[0] == -1
    # evicting the current task's model: its requests find no model
    s3, _ = h.step(s, h.flat(SRC_EVICT, 0))
    _, res = h.step(s3, 0, task=0, arrivals=(0.1, 0.2))
    assert res.no_model[0] == 2 and res.served[0] == 0 and res.accuracy_sum[0] == 0.0


def test_double_buffering_masks_a_download_that_does_not_fit_beside(tiny_params):
    """Storage 10 MB holding the 8 MB full model of task 0: a 2 MB variant fits beside it, another
    8 MB copy does not (although it would after replacing): masked, and a penalised keep if taken."""
    _, p = tiny_params(device__storage_bytes=1e7)
    sim = BatchSim(p, 1)
    sim.reset_rows([0], [np.random.default_rng(0)])
    hh = Harness(p)
    sim.state.dyn = hh.state(models=[(0, G_FULL)])
    mask = sim.action_masks()[0]
    fits = hh.flat(SRC_CENTRAL, 0, G_FP8)
    too_big = hh.flat(SRC_CENTRAL, 0, G_FULL)
    assert mask[fits] and not mask[too_big]
    f = sim.fork(0, 3)
    res = f.step(np.array([too_big, 0, fits]))
    assert res.invalid.tolist() == [True, False, False]
    for name, x in zip(f.state.dyn._fields, f.state.dyn):
        assert np.array_equal(x[0], x[1]), name  # the invalid download did exactly what keep did
    w = p.scenario.reward.invalid_action
    assert res.reward[0] == pytest.approx(res.reward[1] - w, abs=1e-12)
    assert np.array_equal(res.terms[0, :-1], res.terms[1, :-1])
    assert res.source_tier.tolist()[:2] == [0, 0] and res.source_tier[2] == 3 and res.variant[2] == G_FP8


def test_prefetch_of_another_task_leaves_the_current_task_served(h):
    s = h.state(models=[(0, G_FULL)])
    a = h.flat(SRC_CENTRAL, 1, 18)  # task 1's full model (2 MB) while task 0 is active
    t = h.t
    s1, res = h.step(s, a, task=0, arrivals=(0.2, 0.6))
    assert not res.invalid[0] and res.target_task[0] == 1 and s1.dl_task[0] == 1
    assert res.served[0] == 2 and res.accuracy_sum[0] == pytest.approx(2 * 0.9)
    assert s1.store_used_t[0, 0] == t and s1.store_used_t[0, 1] == -np.inf


def test_queue_late_requests_and_budget(h):
    """30 requests at t = 0 behind 1.3 ms of backlog, 5 ms each (full model, 1e10 MAC/s), budget
    100 ms: request i leaves at 1.3 + 5 i ms, so requests 20 .. 30 are late."""
    p = h.p
    assert p.var_service_s[G_FULL] == pytest.approx(0.005) and p.latency_budget_s[0] == 0.1
    s = h.state(models=[(0, G_FULL)], queue=0.0013)
    s1, res = h.step(s, 0, arrivals=(0.0,) * 30)
    assert res.late[0] == 11 and res.served[0] == 19 and res.no_model[0] == 0
    assert res.accuracy_sum[0] == pytest.approx(19 * 0.9)
    assert s1.queue_s[0] == 0.0  # 151.3 ms of work, done within the 1 s step
    # every computed request costs its inference energy, late or not
    assert res.energy_j[0] - res.energy_radio_j[0] == pytest.approx(30 * p.var_energy_j[G_FULL])


def test_reward_terms_by_hand(h):
    p = h.p
    rw = p.scenario.reward
    s = h.state(models=[(0, G_FULL)])
    a = h.flat(SRC_CENTRAL, 0, G_W8A8)
    s1, res = h.step(s, a, arrivals=(0.3, 0.7))
    inv_exp = 1.0 / (p.request_rate_hz[0] * p.scenario.dt_s)  # 1 / 5 expected requests
    air = (1.0 - 0.31) * RATE / 8
    terms = dict(zip(TERM_NAMES, res.terms[0]))
    assert terms["accuracy"] == pytest.approx(rw.accuracy * 2 * 0.9 * inv_exp)
    assert terms["failed_requests"] == 0.0
    assert terms["energy"] == pytest.approx(-rw.energy * res.energy_j[0] / p.energy_allowance_j)
    assert p.energy_allowance_j == pytest.approx(200.0 / 50)
    assert terms["air_bytes"] == pytest.approx(-rw.air_bytes * air / GB)
    assert terms["backhaul_bytes"] == pytest.approx(-rw.backhaul_bytes * 2e6 / GB)   # central: the variant's bytes
    assert terms["invalid_action"] == 0.0
    assert res.reward[0] == pytest.approx(sum(terms.values()), abs=1e-15)
    # radio: promotion from idle, the round trip at tail power, receiving the rest of the step
    radio = p.scenario.device.radio
    e_radio = 0.26 * radio.promotion_power_w + 0.05 * radio.tail_power_w + 0.69 * (1.2 + 0.05 * RATE / 1e6)
    assert res.energy_radio_j[0] == pytest.approx(e_radio)
    assert res.energy_j[0] == pytest.approx(e_radio + 2 * p.var_energy_j[G_FULL])
    assert res.download_latency_s[0] == pytest.approx(0.31 + 2e6 * 8 / RATE)
    assert res.source_tier[0] == 3 and res.variant[0] == G_W8A8
    assert s1.tail_left_s[0] == radio.tail_s  # the radio received until the step's end
    # no model of the current task: every request fails
    _, res = h.step(h.state(), 0, arrivals=(0.1, 0.2, 0.3))
    assert res.terms[0, TERM_NAMES.index("failed_requests")] == pytest.approx(-rw.failed_requests * 3 * inv_exp)


def test_battery_runs_out(h):
    s = h.state(models=[(0, G_FULL)], energy=1e-4)
    s1, res = h.step(s, 0, arrivals=(0.5,))
    assert res.terminated[0] and s1.energy_left_j[0] == 0.0
    s1, res = h.step(h.state(models=[(0, G_FULL)]), 0, arrivals=(0.5,))
    assert not res.terminated[0] and s1.energy_left_j[0] == pytest.approx(200.0 - res.energy_j[0])


def test_edge_download_fills_the_cache_through_the_core(tiny_params):
    """An edge download that misses fills the zone's cache with the task's full model; the next
    edge request of a training-free variant is made at the edge."""
    _, p = tiny_params(library__edge__initial_fill_prob=0.0)
    sim = BatchSim(p, 1)
    sim.reset_rows([0], [np.random.default_rng(3)])
    assert not sim.state.edge_present.any()
    hh = Harness(p)
    zone = int(sim.now(sim.exo.ci)[0, C_ZONE])
    a = hh.flat(SRC_EDGE, 0, G_W8A8)
    sim.state.dyn = hh.state()
    res = sim.step(np.array([a]))
    assert not res.invalid[0] and res.source_tier[0] in (2, 3)
    assert res.backhaul_bytes[0] == 2e6 + 8e6
    assert sim.state.edge_present[0, zone * p.n_tasks + 0] == 1.0


def test_promotion_within_one_step_is_billed_at_the_promotion_power(h):
    """dt = 1 s: the whole 0.26 s promotion falls in the first step (see test_reward_terms_by_hand)."""
    radio = h.p.scenario.device.radio
    _, res = h.step(h.state(), h.flat(SRC_CENTRAL, 0, G_W8A8), rate=1e3)  # 125 B/s: receives all step
    assert res.energy_radio_j[0] == pytest.approx(
        0.26 * radio.promotion_power_w + 0.05 * radio.tail_power_w + 0.69 * (1.2 + 0.05 * 1e-3))


def test_promotion_spanning_several_steps_is_billed_at_the_promotion_power(tiny_params):
    """dt = 0.1 s: promotion 0.26 s and the central round trip 0.05 s take the first 3.1 steps."""
    _, p = tiny_params(dt_s=0.1)
    hh = Harness(p)
    radio = p.scenario.device.radio
    s, res = hh.step(hh.state(), hh.flat(SRC_CENTRAL, 0, G_W8A8))
    energy = res.energy_radio_j[0]
    for _ in range(2):
        s, res = hh.step(s, 0)
        energy += res.energy_radio_j[0]
    assert s.dl_active[0] and s.dl_done_bytes[0] == 0.0  # still in its fixed time after 0.3 s
    assert energy == pytest.approx(0.26 * radio.promotion_power_w + 0.04 * radio.tail_power_w)
