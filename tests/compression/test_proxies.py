"""Zero-shot proxies on tiny self-made nets, with values checked against hand computations."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch import nn

from compression.proxies import (
    PROXY_NAMES,
    ProxyError,
    compute_proxies,
    count_macs,
    naswot,
    proxy_correlations,
    proxy_correlations_by_axis,
    synflow_log,
)


def _mlp(seed: int = 0, bias: bool = True) -> nn.Sequential:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 5, bias=bias), nn.ReLU(), nn.Linear(5, 3, bias=bias))


class TinyCNN(nn.Module):
    """conv(1->4, 3x3, pad 1) + BN + ReLU, residual conv(4->4), global pool, linear(4->3)."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4),
                                  nn.ReLU())
        self.block = nn.Sequential(nn.Conv2d(4, 4, 3, padding=1, bias=False), nn.BatchNorm2d(4),
                                   nn.ReLU())
        self.head = nn.Linear(4, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)
        h = h + self.block(h)
        return self.head(h.mean(dim=(2, 3)))


def _batch(n: int = 16, shape: tuple[int, ...] = (6,), seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    return torch.randn((n, *shape), generator=g), torch.randint(0, 3, (n,), generator=g)


def test_all_proxies_finite_and_model_untouched() -> None:
    torch.manual_seed(0)
    model = TinyCNN()
    model.train()
    x, y = _batch(8, (1, 8, 8))
    before = {k: v.clone() for k, v in model.state_dict().items()}
    out = compute_proxies(model, x, y, seed=3)
    assert tuple(out) == PROXY_NAMES
    assert all(isinstance(v, float) and math.isfinite(v) for v in out.values())
    after = model.state_dict()
    for k, v in before.items():
        assert torch.equal(v, after[k]), k
    assert model.training  # mode not changed either
    assert all(p.grad is None for p in model.parameters())


def test_deterministic_for_a_seed() -> None:
    model = TinyCNN()
    x, y = _batch(8, (1, 8, 8))
    assert compute_proxies(model, x, y, seed=0) == compute_proxies(model, x, y, seed=0)


def test_params_and_flops_exact() -> None:
    model = TinyCNN()
    x, y = _batch(4, (1, 8, 8))
    out = compute_proxies(model, x, y)
    # non-zero params: conv 1*4*9 + bn weight 4 (bias is 0 at init) + conv 4*4*9 + bn 4 + linear 15
    assert out["params"] == 36 + 4 + 144 + 4 + 15
    # MACs at batch 1: 64 positions * (4 * 1 * 9) + 64 * (4 * 4 * 9) + 4 * 3
    assert out["flops"] == 64 * 36 + 64 * 144 + 12
    with torch.no_grad():
        model.block[0].weight[0].zero_()  # 36 weights of one output channel
    out2 = compute_proxies(model, x, y)
    assert out2["params"] == out["params"] - 36
    assert out2["flops"] == out["flops"]  # dense MACs do not change


def test_count_macs_conv1d_groups() -> None:
    net = nn.Sequential(nn.Conv1d(4, 8, 5, padding=2, groups=2), nn.Flatten(), nn.Linear(8 * 10, 2))
    assert count_macs(net, torch.zeros(1, 4, 10)) == 10 * 8 * 2 * 5 + 2 * 80


def test_synflow_of_bias_free_two_layer_net_is_twice_the_path_sum() -> None:
    # For a positive bias-free 2-layer net, sum|theta * dR/dtheta| = 2 R with R = 1^T|W2||W1|1.
    model = _mlp(bias=False)
    w1 = model[0].weight.detach().double().abs()
    w2 = model[2].weight.detach().double().abs()
    r = float(torch.ones(3, dtype=torch.float64) @ w2 @ w1 @ torch.ones(6, dtype=torch.float64))
    assert synflow_log(model, torch.zeros(1, 6)) == pytest.approx(math.log(2 * r), rel=1e-12)


def test_naswot_matches_hand_kernel() -> None:
    # identity -> ReLU: the binary code of each sample is (x > 0)
    model = nn.Sequential(nn.ReLU(), nn.Linear(4, 2))
    x = torch.tensor([[1.0, -1.0, 2.0, -3.0], [1.0, 1.0, -2.0, -3.0], [-1.0, 1.0, 2.0, 3.0]])
    c = (x > 0).double().numpy()
    k = c @ c.T + (1 - c) @ (1 - c).T  # [[4,2,1],[2,4,1],[1,1,4]]
    assert k[0, 1] == 2 and k[0, 2] == 1
    assert naswot(model, x) == pytest.approx(math.log(np.linalg.det(k)), rel=1e-12)


def test_naswot_singular_kernel_stays_finite_and_low() -> None:
    model = nn.Sequential(nn.ReLU(), nn.Linear(4, 2))
    x = torch.tensor([[1.0, -1.0, 2.0, -3.0], [1.0, -1.0, 2.0, -3.0], [-1.0, 1.0, 2.0, 3.0]])
    dup = naswot(model, x)
    distinct = naswot(model, torch.tensor([[1.0, -1, 2, -3], [1, 1, -2, -3], [-1, 1, 2, 3]]))
    assert math.isfinite(dup) and dup < distinct


def test_grad_norm_and_snip_match_autograd() -> None:
    model = _mlp()
    x, y = _batch(10)
    ref = _mlp()
    loss = nn.functional.cross_entropy(ref(x), y)
    g1, g2 = torch.autograd.grad(loss, [ref[0].weight, ref[2].weight])
    out = compute_proxies(model, x, y)
    assert out["grad_norm"] == pytest.approx(float(g1.norm() + g2.norm()), rel=1e-6)
    with torch.no_grad():
        snip = (ref[0].weight * g1).abs().sum() + (ref[2].weight * g2).abs().sum()
    assert out["snip"] == pytest.approx(float(snip), rel=1e-6)


def test_bad_inputs_are_named() -> None:
    x, y = _batch(4)
    with pytest.raises(ProxyError, match="at least 2 samples"):
        compute_proxies(_mlp(), x[:1], y[:1])
    with pytest.raises(ProxyError, match="y: expected class indices"):
        compute_proxies(_mlp(), x, y[:2])

    class TwoExits(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.a = _mlp()

        def forward(self, x):
            return [self.a(x), self.a(x)]

    with pytest.raises(ProxyError, match="exit_model"):
        compute_proxies(TwoExits(), x, y)
    with pytest.raises(ProxyError, match="no ReLU-like module"):
        compute_proxies(nn.Sequential(nn.Linear(6, 3)), x, y)


def _variants(accs, proxy_vals, name="p"):
    return [{"accuracy": a, "proxies": {name: p}} for a, p in zip(accs, proxy_vals)]


def test_correlations_known_values() -> None:
    res = proxy_correlations(_variants([0.1, 0.2, 0.3, 0.4], [1, 3, 2, 4]))
    assert res["p"]["kendall_tau"] == pytest.approx(4 / 6)  # 5 concordant, 1 discordant pair
    assert res["p"]["spearman_rho"] == pytest.approx(0.8)  # 1 - 6 * 2 / (4 * 15)
    assert res["p"]["n"] == 4
    rev = proxy_correlations(_variants([0.1, 0.2, 0.3], [3.0, 2.0, 1.0]))["p"]
    assert rev["kendall_tau"] == pytest.approx(-1.0) and rev["spearman_rho"] == pytest.approx(-1.0)


def test_correlations_undefined_are_none_and_missing_skipped() -> None:
    const = proxy_correlations(_variants([0.1, 0.2, 0.3], [5.0, 5.0, 5.0]))["p"]
    assert const == {"kendall_tau": None, "spearman_rho": None, "n": 3}
    vs = _variants([0.1, 0.2, 0.3, 0.9], [1.0, 2.0, 3.0, None])
    res = proxy_correlations(vs)["p"]
    assert res["n"] == 3 and res["kendall_tau"] == pytest.approx(1.0)


def test_correlations_by_axis() -> None:
    # within each bit group the proxy ranks perfectly; across bits accuracy falls but proxy not
    vs = []
    for bits, drop in ((32, 0.0), (4, 0.3)):
        for depth, acc in ((1, 0.5), (2, 0.6), (3, 0.7)):
            vs.append({"depth": depth, "prune": {"kind": "none", "fraction": 0.0}, "bits": bits,
                       "accuracy": acc - drop, "proxies": {"params": float(depth)}})
    by_bits = proxy_correlations_by_axis(vs, ("bits",))
    assert [g["key"] for g in by_bits["groups"]] == [{"bits": 4}, {"bits": 32}]
    assert by_bits["mean"]["params"]["kendall_tau"] == pytest.approx(1.0)
    assert by_bits["mean"]["params"]["n_groups"] == 2
    by_arch = proxy_correlations_by_axis(vs, ("depth", "prune"))
    assert len(by_arch["groups"]) == 3
    # params is constant across bit widths: it cannot rank them, correlation undefined
    assert by_arch["mean"]["params"] == {"kendall_tau": None, "spearman_rho": None, "n_groups": 0}
    assert proxy_correlations(vs)["params"]["kendall_tau"] < 1.0


def test_on_a_multi_exit_network_exit() -> None:
    # the interface the measured build uses: one exit of a multi-exit net, BatchNorm folded
    from compression.measure import count_macs as measure_macs
    from compression.models import MultiExitNet, NetConfig, exit_model, fold_batchnorm

    torch.manual_seed(0)
    net = MultiExitNet(NetConfig(1, 4, (4, 6), (1, 2), 4, 1, 2, 3))
    x, y = torch.randn(8, 1, 8, 8), torch.randint(0, 4, (8,))
    scores = []
    for depth in (1, 2):
        em = fold_batchnorm(exit_model(net, depth))
        out = compute_proxies(em, x, y)
        assert all(math.isfinite(v) for v in out.values())
        assert out["flops"] == measure_macs(em, (1, 8, 8))[0]
        scores.append(out)
    assert scores[1]["params"] > scores[0]["params"] and scores[1]["flops"] > scores[0]["flops"]
