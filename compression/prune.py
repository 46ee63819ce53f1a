"""Parameter-level compression: structured channel pruning and unstructured magnitude pruning.

* :func:`structured_prune` removes the inner channels of every :class:`~compression.models.ResBlock`
  (the channels between conv1 and conv2). Channels are ranked by the absolute BatchNorm scale
  ``|gamma|`` of bn1 times the L1 norm of their conv1 filter (network-slimming criterion; with BN
  after conv1 the filter norm alone is scale-free, so ``|gamma|`` carries the channel's weight).
  The pruned conv1/bn1/conv2 are *smaller tensors*, so MACs, parameters and latency really fall.
  The block's input/output channels (and hence the residual path) are untouched.
* :func:`magnitude_prune` zeroes the smallest-magnitude weights globally over every Conv/Linear
  weight and returns the 0/1 masks; fine-tuning keeps the masks fixed
  (:func:`compression.training.train` with ``masks``). The size falls through the sparse encoding
  of :mod:`compression.quantize` (bitmask + non-zero values).
"""

from __future__ import annotations

import copy

import torch
from torch import nn

from compression.models import ResBlock

PRUNABLE = (nn.Conv1d, nn.Conv2d, nn.Linear)


def _keep_count(n: int, fraction: float) -> int:
    return max(1, int(round(n * (1.0 - fraction))))


def _check_fraction(fraction: float, name: str) -> None:
    if not isinstance(fraction, (int, float)) or not 0.0 <= fraction < 1.0:
        raise ValueError(f"{name}: fraction must be a number in [0, 1), got {fraction!r}")


def channel_scores(block: ResBlock) -> torch.Tensor:
    """Importance of each inner channel of ``block``: ``|bn1.gamma| * L1(conv1 filter)``."""
    w = block.conv1.weight.detach()
    l1 = w.abs().reshape(w.shape[0], -1).sum(1)
    bn = block.bn1
    if isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)) and bn.affine:
        return bn.weight.detach().abs() * l1
    return l1


def prune_block_channels(block: ResBlock, keep: torch.Tensor) -> None:
    """Keep only the inner channels ``keep`` (sorted indices) of ``block``, in place."""
    keep = torch.sort(keep).values
    old1, old2, bn = block.conv1, block.conv2, block.bn1
    conv1 = type(old1)(
        old1.in_channels, len(keep), old1.kernel_size, old1.stride, old1.padding, bias=old1.bias is not None
    )
    conv2 = type(old2)(
        len(keep), old2.out_channels, old2.kernel_size, old2.stride, old2.padding, bias=old2.bias is not None
    )
    with torch.no_grad():
        conv1.weight.copy_(old1.weight[keep])
        if old1.bias is not None:
            conv1.bias.copy_(old1.bias[keep])
        conv2.weight.copy_(old2.weight[:, keep])
        if old2.bias is not None:
            conv2.bias.copy_(old2.bias)
    block.conv1, block.conv2 = conv1, conv2
    if isinstance(bn, (nn.BatchNorm1d, nn.BatchNorm2d)):
        new_bn = type(bn)(len(keep), eps=bn.eps, momentum=bn.momentum, affine=bn.affine)
        with torch.no_grad():
            if bn.affine:
                new_bn.weight.copy_(bn.weight[keep])
                new_bn.bias.copy_(bn.bias[keep])
            new_bn.running_mean.copy_(bn.running_mean[keep])
            new_bn.running_var.copy_(bn.running_var[keep])
            new_bn.num_batches_tracked.copy_(bn.num_batches_tracked)
        block.bn1 = new_bn


def structured_prune(model: nn.Module, fraction: float) -> nn.Module:
    """A copy of ``model`` with ``fraction`` of every ResBlock's inner channels removed.

    Each block keeps ``max(1, round(mid * (1 - fraction)))`` channels, the highest-scoring by
    :func:`channel_scores`.

    Raises:
        ValueError: for a fraction outside [0, 1) or a model with no ResBlock (structured pruning
            is only defined for our block type; see :mod:`compression.usermodel`).
    """
    _check_fraction(fraction, "structured_prune")
    model = copy.deepcopy(model)
    blocks = [m for m in model.modules() if isinstance(m, ResBlock)]
    if not blocks:
        raise ValueError(
            f"structured_prune: model {type(model).__name__} has no compression.models.ResBlock; "
            "structured pruning supports only our residual blocks (use unstructured pruning)"
        )
    for block in blocks:
        n = block.mid_channels
        keep = torch.topk(channel_scores(block), _keep_count(n, fraction)).indices
        prune_block_channels(block, keep)
    return model


def prunable_weights(model: nn.Module) -> dict[str, nn.Parameter]:
    """Name -> weight of every Conv1d/Conv2d/Linear layer (what unstructured pruning may zero)."""
    out = {}
    for mname, module in model.named_modules():
        if isinstance(module, PRUNABLE):
            out[f"{mname}.weight" if mname else "weight"] = module.weight
    return out


def magnitude_prune(model: nn.Module, fraction: float) -> dict[str, torch.Tensor]:
    """Zero the ``fraction`` smallest-|w| weights globally over all Conv/Linear weights, in place.

    Returns:
        name -> float 0/1 mask of each prunable weight (ones where the weight is kept).

    Raises:
        ValueError: for a fraction outside [0, 1) or a model without Conv/Linear layers.
    """
    _check_fraction(fraction, "magnitude_prune")
    weights = prunable_weights(model)
    if not weights:
        raise ValueError(
            f"magnitude_prune: model {type(model).__name__} has no Conv1d/Conv2d/Linear layer to prune"
        )
    flat = torch.cat([w.detach().abs().flatten() for w in weights.values()])
    n_prune = int(round(fraction * flat.numel()))
    masks = {}
    if n_prune == 0:
        return {name: torch.ones_like(w) for name, w in weights.items()}
    # exact count: rank all magnitudes (ties broken by position) and drop the n_prune smallest
    order = torch.argsort(flat, stable=True)
    keep_flat = torch.ones_like(flat)
    keep_flat[order[:n_prune]] = 0.0
    offset = 0
    with torch.no_grad():
        for name, w in weights.items():
            m = keep_flat[offset:offset + w.numel()].reshape(w.shape)
            offset += w.numel()
            w.mul_(m)
            masks[name] = m
    return masks


def sparsity(model: nn.Module) -> float:
    """Fraction of zeros over all Conv/Linear weights."""
    weights = prunable_weights(model)
    total = sum(w.numel() for w in weights.values())
    zeros = sum(int((w == 0).sum()) for w in weights.values())
    return zeros / total if total else 0.0
