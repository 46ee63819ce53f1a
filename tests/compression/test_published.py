"""Published accuracies of compressed reference architectures: well-formed, filterable, model cards."""

from __future__ import annotations

import ast
import dataclasses
import math
import subprocess
import sys
from pathlib import Path

import pytest

from compression import published as pub

MODEL_CARD_FP32 = {
    "resnet18": 0.69758,
    "resnet50": 0.76130,
    "mobilenet_v2": 0.71878,
    "mobilenet_v3_large": 0.74042,
    "efficientnet_b0": 0.77692,
    "vit_b16": 0.81072,
}
MODEL_CARD_INT8 = {
    "resnet18": (0.69494, True),  # FBGEMM post-training quantization
    "resnet50": (0.75920, True),
    "mobilenet_v2": (0.71658, False),  # QNNPACK quantization-aware training
    "mobilenet_v3_large": (0.73004, False),
}


def test_records_are_well_formed():
    recs = pub.records()
    assert len(recs) > 50
    for rec in recs:
        assert isinstance(rec, pub.PublishedResult)
        assert rec.arch in pub.ARCHS, rec
        assert rec.kind in pub.KINDS, rec
        assert rec.level_basis in pub.LEVEL_BASES, rec
        assert rec.source_type in pub.SOURCE_TYPES, rec
        assert isinstance(rec.training_free, bool), rec
        assert 0.0 < rec.top1 <= 1.0, rec
        assert 0.0 < rec.baseline_top1 <= 1.0, rec
        assert math.isfinite(rec.level) and rec.level > 0, rec
        for field in ("method", "weights", "citation", "where"):
            assert getattr(rec, field).strip(), (field, rec)
        assert math.isclose(rec.drop, rec.baseline_top1 - rec.top1)
        assert math.isclose(rec.retention, rec.top1 / rec.baseline_top1)


def test_levels_match_kinds():
    for rec in pub.records():
        if rec.kind in ("fp32", "weight_only_bits", "w8a8", "weight_act_bits"):
            assert rec.level_basis == "bits", rec
            assert rec.level in (2, 3, 4, 5, 6, 7, 8, 16, 32), rec
        if rec.kind == "weight_only_bits":
            assert rec.act_bits is None, rec
        if rec.kind == "w8a8":
            assert rec.level == 8 and rec.act_bits == 8, rec
        if rec.kind == "weight_act_bits":
            assert rec.act_bits is not None and (rec.level, rec.act_bits) != (8, 8), rec
        if rec.kind.startswith("prune_"):
            assert 0.0 < rec.level < 1.0, rec
            assert rec.level_basis in ("weights", "channels", "params", "flops"), rec
        if rec.kind.startswith("prune_unstructured"):
            assert rec.level_basis == "weights", rec
        if rec.kind.endswith("_oneshot"):
            assert rec.training_free, rec
        if rec.kind.endswith("_finetuned") or rec.kind == "depth_linear_probe":
            assert not rec.training_free, rec
        if rec.kind == "depth_linear_probe":
            assert rec.level in pub.grid_levels(rec.arch, rec.kind), rec


def test_records_are_frozen_and_unique():
    rec = pub.records()[0]
    with pytest.raises(dataclasses.FrozenInstanceError):
        rec.top1 = 0.5  # type: ignore[misc]
    keys = [(r.arch, r.kind, r.level, r.act_bits, r.method, r.weights, r.citation, r.where)
            for r in pub.records()]
    assert len(keys) == len(set(keys))


def test_torchvision_model_cards():
    assert MODEL_CARD_FP32 == pub.TORCHVISION_FP32
    assert {a: v for a, (v, _) in MODEL_CARD_INT8.items()} == pub.TORCHVISION_INT8
    for arch, acc in MODEL_CARD_FP32.items():
        (rec,) = pub.records(arch, "fp32")
        assert rec.top1 == acc and rec.baseline_top1 == acc
        assert rec.weights == pub.TORCHVISION_V1 and rec.source_type == "model_card"
    for arch, (acc, free) in MODEL_CARD_INT8.items():
        cards = [r for r in pub.records(arch, "w8a8") if r.source_type == "model_card"]
        assert len(cards) == 1
        assert cards[0].top1 == acc
        assert cards[0].baseline_top1 == MODEL_CARD_FP32[arch]
        assert cards[0].training_free is free
    for arch in ("efficientnet_b0", "vit_b16"):
        assert not [r for r in pub.records(arch, "w8a8") if r.source_type == "model_card"]


