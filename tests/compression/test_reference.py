"""Reference-scale architectures: exact counts vs the model cards, variants, derived profiles."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from compression import quantize
from compression import reference as ref
from compression.profile import (
    PROFILE_DIR,
    SCHEMA_VERSION,
    load_profile,
    save_profile,
    validate_profile,
)
from compression.reference.profiles import FLOAT_BITS

# torchvision model cards: num_params, _ops (GMACs, also shown rounded to two decimals as
# "GFLOPS").
PUBLISHED = {
    "resnet18": (11_689_512, 1.814, 1.81),
    "resnet50": (25_557_032, 4.089, 4.09),
    "mobilenet_v2": (3_504_872, 0.301, 0.30),
    "mobilenet_v3_large": (5_483_032, 0.217, 0.22),
    "efficientnet_b0": (5_288_548, 0.386, 0.39),
    "vit_b16": (86_567_656, 17.564, 17.56),
}


@pytest.mark.parametrize("arch", list(PUBLISHED))
def test_full_model_matches_published_counts(arch: str) -> None:
    params, gmacs, gmacs_rounded = PUBLISHED[arch]
    stats = ref.count(ref.build(arch))
    assert stats.params == params
    assert stats.macs / 1e9 == pytest.approx(gmacs, rel=0.01)
    assert round(stats.macs / 1e9, 2) == pytest.approx(gmacs_rounded, abs=1e-9)
    assert ref.ARCHS[arch].params == params


def test_resnet18_depth_and_width_counts_by_hand() -> None:
    # depth 1 = stem + layer1 + pool/fc(64 -> 1000)
    stem = 64 * 3 * 49 + 2 * 64
    block = 2 * (64 * 64 * 9 + 2 * 64)
    assert ref.count(ref.build("resnet18", 1)).params == stem + 2 * block + 64 * 1000 + 1000
    # half the inner width of layer1's blocks: conv1 64->32, conv2 32->64
    half_block = 64 * 32 * 9 + 2 * 32 + 32 * 64 * 9 + 2 * 64
    st = ref.count(ref.build("resnet18", 1, keep=0.5))
    assert st.params == stem + 2 * half_block + 64 * 1000 + 1000
    # MACs at 56x56 after the stem: 112*112 * 64 * 3 * 49 for the stem conv
    macs = 112 * 112 * 64 * 3 * 49 + 2 * 56 * 56 * (32 * 64 * 9 + 64 * 32 * 9) + 64 * 1000
    assert st.macs == macs


@pytest.mark.parametrize("arch", list(PUBLISHED))
def test_variants_shrink_monotonically_and_run_on_cpu(arch: str) -> None:
    spec = ref.ARCHS[arch]
    prev = None
    for d in spec.depths:
        st = ref.count(ref.build(arch, d))
        assert prev is None or st.params > prev.params and st.macs > prev.macs
        prev = st
    widths = [ref.count(ref.build(arch, spec.depths[-1], k)) for k in (1.0, 0.75, 0.5, 0.25)]
    assert all(a.macs > b.macs and a.params > b.params for a, b in zip(widths, widths[1:]))
    # the smallest variant really runs with real (random) weights, and its counts agree
    torch.manual_seed(0)
    small = ref.build(arch, spec.depths[0], 0.25, device="cpu")
    cpu = ref.count(small)
    meta = ref.count(ref.build(arch, spec.depths[0], 0.25))
    assert (cpu.params, cpu.macs) == (meta.params, meta.macs)
    with torch.no_grad():
        out = small(torch.randn(1, 3, 224, 224))
    assert out.shape == (1, 1000) and torch.isfinite(out).all()


def test_build_rejects_bad_levels() -> None:
    with pytest.raises(ValueError, match=r"depth must be one of \(3, 6, 9, 12\)"):
        ref.build("vit_b16", 4)
    with pytest.raises(ValueError, match="keep must be in"):
        ref.build("resnet18", 4, keep=0.0)
    with pytest.raises(KeyError, match="known: resnet18"):
        ref.build("alexnet")


def test_tensor_size_formula() -> None:
    t = ref.Tensor("w", (4, 25), prunable=True)
    assert ref.tensor_size_bytes(t, 32) == 400  # float32, no scales
    assert ref.tensor_size_bytes(t, 4) == 16 + 4 * 13  # 4 scales + 4 planes of ceil(100 / 8)
    # 90 % zeros: bitmask 13 bytes + 4 planes of ceil(10 / 8) = 21 < 52 dense
    assert ref.tensor_size_bytes(t, 4, sparsity=0.9) == 16 + 13 + 4 * 2
    assert ref.tensor_size_bytes(t, 32, sparsity=0.9) == 13 + 4 * 10  # bitmask + float32 nz
    # 25 % zeros at 2 bits: sparse 13 + 2 * 10 = 33 > dense 2 * 13 = 26 -> dense
    assert ref.tensor_size_bytes(t, 2, sparsity=0.25) == 16 + 26
    assert ref.tensor_size_bytes(ref.Tensor("b", (10,), False), 2) == 40  # 1-D stays float32
    # a >= 2-D tensor that is not a Conv/Linear weight is quantized but never sparsified
    pos = ref.Tensor("pos", (1, 197, 768), prunable=False)
    assert ref.tensor_size_bytes(pos, 8, 0.9) == 4 + 8 * math.ceil(197 * 768 / 8)
    with pytest.raises(ValueError, match="sparsity"):
        ref.encoded_size_bytes([t], 8, sparsity=1.0)
    with pytest.raises(ValueError, match="bits must be"):
        ref.encoded_size_bytes([t], 1)
    with pytest.raises(ValueError, match="sparsity"):
        ref.tensor_size_bytes(t, 8, sparsity=-0.1)


def _random_state(tensors, sparsity: float, seed: int = 0) -> dict:
    """Random weights with these names/shapes; Conv/Linear weights magnitude-pruned per tensor."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for t in tensors:
        w = torch.randn(t.shape, generator=g)
        if t.prunable and sparsity:
            k = int(round(t.numel * sparsity))
            idx = torch.argsort(w.abs().reshape(-1))[:k]
            w.reshape(-1)[idx] = 0.0
        state[t.name] = w
    return state


