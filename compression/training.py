"""Joint training of all exits of a multi-exit network, fine-tuning with fixed masks, evaluation.

Training minimises the *sum* of the exits' cross-entropy losses (all heads trained jointly).
Everything is single-threaded-friendly: small batches of a few thousand samples, AdamW with a
cosine learning-rate schedule, deterministic under ``seed``.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class TrainConfig:
    """Optimiser settings.

    Attributes:
        epochs: passes over the training set.
        batch_size: samples per step.
        lr: peak AdamW learning rate (cosine decay to 0 over all steps).
        weight_decay: AdamW weight decay.
        seed: seed of the batch order (and of nothing else).
    """

    epochs: int = 10
    batch_size: int = 128
    lr: float = 3e-3
    weight_decay: float = 1e-4
    seed: int = 0

    def __post_init__(self) -> None:
        if self.epochs < 0:
            raise ValueError(f"TrainConfig.epochs: must be >= 0, got {self.epochs}")
        if self.batch_size < 1:
            raise ValueError(f"TrainConfig.batch_size: must be >= 1, got {self.batch_size}")
        if not self.lr > 0:
            raise ValueError(f"TrainConfig.lr: must be > 0, got {self.lr}")


def _as_tensors(x, y) -> tuple[torch.Tensor, torch.Tensor]:
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x, dtype=torch.float32)
    y = torch.as_tensor(np.asarray(y) if not isinstance(y, torch.Tensor) else y, dtype=torch.long)
    if len(x) != len(y):
        raise ValueError(f"inputs and labels differ in length: {len(x)} vs {len(y)}")
    return x, y


def _outputs(model: nn.Module, x: torch.Tensor) -> list[torch.Tensor]:
    out = model(x)
    return list(out) if isinstance(out, (list, tuple)) else [out]


def apply_masks(model: nn.Module, masks: dict[str, torch.Tensor] | None) -> None:
    """Zero the masked-out entries of the named parameters (in place)."""
    if not masks:
        return
    params = dict(model.named_parameters())
    with torch.no_grad():
        for name, mask in masks.items():
            params[name].mul_(mask)


def train(
    model: nn.Module,
    x,
    y,
    config: TrainConfig,
    masks: dict[str, torch.Tensor] | None = None,
) -> dict[str, float]:
    """Train ``model`` in place on (x, y), summing the losses of every output (exit).

    Args:
        model: a multi-exit module (forward returns a list) or a plain one.
        x, y: training inputs and integer labels (arrays or tensors).
        config: optimiser settings.
        masks: optional parameter name -> 0/1 tensor; masked weights are kept at exactly zero
            (gradients masked and weights re-masked after every step), for fine-tuning after
            unstructured pruning.

    Returns:
        ``{"seconds": wall time, "final_loss": mean loss of the last epoch, "steps": steps}``.
    """
    x, y = _as_tensors(x, y)
    t0 = time.perf_counter()
    if config.epochs == 0:
        return {"seconds": 0.0, "final_loss": float("nan"), "steps": 0}
    gen = torch.Generator().manual_seed(config.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=config.lr, weight_decay=config.weight_decay)
    n = len(y)
    steps_per_epoch = (n + config.batch_size - 1) // config.batch_size
    total = steps_per_epoch * config.epochs
    sched = torch.optim.lr_scheduler.OneCycleLR(
        opt, max_lr=config.lr, total_steps=total, pct_start=0.15, anneal_strategy="cos"
    )
    params = dict(model.named_parameters())
    model.train()
    apply_masks(model, masks)
    last = 0.0
    for _ in range(config.epochs):
        perm = torch.randperm(n, generator=gen)
        run = 0.0
        for s in range(steps_per_epoch):
            idx = perm[s * config.batch_size:(s + 1) * config.batch_size]
            outs = _outputs(model, x[idx])
            loss = sum(F.cross_entropy(o, y[idx]) for o in outs)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            if masks:
                for name, mask in masks.items():
                    if params[name].grad is not None:
                        params[name].grad.mul_(mask)
            opt.step()
            sched.step()
            apply_masks(model, masks)  # weight decay / Adam moments must not revive pruned weights
            run += float(loss.detach()) * len(idx)
        last = run / n
    model.eval()
    return {"seconds": time.perf_counter() - t0, "final_loss": last, "steps": total}


@torch.inference_mode()
def evaluate(model: nn.Module, x, y, batch_size: int = 512) -> list[float]:
    """Accuracy in [0, 1] of every output of ``model`` on (x, y); a list even for a plain model."""
    x, y = _as_tensors(x, y)
    model.eval()
    correct: list[int] | None = None
    for s in range(0, len(y), batch_size):
        outs = _outputs(model, x[s:s + batch_size])
        hits = [int((o.argmax(1) == y[s:s + batch_size]).sum()) for o in outs]
        correct = hits if correct is None else [a + b for a, b in zip(correct, hits)]
    assert correct is not None, "evaluate: empty test set"
    return [c / len(y) for c in correct]
