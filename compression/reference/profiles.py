"""Reference profiles: every depth x prune x bits variant of an architecture as a profile.

:func:`reference_profile` assembles one profile (counts from :mod:`.counting`, sizes from
:mod:`.encoding`, accuracy from the published results via :mod:`.accuracy`, latency from a CPU MAC
rate);
:func:`build_reference_profiles` writes ``reference_<arch>.json`` files;
:func:`counts_markdown` tabulates the counts next to the model cards.
"""

from __future__ import annotations

import math
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from compression.profile import (
    ARITHMETIC_LEVELS,
    BIT_LEVELS,
    MAX_PLANES,
    PROFILE_DIR,
    PRUNE_LEVELS,
    SCHEMA_VERSION,
    save_profile,
)
from compression.reference.accuracy import CHANCE, RULES, per_plane_accuracy, variant_accuracy
from compression.reference.architectures import ARCHS, CITATION, build
from compression.reference.counting import count, measure_cpu_macs_per_s, nonzero_counts
from compression.reference.encoding import encoded_size_bytes, progressive_size_bytes

#: The bit levels as (bits, arithmetic) pairs.
BIT_PAIRS = tuple(zip(BIT_LEVELS, ARITHMETIC_LEVELS))

#: Notes of every reference profile (the shipped files carry them verbatim; rewording them means
#: rebuilding those files).
NOTES = [
    "Architecture defined in compression/reference/ in plain torch.nn (no weights); params "
    "and macs exact from the layer shapes at 224x224 (params count BatchNorm as the model "
    "cards do; for unstructured variants params = non-zero parameters, params_dense the "
    "dense count).",
    "accuracy = max(0.001, top1_fp32 x r_depth x r_prune x r_bits): top1_fp32 from the torchvision "
    "model card, each r the retention of one level (retention_factors) from "
    "compression/published.py: a published record's top-1 relative to ITS OWN baseline "
    "('published: <source, table/row>'), or a documented rule where nothing is published "
    "('derived: <rule>'). A variant with one compressed level carries that level's "
    "accuracy_source, one with more 'derived: product of retentions (...)'. Chance = 0.1 %.",
    "Preferred records: round-to-nearest per-channel post-training results for weight-only bits "
    "(MSE range where published, as compression.quantize searches the clipping range), "
    "post-training results for W8A8, fine-tuned results for pruning, stage probes for depth. "
    "Rules: " + " | ".join(f"{k}: {v}" for k, v in RULES.items()),
    "W8A8 (arithmetic 'integer'): int8 weights and activations; size_bytes = the 8-bit "
    "weight-only size (the activation scales, one float per Conv/Linear input, are a few hundred "
    "bytes: negligible).",
    "training_free: True for unpruned variants (post-training quantization, truncation at a "
    "trained exit of the stored multi-exit model); False for pruned ones (the accuracies are "
    "fine-tuned results).",
    "progressive_accuracy (derived): after p bit-planes, the accuracy of the p-bit weight-only "
    "variant at the same depth and parameter level (odd p: mean of the neighbouring even bit "
    "widths; 1 plane: chance); W8A8 variants scale it by their W8A8 / 8-bit weight-only ratio. "
    "progressive_size_bytes: exact prefix lengths of the encoding (header and scales first, then "
    "one bit-plane after the other).",
    "latency_s derived = macs / cpu_macs_per_s: single-thread throughput of the full "
    "random-init model on the machine that built this file (fastest of >= 5 batch-1 runs "
    "in thread CPU time, so other processes sharing the CPU do not count; load average in "
    "cpu_load_avg_1min); the same for every bit width and for unstructured sparsity (dense "
    "float kernels).",
    "size_bytes = the byte length compression.quantize.encode would produce for the "
    "BatchNorm-folded variant (computed from names and shapes; per-channel float32 scales, "
    "dense or bitmask-sparse bit-planes); unstructured sparsity spread uniformly over the "
    "Conv/Linear weights (no trained weights to rank globally).",
    "peak_memory_bytes: largest input + output float32 activations of one layer (a lower "
    "bound; residual inputs held across a block are not added, unlike the measured "
    "profiles' liveness peak).",
]


