"""Command line of the reference profiles: ``python -m compression.reference``."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from compression.reference.accuracy import sources_markdown
from compression.reference.architectures import ARCHS
from compression.reference.profiles import build_reference_profiles, counts_markdown


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m compression.reference [--out DIR] [--arch A ...] [--overwrite] [--counts]
    [--sources]``: build the reference-scale profiles (or print the counts or sources table)."""
    ap = argparse.ArgumentParser(prog="python -m compression.reference", description=main.__doc__)
    ap.add_argument("--out", default=None, help="output directory (default compression/profiles)")
    ap.add_argument("--arch", nargs="+", default=None, choices=list(ARCHS))
    ap.add_argument("--overwrite", action="store_true", help="replace existing profiles")
    ap.add_argument("--counts", action="store_true",
                    help="only print the Markdown table of counts vs the model cards")
    ap.add_argument("--sources", action="store_true",
                    help="only print the Markdown table of every level's accuracy source")
    args = ap.parse_args(argv)
    if args.counts:
        print(counts_markdown())
        return 0
    if args.sources:
        print(sources_markdown())
        return 0
    try:
        build_reference_profiles(args.out, args.arch, args.overwrite)
    except (ValueError, KeyError, FileNotFoundError) as exc:
        print(f"error: {exc}")
        return 2
    return 0
