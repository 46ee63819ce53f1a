"""Published ImageNet-1k top-1 accuracies of compressed variants of the reference architectures.

Pure Python (no torch, no numpy), no side effects on import. Every record is one number as printed
in a paper table, a model card or a public benchmark table, with its exact source. Nothing here is
measured or derived by this project; cells of the compression grid for which no number was found
are reported by :func:`missing_cells` rather than filled in.

Fields of :class:`PublishedResult`
----------------------------------

``arch``
    One of :data:`ARCHS`: ``resnet18``, ``resnet50``, ``mobilenet_v2``, ``mobilenet_v3_large``,
    ``efficientnet_b0``, ``vit_b16``. A record may use another checkpoint of the same
    architecture (see ``weights``; e.g. DeiT-B is architecturally a ViT-B/16).
``kind``
    The compression level kind, one of :data:`KINDS`:

    * ``fp32``: the uncompressed model (``level`` 32).
    * ``weight_only_bits``: weights quantized to ``level`` bits, activations float.
    * ``w8a8``: weights and activations 8-bit integer (``level`` 8, ``act_bits`` 8).
    * ``weight_act_bits``: other integer weight/activation pairs (``level`` = weight bits,
      ``act_bits`` = activation bits), e.g. W4A8, W6A6, W4A4.
    * ``prune_unstructured_oneshot`` / ``prune_unstructured_finetuned``: a fraction ``level`` of
      the weights set to zero, without / with retraining afterwards.
    * ``prune_structured_oneshot`` / ``prune_structured_finetuned``: channels, filters, heads or
      hidden units removed; ``level`` is a fraction whose basis is given by ``level_basis``.
    * ``depth_linear_probe``: a classifier trained on frozen intermediate features; ``level`` is
      the stage (1..4, CNNs) or the number of encoder blocks (3/6/9/12, ViT-B/16) after which the
      network is cut.
``level``
    Bits, fraction, stage or number of blocks, as described for ``kind`` (a float).
``level_basis``
    What ``level`` counts: ``"bits"``, ``"weights"`` (fraction of weights zeroed), ``"channels"``
    (fraction of channels/filters removed), ``"params"`` (fraction of parameters removed),
    ``"flops"`` (fraction of FLOPs/MACs removed), ``"stage"`` or ``"blocks"``.
``act_bits``
    Activation bits for the quantization kinds (``None`` = float activations or not applicable).
``method``
    The method as the source names it (e.g. ``"round-to-nearest per-channel min-max"``).
``training_free``
    ``True`` when no weight is retrained: post-training quantization (also with calibration data or
    rounding optimisation such as AdaRound/BRECQ/GPTQ, which is said in ``note``), one-shot
    pruning. ``False`` for quantization-aware training, fine-tuning, gradual pruning, sparse
    training, and for linear probes (the classifier head is trained, the backbone is frozen).
``top1``
    The compressed model's top-1 accuracy as a fraction (the printed percentage / 100).
``baseline_top1``
    The source's own uncompressed top-1 for the same checkpoint (fraction), so that results can be
    expressed as a drop or a ratio (:meth:`PublishedResult.retention`).
``weights``
    The checkpoint: ``"torchvision IMAGENET1K_V1"`` when it is the one the environment models,
    otherwise what the source used (e.g. ``"timm vit_base_patch16_224 (IN-21k pre-trained)"``).
``citation``
    Authors, title, venue or repository, year.
``where``
    Table/figure (or file) and row/column of the number.
``source_type``
    ``"paper"``, ``"paper (as quoted)"`` (a paper's number reproduced in another public source),
    ``"model_card"``, ``"library_benchmark"`` (a maintained library's published results table) or
    ``"repository"`` (an individual's public results table; lowest weight).
``note``
    A short quote or caveat.

Helpers: :func:`records` filters, :func:`grid_cells` lists the grid, :func:`missing_cells` lists
the (arch, kind, level) cells with no published number, :func:`cell_records` gives the records that
cover one cell.
"""

from __future__ import annotations

from dataclasses import dataclass

#: Architectures of the reference-scale library.
ARCHS: tuple[str, ...] = (
    "resnet18",
    "resnet50",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "efficientnet_b0",
    "vit_b16",
)

#: Allowed values of ``PublishedResult.kind``.
KINDS: tuple[str, ...] = (
    "fp32",
    "weight_only_bits",
    "w8a8",
    "weight_act_bits",
    "prune_unstructured_oneshot",
    "prune_unstructured_finetuned",
    "prune_structured_oneshot",
    "prune_structured_finetuned",
    "depth_linear_probe",
)

#: Allowed values of ``PublishedResult.level_basis``.
LEVEL_BASES: tuple[str, ...] = ("bits", "weights", "channels", "params", "flops", "stage", "blocks")

#: Allowed values of ``PublishedResult.source_type``.
SOURCE_TYPES: tuple[str, ...] = (
    "paper",
    "paper (as quoted)",
    "model_card",
    "library_benchmark",
    "repository",
)

#: The checkpoint the environment's reference profiles model.
TORCHVISION_V1 = "torchvision IMAGENET1K_V1"

#: torchvision model-card top-1 (fraction) of the IMAGENET1K_V1 weights.
TORCHVISION_FP32: dict[str, float] = {
    "resnet18": 0.69758,
    "resnet50": 0.76130,
    "mobilenet_v2": 0.71878,
    "mobilenet_v3_large": 0.74042,
    "efficientnet_b0": 0.77692,
    "vit_b16": 0.81072,
}

#: torchvision model-card top-1 (fraction) of the quantized (int8) weights.
TORCHVISION_INT8: dict[str, float] = {
    "resnet18": 0.69494,
    "resnet50": 0.75920,
    "mobilenet_v2": 0.71658,
    "mobilenet_v3_large": 0.73004,
}

#: Grid levels per kind (the compression grid of the reference profiles).
GRID_LEVELS: dict[str, tuple[float, ...]] = {
    "weight_only_bits": (16, 8, 6, 4, 2),
    "w8a8": (8,),
    "prune_unstructured_oneshot": (0.25, 0.5, 0.75, 0.9),
    "prune_unstructured_finetuned": (0.25, 0.5, 0.75, 0.9),
    "prune_structured_oneshot": (0.25, 0.5, 0.75),
    "prune_structured_finetuned": (0.25, 0.5, 0.75),
    "depth_linear_probe": (1, 2, 3, 4),
}

