"""Reference-scale profiles: real ImageNet architectures at real scale, without weights.

Six architectures are defined in plain ``torch.nn`` (no torchvision, no downloads), layer for
layer as in torchvision's implementations, at 224x224 input and 1000 classes: ResNet-18, ResNet-50,
MobileNetV2, MobileNetV3-Large, EfficientNet-B0 and ViT-B/16. They are built on PyTorch's ``meta``
device (shapes only, no memory, no arithmetic), so the exact parameter count and multiply-
accumulates (MACs) of every depth/width variant come from the layer shapes in milliseconds.
``tests/compression/test_reference.py`` checks the full models against the published totals
(torchvision model cards; their "GFLOPS" are MACs).

Compression levels (same grid axes as the measured profiles):

* **depth**: keep the first ``k`` stages. ResNets: their 4 stages. MobileNetV2 / MobileNetV3-Large /
  EfficientNet-B0: their blocks grouped into 4 stages by output stride (4, 8, 16, 32; the last
  stage holds the final 1x1 convolution and the original classifier). ViT-B/16: 3/6/9/12 encoder
  layers. A truncated network (k < K) ends in global average pooling + ``Linear(c_k, 1000)``
  (*assumption*: the smallest early-exit head, as in the measured multi-exit networks); ViT keeps
  its final LayerNorm and class-token head. The full model (k = K) is exactly the published one.
* **parameter level, structured**: the inner channels of every block scaled by ``1 - fraction``
  (ResNet: the channels between the block's convolutions; inverted residuals: the expanded
  channels, blocks without an expansion convolution are left alone; ViT: attention heads and MLP
  hidden units). Block outputs (the residual stream) keep their width, as in the measured networks.
* **parameter level, unstructured**: magnitude sparsity ``fraction`` in every weight matrix;
  parameter and MAC counts stay dense (``params`` counts non-zero parameters, ``macs_nonzero`` the
  MACs of non-zero weights); the size falls through the sparse encoding (:func:`encoded_size_bytes`).
* **bit level**: weights quantized per output channel to 32/16/8/6/4/2 bits (weight-only, float
  arithmetic), and W8A8 (int8 weights and activations, integer arithmetic).

Accuracy: the full fp32 model's top-1 is the torchvision model card's; every other variant's is
``top1_fp32 x r_depth x r_prune x r_bits`` (floored at chance), each ``r`` the retention of one
level taken from a published ImageNet result in :mod:`compression.published` (relative to that
result's own baseline; ``accuracy_source: "published: ..."``) or, where nothing is published, from
a documented conservative rule (``"derived: ..."``); see :mod:`.accuracy`. Latency is derived:
``macs / cpu_macs_per_s`` with the single-thread MAC throughput of this machine measured by
:func:`measure_cpu_macs_per_s`.

Modules:

* :mod:`.architectures`: the networks, the :data:`ARCHS` registry with the published numbers,
  :func:`build`.
* :mod:`.counting`: :func:`count` (parameters, MACs, deployable tensors, activation bound),
  :func:`nonzero_counts`, :func:`measure_cpu_macs_per_s`.
* :mod:`.encoding`: :func:`encoded_size_bytes`, the encoder's byte length, and
  :func:`progressive_size_bytes`, its per-plane prefix lengths
  (:func:`compression.quantize.encoded_size`) for tensors known by shape only.
* :mod:`.accuracy`: :func:`level_retention`, :func:`variant_accuracy`,
  :func:`per_plane_accuracy`, :func:`sources_markdown`, the :data:`RULES`.
* :mod:`.profiles`: :func:`reference_profile`, :func:`build_reference_profiles`,
  :func:`counts_markdown`.
* :mod:`.cli`: :func:`main`, run by ``python -m compression.reference``.

Every public name of these modules is importable from ``compression.reference`` itself.
"""

from compression.profile import ARITHMETIC_LEVELS, BIT_LEVELS, PRUNE_LEVELS
from compression.reference.accuracy import (
    CHANCE,
    RULES,
    LevelRetention,
    level_retention,
    level_table,
    per_plane_accuracy,
    sources_markdown,
    variant_accuracy,
)
from compression.reference.architectures import (
    ARCHS,
    CITATION,
    INPUT_SHAPE,
    BasicBlock,
    Bottleneck,
    ClassTokenHead,
    EncoderLayer,
    ExitHead,
    InvertedResidualV2,
    InvertedResidualV3,
    PatchEmbed,
    ReferenceArch,
    SelfAttention,
    SqueezeExcitation,
    StagedNet,
    build,
    efficientnet_b0,
    mobilenet_v2,
    mobilenet_v3_large,
    resnet18,
    resnet50,
    vit_b16,
)
from compression.reference.cli import main
from compression.reference.counting import (
    ArchStats,
    Tensor,
    count,
    deployable_tensors,
    measure_cpu_macs_per_s,
    nonzero_counts,
    nonzero_values,
)
from compression.reference.encoding import (
    ALLOWED_BITS,
    encoded_size_bytes,
    progressive_size_bytes,
    tensor_size_bytes,
    tensor_spec,
)
from compression.reference.profiles import (
    build_reference_profiles,
    counts_markdown,
    reference_profile,
)

__all__ = [
    "ALLOWED_BITS",
    "ARCHS",
    "ARITHMETIC_LEVELS",
    "BIT_LEVELS",
    "CHANCE",
    "CITATION",
    "INPUT_SHAPE",
    "PRUNE_LEVELS",
    "ArchStats",
    "BasicBlock",
    "Bottleneck",
    "ClassTokenHead",
    "EncoderLayer",
    "ExitHead",
    "InvertedResidualV2",
    "InvertedResidualV3",
    "PatchEmbed",
    "ReferenceArch",
    "LevelRetention",
    "RULES",
    "SelfAttention",
    "SqueezeExcitation",
    "StagedNet",
    "Tensor",
    "build",
    "build_reference_profiles",
    "count",
    "counts_markdown",
    "deployable_tensors",
    "efficientnet_b0",
    "encoded_size_bytes",
    "level_retention",
    "level_table",
    "main",
    "measure_cpu_macs_per_s",
    "mobilenet_v2",
    "mobilenet_v3_large",
    "nonzero_counts",
    "nonzero_values",
    "per_plane_accuracy",
    "progressive_size_bytes",
    "reference_profile",
    "resnet18",
    "resnet50",
    "sources_markdown",
    "tensor_size_bytes",
    "tensor_spec",
    "variant_accuracy",
    "vit_b16",
]
