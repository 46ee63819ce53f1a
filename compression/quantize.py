"""Bit-level compression: per-channel weight quantization and a real packed, progressive encoding.

Quantization
    Every floating tensor with 2 or more dimensions (Conv/Linear weights) is quantized per output
    channel (dim 0), symmetric, to ``bits`` in {2..16}: integers ``q`` in ``[-qmax, qmax]`` with
    ``qmax = 2**(bits-1) - 1`` and a float32 scale per channel. The clipping range is searched:
    ``clip = r * max|w_c|`` for ``r`` on a grid of :data:`CLIP_GRID` ratios, keeping the ``r`` of
    least squared error per channel. 1-D tensors (biases after BatchNorm folding) stay float32.
    ``bits == 32`` stores every tensor as float32 (no quantization).

Byte format (:func:`encode`; ``len(encode(...))`` is the ``size_bytes`` of a profile variant;
:func:`encoded_size` gives the same length from names, shapes and non-zero counts alone, and
:func:`progressive_encoded_sizes` the per-plane prefix lengths)::

    b"IGQ1" | u32 little-endian header length | header = zlib(JSON {bits, tensors: [[name, shape,
    kind], ...]}) | section A | section B

    section A, per tensor in header order:
      "f32": float32 values                  "i64": int64 values (integer buffers)
      "q"  : float32 scale per out-channel   "qs" : float32 scales + bitmask of non-zeros
      "fs" : bitmask + float32 non-zeros (unstructured-sparse tensor at 32 bits)
    section B, bit-planes, most significant first: for plane j = 1..bits, for each "q"/"qs" tensor:
      np.packbits of bit (bits - j) of the offset codes ``u = q + 2**(bits-1)`` (of every element
      for "q", of the non-zeros for "qs").

A sparse kind ("qs"/"fs") is chosen per tensor only when it is smaller than the dense one.
Because section B is plane-major, a receiver holding the first :func:`progressive_sizes` ``[p-1]``
bytes can rebuild the model from the ``p`` most significant planes: :func:`decode` with
``planes=p`` fills each missing low-bit group with the middle of its bucket
(``u ~ (u_top << m) + (2**m - 1) / 2`` for ``m = bits - p`` missing bits). With all planes the
result equals the full quantized weights exactly.

Activation quantization (the W8A8 arithmetic mode)
    :func:`calibrate_activations` records the min/max of the input of every Conv/Linear layer
    over calibration inputs and turns them into per-tensor affine 8-bit parameters
    (:class:`ActQuant`: ``scale = (max - min) / 255`` over a range that includes 0, ``zero =
    round(-min / scale)``); inside :class:`quantized_activations` every such input is
    fake-quantized (quantize to ``0..255``, dequantize) before the layer runs on its 8-bit
    weights. The simulation is in float32: products of dequantized int8 weights and activations
    summed in float32, biases float32, additions/pooling/ReLU on the dequantized values.
"""

from __future__ import annotations

import json
import math
import struct
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

MAGIC = b"IGQ1"
#: Clip ratios ``r`` searched per channel (clip = r * max |w|).
CLIP_GRID = np.linspace(0.25, 1.0, 31)
#: Bit widths accepted for quantization (32 = float32, no quantization).
ALLOWED_BITS = tuple(range(2, 17)) + (32,)
#: Integer dtypes the encoder stores (as int64, kind "i64").
_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


def _check_bits(bits: int) -> None:
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in ALLOWED_BITS:
        raise ValueError(f"bits must be an int in 2..16 or 32, got {bits!r}")


