"""Reference-scale profiles: real ImageNet architectures at real scale, without weights.

Six architectures are defined here in plain ``torch.nn`` (no torchvision, no downloads), layer for
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
* **bit level**: weights quantized per output channel to 32/16/8/6/4/2 bits.

Accuracy: the full fp32 model's top-1 is the published one (torchvision model cards, also int8 for
ResNet-50, MobileNetV2 and MobileNetV3-Large, ``accuracy_source: "published"``); every other
variant's accuracy is ``base x retention(depth, prune, bits)``, the retention measured on our own
models (``compression/profiles/measured_*.json``) at the same relative level, averaged over tasks
(``accuracy_source: "derived"``). Latency is derived: ``macs / cpu_macs_per_s`` with the
single-thread MAC throughput of this machine measured by :func:`measure_cpu_macs_per_s`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
from torch import nn

from compression.profile import BIT_LEVELS, PRUNE_LEVELS

# ----------------------------------------------------------------------------------------------
# building blocks


def _scaled(channels: int, keep: float) -> int:
    """Channels kept when a fraction ``1 - keep`` is pruned (at least 1)."""
    return max(1, int(round(channels * keep)))


def _make_divisible(v: float, divisor: int = 8, min_value: int | None = None) -> int:
    """torchvision's channel rounding (from the TF MobileNet code)."""
    if min_value is None:
        min_value = divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < 0.9 * v:
        new_v += divisor
    return new_v


def _conv_bn_act(
    cin: int, cout: int, k: int, stride: int = 1, groups: int = 1, act: type[nn.Module] | None = nn.ReLU
) -> nn.Sequential:
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, k, stride, (k - 1) // 2, groups=groups, bias=False),
        nn.BatchNorm2d(cout),
    ]
    if act is not None:
        layers.append(act())
    return nn.Sequential(*layers)


