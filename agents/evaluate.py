"""Evaluate and compare policies: episodes, 95 % confidence intervals, tables and plots.

Every policy (baseline, oracle or learned model) runs through :func:`run_episodes` on the same
episode seeds (common random numbers: episode ``k`` of seed ``s`` resets the env with seed
``1000 * s + k``), so differences between policies are not differences in luck.

A policy that computes its episode's result without acting (the upper bound) returns it from
:meth:`~agents.policy_base.Policy.episode_result` right after the reset; the evaluator records
that as the episode and does not step the env. The metrics it does not give are NaN ("not
measured", shown as ``n/a``).

Confidence intervals: a two-sided 95 % Student-t interval of the mean over all episodes of all
seeds (``n = len(seeds) * episodes``), ``mean +- t_{0.975, n-1} * sd / sqrt(n)``, treating
episodes as independent samples. With one episode the interval is undefined (NaN). NaN values
(metrics not measured) are left out of a metric's mean and interval.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from agents.common import make_env
from agents.metrics import EpisodeAccumulator, EpisodeStats, hparams_markdown, log_episode
from agents.policy_base import Policy
from agents.runs import run_name, unique_run_dir

#: Metrics of the comparison table: (key in EpisodeStats.scalars(), column title, scale, format).
TABLE_METRICS = (
    ("return", "return", 1.0, "{:.2f}"),
    ("accuracy", "accuracy", 1.0, "{:.3f}"),
    ("failed_rate", "failed", 1.0, "{:.3f}"),
    ("no_model_rate", "no model", 1.0, "{:.3f}"),
    ("late_rate", "late", 1.0, "{:.3f}"),
    ("energy_j", "energy (J)", 1.0, "{:.3g}"),
    ("energy_left_j", "energy left (J)", 1.0, "{:.3g}"),
    ("downloads", "downloads", 1.0, "{:.3g}"),
    ("downloads_completed", "completed", 1.0, "{:.3g}"),
    ("cancels", "cancels", 1.0, "{:.3g}"),
    ("invalid_actions", "invalid", 1.0, "{:.3g}"),
    ("air_mb", "air (MB)", 1.0, "{:.3g}"),
    ("backhaul_mb", "backhaul (MB)", 1.0, "{:.3g}"),
)
#: How a metric a policy did not measure (NaN) is shown in the tables.
NOT_MEASURED = "n/a"


@dataclass
class EpisodeRecord:
    """One evaluated episode of one policy."""

    policy: str
    seed: int
    episode: int
    stats: EpisodeStats


def episode_seed(seed: int, episode: int) -> int:
    """Reset seed of episode ``episode`` under evaluation seed ``seed``."""
    return 1000 * int(seed) + int(episode)


def run_episodes(
    policy: Policy,
    scenario: str,
    seeds: list[int],
    episodes: int,
    logdir: str | Path | None = None,
    progress: Any = None,
    task: Any = None,
    env_kwargs: dict[str, Any] | None = None,
) -> list[EpisodeRecord]:
    """Run ``episodes`` episodes per seed of ``policy`` on ``scenario``.

    After each reset, a policy whose :meth:`~agents.policy_base.Policy.episode_result` returns a
    dict has that recorded as the episode (:meth:`EpisodeStats.from_result`); the env is not
    stepped.

    Args:
        policy: any :class:`Policy`.
        scenario: scenario name, YAML path or registered env id (see :mod:`agents.common`).
        seeds: evaluation seeds; each gives ``episodes`` episodes.
        episodes: episodes per seed (>= 1).
        logdir: if given, each seed's episodes are logged to TensorBoard in the run folder
            ``{logdir}/{scenario}__{label}__{seed}__{time}`` (label: the policy name, or
            ``{algo}-eval`` for a learned model; x axis: cumulative evaluation env steps).
        progress, task: an optional ``rich.progress.Progress`` and task id advanced per episode.
        env_kwargs: extra keyword arguments for the env.
    """
    if episodes < 1:
        raise ValueError(f"episodes must be >= 1, got {episodes}")
    env = make_env(scenario, action_mode=policy.action_mode or "multidiscrete", **(env_kwargs or {}))
    records: list[EpisodeRecord] = []
    try:
        for seed in seeds:
            writer = _baseline_writer(logdir, scenario, policy, seed) if logdir else None
            steps = 0
            for k in range(episodes):
                s = episode_seed(seed, k)
                policy.reset(seed=s)
                obs, _ = env.reset(seed=s)
                result = policy.episode_result(env)
                if result is not None:
                    stats = EpisodeStats.from_result(result)
                else:
                    acc = EpisodeAccumulator()
                    done = False
                    while not done:
                        action = policy.act(obs, env)
                        obs, reward, terminated, truncated, info = env.step(action)
                        acc.add(reward, info)
                        done = terminated or truncated
                    stats = acc.result()
                steps += int(stats.length) if math.isfinite(stats.length) else 1
                records.append(EpisodeRecord(policy.name, int(seed), k, stats))
                if writer is not None:
                    log_episode(writer, stats, steps)
                if progress is not None:
                    progress.advance(task)
            if writer is not None:
                writer.close()
    finally:
        env.close()
    return records


def _baseline_writer(logdir: str | Path, scenario: str, policy: Policy, seed: int):
    from torch.utils.tensorboard import SummaryWriter

    run_dir = unique_run_dir(logdir, run_name(scenario, policy.run_label, seed))
    writer = SummaryWriter(str(run_dir))
    writer.add_text("hyperparameters", hparams_markdown(
        {"policy": policy.name, "scenario": scenario, "seed": seed, "privileged": policy.privileged}))
    return writer


def mean_ci(values: np.ndarray | list[float], confidence: float = 0.95) -> tuple[float, float, float]:
    """Mean and two-sided Student-t confidence interval ``(mean, low, high)``."""
    from scipy import stats as st

    x = np.asarray(values, dtype=float)
    if x.size == 0:
        return math.nan, math.nan, math.nan
    m = float(x.mean())
    if x.size < 2:
        return m, math.nan, math.nan
    half = float(st.t.ppf(0.5 + confidence / 2, x.size - 1) * x.std(ddof=1) / math.sqrt(x.size))
    return m, m - half, m + half


def summarize(records: list[EpisodeRecord]) -> list[dict[str, Any]]:
    """Per policy (in first-seen order): ``n`` (episodes) and ``{metric}``, ``{metric}_lo``,
    ``{metric}_hi`` for every scalar metric, over the episodes that measured it (all NaN: NaN)."""
    order: list[str] = []
    by_policy: dict[str, list[EpisodeStats]] = {}
    for r in records:
        if r.policy not in by_policy:
            order.append(r.policy)
            by_policy[r.policy] = []
        by_policy[r.policy].append(r.stats)
    rows = []
    for name in order:
        scal = [s.scalars() for s in by_policy[name]]
        keys = sorted({k for d in scal for k in d})
        row: dict[str, Any] = {"policy": name, "n": len(scal)}
        for key in keys:
            vals = np.array([d.get(key, math.nan) for d in scal], dtype=float)
            m, lo, hi = mean_ci(vals[~np.isnan(vals)])
            row[key], row[f"{key}_lo"], row[f"{key}_hi"] = m, lo, hi
        rows.append(row)
    return rows


def _fmt(row: dict[str, Any], key: str, scale: float, fmt: str) -> str:
    if key not in row or math.isnan(row[key]):
        return NOT_MEASURED
    m, lo, hi = row[key] * scale, row[f"{key}_lo"] * scale, row[f"{key}_hi"] * scale
    if math.isnan(lo):
        return fmt.format(m)
    return f"{fmt.format(m)} ± {fmt.format((hi - lo) / 2)}"


def markdown_table(rows: list[dict[str, Any]], scenario: str) -> str:
    """The comparison table in markdown (mean ± half-width of the 95 % CI; ``n/a``: not measured)."""
    head = ["policy", "n"] + [t for _, t, _, _ in TABLE_METRICS]
    lines = [f"Scenario `{scenario}`: mean ± half-width of the 95 % t-interval over n episodes "
             f"({NOT_MEASURED}: not measured by that policy).", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for row in rows:
        cells = [row["policy"], str(row["n"])] + [_fmt(row, k, s, f) for k, _, s, f in TABLE_METRICS]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def write_csv(rows: list[dict[str, Any]], path: Path, scenario: str) -> None:
    """Summary rows as CSV (one row per policy, every metric with its CI bounds)."""
    keys = ["scenario", "policy", "n"]
    for row in rows:
        keys += [k for k in row if k not in keys]
    with open(path, "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=keys)
        w.writeheader()
        for row in rows:
            w.writerow({"scenario": scenario, **row})


def write_episodes_csv(records: list[EpisodeRecord], path: Path) -> None:
    """Every episode's scalar metrics as CSV."""
    scal = [r.stats.scalars() for r in records]
    keys = sorted({k for d in scal for k in d})
    with open(path, "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["policy", "seed", "episode", *keys])
        for r, d in zip(records, scal):
            w.writerow([r.policy, r.seed, r.episode, *[d.get(k, 0.0) for k in keys]])


def plot_comparison(rows: list[dict[str, Any]], records: list[EpisodeRecord], out_dir: Path,
                    scenario: str) -> list[Path]:
    """Bar plot of mean return with 95 % CIs and an accuracy-vs-download-latency scatter."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    names = [r["policy"] for r in rows]
    colors = plt.cm.tab10(np.arange(len(names)) % 10)
    paths = []

    fig, ax = plt.subplots(figsize=(1.2 * len(names) + 3, 4))
    means = np.nan_to_num(np.array([r["return"] for r in rows]))
    err = np.array([[r["return"] - r["return_lo"], r["return_hi"] - r["return"]] for r in rows]).T
    ax.bar(names, means, yerr=np.nan_to_num(err), capsize=4, color=colors)
    ax.set_ylabel("mean episode return (95 % CI)")
    ax.set_title(f"{scenario}: return per policy")
    ax.tick_params(axis="x", rotation=30)
    fig.tight_layout()
    p = out_dir / "returns.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    paths.append(p)

    fig, ax = plt.subplots(figsize=(6, 4.5))
    for name, color, row in zip(names, colors, rows):
        eps = [r.stats for r in records if r.policy == name]
        ax.scatter([s.download_latency_s * 1e3 for s in eps], [s.accuracy for s in eps], color=color,
                   alpha=0.25, s=12)
        if math.isnan(row.get("download_latency_s", math.nan)) or math.isnan(row.get("accuracy", math.nan)):
            continue  # not measured (a policy that does not act)
        # a latency is never negative: the t-interval's lower end is drawn clipped at 0
        lat_lo = max(row["download_latency_s_lo"], 0.0)
        xerr = np.nan_to_num([[row["download_latency_s"] - lat_lo],
                              [row["download_latency_s_hi"] - row["download_latency_s"]]])
        yerr = np.nan_to_num([[row["accuracy"] - row["accuracy_lo"]], [row["accuracy_hi"] - row["accuracy"]]])
        ax.errorbar(row["download_latency_s"] * 1e3, row["accuracy"], xerr=xerr * 1e3, yerr=yerr, fmt="o",
                    color=color, label=name, markersize=8, capsize=3)
    ax.set_xscale("symlog", linthresh=1.0)  # latencies span ms to tens of s; 0 = no download
    ax.set_xlim(left=0.0)
    ax.set_xlabel("mean download latency per download (ms, log scale above 1 ms)")
    ax.set_ylabel("mean accuracy of the requests")
    ax.set_title(f"{scenario}: accuracy vs download latency (dots: episodes)")
    ax.legend(fontsize=8)
    fig.tight_layout()
    p = out_dir / "accuracy_latency.png"
    fig.savefig(p, dpi=120)
    plt.close(fig)
    paths.append(p)
    return paths


def compare(
    policies: list[Policy],
    scenario: str,
    seeds: list[int],
    episodes: int,
    out_dir: str | Path,
    logdir: str | Path | None = None,
    show_progress: bool = True,
    env_kwargs: dict[str, Any] | None = None,
) -> tuple[list[dict[str, Any]], list[EpisodeRecord]]:
    """Evaluate every policy on the same episodes and write the report into ``out_dir``.

    Writes ``results.md``, ``results.csv`` (summary with CI bounds), ``episodes.csv`` (raw),
    ``returns.png`` and ``accuracy_latency.png``. ``out_dir`` must not already hold a report
    (nothing is overwritten silently).

    Returns:
        The summary rows and the episode records.
    """
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    out = Path(out_dir)
    if (out / "results.md").exists():
        raise FileExistsError(f"--out {str(out)!r} already holds a report (results.md); choose a new folder")
    out.mkdir(parents=True, exist_ok=True)
    records: list[EpisodeRecord] = []
    with Progress(TextColumn("[bold]eval {task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), disable=not show_progress) as progress:
        for policy in policies:
            task = progress.add_task(policy.name, total=len(seeds) * episodes)
            records += run_episodes(policy, scenario, seeds, episodes, logdir=logdir,
                                    progress=progress, task=task, env_kwargs=env_kwargs)
    rows = summarize(records)
    (out / "results.md").write_text(markdown_table(rows, scenario))
    write_csv(rows, out / "results.csv", scenario)
    write_episodes_csv(records, out / "episodes.csv")
    plot_comparison(rows, records, out, scenario)
    return rows, records


def print_table(rows: list[dict[str, Any]], scenario: str) -> None:
    """Print the comparison table with rich."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"{scenario}: mean ± 95 % CI half-width")
    table.add_column("policy")
    table.add_column("n", justify="right")
    for _, title, _, _ in TABLE_METRICS:
        table.add_column(title, justify="right")
    for row in rows:
        table.add_row(row["policy"], str(row["n"]), *[_fmt(row, k, s, f) for k, _, s, f in TABLE_METRICS])
    console = Console()
    console.width = max(console.width, 220)  # keep the table readable in logs and pipes
    console.print(table)
