"""Benchmark: full rebuild of the measured profiles (train, compress, measure) on one CPU thread.

Usage::

    OMP_NUM_THREADS=1 python benchmarks/bench_compression_build.py [--tasks digits16 kws ...]

Builds every task into a temporary directory (the shipped profiles are not touched) and prints
per-task wall time with its phases (data, training, fine-tuning, quantize+evaluate, proxies,
latency) as a Markdown table, plus the total. Target: the whole rebuild <= 600 s.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from compression.numerics import pin_environment  # noqa: E402

pin_environment()  # the same CPU kernels as the shipped build, before torch is imported

import torch  # noqa: E402

from compression.build import build_task  # noqa: E402
from compression.datasets import TASKS  # noqa: E402


def main() -> int:
    """Run the benchmark and print the table."""
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tasks", nargs="+", default=list(TASKS), choices=list(TASKS))
    args = ap.parse_args()
    torch.set_num_threads(1)
    rows = []
    t_all = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for task in args.tasks:
            t0 = time.perf_counter()
            path = build_task(task, tmp, force=True)
            wall = time.perf_counter() - t0
            prof = json.loads(Path(path).read_text())
            tim = prof["build"]["timings_s"]
            full = [v for v in prof["variants"] if v["depth"] == max(prof["levels"]["depth"])
                    and v["prune"]["kind"] == "none" and v["bits"] == 32][0]
            rows.append((task, wall, tim, full["accuracy"], len(prof["variants"])))
            print(f"{task}: {wall:.1f} s", flush=True)
    total = time.perf_counter() - t_all
    print()
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, "
          f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs")
    print("| task | variants | full-model accuracy | data s | train s | fine-tune s | "
          "quantize+eval s | proxies s | latency s | total s |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for task, wall, tim, acc, n in rows:
        print(f"| {task} | {n} | {100 * acc:.1f} % | {tim['data_s']:.1f} | {tim['train_s']:.1f} | "
              f"{tim['finetune_s']:.1f} | {tim['quantize_eval_s']:.1f} | {tim['proxies_s']:.1f} | "
              f"{tim['latency_s']:.1f} | {wall:.1f} |")
    print(f"| **all** | {sum(r[4] for r in rows)} | | | | | | | | **{total:.1f}** |")
    print(f"target: <= 600 s -> {'met' if total <= 600 else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