def test_torchvision_baselines_are_the_model_cards():
    """Records on the torchvision checkpoint quote a baseline close to the model card."""
    for rec in pub.records(torchvision_weights=True):
        assert abs(rec.baseline_top1 - MODEL_CARD_FP32[rec.arch]) < 0.0025, rec


def test_records_filters():
    everything = pub.records()
    assert pub.records(arch="resnet50")
    assert all(r.arch == "resnet50" for r in pub.records(arch="resnet50"))
    assert all(r.kind == "w8a8" for r in pub.records(kind="w8a8"))
    both = pub.records("vit_b16", "w8a8")
    assert both and all(r.arch == "vit_b16" and r.kind == "w8a8" for r in both)
    free = pub.records(training_free=True)
    trained = pub.records(training_free=False)
    assert free and trained and len(free) + len(trained) == len(everything)
    tv = pub.records(torchvision_weights=True)
    other = pub.records(torchvision_weights=False)
    assert all(r.weights == pub.TORCHVISION_V1 for r in tv)
    assert len(tv) + len(other) == len(everything)
    assert pub.records(arch="no_such_arch") == []
    assert pub.records() is not pub.records()  # a fresh list each call


def test_known_numbers():
    rtn2 = [r for r in pub.records("resnet18", "weight_only_bits")
            if r.level == 2 and r.method.startswith("round-to-nearest")]
    assert rtn2 and all(r.top1 <= 0.0015 for r in rtn2)  # chance level
    gale = {r.level: r.top1 for r in pub.records("resnet50", "prune_unstructured_finetuned")
            if r.citation.startswith("Gale")}
    assert gale == {0.5: 0.7653, 0.7: 0.7638, 0.8: 0.7558, 0.9: 0.7391}
    probe = {r.level: r.top1 for r in pub.records("resnet50", "depth_linear_probe")}
    assert probe == {1.0: 0.3396, 2.0: 0.4786, 3.0: 0.6756, 4.0: 0.7617}


def test_grid_and_missing_cells():
    cells = pub.grid_cells()
    assert len(cells) == len(set(cells)) == 6 * sum(len(v) for v in pub.GRID_LEVELS.values())
    assert ("vit_b16", "depth_linear_probe", 12.0) in cells
    assert ("resnet50", "depth_linear_probe", 4.0) in cells
    missing = pub.missing_cells()
    assert set(missing) <= set(cells)
    covered = set(cells) - set(missing)
    for arch, kind, level in covered:
        assert pub.cell_records(arch, kind, level)
    for arch, kind, level in missing:
        assert not pub.cell_records(arch, kind, level)
    # known coverage and known gaps
    assert ("resnet18", "weight_only_bits", 2.0) in covered
    assert ("resnet50", "prune_unstructured_finetuned", 0.9) in covered
    assert ("resnet50", "prune_unstructured_finetuned", 0.75) in covered  # 0.7 and 0.8 within 0.05
    assert ("resnet50", "depth_linear_probe", 2.0) in covered
    assert ("vit_b16", "w8a8", 8.0) in covered
    assert ("mobilenet_v3_large", "weight_only_bits", 4.0) in missing
    assert ("vit_b16", "depth_linear_probe", 6.0) in missing
    assert ("efficientnet_b0", "prune_unstructured_oneshot", 0.5) in missing
    for arch in pub.ARCHS:
        assert (arch, "weight_only_bits", 16.0) in missing
    # stricter filters can only add gaps
    assert set(missing) <= set(pub.missing_cells(torchvision_weights=True))
    assert set(missing) <= set(pub.missing_cells(training_free=True))
    assert set(pub.missing_cells(tolerance=0.0)) >= set(missing)


def test_importable_without_torch_or_side_effects():
    src = Path(pub.__file__).read_text()
    imported = set()
    for node in ast.walk(ast.parse(src)):
        if isinstance(node, ast.Import):
            imported |= {a.name.split(".")[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            imported.add(node.module.split(".")[0])
    assert imported <= {"__future__", "dataclasses"}
    code = ("import sys, compression.published as p; "
            "assert 'torch' not in sys.modules; print(len(p.records()))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                         cwd=Path(__file__).resolve().parents[2])
    assert out.stdout.strip() == str(len(pub.records()))
    assert out.stderr == ""
