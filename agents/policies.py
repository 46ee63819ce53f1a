"""Policies behind one interface: the baselines, the oracle, and the registry :func:`make_policy`.

Every policy implements :meth:`Policy.act` ``(obs, env) -> action`` (:mod:`agents.policy_base`):
``obs`` is the env's observation, ``env`` the (possibly wrapped) single environment, and the
returned action belongs to ``env.action_space``. Privileged policies read the env's state through
the API of ``env.unwrapped`` (``planning_view()``, ``one_step_rewards()``, ``flat_action_mask()``);
learned policies only see ``obs`` (and the action mask, for MaskablePPO). The evaluator
(:mod:`agents.evaluate`) treats all of them alike. Learned SB3 models live in
:mod:`agents.sb3_policy`; :func:`make_policy` loads them from a run folder on demand.

Baselines choose a *flat* action index ``a = (source * K + task) * M + entry`` (source 0 keep,
1 cancel, 2 evict, 3 edge, 4 local, 5 central; K tasks, M menu entries per task; see
:class:`envs.ModelDownloadEnv`) from the env's planning view and convert it to the env's action
mode, so they run in both ``multidiscrete`` and ``discrete`` envs. They only ever send valid
actions: whenever their rule names an action the mask forbids, they keep (flat index 0).

The rules (``task`` is the current task; "the menu" is its menu entries; sizes, accuracies,
service times, bits and proxy scores are those of the planning view):

- ``random``: a uniformly random valid flat action (joint mask).
- ``fixed`` (alias ``fixed_central_full``): the task's *full model*, the largest menu entry (ties:
  the more accurate). Keep while a download is in flight or the full model is on board with all
  its bit-planes; otherwise download it from the central tier (keep if that is invalid, e.g. it
  does not fit the free storage: this baseline never evicts).
- ``fixed_smallest``: the smallest menu entry (ties: the more accurate), downloaded from the tier
  with the smallest estimated download latency, with the same keep rules as ``fixed``.
- ``greedy`` (compute-unaware: it ignores the inference/service time, so it may download a model
  whose requests all miss their budget): see *download rule* with the candidates = the menu
  entries that fit the store's storage, ranked by accuracy (ties: smaller, then lower entry).
- ``greedy_compute``: as ``greedy``, candidates restricted to the variants whose service time
  meets the task's budget (``latency_ok``): the paper's adaptation to computing capacity.
- ``zero_shot``: hardware-aware zero-shot selection: candidates as ``greedy_compute``, ranked by
  the training-free ``proxy_score`` (ties: MORE bits, then higher accuracy, then lower entry),
  with the *download rule*.
- ``oracle`` (privileged, myopic): the valid flat action with the largest
  ``one_step_rewards()`` (ties: the lowest index).

*Download rule* of the greedy family:

1. A download in flight: keep.
2. Candidates reachable in the store: on board already, or size <= free bytes + the bytes of
   the other tasks' models (the current task's own model stays: a new model is stored beside
   the old one until it has arrived). The target is the best-ranked reachable candidate; none:
   keep.
3. Keep when the target is on board with all its bit-planes; the accuracy-ranked policies
   (``greedy``, ``greedy_compute``) also keep when the task's model on board is at least as
   accurate as the target (and, for ``greedy_compute``, meets the budget).
4. The target fits the free space: download it from the valid tier with the smallest
   ``download_latency_s_est`` (ties: edge, local, central); no valid tier: keep.
5. Otherwise evict the least recently used model of another task (``store_last_used``; ties:
   the lowest task index; never the current task's own model); the download follows on a later
   step.

The yardsticks ``upper_bound``, ``planner`` and ``mpc`` live in :mod:`agents.yardsticks`,
imported when one of them is first made.

How to add a policy: subclass :class:`FlatPolicy` and implement ``choose(env, view)`` returning a
flat index (or subclass :class:`Policy` and implement ``act``), then add it to :data:`BASELINES`;
``train.py compare --policies NAME`` and the main job pick it up.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from agents.common import flat_to_env_action
from agents.policy_base import Policy

#: Action sources in action order (``envs.sim.params.SOURCES``).
SOURCE_NAMES = ("keep", "cancel", "evict", "edge", "local", "central")
SRC_KEEP, SRC_CANCEL, SRC_EVICT, SRC_EDGE, SRC_LOCAL, SRC_CENTRAL = range(6)
#: The download sources, in the tie-break order of the tier choice.
DOWNLOAD_SOURCES = (SRC_EDGE, SRC_LOCAL, SRC_CENTRAL)
#: The keep action (source 0, task 0, entry 0), always valid.
KEEP = 0


# ---------------------------------------------------------------------------------- view helpers
def menu_shape(view: dict[str, np.ndarray]) -> tuple[int, int]:
    """``(K, M)``: tasks and menu entries per task of a planning view (A = 6 K M actions)."""
    k = len(view["budget_s"])
    return k, len(view["valid"]) // (len(SOURCE_NAMES) * k)


def flat_index(source: int, task: int, entry: int, view: dict[str, np.ndarray]):
    """Flat action index of (source, task, entry) in the env of ``view`` (ints or int arrays)."""
    k, m = menu_shape(view)
    return (np.asarray(source) * k + task) * m + entry


def keep_index(view: dict[str, np.ndarray]) -> int:
    """The keep action: first valid flat index with source 0 (else the first source-0 index)."""
    keep = np.flatnonzero(view["source"] == SRC_KEEP)
    valid = keep[view["valid"][keep]]
    return int(valid[0] if valid.size else keep[0])


class TaskMenu:
    """The menu of one task, read from a planning view: per menu entry (arrays [M]) whether it
    exists (some tier serves it; short menus are padded), its variant, size, accuracy, service
    time, ``latency_ok``, bits, bit-planes and proxy score (from the central tier's rows, which
    serve every entry), and ``rows`` [3, M], the flat indices of its downloads from edge, local
    and central."""

    def __init__(self, view: dict[str, np.ndarray], task: int) -> None:
        _, m = menu_shape(view)
        self.view, self.task = view, int(task)
        self.entries = np.arange(m)
        self.rows = np.stack([flat_index(s, self.task, self.entries, view) for s in DOWNLOAD_SOURCES])
        c = self.rows[-1]
        self.exists = (view["tier"][self.rows] > 0).any(axis=0)
        self.variant = view["variant"][c]
        self.size = view["size_bytes"][c]
        self.accuracy = view["accuracy"][c]
        self.service_s = view["service_s"][c]
        self.latency_ok = view["latency_ok"][c].astype(bool)
        self.bits = view["bits"][c]
        self.planes = view["planes"][c]
        self.proxy = view["proxy_score"][c]

    def on_board(self, entry: int) -> bool:
        """The entry's variant is the task's model on board, with all its bit-planes."""
        v, t = self.view, self.task
        return bool(v["store_variant"][t] == self.variant[entry]
                    and v["store_size_bytes"][t] >= self.size[entry] * (1.0 - 1e-9))

    def fastest_download(self, entry: int) -> int | None:
        """The valid download of ``entry`` with the smallest estimated latency (ties: edge,
        local, central), or None."""
        rows = self.rows[:, entry]
        ok = rows[self.view["valid"][rows]]
        if ok.size == 0:
            return None
        return int(ok[np.argmin(self.view["download_latency_s_est"][ok])])


def _first_by(keys: list[np.ndarray], candidates: np.ndarray) -> int | None:
    """The candidate first in lexicographic order of ``keys`` (each ascending; the first key is
    the primary one), or None."""
    if candidates.size == 0:
        return None
    order = np.lexsort([np.round(k[candidates], 12) for k in reversed(keys)])
    return int(candidates[order[0]])


def lru_other_task(view: dict[str, np.ndarray], task: int) -> int | None:
    """The task (other than ``task``) whose model on board was used least recently (never used
    first; ties: the lowest task index), or None when no other task has a model."""
    k, _ = menu_shape(view)
    evict = flat_index(SRC_EVICT, np.arange(k), 0, view)
    held = view["valid"][evict] & (np.arange(k) != task)
    if not held.any():
        return None
    last = np.where(held, view["store_last_used"], np.inf)
    return int(np.argmin(last))


# ---------------------------------------------------------------------------------- policies
class FlatPolicy(Policy):
    """A policy that picks a flat action index from the env's planning view."""

    privileged = True

    def act(self, obs: Any, env: gym.Env) -> Any:
        """Choose with :meth:`choose` and convert to the env's action space."""
        base = env.unwrapped
        return flat_to_env_action(env, self.choose(base, base.planning_view()))

    def choose(self, env: gym.Env, view: dict[str, np.ndarray]) -> int:
        """Return the flat action index to take (``env`` is the unwrapped env)."""
        raise NotImplementedError


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


