"""Build the measured library profiles: train, compress at every level, measure, write JSON.

For each task (:mod:`compression.datasets`) :func:`build_task`

1. trains a multi-exit residual network (all exits jointly),
2. for each parameter level (none; structured 25/50/75 %; unstructured 25/50/75/90 %) prunes a
   copy, fine-tunes it (BatchNorm still in place; unstructured masks fixed), folds BatchNorm,
3. for each bit width (32 float, 16, 8, 6, 4, 2) encodes the folded model with
   :func:`compression.quantize.encode`, decodes it, and measures the accuracy of the DECODED
   model at every exit (depth level) on the held-out test set; ``size_bytes`` is the exact length
   of the encoding of the exit model (stem + blocks 1..depth + head depth); for the W8A8 level
   (``arithmetic: "integer"``) it calibrates int8 activation ranges on training data and measures
   the 8-bit weights with every Conv/Linear input fake-quantized
   (:func:`compression.quantize.calibrate_activations`),
4. for every bit width with integer codes (8 bits or fewer) decodes from the first 1..bits
   bit-planes and measures the accuracy after each plane (``progressive_accuracy``),
5. measures MACs (dense and non-zero), parameters, peak activation memory and single-thread
   CPU latency per (depth, prune) model, and the zero-shot proxies of every variant,
6. writes ``measured_<task>.json`` with :func:`compression.profile.save_profile`.

All settings (splits, seeds, architectures, epochs, levels) are in :data:`SETTINGS` and
:data:`LEVELS`. The build is resumable: a task whose profile already exists (and was written by
this builder) is skipped unless ``force``; a file at the target path that this builder did not
write is never overwritten.
"""

from __future__ import annotations

import copy
import json
import os
import platform
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from compression.datasets import TASKS, load_task
from compression.measure import count_macs, count_params, measure_latencies, peak_activation_bytes
from compression.models import MultiExitNet, NetConfig, exit_model, fold_batchnorm
from compression.numerics import numerics_state
from compression.profile import (
    ARITHMETIC_LEVELS,
    BIT_LEVELS,
    MAX_PLANES,
    PROFILE_DIR,
    PRUNE_LEVELS,
    SCHEMA_VERSION,
    ProfileError,
    load_profile,
    save_profile,
)
from compression.prune import magnitude_prune, structured_prune
from compression.quantize import (
    TensorSpec,
    calibrate_activations,
    decode,
    encode,
    encoded_size,
    load_decoded,
    progressive_encoded_sizes,
    progressive_sizes,
    quantized_activations,
)
from compression.training import TrainConfig, evaluate, train

#: Marker stored in every profile this builder writes (so it never overwrites anything else).
BUILDER = "compression.build"

#: Grid axes of the measured profiles (the levels every shipped profile shares).
LEVELS: dict[str, list] = {
    "depth": [1, 2, 3, 4],
    "prune": [dict(p) for p in PRUNE_LEVELS],
    "bits": list(BIT_LEVELS),
    "arithmetic": list(ARITHMETIC_LEVELS),
}

#: Shared settings. Epoch counts are sized to keep the whole 4-task build short on one core.
COMMON: dict[str, Any] = {
    "seed": 0,  # data split, weight init, batch order, proxy minibatch
    "train": TrainConfig(epochs=15, batch_size=128, lr=3e-3, weight_decay=1e-4, seed=0),
    # fine-tuning after pruning: 3 epochs at a lower peak learning rate
    "finetune": TrainConfig(epochs=3, batch_size=128, lr=1e-3, weight_decay=1e-4, seed=1),
    "proxy_batch": 64,  # training samples in the proxies' minibatch
    "act_calibration": 1024,  # training samples that calibrate the W8A8 activation ranges
    "latency_rounds": 20,  # interleaved rounds over all (depth, prune) models
    "latency_reps": 10,  # timed single passes per model per round; median of all is stored
}