class ExitHead(nn.Module):
    """Head of a truncated network: global average pooling + ``Linear(channels, n_classes)``."""

    def __init__(self, channels: int, n_classes: int = 1000) -> None:
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(channels, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits."""
        return self.fc(torch.flatten(self.pool(x), 1))


class StagedNet(nn.Module):
    """Stem, a list of stages, a head: the common shape of every reference architecture."""

    def __init__(self, stem: nn.Module, stages: Sequence[nn.Module], head: nn.Module) -> None:
        super().__init__()
        self.stem = stem
        self.stages = nn.ModuleList(stages)
        self.head = head

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits."""
        h = self.stem(x)
        for stage in self.stages:
            h = stage(h)
        return self.head(h)


# ---- ResNet (He et al. 2016; torchvision resnet.py) -------------------------------------------


class BasicBlock(nn.Module):
    """ResNet basic block; ``keep`` scales the channels between its two 3x3 convolutions."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, keep: float = 1.0) -> None:
        super().__init__()
        mid = _scaled(planes, keep)
        self.conv1 = nn.Conv2d(inplanes, mid, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(mid)
        self.conv2 = nn.Conv2d(mid, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != planes:
            self.downsample = _conv_bn_act(inplanes, planes, 1, stride, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the block."""
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        idt = x if self.downsample is None else self.downsample(x)
        return self.relu(out + idt)


class Bottleneck(nn.Module):
    """ResNet bottleneck (v1.5, stride on the 3x3); ``keep`` scales its inner width."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, keep: float = 1.0) -> None:
        super().__init__()
        width = _scaled(planes, keep)
        out = planes * self.expansion
        self.conv1 = nn.Conv2d(inplanes, width, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.conv2 = nn.Conv2d(width, width, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(width)
        self.conv3 = nn.Conv2d(width, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.relu = nn.ReLU(inplace=True)
        self.downsample: nn.Module | None = None
        if stride != 1 or inplanes != out:
            self.downsample = _conv_bn_act(inplanes, out, 1, stride, act=None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the block."""
        h = self.relu(self.bn1(self.conv1(x)))
        h = self.relu(self.bn2(self.conv2(h)))
        h = self.bn3(self.conv3(h))
        idt = x if self.downsample is None else self.downsample(x)
        return self.relu(h + idt)


def _resnet(block: type[BasicBlock] | type[Bottleneck], layers: Sequence[int], depth: int,
            keep: float) -> StagedNet:
    stem = nn.Sequential(
        nn.Conv2d(3, 64, 7, 2, 3, bias=False), nn.BatchNorm2d(64), nn.ReLU(inplace=True),
        nn.MaxPool2d(3, 2, 1),
    )
    inplanes = 64
    stages = []
    for i, (planes, n) in enumerate(zip((64, 128, 256, 512), layers)):
        if i >= depth:
            break
        blocks = []
        for j in range(n):
            blocks.append(block(inplanes, planes, 2 if (j == 0 and i > 0) else 1, keep))
            inplanes = planes * block.expansion
        stages.append(nn.Sequential(*blocks))
    # the full ResNet's head is already global pooling + fc, so every depth uses ExitHead
    return StagedNet(stem, stages, ExitHead(inplanes))


def resnet18(depth: int = 4, keep: float = 1.0) -> StagedNet:
    """ResNet-18 with its first ``depth`` of 4 stages, inner block width scaled by ``keep``."""
    return _resnet(BasicBlock, (2, 2, 2, 2), depth, keep)


def resnet50(depth: int = 4, keep: float = 1.0) -> StagedNet:
    """ResNet-50 with its first ``depth`` of 4 stages, inner block width scaled by ``keep``."""
    return _resnet(Bottleneck, (3, 4, 6, 3), depth, keep)


# ---- MobileNetV2 (Sandler et al. 2018; torchvision mobilenetv2.py) ----------------------------


class InvertedResidualV2(nn.Module):
    """MobileNetV2 block; ``keep`` scales the expanded channels (blocks with expansion only)."""

    def __init__(self, inp: int, oup: int, stride: int, expand_ratio: int, keep: float = 1.0):
        super().__init__()
        hidden = int(round(inp * expand_ratio))
        layers: list[nn.Module] = []
        if expand_ratio != 1:
            hidden = _scaled(hidden, keep)
            layers.append(_conv_bn_act(inp, hidden, 1, act=nn.ReLU6))
        layers += [
            _conv_bn_act(hidden, hidden, 3, stride, groups=hidden, act=nn.ReLU6),
            nn.Conv2d(hidden, oup, 1, bias=False),
            nn.BatchNorm2d(oup),
        ]
        self.conv = nn.Sequential(*layers)
        self.use_res = stride == 1 and inp == oup

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the block."""
        return x + self.conv(x) if self.use_res else self.conv(x)


#: (expansion t, output channels c, repeats n, stride s) of MobileNetV2's 7 settings.
_MBV2_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
                  (6, 160, 3, 2), (6, 320, 1, 1))
#: settings grouped into stages by output stride 4, 8, 16, 32.
_MBV2_STAGES = ((0, 1), (2,), (3, 4), (5, 6))


def mobilenet_v2(depth: int = 4, keep: float = 1.0) -> StagedNet:
    """MobileNetV2 (width 1.0) with its first ``depth`` of 4 stages."""
    stem = _conv_bn_act(3, 32, 3, 2, act=nn.ReLU6)
    cin = 32
    stages = []
    for s, idx in enumerate(_MBV2_STAGES[:depth]):
        blocks: list[nn.Module] = []
        for i in idx:
            t, c, n, st = _MBV2_SETTINGS[i]
            for j in range(n):
                blocks.append(InvertedResidualV2(cin, c, st if j == 0 else 1, t, keep))
                cin = c
        if s == len(_MBV2_STAGES) - 1:
            blocks.append(_conv_bn_act(cin, 1280, 1, act=nn.ReLU6))
            cin = 1280
        stages.append(nn.Sequential(*blocks))
    if depth == len(_MBV2_STAGES):
        head: nn.Module = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1280, 1000)
        )
    else:
        head = ExitHead(cin)
    return StagedNet(stem, stages, head)


# ---- MobileNetV3-Large (Howard et al. 2019; torchvision mobilenetv3.py) -----------------------


class SqueezeExcitation(nn.Module):
    """Squeeze-and-excitation: pool, 1x1 conv down, act, 1x1 conv up, gate, scale."""

    def __init__(self, channels: int, squeeze: int, act: type[nn.Module], gate: type[nn.Module]):
        super().__init__()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.fc1 = nn.Conv2d(channels, squeeze, 1)
        self.act = act()
        self.fc2 = nn.Conv2d(squeeze, channels, 1)
        self.gate = gate()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Scale ``x`` channel-wise."""
        return x * self.gate(self.fc2(self.act(self.fc1(self.pool(x)))))


class InvertedResidualV3(nn.Module):
    """MobileNetV3 / EfficientNet (MBConv) block with optional squeeze-and-excitation."""

    def __init__(self, inp: int, kernel: int, expanded: int, out: int, se_squeeze: int | None,
                 act: type[nn.Module], stride: int, se_gate: type[nn.Module] = nn.Hardsigmoid,
                 se_act: type[nn.Module] = nn.ReLU):
        super().__init__()
        layers: list[nn.Module] = []
        if expanded != inp:
            layers.append(_conv_bn_act(inp, expanded, 1, act=act))
        layers.append(_conv_bn_act(expanded, expanded, kernel, stride, groups=expanded, act=act))
        if se_squeeze is not None:
            layers.append(SqueezeExcitation(expanded, se_squeeze, se_act, se_gate))
        layers.append(_conv_bn_act(expanded, out, 1, act=None))
        self.block = nn.Sequential(*layers)
        self.use_res = stride == 1 and inp == out

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the block."""
        return x + self.block(x) if self.use_res else self.block(x)


#: (input, kernel, expanded, output, use_se, activation "RE"/"HS", stride) of the 15 bnecks.
_MBV3L_SETTINGS = (
    (16, 3, 16, 16, False, "RE", 1), (16, 3, 64, 24, False, "RE", 2),
    (24, 3, 72, 24, False, "RE", 1), (24, 5, 72, 40, True, "RE", 2),
    (40, 5, 120, 40, True, "RE", 1), (40, 5, 120, 40, True, "RE", 1),
    (40, 3, 240, 80, False, "HS", 2), (80, 3, 200, 80, False, "HS", 1),
    (80, 3, 184, 80, False, "HS", 1), (80, 3, 184, 80, False, "HS", 1),
    (80, 3, 480, 112, True, "HS", 1), (112, 3, 672, 112, True, "HS", 1),
    (112, 5, 672, 160, True, "HS", 2), (160, 5, 960, 160, True, "HS", 1),
    (160, 5, 960, 160, True, "HS", 1),
)
_MBV3L_STAGES = ((0, 1, 2), (3, 4, 5), (6, 7, 8, 9, 10, 11), (12, 13, 14))


def mobilenet_v3_large(depth: int = 4, keep: float = 1.0) -> StagedNet:
    """MobileNetV3-Large (width 1.0) with its first ``depth`` of 4 stages."""
    stem = _conv_bn_act(3, 16, 3, 2, act=nn.Hardswish)
    stages = []
    cin = 16
    for s, idx in enumerate(_MBV3L_STAGES[:depth]):
        blocks: list[nn.Module] = []
        for i in idx:
            inp, k, exp, out, se, a, st = _MBV3L_SETTINGS[i]
            if exp != inp:
                exp = _scaled(exp, keep)
            squeeze = _make_divisible(exp // 4, 8) if se else None
            act = nn.ReLU if a == "RE" else nn.Hardswish
            blocks.append(InvertedResidualV3(inp, k, exp, out, squeeze, act, st))
            cin = out
        if s == len(_MBV3L_STAGES) - 1:
            blocks.append(_conv_bn_act(cin, 6 * cin, 1, act=nn.Hardswish))
            cin = 6 * cin
        stages.append(nn.Sequential(*blocks))
    if depth == len(_MBV3L_STAGES):
        head: nn.Module = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(960, 1280), nn.Hardswish(),
            nn.Dropout(0.2), nn.Linear(1280, 1000),
        )
    else:
        head = ExitHead(cin)
    return StagedNet(stem, stages, head)


# ---- EfficientNet-B0 (Tan & Le 2019; torchvision efficientnet.py) -----------------------------

#: (expand ratio, kernel, stride, input, output, layers) of EfficientNet-B0's 7 MBConv stages.
_EFFB0_SETTINGS = ((1, 3, 1, 32, 16, 1), (6, 3, 2, 16, 24, 2), (6, 5, 2, 24, 40, 2),
                   (6, 3, 2, 40, 80, 3), (6, 5, 1, 80, 112, 3), (6, 5, 2, 112, 192, 4),
                   (6, 3, 1, 192, 320, 1))
_EFFB0_STAGES = ((0, 1), (2,), (3, 4), (5, 6))


def efficientnet_b0(depth: int = 4, keep: float = 1.0) -> StagedNet:
    """EfficientNet-B0 with its first ``depth`` of 4 stages."""
    stem = _conv_bn_act(3, 32, 3, 2, act=nn.SiLU)
    stages = []
    cin = 32
    for s, idx in enumerate(_EFFB0_STAGES[:depth]):
        blocks: list[nn.Module] = []
        for i in idx:
            ratio, k, stride, _inp, out, n = _EFFB0_SETTINGS[i]
            for j in range(n):
                exp = _make_divisible(cin * ratio, 8)
                if exp != cin:
                    exp = _scaled(exp, keep)
                blocks.append(InvertedResidualV3(
                    cin, k, exp, out, max(1, cin // 4), nn.SiLU, stride if j == 0 else 1,
                    se_gate=nn.Sigmoid, se_act=nn.SiLU))
                cin = out
        if s == len(_EFFB0_STAGES) - 1:
            blocks.append(_conv_bn_act(cin, 4 * cin, 1, act=nn.SiLU))
            cin = 4 * cin
        stages.append(nn.Sequential(*blocks))
    if depth == len(_EFFB0_STAGES):
        head: nn.Module = nn.Sequential(
            nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Dropout(0.2), nn.Linear(1280, 1000)
        )
    else:
        head = ExitHead(cin)
    return StagedNet(stem, stages, head)


# ---- ViT-B/16 (Dosovitskiy et al. 2021; torchvision vision_transformer.py) --------------------


class SelfAttention(nn.Module):
    """Multi-head self-attention with ``heads`` heads of size ``head_dim`` (as nn.MultiheadAttention:
    one packed q/k/v projection with bias, an output projection with bias).

    ``attn_macs`` holds the MACs of the two attention matrix products of the last forward
    (``2 * heads * tokens^2 * head_dim`` per sample), which Linear hooks cannot see.
    """

    def __init__(self, dim: int, heads: int, head_dim: int) -> None:
        super().__init__()
        self.heads, self.head_dim = heads, head_dim
        self.qkv = nn.Linear(dim, 3 * heads * head_dim)
        self.proj = nn.Linear(heads * head_dim, dim)
        self.attn_macs = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Attend over the tokens of ``x`` (batch, tokens, dim)."""
        b, n, _ = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        att = torch.softmax(q @ k.transpose(-2, -1) / math.sqrt(self.head_dim), dim=-1)
        self.attn_macs = 2 * b * self.heads * n * n * self.head_dim
        return self.proj((att @ v).transpose(1, 2).reshape(b, n, self.heads * self.head_dim))


class EncoderLayer(nn.Module):
    """Pre-norm transformer encoder layer (LayerNorm eps 1e-6, GELU MLP)."""

    def __init__(self, dim: int, heads: int, head_dim: int, mlp: int) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(dim, eps=1e-6)
        self.attn = SelfAttention(dim, heads, head_dim)
        self.ln_2 = nn.LayerNorm(dim, eps=1e-6)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp), nn.GELU(), nn.Linear(mlp, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Run the layer."""
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class PatchEmbed(nn.Module):
    """16x16 patch projection, class token and learned position embedding."""

    def __init__(self, dim: int = 768, patch: int = 16, image: int = 224) -> None:
        super().__init__()
        self.conv_proj = nn.Conv2d(3, dim, patch, patch)
        n = (image // patch) ** 2 + 1
        self.class_token = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos_embedding = nn.Parameter(torch.zeros(1, n, dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the token sequence (batch, tokens, dim)."""
        h = self.conv_proj(x).flatten(2).transpose(1, 2)
        cls = self.class_token.expand(h.shape[0], -1, -1)
        return torch.cat([cls, h], dim=1) + self.pos_embedding


class ClassTokenHead(nn.Module):
    """Final LayerNorm, class token, linear classifier."""

    def __init__(self, dim: int = 768, n_classes: int = 1000) -> None:
        super().__init__()
        self.ln = nn.LayerNorm(dim, eps=1e-6)
        self.head = nn.Linear(dim, n_classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Return the logits."""
        return self.head(self.ln(x)[:, 0])


def vit_b16(depth: int = 12, keep: float = 1.0) -> StagedNet:
    """ViT-B/16 with its first ``depth`` of 12 encoder layers; ``keep`` scales heads and MLP."""
    heads = _scaled(12, keep)
    mlp = _scaled(3072, keep)
    layers = [EncoderLayer(768, heads, 64, mlp) for _ in range(depth)]
    return StagedNet(PatchEmbed(), layers, ClassTokenHead())


# ----------------------------------------------------------------------------------------------
# architecture table


@dataclass(frozen=True)
class ReferenceArch:
    """One reference architecture and its published numbers (torchvision model cards).

    Attributes:
        name: profile suffix (``reference_<name>``).
        title: human-readable name.
        builder: ``builder(depth, keep) -> nn.Module``.
        depths: depth levels (stages or encoder layers kept), ascending, last = full model.
        top1_fp32: published ImageNet-1k top-1 of the full fp32 model (fraction).
        top1_int8: published top-1 of torchvision's int8 quantized model, or None.
        params: published parameter count (``num_params``).
        gmacs: published GMACs (``_ops``; shown rounded as "GFLOPS" in the docs table).
        weights: the torchvision weights the numbers belong to.
    """

    name: str
    title: str
    builder: Callable[[int, float], nn.Module]
    depths: tuple[int, ...]
    top1_fp32: float
    top1_int8: float | None
    params: int
    gmacs: float
    weights: str


#: Where the published numbers come from (also quoted in DESIGN.md section 4).
CITATION = (
    "torchvision model cards (https://pytorch.org/vision/stable/models.html; metadata in "
    "torchvision/models/*.py and torchvision/models/quantization/*.py): ImageNet-1k acc@1 of the "
    "IMAGENET1K_V1 weights, num_params, _ops (GMACs, shown as GFLOPS); int8 = the quantized "
    "IMAGENET1K_FBGEMM_V1 (ResNets, post-training) / IMAGENET1K_QNNPACK_V1 (MobileNets, "
    "quantization-aware) weights"
)

ARCHS: dict[str, ReferenceArch] = {
    a.name: a
    for a in (
        ReferenceArch("resnet18", "ResNet-18", resnet18, (1, 2, 3, 4), 0.69758, 0.69494,
                      11_689_512, 1.814, "ResNet18_Weights.IMAGENET1K_V1"),
        ReferenceArch("resnet50", "ResNet-50", resnet50, (1, 2, 3, 4), 0.76130, 0.75920,
                      25_557_032, 4.089, "ResNet50_Weights.IMAGENET1K_V1"),
        ReferenceArch("mobilenet_v2", "MobileNetV2", mobilenet_v2, (1, 2, 3, 4), 0.71878, 0.71658,
                      3_504_872, 0.301, "MobileNet_V2_Weights.IMAGENET1K_V1"),
        ReferenceArch("mobilenet_v3_large", "MobileNetV3-Large", mobilenet_v3_large, (1, 2, 3, 4),
                      0.74042, 0.73004, 5_483_032, 0.217, "MobileNet_V3_Large_Weights.IMAGENET1K_V1"),
        ReferenceArch("efficientnet_b0", "EfficientNet-B0", efficientnet_b0, (1, 2, 3, 4), 0.77692,
                      None, 5_288_548, 0.386, "EfficientNet_B0_Weights.IMAGENET1K_V1"),
        ReferenceArch("vit_b16", "ViT-B/16", vit_b16, (3, 6, 9, 12), 0.81072, None,
                      86_567_656, 17.564, "ViT_B_16_Weights.IMAGENET1K_V1"),
    )
}

INPUT_SHAPE = (1, 3, 224, 224)


def build(arch: str, depth: int | None = None, keep: float = 1.0, device: str = "meta") -> nn.Module:
    """Build reference architecture ``arch`` (a key of :data:`ARCHS`) without weights.

    Args:
        arch: architecture name.
        depth: depth level (default: the full model).
        keep: fraction of inner block channels kept (structured pruning ``1 - keep``).
        device: ``"meta"`` (shapes only, default) or ``"cpu"`` (random initialisation).
    """
    if arch not in ARCHS:
        raise KeyError(f"reference architecture {arch!r} unknown; known: {', '.join(ARCHS)}")
    spec = ARCHS[arch]
    depth = spec.depths[-1] if depth is None else depth
    if depth not in spec.depths:
        raise ValueError(f"{arch}: depth must be one of {spec.depths}, got {depth!r}")
    if not 0.0 < keep <= 1.0:
        raise ValueError(f"{arch}: keep must be in (0, 1], got {keep!r}")
    with torch.device(device):
        return spec.builder(depth, keep).eval()


# ----------------------------------------------------------------------------------------------
# counting


@dataclass(frozen=True)
class Tensor:
    """One tensor of the deployable (BatchNorm-folded) model's state dict, as the encoder sees it.

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

    @property
    def quantized(self) -> bool:
        """Tensors with 2 or more dimensions are quantized per output channel (dim 0)."""
        return len(self.shape) >= 2


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


# ----------------------------------------------------------------------------------------------
# encoded size

def _packed(n: int) -> int:
    return (n + 7) // 8


def _nnz(t: Tensor, sparsity: float) -> int:
    if not t.prunable or sparsity == 0.0:
        return t.numel
    return t.numel - int(round(t.numel * sparsity))


def _tensor_kind_and_bytes(t: Tensor, bits: int, sparsity: float) -> tuple[str, int]:
    n, nnz = t.numel, _nnz(t, sparsity)
    if not t.quantized:
        return "f32", 4 * n
    if bits == 32:
        sparse = _packed(n) + 4 * nnz
        return ("fs", sparse) if sparse < 4 * n else ("f32", 4 * n)
    dense = bits * _packed(n)
    sparse = _packed(n) + bits * _packed(nnz)
    scales = 4 * t.shape[0]
    return ("qs", scales + sparse) if sparse < dense else ("q", scales + dense)


def tensor_size_bytes(t: Tensor, bits: int, sparsity: float = 0.0) -> int:
    """Encoded payload bytes of one tensor at ``bits`` with a fraction ``sparsity`` of zeros.

    The byte format of :func:`compression.quantize.encode`: 1-D tensors float32; at 32 bits a
    weight tensor is float32, or a bitmask plus its float32 non-zeros when that is smaller; below
    32 bits a float32 scale per output channel plus ``bits`` packed bit-planes of every value
    (``bits * ceil(n / 8)``) or of the non-zeros after a bitmask (``ceil(n / 8) +
    bits * ceil(nnz / 8)``), whichever is smaller. Sparsity applies to Conv/Linear weights only.
    """
    return _tensor_kind_and_bytes(t, bits, sparsity)[1]


def encoded_size_bytes(tensors: Sequence[Tensor], bits: int, sparsity: float = 0.0) -> int:
    """Bytes of :func:`compression.quantize.encode` for a model with these tensors.

    ``b"IGQ1"`` + a u32 header length + the zlib-compressed JSON header ``{bits, tensors: [[name,
    shape, kind], ...]}`` (computed exactly from the names and shapes) + every tensor's
    :func:`tensor_size_bytes`. Unstructured sparsity is spread uniformly over the Conv/Linear
    weights (*assumption*: the measured models prune globally by magnitude, which needs trained
    weights; a uniform spread is the weight-free equivalent).
    """
    import json
    import zlib

    if bits not in ALLOWED_BITS:
        raise ValueError(f"bits must be one of {ALLOWED_BITS}, got {bits!r}")
    if not 0.0 <= sparsity < 1.0:
        raise ValueError(f"sparsity must be in [0, 1), got {sparsity!r}")
    entries, payload = [], 0
    for t in tensors:
        kind, nbytes = _tensor_kind_and_bytes(t, bits, sparsity)
        entries.append([t.name, list(t.shape), kind])
        payload += nbytes
    header = zlib.compress(
        json.dumps({"bits": bits, "tensors": entries}, separators=(",", ":")).encode(), 9
    )
    return 8 + len(header) + payload


#: Bit widths the encoder accepts (as :data:`compression.quantize.ALLOWED_BITS`).
ALLOWED_BITS = tuple(range(2, 17)) + (32,)


def nonzero_counts(stats: ArchStats, sparsity: float) -> tuple[int, int]:
    """(non-zero parameters, non-zero MACs) after magnitude sparsity ``sparsity`` in every weight
    tensor (vectors and BatchNorm untouched; weight MACs scale with the weights' density, the
    attention products of ViT do not)."""
    pruned = sum(t.numel - _nnz(t, sparsity) for t in stats.tensors if t.prunable)
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
    what one dedicated core achieves (cache and memory-bandwidth sharing aside). On this project's
    shared 2-core machine wall-clock timing under load read 2-3x lower throughputs; thread time
    agreed with wall time measured while the machine was quiet to ~10 %.
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


# ----------------------------------------------------------------------------------------------
# retention from measured profiles



class RetentionTable:
    """Accuracy retention measured on our own models, averaged over tasks.

    For a measured profile with full-model accuracy ``a_full`` (deepest exit, no pruning, 32
    bits), the retention of a variant is ``accuracy / a_full``. A reference variant at relative
    depth ``k / K`` uses, in each measured profile, the depth level nearest to ``k / K`` of that
    profile's deepest level (ties go to the deeper level), and averages over the profiles that
    hold the cell.

    Args:
        profiles: measured :class:`compression.profile.Profile` objects (at least one).
    """

    def __init__(self, profiles: Sequence[Any]) -> None:
        if not profiles:
            raise ValueError(
                "reference profiles need at least one measured profile for the retention curves "
                "(compression/profiles/measured_*.json); build them first: python -m compression build"
            )
        self.profiles = list(profiles)
        self.names = [p.name for p in self.profiles]
        self._tables = []
        for p in self.profiles:
            full = self._cell(p, len(p.depths) - 1, ("none", 0.0), 32)
            if full is None or full <= 0:
                raise ValueError(
                    f"measured profile {p.name} ({p.path}): needs a full-model variant (depth "
                    f"{p.depths[-1]}, prune none, 32 bits) with accuracy > 0 for retention"
                )
            self._tables.append((p, full))

    @staticmethod
    def _cell(p: Any, di: int, prune: tuple[str, float], bits: int) -> float | None:
        if prune not in p.prunes or bits not in p.bits:
            return None
        idx = (di, p.prunes.index(prune), p.bits.index(bits))
        return float(p.accuracy[idx]) if p.valid[idx] else None

    @staticmethod
    def _depth_index(p: Any, rel_depth: float) -> int:
        rel = [d / p.depths[-1] for d in p.depths]
        dist = [abs(r - rel_depth) for r in rel]
        best = min(dist)
        return max(i for i, d in enumerate(dist) if abs(d - best) < 1e-9)

    def retention(self, rel_depth: float, prune: tuple[str, float], bits: int) -> tuple[float, int]:
        """(mean retention, number of measured profiles averaged) for one grid cell.

        Raises:
            ValueError: when no measured profile holds the cell.
        """
        vals = []
        for p, full in self._tables:
            a = self._cell(p, self._depth_index(p, rel_depth), prune, bits)
            if a is not None:
                vals.append(a / full)
        if not vals:
            raise ValueError(
                f"no measured profile ({', '.join(self.names)}) holds relative depth "
                f"{rel_depth:.3f}, prune {prune}, {bits} bits"
            )
        return float(sum(vals) / len(vals)), len(vals)


def load_measured_profiles(paths: Sequence[str | Path] | None = None) -> list[Any]:
    """Load measured profiles (default: every shipped ``compression/profiles/measured_*.json``)."""
    from compression.profile import PROFILE_DIR, load_profile

    if paths is None:
        paths = sorted(PROFILE_DIR.glob("measured_*.json"))
    return [load_profile(p) for p in paths]


# ----------------------------------------------------------------------------------------------
# profiles


def reference_profile(
    arch: str, retention: RetentionTable, cpu_macs_per_s: float
) -> dict[str, Any]:
    """The profile (JSON object) of reference architecture ``arch``: every depth x prune x bits.

    Args:
        arch: key of :data:`ARCHS`.
        retention: retention curves from the measured profiles.
        cpu_macs_per_s: single-thread MAC throughput used for the derived latency
            (:func:`measure_cpu_macs_per_s`).
    """
    if not (cpu_macs_per_s > 0 and math.isfinite(cpu_macs_per_s)):
        raise ValueError(f"cpu_macs_per_s must be a positive finite number, got {cpu_macs_per_s!r}")
    spec = ARCHS[arch]
    k_full = spec.depths[-1]
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
            for bits in BIT_LEVELS:
                ret, n_ret = retention.retention(d / k_full, (kind, round(frac, 4)), bits)
                published = None
                if d == k_full and kind == "none":
                    published = {32: spec.top1_fp32, 8: spec.top1_int8}.get(bits)
                if published is not None:
                    acc, source = published, "published"
                else:
                    acc, source = min(1.0, spec.top1_fp32 * ret), "derived"
                variants.append({
                    "depth": d,
                    "prune": {"kind": kind, "fraction": frac},
                    "bits": bits,
                    "size_bytes": encoded_size_bytes(st.tensors, bits, sparsity),
                    "macs": st.macs,
                    "macs_nonzero": macs_nz,
                    "params": params_nz,  # non-zero parameters, as in the measured profiles
                    "params_dense": st.params,
                    "peak_memory_bytes": 4 * st.peak_activation_values,
                    "accuracy": round(acc, 6),
                    "accuracy_source": source,
                    "retention": round(ret, 6),
                    "retention_n_profiles": n_ret,
                    "latency_s": st.macs / cpu_macs_per_s,
                    "proxies": {"params": float(params_nz), "flops": float(st.macs)},
                })
    return {
        "name": f"reference_{arch}",
        "task": "imagenet1k",
        "model": spec.title,
        "source": "reference",
        "levels": {"depth": list(spec.depths), "prune": [dict(p) for p in PRUNE_LEVELS],
                   "bits": list(BIT_LEVELS)},
        "citation": CITATION,
        "published": {"weights": spec.weights, "top1_fp32": spec.top1_fp32,
                      "top1_int8": spec.top1_int8, "params": spec.params, "gmacs": spec.gmacs},
        "retention_from": retention.names,
        "latency_source": "derived",
        "cpu_macs_per_s": cpu_macs_per_s,
        "cpu_load_avg_1min": _load_avg(),
        "notes": [
            "Architecture defined in compression/reference.py in plain torch.nn (no weights); params "
            "and macs exact from the layer shapes at 224x224 (params count BatchNorm as the model "
            "cards do; for unstructured variants params = non-zero parameters, params_dense the "
            "dense count).",
            "accuracy: 'published' = torchvision model card (full model, fp32 and int8 where "
            "published; int8 there quantizes activations too); 'derived' = top1_fp32 x retention, "
            "the accuracy ratio measured on our own models at the same relative level, averaged over "
            "the measured profiles in retention_from (relative depth k/K -> nearest measured depth).",
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
        ],
        "variants": variants,
    }


def _load_avg() -> float | None:
    import os

    try:
        return round(os.getloadavg()[0], 2)
    except (AttributeError, OSError):  # not available on this platform
        return None


def build_reference_profiles(
    out_dir: str | Path | None = None,
    measured: Sequence[str | Path] | None = None,
    archs: Sequence[str] | None = None,
    overwrite: bool = False,
    cpu_macs_per_s: dict[str, float] | None = None,
    log: Callable[[str], None] | None = print,
) -> list[Path]:
    """Write ``reference_<arch>.json`` for every architecture into ``out_dir``.

    Args:
        out_dir: target directory (default: the shipped ``compression/profiles/``).
        measured: measured profile files for the retention curves (default: the shipped
            ``measured_*.json``).
        archs: architectures to build (default: all of :data:`ARCHS`).
        overwrite: replace existing files; otherwise an existing file is kept and skipped
            (so a build is resumable and never silently replaces a file).
        cpu_macs_per_s: throughput per architecture to use instead of measuring it.
        log: progress printer (None for silence).

    Returns:
        The paths written (skipped files are not listed).
    """
    from compression.profile import PROFILE_DIR, save_profile

    out = Path(out_dir) if out_dir is not None else PROFILE_DIR
    archs = list(ARCHS) if archs is None else list(archs)
    for a in archs:
        if a not in ARCHS:
            raise KeyError(f"reference architecture {a!r} unknown; known: {', '.join(ARCHS)}")
    table = RetentionTable(load_measured_profiles(measured))
    written = []
    for a in archs:
        path = out / f"reference_{a}.json"
        if path.exists() and not overwrite:
            if log:
                log(f"{path}: exists, skipped (rebuild with --overwrite, or --force under `python -m compression build --reference`)")
            continue
        t0 = time.perf_counter()
        tput = (cpu_macs_per_s or {}).get(a) or measure_cpu_macs_per_s(a)
        data = reference_profile(a, table, tput)
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


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m compression.reference [--out DIR] [--measured FILE ...] [--arch A ...]
    [--overwrite] [--counts]``: build the reference-scale profiles (or print the counts table)."""
    import argparse

    ap = argparse.ArgumentParser(prog="python -m compression.reference", description=main.__doc__)
    ap.add_argument("--out", default=None, help="output directory (default compression/profiles)")
    ap.add_argument("--measured", nargs="+", default=None,
                    help="measured profile files for retention (default the shipped measured_*)")
    ap.add_argument("--arch", nargs="+", default=None, choices=list(ARCHS))
    ap.add_argument("--overwrite", action="store_true", help="replace existing profiles")
    ap.add_argument("--counts", action="store_true",
                    help="only print the Markdown table of counts vs the model cards")
    args = ap.parse_args(argv)
    if args.counts:
        print(counts_markdown())
        return 0
    try:
        build_reference_profiles(args.out, args.measured, args.arch, args.overwrite)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"error: {exc}")
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
