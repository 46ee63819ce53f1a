"""Report on library profiles: variant table, retention curves, proxy correlations, a PNG.

``python -m compression report PROFILE [PROFILE ...] [--out DIR] [--markdown] [--no-table]``

* a rich table of every variant (depth, prune, bits, size, MACs, params, accuracy, latency),
* retention curves: accuracy along each compression axis with the other two at the full setting
  (deepest exit, no pruning, 32 bits), and accuracy at every (prune, bits) pair at full depth,
* the zero-shot proxies' Kendall tau / Spearman rho against accuracy: over all variants, within
  each bit width (mean over the bit groups), and across bit widths of one architecture (mean over
  the (depth, prune) groups) - the last shows whether a proxy can rank bit widths at all,
* a PNG of accuracy against encoded size, one panel per compression axis, points coloured by the
  level on that axis, written to ``--out`` (default: the current directory) as
  ``<profile>_accuracy_vs_size.png``,
* a PNG of the accuracy-size frontier per bit level and per parameter level (log size axis; one
  line per level; published accuracies marked apart from derived ones), ``<profile>_frontier.png``.
  An existing file is never replaced: a numbered suffix is added and the path printed.

``--markdown`` prints the retention and correlation tables as Markdown (what
``compression/README.md`` shows) instead of the rich tables. ``PROFILE`` is a path or the name
of a shipped profile.
"""

from __future__ import annotations

import argparse
import math
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from compression.profile import Profile, ProfileError, load_profile

# ----------------------------------------------------------------------------------------------
# data


def prune_label(prune: tuple[str, float]) -> str:
    """Short label of a parameter level: ``none``, ``S25`` (structured 25 %), ``U90``."""
    kind, frac = prune
    if kind == "none":
        return "none"
    return f"{kind[0].upper()}{round(100 * frac):d}"


def full_index(p: Profile) -> tuple[int, int, int]:
    """Grid index of the full model: deepest exit, no pruning (or the first level), most bits."""
    pi = p.prunes.index(("none", 0.0)) if ("none", 0.0) in p.prunes else 0
    return len(p.depths) - 1, pi, int(np.argmax(p.bits))


def retention_curves(p: Profile) -> dict[str, list[tuple[str, float | None, float | None]]]:
    """Accuracy along each axis with the other two at the full setting.

    Returns:
        ``{"depth" | "prune" | "bits": [(level label, accuracy or None, retention or None)]}``;
        retention = accuracy / full-model accuracy.
    """
    d0, p0, b0 = full_index(p)
    full = float(p.accuracy[d0, p0, b0]) if p.valid[d0, p0, b0] else math.nan

    def cell(i: int, j: int, k: int) -> tuple[float | None, float | None]:
        if not p.valid[i, j, k]:
            return None, None
        a = float(p.accuracy[i, j, k])
        return a, (a / full if full > 0 else None)

    return {
        "depth": [(str(d), *cell(i, p0, b0)) for i, d in enumerate(p.depths)],
        "prune": [(prune_label(pr), *cell(d0, j, b0)) for j, pr in enumerate(p.prunes)],
        "bits": [(lab, *cell(d0, p0, k)) for k, lab in enumerate(p.bit_labels)],
    }


def correlation_summary(p: Profile) -> dict[str, dict[str, float | int | None]]:
    """Per proxy: tau/rho over all variants, mean within bit groups, mean across bit widths.

    Keys per proxy: ``kendall_tau``, ``spearman_rho``, ``n`` (all variants);
    ``tau_within_bits``, ``rho_within_bits`` (mean over bit-width groups);
    ``tau_across_bits``, ``rho_across_bits`` (mean over (depth, prune) groups: ranking of the
    bit widths of one architecture); ``tau_across_bits_min4``: the same without the variants
    below 4 bits (is the ranking more than spotting the 2-bit collapse?). ``None`` where
    undefined (a constant proxy or accuracy).
    """
    from compression.proxies import proxy_correlations, proxy_correlations_by_axis

    variants = p.raw["variants"]
    names = sorted({n for v in variants for n in v.get("proxies", {})})
    overall = proxy_correlations(variants, names)
    within = proxy_correlations_by_axis(variants, ("bits", "arithmetic"), names)["mean"]
    across = proxy_correlations_by_axis(variants, ("depth", "prune"), names)["mean"]
    across4 = proxy_correlations_by_axis(
        [v for v in variants if v["bits"] >= 4], ("depth", "prune"), names
    )["mean"]
    out = {}
    for n in names:
        out[n] = {
            **overall[n],
            "tau_within_bits": within[n]["kendall_tau"],
            "rho_within_bits": within[n]["spearman_rho"],
            "tau_across_bits": across[n]["kendall_tau"],
            "rho_across_bits": across[n]["spearman_rho"],
            "tau_across_bits_min4": across4[n]["kendall_tau"],
        }
    return out