#: Per-task architecture (K = 4 blocks, ~40-70 k parameters: TinyML scale).
SETTINGS: dict[str, dict[str, Any]] = {
    # 16x16 images: stem stride 2 -> 8x8, blocks at 8, 4, 2, 2
    "digits16": {"net": NetConfig(1, 10, (16, 24, 32, 48), (1, 2, 2, 1), 16, 2, 2, 3)},
    # 32x32 spectrograms: stem stride 2 -> 16x16, blocks at 8, 4, 4, 4
    "kws": {"net": NetConfig(1, 10, (16, 24, 32, 48), (2, 2, 1, 1), 16, 2, 2, 3)},
    "shapes": {"net": NetConfig(1, 8, (16, 24, 32, 48), (1, 2, 2, 1), 16, 2, 2, 3)},
    # 3 x 128 signals, 1-D kernels of 5: stem stride 2 -> 64, blocks at 32, 16, 8, 8
    "har": {"net": NetConfig(3, 6, (16, 24, 32, 48), (2, 2, 2, 1), 16, 2, 1, 5)},
}

NOTES = [
    "All accuracies are measured on the held-out test set with the DECODED weights "
    "(encode -> bytes -> decode), every exit of one multi-exit network: depth = blocks kept.",
    "size_bytes = len(compression.quantize.encode(exit model, bits)) exactly (computed from the "
    "encoder's byte layout, checked against the real encoding of the deepest exit): header + per-channel "
    "float32 scales + float32 biases + bit-packed integer codes (for unstructured variants a "
    "bitmask + packed non-zeros where smaller). 32 bits = float32.",
    "Quantization: per-output-channel symmetric, clip ratio searched per channel (min MSE); "
    "BatchNorm folded into the convolutions before quantization.",
    "macs: dense multiply-accumulates of Conv/Linear layers for one sample; macs_nonzero: only "
    "those of non-zero weights. params: parameter entries (non-zero entries for unstructured).",
    "peak_memory_bytes: largest total bytes of live float32 activations over the steps of a "
    "batch-1 forward pass (a tensor is live from its producing layer to its last reader; weights "
    "excluded). Independent of bits because variants run as dequantized float32 (also W8A8: "
    "its float32 figure is recorded).",
    "latency_s: median of batch-1 float32 forward passes timed in interleaved rounds, one CPU thread, "
    "measured once per (depth, prune) model and reused for every bit width (the variants run as "
    "dequantized float; no low-bit or int8 kernels, so W8A8 variants carry the float latency). "
    "Unstructured-pruned models run dense, so their "
    "latency is that of the dense model. The build machine was shared, so latencies are noisy.",
    "Reproducible: one thread, torch.use_deterministic_algorithms, seeded generators for the "
    "data, the initialisation, every batch order and the calibration/proxy samples, and the CPU "
    "kernels pinned by compression.numerics (ATen AVX2 kernels, oneDNN AVX2 convolutions, MKL "
    "CBWR=COMPATIBLE): every accuracy is reproduced exactly by `python -m compression build` "
    "with the same torch on any x86-64 CPU with AVX2 (build.numerics records the settings).",
    "progressive_accuracy[p-1]: accuracy after receiving the p most significant bit-planes (missing "
    "low bits filled with the middle of their bucket); progressive_size_bytes[p-1]: bytes needed "
    "for that. The last entry equals the full variant. Only variants with integer codes (8 bits "
    "or fewer) have them; 32 and 16 bits are float variants.",
    "arithmetic 'integer' (W8A8, the 8-bit level twice in levels.bits): the 8-bit per-channel "
    "weights of the 8-bit variant AND int8 activations: the input of every Conv/Linear layer "
    "(stem, both convolutions and the skip projection of each block, each exit's linear layer) is "
    "quantized per tensor, affine, to 0..255 (scale = (max - min) / 255 over a range that includes "
    "0, zero point = round(-min / scale)); min/max calibrated on 1,024 training samples with the "
    "8-bit weights. Simulated with quantize-dequantize in float32 (integer products summed in "
    "float32; biases, residual additions, pooling and ReLU on dequantized values). size_bytes = "
    "the 8-bit weight encoding (the activation scales and zero points, 5 bytes per layer input, "
    "are not counted); proxies = those of the 8-bit weight-only variant (they score the weights); "
    "per-plane accuracy with the same activation parameters.",
    "arithmetic 'float': the weights are dequantized and the network runs in float32. "
    "training_free: True for unpruned variants (post-training quantization and truncation at a "
    "trained exit of the stored multi-exit network), False for pruned ones (fine-tuned).",
]


