"""Per-episode metrics from the env's ``info`` dicts, and their TensorBoard logging.

The same accumulator feeds the training callbacks (SB3, RLlib) and the evaluator, so a learned
policy's curves and a baseline's curves mean exactly the same thing. The step infos are those of
:class:`envs.adapter.InfoBuilder` (one dict of Python scalars per step and device).

Definitions (per episode; "requests" are the requests of all steps, ``info["requests"]``):

- ``return``: sum of rewards; ``length``: steps.
- ``requests``: number of requests.
- ``accuracy``: mean over all requests of the accuracy they were served with (0 for a failed
  request): ``sum(info["accuracy_sum"]) / requests``; i.e. the expected fraction of requests
  answered correctly.
- ``failed_rate``: failed requests (no model of their task on board, or waiting + inference over
  the task's budget) / requests; ``no_model_rate`` and ``late_rate`` split it
  (``info["no_model_requests"]``, ``info["late_requests"]``).
- ``energy_j``, ``energy_radio_j``: energy spent (radio + inference) and its radio part, J;
  ``energy_left_j``: battery left at the end of the episode.
- ``downloads``: downloads started (``info["source_tier"]`` is not ``none``);
  ``downloads_completed``: downloads that arrived completely (``info["downloaded"]``);
  ``cancels``: downloads cancelled; ``evictions``: models evicted; ``invalid_actions``: actions
  the env rejected (executed as keep).
- ``air_mb``, ``backhaul_mb``: MB received over the air and moved over the backhaul.
- ``download_latency_s``: mean of ``info["download_latency_s"]`` over the downloads started
  (0 without downloads).
- ``tier_share/<tier>``: fraction of steps whose ``info["source_tier"]`` is none/edge/local/central.
- ``reward_terms/<name>``: sum of each ``info["reward_terms"][name]``.
- depth/prune/bits level indices of every download started, for histograms.

A policy that computes its episode without acting (:meth:`agents.policy_base.Policy.episode_result`)
gives only some of these; :meth:`EpisodeStats.from_result` leaves the others NaN ("not
measured"), and summaries skip NaN values.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

#: Values of ``info["source_tier"]``: the serving tier of a download started in the step.
TIERS = ("none", "edge", "local", "central")
#: Bytes per MB (the unit of the byte metrics).
MB = 1e6
NAN = math.nan


def tier_name(tier: Any) -> str:
    """Normalise ``info["source_tier"]`` (name or index 0..3) to a tier name."""
    if isinstance(tier, str):
        return tier
    return TIERS[int(tier)]


@dataclass
class EpisodeStats:
    """Summary of one finished episode (see the module docstring for definitions).

    Every scalar field is a metric of :meth:`scalars` under its own name, except ``ret``
    (``"return"``); NaN means "not measured" (see :meth:`from_result`).
    """

    ret: float
    length: float = NAN
    requests: float = NAN
    accuracy: float = NAN
    failed_rate: float = NAN
    no_model_rate: float = NAN
    late_rate: float = NAN
    energy_j: float = NAN
    energy_radio_j: float = NAN
    energy_left_j: float = NAN
    downloads: float = NAN
    downloads_completed: float = NAN
    cancels: float = NAN
    evictions: float = NAN
    invalid_actions: float = NAN
    air_mb: float = NAN
    backhaul_mb: float = NAN
    download_latency_s: float = NAN
    tier_share: dict[str, float] = field(default_factory=dict)
    reward_terms: dict[str, float] = field(default_factory=dict)
    depths: list[int] = field(default_factory=list)
    prunes: list[int] = field(default_factory=list)
    bits: list[int] = field(default_factory=list)

    @classmethod
    def scalar_fields(cls) -> tuple[str, ...]:
        """Names of the scalar fields in declaration order (``ret``, reported as ``return``, first)."""
        return tuple(f.name for f in fields(cls) if f.type in ("float", float))

    @classmethod
    def from_result(cls, result: dict[str, Any]) -> EpisodeStats:
        """Stats of an episode computed without acting: ``result["return"]`` (or ``"ret"``)
        and any scalar fields (by name), ``tier_share``/``reward_terms`` dicts; the rest NaN.

        Raises:
            ValueError: no ``return``, or a key that is no field of this class.
        """
        data = dict(result)
        if "return" in data:
            data["ret"] = data.pop("return")
        if "ret" not in data:
            raise ValueError(f"episode_result must give 'return', got keys {sorted(result)}")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"episode_result keys {unknown} are not EpisodeStats fields "
                             f"(allowed: return, {', '.join(sorted(known - {'ret'}))})")
        scalars = set(cls.scalar_fields())
        return cls(**{k: (float(v) if k in scalars else v) for k, v in data.items()})

    def scalars(self) -> dict[str, float]:
        """Flat ``tag -> value`` dict of every scalar metric (TensorBoard/CSV names)."""
        out = {("return" if name == "ret" else name): float(getattr(self, name)) for name in self.scalar_fields()}
        out.update({f"tier_share/{k}": v for k, v in self.tier_share.items()})
        out.update({f"reward_terms/{k}": v for k, v in self.reward_terms.items()})
        return out


class EpisodeAccumulator:
    """Accumulates one episode's rewards and step infos; :meth:`result` summarises it."""

    def __init__(self) -> None:
        self.ret = 0.0
        self.length = 0
        self.requests = 0.0
        self.failed = 0.0
        self.no_model = 0.0
        self.late = 0.0
        self.acc_sum = 0.0
        self.energy_j = 0.0
        self.energy_radio_j = 0.0
        self.energy_left_j = NAN
        self.downloads = 0
        self.completed = 0
        self.cancels = 0
        self.evictions = 0
        self.invalid = 0
        self.air = 0.0
        self.backhaul = 0.0
        self.latency_sum = 0.0
        self.tiers: dict[str, int] = dict.fromkeys(TIERS, 0)
        self.terms: dict[str, float] = defaultdict(float)
        self.depths: list[int] = []
        self.prunes: list[int] = []
        self.bits: list[int] = []

    def add(self, reward: float, info: dict[str, Any]) -> None:
        """Record one step's reward and info."""
        self.ret += float(reward)
        self.length += 1
        requests = float(info["requests"])
        self.requests += requests
        self.failed += float(info["failed_requests"])
        self.no_model += float(info.get("no_model_requests", 0.0))
        self.late += float(info.get("late_requests", 0.0))
        if "accuracy_sum" in info:
            self.acc_sum += float(info["accuracy_sum"])
        else:  # the step's mean over its requests
            self.acc_sum += float(info["accuracy"]) * requests
        self.energy_j += float(info["energy_j"])
        self.energy_radio_j += float(info.get("energy_radio_j", 0.0))
        if "energy_left_j" in info:
            self.energy_left_j = float(info["energy_left_j"])
        self.air += float(info.get("air_bytes", 0.0))
        self.backhaul += float(info.get("backhaul_bytes", 0.0))
        self.completed += int(bool(info.get("downloaded", False)))
        self.cancels += int(bool(info.get("cancelled", False)))
        invalid = bool(info.get("invalid_action", False))
        self.invalid += int(invalid)
        if info.get("action_source") == "evict" and not invalid:
            self.evictions += 1
        for name, value in info.get("reward_terms", {}).items():
            self.terms[name] += float(value)
        tier = tier_name(info["source_tier"])
        self.tiers[tier] = self.tiers.get(tier, 0) + 1
        if tier != "none":
            self.downloads += 1
            self.latency_sum += float(info.get("download_latency_s", 0.0))
            variant = info.get("variant") or {}
            for key, store in (("depth", self.depths), ("prune", self.prunes), ("bits", self.bits)):
                if variant.get(key) is not None and int(variant[key]) >= 0:
                    store.append(int(variant[key]))

    def result(self) -> EpisodeStats:
        """The episode's :class:`EpisodeStats`."""
        req = self.requests
        n = max(self.length, 1)

        def rate(x: float) -> float:
            return x / req if req else 0.0

        return EpisodeStats(
            ret=self.ret,
            length=float(self.length),
            requests=req,
            accuracy=rate(self.acc_sum),
            failed_rate=rate(self.failed),
            no_model_rate=rate(self.no_model),
            late_rate=rate(self.late),
            energy_j=self.energy_j,
            energy_radio_j=self.energy_radio_j,
            energy_left_j=self.energy_left_j,
            downloads=float(self.downloads),
            downloads_completed=float(self.completed),
            cancels=float(self.cancels),
            evictions=float(self.evictions),
            invalid_actions=float(self.invalid),
            air_mb=self.air / MB,
            backhaul_mb=self.backhaul / MB,
            download_latency_s=self.latency_sum / self.downloads if self.downloads else 0.0,
            tier_share={k: v / n for k, v in self.tiers.items()},
            reward_terms=dict(self.terms),
            depths=list(self.depths),
            prunes=list(self.prunes),
            bits=list(self.bits),
        )


def log_episode(writer: Any, stats: EpisodeStats, step: int) -> None:
    """Write one episode's metrics to a ``torch.utils.tensorboard.SummaryWriter``.

    Tags: ``episode/<metric>`` for scalars (NaN, "not measured", is left out),
    ``episode/tier_share/<tier>``, ``episode/reward_terms/<term>``, and histograms
    ``actions/{depth,prune,bits}_level`` of the downloads started.
    """
    for tag, value in stats.scalars().items():
        if not math.isnan(value):
            writer.add_scalar(f"episode/{tag}", value, step)
    for tag, values in (("depth", stats.depths), ("prune", stats.prunes), ("bits", stats.bits)):
        if values:
            writer.add_histogram(f"actions/{tag}_level", np.asarray(values), step)


def hparams_markdown(params: dict[str, Any]) -> str:
    """Hyperparameters as a markdown table (CleanRL habit), for ``writer.add_text``."""
    rows = "\n".join(f"|{k}|{v}|" for k, v in params.items())
    return "|param|value|\n|-|-|\n" + rows
