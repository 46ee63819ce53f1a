"""Parameter-level compression: structured channel pruning and unstructured magnitude pruning."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from compression.measure import count_macs, count_params
from compression.models import MultiExitNet, NetConfig, ResBlock
from compression.prune import magnitude_prune, sparsity, structured_prune
from compression.training import TrainConfig, train

torch.set_num_threads(1)


class _OneBlock(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.block = ResBlock(2, 8, 2, stride=1, dim=2, kernel_size=3)

    def forward(self, x):
        return self.block(x)


def test_structured_pruning_lowers_macs_exactly_as_by_hand():
    torch.manual_seed(0)
    net = _OneBlock().eval()
    # input 2 x 5 x 5, padding 1, stride 1 -> 25 output positions per conv
    # conv1: 25 * (8 out * 2 in * 9) = 3600 ; conv2: 25 * (2 out * 8 in * 9) = 3600 -> 7200
    assert count_macs(net, (2, 5, 5)) == (7200, 7200)
    half = structured_prune(net, 0.5)  # 4 inner channels kept
    assert half.block.mid_channels == 4
    assert count_macs(half, (2, 5, 5)) == (3600, 3600)
    quarter = structured_prune(net, 0.75)  # round(8 * 0.25) = 2 channels kept
    assert count_macs(quarter, (2, 5, 5)) == (1800, 1800)
    # params: conv1 8*2*9 + bn 2*8 + conv2 2*8*9 + bn 2*2 = 144 + 16 + 144 + 4 = 308
    assert count_params(net) == 308
    assert count_params(half) == 72 + 8 + 72 + 4


def test_structured_pruning_keeps_highest_bn_scale_channels():
    torch.manual_seed(0)
    net = _OneBlock().eval()
    with torch.no_grad():
        net.block.bn1.weight.copy_(torch.tensor([0.1, 5, 0.1, 4, 0.1, 3, 0.1, 2.0]))
        net.block.conv1.weight.fill_(1.0)
    p = structured_prune(net, 0.5)
    assert p.block.bn1.weight.tolist() == [5.0, 4.0, 3.0, 2.0]
    # pruning the channels with tiny gamma changes the output little
    x = torch.randn(3, 2, 5, 5)
    with torch.no_grad():
        assert float((p(x) - net(x)).abs().max()) < float(net(x).abs().max())


def test_structured_pruning_requires_our_block():
    with pytest.raises(ValueError, match="no compression.models.ResBlock"):
        structured_prune(nn.Sequential(nn.Linear(3, 4)), 0.5)
    with pytest.raises(ValueError, match="fraction"):
        structured_prune(_OneBlock(), 1.0)


def test_magnitude_pruning_exact_fraction_and_masks_survive_finetuning():
    torch.manual_seed(0)
    net = MultiExitNet(NetConfig(1, 3, (4, 6), (1, 2), 4, 1, 2, 3))
    masks = magnitude_prune(net, 0.5)
    total = sum(int(m.numel()) for m in masks.values())
    assert sum(int((m == 0).sum()) for m in masks.values()) == round(0.5 * total)
    assert sparsity(net) == pytest.approx(0.5, abs=1e-3)
    x = torch.randn(40, 1, 8, 8)
    y = torch.randint(0, 3, (40,))
    train(net, x, y, TrainConfig(epochs=2, batch_size=8, lr=1e-2), masks=masks)
    params = dict(net.named_parameters())
    for name, m in masks.items():
        assert bool((params[name][m == 0] == 0).all()), name
    assert sparsity(net) >= 0.5 - 1e-3


def test_structured_pruned_multi_exit_net_still_runs_and_trains():
    torch.manual_seed(0)
    net = MultiExitNet(NetConfig(1, 3, (4, 6), (1, 2), 4, 1, 2, 3))
    p = structured_prune(net, 0.75)
    assert [b.mid_channels for b in p.blocks] == [1, 2]
    out = p(torch.randn(2, 1, 8, 8))
    assert [o.shape for o in out] == [(2, 3), (2, 3)]
    assert [b.mid_channels for b in net.blocks] == [4, 6]  # source untouched