def profile_name(task: str) -> str:
    """File stem of the measured profile of ``task``."""
    return f"measured_{task}"


def _check_task(task: str) -> None:
    if task not in SETTINGS:
        raise ValueError(f"unknown task {task!r}; allowed: {', '.join(TASKS)}")


def _existing_is_ours(path: Path) -> bool | None:
    """None when no file; True when a valid profile written by this builder; False otherwise."""
    if not path.exists():
        return None
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError):
        return False
    return isinstance(data, dict) and data.get("builder") == BUILDER


def _prune_label(p: dict) -> str:
    return "none" if p["kind"] == "none" else f"{p['kind']} {p['fraction']:.2f}"


def _proxies(model: torch.nn.Module, xb: torch.Tensor, yb: torch.Tensor, seed: int) -> dict | None:
    try:
        from compression.proxies import ProxyError, compute_proxies
    except ImportError:  # proxies module not available: leave proxies empty
        return None
    try:
        return compute_proxies(model, xb, yb, seed=seed)
    except ProxyError:  # e.g. a score that cannot be finite: recorded as missing proxies
        return None


def _exit_sizes(folded: MultiExitNet, depths: Sequence[int],
                bits_list: Sequence[int]) -> dict[tuple[int, int], tuple[int, list[int]]]:
    """(size_bytes, progressive sizes) of each exit model's encoding at each bit width.

    Computed from the encoder's byte layout (:func:`compression.quantize.encoded_size`: names,
    shapes and non-zero counts decide the length), and checked against ``len(encode(...))`` of
    the deepest exit at every bit width.
    """
    out = {}
    for d in depths:
        specs = [TensorSpec.of(k, t) for k, t in exit_model(folded, d).state_dict().items()]
        for bits in bits_list:
            out[(d, bits)] = (encoded_size(specs, bits), progressive_encoded_sizes(specs, bits))
    for bits in bits_list:
        blob = encode(exit_model(folded, depths[-1]), bits)
        assert (len(blob), progressive_sizes(blob)) == out[(depths[-1], bits)], "byte layout"
    return out


def _evaluate(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor,
              act_params: dict | None) -> list[float]:
    """Accuracy of every exit; with ``act_params`` the Conv/Linear inputs are int8 (W8A8)."""
    if act_params is None:
        return evaluate(model, x, y)
    with quantized_activations(model, act_params):
        return evaluate(model, x, y)