#: ViT-B/16 depth levels (encoder blocks kept) replacing the CNN stages 1..4.
VIT_DEPTHS: tuple[int, ...] = (3, 6, 9, 12)

#: Fractions within this distance of a grid fraction count for that grid cell.
FRACTION_TOLERANCE = 0.05


@dataclass(frozen=True)
class PublishedResult:
    """One published top-1 number of a compressed variant (fields: see the module docstring)."""

    arch: str
    kind: str
    level: float
    level_basis: str
    method: str
    training_free: bool
    top1: float
    baseline_top1: float
    weights: str
    citation: str
    where: str
    source_type: str
    act_bits: int | None = None
    note: str = ""

    @property
    def drop(self) -> float:
        """Absolute drop versus the source's own baseline (fraction; positive = worse)."""
        return self.baseline_top1 - self.top1

    @property
    def retention(self) -> float:
        """Ratio ``top1 / baseline_top1``."""
        return self.top1 / self.baseline_top1


# ----------------------------------------------------------------------------------------------
# citations

_TV = (
    "torchvision maintainers, torchvision model cards (weights metadata, ImageNet-1K acc@1), "
    "pytorch/vision, torchvision/models/*.py and torchvision/models/quantization/*.py"
)
_AIMET = (
    "Qualcomm Innovation Center, Model Zoo for AI Model Efficiency Toolkit (AIMET), GitHub "
    "quic/aimet-model-zoo, README.md (commit d09d2b0, 2023)"
)
_DISTILLER_PTQ = (
    "Intel AI Lab, Distiller, GitHub IntelLabs/distiller, "
    "examples/quantization/post_train_quant/command_line.md (commit d859fc8)"
)
_DISTILLER_AGP = (
    "Intel AI Lab, Distiller (AGP = Zhu & Gupta 2017 'To prune, or not to prune'), GitHub "
    "IntelLabs/distiller, examples/agp-pruning/README.md (commit d859fc8)"
)
_MQBENCH = (
    "Y. Li, M. Shen, J. Ma et al., MQBench: Towards Reproducible and Deployable Model Quantization "
    "Benchmark, NeurIPS 2021 Datasets and Benchmarks; GitHub ModelTC/MQBench, "
    "docs/source/benchmark/ImageClassification/Benchmark.rst"
)
_BREVITAS = (
    "AMD/Xilinx, Brevitas PTQ benchmark on torchvision models, GitHub Xilinx/brevitas, "
    "src/brevitas_examples/imagenet_classification/ptq/RESULTS_TORCHVISION.csv "
    "(commit 8a10dd0, 2023)"
)
_INC = (
    "Intel, Intel Neural Compressor validated models, GitHub intel/neural-compressor, "
    "docs/source/validated_model_list.md (tested 06/19/2023)"
)
_NNCF = (
    "OpenVINO, NNCF Compressed Model Zoo, GitHub openvinotoolkit/nncf, docs/ModelZoo.md"
)
_JING = (
    "JingInAI, Quantize (PTQ/AdaRound experiments), GitHub JingInAI/Quantize, configs/README.md "
    "(commit 8e761cc)"
)
_JIHO = (
    "Jiho Lee (Incheon National University), 2024-RISE-Quantization, GitHub "
    "jiho264/2024-RISE-Quantization, Readme.md (revisions of 2024)"
)
_TFLITE = (
    "TensorFlow authors, TensorFlow Lite 'Model optimization' guide, GitHub tensorflow/tensorflow, "
    "tensorflow/lite/g3doc/performance/model_optimization.md (commit 12d0626)"
)
_PTQ4VIT = (
    "Yuan, Xue, Chen, Wu, Sun, PTQ4ViT: Post-Training Quantization for Vision Transformers with "
    "Twin Uniform Quantization, ECCV 2022; GitHub hahnyuan/PTQ4ViT, README.md"
)
_FQVIT = (
    "Lin, Zhang, Sun, Li, Zhou, FQ-ViT: Post-Training Quantization for Fully Quantized Vision "
    "Transformer, IJCAI 2022; GitHub megvii-research/FQ-ViT, README.md"
)
_REPQ = (
    "Li, Xiao, Yang, Gu, RepQ-ViT: Scale Reparameterization for Post-Training Quantization of "
    "Vision Transformers, ICCV 2023; GitHub zkkli/RepQ-ViT, classification/README.md"
)
_GALE = (
    "Gale, Elsen, Hooker, The State of Sparsity in Deep Neural Networks, arXiv:1902.09574, 2019; "
    "GitHub google-research/google-research, state_of_sparsity/README.md"
)
_RIGL = (
    "Evci, Gale, Menick, Castro, Elsen, Rigging the Lottery: Making All Tickets Winners, ICML "
    "2020; GitHub google-research/rigl, README.md"
)
_TP = (
    "Torch-Pruning, the implementation of Fang, Ma, Song, Mi, Wang, DepGraph: Towards Any "
    "Structural Pruning, CVPR 2023; GitHub VainF/Torch-Pruning, examples/transformers/readme.md "
    "(commit e80127d)"
)
_AIMET_ISSUE = (
    "AIMET issue 'does the 1% loss of resnet require fine-tuning?', GitHub quic/aimet issue #56, "
    "2020 (user report, answered by the maintainers)"
)
_OPENSELFSUP = (
    "OpenSelfSup contributors (open-mmlab), OpenSelfSup self-supervised benchmark model zoo, 2020, "
    "docs/MODEL_ZOO.md; copy in GitHub allysakate/DenseCL (an OpenSelfSup-based code base), "
    "docs/MODEL_ZOO.md (commit 5b135ae)"
)
_ADAROUND = (
    "Nagel, Amjad, van Baalen, Louizos, Blankevoort, Up or Down? Adaptive Rounding for "
    "Post-Training Quantization, ICML 2020"
)


