"""Accuracy of the reference variants, from published ImageNet results.

Every reference variant's top-1 is ``top1_fp32 x r_depth x r_prune x r_bits``, floored at chance
(:data:`CHANCE`), where ``top1_fp32`` is the torchvision model card of the architecture and each
``r`` is the retention of one compression level (:func:`level_retention`):

* where :mod:`compression.published` holds a matching record, ``r = record.top1 /
  record.baseline_top1`` (the record's retention relative to ITS OWN baseline, so results on other
  checkpoints transfer; capped at 1), and the level's source is ``"published: <citation, table>"``.
  Preferred records: round-to-nearest per-channel post-training results for weight-only bits
  (the MSE-range variant where there is one: :mod:`compression.quantize` searches the clipping
  range for the least squared error), post-training W8A8 results for the integer level,
  fine-tuned results for pruning, stage probes for depth;
* elsewhere a documented, conservative rule (``"derived: <rule>"``), see :data:`RULES`.

A variant with one compressed level carries that level's source; a variant with two or three
carries ``"derived: product of retentions (...)"``. The full fp32 model is the model card itself.
The README tabulates every (architecture, level) source (:func:`sources_markdown`).

Per-plane accuracy (:func:`per_plane_accuracy`) is derived from the weight-only variants.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from compression import published as pub
from compression.reference.architectures import ARCHS

#: Accuracy of a 1000-class guess: the floor of every derived ImageNet accuracy.
CHANCE = 0.001

#: Architectures with depthwise-separable convolutions (more sensitive to quantization).
DEPTHWISE = ("mobilenet_v2", "mobilenet_v3_large", "efficientnet_b0")
#: Convolutional architectures (the stage-probe and sparsity curves of ResNet-50 apply to them).
CNNS = ("resnet18", "resnet50", *DEPTHWISE)

#: The derived rules, by name (each level's ``derived:`` source quotes one of them).
RULES: dict[str, str] = {
    "fp16": "16-bit weights keep the fp32 accuracy (16-bit codes: rounding error below 1/65,000 "
            "of each channel's range; no published drop)",
    "rn18_bits": "ResNet-18 round-to-nearest per-channel (MSE range) retention at the same bit "
                 "width (JingInAI/Quantize); no ResNet-50 weight-only record",
    "w8a8_floor": "weight-only 8 bits = the architecture's W8A8 post-training retention, a floor "
                  "(weight-only keeps float activations); per-channel W8A8 is the published "
                  "number closest to per-channel weight-only quantization of depthwise nets",
    "mnv2": "MobileNetV2's retention at this level (closest depthwise architecture with a record)",
    "midpoint_6": "midpoint of the 8-bit and 4-bit retentions (no 6-bit record)",
    "chance": "2-bit round-to-nearest collapses to chance, 0.1 % (ResNet-18 per-channel RTN: "
              "0.10-0.12 %, JingInAI/Quantize)",
    "mnv3_w8a8": "MobileNetV2's per-channel W8A8 post-training retention (Brevitas 70.68/71.898); "
                 "torchvision's int8 MobileNetV3-Large is quantization-aware trained",
    "unstructured_25": "no loss at 25 % sparsity (Gale et al. 2019 magnitude pruning of ResNet-50 "
                       "loses 0.35 % of its accuracy at 50 %)",
    "gale": "Gale et al. 2019 ResNet-50 magnitude-pruning retention at this sparsity (relative to "
            "its 76.8 % baseline), applied to this architecture",
    "gale_75": "Gale et al. 2019 ResNet-50 magnitude pruning, linear interpolation of the 70 % "
               "(76.38) and 80 % (75.58) sparsity retentions (baseline 76.8)",
    "rn18_s50": "linear interpolation of the NNCF fine-tuned filter-pruning retentions of "
                "ResNet-18 at 40 % (69.27/69.76) and 60 % (69.2/69.8)",
    "s25": "structured 25 % loses half the accuracy loss of structured 50 %",
    "s75": "structured 75 % loses (0.75/0.5)^3 = 3.375 times the loss of structured 50 % (loss "
           "rises steeply once most inner channels are gone; conservative)",
    "vit_s50": "ViT structured 50 % loses 1/3.375 of the structured 75 % loss (inverse of the "
               "75 % rule)",
    "depthwise_structured": "twice ResNet-50's accuracy loss at this structured level (no "
                            "published fine-tuned channel pruning of this architecture; compact "
                            "depthwise nets have less redundancy)",
    "rn50_probe": "ResNet-50 stage-k linear-probe retention (OpenSelfSup 2020: 33.96/47.86/67.56 "
                  "of 76.13 after stages 1/2/3), applied to this architecture",
    "vit_depth": "no published ViT-B/16 result for 3/6/9 blocks: the ResNet-50 stage-probe "
                 "retention at the same relative depth (3/6/9 of 12 blocks = stage 1/2/3 of 4; "
                 "OpenSelfSup 2020)",
}

#: Short citation per source, matched by a substring of :attr:`PublishedResult.citation`.
SHORT_CITATIONS: tuple[tuple[str, str], ...] = (
    ("torchvision maintainers", "torchvision model card"),
    ("Qualcomm Innovation Center", "Qualcomm AIMET model zoo 2023, GitHub quic/aimet-model-zoo"),
    ("examples/quantization/post_train_quant", "Intel Distiller post-training quantization, "
                                               "GitHub IntelLabs/distiller"),
    ("examples/agp-pruning", "Intel Distiller pruning results, GitHub IntelLabs/distiller"),
    ("MQBench", "Li et al. 2021, NeurIPS Datasets and Benchmarks (MQBench)"),
    ("Brevitas", "AMD/Xilinx Brevitas PTQ benchmark 2023, GitHub Xilinx/brevitas"),
    ("Intel Neural Compressor", "Intel Neural Compressor validated models 2023"),
    ("NNCF", "OpenVINO NNCF compressed model zoo, GitHub openvinotoolkit/nncf"),
    ("JingInAI", "JingInAI/Quantize PTQ experiments (GitHub repository)"),
    ("Jiho Lee", "Lee 2024, 2024-RISE-Quantization (GitHub repository)"),
    ("Gale, Elsen, Hooker", "Gale, Elsen, Hooker 2019, arXiv:1902.09574"),
    ("OpenSelfSup", "OpenSelfSup 2020 model zoo (open-mmlab)"),
    ("DepGraph", "Fang et al. 2023, CVPR (DepGraph / Torch-Pruning)"),
    ("PTQ4ViT", "Yuan et al. 2022, ECCV (PTQ4ViT)"),
)


def short_citation(rec: pub.PublishedResult) -> str:
    """Authors/maintainers, year and venue of a record, short."""
    for key, short in SHORT_CITATIONS:
        if key in rec.citation:
            return short
    return rec.citation.split(",")[0]


@dataclass(frozen=True)
class LevelRetention:
    """Retention of one compression level of one architecture.

    Attributes:
        retention: accuracy ratio (compressed / uncompressed), in (0, 1].
        source: ``"published: ..."``, ``"derived: ..."`` (or ``"full"`` for the uncompressed
            level).
        record: the published record used (directly, or by a derived rule), if any.
    """

    retention: float
    source: str
    record: pub.PublishedResult | None = None

    @property
    def kind(self) -> str:
        """``"published"``, ``"derived"`` or ``"full"``."""
        return self.source.split(":", 1)[0]

    @property
    def is_full(self) -> bool:
        """True for the uncompressed level (retention 1 by definition)."""
        return self.source == "full"


FULL = LevelRetention(1.0, "full")


def pick(arch: str, kind: str, level: float, method: str) -> pub.PublishedResult:
    """The one record of ``arch`` / ``kind`` / ``level`` whose method contains ``method``.

    Raises:
        LookupError: when none or several records match (the table names records exactly).
    """
    found = [r for r in pub.records(arch, kind)
             if abs(r.level - level) < 1e-9 and method in r.method]
    if len(found) != 1:
        raise LookupError(
            f"compression.published: {len(found)} records for {arch} {kind} {level} with method "
            f"containing {method!r} (need exactly one)"
        )
    return found[0]


def _ret(rec: pub.PublishedResult) -> float:
    return min(1.0, rec.retention)


def _published(rec: pub.PublishedResult, note: str = "") -> LevelRetention:
    extra = f"; {note}" if note else ""
    return LevelRetention(
        _ret(rec),
        f"published: {short_citation(rec)}, {rec.where} ({100 * rec.top1:.3f} of "
        f"{100 * rec.baseline_top1:.3f}{extra})",
        rec,
    )


def _derived(retention: float, rule: str, rec: pub.PublishedResult | None = None) -> LevelRetention:
    return LevelRetention(min(1.0, retention), f"derived: {RULES[rule]}", rec)


def _loss_scaled(base: LevelRetention, factor: float, rule: str) -> LevelRetention:
    return _derived(1.0 - factor * (1.0 - base.retention), rule, base.record)


# ---- the table ---------------------------------------------------------------------------------


def _bits(arch: str, bits: int) -> LevelRetention:
    """Weight-only (float arithmetic) ``bits``-bit level."""
    top1 = ARCHS[arch].top1_fp32
    if bits == 32:
        return FULL
    if bits == 16:
        return _derived(1.0, "fp16")
    if bits == 2:
        if arch == "resnet18":
            return _published(pick(arch, "weight_only_bits", 2, "MSE-optimal"))
        return _derived(CHANCE / top1, "chance")
    if arch == "resnet18":
        return _published(pick(arch, "weight_only_bits", bits, "MSE-optimal"))
    if arch == "resnet50":
        if bits == 4:
            return _published(
                pick(arch, "weight_act_bits", 4, "MQBench PTQ, round-to-nearest"),
                "W4A8 record: 8-bit activations, conservative for weight-only")
        return _derived(_ret(pick("resnet18", "weight_only_bits", bits, "MSE-optimal")),
                        "rn18_bits")
    if arch == "vit_b16":
        if bits == 6:
            return _derived(0.5 * (_bits(arch, 8).retention + _bits(arch, 4).retention),
                            "midpoint_6")
        return _published(pick(arch, "weight_only_bits", bits, "round-to-nearest per-channel"))
    # depthwise nets
    if bits == 8:
        return _derived(_w8a8(arch).retention, "w8a8_floor", _w8a8(arch).record)
    if arch != "mobilenet_v2":
        base = _bits("mobilenet_v2", bits)
        return _derived(base.retention, "mnv2", base.record)
    if bits == 6:
        return _published(pick(arch, "weight_act_bits", 6, "Brevitas"),
                          "W6A8 record: 8-bit activations, conservative for weight-only")
    return _published(pick(arch, "weight_act_bits", 4, "round-to-nearest MSE"),
                      "W4A8 record: 8-bit activations, conservative for weight-only")


def _w8a8(arch: str) -> LevelRetention:
    """The integer (W8A8) level: post-training results."""
    method = {
        "resnet18": "torchvision eager-mode post-training",
        "resnet50": "torchvision eager-mode post-training",
        "mobilenet_v2": "Brevitas",
        "efficientnet_b0": "Intel Neural Compressor static PTQ",
        "vit_b16": "round-to-nearest: abs-max",
    }
    if arch == "mobilenet_v3_large":
        base = _w8a8("mobilenet_v2")
        return _derived(base.retention, "mnv3_w8a8", base.record)
    return _published(pick(arch, "w8a8", 8, method[arch]))


def _gale(fraction: float) -> pub.PublishedResult:
    return pick("resnet50", "prune_unstructured_finetuned", fraction, "(Zhu & Gupta schedule)")


def _unstructured(arch: str, fraction: float) -> LevelRetention:
    if fraction == 0.25:
        if arch == "resnet50":
            return _published(pick(arch, "prune_unstructured_finetuned", 0.26, "AGP"),
                              "26 % sparsity; above its baseline, capped at 1")
        return _derived(1.0, "unstructured_25")
    if fraction == 0.75:
        return _derived(0.5 * (_ret(_gale(0.7)) + _ret(_gale(0.8))), "gale_75", _gale(0.7))
    if arch == "resnet50":
        return _published(_gale(fraction))
    if arch == "mobilenet_v2" and fraction == 0.5:
        return _published(pick(arch, "prune_unstructured_finetuned", 0.5, "NNCF"),
                          "regularization-based sparsity on Keras weights")
    return _derived(_ret(_gale(fraction)), "gale", _gale(fraction))


def _structured(arch: str, fraction: float) -> LevelRetention:
    if arch == "vit_b16":
        s75 = _published(pick(arch, "prune_structured_finetuned", 0.745, "DepGraph"),
                         "74.5 % of the parameters, 300 epochs of training after pruning")
        if fraction == 0.75:
            return s75
        s50 = _loss_scaled(s75, 1 / 3.375, "vit_s50")
        return s50 if fraction == 0.5 else _loss_scaled(s50, 0.5, "s25")
    if arch in DEPTHWISE:
        return _loss_scaled(_structured("resnet50", fraction), 2.0, "depthwise_structured")
    if arch == "resnet50":
        s50 = _published(pick(arch, "prune_structured_finetuned", 0.503, "Distiller"),
                         "50.3 % of the parameters removed; the more conservative of the two "
                         "ResNet-50 records near 50 %")
    else:
        a = _ret(pick(arch, "prune_structured_finetuned", 0.4, "NNCF filter pruning"))
        b = _ret(pick(arch, "prune_structured_finetuned", 0.6, "NNCF accuracy-aware"))
        s50 = _derived(0.5 * (a + b), "rn18_s50",
                       pick(arch, "prune_structured_finetuned", 0.4, "NNCF filter pruning"))
    if fraction == 0.5:
        return s50
    return _loss_scaled(s50, 0.5 if fraction == 0.25 else 3.375, "s25" if fraction == 0.25 else "s75")


def _depth(arch: str, depth: int) -> LevelRetention:
    spec = ARCHS[arch]
    if depth == spec.depths[-1]:
        return FULL
    stage = spec.depths.index(depth) + 1
    rec = pick("resnet50", "depth_linear_probe", stage, "linear classifier")
    if arch == "resnet50":
        return _published(rec, "a linear probe on pooled features of the stage")
    return _derived(_ret(rec), "vit_depth" if arch == "vit_b16" else "rn50_probe", rec)


def level_retention(arch: str, axis: str, level) -> LevelRetention:
    """Retention of one level of ``arch``.

    Args:
        arch: key of :data:`~compression.reference.architectures.ARCHS`.
        axis: ``"depth"`` (level: stages or blocks kept), ``"prune"`` (level: ``(kind,
            fraction)``) or ``"bits"`` (level: ``(bits, arithmetic)``).

    Raises:
        KeyError / ValueError: unknown architecture, axis or level.
    """
    if arch not in ARCHS:
        raise KeyError(f"reference architecture {arch!r} unknown; known: {', '.join(ARCHS)}")
    if axis == "depth":
        if level not in ARCHS[arch].depths:
            raise ValueError(f"{arch}: depth must be one of {ARCHS[arch].depths}, got {level!r}")
        return _depth(arch, level)
    if axis == "prune":
        kind, fraction = level[0], round(float(level[1]), 4)
        if kind == "none":
            return FULL
        table: dict[str, Callable[[str, float], LevelRetention]] = {
            "structured": _structured, "unstructured": _unstructured}
        grid = {"structured": (0.25, 0.5, 0.75), "unstructured": (0.25, 0.5, 0.75, 0.9)}
        if kind not in table or fraction not in grid[kind]:
            raise ValueError(f"{arch}: no retention for prune level {level!r}")
        return table[kind](arch, fraction)
    if axis == "bits":
        bits, arithmetic = level
        if arithmetic == "integer" and bits == 8:
            return _w8a8(arch)
        if arithmetic == "float" and bits in (32, 16, 8, 6, 4, 2):
            return _bits(arch, bits)
        raise ValueError(f"{arch}: no retention for bit level {level!r}")
    raise ValueError(f"axis must be depth, prune or bits, got {axis!r}")


def _level_label(axis: str, level) -> str:
    if axis == "depth":
        return f"depth {level}"
    if axis == "prune":
        return f"{level[0][0].upper()}{round(100 * level[1])}"
    return "W8A8" if level[1] == "integer" else f"{level[0]} bits"


def variant_accuracy(arch: str, depth: int, prune: tuple[str, float],
                     bit_level: tuple[int, str]) -> tuple[float, str, dict[str, float]]:
    """(accuracy, accuracy_source, per-axis retentions) of one reference variant.

    ``accuracy = max(CHANCE, top1_fp32 x r_depth x r_prune x r_bits)``. The source is the model
    card for the full model, the level's own source when one level is compressed, and
    ``"derived: product of retentions (...)"`` otherwise.
    """
    spec = ARCHS[arch]
    levels = {"depth": depth, "prune": prune, "bits": bit_level}
    rets = {axis: level_retention(arch, axis, lv) for axis, lv in levels.items()}
    product = 1.0
    for r in rets.values():
        product *= r.retention
    acc = max(CHANCE, spec.top1_fp32 * product)
    compressed = [axis for axis, r in rets.items() if not r.is_full]
    if not compressed:
        source = (f"published: torchvision model card, {spec.weights}, ImageNet-1K acc@1 "
                  f"{100 * spec.top1_fp32:.3f}")
    elif len(compressed) == 1:
        source = rets[compressed[0]].source
    else:
        parts = ", ".join(f"{_level_label(a, levels[a])} {rets[a].kind}" for a in compressed)
        source = f"derived: product of retentions ({parts})"
    if acc == CHANCE and spec.top1_fp32 * product < CHANCE and len(compressed) > 1:
        source += ", floored at chance (0.1 %)"
    return acc, source, {axis: r.retention for axis, r in rets.items()}


def per_plane_accuracy(weight_only: dict[int, float], bits: int, accuracy: float,
                       chance: float = CHANCE) -> list[float]:
    """Derived accuracy after the first ``p`` bit-planes, ``p = 1..bits``, of a ``bits``-bit variant.

    After ``p`` planes the weights are ``p``-bit codes (the missing low bits filled with the middle
    of their bucket), so the accuracy is that of the ``p``-bit weight-only variant at the same
    depth and parameter level (``weight_only[p]``); odd ``p`` with no such level take the mean of
    the two neighbouring levels, one plane is chance. The last entry is ``accuracy`` itself.

    Args:
        weight_only: accuracy of the weight-only variants by bit width (at least the even bit
            widths up to ``bits``).
        bits: bit width of the variant's codes.
        accuracy: the variant's own accuracy (entry ``bits - 1``).
        chance: the accuracy of one plane.
    """
    table = {1: chance, **weight_only}

    def at(p: int) -> float:
        if p in table:
            return table[p]
        return 0.5 * (at(p - 1) + at(p + 1))

    out = [round(at(p), 6) for p in range(1, bits)]
    return out + [accuracy]


def level_table(arch: str) -> list[tuple[str, str, LevelRetention]]:
    """(axis, level label, retention) of every compressed level of ``arch``, grid order."""
    from compression.profile import ARITHMETIC_LEVELS, BIT_LEVELS, PRUNE_LEVELS

    rows = []
    for d in ARCHS[arch].depths[:-1]:
        rows.append(("depth", _level_label("depth", d), level_retention(arch, "depth", d)))
    for p in PRUNE_LEVELS[1:]:
        key = (p["kind"], p["fraction"])
        rows.append(("prune", _level_label("prune", key), level_retention(arch, "prune", key)))
    for b, a in zip(BIT_LEVELS[1:], ARITHMETIC_LEVELS[1:]):
        rows.append(("bits", _level_label("bits", (b, a)), level_retention(arch, "bits", (b, a))))
    return rows


def sources_markdown() -> str:
    """Markdown table: architecture x level -> accuracy (%), and where the number comes from."""
    lines = ["| model | level | retention | top-1 % | source |", "| --- | --- | --- | --- | --- |"]
    for arch, spec in ARCHS.items():
        lines.append(f"| {spec.title} | full fp32 | 1 | {100 * spec.top1_fp32:.2f} | "
                     f"published: torchvision model card, {spec.weights} |")
        for _axis, label, r in level_table(arch):
            acc = max(CHANCE, spec.top1_fp32 * r.retention)
            lines.append(f"| {spec.title} | {label} | {r.retention:.4f} | {100 * acc:.2f} | "
                         f"{r.source} |")
    return "\n".join(lines)
