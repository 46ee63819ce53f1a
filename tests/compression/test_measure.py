"""Measurements on tiny nets with hand-computed values: MACs, params, peak memory, latency."""

from __future__ import annotations

import torch
from torch import nn

from compression.measure import (
    count_macs,
    count_params,
    measure_latencies,
    peak_activation_bytes,
)
from compression.models import MultiExitNet, NetConfig, exit_model, fold_batchnorm

torch.set_num_threads(1)


def _tiny() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 2, 3, padding=1), nn.ReLU(), nn.Flatten(), nn.Linear(32, 3))


def test_macs_and_nonzero_macs_by_hand():
    net = _tiny()
    # conv: 16 positions * 2 out * 9 = 288 ; linear 32 * 3 = 96
    assert count_macs(net, (1, 4, 4)) == (384, 384)
    with torch.no_grad():
        net[0].weight[0].zero_()  # 9 zero weights -> 16 * 9 = 144 fewer non-zero MACs
        net[3].weight[:, :10] = 0  # 30 zero weights -> 30 fewer
    assert count_macs(net, (1, 4, 4)) == (384, 384 - 144 - 30)


def test_params_by_hand():
    net = _tiny()
    assert count_params(net) == 2 * 9 + 2 + 32 * 3 + 3
    with torch.no_grad():
        net[3].bias.zero_()
    assert count_params(net, nonzero=True) == 2 * 9 + 2 + 32 * 3


def test_peak_activation_memory_by_hand():
    # batch 1 float32: input 16 floats (64 B), conv out 32 (128 B), relu out 32 (128 B),
    # flatten = view of relu out, linear out 3 (12 B).
    # step conv: input + conv out = 192 ; relu: conv out + relu out = 256 ; linear: 128 + 12
    assert peak_activation_bytes(_tiny(), (1, 4, 4)) == 256


def test_peak_memory_counts_the_residual_input():
    cfg = NetConfig(1, 2, (2,), (1,), 2, 1, 2, 3)
    net = fold_batchnorm(MultiExitNet(cfg).eval())
    # 1 x 4 x 4 input: each 2-channel map = 32 floats = 128 B.
    # at the residual add: conv2 out (h) + skip input + add output = 3 * 128 = 384 B
    assert peak_activation_bytes(exit_model(net, 1), (1, 4, 4)) == 384


def test_multi_exit_macs_and_exit_macs_grow_with_depth():
    cfg = NetConfig(1, 3, (4, 4, 4), (1, 1, 1), 4, 1, 2, 3)
    net = fold_batchnorm(MultiExitNet(cfg).eval())
    macs = [count_macs(exit_model(net, d), (1, 6, 6))[0] for d in (1, 2, 3)]
    # stem 36*4*9 = 1296; each block 2 * 36 * 4*4*9 = 10368; head 4*3 = 12
    assert macs == [1296 + 10368 + 12, 1296 + 2 * 10368 + 12, 1296 + 3 * 10368 + 12]


def test_latency_is_positive_and_bigger_model_slower():
    small = nn.Linear(8, 8)
    big = nn.Sequential(*[nn.Linear(256, 256) for _ in range(8)], nn.Linear(256, 8))
    lat = measure_latencies({"small": small, "big": nn.Sequential(nn.Linear(8, 256), big)}, (8,), 5, 5)
    assert 0 < lat["small"] < lat["big"]
