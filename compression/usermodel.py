"""Profiles of the user's own models: ``profile_user_model``.

A user passes a trained ``torch.nn.Module``, training data (for fine-tuning after pruning) and
held-out test data; the function compresses the model on a grid of parameter and bit levels,
measures every variant exactly as the shipped measured profiles are measured
(:mod:`compression.build`), and writes a validated profile with ``source: "user"`` that the
environment can load like any other (``load_profile(path)``).

Example::

    from compression.usermodel import profile_user_model
    path = profile_user_model(my_net, (x_train, y_train), (x_test, y_test),
                              grid={"prune": [{"kind": "none", "fraction": 0.0},
                                              {"kind": "unstructured", "fraction": 0.5}],
                                    "bits": [32, 8, 4]},
                              out_path="my_profile.json", name="my_net", task="my_task")
"""

from __future__ import annotations

import copy
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from compression.measure import count_macs, count_params, measure_latencies, peak_activation_bytes
from compression.models import MultiExitNet, ResBlock, exit_model, fold_batchnorm
from compression.profile import MAX_PLANES, SCHEMA_VERSION, save_profile
from compression.prune import magnitude_prune, prunable_weights, structured_prune
from compression.quantize import ALLOWED_BITS, decode, encode, load_decoded, progressive_sizes
from compression.training import TrainConfig, evaluate, train

#: Grid used when the caller gives none.
DEFAULT_GRID: dict[str, list] = {
    "prune": [
        {"kind": "none", "fraction": 0.0},
        {"kind": "unstructured", "fraction": 0.5},
        {"kind": "unstructured", "fraction": 0.9},
    ],
    "bits": [32, 8, 4],
}