class _FixedPolicy(FlatPolicy):
    """Always the same menu entry of the current task (:meth:`target`), kept once on board."""

    def target(self, menu: TaskMenu) -> int | None:
        """The menu entry this policy wants on board, or None."""
        raise NotImplementedError

    def download(self, menu: TaskMenu, entry: int) -> int | None:
        """The flat download of ``entry`` (None: not valid now)."""
        raise NotImplementedError

    def choose(self, env: gym.Env, view: dict[str, np.ndarray]) -> int:
        """Download the target unless it is on board or a download is in flight; else keep."""
        if bool(view["download_pending"]):
            return KEEP
        menu = TaskMenu(view, int(view["task"]))
        e = self.target(menu)
        if e is None or menu.on_board(e):
            return KEEP
        a = self.download(menu, e)
        return KEEP if a is None else a


class FixedCentralFullPolicy(_FixedPolicy):
    """The task's full model (largest menu entry, ties: more accurate) from the central tier;
    keeps it once on board; keeps when the download is invalid (never evicts)."""

    name = "fixed"

    def target(self, menu: TaskMenu) -> int | None:
        """The largest existing entry (ties: the more accurate, then the lower entry)."""
        return _first_by([-menu.size, -menu.accuracy, menu.entries], np.flatnonzero(menu.exists))

    def download(self, menu: TaskMenu, entry: int) -> int | None:
        """The central download of ``entry`` if valid."""
        a = int(menu.rows[-1, entry])
        return a if menu.view["valid"][a] else None


