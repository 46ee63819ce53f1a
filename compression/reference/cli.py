"""Command line of the reference profiles: ``python -m compression.reference``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from compression.reference.architectures import ARCHS
from compression.reference.profiles import build_reference_profiles, counts_markdown


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m compression.reference [--out DIR] [--measured FILE ...] [--arch A ...]
    [--overwrite] [--counts]``: build the reference-scale profiles (or print the counts table)."""
    ap = argparse.ArgumentParser(prog="python -m compression.reference", description=main.__doc__)
    ap.add_argument("--out", default=None, help="output directory (default compression/profiles)")
    ap.add_argument("--measured", nargs="+", default=None,
                    help="measured profile files for retention (default the shipped measured_*)")
    ap.add_argument("--arch", nargs="+", default=None, choices=list(ARCHS))
    ap.add_argument("--overwrite", action="store_true", help="replace existing profiles")
    ap.add_argument("--counts", action="store_true",
                    help="only print the Markdown table of counts vs the model cards")
    args = ap.parse_args(argv)
    if args.counts:
        print(counts_markdown())
        return 0
    try:
        build_reference_profiles(args.out, args.measured, args.arch, args.overwrite)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"error: {exc}")
        return 2
    return 0