class _PickExit(nn.Module):
    """Plain single-output view of output ``index`` of a multi-output user model."""

    def __init__(self, model: nn.Module, index: int) -> None:
        super().__init__()
        self.model = model
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits of the chosen output."""
        return self.model(x)[self.index]


def _as_xy(data: Any, which: str) -> tuple[torch.Tensor, torch.Tensor]:
    if not isinstance(data, (tuple, list)) or len(data) != 2:
        raise ValueError(f"profile_user_model: {which} must be a pair (X, y), got {type(data).__name__}")
    x = torch.as_tensor(np.asarray(data[0]) if not isinstance(data[0], torch.Tensor) else data[0])
    y = torch.as_tensor(np.asarray(data[1]) if not isinstance(data[1], torch.Tensor) else data[1])
    if x.ndim < 2 or y.ndim != 1 or len(x) != len(y) or len(y) == 0:
        raise ValueError(
            f"profile_user_model: {which} needs X shaped (n, ...) and y shaped (n,), "
            f"got X {tuple(x.shape)} and y {tuple(y.shape)}"
        )
    return x.float(), y.long()


def _check_grid(grid: dict[str, list], model: nn.Module, n_outputs: int) -> dict[str, list]:
    allowed = {"prune", "bits", "depth"}
    unknown = set(grid) - allowed
    if unknown:
        raise ValueError(f"profile_user_model: grid has unknown keys {sorted(unknown)}; allowed {sorted(allowed)}")
    prunes = [dict(p) for p in grid.get("prune", DEFAULT_GRID["prune"])]
    bits = list(grid.get("bits", DEFAULT_GRID["bits"]))
    depths = list(grid.get("depth", range(1, n_outputs + 1)))
    if not prunes or not bits or not depths:
        raise ValueError("profile_user_model: grid.prune, grid.bits and grid.depth must not be empty")
    has_block = any(isinstance(m, ResBlock) for m in model.modules())
    for i, p in enumerate(prunes):
        kind, frac = p.get("kind"), p.get("fraction")
        if kind not in ("none", "structured", "unstructured"):
            raise ValueError(
                f"profile_user_model: grid.prune[{i}].kind must be none, structured or unstructured, got {kind!r}"
            )
        if not isinstance(frac, (int, float)) or not 0 <= frac < 1 or (kind == "none" and frac != 0):
            raise ValueError(
                f"profile_user_model: grid.prune[{i}].fraction must be in [0, 1) (0 for 'none'), got {frac!r}"
            )
        if kind == "structured" and not has_block:
            raise ValueError(
                f"profile_user_model: grid.prune[{i}] asks for structured pruning, which is only "
                "supported for models built from compression.models.ResBlock; "
                f"{type(model).__name__} has none. Use kind 'unstructured' (any Conv/Linear model)."
            )
    for i, b in enumerate(bits):
        if b not in ALLOWED_BITS or isinstance(b, bool):
            raise ValueError(f"profile_user_model: grid.bits[{i}] must be in 2..16 or 32, got {b!r}")
    for i, d in enumerate(depths):
        if not isinstance(d, int) or not 1 <= d <= n_outputs:
            raise ValueError(
                f"profile_user_model: grid.depth[{i}] must be an int in 1..{n_outputs} "
                f"(the model has {n_outputs} output(s)), got {d!r}"
            )
    if not prunable_weights(model):
        raise ValueError(
            f"profile_user_model: {type(model).__name__} has no Conv1d/Conv2d/Linear layer to compress"
        )
    return {"prune": prunes, "bits": bits, "depth": depths}


def profile_user_model(
    model: nn.Module,
    train_data: tuple[Any, Any],
    test_data: tuple[Any, Any],
    grid: dict[str, list] | None = None,
    out_path: str | Path = "user_profile.json",
    name: str = "user_model",
    task: str = "user_task",
    finetune: TrainConfig | None = None,
    seed: int = 0,
    overwrite: bool = False,
    latency_rounds: int = 7,
    progress: Callable[[str], None] | None = None,
) -> Path:
    """Compress and measure a user's model on a grid of levels; write a ``source: "user"`` profile.

    Args:
        model: a trained ``torch.nn.Module`` with Conv1d/Conv2d/Linear layers. Multi-exit (its
            ``forward`` returns a list/tuple of logits, shallowest first) or plain (returns one
            logits tensor; then the depth grid is ``[1]`` only). Never modified (copies are used).
        train_data: ``(X, y)`` arrays or tensors used to fine-tune after pruning.
        test_data: ``(X, y)`` held-out data on which every variant's accuracy is measured.
        grid: ``{"prune": [{"kind", "fraction"}, ...], "bits": [...], "depth": [...]}``; missing
            keys take :data:`DEFAULT_GRID` (depth: every output). Bits in 2..16 or 32 (float).
        out_path: JSON file to write; an existing file is never replaced unless ``overwrite``.
        name, task: the profile's ``name`` and ``task`` fields.
        finetune: fine-tuning after pruning (default 2 epochs, lr 1e-3).
        seed: seeds fine-tuning and the proxies' minibatch.
        overwrite: allow replacing ``out_path``.
        latency_rounds: interleaved latency rounds (median stored).
        progress: optional callback receiving a short stage message.

    Supported compression:
        * **unstructured** magnitude pruning (global over Conv/Linear weights, masks kept through
          fine-tuning) and **quantization** (per-channel, 2..16 bits, packed encoding) work for any
          module with Conv/Linear layers;
        * **structured** channel pruning only for models built from our
          :class:`compression.models.ResBlock` (e.g. :class:`~compression.models.MultiExitNet`):
          removing channels from an arbitrary graph needs to know which layers consume them.
          A structured level on any other model raises ``ValueError`` before any work.
        * **depth**: for a :class:`~compression.models.MultiExitNet` each depth is really cut
          (:func:`compression.models.exit_model`: size, MACs, latency fall). For another
          multi-output module we cannot know which weights an exit needs, so every depth's size,
          MACs, parameters, memory and latency are those of the whole module and only the
          accuracy is the exit's (stated in the profile's ``notes``).
        * BatchNorm is folded only in our blocks; a user model's BatchNorm parameters are stored
          as float32 tensors in the encoding (counted in ``size_bytes``).

    Returns:
        the path of the written profile (validated by :func:`compression.profile.save_profile`).

    Raises:
        ValueError: bad data shapes, bad grid entries (naming the key and index), unsupported
            structured pruning.
        FileExistsError: ``out_path`` exists and ``overwrite`` is False.
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"profile_user_model: model must be a torch.nn.Module, got {type(model).__name__}")
    out_path = Path(out_path)
    if out_path.exists() and not overwrite:
        raise FileExistsError(f"profile_user_model: {out_path} exists; pass overwrite=True to replace it")
    x_tr, y_tr = _as_xy(train_data, "train_data")
    x_te, y_te = _as_xy(test_data, "test_data")
    if x_tr.shape[1:] != x_te.shape[1:]:
        raise ValueError(
            f"profile_user_model: train X samples {tuple(x_tr.shape[1:])} and test X samples "
            f"{tuple(x_te.shape[1:])} differ in shape"
        )
    input_shape = tuple(x_te.shape[1:])
    torch.set_num_threads(1)
    base = copy.deepcopy(model).eval()
    with torch.inference_mode():
        probe = base(x_te[:2])
    multi = isinstance(probe, (list, tuple))
    n_out = len(probe) if multi else 1
    g = _check_grid(grid or {}, base, n_out)
    finetune = finetune or TrainConfig(epochs=2, batch_size=64, lr=1e-3, seed=seed)
    ours = isinstance(base, MultiExitNet)
    gen = torch.Generator().manual_seed(seed)
    pidx = torch.randperm(len(y_tr), generator=gen)[: min(64, len(y_tr))]
    xb, yb = x_tr[pidx], y_tr[pidx]

    def note(msg: str) -> None:
        if progress:
            progress(msg)

    def view(m: nn.Module, d: int) -> nn.Module:
        if ours:
            return exit_model(m, d)
        return _PickExit(m, d - 1) if multi else m

    try:
        from compression.proxies import ProxyError, compute_proxies
    except ImportError:  # proxies unavailable: variants get empty proxies
        compute_proxies, ProxyError = None, RuntimeError  # type: ignore[assignment]

    variants: list[dict[str, Any]] = []
    lat_models: dict[tuple, nn.Module] = {}
    t_start = time.perf_counter()
    for prune in g["prune"]:
        pk = (prune["kind"], float(prune["fraction"]))
        note(f"prune {pk}")
        masks = None
        if prune["kind"] == "structured":
            pruned = structured_prune(base, prune["fraction"])
        else:
            pruned = copy.deepcopy(base)
            if prune["kind"] == "unstructured":
                masks = magnitude_prune(pruned, prune["fraction"])
        if prune["kind"] != "none" and finetune.epochs > 0:
            train(pruned, x_tr, y_tr, finetune, masks=masks)
        pruned.eval()
        final = fold_batchnorm(pruned) if ours else pruned
        per_depth = {}
        for d in g["depth"]:
            v = view(final, d)
            macs, macs_nz = count_macs(v, input_shape)
            per_depth[d] = {
                "macs": macs,
                "macs_nonzero": macs_nz,
                "params": count_params(v, nonzero=prune["kind"] == "unstructured"),
                "peak_memory_bytes": peak_activation_bytes(v, input_shape),
            }
            lat_models[(d, pk)] = copy.deepcopy(v)
        for bits in g["bits"]:
            note(f"prune {pk}, {bits} bits")
            blob = encode(final, bits)
            qmodel = load_decoded(copy.deepcopy(final), decode(blob))
            accs = evaluate(qmodel, x_te, y_te)
            plane_accs = None  # [plane][exit], for variants with integer codes
            if bits <= MAX_PLANES:
                plane_accs = [
                    evaluate(load_decoded(copy.deepcopy(final), decode(blob, planes=p)), x_te, y_te)
                    for p in range(1, bits)
                ] + [accs]
            for d in g["depth"]:
                eblob = encode(view(final, d), bits) if ours else blob
                prox: dict[str, float] = {}
                if compute_proxies is not None:
                    try:
                        prox = compute_proxies(view(qmodel, d), xb, yb, seed=seed)
                    except ProxyError:
                        prox = {}
                rec: dict[str, Any] = {
                    "depth": d,
                    "prune": {"kind": prune["kind"], "fraction": float(prune["fraction"])},
                    "bits": bits,
                    "arithmetic": "float",
                    "size_bytes": len(eblob),
                    **per_depth[d],
                    "accuracy": float(accs[d - 1]),
                    "accuracy_source": "measured",
                    "training_free": prune["kind"] == "none" or finetune.epochs == 0,
                    "latency_s": 0.0,
                    "proxies": prox,
                }
                if plane_accs is not None:
                    rec["progressive_accuracy"] = [float(a[d - 1]) for a in plane_accs]
                    rec["progressive_size_bytes"] = progressive_sizes(eblob)
                variants.append(rec)
    note("latency")
    lat = measure_latencies(lat_models, input_shape, rounds=latency_rounds, reps=5)
    for rec in variants:
        rec["latency_s"] = lat[(rec["depth"], (rec["prune"]["kind"], rec["prune"]["fraction"]))]
    try:
        from compression.proxies import proxy_correlations

        corr = proxy_correlations(variants) if any(v["proxies"] for v in variants) else {}
    except ImportError:
        corr = {}
    notes = [
        "User model profiled by compression.usermodel.profile_user_model; accuracies measured on "
        "the caller's test data with the decoded (quantized) weights.",
        "latency_s measured once per (depth, prune) model (float32, one thread, batch 1) and "
        "reused for every bit width.",
        "progressive_accuracy[p-1] (variants of 8 bits or fewer): accuracy measured with the "
        "first p bit-planes decoded; progressive_size_bytes[p-1]: the bytes needed for them.",
        "training_free: True for unpruned variants (and for pruned ones when fine-tuning is off).",
    ]
    if multi and not ours:
        notes.append(
            "Multi-output user module: size_bytes, macs, params, peak_memory_bytes and latency_s "
            "are those of the whole module for every depth; only accuracy is per exit."
        )
    profile = {
        "schema_version": SCHEMA_VERSION,
        "name": name,
        "task": task,
        "model": type(model).__name__,
        "source": "user",
        "levels": {"depth": g["depth"], "prune": [
            {"kind": p["kind"], "fraction": float(p["fraction"])} for p in g["prune"]
        ], "bits": g["bits"], "arithmetic": ["float"] * len(g["bits"])},
        "task_info": {
            "input_shape": list(input_shape),
            "n_train": len(y_tr),
            "n_test": len(y_te),
            "classes": int(max(int(y_tr.max()), int(y_te.max())) + 1),
            "seed": seed,
        },
        "training": {"finetune_epochs": finetune.epochs, "finetune_lr": finetune.lr},
        "notes": notes,
        "build": {"seconds": round(time.perf_counter() - t_start, 2)},
        "proxy_correlations": corr,
        "variants": variants,
    }
    return save_profile(profile, out_path, overwrite=overwrite)


def grid_size(grid: dict[str, Sequence] | None, n_outputs: int = 1) -> int:
    """Number of variants a grid produces (depth x prune x bits)."""
    g = {**DEFAULT_GRID, **(grid or {})}
    return len(g.get("depth", range(n_outputs))) * len(g["prune"]) * len(g["bits"])