def _r(arch: str, kind: str, level: float, basis: str, method: str, free: bool, top1_pct: float,
       base_pct: float, weights: str, citation: str, where: str, source_type: str,
       act_bits: int | None = None, note: str = "") -> PublishedResult:
    """Build a record from printed percentages."""
    return PublishedResult(
        arch=arch, kind=kind, level=float(level), level_basis=basis, method=method,
        training_free=free, top1=round(top1_pct / 100.0, 6), baseline_top1=round(base_pct / 100.0, 6),
        weights=weights, citation=citation, where=where, source_type=source_type,
        act_bits=act_bits, note=note,
    )


# ----------------------------------------------------------------------------------------------
# records

_RECORDS: list[PublishedResult] = []

# torchvision model cards: fp32 of every architecture, int8 where torchvision ships it.
for _arch, _acc in TORCHVISION_FP32.items():
    _RECORDS.append(_r(
        _arch, "fp32", 32, "bits", "none (float32)", True, _acc * 100, _acc * 100, TORCHVISION_V1,
        _TV, f"{_arch} IMAGENET1K_V1 weights, _metrics ImageNet-1K acc@1", "model_card",
        note="the environment's base accuracy",
    ))
_RECORDS += [
    _r("resnet18", "w8a8", 8, "bits", "torchvision eager-mode post-training quantization (FBGEMM)",
       True, 69.494, 69.758, TORCHVISION_V1, _TV,
       "ResNet18_QuantizedWeights.IMAGENET1K_FBGEMM_V1, acc@1", "model_card", 8,
       "'These weights were produced by doing Post Training Quantization (eager mode) on top of "
       "the unquantized weights listed below.'"),
    _r("resnet50", "w8a8", 8, "bits", "torchvision eager-mode post-training quantization (FBGEMM)",
       True, 75.920, 76.130, TORCHVISION_V1, _TV,
       "ResNet50_QuantizedWeights.IMAGENET1K_FBGEMM_V1, acc@1", "model_card", 8,
       "post-training quantization, as for ResNet-18"),
    _r("mobilenet_v2", "w8a8", 8, "bits", "torchvision quantization-aware training (QNNPACK)",
       False, 71.658, 71.878, TORCHVISION_V1, _TV,
       "MobileNet_V2_QuantizedWeights.IMAGENET1K_QNNPACK_V1, acc@1", "model_card", 8,
       "'produced by doing Quantization Aware Training (eager mode) on top of the unquantized "
       "weights'"),
    _r("mobilenet_v3_large", "w8a8", 8, "bits", "torchvision quantization-aware training (QNNPACK)",
       False, 73.004, 74.042, TORCHVISION_V1, _TV,
       "MobileNet_V3_Large_QuantizedWeights.IMAGENET1K_QNNPACK_V1, acc@1", "model_card", 8,
       "'produced by doing Quantization Aware Training (eager mode) on top of the unquantized "
       "weights'"),
]

# ---- ResNet-18: weight-only
_RN18_JING = "ResNet-18 table (W32A32 = 69.76), row {row}, column W{b}A32"
for _row, _method, _vals in (
    ("PTQ/minmax_channel", "round-to-nearest per-channel, min-max range",
     {8: 69.63, 6: 68.87, 4: 44.52, 2: 0.10}),
    ("PTQ/mse_channel", "round-to-nearest per-channel, MSE-optimal range",
     {8: 69.70, 6: 69.28, 4: 55.03, 2: 0.12}),
    ("AdaRound/mse_channel", "AdaRound per-channel (MSE range init)",
     {8: 69.68, 6: 69.63, 4: 68.85, 2: 47.62}),
):
    for _b, _v in _vals.items():
        _RECORDS.append(_r(
            "resnet18", "weight_only_bits", _b, "bits", _method, True, _v, 69.76, TORCHVISION_V1,
            _JING, _RN18_JING.format(row=_row, b=_b), "repository",
            note=("AdaRound optimises the rounding on calibration data (GPU-minutes), no "
                  "retraining" if _row.startswith("AdaRound") else
                  "plain round-to-nearest, no data needed for the weights")
            + ("; 2-bit RTN is chance level (0.1 % = 1/1000)" if _b == 2 and _v < 1 else ""),
        ))