class FixedSmallestPolicy(_FixedPolicy):
    """The smallest menu entry (ties: more accurate) from the tier with the smallest estimated
    download latency; keeps it once on board; keeps when no download of it is valid."""

    name = "fixed_smallest"

    def target(self, menu: TaskMenu) -> int | None:
        """The smallest existing entry (ties: the more accurate, then the lower entry)."""
        return _first_by([menu.size, -menu.accuracy, menu.entries], np.flatnonzero(menu.exists))

    def download(self, menu: TaskMenu, entry: int) -> int | None:
        """The fastest valid download of ``entry``."""
        return menu.fastest_download(entry)


class GreedyPolicy(FlatPolicy):
    """Compute-unaware greedy: the most accurate menu variant of the current task that fits the
    store, ignoring the inference/service time (see the module docstring, *download rule*)."""

    name = "greedy"
    #: restrict the candidates to ``latency_ok`` variants
    compute_aware = False
    #: keep when the on-board model is at least as accurate as the target
    keep_if_as_accurate = True

    def candidates(self, menu: TaskMenu) -> np.ndarray:
        """Existing entries that fit the store's storage (and meet the budget if compute-aware)."""
        ok = menu.exists & (menu.size <= float(menu.view["storage_bytes"]))
        if self.compute_aware:
            ok &= menu.latency_ok
        return np.flatnonzero(ok)

    def rank_keys(self, menu: TaskMenu) -> list[np.ndarray]:
        """Sort keys, best first (ascending): accuracy, then size, then entry."""
        return [-menu.accuracy, menu.size, menu.entries]

    def choose(self, env: gym.Env, view: dict[str, np.ndarray]) -> int:
        """The *download rule* of the module docstring."""
        if bool(view["download_pending"]):
            return KEEP
        task = int(view["task"])
        menu = TaskMenu(view, task)
        cand = self.candidates(menu)
        free = float(view["free_bytes"])
        k, _ = menu_shape(view)
        others = np.arange(k) != task
        other_bytes = float(np.sum(np.where(others, view["store_size_bytes"], 0.0)))
        on_board = np.array([menu.on_board(e) for e in cand], dtype=bool)
        reachable = cand[(menu.size[cand] <= free + other_bytes) | on_board]
        e = _first_by(self.rank_keys(menu), reachable)
        if e is None or menu.on_board(e) or self._served_as_well(menu, e):
            return KEEP
        if menu.size[e] <= free:
            a = menu.fastest_download(e)
            return KEEP if a is None else a
        victim = lru_other_task(view, task)
        return KEEP if victim is None else int(flat_index(SRC_EVICT, victim, 0, view))

    def _served_as_well(self, menu: TaskMenu, entry: int) -> bool:
        if not self.keep_if_as_accurate:
            return False
        v, t = menu.view, menu.task
        if self.compute_aware and not float(v["store_service_s"][t]) <= float(v["budget_s"][t]):
            return False
        return bool(v["store_accuracy"][t] >= menu.accuracy[entry] - 1e-12)


class GreedyComputeAwarePolicy(GreedyPolicy):
    """Greedy restricted to the variants whose service time on the device meets the task's
    budget (``planning_view()["latency_ok"]``): the adaptation to computing capacity."""

    name = "greedy_compute"
    compute_aware = True