def quantize_channels(w: torch.Tensor, bits: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-output-channel symmetric quantization with a searched clipping range.

    Args:
        w: float tensor, channel axis 0.
        bits: 2..16.

    Returns:
        ``(q, scale)``: int64 codes shaped like ``w`` in ``[-qmax, qmax]`` and float32 scales
        ``(w.shape[0],)``; the dequantized weights are ``q * scale`` (per channel) in float32.
    """
    _check_bits(bits)
    if bits == 32:
        raise ValueError("quantize_channels: bits=32 means float32, nothing to quantize")
    qmax = 2 ** (bits - 1) - 1
    wf = w.detach().to(torch.float32).reshape(w.shape[0], -1)
    amax = wf.abs().amax(dim=1)
    ratios = torch.tensor(CLIP_GRID, dtype=torch.float32)
    # candidate scales (R, C), float32 so that decode reproduces them bit-exactly
    scales = (ratios[:, None] * amax[None, :] / qmax).to(torch.float32)
    scales = torch.where(scales > 0, scales, torch.ones_like(scales))
    q = torch.clamp(torch.round(wf[None] / scales[:, :, None]), -qmax, qmax)
    err = ((q * scales[:, :, None] - wf[None]) ** 2).sum(dim=2)  # (R, C)
    best = err.argmin(dim=0)
    cols = torch.arange(wf.shape[0])
    scale = scales[best, cols]
    qbest = q[best, cols].to(torch.int64).reshape(w.shape)
    return qbest, scale


def dequantize(q: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """Float32 weights ``q * scale`` (scale per channel, axis 0)."""
    shape = (-1,) + (1,) * (q.dim() - 1)
    return q.to(torch.float32) * scale.to(torch.float32).reshape(shape)


def fake_quantize(w: torch.Tensor, bits: int) -> torch.Tensor:
    """The dequantized float32 weights of :func:`quantize_channels` (``w`` itself at 32 bits)."""
    if bits == 32:
        return w.detach().to(torch.float32).clone()
    return dequantize(*quantize_channels(w, bits))


def _state_of(model_or_state: nn.Module | Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    if isinstance(model_or_state, nn.Module):
        return dict(model_or_state.state_dict())
    if isinstance(model_or_state, Mapping):
        return dict(model_or_state)
    raise TypeError(
        f"encode: expected an nn.Module or a state dict, got {type(model_or_state).__name__}"
    )


def _packed_len(n: int) -> int:
    return (n + 7) // 8


def _bit_plane(u: np.ndarray, bit: int) -> bytes:
    return np.packbits(((u >> bit) & 1).astype(np.uint8)).tobytes()


# ---- byte layout: the only place that knows how many bytes each tensor kind takes ----------


def _section_a_len(kind: str, n: int, count: int, channels: int) -> int:
    """Section A bytes of a tensor of ``kind`` with ``n`` values, ``count`` of them stored."""
    if kind == "f32":
        return 4 * n
    if kind == "i64":
        return 8 * n
    if kind == "q":
        return 4 * channels
    if kind == "qs":
        return 4 * channels + _packed_len(n)
    if kind == "fs":
        return _packed_len(n) + 4 * count
    raise ValueError(f"unknown tensor kind {kind!r}")


def _payload_len(kind: str, n: int, count: int, channels: int, bits: int) -> int:
    """Section A plus section B bytes of one tensor (``bits`` planes of its stored codes)."""
    planes = bits * _packed_len(count) if kind in ("q", "qs") else 0
    return _section_a_len(kind, n, count, channels) + planes


def _float_kind(shape: tuple[int, ...], nnz: int, bits: int) -> str:
    """Kind of a floating tensor: a sparse kind only where it is strictly smaller."""
    n = math.prod(shape)
    if len(shape) < 2 or n == 0:
        return "f32"
    dense, sparse = ("f32", "fs") if bits == 32 else ("q", "qs")
    c = shape[0]
    smaller = _payload_len(sparse, n, nnz, c, bits) < _payload_len(dense, n, n, c, bits)
    return sparse if smaller else dense


def _header(bits: int, entries: list[list]) -> bytes:
    return zlib.compress(
        json.dumps({"bits": bits, "tensors": entries}, separators=(",", ":")).encode(), 9
    )


@dataclass(frozen=True)
class TensorSpec:
    """What the encoded length of one tensor depends on (its values do not matter).

    Attributes:
        name: state-dict key.
        shape: tensor shape.
        nonzero: number of non-zero values (None: all of them).
        floating: False for integer buffers (stored as int64).
    """

    name: str
    shape: tuple[int, ...]
    nonzero: int | None = None
    floating: bool = True

    @property
    def numel(self) -> int:
        """Number of values."""
        return math.prod(self.shape)

    @classmethod
    def of(cls, name: str, t: torch.Tensor) -> TensorSpec:
        """The spec of a real tensor (its non-zero count taken from the values).

        Raises:
            ValueError: for a dtype :func:`encode` does not store.
        """
        if not t.is_floating_point() and t.dtype not in _INT_DTYPES:
            raise ValueError(f"encode: tensor {name!r} has unsupported dtype {t.dtype}")
        return cls(name, tuple(t.shape), int(torch.count_nonzero(t)), t.is_floating_point())


def tensor_layout(spec: TensorSpec, bits: int) -> tuple[str, int]:
    """(kind, payload bytes in sections A and B) that :func:`encode` uses for one tensor."""
    _check_bits(bits)
    n = spec.numel
    if not spec.floating:
        return "i64", _section_a_len("i64", n, n, 0)
    nnz = n if spec.nonzero is None else spec.nonzero
    kind = _float_kind(spec.shape, nnz, bits)
    count = nnz if kind in ("qs", "fs") else n
    channels = spec.shape[0] if spec.shape else 0
    return kind, _payload_len(kind, n, count, channels, bits)


def encoded_size(tensors: Iterable[TensorSpec], bits: int) -> int:
    """``len(encode(state, bits))`` for a state dict with these tensors, without the values.

    Magic bytes, header length, the compressed header and every tensor's
    :func:`tensor_layout` payload.
    """
    _check_bits(bits)
    entries, payload = [], 0
    for spec in tensors:
        kind, nbytes = tensor_layout(spec, bits)
        entries.append([spec.name, list(spec.shape), kind])
        payload += nbytes
    return len(MAGIC) + 4 + len(_header(bits, entries)) + payload


def progressive_encoded_sizes(tensors: Iterable[TensorSpec], bits: int) -> list[int]:
    """:func:`progressive_sizes` of ``encode(state, bits)`` for a state dict with these tensors,
    without the values: the bytes needed for the first ``p`` bit-planes, ``p = 1..bits``.

    Everything before section B (magic, header, section A) is needed from the first plane; each
    plane adds ``ceil(count / 8)`` bytes per "q"/"qs" tensor. Empty at 32 bits.
    """
    _check_bits(bits)
    if bits == 32:
        return []
    specs = list(tensors)
    total = encoded_size(specs, bits)
    plane = 0
    for spec in specs:
        kind, _ = tensor_layout(spec, bits)
        if kind == "q":
            plane += _packed_len(spec.numel)
        elif kind == "qs":
            plane += _packed_len(spec.numel if spec.nonzero is None else spec.nonzero)
    start = total - bits * plane
    return [start + p * plane for p in range(1, bits + 1)]


def encode(model_or_state: nn.Module | Mapping[str, torch.Tensor], bits: int) -> bytes:
    """Encode a model's weights at ``bits`` (2..16, or 32 = float32) into packed bytes.

    See the module docstring for the format. Sparse tensors (with zeros) use a bitmask plus
    the non-zero values when that is smaller than the dense encoding.

    Raises:
        ValueError: for unsupported bits or tensor dtypes (naming the tensor).
    """
    _check_bits(bits)
    state = _state_of(model_or_state)
    entries = []
    sec_a = bytearray()
    codes: list[np.ndarray] = []  # offset codes u of "q"/"qs" tensors, in order
    for name, t in state.items():
        t = t.detach().cpu()
        shape = list(t.shape)
        if not t.is_floating_point():
            if t.dtype in _INT_DTYPES:
                entries.append([name, shape, "i64"])
                sec_a += t.to(torch.int64).numpy().astype("<i8").tobytes()
                continue
            raise ValueError(f"encode: tensor {name!r} has unsupported dtype {t.dtype}")
        flat = t.to(torch.float32).reshape(-1).numpy()
        nz = flat != 0
        kind = _float_kind(tuple(shape), int(nz.sum()), bits)
        entries.append([name, shape, kind])
        if kind == "f32":
            sec_a += flat.astype("<f4").tobytes()
        elif kind == "fs":
            sec_a += np.packbits(nz).tobytes() + flat[nz].astype("<f4").tobytes()
        else:
            q, scale = quantize_channels(t, bits)
            u = (q.reshape(-1).numpy() + 2 ** (bits - 1)).astype(np.int64)
            sec_a += scale.numpy().astype("<f4").tobytes()
            if kind == "qs":
                sec_a += np.packbits(nz).tobytes()
                u = u[nz]
            codes.append(u)
    sec_b = bytearray()
    if bits != 32:
        for j in range(1, bits + 1):
            for u in codes:
                sec_b += _bit_plane(u, bits - j)
    header = _header(bits, entries)
    return MAGIC + struct.pack("<I", len(header)) + header + bytes(sec_a) + bytes(sec_b)


def _parse_header(data: bytes) -> tuple[dict, int]:
    if len(data) < 8 or data[:4] != MAGIC:
        raise ValueError("decode: not an insitu-gym weight encoding (bad magic bytes)")
    (hlen,) = struct.unpack("<I", data[4:8])
    if len(data) < 8 + hlen:
        raise ValueError(f"decode: truncated header ({len(data)} bytes, header needs {8 + hlen})")
    header = json.loads(zlib.decompress(data[8:8 + hlen]))
    return header, 8 + hlen


def _mask(data: bytes, at: int, n: int) -> np.ndarray:
    if len(data) < at + _packed_len(n):
        raise ValueError(f"decode: truncated data ({len(data)} bytes) inside a sparsity bitmask")
    return np.unpackbits(np.frombuffer(data, np.uint8, _packed_len(n), at), count=n).astype(bool)


def _layout(header: dict, start: int, data: bytes) -> tuple[list[dict], int]:
    """Per-tensor offsets (and masks, non-zero counts) in section A, and the start of section B."""
    pos = start
    items = []
    for name, shape, kind in header["tensors"]:
        n = int(np.prod(shape)) if shape else 1
        item = {"name": name, "shape": shape, "kind": kind, "n": n, "a": pos, "count": n}
        if kind not in ("f32", "i64", "q", "qs", "fs"):
            raise ValueError(f"decode: unknown tensor kind {kind!r} for {name!r}")
        channels = shape[0] if kind in ("q", "qs") else 0
        if kind in ("qs", "fs"):
            at = pos + (4 * channels if kind == "qs" else 0)
            item["mask"] = _mask(data, at, n)
            item["count"] = int(item["mask"].sum())
            item["vals_at"] = at + _packed_len(n)
        pos += _section_a_len(kind, n, item["count"], channels)
        items.append(item)
    if len(data) < pos:
        raise ValueError(f"decode: truncated data ({len(data)} bytes, section A ends at {pos})")
    return items, pos


def decode(data: bytes, planes: int | None = None) -> dict[str, torch.Tensor]:
    """Decode bytes from :func:`encode` into a state dict of float32 (and int64) tensors.

    Args:
        data: the encoding, or a prefix of it holding at least ``planes`` bit-planes
            (see :func:`progressive_sizes`).
        planes: number of most significant bit-planes to use (1..bits); None = all. With fewer
            than all planes, missing low bits are filled with the middle of their bucket.

    Returns:
        name -> tensor; with all planes the weights equal the quantized weights bit-exactly.

    Raises:
        ValueError: for a malformed or too short encoding, or planes out of range.
    """
    header, start = _parse_header(data)
    bits = int(header["bits"])
    if planes is None:
        planes = bits if bits != 32 else 0
    elif bits == 32 or not 1 <= planes <= bits:
        raise ValueError(f"decode: planes must be in 1..{bits} for a {bits}-bit encoding, got {planes!r}")
    items, pos_b = _layout(header, start, data)
    need = pos_b + sum(
        planes * _packed_len(it["count"]) for it in items if it["kind"] in ("q", "qs")
    )
    if len(data) < need:
        raise ValueError(f"decode: need {need} bytes for {planes} plane(s), got {len(data)}")
    qitems = [it for it in items if it["kind"] in ("q", "qs")]
    for it in qitems:
        it["u"] = np.zeros(it["count"], dtype=np.int64)
    pos = pos_b
    for j in range(1, planes + 1):
        for it in qitems:
            nb = _packed_len(it["count"])
            bitv = np.unpackbits(np.frombuffer(data, np.uint8, nb, pos), count=it["count"])
            it["u"] |= bitv.astype(np.int64) << (bits - j)
            pos += nb
    missing = bits - planes if bits != 32 else 0
    fill = (2.0**missing - 1.0) / 2.0  # middle of the bucket of the missing low bits
    out: dict[str, torch.Tensor] = {}
    for it in items:
        kind, n, shape = it["kind"], it["n"], it["shape"]
        if kind == "f32":
            arr = np.frombuffer(data, "<f4", n, it["a"]).astype(np.float32)
            out[it["name"]] = torch.from_numpy(arr.copy()).reshape(shape)
        elif kind == "i64":
            arr = np.frombuffer(data, "<i8", n, it["a"]).astype(np.int64)
            out[it["name"]] = torch.from_numpy(arr.copy()).reshape(shape)
        elif kind == "fs":
            flat = np.zeros(n, np.float32)
            flat[it["mask"]] = np.frombuffer(data, "<f4", it["count"], it["vals_at"])
            out[it["name"]] = torch.from_numpy(flat).reshape(shape)
        else:
            scale = torch.from_numpy(np.frombuffer(data, "<f4", shape[0], it["a"]).copy())
            if missing:
                qv = torch.from_numpy(it["u"].astype(np.float64) + fill - 2 ** (bits - 1))
                qv = qv.to(torch.float32)
            else:
                qv = torch.from_numpy(it["u"] - 2 ** (bits - 1))
            if kind == "q":
                q = qv.reshape(shape)
            else:
                q = torch.zeros(n, dtype=qv.dtype)
                q[torch.from_numpy(it["mask"])] = qv
                q = q.reshape(shape)
            out[it["name"]] = dequantize(q, scale)
    return out


def progressive_sizes(data: bytes) -> list[int]:
    """Bytes a receiver needs to rebuild the model from the first p planes, for p = 1..bits.

    The last entry equals ``len(data)``. Empty for a 32-bit (float) encoding.
    """
    header, start = _parse_header(data)
    bits = int(header["bits"])
    if bits == 32:
        return []
    items, pos_b = _layout(header, start, data)
    plane = sum(_packed_len(it["count"]) for it in items if it["kind"] in ("q", "qs"))
    return [pos_b + p * plane for p in range(1, bits + 1)]


def load_decoded(model: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """Load a decoded state into ``model`` (strict: every key must match), returning ``model``."""
    model.load_state_dict(dict(state), strict=True)
    return model


# ---- activation quantization (W8A8) ----------------------------------------------------------

#: Bits of the integer activations of the W8A8 arithmetic mode.
ACT_BITS = 8
#: Layers whose input is an integer activation in W8A8 (every integer matrix product).
ACT_QUANT_LAYERS = (nn.Conv1d, nn.Conv2d, nn.Linear)


@dataclass(frozen=True)
class ActQuant:
    """Per-tensor affine quantization of one layer input: ``q = clamp(round(x / scale) + zero,
    0, 2**bits - 1)``, dequantized ``(q - zero) * scale``.

    Attributes:
        scale: float32 step.
        zero_point: integer code of 0.0.
        bits: activation bits.
    """

    scale: float
    zero_point: int
    bits: int = ACT_BITS

    @classmethod
    def from_range(cls, lo: float, hi: float, bits: int = ACT_BITS) -> ActQuant:
        """Parameters covering ``[min(lo, 0), max(hi, 0)]`` with ``2**bits`` levels (0.0 is exact)."""
        lo, hi = min(float(lo), 0.0), max(float(hi), 0.0)
        levels = 2**bits - 1
        scale = float(np.float32((hi - lo) / levels)) if hi > lo else 1.0
        zero = int(min(levels, max(0, round(-lo / scale))))
        return cls(scale, zero, bits)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """Quantize and dequantize ``x`` (float32)."""
        q = torch.clamp(torch.round(x / self.scale) + self.zero_point, 0, 2**self.bits - 1)
        return (q - self.zero_point) * self.scale


def _act_layers(model: nn.Module) -> dict[str, nn.Module]:
    return {name: m for name, m in model.named_modules() if isinstance(m, ACT_QUANT_LAYERS)}


@torch.inference_mode()
def calibrate_activations(model: nn.Module, x: torch.Tensor, batch_size: int = 512,
                          bits: int = ACT_BITS) -> dict[str, ActQuant]:
    """Per-tensor min/max of the input of every Conv/Linear layer over the calibration inputs
    ``x`` (one forward pass in eval mode), turned into :class:`ActQuant` parameters by layer name.
    """
    ranges: dict[str, list[float]] = {}

    def hook(name: str):
        def record(_module: nn.Module, inputs: tuple) -> None:
            t = inputs[0]
            lo, hi = float(t.min()), float(t.max())
            if name in ranges:
                ranges[name] = [min(ranges[name][0], lo), max(ranges[name][1], hi)]
            else:
                ranges[name] = [lo, hi]
        return record

    handles = [m.register_forward_pre_hook(hook(n)) for n, m in _act_layers(model).items()]
    try:
        model.eval()
        for s in range(0, len(x), batch_size):
            model(x[s:s + batch_size])
    finally:
        for h in handles:
            h.remove()
    return {name: ActQuant.from_range(lo, hi, bits) for name, (lo, hi) in ranges.items()}


class quantized_activations:  # noqa: N801 - used as a context manager, like torch.no_grad
    """Context manager: while active, the input of every Conv/Linear layer of ``model`` named in
    ``params`` is fake-quantized (:class:`ActQuant`); the model is unchanged afterwards.

    Raises:
        KeyError: a Conv/Linear layer of ``model`` has no parameters (not calibrated).
    """

    def __init__(self, model: nn.Module, params: Mapping[str, ActQuant]) -> None:
        self.model = model
        self.params = dict(params)
        self.handles: list = []

    def __enter__(self) -> nn.Module:
        for name, module in _act_layers(self.model).items():
            if name not in self.params:
                raise KeyError(f"quantized_activations: layer {name!r} was not calibrated")
            aq = self.params[name]
            self.handles.append(
                module.register_forward_pre_hook(lambda _m, inputs, aq=aq: (aq(inputs[0]),))
            )
        return self.model

    def __exit__(self, *exc) -> None:
        for h in self.handles:
            h.remove()
        self.handles = []
