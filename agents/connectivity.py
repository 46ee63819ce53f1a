"""Experiment ``connectivity``: the downlink rate needed to download a model within a latency
budget, against 5G and 6G rates (the seed paper's experiment; the system model: docs/model.md).

For every variant (depth, parameter and bit level) of every library profile, the rate needed to
download it within budget ``T`` is ``rate_bps = 8 * size_bytes / T`` (air time only: no round
trip, no compression time; so the figures are lower bounds on what a real link must deliver).

Reference rates (downlink):

- 5G, IMT-2020 minimum requirements (ITU-R M.2410-0, 2017): user-experienced 100 Mbit/s,
  peak 20 Gbit/s.
- 6G, IMT-2030 framework (ITU-R M.2160-0, 2023), *example* targets, not requirements:
  user-experienced 300-500 Mbit/s, peak 50-200 Gbit/s.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from compression.profile import Profile, available_profiles, load_profile

#: Latency budgets of the table columns (s).
BUDGETS_S = (1e-3, 1e-2, 1e-1, 1.0)
#: Reference downlink rates (bit/s): name -> (low, high); a single figure has low == high.
REFERENCE_RATES_BPS = {
    "5G user-experienced (IMT-2020)": (100e6, 100e6),
    "6G user-experienced (IMT-2030 example)": (300e6, 500e6),
    "5G peak (IMT-2020)": (20e9, 20e9),
    "6G peak (IMT-2030 example)": (50e9, 200e9),
}


def required_rate_bps(size_bytes: float | np.ndarray, budget_s: float | np.ndarray) -> np.ndarray:
    """Downlink rate (bit/s) that moves ``size_bytes`` within ``budget_s`` seconds."""
    budget = np.asarray(budget_s, dtype=float)
    if np.any(budget <= 0):
        raise ValueError(f"latency budget must be > 0 s, got {budget_s!r}")
    return 8.0 * np.asarray(size_bytes, dtype=float) / budget


def rate_class(rate_bps: float) -> str:
    """The least capable reference that delivers ``rate_bps``: 5G UE, 6G UE (upper example
    500 Mbit/s), 5G peak, 6G peak (upper example 200 Gbit/s), or ``beyond 6G peak``."""
    for name, short in (("5G user-experienced (IMT-2020)", "5G UE"),
                        ("6G user-experienced (IMT-2030 example)", "6G UE"),
                        ("5G peak (IMT-2020)", "5G peak"),
                        ("6G peak (IMT-2030 example)", "6G peak")):
        if rate_bps <= REFERENCE_RATES_BPS[name][1]:
            return short
    return "beyond 6G peak"


def variant_rows(profile: Profile) -> list[dict]:
    """One row per variant of ``profile`` with its size, accuracy and required rates."""
    rows = []
    for idx in zip(*np.nonzero(profile.valid)):
        d, p, b = (int(i) for i in idx)
        size = float(profile.size_bytes[idx])
        row = {
            "profile": profile.name, "model": profile.model, "task": profile.task,
            "source": profile.source, "depth": profile.depths[d],
            "prune": f"{profile.prunes[p][0]} {profile.prunes[p][1]:g}", "bits": profile.bits[b],
            "size_bytes": int(size), "accuracy": float(profile.accuracy[idx]),
            "is_full": d == len(profile.depths) - 1 and profile.prunes[p][1] == 0
            and profile.bits[b] == max(profile.bits),
        }
        for t in BUDGETS_S:
            row[f"rate_bps@{t:g}s"] = float(required_rate_bps(size, t))
        rows.append(row)
    return rows


def best_accuracy_within(rows: list[dict], rate_bps: float, budget_s: float) -> float | None:
    """Highest accuracy among ``rows`` downloadable at ``rate_bps`` within ``budget_s``."""
    ok = [r["accuracy"] for r in rows if required_rate_bps(r["size_bytes"], budget_s) <= rate_bps]
    return max(ok) if ok else None


def _mbps(rate: float) -> str:
    mbps = rate / 1e6
    return f"{mbps:,.0f}" if mbps >= 100 else f"{mbps:.3g}"


def summary_markdown(by_profile: dict[str, list[dict]]) -> str:
    """Two tables: required rates of the full and the smallest variant per profile; and the best
    accuracy downloadable at 5G / 6G user-experienced rates per budget."""
    lines = ["## Required downlink rate (Mbit/s) = 8 x size / budget", "",
             "| profile | variant | size (kB) | accuracy | " + " | ".join(f"{t * 1e3:g} ms" for t in BUDGETS_S)
             + " | class at 10 ms |", "|" + "---|" * (5 + len(BUDGETS_S))]
    for name, rows in by_profile.items():
        full = [r for r in rows if r["is_full"]] or [max(rows, key=lambda r: r["size_bytes"])]
        small = min(rows, key=lambda r: r["size_bytes"])
        for label, r in (("full", full[0]), ("smallest", small)):
            desc = f"{label} (d{r['depth']}, {r['prune']}, {r['bits']} bit)"
            rates = [r[f"rate_bps@{t:g}s"] for t in BUDGETS_S]
            lines.append(f"| {name} | {desc} | {r['size_bytes'] / 1e3:,.1f} | {r['accuracy']:.3f} | "
                         + " | ".join(_mbps(x) for x in rates) + f" | {rate_class(r['rate_bps@0.01s'])} |")
    lines += ["", "## Best accuracy downloadable within the budget at user-experienced rates", "",
              "| profile | full accuracy | " + " | ".join(
                  f"{lbl} @ {t * 1e3:g} ms" for t in BUDGETS_S for lbl in ("5G 100M", "6G 500M"))
              + " |", "|" + "---|" * (2 + 2 * len(BUDGETS_S))]
    for name, rows in by_profile.items():
        full_acc = max(r["accuracy"] for r in rows if r["is_full"]) if any(r["is_full"] for r in rows) else float("nan")
        cells = []
        for t in BUDGETS_S:
            for rate in (100e6, 500e6):
                a = best_accuracy_within(rows, rate, t)
                cells.append("none fits" if a is None else f"{a:.3f}")
        lines.append(f"| {name} | {full_acc:.3f} | " + " | ".join(cells) + " |")
    refs = "; ".join(f"{k}: {lo / 1e6:,.0f}" + (f"-{hi / 1e6:,.0f}" if hi != lo else "") + " Mbit/s"
                     for k, (lo, hi) in REFERENCE_RATES_BPS.items())
    lines += ["", f"References: {refs}.", ""]
    return "\n".join(lines)


def plot(by_profile: dict[str, list[dict]], path: Path) -> None:
    """Log-log plot: required rate vs latency budget for each profile's full and smallest
    variant, with the 5G and IMT-2030 reference rates."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    budgets = np.logspace(-3, 0, 50)
    fig, ax = plt.subplots(figsize=(8, 5.5))
    colors = plt.cm.tab10(np.arange(len(by_profile)) % 10)
    for color, (name, rows) in zip(colors, by_profile.items()):
        full = [r for r in rows if r["is_full"]] or [max(rows, key=lambda r: r["size_bytes"])]
        small = min(rows, key=lambda r: r["size_bytes"])
        ax.loglog(budgets, required_rate_bps(full[0]["size_bytes"], budgets), color=color, label=f"{name} full")
        ax.loglog(budgets, required_rate_bps(small["size_bytes"], budgets), color=color, ls="--")
    styles = {"5G user-experienced (IMT-2020)": "tab:gray", "6G user-experienced (IMT-2030 example)": "tab:green",
              "5G peak (IMT-2020)": "black", "6G peak (IMT-2030 example)": "tab:olive"}
    for name, (lo, hi) in REFERENCE_RATES_BPS.items():
        if lo == hi:
            ax.axhline(lo, color=styles[name], ls=":", lw=1.5, label=name)
        else:
            ax.axhspan(lo, hi, color=styles[name], alpha=0.25, label=name)
    ax.set_xlabel("latency budget for the download (s)")
    ax.set_ylabel("required downlink rate (bit/s)")
    ax.set_title("Rate needed to download a model in time (solid: full, dashed: smallest variant)")
    ax.legend(fontsize=7, ncol=2)
    ax.grid(True, which="both", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def run_connectivity(out_dir: str | Path, profiles: list[str] | None = None) -> str:
    """Run the experiment into ``out_dir`` (``connectivity.md``, ``connectivity.csv`` with every
    variant, ``connectivity.png``) and return the markdown summary.

    Raises:
        FileExistsError: if ``out_dir`` already holds results (nothing is overwritten).
        ValueError: if no profile is given or shipped.
    """
    out = Path(out_dir)
    if (out / "connectivity.md").exists():
        raise FileExistsError(f"--out {str(out)!r} already holds connectivity results; choose a new folder")
    names = list(profiles) if profiles else available_profiles()
    if not names:
        raise ValueError("no library profiles: compression/profiles/ holds none and none were given")
    by_profile = {}
    for name in names:
        prof = load_profile(name)
        by_profile[prof.name] = variant_rows(prof)
    out.mkdir(parents=True, exist_ok=True)
    rows = [r for rs in by_profile.values() for r in rs]
    with open(out / "connectivity.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    md = summary_markdown(by_profile)
    (out / "connectivity.md").write_text(md)
    plot(by_profile, out / "connectivity.png")
    return md