_RECORDS += [
    _r("resnet18", "weight_only_bits", 8, "bits", "round-to-nearest per-channel, min-max", True,
       69.76, 69.758, TORCHVISION_V1, _JIHO,
       "Results on ResNet18 (Per-Channel) table, row MinMaxQuantizer_CH, column W8A32",
       "repository"),
    _r("resnet18", "weight_only_bits", 4, "bits", "round-to-nearest per-channel, min-max", True,
       58.24, 69.758, TORCHVISION_V1, _JIHO,
       "Results on ResNet18 (Per-Channel) table, row MinMaxQuantizer_CH, column W4A32",
       "repository", note="per-layer min-max at W4A32 gives 1.92 % in the same table"),
    _r("resnet18", "weight_only_bits", 4, "bits", "AdaRound (symmetric, per-tensor)", True,
       68.71, 69.68, "AdaRound paper's own ResNet-18 (69.68 %)", _ADAROUND,
       "ImageNet W4A32 result for Resnet18, as quoted in jiho264/2024-RISE-Quantization "
       "Readme.md: 'AdaRoundPaper(base: 69.68%, W4A32): 68.71 +-0.06%'", "paper (as quoted)",
       note="rounding optimised on calibration data, no retraining"),
]
# ---- ResNet-18: integer weights and activations
_RECORDS += [
    _r("resnet18", "w8a8", 8, "bits", "AIMET PTQ: cross-layer equalization + AdaRound, per-channel",
       True, 69.54, 69.75, TORCHVISION_V1, _AIMET, "PyTorch Models table, row Resnet18, W8A8",
       "library_benchmark", 8, "2000 calibration images (aimet_zoo_torch/resnet/ResNet.md)"),
    _r("resnet18", "weight_act_bits", 4, "bits", "AIMET W4A8 (method not stated in the table)",
       False, 69.1, 69.75, TORCHVISION_V1, _AIMET, "PyTorch Models table, row Resnet18, W4A8",
       "library_benchmark", 8,
       "footnote: W4A8 'Some models include a mix of W4A8 and W8A8 layers'; PTQ or QAT is not "
       "stated, so marked not training-free"),
    _r("resnet18", "w8a8", 8, "bits", "Brevitas PTQ, per-channel float scales, bias correction + "
       "graph equalization, no GPTQ", True, 69.458, 69.758, TORCHVISION_V1, _BREVITAS,
       "row resnet18, generic backend, float32 scales, per-channel, asymmetric acts, "
       "percentile 99.999, GPTQ off, W8A8", "library_benchmark", 8, "1000 calibration images"),
    _r("resnet18", "weight_act_bits", 6, "bits", "Brevitas PTQ (same settings as its W8A8)", True,
       69.278, 69.758, TORCHVISION_V1, _BREVITAS, "row resnet18, same settings, W6A8",
       "library_benchmark", 8),
    _r("resnet18", "weight_act_bits", 4, "bits", "Brevitas PTQ (same settings as its W8A8)", True,
       59.352, 69.758, TORCHVISION_V1, _BREVITAS, "row resnet18, same settings, W4A8",
       "library_benchmark", 8),
    _r("resnet18", "weight_act_bits", 4, "bits", "Brevitas PTQ + GPTQ, per-channel", True, 68.818,
       69.758, TORCHVISION_V1, _BREVITAS.replace("RESULTS_TORCHVISION.csv",
                                                  "RESULTS_TORCHVISION_BEST_CONFIGS.csv"),
       "row resnet18, generic, float32, per-channel, asymmetric, GPTQ on, act order on, W4A8",
       "library_benchmark", 8, "GPTQ updates the weights layer by layer on calibration data"),
    _r("resnet18", "w8a8", 8, "bits", "MQBench PTQ, MinMax weights / EMA MinMax activations",
       True, 70.93, 71.06, "MQBench's own ResNet-18 (71.06 %)", _MQBENCH,
       "Post-training Quantization, Backend Academic, row MinMax/EMAMinMax wbit 8 abit 8",
       "library_benchmark", 8),
    _r("resnet18", "weight_act_bits", 4, "bits", "MQBench PTQ, round-to-nearest MinMax weights",
       True, 52.25, 71.06, "MQBench's own ResNet-18 (71.06 %)", _MQBENCH,
       "Backend Academic, row MinMax/EMAMinMax wbit 4 abit 8", "library_benchmark", 8),
    _r("resnet18", "weight_act_bits", 4, "bits", "MQBench PTQ, AdaRound weights", True, 70.35,
       71.06, "MQBench's own ResNet-18 (71.06 %)", _MQBENCH,
       "Backend Academic, row AdaRound/EMAMSE wbit 4 abit 8", "library_benchmark", 8,
       "rounding optimised on calibration data"),
    _r("resnet18", "w8a8", 8, "bits", "Intel Neural Compressor static PTQ (accuracy-driven tuning)",
       True, 69.61, 69.76, "torchvision ResNet18 (69.76 % in the table)", _INC,
       "PyTorch Models with Torch 2.0.1+cpu in PTQ Mode, row ResNet18, INT8/FP32",
       "library_benchmark", 8, "the tuner may keep sensitive ops in fp32"),
]
# ---- ResNet-18: pruning
_RECORDS += [
    _r("resnet18", "prune_unstructured_finetuned", 0.599, "weights",
       "AGP gradual magnitude pruning (Zhu & Gupta) with fine-tuning", False, 69.87, 69.76,
       TORCHVISION_V1, _DISTILLER_AGP, "Element-wise sparsity table, row ResNet-18, 59.9 %",
       "library_benchmark"),
    _r("resnet18", "prune_structured_finetuned", 0.4, "channels",
       "NNCF filter pruning 40 %, magnitude criterion, fine-tuned", False, 69.27, 69.76,
       TORCHVISION_V1, _NNCF, "PyTorch Classification, Filter pruning table, row ResNet-18 "
       "'Filter pruning, 40%, magnitude criterion'", "library_benchmark",
       note="printed as '69.27 (0.49)'"),
    _r("resnet18", "prune_structured_finetuned", 0.6, "channels",
       "NNCF accuracy-aware filter pruning 60 %, geometric median, fine-tuned", False, 69.2, 69.8,
       TORCHVISION_V1, _NNCF, "PyTorch Accuracy-aware compressed training table, row ResNet-18",
       "library_benchmark", note="printed as '69.2 (-0.6)'"),
]

