"""Measurements of a model variant: MACs, parameters, peak activation memory, CPU latency.

Definitions (also written into each profile's ``notes``):

* **MACs** (``macs``): multiply-accumulates of every Conv1d/Conv2d/Linear layer for ONE input
  sample, ``output elements x (in_channels / groups) x kernel elements`` for a convolution and
  ``in x out`` for a linear layer. Biases, BatchNorm (folded anyway), ReLU, additions and pooling
  are not counted. **Non-zero MACs** (``macs_nonzero``) count only the MACs of non-zero weights:
  ``output positions x nnz(weight)`` (what a sparse kernel would execute).
* **Parameters** (``params``): number of parameter entries; with ``nonzero=True`` only non-zero
  entries (used for unstructured-pruned variants).
* **Peak activation memory** (``peak_memory_bytes``): run one sample (batch 1, float32) with
  forward hooks on every leaf module, one leaf call = one step. An activation tensor (identified
  by its storage, so views such as flatten are not double counted) is live from the step that
  produces it (the input: from step 1) to the last step that reads it (the final output: its own
  step). The peak is the largest total bytes of live activations over all steps, i.e. the
  working memory an inference engine that frees each tensor after its last use needs, weights
  excluded. Residual inputs held for the skip path count while the branch runs.
* **Latency** (``latency_s``): median wall time of a batch-1 forward pass on one CPU thread
  (``torch.set_num_threads(1)``, inference mode), timed in interleaved rounds: each round times
  ``reps`` single calls of every model in turn (order rotated each round), so load changes on a
  shared machine hit all models alike; the median over all timed calls of a model drops calls
  that were pre-empted by other processes.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence

import numpy as np
import torch
from torch import nn

_MAC_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.Linear)


def _leaves(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if not list(m.children())]


def count_macs(model: nn.Module, input_shape: Sequence[int]) -> tuple[int, int]:
    """``(macs, macs_nonzero)`` of one forward pass on one sample of shape ``input_shape``.

    Runs the model once (batch 1) with hooks. For a multi-exit model all exits are counted.
    """
    totals = [0, 0]

    def hook(module: nn.Module, inputs: tuple, output: torch.Tensor) -> None:
        w = module.weight
        if isinstance(module, nn.Linear):
            rows = output.numel() // output.shape[-1]  # batch (and any leading dims)
            totals[0] += rows * w.numel()
            totals[1] += rows * int((w != 0).sum())
        else:
            positions = output.numel() // output.shape[1]  # batch x spatial positions
            totals[0] += positions * w.numel()
            totals[1] += positions * int((w != 0).sum())

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, _MAC_LAYERS)]
    try:
        with torch.inference_mode():
            model.eval()(torch.zeros(1, *input_shape))
    finally:
        for h in handles:
            h.remove()
    return int(totals[0]), int(totals[1])


def count_params(model: nn.Module, nonzero: bool = False) -> int:
    """Number of parameter entries of ``model`` (only non-zero entries when ``nonzero``)."""
    seen: set[int] = set()
    total = 0
    for p in model.parameters():
        if id(p) in seen:
            continue
        seen.add(id(p))
        total += int((p != 0).sum()) if nonzero else p.numel()
    return total


def peak_activation_bytes(model: nn.Module, input_shape: Sequence[int]) -> int:
    """Peak bytes of live activations for one batch-1 float32 forward pass (see module doc)."""
    step = [0]
    first: dict[int, int] = {}
    last: dict[int, int] = {}
    size: dict[int, int] = {}
    keep: list[torch.Tensor] = []  # keep tensors alive so storage addresses are not reused

    def note(t: torch.Tensor, produced: bool) -> None:
        key = t.untyped_storage().data_ptr()
        keep.append(t)
        size[key] = max(size.get(key, 0), t.untyped_storage().nbytes())
        if produced:
            first.setdefault(key, step[0])
        last[key] = max(last.get(key, step[0]), step[0])

    def tensors(obj) -> list[torch.Tensor]:
        if isinstance(obj, torch.Tensor):
            return [obj]
        if isinstance(obj, (list, tuple)):
            return [t for o in obj for t in tensors(o)]
        return []

    def hook(module: nn.Module, inputs: tuple, output) -> None:
        step[0] += 1
        for t in tensors(inputs):
            note(t, produced=False)
        for t in tensors(output):
            note(t, produced=True)

    x = torch.zeros(1, *input_shape)
    first[x.untyped_storage().data_ptr()] = 1
    handles = [m.register_forward_hook(hook) for m in _leaves(model)]
    try:
        with torch.inference_mode():
            model.eval()(x)
    finally:
        for h in handles:
            h.remove()
    n_steps = step[0]
    if n_steps == 0:
        return int(x.numel() * 4)
    live = np.zeros(n_steps + 2, dtype=np.int64)
    for key, nbytes in size.items():
        a = first.get(key, 1)
        b = last.get(key, a)
        live[a:b + 1] += nbytes
    return int(live.max())


def measure_latencies(
    models: Mapping[object, nn.Module],
    input_shape: Sequence[int],
    rounds: int = 15,
    reps: int = 10,
    warmup: int = 3,
) -> dict[object, float]:
    """Median batch-1 latency in seconds of each model, timed in interleaved rounds.

    Args:
        models: key -> model (run in eval/inference mode).
        input_shape: shape of one sample.
        rounds: interleaved rounds.
        reps: single timed forward passes per model per round (the median is taken over all
            ``rounds * reps`` timed passes of a model).
        warmup: untimed passes per model before timing.

    Note:
        Call with ``torch.set_num_threads(1)`` in effect for single-thread figures.
    """
    if rounds < 1 or reps < 1:
        raise ValueError(f"measure_latencies: rounds and reps must be >= 1, got {rounds}, {reps}")
    keys = list(models)
    x = torch.randn(1, *input_shape, generator=torch.Generator().manual_seed(0))
    times: dict[object, list[float]] = {k: [] for k in keys}
    with torch.inference_mode():
        for k in keys:
            models[k].eval()
            for _ in range(warmup):
                models[k](x)
        for r in range(rounds):
            shift = r % len(keys)
            for k in keys[shift:] + keys[:shift]:
                m = models[k]
                for _ in range(reps):
                    t0 = time.perf_counter()
                    m(x)
                    times[k].append(time.perf_counter() - t0)
    return {k: float(np.median(v)) for k, v in times.items()}
