"""Command line of the model library.

``python -m compression build [--tasks T ...] [--out DIR] [--seed N] [--force]``
    train, compress and measure the measured tasks and write ``measured_<task>.json`` into DIR
    (default: the shipped ``compression/profiles``). Resumable: a task whose profile exists is
    skipped unless ``--force``; a file this builder did not write is never overwritten.

``python -m compression build --reference [--out DIR] [--force]``
    write ``reference_<arch>.json`` for the reference-scale architectures, their accuracies
    from published ImageNet results (see :mod:`compression.reference`).

``python -m compression report PROFILE [PROFILE ...] [options]``
    tables, proxy correlations and an accuracy-vs-size PNG (see :mod:`compression.report`).
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence


def _build(argv: Sequence[str]) -> int:
    from compression.datasets import TASKS
    from compression.profile import PROFILE_DIR

    ap = argparse.ArgumentParser(
        prog="python -m compression build",
        description="Train, compress at depth/parameter/bit level and measure the measured tasks.",
    )
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS), metavar="TASK",
                    help=f"tasks to build (default: all of {', '.join(TASKS)})")
    ap.add_argument("--out", default=str(PROFILE_DIR), help="output directory (default: %(default)s)")
    ap.add_argument("--seed", type=int, default=None, help="seed (default: the build settings' seed)")
    ap.add_argument("--force", action="store_true", help="rebuild tasks whose profile already exists")
    ap.add_argument("--reference", action="store_true",
                    help="build the reference-scale profiles (ResNet, MobileNet, EfficientNet, ViT; "
                         "accuracies from published results) into --out, instead of the measured tasks")
    args = ap.parse_args(argv)
    from compression.numerics import pin_environment

    late = pin_environment()  # before torch is imported: reproducible CPU numerics
    if late:
        print(f"warning: torch was imported before the CPU numerics were pinned ({', '.join(late)}); "
              "the build may not reproduce the shipped profiles", file=sys.stderr)
    if args.reference:
        from compression.reference import build_reference_profiles

        build_reference_profiles(args.out, overwrite=args.force)
        return 0

    import torch
    from rich.console import Console
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    from compression.build import build_task

    torch.set_num_threads(1)
    console = Console(stderr=True)
    t0 = time.perf_counter()
    with Progress(
        TextColumn("[bold]{task.fields[name]:<9}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TimeElapsedColumn(),
        TextColumn("{task.description}"),
        console=console,
    ) as progress:
        ids = {t: progress.add_task("waiting", total=1.0, name=t) for t in args.tasks}
        for t in args.tasks:
            start = time.perf_counter()

            def cb(msg: str, frac: float, _t: str = t) -> None:
                progress.update(ids[_t], completed=frac, description=msg)

            try:
                path = build_task(t, args.out, seed=args.seed, force=args.force, progress=cb)
            except FileExistsError as exc:
                console.print(f"[red]error:[/red] {exc}")
                return 2
            progress.update(ids[t], completed=1.0,
                            description=f"{path} ({time.perf_counter() - start:.0f} s)")
    console.print(f"built {len(args.tasks)} task(s) in {time.perf_counter() - t0:.1f} s")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """Dispatch ``build`` / ``report``; returns the exit status."""
    argv = list(sys.argv[1:] if argv is None else argv)
    usage = "usage: python -m compression {build,report} [options]  (-h after a command for help)"
    if not argv or argv[0] in ("-h", "--help"):
        print(usage)
        return 0 if argv else 2
    cmd, rest = argv[0], argv[1:]
    if cmd == "build":
        return _build(rest)
    if cmd == "report":
        from compression.report import main as report_main

        return int(report_main(rest) or 0)
    print(f"unknown command {cmd!r}; {usage}", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