def build_task(
    task: str,
    out_dir: str | Path = PROFILE_DIR,
    seed: int | None = None,
    force: bool = False,
    progress: Callable[[str, float], None] | None = None,
    levels: dict[str, list] | None = None,
) -> Path:
    """Train, compress, measure and write the measured profile of ``task``.

    Args:
        task: one of :data:`compression.datasets.TASKS`.
        out_dir: directory of the profile (default: the shipped ``compression/profiles``).
        seed: seed of data, init and training; default ``COMMON["seed"]``.
        force: rebuild even when a finished profile exists (only one written by this builder).
        progress: optional callback ``(stage message, fraction done in [0, 1])``.
        levels: a sub-grid of :data:`LEVELS` (``depth``, ``prune``, ``bits`` + ``arithmetic``;
            missing axes: all of them) to build only those variants. Every variant of a sub-grid
            has the values of the full build (each parameter level is pruned and fine-tuned from
            the same trained network with its own seeded batch order).

    The build runs on one thread with ``torch.use_deterministic_algorithms(True)`` (restored
    afterwards); in a process set up by :func:`compression.numerics.pin_environment` before
    torch was imported it reproduces the shipped profiles exactly (``build.numerics`` in the
    profile says whether it was; otherwise a warning is issued).

    Returns:
        Path of the profile (existing or new).

    Raises:
        ValueError: unknown task.
        FileExistsError: a file that this builder did not write occupies the target path.
    """
    _check_task(task)
    levels = _sub_grid(levels)
    seed = COMMON["seed"] if seed is None else int(seed)
    out = Path(out_dir) / f"{profile_name(task)}.json"
    ours = _existing_is_ours(out)
    if ours is False:
        raise FileExistsError(
            f"{out} exists and was not written by {BUILDER}; move it away to build {task!r} there"
        )
    if ours and not force:
        try:
            load_profile(out)
            if progress:
                progress("exists, skipped", 1.0)
            return out
        except ProfileError:
            pass  # our own file but broken (e.g. interrupted schema change): rebuild it

    def report(msg: str, frac: float) -> None:
        if progress:
            progress(msg, frac)

    deterministic = torch.are_deterministic_algorithms_enabled()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    try:
        return _build(task, out, seed, levels, report)
    finally:
        torch.use_deterministic_algorithms(deterministic)


def _sub_grid(levels: dict[str, list] | None) -> dict[str, list]:
    """``levels`` completed from :data:`LEVELS` and checked to be a sub-grid of it."""
    full = LEVELS
    if levels is None:
        return copy.deepcopy(full)
    unknown = set(levels) - set(full)
    if unknown:
        raise ValueError(f"build levels: unknown axes {sorted(unknown)}; allowed {sorted(full)}")
    out = {k: copy.deepcopy(levels.get(k, full[k])) for k in full}
    if ("bits" in levels) != ("arithmetic" in levels):
        raise ValueError("build levels: give bits and arithmetic together (one entry per bit level)")
    pairs = set(zip(full["bits"], full["arithmetic"]))
    checks = {
        "depth": (out["depth"], set(full["depth"])),
        "prune": ([(p["kind"], p["fraction"]) for p in out["prune"]],
                  {(p["kind"], p["fraction"]) for p in full["prune"]}),
        "bits": (list(zip(out["bits"], out["arithmetic"])), pairs),
    }
    for axis, (got, allowed) in checks.items():
        bad = [g for g in got if g not in allowed]
        if bad or not got or len(out["bits"]) != len(out["arithmetic"]):
            raise ValueError(f"build levels: {axis} {bad or got} is not a non-empty part of the "
                             f"full grid {sorted(allowed, key=str)}")
    return out


