"""Bit-level compression: quantization error, packed encoding round trip, progressive planes."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

from compression.models import MultiExitNet, NetConfig, exit_model, fold_batchnorm
from compression.prune import magnitude_prune
from compression.quantize import (
    TensorSpec,
    decode,
    dequantize,
    encode,
    encoded_size,
    fake_quantize,
    load_decoded,
    progressive_sizes,
    quantize_channels,
    tensor_layout,
)

torch.set_num_threads(1)


def _net(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    m = MultiExitNet(NetConfig(1, 3, (4, 6), (1, 2), 4, 1, 2, 3))
    m.train()
    with torch.no_grad():
        for _ in range(3):  # non-trivial BatchNorm statistics
            m(torch.randn(16, 1, 8, 8))
    return fold_batchnorm(m.eval())


def test_quantization_error_falls_with_bits():
    w = torch.randn(8, 4, 3, 3, generator=torch.Generator().manual_seed(0))
    errs = [float(((fake_quantize(w, b) - w) ** 2).mean()) for b in (2, 4, 6, 8, 16)]
    assert all(a > b for a, b in zip(errs, errs[1:])), errs
    assert errs[-1] < 1e-8
    assert torch.equal(fake_quantize(w, 32), w)


def test_codes_in_range_and_clip_search_beats_max_scaling():
    w = torch.randn(6, 50, generator=torch.Generator().manual_seed(1))
    w[0, 0] = 8.0  # an outlier: clipping it lowers the channel's error at 4 bits
    q, scale = quantize_channels(w, 4)
    assert q.dtype == torch.int64 and int(q.abs().max()) <= 7
    assert scale.shape == (6,) and scale.dtype == torch.float32
    naive_scale = w.abs().amax(1) / 7
    naive = torch.clamp(torch.round(w / naive_scale[:, None]), -7, 7) * naive_scale[:, None]
    err_search = float(((dequantize(q, scale) - w)[0] ** 2).sum())
    err_naive = float(((naive - w)[0] ** 2).sum())
    assert err_search < err_naive


@pytest.mark.parametrize("bits", [32, 16, 8, 6, 4, 2])
def test_encode_decode_round_trip_bit_exact(bits):
    net = _net()
    blob = encode(net, bits)
    state = decode(blob)
    ref = net.state_dict()
    assert set(state) == set(ref)
    for k, v in ref.items():
        if bits == 32 or v.dim() < 2:
            assert torch.equal(state[k], v), k
        else:
            assert torch.equal(state[k], fake_quantize(v, bits)), k
    # the decoded model gives the same outputs as the fake-quantized model
    m2 = load_decoded(copy.deepcopy(net), state)
    x = torch.randn(5, 1, 8, 8)
    fq = copy.deepcopy(net)
    with torch.no_grad():
        for p in fq.parameters():
            if p.dim() >= 2 and bits != 32:
                p.copy_(fake_quantize(p, bits))
        for a, b in zip(m2(x), fq(x)):
            assert torch.equal(a, b)


def test_size_is_len_of_bytes_and_falls_with_bits():
    net = _net()
    sizes = [len(encode(net, b)) for b in (32, 16, 8, 6, 4, 2)]
    assert all(a > b for a, b in zip(sizes, sizes[1:])), sizes
    n_weights = sum(p.numel() for p in net.parameters() if p.dim() >= 2)
    # 32-bit holds all parameters as float32 plus a small header
    n_all = sum(p.numel() for p in net.parameters())
    assert 4 * n_all < sizes[0] < 4 * n_all + 1000
    # 8-bit: weight codes take >= n_weights bytes, far below float32
    assert n_weights < sizes[2] < 4 * n_all


def test_sparse_encoding_is_smaller_and_exact():
    net = _net()
    magnitude_prune(net, 0.9)
    dense_state = {k: v for k, v in net.state_dict().items()}
    for bits in (32, 8, 2):
        blob = encode(net, bits)
        state = decode(blob)
        for k, v in dense_state.items():
            if v.dim() >= 2:
                assert bool((state[k][v == 0] == 0).all()), k  # zeros stay zeros
        if bits == 32:
            assert all(torch.equal(state[k], v) for k, v in dense_state.items())
    unpruned = _net()
    assert len(encode(net, 8)) < len(encode(unpruned, 8))
    assert len(encode(net, 32)) < 0.5 * len(encode(unpruned, 32))


def test_all_planes_equal_full_model_and_prefix_decoding():
    net = _net()
    blob = encode(net, 8)
    sizes = progressive_sizes(blob)
    assert len(sizes) == 8 and sizes[-1] == len(blob)
    assert all(a < b for a, b in zip(sizes, sizes[1:]))
    full = decode(blob)
    all_planes = decode(blob[: sizes[-1]], planes=8)
    for k in full:
        assert torch.equal(full[k], all_planes[k])
    # a receiver with only the first 3 planes can decode them, not 4
    part = decode(blob[: sizes[2]], planes=3)
    with pytest.raises(ValueError, match="need"):
        decode(blob[: sizes[2]], planes=4)
    # error of the partial model is larger than with more planes, and bounded by the bucket
    w = net.state_dict()["blocks.0.conv1.weight"]
    errs = []
    for p in range(1, 9):
        wp = decode(blob, planes=p)["blocks.0.conv1.weight"]
        errs.append(float((wp - full["blocks.0.conv1.weight"]).abs().max()))
    assert errs[-1] == 0.0 and all(a >= b for a, b in zip(errs, errs[1:]))
    _, scale = quantize_channels(w, 8)
    # after 3 planes (5 missing bits) the code is off by at most half a bucket: 15.5 steps
    dev = (part["blocks.0.conv1.weight"] - full["blocks.0.conv1.weight"]).abs()
    assert bool((dev <= 15.5 * scale[:, None, None, None] + 1e-6).all())


def test_middle_of_bucket_fill_exact_value():
    # one channel, 4 bits: w = 3 * scale -> q = 3 -> u = 3 + 8 = 11 = 0b1011
    w = torch.tensor([[7.0, 3.0, -7.0]])
    blob = encode({"w": w}, 4)
    q, scale = quantize_channels(w, 4)
    assert q.tolist() == [[7, 3, -7]]
    w2 = decode(blob, planes=2)["w"]  # top 2 bits of 11 = 0b10 -> bucket 8..11, middle 9.5 -> q 1.5
    assert float(w2[0, 1]) == pytest.approx(1.5 * float(scale[0]))
    w1 = decode(blob, planes=1)["w"]  # top bit 1 -> bucket 8..15, middle 11.5 -> q 3.5
    assert float(w1[0, 1]) == pytest.approx(3.5 * float(scale[0]))


def test_exit_model_encoding_matches_multi_exit_weights():
    net = _net()
    blob_full = decode(encode(net, 4))
    em = exit_model(net, 1)
    blob_exit = decode(encode(em, 4))
    for k, v in blob_exit.items():
        full_key = k.replace("head.", "heads.0.")
        assert torch.equal(v, blob_full[full_key]), k
    assert len(encode(em, 4)) < len(encode(net, 4))


def _header_kinds(blob: bytes) -> list[str]:
    import json
    import struct
    import zlib

    (hlen,) = struct.unpack("<I", blob[4:8])
    return [kind for _, _, kind in json.loads(zlib.decompress(blob[8:8 + hlen]))["tensors"]]


def _odd_state() -> dict[str, torch.Tensor]:
    """Every tensor kind: integer buffers, scalars, empty and 3-D tensors, all-zero channels."""
    g = torch.Generator().manual_seed(3)
    w = torch.randn(5, 7, 3, generator=g)
    w[1] = 0.0
    return {
        "steps": torch.tensor(7),
        "ids": torch.arange(6, dtype=torch.int32),
        "scalar": torch.tensor(0.5),
        "empty": torch.zeros(0, 4),
        "zeros": torch.zeros(3, 9),
        "w3d": w,
        "bias": torch.randn(5, generator=g),
    }


@pytest.mark.parametrize("bits", [32, 16, 8, 6, 4, 2])
def test_encoded_size_equals_len_of_encode(bits):
    unfolded = MultiExitNet(NetConfig(1, 3, (4, 6), (1, 2), 4, 1, 2, 3))  # BatchNorm buffers
    pruned = _net()
    magnitude_prune(pruned, 0.9)
    half = _net(seed=1)
    magnitude_prune(half, 0.5)
    for state in (_net().state_dict(), unfolded.state_dict(), pruned.state_dict(),
                  half.state_dict(), _odd_state()):
        specs = [TensorSpec.of(k, v) for k, v in state.items()]
        blob = encode(state, bits)
        assert encoded_size(specs, bits) == len(blob)
        assert [tensor_layout(sp, bits)[0] for sp in specs] == _header_kinds(blob)


def test_tensor_layout_by_hand():
    w = TensorSpec("w", (4, 25))  # 100 values, 4 output channels
    assert tensor_layout(w, 32) == ("f32", 400)
    assert tensor_layout(w, 4) == ("q", 4 * 4 + 4 * 13)  # scales + 4 planes of ceil(100 / 8)
    sparse = TensorSpec("w", (4, 25), nonzero=10)
    assert tensor_layout(sparse, 4) == ("qs", 16 + 13 + 4 * 2)  # + bitmask, planes of 10 codes
    assert tensor_layout(sparse, 32) == ("fs", 13 + 4 * 10)
    # sparse only when strictly smaller: 75 non-zeros at 2 bits, 13 + 2 * 10 > 2 * 13
    assert tensor_layout(TensorSpec("w", (4, 25), nonzero=75), 2)[0] == "q"
    assert tensor_layout(TensorSpec("b", (10,)), 2) == ("f32", 40)
    assert tensor_layout(TensorSpec("n", (3,), floating=False), 8) == ("i64", 24)
    with pytest.raises(ValueError, match="bits"):
        encoded_size([w], 17)
    with pytest.raises(ValueError, match="unsupported dtype"):
        TensorSpec.of("mask", torch.ones(3, dtype=torch.bool))


def test_bad_input_errors():
    with pytest.raises(ValueError, match="bits"):
        encode(_net(), 3.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="bits"):
        encode(_net(), 1)
    with pytest.raises(ValueError, match="magic"):
        decode(b"nope" + bytes(10))
    with pytest.raises(ValueError, match="planes"):
        decode(encode(_net(), 32), planes=1)
    with pytest.raises(TypeError, match="state dict"):
        encode(np.zeros(3), 8)  # type: ignore[arg-type]


def test_activation_quantization_w8a8():
    from compression.quantize import ActQuant, calibrate_activations, quantized_activations

    aq = ActQuant.from_range(-1.0, 3.0)
    assert aq.zero_point == round(1.0 / aq.scale) and aq.scale == pytest.approx(4.0 / 255)
    x = torch.linspace(-2.0, 4.0, 101)
    y = aq(x)
    # 256 levels over the range (shifted by under one step so that 0.0 is a level)
    assert torch.unique(y).numel() <= 256 and float(y.min()) >= -1.0 - aq.scale
    assert float(y.max()) <= 3.0 + aq.scale and aq(torch.zeros(1)).item() == 0.0
    assert torch.all((y - x.clamp(-1, 3)).abs() <= aq.scale / 2 + 1e-6)
    relu = ActQuant.from_range(0.5, 2.0)  # a range that excludes 0 is widened to include it
    assert relu.zero_point == 0 and relu.scale == pytest.approx(2.0 / 255)

    torch.manual_seed(0)
    net = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 36, 3)).eval()
    xc = torch.randn(64, 1, 8, 8)
    params = calibrate_activations(net, xc, batch_size=16)
    assert set(params) == {"0", "3"}
    lo, hi = float(xc.min()), float(xc.max())
    assert params["0"] == ActQuant.from_range(lo, hi)
    assert params["3"].zero_point == 0  # the linear layer reads ReLU outputs
    with torch.no_grad():
        ref = net(xc)
        with quantized_activations(net, params):
            q = net(xc)
        after = net(xc)
    assert torch.equal(ref, after)  # hooks removed
    assert not torch.equal(ref, q) and torch.allclose(ref, q, atol=0.05)
    with pytest.raises(KeyError, match="not calibrated"), quantized_activations(net, {"0": params["0"]}):
        pass
