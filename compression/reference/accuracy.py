"""Accuracy of the reference variants: published for the full model, derived for the rest.

The full fp32 model's top-1 (and int8 where torchvision publishes one) comes from
:data:`compression.reference.architectures.ARCHS`; every other variant's accuracy is
``top1_fp32 x retention``, the accuracy ratio of the same relative level measured on our own
models (:class:`RetentionTable` over ``compression/profiles/measured_*.json``).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from compression.profile import PROFILE_DIR, load_profile
from compression.reference.architectures import ReferenceArch


class RetentionTable:
    """Accuracy retention measured on our own models, averaged over tasks.

    For a measured profile with full-model accuracy ``a_full`` (deepest exit, no pruning, 32
    bits), the retention of a variant is ``accuracy / a_full``. A reference variant at relative
    depth ``k / K`` uses, in each measured profile, the depth level nearest to ``k / K`` of that
    profile's deepest level (ties go to the deeper level), and averages over the profiles that
    hold the cell.

    Args:
        profiles: measured :class:`compression.profile.Profile` objects (at least one).
    """

    def __init__(self, profiles: Sequence[Any]) -> None:
        if not profiles:
            raise ValueError(
                "reference profiles need at least one measured profile for the retention curves "
                "(compression/profiles/measured_*.json); build them first: python -m compression build"
            )
        self.profiles = list(profiles)
        self.names = [p.name for p in self.profiles]
        self._tables = []
        for p in self.profiles:
            full = self._cell(p, len(p.depths) - 1, ("none", 0.0), 32)
            if full is None or full <= 0:
                raise ValueError(
                    f"measured profile {p.name} ({p.path}): needs a full-model variant (depth "
                    f"{p.depths[-1]}, prune none, 32 bits) with accuracy > 0 for retention"
                )
            self._tables.append((p, full))

    @staticmethod
    def _cell(p: Any, di: int, prune: tuple[str, float], bits: int) -> float | None:
        if prune not in p.prunes or bits not in p.bits:
            return None
        idx = (di, p.prunes.index(prune), p.bits.index(bits))
        return float(p.accuracy[idx]) if p.valid[idx] else None

    @staticmethod
    def _depth_index(p: Any, rel_depth: float) -> int:
        rel = [d / p.depths[-1] for d in p.depths]
        dist = [abs(r - rel_depth) for r in rel]
        best = min(dist)
        return max(i for i, d in enumerate(dist) if abs(d - best) < 1e-9)

    def retention(self, rel_depth: float, prune: tuple[str, float], bits: int) -> tuple[float, int]:
        """(mean retention, number of measured profiles averaged) for one grid cell.

        Raises:
            ValueError: when no measured profile holds the cell.
        """
        vals = []
        for p, full in self._tables:
            a = self._cell(p, self._depth_index(p, rel_depth), prune, bits)
            if a is not None:
                vals.append(a / full)
        if not vals:
            raise ValueError(
                f"no measured profile ({', '.join(self.names)}) holds relative depth "
                f"{rel_depth:.3f}, prune {prune}, {bits} bits"
            )
        return float(sum(vals) / len(vals)), len(vals)


def load_measured_profiles(paths: Sequence[str | Path] | None = None) -> list[Any]:
    """Load measured profiles (default: every shipped ``compression/profiles/measured_*.json``)."""
    if paths is None:
        paths = sorted(PROFILE_DIR.glob("measured_*.json"))
    return [load_profile(p) for p in paths]


def variant_accuracy(
    spec: ReferenceArch, retention: RetentionTable, depth: int, prune: tuple[str, float], bits: int
) -> tuple[float, str, float, int]:
    """(accuracy, source, retention, profiles averaged) of one variant of ``spec``.

    The source is ``"published"`` for the full unpruned model at a bit width the model card
    gives (32, and 8 where an int8 model exists), otherwise ``"derived"``:
    ``min(1, top1_fp32 x retention)``.
    """
    kind, frac = prune
    k_full = spec.depths[-1]
    ret, n_ret = retention.retention(depth / k_full, (kind, round(frac, 4)), bits)
    published = None
    if depth == k_full and kind == "none":
        published = {32: spec.top1_fp32, 8: spec.top1_int8}.get(bits)
    if published is not None:
        return published, "published", ret, n_ret
    return min(1.0, spec.top1_fp32 * ret), "derived", ret, n_ret


#: Accuracy of a 1000-class guess: the floor of every derived ImageNet accuracy.
CHANCE = 0.001


def per_plane_accuracy(weight_only: dict[int, float], bits: int, accuracy: float,
                       chance: float = CHANCE) -> list[float]:
    """Derived accuracy after the first ``p`` bit-planes, ``p = 1..bits``, of a ``bits``-bit variant.

    After ``p`` planes the weights are ``p``-bit codes (the missing low bits filled with the middle
    of their bucket), so the accuracy is that of the ``p``-bit weight-only variant at the same
    depth and parameter level (``weight_only[p]``); odd ``p`` with no such level take the mean of
    the two neighbouring levels, one plane is chance. The last entry is ``accuracy`` itself.

    Args:
        weight_only: accuracy of the weight-only variants by bit width (at least the even bit
            widths up to ``bits``).
        bits: bit width of the variant's codes.
        accuracy: the variant's own accuracy (entry ``bits - 1``).
        chance: the accuracy of one plane.
    """
    table = {1: chance, **weight_only}

    def at(p: int) -> float:
        if p in table:
            return table[p]
        return 0.5 * (at(p - 1) + at(p + 1))

    out = [round(at(p), 6) for p in range(1, bits)]
    return out + [accuracy]