# ---- ResNet-50
_RECORDS += [
    _r("resnet50", "w8a8", 8, "bits", "Distiller PTQ, symmetric, per-channel weights, no clipping",
       True, 75.154, 76.130, TORCHVISION_V1, _DISTILLER_PTQ,
       "ResNet-50 table, row 3 (Symmetric, 8/8, per-channel Yes, clip none)", "library_benchmark",
       8, "round-to-nearest with min-max ranges from collected statistics"),
    _r("resnet50", "w8a8", 8, "bits",
       "Distiller PTQ, asymmetric, per-channel, activation clipping (avg, except last layer)",
       True, 75.986, 76.130, TORCHVISION_V1, _DISTILLER_PTQ, "ResNet-50 table, row 7",
       "library_benchmark", 8),
    _r("resnet50", "weight_act_bits", 6, "bits",
       "Distiller PTQ, asymmetric, per-channel, clipping (avg, except last layer)", True, 74.494,
       76.130, TORCHVISION_V1, _DISTILLER_PTQ, "ResNet-50 table, row 10 (6/6 bits)",
       "library_benchmark", 6, "symmetric per-tensor W6A6 (row 8) gives 36.124 %"),
    _r("resnet50", "w8a8", 8, "bits", "AIMET PTQ: cross-layer equalization + AdaRound, per-channel",
       True, 75.81, 76.14, TORCHVISION_V1, _AIMET, "PyTorch Models table, row Resnet50, W8A8",
       "library_benchmark", 8, "2000 calibration images"),
    _r("resnet50", "weight_act_bits", 4, "bits", "AIMET W4A8 (method not stated in the table)",
       False, 75.63, 76.14, TORCHVISION_V1, _AIMET, "PyTorch Models table, row Resnet50, W4A8",
       "library_benchmark", 8, "PTQ or QAT not stated; marked not training-free"),
    _r("resnet50", "w8a8", 8, "bits", "MQBench PTQ, MinMax weights / EMA MinMax activations",
       True, 77.67, 77.94, "MQBench's own ResNet-50 (77.94 %)", _MQBENCH,
       "Backend Academic, row MinMax/EMAMinMax wbit 8 abit 8", "library_benchmark", 8),
    _r("resnet50", "weight_act_bits", 4, "bits", "MQBench PTQ, round-to-nearest MinMax weights",
       True, 73.50, 77.94, "MQBench's own ResNet-50 (77.94 %)", _MQBENCH,
       "Backend Academic, row MinMax/EMAMinMax wbit 4 abit 8", "library_benchmark", 8),
    _r("resnet50", "weight_act_bits", 4, "bits", "MQBench PTQ, AdaRound weights", True, 76.87,
       77.94, "MQBench's own ResNet-50 (77.94 %)", _MQBENCH,
       "Backend Academic, row AdaRound/EMAMSE wbit 4 abit 8", "library_benchmark", 8),
    _r("resnet50", "w8a8", 8, "bits", "Intel Neural Compressor static PTQ (accuracy-driven tuning)",
       True, 75.92, 76.15, "torchvision ResNet50 (76.15 % in the table)", _INC,
       "PyTorch Models with Torch 2.0.1+cpu in PTQ Mode, row ResNet50", "library_benchmark", 8,
       "the tuner may keep sensitive ops in fp32"),
    _r("resnet50", "w8a8", 8, "bits", "NNCF INT8 with the NNCF training sample (quantization-aware)",
       False, 76.46, 76.15, TORCHVISION_V1, _NNCF,
       "PyTorch Classification, Quantization table, row ResNet-50 INT8", "library_benchmark", 8,
       "printed as '76.46 (-0.31)'"),
]
for _s, _v in ((0.5, 76.53), (0.7, 76.38), (0.8, 75.58), (0.9, 73.91)):
    _RECORDS.append(_r(
        "resnet50", "prune_unstructured_finetuned", _s, "weights",
        "gradual magnitude pruning (Zhu & Gupta schedule) during training", False, _v, 76.8,
        "TF/TPU ResNet-50 of the Google sparsity code base", _GALE,
        f"Trained Checkpoints table, row 'ResNet-50 | Magnitude Pruning | {int(_s * 100)}%'",
        "paper",
        note="the Gale et al. README prints no dense top-1; baseline 76.8 is the dense row of the "
             "RigL README, same TPU ResNet-50 training code and authors",
    ))
_RECORDS += [
    _r("resnet50", "prune_unstructured_finetuned", 0.8, "weights", "RigL sparse training, ERK, 1x",
       False, 75.12, 76.8, "RigL TPU ResNet-50 (dense 76.8 %)", _RIGL,
       "1x Training Results table, row ERK 0.8", "paper",
       note="dynamic sparse training from scratch, not pruning of a trained model"),
    _r("resnet50", "prune_unstructured_finetuned", 0.9, "weights", "RigL sparse training, ERK, 1x",
       False, 73.07, 76.8, "RigL TPU ResNet-50 (dense 76.8 %)", _RIGL,
       "1x Training Results table, row ERK 0.9", "paper",
       note="dynamic sparse training from scratch"),
    _r("resnet50", "prune_unstructured_finetuned", 0.8, "weights",
       "AGP gradual magnitude pruning with fine-tuning", False, 75.99, 76.15, TORCHVISION_V1,
       _DISTILLER_AGP, "Element-wise sparsity table, row ResNet-50, 80.0 %", "library_benchmark"),
    _r("resnet50", "prune_unstructured_finetuned", 0.26, "weights",
       "AGP gradual magnitude pruning with fine-tuning", False, 76.54, 76.15, TORCHVISION_V1,
       _DISTILLER_AGP, "Element-wise sparsity table, row ResNet-50, printed '26 .0'",
       "library_benchmark"),
    _r("resnet50", "prune_structured_finetuned", 0.503, "params",
       "Distiller filter pruning with thinning, fine-tuned", False, 74.78, 76.15, TORCHVISION_V1,
       _DISTILLER_AGP, "Filter pruning with thinning table, row 'ResNet-50 (2)': parameters kept "
       "49.69 %, compute kept 49.82 %", "library_benchmark",
       note="level = 1 - parameters kept; compute (MACs) removed is 50.2 %"),
    _r("resnet50", "prune_structured_finetuned", 0.32, "params",
       "Distiller filter pruning with thinning, fine-tuned", False, 75.75, 76.15, TORCHVISION_V1,
       _DISTILLER_AGP, "Filter pruning with thinning table, row 'ResNet-50 (3)': parameters kept "
       "67.95 %, compute kept 67.33 %", "library_benchmark"),
    _r("resnet50", "prune_structured_finetuned", 0.566, "params",
       "Distiller filter pruning with thinning, fine-tuned", False, 74.47, 76.15, TORCHVISION_V1,
       _DISTILLER_AGP, "Filter pruning with thinning table, row 'ResNet-50': parameters kept "
       "43.37 %, compute kept 44.56 %", "library_benchmark"),
    _r("resnet50", "prune_structured_finetuned", 0.4, "channels",
       "NNCF filter pruning 40 %, geometric median, fine-tuned", False, 75.57, 76.15,
       TORCHVISION_V1, _NNCF, "PyTorch Classification, Filter pruning table, row ResNet-50",
       "library_benchmark", note="printed as '75.57 (0.58)'"),
    _r("resnet50", "prune_structured_finetuned", 0.525, "channels",
       "NNCF accuracy-aware filter pruning 52.5 %, geometric median, fine-tuned", False, 75.23,
       76.16, TORCHVISION_V1, _NNCF,
       "PyTorch Accuracy-aware compressed training table, row ResNet-50", "library_benchmark",
       note="printed as '75.23 (0.93)'"),
    _r("resnet50", "prune_structured_oneshot", 0.568, "flops",
       "AIMET channel pruning (auto mode, with weight reconstruction), no fine-tuning", True,
       0.1480, 76.1580, TORCHVISION_V1, _AIMET_ISSUE,
       "issue description: 'Baseline model accuracy: 0.761580, Compressed model accuracy: "
       "0.001480 / Compression ratio for memory=0.731370, mac=0.432465'", "repository",
       note="level = 1 - MAC ratio; a maintainer answers that the published accuracies assume "
            "fine-tuning and that 'Sometimes we see a very sharp drop in accuracy'"),
]
for _stage, _feat, _v in ((1, "feat2", 33.96), (2, "feat3", 47.86), (3, "feat4", 67.56),
                          (4, "feat5", 76.17)):
    _RECORDS.append(_r(
        "resnet50", "depth_linear_probe", _stage, "stage",
        "linear classifier on frozen, pooled (~9k-dim) features of one stage", False, _v, 76.13,
        TORCHVISION_V1, _OPENSELFSUP,
        f"ImageNet Linear Classification table, row ImageNet (torchvision), ImageNet (Multi) "
        f"column {_feat}", "library_benchmark",
        note=(f"{_feat} = output of torchvision layer{_stage} (res{_stage + 1}); features "
              "pooled to about 9k dimensions, not global average pooled; baseline = torchvision "
              "model card")
        + ("; the 2048-d global-average-pooled probe (ImageNet (Last), avgpool) gives 74.12"
           if _stage == 4 else ""),
    ))