class ZeroShotPolicy(GreedyPolicy):
    """Hardware-aware zero-shot selection (ZS-NAS survey, Li et al. 2024): among the variants
    that meet the hardware constraints (service time within the budget, fitting the store), the
    best training-free proxy score advertised by the scenario (``planning_view()["proxy_score"]``),
    ties broken towards more bits, then higher accuracy; then the greedy *download rule*. It
    keeps only when its target is on board (it does not judge models by their accuracy)."""

    name = "zero_shot"
    compute_aware = True
    keep_if_as_accurate = False

    def rank_keys(self, menu: TaskMenu) -> list[np.ndarray]:
        """Sort keys, best first (ascending): proxy score, then bits, accuracy, entry."""
        return [-menu.proxy, -menu.bits, -menu.accuracy, menu.entries]


class OraclePolicy(FlatPolicy):
    """Clairvoyant myopic oracle: the valid flat action with the largest ``one_step_rewards()``
    (every action evaluated on the true next step); ties go to the lowest flat index."""

    name = "oracle"

    def choose(self, env: gym.Env, view: dict[str, np.ndarray] | None = None) -> int:
        """Valid flat action with the best true one-step reward."""
        r = np.asarray(env.one_step_rewards(), dtype=float)
        mask = np.asarray(env.flat_action_mask(), dtype=bool)
        if not mask.any():
            return int(np.argmax(r))
        return int(np.argmax(np.where(mask, r, -np.inf)))

    def act(self, obs: Any, env: gym.Env) -> Any:
        """Skip the planning view (not needed)."""
        return flat_to_env_action(env, self.choose(env.unwrapped))


# ---------------------------------------------------------------------------------- registry
class LazyPolicy:
    """A policy class of :mod:`agents.yardsticks`, imported when first made (so this module
    works without it). Calling it makes the policy, like calling the class."""

    def __init__(self, attr: str) -> None:
        self.attr = attr

    def load(self) -> type[Policy]:
        """The policy class."""
        from agents import yardsticks

        return getattr(yardsticks, self.attr)

    def __call__(self, *args: Any, **kwargs: Any) -> Policy:
        return self.load()(*args, **kwargs)

    def __repr__(self) -> str:
        return f"LazyPolicy('agents.yardsticks.{self.attr}')"


#: Baseline name -> policy class (or :class:`LazyPolicy`). The order is the order of tables and
#: plots. ``fixed_central_full`` is the former name of ``fixed``.
BASELINES: dict[str, type[Policy] | LazyPolicy] = {
    "random": RandomPolicy,
    "fixed": FixedCentralFullPolicy,
    "fixed_smallest": FixedSmallestPolicy,
    "greedy": GreedyPolicy,
    "greedy_compute": GreedyComputeAwarePolicy,
    "zero_shot": ZeroShotPolicy,
    "oracle": OraclePolicy,
    "upper_bound": LazyPolicy("UpperBoundPolicy"),
    "planner": LazyPolicy("PlannerPolicy"),
    "mpc": LazyPolicy("MPCPolicy"),
}
#: Other names accepted by :func:`make_policy` -> the baseline they make.
ALIASES = {"fixed_central_full": "fixed"}


def policy_class(name: str) -> type[Policy]:
    """The class of baseline ``name`` (or of an alias), importing it if it is lazy.

    Raises:
        KeyError: not a baseline name.
    """
    factory: type[Policy] | LazyPolicy | Callable = BASELINES[ALIASES.get(name, name)]
    return factory.load() if isinstance(factory, LazyPolicy) else factory


def load_learned_policy(path: str | Path, name: str | None = None) -> Policy:
    """A trained SB3 model from a run folder or ``.zip`` (:func:`agents.sb3_policy.load_learned_policy`)."""
    from agents.sb3_policy import load_learned_policy as load  # lazy: loading imports SB3 and torch

    return load(path, name)


def make_policy(spec: str, seed: int = 0) -> Policy:
    """A baseline by name (or alias), or a learned model by path (run folder or ``.zip``).

    ``seed`` goes to policies whose constructor takes one (``random``).

    Raises:
        ValueError: naming the value and the allowed baseline names.
    """
    if spec in BASELINES or spec in ALIASES:
        cls = policy_class(spec)
        if "seed" in inspect.signature(cls).parameters:
            return cls(seed=seed)
        return cls()
    if Path(spec).exists():
        return load_learned_policy(spec)
    raise ValueError(
        f"policy {spec!r} is neither a baseline ({', '.join(BASELINES)}) nor an existing model path"
    )