def _fmt(x: float | None, nd: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.1f}"


def _si(x: float) -> str:
    for unit, f in (("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(x) >= f:
            return f"{x / f:.2f}{unit}"
    return f"{x:.0f}"


# ----------------------------------------------------------------------------------------------
# markdown


def _md_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(" --- " for _ in header) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def markdown_retention(profiles: Sequence[Profile]) -> str:
    """Markdown tables of test accuracy (%) along each axis, one column per profile."""
    curves = [retention_curves(p) for p in profiles]
    parts = []
    titles = {
        "depth": "Depth level (exit after block k; no pruning, 32 bits)",
        "prune": "Parameter level (deepest exit, 32 bits; S = structured, U = unstructured, %)",
        "bits": "Bit level (deepest exit, no pruning)",
    }
    for axis in ("depth", "prune", "bits"):
        labels = [lab for lab, _, _ in curves[0][axis]]
        rows = []
        for i, lab in enumerate(labels):
            row = [lab]
            rets = []
            for c in curves:
                acc, ret = c[axis][i][1:] if i < len(c[axis]) else (None, None)
                row.append(_pct(acc))
                if ret is not None:
                    rets.append(ret)
            row.append(_fmt(float(np.mean(rets)), 3) if rets else "n/a")
            rows.append(row)
        header = [axis] + [p.name for p in profiles] + ["mean retention"]
        parts.append(f"**{titles[axis]}**, test accuracy in %:\n\n" + _md_table(header, rows))
    return "\n\n".join(parts)


def markdown_correlations(profiles: Sequence[Profile]) -> str:
    """Markdown tables of the proxies' rank correlations with accuracy, one table per profile."""
    parts = []
    for p in profiles:
        summary = correlation_summary(p)
        rows = [
            [n, _fmt(s["kendall_tau"]), _fmt(s["spearman_rho"]), _fmt(s["tau_within_bits"]),
             _fmt(s["rho_within_bits"]), _fmt(s["tau_across_bits"]),
             _fmt(s["tau_across_bits_min4"])]
            for n, s in summary.items()
        ]
        n_var = int(p.valid.sum())
        header = ["proxy", "tau (all)", "rho (all)", "tau within bits", "rho within bits",
                  "tau across bits", "tau across bits >= 4"]
        parts.append(f"**{p.name}** ({n_var} variants):\n\n" + _md_table(header, rows))
    return "\n\n".join(parts)


# ----------------------------------------------------------------------------------------------
# rich output


def _variant_table(p: Profile) -> Any:
    from rich.table import Table

    t = Table(title=f"{p.name}: {p.model} on {p.task} ({p.source}), {int(p.valid.sum())} variants")
    for col in ("depth", "prune", "bits", "size", "MACs", "params", "accuracy %", "latency ms",
                "acc. source"):
        t.add_column(col, justify="right")
    for i, d in enumerate(p.depths):
        for j, pr in enumerate(p.prunes):
            for k, b in enumerate(p.bit_labels):
                if not p.valid[i, j, k]:
                    continue
                src = p.accuracy_source[i, j, k] or ""
                t.add_row(str(d), prune_label(pr), b, _si(p.size_bytes[i, j, k]) + "B",
                          _si(p.macs[i, j, k]), _si(p.params[i, j, k]),
                          f"{100 * p.accuracy[i, j, k]:.2f}", f"{1e3 * p.latency_s[i, j, k]:.3f}",
                          src)
    return t


def _curve_tables(p: Profile) -> list[Any]:
    from rich.table import Table

    tables = []
    for axis, rows in retention_curves(p).items():
        t = Table(title=f"{p.name}: accuracy along the {axis} axis (others at full)")
        t.add_column(axis)
        t.add_column("accuracy %", justify="right")
        t.add_column("retention", justify="right")
        for lab, acc, ret in rows:
            t.add_row(lab, _pct(acc), _fmt(ret))
        tables.append(t)
    # accuracy at every (prune, bits) pair at full depth
    d0 = len(p.depths) - 1
    t = Table(title=f"{p.name}: accuracy % at depth {p.depths[d0]} (rows prune, columns bits)")
    t.add_column("prune")
    for b in p.bit_labels:
        t.add_column(b if b.startswith("W") else f"{b} b", justify="right")
    for j, pr in enumerate(p.prunes):
        t.add_row(prune_label(pr), *[
            _pct(float(p.accuracy[d0, j, k])) if p.valid[d0, j, k] else "n/a"
            for k in range(len(p.bits))
        ])
    tables.append(t)
    return tables


def _correlation_table(p: Profile) -> Any:
    from rich.table import Table

    t = Table(title=f"{p.name}: proxy rank correlation with accuracy")
    for col in ("proxy", "n", "tau (all)", "rho (all)", "tau within bits", "rho within bits",
                "tau across bits", "rho across bits", "tau across bits >= 4"):
        t.add_column(col, justify="right")
    for n, s in correlation_summary(p).items():
        t.add_row(n, str(s["n"]), _fmt(s["kendall_tau"]), _fmt(s["spearman_rho"]),
                  _fmt(s["tau_within_bits"]), _fmt(s["rho_within_bits"]),
                  _fmt(s["tau_across_bits"]), _fmt(s["rho_across_bits"]),
                  _fmt(s["tau_across_bits_min4"]))
    return t


# ----------------------------------------------------------------------------------------------
# plot


def free_path(path: Path) -> Path:
    """``path`` if it does not exist, else ``<stem>_2<suffix>``, ``_3``, ... (never overwrite)."""
    if not path.exists():
        return path
    for i in range(2, 10_000):
        cand = path.with_name(f"{path.stem}_{i}{path.suffix}")
        if not cand.exists():
            return cand
    raise FileExistsError(f"{path}: too many existing numbered copies; choose another --out")


def plot_accuracy_vs_size(p: Profile, out_dir: Path) -> Path:
    """Write the accuracy-vs-size PNG (one panel per axis); returns the path written."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    path = free_path(out_dir / f"{p.name}_accuracy_vs_size.png")
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.5), sharey=True)
    idx = np.argwhere(p.valid)
    labels = {
        0: ("depth", [str(d) for d in p.depths]),
        1: ("prune", [prune_label(pr) for pr in p.prunes]),
        2: ("bits", p.bit_labels),
    }
    for ax_i, ax in enumerate(axes):
        name, labs = labels[ax_i]
        cmap = plt.get_cmap("viridis", len(labs))
        for lev, lab in enumerate(labs):
            sel = idx[idx[:, ax_i] == lev]
            if len(sel) == 0:
                continue
            ii = tuple(sel.T)
            ax.scatter(p.size_bytes[ii], 100 * p.accuracy[ii], s=14, color=cmap(lev), label=lab,
                       alpha=0.8)
        ax.set_xscale("log")
        ax.set_xlabel("encoded size (bytes)")
        ax.set_title(f"by {name} level")
        ax.grid(True, alpha=0.3)
        ax.legend(title=name, fontsize=7, ncol=2)
    axes[0].set_ylabel("accuracy (%)")
    fig.suptitle(f"{p.name}: {p.model} on {p.task} ({p.source})")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def pareto_front(size: np.ndarray, acc: np.ndarray) -> np.ndarray:
    """Indices of the points no other point beats (smaller or equal size with higher accuracy,
    or smaller size with equal accuracy), ordered by size."""
    order = np.lexsort((-acc, size))  # by size, then best accuracy first
    front, best = [], -np.inf
    for i in order:
        if acc[i] > best:
            front.append(i)
            best = acc[i]
    return np.asarray(front, dtype=int)


def _source_kinds(p: Profile) -> np.ndarray:
    """``published`` / ``derived`` / ``measured`` / "" per grid cell."""
    from compression.profile import accuracy_source_kind

    out = np.full(p.shape, "", dtype=object)
    for idx in zip(*np.nonzero(p.valid)):
        out[idx] = accuracy_source_kind(p.accuracy_source[idx]) or ""
    return out


def plot_frontier(p: Profile, out_dir: Path) -> Path:
    """Write the accuracy-size frontier PNG: one panel per bit level and one per parameter level.

    In each panel one line per level (dashed: W8A8, unstructured) joins the variants of that
    level no other variant of the level beats (smaller size and higher accuracy); every variant is
    drawn faintly; variants
    whose accuracy is published are marked with a star, derived ones with a hollow circle on
    the frontier (measured profiles: filled dots). Size on a log axis. Returns the path.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D

    out_dir.mkdir(parents=True, exist_ok=True)
    path = free_path(out_dir / f"{p.name}_frontier.png")
    kinds = _source_kinds(p)
    fig, axes = plt.subplots(1, 2, figsize=(15, 6.2), sharey=True)
    panels = (
        (2, "bit level", p.bit_labels),
        (1, "parameter level", [prune_label(pr) for pr in p.prunes]),
    )
    idx_all = np.argwhere(p.valid)
    for ax, (axis, title, labels) in zip(axes, panels):
        cmap = plt.get_cmap("tab10")
        for lev, lab in enumerate(labels):
            sel = idx_all[idx_all[:, axis] == lev]
            if len(sel) == 0:
                continue
            cells = tuple(sel.T)
            size = p.size_bytes[cells]
            acc = 100 * p.accuracy[cells]
            color = cmap(lev)
            ax.scatter(size, acc, s=8, color=color, alpha=0.18, linewidths=0)
            front = pareto_front(size, acc)
            style = "--" if lab.startswith(("W", "U")) else "-"  # W8A8 / unstructured dashed
            ax.plot(size[front], acc[front], style, color=color, lw=1.6, label=lab, zorder=2)
            fk = kinds[cells][front]
            derived = fk == "derived"
            measured = fk == "measured"
            ax.scatter(size[front][derived], acc[front][derived], s=26, facecolors="white",
                       edgecolors=[color], linewidths=1.2, zorder=3)
            ax.scatter(size[front][measured], acc[front][measured], s=18, color=color, zorder=3)
            pub = kinds[cells] == "published"
            ax.scatter(size[pub], acc[pub], s=110, marker="*", color=color, edgecolors="black",
                       linewidths=0.7, zorder=4)
        ax.set_xscale("log")
        ax.set_xlabel("encoded size (bytes, log scale)")
        ax.set_title(f"frontier per {title}")
        ax.grid(True, which="both", alpha=0.25)
        handles, labs = ax.get_legend_handles_labels()
        if (kinds == "published").any():
            handles.append(Line2D([], [], ls="", marker="*", ms=11, mfc="grey", mec="black",
                                  label="published"))
        if (kinds == "derived").any():
            handles.append(Line2D([], [], ls="", marker="o", ms=6, mfc="white", mec="grey",
                                  label="derived"))
        if (kinds == "measured").any():
            handles.append(Line2D([], [], ls="", marker="o", ms=5, color="grey", label="measured"))
        labs = [h.get_label() for h in handles]
        ax.legend(handles, labs, title=title, fontsize=8, loc="upper center",
                  bbox_to_anchor=(0.5, -0.13), ncol=min(6, len(handles)), frameon=False)
    axes[0].set_ylabel("top-1 accuracy (%)")
    fig.suptitle(f"{p.name}: {p.model} on {p.task} ({p.source}): accuracy vs size")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


# ----------------------------------------------------------------------------------------------
# command line


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of ``python -m compression report``; returns the exit status."""
    ap = argparse.ArgumentParser(
        prog="python -m compression report",
        description="Tables, proxy correlations and an accuracy-vs-size PNG for library profiles.",
    )
    ap.add_argument("profiles", nargs="+", metavar="PROFILE",
                    help="profile file or shipped profile name (e.g. measured_digits16)")
    ap.add_argument("--out", default=".", help="directory for the PNG (default: current dir)")
    ap.add_argument("--markdown", action="store_true",
                    help="print Markdown retention and correlation tables (for the README)")
    ap.add_argument("--no-table", action="store_true", help="skip the per-variant table")
    ap.add_argument("--no-plot", action="store_true", help="do not write the PNG")
    args = ap.parse_args(argv)
    try:
        profiles = [load_profile(name) for name in args.profiles]
    except (FileNotFoundError, ProfileError) as exc:
        print(f"error: {exc}")
        return 2
    if args.markdown:
        print("### Retention curves\n")
        print(markdown_retention(profiles))
        print("\n### Proxy rank correlations with accuracy\n")
        print(markdown_correlations(profiles))
    else:
        from rich.console import Console

        console = Console()
        for p in profiles:
            if not args.no_table:
                console.print(_variant_table(p))
            for t in _curve_tables(p):
                console.print(t)
            console.print(_correlation_table(p))
    if not args.no_plot:
        for p in profiles:
            for plot in (plot_accuracy_vs_size, plot_frontier):
                path = plot(p, Path(args.out))
                print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