# ---- MobileNetV2
_RECORDS += [
    _r("mobilenet_v2", "weight_only_bits", 8, "bits",
       "TensorFlow Lite post-training (hybrid) quantization: 8-bit weights, float kernels", True,
       63.7, 71.9, "TF-slim Mobilenet-v2-1-224", _TFLITE,
       "Table 1 'Benefits of model quantization for select CNN models', row Mobilenet-v2-1-224, "
       "printed 0.637 (original 0.719)", "library_benchmark",
       note="the same docs: 'Post-training quantization quantizes weights from floating point to "
            "8-bits of precision'; hybrid kernels quantize activations dynamically; granularity "
            "(per-tensor/per-channel) not stated; QAT gives 0.709"),
    _r("mobilenet_v2", "w8a8", 8, "bits", "Brevitas PTQ, per-channel float scales, bias correction "
       "+ graph equalization, no GPTQ", True, 70.68, 71.898, TORCHVISION_V1, _BREVITAS,
       "row mobilenet_v2, generic backend, float32 scales, per-channel, asymmetric acts, "
       "percentile 99.999, GPTQ off, W8A8", "library_benchmark", 8),
    _r("mobilenet_v2", "weight_act_bits", 6, "bits", "Brevitas PTQ (same settings as its W8A8)",
       True, 69.216, 71.898, TORCHVISION_V1, _BREVITAS, "row mobilenet_v2, same settings, W6A8",
       "library_benchmark", 8),
    _r("mobilenet_v2", "weight_act_bits", 4, "bits", "Brevitas PTQ (same settings as its W8A8)",
       True, 36.252, 71.898, TORCHVISION_V1, _BREVITAS, "row mobilenet_v2, same settings, W4A8",
       "library_benchmark", 8),
    _r("mobilenet_v2", "w8a8", 8, "bits", "MQBench PTQ, MinMax weights / EMA MinMax activations",
       True, 72.51, 72.68, "MQBench's own MobileNetV2 (72.68 %)", _MQBENCH,
       "Backend Academic, column mobilenetv2_1.0, row MinMax/EMAMinMax wbit 8 abit 8",
       "library_benchmark", 8),
    _r("mobilenet_v2", "weight_act_bits", 4, "bits", "MQBench PTQ, round-to-nearest MSE weights",
       True, 27.03, 72.68, "MQBench's own MobileNetV2 (72.68 %)", _MQBENCH,
       "Backend Academic, row MSE/EMAMSE wbit 4 abit 8", "library_benchmark", 8,
       "MinMax weights give 24.76"),
    _r("mobilenet_v2", "weight_act_bits", 4, "bits", "MQBench PTQ, AdaRound weights", True, 71.82,
       72.68, "MQBench's own MobileNetV2 (72.68 %)", _MQBENCH,
       "Backend Academic, row AdaRound/EMAMSE wbit 4 abit 8", "library_benchmark", 8),
    _r("mobilenet_v2", "w8a8", 8, "bits", "AIMET W8A8 quantization-aware trained checkpoint", False,
       71.14, 71.67, "tonylins/pytorch-mobilenet-v2 (71.67 %)", _AIMET,
       "PyTorch Models table, row MobileNetV2, W8A8", "library_benchmark", 8,
       "released model is 'mv2qat_modeldef' (QAT)"),
    _r("mobilenet_v2", "w8a8", 8, "bits", "NNCF INT8 post-training (ONNX model)", True, 71.38,
       71.87, "ONNX MobileNet V2", _NNCF, "ONNX models, Classification table, row MobileNet V2, "
       "printed '71.38 (0.49)'", "library_benchmark", 8,
       "baseline = printed accuracy + printed drop"),
    _r("mobilenet_v2", "w8a8", 8, "bits", "NNCF INT8 with the NNCF training sample", False, 71.07,
       71.87, TORCHVISION_V1, _NNCF, "PyTorch Classification, Quantization table, row MobileNet "
       "V2 INT8, printed '71.07 (0.80)'", "library_benchmark", 8),
    _r("mobilenet_v2", "prune_unstructured_finetuned", 0.5, "weights",
       "NNCF regularization-based (RB) sparsity 50 %, fine-tuned", False, 71.34, 71.85,
       "Keras MobileNet V2", _NNCF, "TensorFlow Classification, Quantization table, row "
       "'MobileNet V2 | Sparsity 50% (RB)', printed '71.34 (0.51)'", "library_benchmark",
       note="RB sparsity learns the mask with a regularizer; not magnitude pruning"),
]

# ---- MobileNetV3-Large
_RECORDS += [
    _r("mobilenet_v3_large", "w8a8", 8, "bits",
       "NNCF INT8 (per-channel symmetric weights, per-tensor asymmetric activations), training "
       "sample", False, 75.04, 75.80, "Keras MobileNet V3 (Large)", _NNCF,
       "TensorFlow Classification, Quantization table, row MobileNet V3 (Large) INT8, printed "
       "'75.04 (0.76)'", "library_benchmark", 8),
]