def _build(task: str, out: Path, seed: int, levels: dict[str, list],
           report: Callable[[str, float], None]) -> Path:
    numerics = numerics_state()
    if not numerics["pinned"]:
        warnings.warn(
            f"build of {task!r}: CPU numerics not pinned ({numerics['cpu_capability']}, "
            f"{numerics['threads']} thread(s), env {numerics['env']}); accuracies may differ from "
            "the shipped profiles. Run `python -m compression build`, or call "
            "compression.numerics.pin_environment() before importing torch.",
            stacklevel=3,
        )
    t_start = time.perf_counter()
    timings: dict[str, float] = {}
    report("data", 0.0)
    t0 = time.perf_counter()
    data = load_task(task, seed)
    timings["data_s"] = time.perf_counter() - t0
    net_cfg: NetConfig = SETTINGS[task]["net"]
    with torch.random.fork_rng(devices=[]):  # seeded init, the caller's RNG state untouched
        torch.manual_seed(seed)
        model = MultiExitNet(net_cfg)
    report("training", 0.02)
    tcfg = copy.deepcopy(COMMON["train"])
    train_stats = train(model, data.x_train, data.y_train, tcfg)
    timings["train_s"] = train_stats["seconds"]
    gen = torch.Generator().manual_seed(seed)
    pidx = torch.randperm(len(data.y_train), generator=gen)[: COMMON["proxy_batch"]]
    xb = torch.as_tensor(data.x_train[pidx.numpy()])
    yb = torch.as_tensor(data.y_train[pidx.numpy()])
    cidx = torch.randperm(len(data.y_train), generator=gen)[: COMMON["act_calibration"]]
    x_calib = torch.as_tensor(data.x_train[cidx.numpy()])
    x_test = torch.as_tensor(data.x_test)
    y_test = torch.as_tensor(data.y_test)
    depths: list[int] = levels["depth"]
    bit_levels = list(zip(levels["bits"], levels["arithmetic"]))

    variants: dict[tuple, dict] = {}
    latency_models: dict[tuple, torch.nn.Module] = {}
    ft_seconds = 0.0
    t_eval = t_prox = 0.0
    n_prune = len(levels["prune"])
    for pi, prune in enumerate(levels["prune"]):
        label = _prune_label(prune)
        report(f"{label}: prune + fine-tune", 0.25 + 0.6 * pi / n_prune)
        pk = (prune["kind"], prune["fraction"])
        masks = None
        if prune["kind"] == "none":
            pruned = copy.deepcopy(model)
        elif prune["kind"] == "structured":
            pruned = structured_prune(model, prune["fraction"])
        else:
            pruned = copy.deepcopy(model)
            masks = magnitude_prune(pruned, prune["fraction"])
        if prune["kind"] != "none":
            st = train(pruned, data.x_train, data.y_train, COMMON["finetune"], masks=masks)
            ft_seconds += st["seconds"]
        folded = fold_batchnorm(pruned)
        nonzero = prune["kind"] == "unstructured"
        inner = [b.mid_channels for b in folded.blocks]
        per_depth: dict[int, dict] = {}
        for d in depths:
            em = exit_model(folded, d)
            macs, macs_nz = count_macs(em, data.input_shape)
            per_depth[d] = {
                "macs": macs,
                "macs_nonzero": macs_nz,
                "params": count_params(em, nonzero=nonzero),
                "peak_memory_bytes": peak_activation_bytes(em, data.input_shape),
            }
            latency_models[(d, pk)] = copy.deepcopy(em)
        report(f"{label}: quantize + evaluate", 0.25 + 0.6 * (pi + 0.4) / n_prune)
        blobs: dict[int, bytes] = {}  # encoding per bit width (W8A8 reuses the 8-bit one)
        exit_sizes = _exit_sizes(folded, depths, sorted(set(levels["bits"])))
        float_proxies: dict[tuple, dict] = {}
        for bits, arith in bit_levels:
            t1 = time.perf_counter()
            if bits not in blobs:
                blobs[bits] = encode(folded, bits)
            blob = blobs[bits]
            state = decode(blob)
            if bits == 32:  # float encoding must round-trip bit-exactly
                ref = folded.state_dict()
                assert all(torch.equal(state[k], ref[k]) for k in ref), "32-bit round trip"
            qmodel = load_decoded(copy.deepcopy(folded), state)
            act_params = None
            if arith == "integer":
                # int8 activations: ranges calibrated on training data with the 8-bit weights
                act_params = calibrate_activations(qmodel, x_calib)
            accs = _evaluate(qmodel, x_test, y_test, act_params)
            prog_accs: list[list[float]] | None = None
            if bits <= MAX_PLANES:  # integer codes: accuracy after each bit-plane
                prog_accs = []  # [plane][exit]
                for p in range(1, bits + 1):
                    if p == bits:
                        prog_accs.append(accs)
                        continue
                    pm = load_decoded(copy.deepcopy(folded), decode(blob, planes=p))
                    prog_accs.append(_evaluate(pm, x_test, y_test, act_params))
            t_eval += time.perf_counter() - t1
            for d in depths:
                size, sizes = exit_sizes[(d, bits)]
                if arith == "integer" and (d, bits) in float_proxies:
                    # the proxies score the weights; activation quantization is invisible to them
                    prox = float_proxies[(d, bits)]
                else:
                    t2 = time.perf_counter()
                    prox = _proxies(exit_model(qmodel, d), xb, yb, seed)
                    t_prox += time.perf_counter() - t2
                    prox = prox if prox is not None else {}
                    if arith == "float":
                        float_proxies[(d, bits)] = prox
                v: dict[str, Any] = {
                    "depth": d,
                    "prune": dict(prune),
                    "bits": bits,
                    "arithmetic": arith,
                    # W8A8 sends the 8-bit weight encoding; its activation scales (one per
                    # Conv/Linear input) are not counted
                    "size_bytes": size,
                    **per_depth[d],
                    "accuracy": float(accs[d - 1]),
                    "accuracy_source": "measured",
                    # post-training quantization and truncation at a trained exit need no
                    # training; every pruned variant here is fine-tuned
                    "training_free": prune["kind"] == "none",
                    "latency_s": 0.0,  # filled below
                    "proxies": dict(prox),
                    "inner_channels": inner[:d],
                }
                if prog_accs is not None:
                    v["progressive_accuracy"] = [float(a[d - 1]) for a in prog_accs]
                    v["progressive_size_bytes"] = sizes
                variants[(d, pk, bits, arith)] = v
    timings["finetune_s"] = ft_seconds
    timings["quantize_eval_s"] = t_eval
    timings["proxies_s"] = t_prox
    report("latency", 0.88)
    t3 = time.perf_counter()
    lat = measure_latencies(
        latency_models, data.input_shape, COMMON["latency_rounds"], COMMON["latency_reps"]
    )
    timings["latency_s"] = time.perf_counter() - t3
    for (d, pk, _bits, _arith), v in variants.items():
        v["latency_s"] = lat[(d, pk)]
    vlist = list(variants.values())
    try:
        from compression.proxies import proxy_correlations

        correlations = proxy_correlations(vlist) if any(v["proxies"] for v in vlist) else {}
    except ImportError:
        correlations = {}
    full = max(variants.values(), key=lambda v: (v["depth"], v["prune"]["kind"] == "none",
                                                  v["bits"]))
    timings["total_s"] = time.perf_counter() - t_start
    profile = {
        "schema_version": SCHEMA_VERSION,
        "name": profile_name(task),
        "task": task,
        "model": f"multi-exit residual {'1-D ' if net_cfg.dim == 1 else ''}CNN, "
        f"{len(net_cfg.widths)} blocks, widths {list(net_cfg.widths)}, "
        f"{full['params']} parameters",
        "source": "measured",
        "builder": BUILDER,
        "levels": copy.deepcopy(levels),
        "task_info": data.info(),
        "architecture": asdict(net_cfg),
        "training": {
            "epochs": tcfg.epochs,
            "batch_size": tcfg.batch_size,
            "lr": tcfg.lr,
            "seconds": round(train_stats["seconds"], 2),
            "final_loss": round(train_stats["final_loss"], 4),
            "finetune_epochs": COMMON["finetune"].epochs,
            "finetune_seconds": round(ft_seconds, 2),
            "threads": torch.get_num_threads(),
        },
        "build": {
            "timings_s": {k: round(val, 2) for k, val in timings.items()},
            "torch": torch.__version__,
            "numerics": numerics,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "cpu_count": os.cpu_count(),
        },
        "notes": NOTES,
        "proxy_correlations": correlations,
        "variants": vlist,
    }
    report("writing", 0.98)
    save_profile(profile, out, overwrite=True)
    report("done", 1.0)
    return out


def build_all(
    tasks: Sequence[str] = TASKS,
    out_dir: str | Path = PROFILE_DIR,
    seed: int | None = None,
    force: bool = False,
    progress: Callable[[str, str, float], None] | None = None,
) -> list[Path]:
    """:func:`build_task` for each of ``tasks``; ``progress(task, stage, fraction)`` if given."""
    for t in tasks:
        _check_task(t)
    paths = []
    for t in tasks:
        cb = (lambda msg, frac, _t=t: progress(_t, msg, frac)) if progress else None
        paths.append(build_task(t, out_dir, seed=seed, force=force, progress=cb))
    return paths
