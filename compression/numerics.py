"""Bit-reproducible CPU numerics for the measured build.

Training a network for 15 epochs amplifies the last-bit differences of floating-point reductions
into different weights, and so into accuracies that differ by up to a point between machines.
The build on a single CPU thread is already deterministic run to run; what changes between
machines is which kernels PyTorch picks, and each sums in its own order:

* ATen's vectorised CPU kernels (BatchNorm statistics, softmax, reductions, the optimiser) are
  dispatched by the CPU's capability (default / AVX2 / AVX512): ``ATEN_CPU_CAPABILITY``;
* oneDNN's convolutions are JIT-compiled for the widest ISA the CPU has: ``DNNL_MAX_CPU_ISA``;
* MKL's GEMM (linear layers, and the linear algebra of the proxies) picks a code path per CPU:
  ``MKL_CBWR`` (conditional numerical reproducibility);
* several threads split the reductions differently: ``OMP_NUM_THREADS`` / ``MKL_NUM_THREADS``
  and ``torch.set_num_threads(1)``.

:data:`PINNED_ENV` fixes all of them to a code path every x86-64 CPU with AVX2 and FMA (Intel
since 2013, AMD since 2017) runs identically. The variables are read when torch first runs an
operation (MKL and oneDNN when first used), so :func:`pin_environment` must run before ``import
torch``; ``python -m compression build`` does. :func:`numerics_state` reports what is in effect;
the build records it in every measured profile (``build.numerics``). The same torch version is
needed too (``constraints.txt`` pins it).

This module does not import torch.
"""

from __future__ import annotations

import os
import sys
from typing import Any

#: Environment of a reproducible build (see the module docstring).
PINNED_ENV: dict[str, str] = {
    "OMP_NUM_THREADS": "1",
    "MKL_NUM_THREADS": "1",
    "MKL_CBWR": "COMPATIBLE",
    "ATEN_CPU_CAPABILITY": "avx2",
    "DNNL_MAX_CPU_ISA": "AVX2",
}

#: The ATen CPU capability :data:`PINNED_ENV` selects (as torch reports it).
PINNED_CAPABILITY = "AVX2"


def pin_environment() -> list[str]:
    """Set :data:`PINNED_ENV` in ``os.environ`` (overriding other values).

    Returns:
        The variables that were set while torch was already imported (they may not take effect
        in this process); empty when called before ``import torch``.
    """
    late = []
    for key, value in PINNED_ENV.items():
        if os.environ.get(key) != value and "torch" in sys.modules:
            late.append(key)
        os.environ[key] = value
    return late


def numerics_state() -> dict[str, Any]:
    """What decides the floating-point results of this process: thread count, ATen CPU
    capability, deterministic-algorithms flag, the pinned variables, and ``pinned`` (True when
    all of them have the reproducible values). Imports torch."""
    import torch

    env = {key: os.environ.get(key) for key in PINNED_ENV}
    capability = torch.backends.cpu.get_cpu_capability()
    state = {
        "torch": torch.__version__,
        "threads": torch.get_num_threads(),
        "cpu_capability": capability,
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
        "env": env,
    }
    state["pinned"] = (
        env == PINNED_ENV and capability == PINNED_CAPABILITY and state["threads"] == 1
    )
    return state
