"""Multi-exit residual networks (2-D CNN for images/spectrograms, 1-D CNN for signals).

Layout of :class:`MultiExitNet`::

    x -> stem (conv-BN-ReLU) -> block 1 -> block 2 -> ... -> block K
                                  |          |                 |
                                head 1     head 2     ...    head K     (global pool + linear)

``forward(x)`` returns the list of the K exits' logits. :func:`exit_model` cuts the network after
block ``depth`` (the depth level of compression). Every operation is a leaf ``nn.Module`` (ReLU,
the residual :class:`Add`, pooling, flatten), so forward hooks see the whole computation; this is
what :mod:`compression.measure` relies on for MACs and peak activation memory.

Structured pruning (:mod:`compression.prune`) changes ``mid_channels`` of a :class:`ResBlock`: the
channels between the block's two convolutions. :func:`fold_batchnorm` folds every BatchNorm into
the convolution before it (the final, deployable form of every variant).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import torch
from torch import nn


class Add(nn.Module):
    """Element-wise sum of two tensors (the residual join), a module so hooks can see it."""

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Return ``a + b``."""
        return a + b


def _conv(dim: int) -> type[nn.Module]:
    return nn.Conv1d if dim == 1 else nn.Conv2d


def _bn(dim: int) -> type[nn.Module]:
    return nn.BatchNorm1d if dim == 1 else nn.BatchNorm2d


