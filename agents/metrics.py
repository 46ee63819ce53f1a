"""Per-episode metrics from the env's ``info`` dicts, and their TensorBoard logging.

The same accumulator feeds the training callback and the evaluator, so a learned policy's curves
and a baseline's curves mean exactly the same thing.

Definitions (per episode):

- ``return``: sum of rewards.
- ``accuracy``: mean over all requests of the accuracy they were served with (0 for a failed
  request): ``sum(info["accuracy"] * requests) / sum(requests)``, where ``info["accuracy"]`` is the
  step's mean over its requests and ``requests = info["requests"]`` (or served + failed); i.e.
  the expected fraction of requests answered correctly.
- ``violation_rate``: failed requests / all requests (no model or a wrong-task model when the
  request came, or inference over the latency budget).
- ``latency_violation_rate``: requests whose inference exceeded the latency budget
  (``info["cost"]["latency_violation"]``) / all requests.
- ``deadline_miss_rate``: downloads that missed the download deadline
  (``info["cost"]["deadline_miss"]``) / downloads (0 without downloads).
- ``energy_j``, ``bytes_downloaded``: sums of ``info["energy_j"]`` and ``info["bytes_downloaded"]``.
- ``latency_s``: mean of ``info["latency_s"]`` over the steps with a download (0 if none).
- ``tier_share/<tier>``: fraction of steps whose ``info["source_tier"]`` is keep/edge/local/central.
- ``reward_terms/<name>``: sum of each ``info["reward_terms"][name]``.
- depth/prune/bits level indices of every download, for histograms.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import numpy as np

TIERS = ("keep", "edge", "local", "central")


def tier_name(tier: Any) -> str:
    """Normalise ``info["source_tier"]`` (name or index 0..3) to a tier name."""
    if isinstance(tier, str):
        return tier
    return TIERS[int(tier)]


@dataclass
class EpisodeStats:
    """Summary of one finished episode (see the module docstring for definitions)."""

    ret: float
    length: int
    accuracy: float
    violation_rate: float
    latency_violation_rate: float
    deadline_miss_rate: float
    energy_j: float
    bytes_downloaded: float
    latency_s: float
    downloads: int
    invalid_actions: int
    tier_share: dict[str, float]
    reward_terms: dict[str, float]
    depths: list[int] = field(default_factory=list)
    prunes: list[int] = field(default_factory=list)
    bits: list[int] = field(default_factory=list)

    def scalars(self) -> dict[str, float]:
        """Flat ``tag -> value`` dict of every scalar metric (TensorBoard/CSV names)."""
        out = {
            "return": self.ret,
            "length": float(self.length),
            "accuracy": self.accuracy,
            "violation_rate": self.violation_rate,
            "latency_violation_rate": self.latency_violation_rate,
            "deadline_miss_rate": self.deadline_miss_rate,
            "energy_j": self.energy_j,
            "bytes_downloaded": self.bytes_downloaded,
            "latency_s": self.latency_s,
            "downloads": float(self.downloads),
            "invalid_actions": float(self.invalid_actions),
        }
        out.update({f"tier_share/{k}": v for k, v in self.tier_share.items()})
        out.update({f"reward_terms/{k}": v for k, v in self.reward_terms.items()})
        return out


class EpisodeAccumulator:
    """Accumulates one episode's rewards and infos; :meth:`result` summarises it."""

    def __init__(self) -> None:
        self.ret = 0.0
        self.length = 0
        self.served = 0.0
        self.failed = 0.0
        self.acc_weighted = 0.0
        self.latency_violations = 0.0
        self.deadline_misses = 0.0
        self.energy_j = 0.0
        self.bytes = 0.0
        self.latency_sum = 0.0
        self.downloads = 0
        self.invalid = 0
        self.tiers: dict[str, int] = dict.fromkeys(TIERS, 0)
        self.terms: dict[str, float] = defaultdict(float)
        self.depths: list[int] = []
        self.prunes: list[int] = []
        self.bits: list[int] = []

    def add(self, reward: float, info: dict[str, Any]) -> None:
        """Record one step's reward and info."""
        self.ret += float(reward)
        self.length += 1
        served = float(info["served_requests"])
        failed = float(info["failed_requests"])
        self.served += served
        self.failed += failed
        requests = float(info.get("requests", served + failed))
        self.acc_weighted += float(info["accuracy"]) * requests
        cost = info.get("cost") or {}
        self.latency_violations += float(cost.get("latency_violation", 0.0))
        self.deadline_misses += float(cost.get("deadline_miss", 0.0))
        self.energy_j += float(info["energy_j"])
        self.bytes += float(info["bytes_downloaded"])
        for name, value in info.get("reward_terms", {}).items():
            self.terms[name] += float(value)
        tier = tier_name(info["source_tier"])
        self.tiers[tier] = self.tiers.get(tier, 0) + 1
        if tier != "keep" and not info.get("invalid_action", False):
            self.downloads += 1
            self.latency_sum += float(info["latency_s"])
            variant = info.get("variant") or {}
            for key, store in (("depth", self.depths), ("prune", self.prunes), ("bits", self.bits)):
                if key in variant and variant[key] is not None:
                    store.append(int(variant[key]))
        self.invalid = int(info.get("invalid_actions", self.invalid))

    def result(self) -> EpisodeStats:
        """The episode's :class:`EpisodeStats`."""
        requests = self.served + self.failed
        n = max(self.length, 1)
        return EpisodeStats(
            ret=self.ret,
            length=self.length,
            accuracy=self.acc_weighted / requests if requests else 0.0,
            violation_rate=self.failed / requests if requests else 0.0,
            latency_violation_rate=self.latency_violations / requests if requests else 0.0,
            deadline_miss_rate=self.deadline_misses / self.downloads if self.downloads else 0.0,
            energy_j=self.energy_j,
            bytes_downloaded=self.bytes,
            latency_s=self.latency_sum / self.downloads if self.downloads else 0.0,
            downloads=self.downloads,
            invalid_actions=self.invalid,
            tier_share={k: v / n for k, v in self.tiers.items()},
            reward_terms=dict(self.terms),
            depths=list(self.depths),
            prunes=list(self.prunes),
            bits=list(self.bits),
        )


def log_episode(writer: Any, stats: EpisodeStats, step: int) -> None:
    """Write one episode's metrics to a ``torch.utils.tensorboard.SummaryWriter``.

    Tags: ``episode/<metric>`` for scalars, ``episode/tier_share/<tier>``,
    ``episode/reward_terms/<term>``, and histograms ``actions/{depth,prune,bits}_level``.
    """
    for tag, value in stats.scalars().items():
        writer.add_scalar(f"episode/{tag}", value, step)
    for tag, values in (("depth", stats.depths), ("prune", stats.prunes), ("bits", stats.bits)):
        if values:
            writer.add_histogram(f"actions/{tag}_level", np.asarray(values), step)


def hparams_markdown(params: dict[str, Any]) -> str:
    """Hyperparameters as a markdown table (CleanRL habit), for ``writer.add_text``."""
    rows = "\n".join(f"|{k}|{v}|" for k, v in params.items())
    return "|param|value|\n|-|-|\n" + rows