def reference_profile(arch: str, cpu_macs_per_s: float) -> dict[str, Any]:
    """The profile (JSON object) of reference architecture ``arch``: every depth x prune x bits.

    Args:
        arch: key of :data:`ARCHS`.
        cpu_macs_per_s: single-thread MAC throughput used for the derived latency
            (:func:`measure_cpu_macs_per_s`).
    """
    if not (cpu_macs_per_s > 0 and math.isfinite(cpu_macs_per_s)):
        raise ValueError(f"cpu_macs_per_s must be a positive finite number, got {cpu_macs_per_s!r}")
    spec = ARCHS[arch]
    keeps = sorted({1.0 - p["fraction"] for p in PRUNE_LEVELS if p["kind"] == "structured"} | {1.0})
    stats = {(d, keep): count(build(arch, d, keep)) for d in spec.depths for keep in keeps}
    variants = []
    for d in spec.depths:
        for prune in PRUNE_LEVELS:
            kind, frac = prune["kind"], float(prune["fraction"])
            keep = 1.0 - frac if kind == "structured" else 1.0
            sparsity = frac if kind == "unstructured" else 0.0
            st = stats[(d, keep)]
            params_nz, macs_nz = nonzero_counts(st, sparsity)
            cell = []
            for bits, arith in BIT_PAIRS:
                acc, source, factors = variant_accuracy(arch, d, (kind, frac), (bits, arith))
                retention = factors["depth"] * factors["prune"] * factors["bits"]
                cell.append({
                    "depth": d,
                    "prune": {"kind": kind, "fraction": frac},
                    "bits": bits,
                    "arithmetic": arith,
                    # W8A8 stores the same 8-bit weights (activation scales negligible)
                    "size_bytes": encoded_size_bytes(st.tensors, bits, sparsity),
                    "macs": st.macs,
                    "macs_nonzero": macs_nz,
                    "params": params_nz,  # non-zero parameters, as in the measured profiles
                    "params_dense": st.params,
                    "peak_memory_bytes": 4 * st.peak_activation_values,
                    "accuracy": round(acc, 6),
                    "accuracy_source": source,
                    "training_free": kind == "none",
                    "retention": round(retention, 6),
                    "retention_factors": {k: round(v, 6) for k, v in factors.items()},
                    "latency_s": st.macs / cpu_macs_per_s,
                    "proxies": {"params": float(params_nz), "flops": float(st.macs)},
                })
            weight_only = {v["bits"]: v["accuracy"] for v in cell if v["arithmetic"] == "float"}
            for v in cell:
                if v["bits"] > MAX_PLANES:
                    continue
                planes = weight_only
                if v["arithmetic"] == "integer":
                    ratio = v["accuracy"] / weight_only[v["bits"]]
                    planes = {b: max(CHANCE, a * ratio) for b, a in weight_only.items()}
                v["progressive_accuracy"] = per_plane_accuracy(planes, v["bits"], v["accuracy"])
                v["progressive_size_bytes"] = progressive_size_bytes(st.tensors, v["bits"], sparsity)
            variants += cell
    return {
        "schema_version": SCHEMA_VERSION,
        "name": f"reference_{arch}",
        "task": "imagenet1k",
        "model": spec.title,
        "source": "reference",
        "levels": {"depth": list(spec.depths), "prune": [dict(p) for p in PRUNE_LEVELS],
                   "bits": list(BIT_LEVELS), "arithmetic": list(ARITHMETIC_LEVELS)},
        "citation": CITATION + "; compressed variants: compression/published.py (the source of "
                    "each level in its accuracy_source)",
        "published": {"weights": spec.weights, "top1_fp32": spec.top1_fp32,
                      "top1_int8": spec.top1_int8, "params": spec.params, "gmacs": spec.gmacs},
        "latency_source": "derived",
        "cpu_macs_per_s": cpu_macs_per_s,
        "cpu_load_avg_1min": _load_avg(),
        "notes": NOTES,
        "variants": variants,
    }


def _load_avg() -> float | None:
    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not available on this platform
        return None


def build_reference_profiles(
    out_dir: str | Path | None = None,
    archs: Sequence[str] | None = None,
    overwrite: bool = False,
    cpu_macs_per_s: dict[str, float] | None = None,
    log: Callable[[str], None] | None = print,
) -> list[Path]:
    """Write ``reference_<arch>.json`` for every architecture into ``out_dir``.

    Args:
        out_dir: target directory (default: the shipped ``compression/profiles/``).
        archs: architectures to build (default: all of :data:`ARCHS`).
        overwrite: replace existing files; otherwise an existing file is kept and skipped
            (so a build is resumable and never silently replaces a file).
        cpu_macs_per_s: throughput per architecture to use instead of measuring it.
        log: progress printer (None for silence).

    Returns:
        The paths written (skipped files are not listed).
    """
    out = Path(out_dir) if out_dir is not None else PROFILE_DIR
    archs = list(ARCHS) if archs is None else list(archs)
    for a in archs:
        if a not in ARCHS:
            raise KeyError(f"reference architecture {a!r} unknown; known: {', '.join(ARCHS)}")
    written = []
    for a in archs:
        path = out / f"reference_{a}.json"
        if path.exists() and not overwrite:
            if log:
                log(f"{path}: exists, skipped (rebuild with --overwrite, or --force under `python -m compression build --reference`)")
            continue
        t0 = time.perf_counter()
        tput = (cpu_macs_per_s or {}).get(a) or measure_cpu_macs_per_s(a)
        data = reference_profile(a, tput)
        save_profile(data, path, overwrite=overwrite)
        written.append(path)
        if log:
            log(f"{path}: {len(data['variants'])} variants, {tput / 1e9:.1f} GMAC/s, "
                f"{time.perf_counter() - t0:.1f} s")
    return written


def counts_markdown() -> str:
    """Markdown table: our exact counts of every full model next to the model cards, and the
    range over the depth x width variants."""
    rows = ["| model | params (ours) | params (card) | GMACs (ours) | GMACs (card) | depth levels "
            "| MACs of the depth x width variants | fp32 / int8 / 2-bit size (MB) |",
            "|" + "|".join(" --- " for _ in range(8)) + "|"]
    for name, spec in ARCHS.items():
        full = count(build(name))
        var = [count(build(name, d, k)).macs for d in spec.depths for k in (1.0, 0.75, 0.5, 0.25)]
        sizes = " / ".join(f"{encoded_size_bytes(full.tensors, b) / 1e6:.2f}" for b in (32, 8, 2))
        rows.append(
            f"| {spec.title} | {full.params:,} | {spec.params:,} | {full.macs / 1e9:.3f} | "
            f"{spec.gmacs:.3f} | {list(spec.depths)} | {min(var) / 1e6:.1f} M - "
            f"{max(var) / 1e9:.3f} G | {sizes} |"
        )
    return "\n".join(rows)
