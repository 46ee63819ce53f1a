"""Reference-scale architectures: exact counts vs the model cards, variants, derived profiles."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest
import torch

from compression import published as pub
from compression import quantize
from compression import reference as ref
from compression.profile import (
    PROFILE_DIR,
    SCHEMA_VERSION,
    load_profile,
    validate_profile,
)

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


@pytest.mark.parametrize(("arch", "axis", "level", "top1", "base"), [
    ("resnet18", "bits", (8, "float"), 69.70, 69.76),  # RTN per-channel, MSE range
    ("resnet18", "bits", (4, "float"), 55.03, 69.76),
    ("resnet18", "bits", (2, "float"), 0.12, 69.76),
    ("resnet18", "bits", (8, "integer"), 69.494, 69.758),  # torchvision FBGEMM PTQ
    ("resnet50", "bits", (4, "float"), 73.50, 77.94),  # MQBench W4A8 round-to-nearest
    ("resnet50", "bits", (8, "integer"), 75.92, 76.13),
    ("resnet50", "prune", ("unstructured", 0.5), 76.53, 76.8),  # Gale et al.
    ("resnet50", "prune", ("unstructured", 0.9), 73.91, 76.8),
    ("resnet50", "prune", ("structured", 0.5), 74.78, 76.15),  # Distiller
    ("resnet50", "depth", 1, 33.96, 76.13),  # OpenSelfSup stage probes
    ("resnet50", "depth", 3, 67.56, 76.13),
    ("mobilenet_v2", "bits", (8, "integer"), 70.68, 71.898),  # Brevitas per-channel PTQ
    ("mobilenet_v2", "bits", (4, "float"), 27.03, 72.68),  # MQBench W4A8 RTN
    ("efficientnet_b0", "bits", (8, "integer"), 76.89, 77.67),
    ("vit_b16", "bits", (8, "float"), 81.058, 81.068),
    ("vit_b16", "bits", (4, "float"), 80.144, 81.068),
    ("vit_b16", "bits", (8, "integer"), 78.406, 81.068),
    ("vit_b16", "prune", ("structured", 0.75), 80.19, 85.21),
])
def test_published_levels(arch, axis, level, top1, base) -> None:
    r = ref.level_retention(arch, axis, level)
    assert r.kind == "published" and r.source.startswith("published: ")
    assert r.retention == pytest.approx(top1 / base, abs=1e-6)
    assert f"({top1:.3f} of {base:.3f}" in r.source


@pytest.mark.parametrize(("arch", "axis", "level", "retention"), [
    ("resnet50", "bits", (16, "float"), 1.0),
    ("resnet50", "bits", (8, "float"), 69.70 / 69.76),  # ResNet-18 RTN
    ("resnet50", "bits", (6, "float"), 69.28 / 69.76),
    ("resnet50", "bits", (2, "float"), 0.001 / 0.7613),  # chance
    ("mobilenet_v2", "bits", (8, "float"), 70.68 / 71.898),  # W8A8 as a floor
    ("mobilenet_v3_large", "bits", (4, "float"), 27.03 / 72.68),  # MobileNetV2's
    ("efficientnet_b0", "bits", (6, "float"), 69.216 / 71.898),
    ("mobilenet_v3_large", "bits", (8, "integer"), 70.68 / 71.898),
    ("vit_b16", "bits", (6, "float"), 0.5 * (81.058 + 80.144) / 81.068),
    ("resnet18", "prune", ("unstructured", 0.25), 1.0),
    ("resnet18", "prune", ("unstructured", 0.5), 76.53 / 76.8),  # Gale curve
    ("vit_b16", "prune", ("unstructured", 0.75), 0.5 * (76.38 + 75.58) / 76.8),
    ("resnet18", "prune", ("structured", 0.5), 0.5 * (69.27 / 69.76 + 69.2 / 69.8)),
    ("resnet50", "prune", ("structured", 0.25), 1 - 0.5 * (1 - 74.78 / 76.15)),
    ("resnet50", "prune", ("structured", 0.75), 1 - 3.375 * (1 - 74.78 / 76.15)),
    ("mobilenet_v2", "prune", ("structured", 0.5), 1 - 2 * (1 - 74.78 / 76.15)),
    ("vit_b16", "prune", ("structured", 0.5), 1 - (1 - 80.19 / 85.21) / 3.375),
    ("resnet18", "depth", 2, 47.86 / 76.13),
    ("vit_b16", "depth", 9, 67.56 / 76.13),
])
def test_derived_levels(arch, axis, level, retention) -> None:
    r = ref.level_retention(arch, axis, level)
    assert r.kind == "derived" and r.source.startswith("derived: ")
    assert r.source[len("derived: "):] in ref.RULES.values()
    assert r.retention == pytest.approx(retention, abs=1e-6)


@pytest.mark.parametrize("arch", list(PUBLISHED))
def test_every_level_has_a_source_and_records_are_preferred_kinds(arch) -> None:
    rows = ref.level_table(arch)
    assert len(rows) == 3 + 7 + 6
    for axis, label, r in rows:
        assert 0 < r.retention <= 1 and r.kind in ("published", "derived"), (axis, label)
        rec = r.record
        if r.kind != "published":
            continue
        assert rec is not None and rec in pub.records(arch)
        assert r.retention == pytest.approx(min(1.0, rec.retention))
        if axis == "bits":
            # post-training quantization only (never quantization-aware training)
            assert rec.training_free, label
            if label == "W8A8":
                assert rec.kind == "w8a8"
            else:
                assert rec.kind in ("weight_only_bits", "weight_act_bits") and rec.act_bits in (None, 8)
        elif axis == "prune":
            assert rec.kind.endswith("_finetuned"), label
        else:
            assert rec.kind == "depth_linear_probe"


@pytest.mark.parametrize("arch", list(PUBLISHED))
def test_levels_are_monotone(arch) -> None:
    def r(axis, level):
        return ref.level_retention(arch, axis, level).retention

    bits = [r("bits", (b, "float")) for b in (32, 16, 8, 6, 4, 2)]
    assert bits == sorted(bits, reverse=True)
    assert r("bits", (8, "integer")) <= r("bits", (8, "float"))
    for kind, fracs in (("structured", (0.25, 0.5, 0.75)), ("unstructured", (0.25, 0.5, 0.75, 0.9))):
        vals = [r("prune", (kind, f)) for f in fracs]
        assert vals == sorted(vals, reverse=True), kind
    depth = [r("depth", d) for d in ref.ARCHS[arch].depths]
    assert depth == sorted(depth) and depth[-1] == 1.0


def test_variant_accuracy_combines_levels() -> None:
    top1 = ref.ARCHS["resnet50"].top1_fp32
    acc, src, f = ref.variant_accuracy("resnet50", 4, ("none", 0.0), (32, "float"))
    assert acc == top1 and src.startswith("published: torchvision model card")
    acc, src, f = ref.variant_accuracy("resnet50", 4, ("none", 0.0), (8, "integer"))
    assert acc == pytest.approx(0.7592) and src.startswith("published: torchvision model card")
    acc, src, f = ref.variant_accuracy("resnet50", 2, ("structured", 0.5), (4, "float"))
    assert acc == pytest.approx(top1 * (47.86 / 76.13) * (74.78 / 76.15) * (73.50 / 77.94))
    assert src == ("derived: product of retentions (depth 2 published, S50 published, "
                   "4 bits published)")
    assert f == {"depth": pytest.approx(47.86 / 76.13), "prune": pytest.approx(74.78 / 76.15),
                 "bits": pytest.approx(73.50 / 77.94)}
    # floored at chance
    acc, src, _ = ref.variant_accuracy("mobilenet_v2", 1, ("unstructured", 0.9), (2, "float"))
    assert acc == ref.CHANCE and src.endswith("floored at chance (0.1 %)")
    with pytest.raises(ValueError, match="no retention for bit level"):
        ref.level_retention("resnet50", "bits", (4, "integer"))
    with pytest.raises(KeyError, match="unknown"):
        ref.level_retention("alexnet", "depth", 1)


def test_sources_markdown() -> None:
    md = ref.sources_markdown()
    assert md.startswith("| model | level | retention | top-1 % | source |")
    assert md.count("\n") == 1 + 6 * 17
    assert "| ResNet-50 | 4 bits | 0.9430 | 71.79 | published: Li et al. 2021" in md


def test_reference_profile_values() -> None:
    data = ref.reference_profile("resnet50", cpu_macs_per_s=2e10)
    validate_profile(data)
    assert data["schema_version"] == 2
    assert len(data["variants"]) == 4 * 8 * 7
    assert data["levels"]["bits"] == [32, 16, 8, 6, 4, 2, 8]
    assert data["levels"]["arithmetic"] == ["float"] * 6 + ["integer"]
    by_key = {(v["depth"], v["prune"]["kind"], v["prune"]["fraction"], v["bits"], v["arithmetic"]): v
              for v in data["variants"]}
    full = by_key[(4, "none", 0.0, 32, "float")]
    assert full["accuracy"] == 0.7613 and full["accuracy_source"].startswith("published: torchvision")
    assert full["params"] == 25_557_032 and full["training_free"]
    assert full["latency_s"] == pytest.approx(full["macs"] / 2e10)
    assert "progressive_accuracy" not in full and "progressive_accuracy" not in by_key[
        (4, "none", 0.0, 16, "float")]
    int8 = by_key[(4, "none", 0.0, 8, "integer")]
    w8 = by_key[(4, "none", 0.0, 8, "float")]
    assert int8["accuracy"] == 0.7592 and int8["accuracy_source"].startswith("published: ")
    assert int8["size_bytes"] == w8["size_bytes"] and int8["macs"] == w8["macs"]
    assert int8["progressive_size_bytes"] == w8["progressive_size_bytes"]
    assert int8["progressive_accuracy"][-1] == int8["accuracy"]
    assert w8["progressive_accuracy"][-1] == w8["accuracy"]
    # per-plane: p planes = the p-bit weight-only variant; W8A8 scaled by its ratio to 8-bit
    wo = {b: by_key[(4, "none", 0.0, b, "float")]["accuracy"] for b in (8, 6, 4, 2)}
    assert w8["progressive_accuracy"][3] == wo[4] and w8["progressive_accuracy"][0] == ref.CHANCE
    assert w8["progressive_accuracy"][4] == pytest.approx(0.5 * (wo[4] + wo[6]), abs=1e-6)
    ratio = int8["accuracy"] / w8["accuracy"]
    assert int8["progressive_accuracy"][5] == pytest.approx(wo[6] * ratio, abs=1e-6)
    v = by_key[(2, "structured", 0.5, 4, "float")]
    assert v["accuracy_source"].startswith("derived: product of retentions")
    assert not v["training_free"]
    assert v["accuracy"] == pytest.approx(0.7613 * v["retention"], abs=1e-6)
    assert v["macs"] == ref.count(ref.build("resnet50", 2, 0.5)).macs
    assert len(v["progressive_accuracy"]) == 4
    assert v["progressive_size_bytes"][-1] == v["size_bytes"]
    # unstructured: dense MACs unchanged, size and non-zero params fall
    u = by_key[(4, "unstructured", 0.9, 8, "float")]
    assert u["macs"] == full["macs"] and u["macs_nonzero"] < 0.2 * full["macs"]
    assert u["params"] < 0.2 * full["params"] and u["params_dense"] == full["params"]
    assert u["size_bytes"] < w8["size_bytes"]
    assert u["proxies"] == {"params": float(u["params"]), "flops": float(u["macs"])}
    # bits: size strictly falls 32 -> 2 for the dense model
    sizes = [by_key[(4, "none", 0.0, b, "float")]["size_bytes"] for b in (32, 16, 8, 6, 4, 2)]
    assert sizes == sorted(sizes, reverse=True) and len(set(sizes)) == len(sizes)
    assert sizes[0] == pytest.approx(4 * 25.5e6, rel=0.01)


def test_build_reference_profiles_writes_and_skips(tmp_path) -> None:
    out = tmp_path / "out"  # no measured profile anywhere: the accuracies are published/derived
    logs: list[str] = []
    paths = ref.build_reference_profiles(out, ["mobilenet_v2"], log=logs.append,
                                         cpu_macs_per_s={"mobilenet_v2": 1e10})
    assert paths == [out / "reference_mobilenet_v2.json"]
    prof = load_profile(paths[0])
    assert prof.source == "reference" and prof.shape == (4, 8, 7) and prof.valid.all()
    assert prof.arithmetic[-1] == "integer" and prof.bit_labels[-1] == "W8A8"
    raw = json.loads(paths[0].read_text())
    assert raw["citation"].startswith("torchvision model cards")
    assert "retention_from" not in raw
    before = paths[0].read_text()
    assert ref.build_reference_profiles(out, ["mobilenet_v2"], log=logs.append) == []
    assert "exists, skipped" in logs[-1] and paths[0].read_text() == before
    assert math.isclose(prof.macs[-1, 0, 0], ref.count(ref.build("mobilenet_v2")).macs)


def test_readme_sources_table_is_current() -> None:
    # compression/README.md shows the output of `python -m compression.reference --sources`
    readme = (PROFILE_DIR.parent / "README.md").read_text()
    assert ref.sources_markdown() in readme


def test_main_prints_the_sources_table(capsys) -> None:
    assert ref.main(["--sources"]) == 0
    assert capsys.readouterr().out.strip() == ref.sources_markdown()


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
    (path,) = ref.build_reference_profiles(tmp_path, [arch], log=None,
                                           cpu_macs_per_s={arch: raw["cpu_macs_per_s"]})
    assert path.read_bytes() == shipped.read_bytes()


def test_python_m_entry_point() -> None:
    out = subprocess.run([sys.executable, "-m", "compression.reference", "--help"],
                         capture_output=True, text=True, check=True, timeout=120).stdout
    assert out.startswith("usage: python -m compression.reference") and "--counts" in out
