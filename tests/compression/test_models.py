"""Multi-exit networks: exit shapes, exit_model, BatchNorm folding."""

from __future__ import annotations

import pytest
import torch

from compression.models import ExitModel, MultiExitNet, NetConfig, exit_model, fold_batchnorm

torch.set_num_threads(1)


def _trained_like(cfg: NetConfig, shape: tuple[int, ...]) -> MultiExitNet:
    torch.manual_seed(0)
    m = MultiExitNet(cfg)
    m.train()
    with torch.no_grad():
        for _ in range(3):
            m(torch.randn(8, *shape))
    return m.eval()


@pytest.mark.parametrize(
    "cfg,shape",
    [
        (NetConfig(1, 5, (4, 6, 8), (1, 2, 1), 4, 1, 2, 3), (1, 8, 8)),
        (NetConfig(3, 4, (4, 6, 8, 8), (2, 2, 1, 1), 4, 2, 1, 5), (3, 32)),
    ],
)
def test_each_exit_shape_and_exit_model_equals_multi_exit_output(cfg, shape):
    m = _trained_like(cfg, shape)
    x = torch.randn(7, *shape)
    with torch.no_grad():
        outs = m(x)
        assert isinstance(outs, list) and len(outs) == len(cfg.widths) == m.n_exits
        for d, o in enumerate(outs, start=1):
            assert o.shape == (7, cfg.n_classes)
            em = exit_model(m, d)
            assert isinstance(em, ExitModel)
            assert torch.equal(em(x), o)
            assert len(em.blocks) == d


def test_exit_model_rejects_bad_depth():
    m = MultiExitNet(NetConfig(1, 3, (4, 4), (1, 1), 4))
    for bad in (0, 3, 1.0):
        with pytest.raises(ValueError, match="depth must be an int in 1..2"):
            exit_model(m, bad)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="MultiExitNet"):
        exit_model(torch.nn.Linear(2, 2), 1)  # type: ignore[arg-type]


def test_fold_batchnorm_preserves_outputs_and_removes_bn():
    cfg = NetConfig(1, 3, (4, 6), (1, 2), 4, 1, 2, 3)
    m = _trained_like(cfg, (1, 8, 8))
    f = fold_batchnorm(m)
    assert not any(isinstance(mod, torch.nn.modules.batchnorm._BatchNorm) for mod in f.modules())
    x = torch.randn(4, 1, 8, 8)
    with torch.no_grad():
        for a, b in zip(m(x), f(x)):
            assert torch.allclose(a, b, atol=1e-5)
    # the source model is untouched
    assert any(isinstance(mod, torch.nn.BatchNorm2d) for mod in m.modules())


def test_config_validation_names_the_field():
    with pytest.raises(ValueError, match="widths"):
        NetConfig(1, 3, (4, 4), (1,), 4)
    with pytest.raises(ValueError, match="dim"):
        NetConfig(1, 3, (4,), (1,), 4, dim=3)
    with pytest.raises(ValueError, match="n_classes"):
        NetConfig(1, 1, (4,), (1,), 4)
