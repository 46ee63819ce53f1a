"""Reference architectures in plain ``torch.nn``, layer for layer as in torchvision.

ResNet-18, ResNet-50, MobileNetV2, MobileNetV3-Large, EfficientNet-B0 and ViT-B/16 at 224x224 input
and 1000 classes, each as a :class:`StagedNet` (stem, stages, head) whose builder takes a depth
level (stages or encoder layers kept) and ``keep`` (the fraction of inner block channels kept by
structured pruning). :data:`ARCHS` registers them with their published numbers and
:func:`build` constructs one variant, on the ``meta`` device by default (shapes only).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch import nn

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


#: Where the published numbers of :data:`ARCHS` come from.
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