@pytest.mark.parametrize(("arch", "depth", "prefixes"), [
    ("resnet18", 1, None),
    ("vit_b16", 3, ("stem.", "head.")),  # patch embedding (3-D class token/position) + head
])
def test_size_formula_equals_real_encoder(arch, depth, prefixes) -> None:
    tensors = ref.count(ref.build(arch, depth, keep=0.25)).tensors
    if prefixes:
        tensors = tuple(t for t in tensors if t.name.startswith(prefixes))
    for sparsity, bits in ((0.0, 32), (0.9, 32), (0.0, 8), (0.5, 4), (0.9, 2), (0.25, 16)):
        state = _random_state(tensors, sparsity)
        blob = quantize.encode(state, bits)
        assert ref.encoded_size_bytes(tensors, bits, sparsity) == len(blob), (sparsity, bits)
        assert ref.progressive_size_bytes(tensors, bits, sparsity) == quantize.progressive_sizes(blob)
        # the uniform spread gives each weight the non-zero count the encoder counts
        assert [ref.tensor_spec(t, sparsity) for t in tensors] == [
            quantize.TensorSpec.of(k, v) for k, v in state.items()
        ]


def test_per_plane_accuracy_rule() -> None:
    wo = {8: 0.7, 6: 0.68, 4: 0.5, 2: 0.01}
    # p planes = the p-bit weight-only accuracy; odd p: mean of the neighbours; 1 plane: chance
    assert ref.per_plane_accuracy(wo, 8, 0.7) == [
        ref.CHANCE, 0.01, 0.255, 0.5, 0.59, 0.68, 0.69, 0.7]
    assert ref.per_plane_accuracy(wo, 4, 0.5) == [ref.CHANCE, 0.01, 0.255, 0.5]
    # the last entry is the variant's own accuracy (W8A8: not the weight-only one)
    assert ref.per_plane_accuracy(wo, 8, 0.66)[-1] == 0.66


