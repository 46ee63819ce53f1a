"""Policies behind one interface: the baselines, the oracle, and the registry :func:`make_policy`.

Every policy implements :meth:`Policy.act` ``(obs, env) -> action`` (:mod:`agents.policy_base`):
``obs`` is the env's observation, ``env`` the (possibly wrapped) single environment, and the
returned action belongs to ``env.action_space``. Privileged policies read the env's state through the contract API of
``env.unwrapped`` (``planning_view()``, ``one_step_rewards()``, ``flat_action_mask()``); learned
policies only see ``obs`` (and the action mask, for MaskablePPO). The evaluator
(:mod:`agents.evaluate`) treats all of them alike. Learned SB3 models live in
:mod:`agents.sb3_policy`; :func:`make_policy` loads them from a run folder on demand.

Baselines choose a *flat* joint action index (order source, depth, prune, bits; source 0 keep,
1 edge, 2 local, 3 central) and convert it to the env's action mode, so they run in both
``multidiscrete`` and ``discrete`` envs.

Shared rules of the download baselines (documented choices, not tuning):

- **Keep when already served as well.** A policy that has picked its target variant keeps the
  on-board model instead when the planning view says keeping gives at least the target's accuracy
  for the current task (in practice: the target is already on board). Without this rule a fixed
  policy would re-download the same model every step.
- **Invalid target -> keep.** When the target action is masked (does not fit storage, tier lacks
  the model) a fixed policy keeps the on-board model.
- "Keep" is the first valid flat action with source 0 (the env treats the compression fields of a
  keep action as irrelevant); if no keep action is valid the first keep index is returned and the
  env applies its documented invalid-action rule.

How to add a policy: subclass :class:`FlatPolicy` and implement ``choose(env, view)`` returning a
flat index (or subclass :class:`Policy` and implement ``act``), then add it to :data:`BASELINES`;
``train.py compare --policies NAME`` and the main job pick it up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.common import flat_to_env_action
from agents.policy_base import Policy

SOURCE_NAMES = ("keep", "edge", "local", "central")


class FlatPolicy(Policy):
    """A policy that picks a flat joint action index from the env's planning view."""

    privileged = True

    def act(self, obs: Any, env: gym.Env) -> Any:
        """Choose with :meth:`choose` and convert to the env's action space."""
        base = env.unwrapped
        view = base.planning_view()
        return flat_to_env_action(env, self.choose(base, view))

    def choose(self, env: gym.Env, view: dict[str, np.ndarray]) -> int:
        """Return the flat action index to take (``env`` is the unwrapped env)."""
        raise NotImplementedError


def keep_index(view: dict[str, np.ndarray]) -> int:
    """The keep action: first valid flat index with source 0 (else the first source-0 index)."""
    keep = np.flatnonzero(view["source"] == 0)
    valid = keep[view["valid"][keep]]
    return int(valid[0] if valid.size else keep[0])


def _keep_or(view: dict[str, np.ndarray], target: int | None) -> int:
    """Return ``target`` unless it is None/invalid or keeping is at least as accurate."""
    k = keep_index(view)
    if target is None or not view["valid"][target]:
        return k
    if view["valid"][k] and view["accuracy"][k] >= view["accuracy"][target] - 1e-12:
        return k
    return int(target)


def _best(candidates: np.ndarray, primary: np.ndarray, tiebreak: np.ndarray) -> int | None:
    """Index among ``candidates`` maximising ``primary``, ties broken by the smallest ``tiebreak``."""
    if candidates.size == 0:
        return None
    order = np.lexsort((tiebreak[candidates], -primary[candidates]))
    return int(candidates[order[0]])


def inference_budget_s(env: gym.Env, view: dict[str, np.ndarray]) -> float:
    """The current task's per-request inference latency budget (s).

    Read from ``view["inference_budget_s"]`` (``envs.ModelDownloadEnv.planning_view``); infinite
    for an env whose planning view does not carry it.
    """
    return float(view.get("inference_budget_s", float("inf")))


def _feasible_downloads(view: dict[str, np.ndarray], budget_s: float = float("inf")) -> np.ndarray:
    """Valid downloads whose estimated latency meets the deadline, whose energy fits what is
    left and whose inference latency is within ``budget_s``."""
    ok = (
        view["valid"]
        & (view["source"] != 0)
        & view["fits_deadline"].astype(bool)
        & (view["energy_j_est"] <= float(view["energy_left_j"]))
        & (view["inference_latency_s"] <= budget_s)
    )
    return np.flatnonzero(ok)


class RandomPolicy(Policy):
    """Uniform over the currently *valid* flat actions (via the joint action mask)."""

    name = "random"

    def __init__(self, seed: int = 0):
        self.rng = np.random.default_rng(seed)

    def reset(self, seed: int | None = None) -> None:
        """Re-seed from the episode seed so runs are reproducible."""
        if seed is not None:
            self.rng = np.random.default_rng(seed + 7919)

    def act(self, obs: Any, env: gym.Env) -> Any:
        """Sample a valid action uniformly (any action if none is valid)."""
        mask = np.asarray(env.unwrapped.flat_action_mask(), dtype=bool)
        choices = np.flatnonzero(mask)
        if choices.size == 0:
            choices = np.arange(mask.size)
        return flat_to_env_action(env, int(self.rng.choice(choices)))


