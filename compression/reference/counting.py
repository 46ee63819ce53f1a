"""Exact counts of the reference architectures: parameters, MACs, deployable tensors.

:func:`count` runs one forward pass with hooks (on the ``meta`` device: shapes only) and returns
an :class:`ArchStats`: the model-card parameter count, the MACs of Conv/Linear layers plus ViT's
attention products, the tensors of the BatchNorm-folded model the encoder would see, and a lower
bound of the activation memory. :func:`nonzero_counts` applies uniform magnitude sparsity to those
counts; :func:`measure_cpu_macs_per_s` measures the single-thread throughput for derived latency.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from compression.reference.architectures import INPUT_SHAPE, SelfAttention, build


@dataclass(frozen=True)
class Tensor:
    """One tensor of the deployable (BatchNorm-folded) model's state dict, by shape only.

    Attributes:
        name: state-dict key (a folded conv gets ``<conv>.bias`` from its BatchNorm).
        shape: tensor shape.
        prunable: True for Conv/Linear weights (the tensors unstructured pruning sparsifies).
    """

    name: str
    shape: tuple[int, ...]
    prunable: bool

    @property
    def numel(self) -> int:
        """Number of values."""
        return math.prod(self.shape)


@dataclass(frozen=True)
class ArchStats:
    """Exact counts of one (depth, keep) architecture variant.

    Attributes:
        params: parameters of the network as defined (BatchNorm included), the model-card count.
        macs: multiply-accumulates of one 224x224 image (conv, linear and attention products).
        weight_macs: the part of ``macs`` done by Conv/Linear weights (what sparsity can skip).
        tensors: the deployable tensors after folding BatchNorm into the convolutions.
        peak_activation_values: the largest ``input + output`` values of one leaf module (a lower
            bound of the activation memory a layer-by-layer runtime needs).
    """

    params: int
    macs: int
    weight_macs: int
    tensors: tuple[Tensor, ...]
    peak_activation_values: int

    @property
    def prunable_weights(self) -> int:
        """Values in the Conv/Linear weights (what unstructured pruning sparsifies)."""
        return sum(t.numel for t in self.tensors if t.prunable)


def count(model: nn.Module, input_shape: Sequence[int] = INPUT_SHAPE) -> ArchStats:
    """Exact parameters, MACs and deployable tensors of ``model`` (built on any device).

    The forward pass runs on the model's device; on ``meta`` it computes shapes only.
    """
    device = next(model.parameters()).device
    macs = 0
    peak = 0

    def mac_hook(mod: nn.Module, _inp: Any, out: torch.Tensor) -> None:
        nonlocal macs
        if isinstance(mod, nn.Linear):
            macs += out.numel() * mod.in_features
        else:
            macs += out.numel() * (mod.in_channels // mod.groups) * math.prod(mod.kernel_size)

    def mem_hook(mod: nn.Module, inp: Any, out: Any) -> None:
        nonlocal peak
        sizes = [t.numel() for t in inp if isinstance(t, torch.Tensor)]
        if isinstance(out, torch.Tensor):
            sizes.append(out.numel())
        peak = max(peak, sum(sizes))

    handles = []
    for m in model.modules():
        if isinstance(m, (nn.Conv2d, nn.Linear)):
            handles.append(m.register_forward_hook(mac_hook))
        if not list(m.children()):
            handles.append(m.register_forward_hook(mem_hook))
    try:
        with torch.no_grad():
            model(torch.zeros(tuple(input_shape), device=device))
    finally:
        for h in handles:
            h.remove()
    weight_macs = macs
    for m in model.modules():
        if isinstance(m, SelfAttention):
            macs += m.attn_macs

    return ArchStats(
        int(sum(p.numel() for p in model.parameters())), int(macs), int(weight_macs),
        deployable_tensors(model),
        int(peak),
    )


def deployable_tensors(model: nn.Module) -> tuple[Tensor, ...]:
    """The state dict of ``model`` after folding every BatchNorm into the conv before it.

    In these architectures every bias-free convolution is followed by a BatchNorm, which folds
    into a per-output-channel bias of that convolution (as ``compression.models.fold_batchnorm``
    does for the measured networks); BatchNorm parameters and buffers disappear.
    """
    tensors: list[Tensor] = []
    for mname, m in model.named_modules():
        if isinstance(m, nn.BatchNorm2d):
            continue
        for pname, p in m.named_parameters(recurse=False):
            name = f"{mname}.{pname}" if mname else pname
            prunable = isinstance(m, (nn.Conv2d, nn.Linear)) and pname == "weight"
            tensors.append(Tensor(name, tuple(p.shape), prunable))
            if isinstance(m, nn.Conv2d) and pname == "weight" and m.bias is None:
                tensors.append(Tensor(f"{mname}.bias", (m.out_channels,), False))
    return tuple(tensors)


def nonzero_values(t: Tensor, sparsity: float) -> int:
    """Values of ``t`` left non-zero when a fraction ``sparsity`` of every Conv/Linear weight is
    pruned (rounded per tensor; other tensors keep all their values)."""
    if not t.prunable or sparsity == 0.0:
        return t.numel
    return t.numel - int(round(t.numel * sparsity))


def nonzero_counts(stats: ArchStats, sparsity: float) -> tuple[int, int]:
    """(non-zero parameters, non-zero MACs) after magnitude sparsity ``sparsity`` in every weight
    tensor (vectors and BatchNorm untouched; weight MACs scale with the weights' density, the
    attention products of ViT do not)."""
    pruned = sum(t.numel - nonzero_values(t, sparsity) for t in stats.tensors if t.prunable)
    density = 1.0 - pruned / max(1, stats.prunable_weights)
    attention_macs = stats.macs - stats.weight_macs
    return stats.params - pruned, int(round(stats.weight_macs * density)) + attention_macs


# ----------------------------------------------------------------------------------------------
# CPU throughput (for derived latency)


def measure_cpu_macs_per_s(arch: str, min_repeats: int = 5, min_seconds: float = 1.0) -> float:
    """Single-thread CPU throughput (MACs per second) of the full ``arch`` on this machine.

    Builds the model with random weights on the CPU, runs one warm-up, then forward passes of one
    224x224 image with one thread (``torch.set_num_threads(1)``: the ops run in the calling
    thread) until at least ``min_repeats`` passes and ``min_seconds`` of CPU time, and divides the
    exact MACs by the fastest pass measured in *thread CPU time* (``time.thread_time``): time the
    thread spends descheduled while other processes share the CPU does not count, so the result is
    what one dedicated core achieves (cache and memory-bandwidth sharing aside), where wall-clock
    timing on a loaded machine would read a lower throughput.
    """
    torch.set_num_threads(1)
    model = build(arch, device="cpu")
    macs = count(build(arch)).macs
    x = torch.randn(INPUT_SHAPE)
    times: list[float] = []
    with torch.no_grad():
        model(x)
        while len(times) < min_repeats or sum(times) < min_seconds:
            t0 = time.thread_time()
            model(x)
            times.append(time.thread_time() - t0)
    return macs / min(times)
