"""Fast paths of the batched core: time-major chunk buffers, flat gathers, the Markov-chain loop."""

from __future__ import annotations

import numpy as np
import pytest
from insitu_test_helpers import markov_chain_reference

from envs.adapter import make_params
from envs.sim import BatchSim
from envs.sim.exogenous import _markov_chain


def _sim(b: int = 37) -> BatchSim:
    _, params = make_params("urban_smartphone")
    sim = BatchSim(params, b)
    sim.reset_rows(np.arange(b), [np.random.default_rng(i) for i in range(b)])
    return sim


def test_chunk_buffers_are_time_major_views():
    sim = _sim()
    b, t = sim.B, sim.T
    for buf in (sim.exo.f, sim.exo.ci, sim.exo.obs):
        assert buf.shape[:2] == (b, t)
        assert buf.transpose(1, 0, 2).flags.c_contiguous  # memory [T, B, F]


def test_now_equals_two_array_indexing_at_mixed_steps():
    sim = _sim()
    sim.state.k[:] = np.random.default_rng(1).integers(0, sim.T, sim.B)
    for buf in (sim.exo.f, sim.exo.ci, sim.exo.obs):
        assert np.array_equal(sim.now(buf), buf[sim.ar, sim.state.k])
    row_major = np.ascontiguousarray(sim.exo.f)  # the other layout is read correctly too
    assert np.array_equal(sim.now(row_major), row_major[sim.ar, sim.state.k])


def test_edge_has_equals_indexing_own_and_shared_cache():
    sim = _sim()
    rng = np.random.default_rng(2)
    sim.state.edge_present[:] = rng.integers(0, 2, sim.state.edge_present.shape)
    zt = rng.integers(0, sim.zk, sim.B)
    assert np.array_equal(sim.edge_has(zt), sim.state.edge_present[sim.ar, zt])
    shared = rng.integers(0, 2, sim.zk).astype(float)
    sim.state.edge_present = np.lib.stride_tricks.as_strided(shared, (sim.B, sim.zk), (0, shared.strides[0]))
    assert np.array_equal(sim.edge_has(zt), shared[zt])


@pytest.mark.parametrize("sorted_rows", [True, False])
def test_markov_chain_equals_step_by_step_both_branches(sorted_rows):
    """Both counting branches (bisect on sorted CDF rows, explicit count otherwise)."""
    rng = np.random.default_rng(3)
    k = 4
    cum = np.cumsum(rng.random((2, k, k)), -1)
    cum /= cum[:, :, -1:]
    if not sorted_rows:
        cum[0, 1] = [0.5, 0.2, 0.9, 1.0]  # not a CDF: the general branch must count entries <= u
    nb, n = 9, 120
    u = rng.random((nb, n))
    which = rng.integers(0, 2, (nb, n))
    s0 = rng.integers(0, k, nb)
    ref = markov_chain_reference(u, cum, which, s0)
    assert np.array_equal(_markov_chain(u, cum, which, s0), ref)


def test_markov_chain_no_candidate_steps_keeps_start_state():
    cum = np.array([[[1.0 + 1e-12, 1.0 + 1e-12], [0.0, 1.0 + 1e-12]]])  # 0 stays 0, 1 stays 1
    u = np.random.default_rng(4).random((3, 50))
    s0 = np.array([0, 1, 0])
    out = _markov_chain(u, cum, np.zeros((3, 50), dtype=np.int64), s0)
    assert np.array_equal(out, np.repeat(s0[:, None], 50, axis=1))


@pytest.mark.parametrize("means", [[0.0, 0.3, 2.0, 7.5, 40.0], [3.0, 12.0], [0.001, 100.0]])
def test_binned_poisson_icdf_equals_search(means):
    """The bin look-up gives exactly the searched counts, also at CDF values and bin edges."""
    from envs.sim.exogenous import (
        ICDF_BINS,
        _icdf_bins,
        _poisson_cdf_table,
        _poisson_icdf,
        _poisson_icdf_binned,
    )

    rng = np.random.default_rng(5)
    table = _poisson_cdf_table(np.array(means))
    cdf = table[table < 1.5]
    edges = np.arange(ICDF_BINS) / ICDF_BINS
    u = np.concatenate([rng.random(20_000), cdf, np.nextafter(cdf, 0.0), np.nextafter(cdf, 1.0), edges,
                        np.nextafter(edges[1:], 0.0)])
    u = u[(u >= 0.0) & (u < 1.0)]
    which = rng.integers(0, len(means), u.shape)
    ref = _poisson_icdf(u, table, which)
    got = _poisson_icdf_binned(u, table, _icdf_bins(table), which)
    assert got.dtype == ref.dtype and np.array_equal(got, ref)