class FixedCentralFullPolicy(FlatPolicy):
    """Always the full model (largest variant) from the central cloud; keeps it once on board.

    Fallback: keep when the full model is masked (does not fit storage / central unavailable).
    """

    name = "fixed_central_full"

    def choose(self, env: gym.Env, view: dict[str, np.ndarray]) -> int:
        """Largest-size central action, or keep."""
        central = np.flatnonzero(view["source"] == 3)
        target = int(central[np.argmax(view["size_bytes"][central])]) if central.size else None
        return _keep_or(view, target)


class FixedSmallestPolicy(FlatPolicy):
    """Always the smallest valid variant (fastest tier on ties); keeps it once on board.

    Fallback: keep when no download is valid.
    """

    name = "fixed_smallest"

    def choose(self, env: gym.Env, view: dict[str, np.ndarray]) -> int:
        """Smallest valid download, or keep."""
        dl = np.flatnonzero(view["valid"] & (view["source"] != 0))
        target = _best(dl, -view["size_bytes"], view["download_latency_s_est"])
        return _keep_or(view, target)


class GreedyPolicy(FlatPolicy):
    """The seed paper's adaptive rule: the most accurate variant whose download at the *observed*
    rate meets the download deadline and fits storage (mask) and the energy left. It does not
    look at the device's compute (see :class:`GreedyComputeAwarePolicy`).

    Ties go to the smaller estimated download latency. When nothing meets the deadline: keep if
    the on-board model serves the current task, otherwise the valid download with the smallest
    estimated latency (it arrives late but serves later requests).
    """

    name = "greedy"
    score_key = "accuracy"
    compute_aware = False

    def choose(self, env: gym.Env, view: dict[str, np.ndarray]) -> int:
        """Best feasible download by ``score_key``, with the fallbacks above."""
        budget = inference_budget_s(env, view) if self.compute_aware else float("inf")
        cand = _feasible_downloads(view, budget)
        target = _best(cand, view[self.score_key], view["download_latency_s_est"])
        if target is None:
            k = keep_index(view)
            if view["valid"][k] and view["accuracy"][k] > 0:
                return k
            dl = np.flatnonzero(view["valid"] & (view["source"] != 0))
            target = _best(dl, -view["download_latency_s_est"], -view["accuracy"])
        return _keep_or(view, target)


class GreedyComputeAwarePolicy(GreedyPolicy):
    """Greedy that also requires the variant's inference latency on the device
    (``planning_view()["inference_latency_s"]``) to meet the task's inference budget: the adaptive
    rule made aware of the device's compute, a stronger heuristic than :class:`GreedyPolicy`."""

    name = "greedy_compute"
    compute_aware = True


class ZeroShotPolicy(GreedyPolicy):
    """Zero-shot hardware-aware selector (ZS-NAS survey, Li et al. 2024): among the variants that
    meet the hardware constraints (download deadline, storage, energy, and inference latency
    within the task's budget), the one with the best training-free proxy score advertised by the
    scenario (``planning_view()["proxy_score"]``) instead of the measured accuracy. The keep rule
    compares accuracies only to recognise that the chosen variant is already on board.
    """

    name = "zero_shot"
    score_key = "proxy_score"
    compute_aware = True


class OraclePolicy(FlatPolicy):
    """Clairvoyant myopic oracle: argmax of ``one_step_rewards()`` (every action evaluated on the
    true next step). Ties go to the lowest flat index (keep first)."""

    name = "oracle"

    def choose(self, env: gym.Env, view: dict[str, np.ndarray]) -> int:
        """Flat action with the best true one-step reward."""
        return int(np.argmax(env.one_step_rewards()))

    def act(self, obs: Any, env: gym.Env) -> Any:
        """Skip the planning view (not needed)."""
        return flat_to_env_action(env, self.choose(env.unwrapped, {}))


#: Baseline name -> class. The order is the order of tables and plots.
BASELINES: dict[str, type[Policy]] = {
    "random": RandomPolicy,
    "fixed_central_full": FixedCentralFullPolicy,
    "fixed_smallest": FixedSmallestPolicy,
    "greedy": GreedyPolicy,
    "greedy_compute": GreedyComputeAwarePolicy,
    "zero_shot": ZeroShotPolicy,
    "oracle": OraclePolicy,
}


def load_learned_policy(path: str | Path, name: str | None = None) -> Policy:
    """A trained SB3 model from a run folder or ``.zip`` (:func:`agents.sb3_policy.load_learned_policy`)."""
    from agents.sb3_policy import load_learned_policy as load  # lazy: loading imports SB3 and torch

    return load(path, name)


def make_policy(spec: str, seed: int = 0) -> Policy:
    """A baseline by name, or a learned model by path (run folder or ``.zip``).

    Raises:
        ValueError: naming the value and the allowed baseline names.
    """
    if spec in BASELINES:
        cls = BASELINES[spec]
        return cls(seed) if cls is RandomPolicy else cls()
    if Path(spec).exists():
        return load_learned_policy(spec)
    raise ValueError(
        f"policy {spec!r} is neither a baseline ({', '.join(BASELINES)}) nor an existing model path"
    )