class ResBlock(nn.Module):
    """Residual block ``relu(bn2(conv2(relu(bn1(conv1(x))))) + skip(x))``.

    Args:
        in_channels: channels of the block input.
        mid_channels: channels between conv1 and conv2 (what structured pruning removes).
        out_channels: channels of the block output.
        stride: stride of conv1 (and of the 1x1 projection on the skip path when needed).
        dim: 1 for signals (Conv1d), 2 for images (Conv2d).
        kernel_size: kernel of both convolutions.
    """

    def __init__(
        self,
        in_channels: int,
        mid_channels: int,
        out_channels: int,
        stride: int = 1,
        dim: int = 2,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        if dim not in (1, 2):
            raise ValueError(f"ResBlock: dim must be 1 or 2, got {dim!r}")
        if min(in_channels, mid_channels, out_channels) < 1:
            raise ValueError(
                f"ResBlock: channels must be >= 1, got in={in_channels}, mid={mid_channels}, "
                f"out={out_channels}"
            )
        conv, bn = _conv(dim), _bn(dim)
        pad = kernel_size // 2
        self.dim = dim
        self.conv1 = conv(in_channels, mid_channels, kernel_size, stride, pad, bias=False)
        self.bn1: nn.Module = bn(mid_channels)
        self.relu1 = nn.ReLU()
        self.conv2 = conv(mid_channels, out_channels, kernel_size, 1, pad, bias=False)
        self.bn2: nn.Module = bn(out_channels)
        if stride != 1 or in_channels != out_channels:
            self.skip: nn.Module = nn.Sequential(
                conv(in_channels, out_channels, 1, stride, 0, bias=False), bn(out_channels)
            )
        else:
            self.skip = nn.Identity()
        self.add = Add()
        self.relu2 = nn.ReLU()

    @property
    def mid_channels(self) -> int:
        """Channels between the two convolutions."""
        return self.conv1.out_channels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the block."""
        h = self.relu1(self.bn1(self.conv1(x)))
        h = self.bn2(self.conv2(h))
        return self.relu2(self.add(h, self.skip(x)))


class ExitHead(nn.Module):
    """Exit classifier: global average pooling, flatten, linear."""

    def __init__(self, in_channels: int, n_classes: int, dim: int = 2) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool1d(1) if dim == 1 else nn.AdaptiveAvgPool2d(1)
        self.flatten = nn.Flatten()
        self.fc = nn.Linear(in_channels, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits."""
        return self.fc(self.flatten(self.pool(x)))


@dataclass(frozen=True)
class NetConfig:
    """Architecture of a :class:`MultiExitNet`.

    Attributes:
        in_channels: input channels (1 for grey images/spectrograms, 3 for a 3-axis signal).
        n_classes: number of classes.
        widths: output channels of each block (K = len(widths) blocks).
        strides: stride of each block.
        stem_channels: channels of the stem convolution.
        stem_stride: stride of the stem convolution.
        dim: 1 (signals) or 2 (images).
        kernel_size: kernel size of the block convolutions (stem uses the same).
    """

    in_channels: int
    n_classes: int
    widths: tuple[int, ...]
    strides: tuple[int, ...]
    stem_channels: int
    stem_stride: int = 1
    dim: int = 2
    kernel_size: int = 3

    def __post_init__(self) -> None:
        if len(self.widths) != len(self.strides) or not self.widths:
            raise ValueError(
                f"NetConfig: widths {self.widths} and strides {self.strides} must be non-empty "
                "and of equal length"
            )
        if self.dim not in (1, 2):
            raise ValueError(f"NetConfig.dim: must be 1 or 2, got {self.dim!r}")
        if self.n_classes < 2:
            raise ValueError(f"NetConfig.n_classes: must be >= 2, got {self.n_classes}")


class MultiExitNet(nn.Module):
    """Residual network with a classifier after every block; ``forward`` returns a list of logits.

    Args:
        config: the architecture.
    """

    def __init__(self, config: NetConfig) -> None:
        super().__init__()
        self.config = config
        conv, bn = _conv(config.dim), _bn(config.dim)
        k = config.kernel_size
        self.stem = nn.Sequential(
            conv(config.in_channels, config.stem_channels, k, config.stem_stride, k // 2, bias=False),
            bn(config.stem_channels),
            nn.ReLU(),
        )
        blocks, heads = [], []
        c_in = config.stem_channels
        for width, stride in zip(config.widths, config.strides):
            blocks.append(ResBlock(c_in, width, width, stride, config.dim, k))
            heads.append(ExitHead(width, config.n_classes, config.dim))
            c_in = width
        self.blocks = nn.ModuleList(blocks)
        self.heads = nn.ModuleList(heads)

    @property
    def n_exits(self) -> int:
        """Number of exits K."""
        return len(self.blocks)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        """Return the logits of every exit, shallowest first."""
        h = self.stem(x)
        outs = []
        for block, head in zip(self.blocks, self.heads):
            h = block(h)
            outs.append(head(h))
        return outs


class ExitModel(nn.Module):
    """A multi-exit network cut after block ``depth``: stem, blocks 1..depth, head ``depth``.

    The modules are shared with the source network (no copy): it is a view used for measuring,
    encoding and running one exit. Use ``copy.deepcopy`` for an independent model.
    """

    def __init__(self, stem: nn.Module, blocks: list[nn.Module], head: nn.Module) -> None:
        super().__init__()
        self.stem = stem
        self.blocks = nn.ModuleList(blocks)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits of this exit."""
        h = self.stem(x)
        for block in self.blocks:
            h = block(h)
        return self.head(h)


def exit_model(model: MultiExitNet, depth: int) -> ExitModel:
    """The plain single-output model of exit ``depth`` (1-based: blocks 1..depth + head ``depth``).

    Raises:
        ValueError: when ``depth`` is not in ``1..model.n_exits``.
    """
    if not isinstance(model, MultiExitNet):
        raise TypeError(f"exit_model: model must be a MultiExitNet, got {type(model).__name__}")
    if not isinstance(depth, int) or not 1 <= depth <= model.n_exits:
        raise ValueError(f"exit_model: depth must be an int in 1..{model.n_exits}, got {depth!r}")
    return ExitModel(model.stem, list(model.blocks[:depth]), model.heads[depth - 1])


def _fold_pair(conv: nn.Module, bn: nn.Module) -> nn.Module:
    """Return a conv with ``bn`` folded in (a new module with bias)."""
    assert isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d))
    std = torch.sqrt(bn.running_var + bn.eps)
    gamma = bn.weight.detach() if bn.affine else torch.ones_like(std)
    beta = bn.bias.detach() if bn.affine else torch.zeros_like(std)
    factor = gamma / std
    new = type(conv)(
        conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, conv.padding,
        conv.dilation, conv.groups, bias=True,
    )
    shape = (-1,) + (1,) * (conv.weight.dim() - 1)
    with torch.no_grad():
        new.weight.copy_(conv.weight.detach() * factor.reshape(shape))
        b0 = conv.bias.detach() if conv.bias is not None else torch.zeros_like(std)
        new.bias.copy_((b0 - bn.running_mean) * factor + beta)
    return new


def fold_batchnorm(model: nn.Module) -> nn.Module:
    """A copy of ``model`` (a MultiExitNet or ExitModel) with every BatchNorm folded into its conv.

    The BatchNorm modules become ``nn.Identity``; the copy is in eval mode. Zeros of the conv
    weights stay zeros (folding scales each output channel), so unstructured sparsity survives.
    """
    model = copy.deepcopy(model).eval()
    for module in model.modules():
        if isinstance(module, ResBlock):
            module.conv1 = _fold_pair(module.conv1, module.bn1)
            module.bn1 = nn.Identity()
            module.conv2 = _fold_pair(module.conv2, module.bn2)
            module.bn2 = nn.Identity()
            if isinstance(module.skip, nn.Sequential):
                module.skip = nn.Sequential(_fold_pair(module.skip[0], module.skip[1]), nn.Identity())
    stem = getattr(model, "stem", None)
    if isinstance(stem, nn.Sequential) and isinstance(stem[1], (nn.BatchNorm1d, nn.BatchNorm2d)):
        model.stem = nn.Sequential(_fold_pair(stem[0], stem[1]), nn.Identity(), stem[2])
    return model