# ---- EfficientNet-B0
_RECORDS += [
    _r("efficientnet_b0", "w8a8", 8, "bits",
       "Intel Neural Compressor static PTQ (accuracy-driven tuning)", True, 76.89, 77.67,
       "PyTorch Efficientnet_b0 (77.67 % in the table; checkpoint not named)", _INC,
       "PyTorch Models with Torch 2.0.1+cpu in PTQ Mode, row Efficientnet_b0", "library_benchmark",
       8, "the tuner may keep sensitive ops in fp32, so not necessarily all-int8"),
    _r("efficientnet_b0", "w8a8", 8, "bits",
       "Intel Neural Compressor PTQ, Intel TensorFlow 2.12", True, 76.14, 76.76,
       "TensorFlow EfficientNet B0 checkpoint (76.76 %)", _INC,
       "TensorFlow Models with Intel TensorFlow, row EfficientNet B0 (ckpt)", "library_benchmark",
       8),
]

# ---- ViT-B/16 (timm ViT-B/224 = ViT-B/16 at 224 px with IN-21k pre-training; DeiT-B = same
# architecture trained on ImageNet-1k only, the closest published proxy for torchvision's weights)
_TIMM_VITB = "timm ViT-B/16 224 (IN-21k pre-trained, 84.5 %)"
_DEIT_B = "DeiT-B/16 224 (same architecture, ImageNet-1k only, 81.8 %)"
_RECORDS += [
    _r("vit_b16", "weight_only_bits", 8, "bits", "round-to-nearest per-channel, min-max", True,
       81.058, 81.068, TORCHVISION_V1, _JIHO,
       "ViT-B results table, row '[W] MinMax_ch' (W 8, A 32), base 81.068 %", "repository",
       note="the same files state 'torch base : 81.072%'"),
    _r("vit_b16", "weight_only_bits", 4, "bits", "round-to-nearest per-channel, min-max", True,
       80.144, 81.068, TORCHVISION_V1, _JIHO,
       "ViT-B results table, row '[W] MinMax_ch' (W 4, A 32)", "repository"),
    _r("vit_b16", "weight_only_bits", 4, "bits", "AdaRound per-channel (min-max init)", True,
       80.668, 81.068, TORCHVISION_V1, _JIHO,
       "ViT-B results table, row '[W] AdaRoundMinMax_ch' (W 4, A 32)", "repository",
       note="rounding optimised on 1024 unlabeled images"),
    _r("vit_b16", "w8a8", 8, "bits", "round-to-nearest: abs-max weights, moving-average abs-max "
       "activations; softmax/GELU/LayerNorm float", True, 78.406, 81.068, TORCHVISION_V1, _JIHO,
       "ViT-B results table, row '[W]Abs [A]Mov' W 8 A 8, FP softmax/GELU/LN", "repository", 8,
       "W4A4 with integer softmax/GELU/LN in the same table: 0.134 %"),
    _r("vit_b16", "w8a8", 8, "bits", "Base PTQ (layer-wise scales, cosine-distance search)", True,
       83.896, 84.54, _TIMM_VITB, _PTQ4VIT, "Results of BasePTQ table, row ViT-B/224, w8a8",
       "paper", 8, "32 calibration images"),
    _r("vit_b16", "w8a8", 8, "bits", "PTQ4ViT (twin uniform, Hessian-guided)", True, 84.25, 84.54,
       _TIMM_VITB, _PTQ4VIT, "Results of PTQ4ViT table, row ViT-B/224, w8a8", "paper", 8),
    _r("vit_b16", "weight_act_bits", 6, "bits", "Base PTQ", True, 75.668, 84.54, _TIMM_VITB,
       _PTQ4VIT, "Results of BasePTQ table, row ViT-B/224, w6a6", "paper", 6),
    _r("vit_b16", "weight_act_bits", 6, "bits", "PTQ4ViT", True, 81.65, 84.54, _TIMM_VITB,
       _PTQ4VIT, "Results of PTQ4ViT table, row ViT-B/224, w6a6", "paper", 6),
    _r("vit_b16", "w8a8", 8, "bits", "Base PTQ", True, 80.946, 81.80, _DEIT_B, _PTQ4VIT,
       "Results of BasePTQ table, row DeiT-B/224, w8a8", "paper", 8),
    _r("vit_b16", "w8a8", 8, "bits", "PTQ4ViT", True, 81.482, 81.80, _DEIT_B, _PTQ4VIT,
       "Results of PTQ4ViT table, row DeiT-B/224, w8a8", "paper", 8),
    _r("vit_b16", "weight_act_bits", 6, "bits", "PTQ4ViT", True, 80.25, 81.80, _DEIT_B, _PTQ4VIT,
       "Results of PTQ4ViT table, row DeiT-B/224, w6a6", "paper", 6),
    _r("vit_b16", "w8a8", 8, "bits", "MinMax, fully quantized (incl. LayerNorm, softmax 8-bit)",
       True, 23.64, 84.53, _TIMM_VITB, _FQVIT,
       "Results on ImageNet table, row MinMax 8/8/8, column ViT-B", "paper", 8,
       "W/A/Attn 8/8/8 with LayerNorm and softmax quantized"),
    _r("vit_b16", "w8a8", 8, "bits", "OMSE, fully quantized", True, 73.39, 84.53, _TIMM_VITB,
       _FQVIT, "Results on ImageNet table, row OMSE 8/8/8, column ViT-B", "paper", 8),
    _r("vit_b16", "w8a8", 8, "bits", "FQ-ViT (power-of-two factor LayerNorm, log-int softmax)",
       True, 83.31, 84.53, _TIMM_VITB, _FQVIT,
       "Results on ImageNet table, row Ours 8/8/8, column ViT-B", "paper", 8),
    _r("vit_b16", "w8a8", 8, "bits", "MinMax, fully quantized", True, 78.02, 81.85, _DEIT_B,
       _FQVIT, "Results on ImageNet table, row MinMax 8/8/8, column DeiT-B", "paper", 8),
    _r("vit_b16", "w8a8", 8, "bits", "PTQ for ViT (Liu et al., NeurIPS 2021)", True, 80.48, 81.85,
       _DEIT_B, _FQVIT, "Results on ImageNet table, row 'PTQ for ViT' 8/8/8, column DeiT-B",
       "paper (as quoted)", 8, "LayerNorm/softmax not quantized in that method"),
    _r("vit_b16", "w8a8", 8, "bits", "FQ-ViT", True, 81.20, 81.85, _DEIT_B, _FQVIT,
       "Results on ImageNet table, row Ours 8/8/8, column DeiT-B", "paper", 8),
    _r("vit_b16", "weight_act_bits", 4, "bits", "RepQ-ViT", True, 68.48, 84.54, _TIMM_VITB, _REPQ,
       "Results table, row 'ViT-B (84.54)', W4/A4", "paper", 4),
    _r("vit_b16", "weight_act_bits", 6, "bits", "RepQ-ViT", True, 83.62, 84.54, _TIMM_VITB, _REPQ,
       "Results table, row 'ViT-B (84.54)', W6/A6", "paper", 6),
    _r("vit_b16", "weight_act_bits", 4, "bits", "RepQ-ViT", True, 75.61, 81.80, _DEIT_B, _REPQ,
       "Results table, row 'DeiT-B (81.80)', W4/A4", "paper", 4),
    _r("vit_b16", "weight_act_bits", 6, "bits", "RepQ-ViT", True, 81.27, 81.80, _DEIT_B, _REPQ,
       "Results table, row 'DeiT-B (81.80)', W6/A6", "paper", 6),
    _r("vit_b16", "w8a8", 8, "bits", "AIMET W8A8 quantization-aware training", False, 81.57, 81.32,
       "HF google/vit-base-patch16-224 (81.32 in the table)", _AIMET,
       "PyTorch Models table, row ViT, W8A8", "library_benchmark", 8,
       "aimet_zoo_torch/vit/ViT.md: 'Quantization aware training (QAT) was used'"),
    _r("vit_b16", "prune_structured_oneshot", 0.745, "params",
       "DepGraph group Taylor pruning, uniform 50 % of heads/hidden dims, no fine-tuning", True,
       0.16, 85.21, "timm vit_base_patch16_224 (IN-21k ft IN-1k)", _TP,
       "Pruning ViT-ImageNet-21K-ft-1K, log 'Base Accuracy: 0.8521, Pruned Accuracy: 0.0016'",
       "library_benchmark",
       note="86.57 M -> 22.05 M params (level = 1 - 22.05/86.57); embedding width pruned too, "
            "unlike this project's structured grid"),
    _r("vit_b16", "prune_structured_oneshot", 0.745, "params",
       "DepGraph group Taylor pruning, uniform, no fine-tuning", True, 0.15, 75.66,
       "HF ViT-B/16 (75.66 % under the script's evaluation)", _TP,
       "Pruning ViT-ImageNet-1K from HF Transformers, log 'Base Accuracy: 0.7566, Pruned "
       "Accuracy: 0.0015'", "library_benchmark"),
    _r("vit_b16", "prune_structured_finetuned", 0.745, "params",
       "DepGraph group Taylor pruning, uniform, then 300 epochs of training", False, 80.19, 85.21,
       "timm vit_base_patch16_224 (IN-21k ft IN-1k)", _TP,
       "Pruning results for ImageNet-21K-ft-1K (Timm) table, column Group Taylor (Uniform), "
       "'Acc @ Epoch 300'", "library_benchmark",
       note="300 epochs is closer to retraining than to a short fine-tune"),
]


