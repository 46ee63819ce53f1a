"""The report command: retention curves, correlation summary, markdown, PNG without overwrite."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from compression import report
from compression.profile import load_profile, save_profile

PRUNES = [{"kind": "none", "fraction": 0.0}, {"kind": "structured", "fraction": 0.5},
          {"kind": "unstructured", "fraction": 0.5}]
BITS = [32, 8, 2]
DEPTH_ACC = {1: 0.5, 2: 0.7, 3: 0.8}
PRUNE_DROP = {"none": 0.0, "structured": 0.1, "unstructured": 0.02}
BITS_DROP = {32: 0.0, 8: 0.01, 2: 0.3}


def _profile() -> dict:
    """Accuracy = depth accuracy - prune drop - bits drop. Proxies: 'params' follows depth and
    structured pruning (so it ranks depth/prune but is constant across bits); 'noise' is a fixed
    permutation with no relation to accuracy."""
    variants = []
    i = 0
    for d, acc in DEPTH_ACC.items():
        for p in PRUNES:
            for b in BITS:
                width = 0.5 if p["kind"] == "structured" else 1.0
                size = int(1000 * d * width * b / 32) + 8
                accuracy = round(acc - PRUNE_DROP[p["kind"]] - BITS_DROP[b], 6)
                v = {
                    "depth": d, "prune": dict(p), "bits": b, "arithmetic": "float",
                    "size_bytes": size, "macs": int(1e4 * d * width),
                    "params": int(100 * d * width), "accuracy": accuracy,
                    "accuracy_source": "measured", "training_free": p["kind"] == "none",
                    "latency_s": 1e-4 * d,
                    "proxies": {"params": 100.0 * d * width, "noise": float((7 * i) % 11),
                                "bits_aware": float(b)},
                }
                if b <= 8:
                    v["progressive_accuracy"] = [0.1] * (b - 1) + [accuracy]
                    v["progressive_size_bytes"] = [size - b + k for k in range(1, b + 1)]
                variants.append(v)
                i += 1
    return {"name": "toy", "task": "toy", "model": "tiny", "source": "measured",
            "levels": {"depth": [1, 2, 3], "prune": PRUNES, "bits": BITS,
                       "arithmetic": ["float"] * len(BITS)},
            "variants": variants}


@pytest.fixture()
def prof_path(tmp_path: Path) -> Path:
    return save_profile(_profile(), tmp_path / "toy.json")


def test_retention_curves(prof_path: Path) -> None:
    curves = report.retention_curves(load_profile(prof_path))
    assert curves["depth"] == [("1", 0.5, pytest.approx(0.625)), ("2", 0.7, pytest.approx(0.875)),
                               ("3", 0.8, 1.0)]
    assert [lab for lab, _, _ in curves["prune"]] == ["none", "S50", "U50"]
    assert curves["prune"][1][1] == pytest.approx(0.7)
    assert curves["bits"][2] == ("2", pytest.approx(0.5), pytest.approx(0.625))


def test_correlation_summary(prof_path: Path) -> None:
    s = report.correlation_summary(load_profile(prof_path))
    # params cannot rank bit widths: constant inside every (depth, prune) group -> undefined
    assert s["params"]["tau_across_bits"] is None
    assert s["params"]["tau_across_bits_min4"] is None
    # within one bit width, params orders depth exactly, and structured pruning lowers both
    assert s["params"]["tau_within_bits"] > 0.7
    assert s["params"]["n"] == 27
    assert -0.5 < s["noise"]["kendall_tau"] < 0.5
    # a proxy that follows the bit width ranks the bits of every architecture perfectly
    assert s["bits_aware"]["tau_across_bits"] == pytest.approx(1.0)
    assert s["bits_aware"]["tau_across_bits_min4"] == pytest.approx(1.0)
    assert s["bits_aware"]["tau_within_bits"] is None  # constant inside one bit width


def test_markdown_output(prof_path: Path, capsys) -> None:
    assert report.main([str(prof_path), "--markdown", "--no-plot"]) == 0
    out = capsys.readouterr().out
    assert "| depth | toy | mean retention |" in out
    assert "| 1 | 50.0 | 0.625 |" in out  # depth 1: 50 % accuracy, 0.625 of the full model
    assert "| 2 | 50.0 | 0.625 |" in out  # 2 bits: 80 - 30 = 50 %
    assert "| params |" in out and "| noise |" in out


def test_rich_output_and_png_never_overwritten(prof_path: Path, tmp_path: Path, capsys) -> None:
    out_dir = tmp_path / "out"
    assert report.main([str(prof_path), "--out", str(out_dir)]) == 0
    text = capsys.readouterr().out
    assert "toy: tiny on toy (measured), 27 variants" in text
    assert "proxy rank correlation" in text
    first = out_dir / "toy_accuracy_vs_size.png"
    assert first.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    before = first.read_bytes()
    frontier = out_dir / "toy_frontier.png"
    assert frontier.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert report.main([str(prof_path), "--out", str(out_dir), "--no-table"]) == 0
    out = capsys.readouterr().out
    assert f"wrote {out_dir / 'toy_accuracy_vs_size_2.png'}" in out
    assert f"wrote {out_dir / 'toy_frontier_2.png'}" in out
    assert first.read_bytes() == before


def test_bad_profile_is_reported(tmp_path: Path, capsys) -> None:
    assert report.main([str(tmp_path / "missing.json"), "--no-plot"]) == 2
    assert "not found" in capsys.readouterr().out


MEASURED = ["measured_digits16", "measured_kws", "measured_shapes", "measured_har"]


def test_readme_tables_are_the_shipped_profiles_output() -> None:
    # compression/README.md must show the numbers the code produces from the shipped profiles;
    # after rebuilding them, paste `python -m compression report ... --markdown` again.
    readme = (Path(report.__file__).parent / "README.md").read_text()
    profiles = [load_profile(n) for n in MEASURED]
    assert report.markdown_retention(profiles) in readme
    assert report.markdown_correlations(profiles) in readme


def test_pareto_front() -> None:
    size = np.array([5.0, 1.0, 3.0, 3.0, 4.0, 2.0])
    acc = np.array([0.9, 0.2, 0.7, 0.6, 0.5, 0.2])
    # 1.0 (0.2) -> 3.0 (0.7) -> 5.0 (0.9); 2.0 ties 1.0's accuracy at a larger size, 4.0 is beaten
    assert report.pareto_front(size, acc).tolist() == [1, 2, 0]


def test_frontier_png_of_a_reference_profile(tmp_path: Path) -> None:
    from compression import reference as ref
    from compression.profile import Profile

    prof = Profile.from_dict(ref.reference_profile("mobilenet_v2", 1e10))
    kinds = report._source_kinds(prof)
    assert (kinds == "published").sum() >= 5 and (kinds == "derived").any()
    path = report.plot_frontier(prof, tmp_path)
    assert path == tmp_path / "reference_mobilenet_v2_frontier.png"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