def test_fp32_size_is_folded_params_times_four() -> None:
    st = ref.count(ref.build("resnet18"))
    n_values = sum(t.numel for t in st.tensors)
    # folding removes BN's 4 values per channel and adds a 1-value bias per conv channel
    bn_channels = sum(m.num_features for m in ref.build("resnet18").modules()
                      if isinstance(m, torch.nn.BatchNorm2d))
    assert n_values == st.params - bn_channels
    size = ref.encoded_size_bytes(st.tensors, 32)
    assert 4 * n_values < size < 4 * n_values + 4096  # plus a compressed header of names/shapes


def _fake_measured(name: str, full: float, scale: float) -> dict:
    """A valid measured profile on the contract's grid; accuracy = full * a known retention."""
    variants = []
    for d in (1, 2, 3, 4):
        for p in ref.PRUNE_LEVELS:
            for b in FLOAT_BITS:
                r = (0.7 + 0.1 * d) if d < 4 else 1.0
                r *= 1.0 - scale * p["fraction"]
                if b == 2:
                    r *= 0.5
                variants.append({
                    "depth": d, "prune": dict(p), "bits": b, "size_bytes": 1000, "macs": 10,
                    "params": 10, "accuracy": full * r, "latency_s": 1e-3, "proxies": {},
                })
    return {"name": name, "task": "fake", "model": "fake", "source": "user",
            "levels": {"depth": [1, 2, 3, 4], "prune": [dict(p) for p in ref.PRUNE_LEVELS],
                       "bits": list(FLOAT_BITS)}, "variants": variants}


@pytest.fixture()
def measured(tmp_path):
    paths = []
    for name, full, scale in (("measured_a", 0.9, 0.2), ("measured_b", 0.6, 0.4)):
        paths.append(save_profile(_fake_measured(name, full, scale), tmp_path / f"{name}.json"))
    return paths


def test_retention_table(measured) -> None:
    table = ref.RetentionTable(ref.load_measured_profiles(measured))
    assert table.retention(1.0, ("none", 0.0), 32) == (pytest.approx(1.0), 2)
    # structured 50 %: (1 - 0.2 * 0.5 + 1 - 0.4 * 0.5) / 2 = 0.85; depth 2/4 -> 0.9
    r, n = table.retention(0.5, ("structured", 0.5), 8)
    assert r == pytest.approx(0.9 * 0.85) and n == 2
    # relative depth 0.3 -> nearest measured level 1/4 (retention 0.8); 2 bits halves
    assert table.retention(0.3, ("none", 0.0), 2)[0] == pytest.approx(0.4)
    # exactly between 1/4 and 2/4 -> the deeper one
    assert table.retention(0.375, ("none", 0.0), 32)[0] == pytest.approx(0.9)
    with pytest.raises(ValueError, match="no measured profile"):
        table.retention(1.0, ("structured", 0.33), 32)
    with pytest.raises(ValueError, match="at least one measured profile"):
        ref.RetentionTable([])