def records(arch: str | None = None, kind: str | None = None, *,
            training_free: bool | None = None,
            torchvision_weights: bool | None = None) -> list[PublishedResult]:
    """Records filtered by architecture, kind, training-freeness and checkpoint (all optional)."""
    out = []
    for rec in _RECORDS:
        if arch is not None and rec.arch != arch:
            continue
        if kind is not None and rec.kind != kind:
            continue
        if training_free is not None and rec.training_free != training_free:
            continue
        if torchvision_weights is not None and (rec.weights == TORCHVISION_V1) != torchvision_weights:
            continue
        out.append(rec)
    return out


def grid_levels(arch: str, kind: str) -> tuple[float, ...]:
    """Grid levels of ``kind`` for ``arch`` (ViT-B/16 depth uses 3/6/9/12 blocks)."""
    if kind == "depth_linear_probe" and arch == "vit_b16":
        return tuple(float(d) for d in VIT_DEPTHS)
    return tuple(float(v) for v in GRID_LEVELS[kind])


def grid_cells() -> list[tuple[str, str, float]]:
    """Every (arch, kind, level) cell of the compression grid (fp32 excluded)."""
    return [(a, k, lv) for a in ARCHS for k in GRID_LEVELS for lv in grid_levels(a, k)]


def _covers(rec: PublishedResult, kind: str, level: float, tolerance: float) -> bool:
    if rec.kind != kind:
        return False
    if kind == "weight_only_bits" or kind.startswith("depth"):
        return rec.level == level
    if kind == "w8a8":
        return True
    return abs(rec.level - level) <= tolerance + 1e-9


def cell_records(arch: str, kind: str, level: float,
                 tolerance: float = FRACTION_TOLERANCE) -> list[PublishedResult]:
    """Records covering one grid cell (fractions within ``tolerance`` of the grid level count)."""
    return [r for r in records(arch) if _covers(r, kind, float(level), tolerance)]


def missing_cells(tolerance: float = FRACTION_TOLERANCE, *, torchvision_weights: bool = False,
                  training_free: bool | None = None) -> list[tuple[str, str, float]]:
    """(arch, kind, level) grid cells with no published number.

    ``torchvision_weights=True`` counts only records on the torchvision IMAGENET1K_V1 checkpoint;
    ``training_free`` restricts to training-free (True) or trained (False) records. The kind already
    separates one-shot from fine-tuned pruning. Structured-pruning levels are compared whatever
    their ``level_basis`` (channels, params or FLOPs).
    """
    out = []
    for arch, kind, level in grid_cells():
        recs = cell_records(arch, kind, level, tolerance)
        if torchvision_weights:
            recs = [r for r in recs if r.weights == TORCHVISION_V1]
        if training_free is not None:
            recs = [r for r in recs if r.training_free == training_free]
        if not recs:
            out.append((arch, kind, level))
    return out


__all__ = [
    "ARCHS",
    "FRACTION_TOLERANCE",
    "GRID_LEVELS",
    "KINDS",
    "LEVEL_BASES",
    "SOURCE_TYPES",
    "TORCHVISION_FP32",
    "TORCHVISION_INT8",
    "TORCHVISION_V1",
    "VIT_DEPTHS",
    "PublishedResult",
    "cell_records",
    "grid_cells",
    "grid_levels",
    "missing_cells",
    "records",
]