def test_reference_profile_values(measured) -> None:
    table = ref.RetentionTable(ref.load_measured_profiles(measured))
    data = ref.reference_profile("resnet50", table, cpu_macs_per_s=2e10)
    validate_profile(data)
    assert len(data["variants"]) == 4 * 8 * len(FLOAT_BITS)
    by_key = {(v["depth"], v["prune"]["kind"], v["prune"]["fraction"], v["bits"]): v
              for v in data["variants"]}
    full = by_key[(4, "none", 0.0, 32)]
    assert full["accuracy"] == 0.7613 and full["accuracy_source"].startswith("published: torchvision model card")
    assert full["params"] == 25_557_032
    assert full["latency_s"] == pytest.approx(full["macs"] / 2e10)
    int8 = by_key[(4, "none", 0.0, 8)]
    assert int8["accuracy"] == 0.7592 and int8["accuracy_source"].startswith("published: ")
    v = by_key[(2, "structured", 0.5, 4)]
    assert v["accuracy_source"].startswith("derived: ")
    assert v["accuracy"] == pytest.approx(0.7613 * 0.9 * 0.85, abs=1e-6)
    assert v["macs"] == ref.count(ref.build("resnet50", 2, 0.5)).macs
    # unstructured: dense MACs unchanged, size and non-zero params fall
    u = by_key[(4, "unstructured", 0.9, 8)]
    assert u["macs"] == full["macs"] and u["macs_nonzero"] < 0.2 * full["macs"]
    assert u["params"] < 0.2 * full["params"] and u["params_dense"] == full["params"]
    assert u["size_bytes"] < by_key[(4, "none", 0.0, 8)]["size_bytes"]
    assert u["proxies"] == {"params": float(u["params"]), "flops": float(u["macs"])}
    # bits: size strictly falls 32 -> 2 for the dense model
    sizes = [by_key[(4, "none", 0.0, b)]["size_bytes"] for b in FLOAT_BITS]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
    assert sizes[0] == pytest.approx(4 * 25.5e6, rel=0.01)


def test_build_reference_profiles_writes_and_skips(measured, tmp_path) -> None:
    out = tmp_path / "out"
    logs: list[str] = []
    paths = ref.build_reference_profiles(out, measured, ["mobilenet_v2"], log=logs.append,
                                         cpu_macs_per_s={"mobilenet_v2": 1e10})
    assert paths == [out / "reference_mobilenet_v2.json"]
    prof = load_profile(paths[0])
    assert prof.source == "reference" and prof.shape == (4, 8, len(FLOAT_BITS)) and prof.valid.all()
    raw = json.loads(paths[0].read_text())
    assert raw["citation"].startswith("torchvision model cards")
    assert raw["retention_from"] == ["measured_a", "measured_b"]
    before = paths[0].read_text()
    assert ref.build_reference_profiles(out, measured, ["mobilenet_v2"], log=logs.append) == []
    assert "exists, skipped" in logs[-1] and paths[0].read_text() == before
    assert math.isclose(prof.macs[-1, 0, 0], ref.count(ref.build("mobilenet_v2")).macs)


def test_main_reports_missing_measured(tmp_path, capsys) -> None:
    rc = ref.main(["--out", str(tmp_path), "--measured", str(tmp_path / "nope.json")])
    assert rc == 2 and "not found" in capsys.readouterr().out


@pytest.mark.parametrize("arch", ["resnet18", "vit_b16"])
def test_rebuild_reproduces_shipped_profile(arch, tmp_path, monkeypatch) -> None:
    # with the shipped machine-measured values (CPU rate, load average) the builder reproduces
    # the shipped file byte for byte; rebuild the shipped profiles when this fails on purpose
    shipped = PROFILE_DIR / f"reference_{arch}.json"
    raw = json.loads(shipped.read_text())
    if raw.get("schema_version", 1) < SCHEMA_VERSION:
        pytest.skip(f"{shipped.name} is schema {raw.get('schema_version', 1)}; the builder writes "
                    f"schema {SCHEMA_VERSION} (python -m compression.reference --overwrite)")
    monkeypatch.setattr(ref.profiles, "_load_avg", lambda: raw["cpu_load_avg_1min"])
    measured = sorted(PROFILE_DIR.glob("measured_*.json"))
    (path,) = ref.build_reference_profiles(tmp_path, measured, [arch], log=None,
                                           cpu_macs_per_s={arch: raw["cpu_macs_per_s"]})
    assert path.read_bytes() == shipped.read_bytes()


def test_python_m_entry_point() -> None:
    out = subprocess.run([sys.executable, "-m", "compression.reference", "--help"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.startswith("usage: python -m compression.reference") and "--counts" in out
