"""TEST DOUBLE: a tiny in-situ-downloading env implementing the contracts.md env API.

This is *not* the project's environment (that is ``envs.ModelDownloadEnv``). It exists so the
agents/ infrastructure (policies, evaluator, callbacks, CLI plumbing) can be unit-tested fast and
independently of the real simulation. It implements the same extras the real env promises:
``action_masks()``, ``flat_action_mask()``, ``planning_view()``, ``one_step_rewards()``,
``n_actions``, ``action_to_flat``/``flat_to_action`` and the documented ``info`` keys.

Dynamics (all numbers are arbitrary test values): 2 tasks switching with probability 0.2 per step,
Poisson(5) requests, an i.i.d. log-normal downlink rate, a 2x2x2 variant grid, 4 sources
(keep, edge, local, central) with growing round-trip times, storage that rules out the largest
variant, and an energy budget. The exogenous randomness of the *next* step (rate, task switch,
request count) is drawn in advance, so ``one_step_rewards`` can evaluate every action exactly.

Register with :func:`register` (id ``test/TinyDownload-v0``); ``gymnasium.make`` with
``"tiny_env:test/TinyDownload-v0"`` also works when this folder is on ``sys.path``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

ENV_ID = "test/TinyDownload-v0"
N_SRC, N_D, N_P, N_B = 4, 2, 2, 2
RTT_S = np.array([0.0, 0.002, 0.01, 0.04])
DEADLINE_S = 0.1
STORAGE_BYTES = 1.5e6
ENERGY_BUDGET_J = 3.0
P_RX_W = 1.0
INVALID_PENALTY = 1.0
HORIZON = 40


def _variant_tables() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    d, p, b = np.meshgrid(np.arange(N_D), np.arange(N_P), np.arange(N_B), indexing="ij")
    acc = 0.6 + 0.3 * d - 0.1 * p - 0.15 * b
    size = 1.0e6 * (d + 1) / (1 + p) / (1 + 2 * b)
    proxy = (d + 1) * 1.0 / (1 + b)  # deliberately imperfect zero-shot score
    return acc, size, proxy


class TinyDownloadEnv(gym.Env):
    """TEST DOUBLE of ``envs.ModelDownloadEnv`` (see module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, action_mode: str = "multidiscrete", horizon: int = HORIZON):
        if action_mode not in ("multidiscrete", "discrete"):
            raise ValueError(f"action_mode must be 'multidiscrete' or 'discrete', got {action_mode!r}")
        self.action_mode = action_mode
        self.horizon = horizon
        self.nvec = np.array([N_SRC, N_D, N_P, N_B])
        self.n_actions = int(np.prod(self.nvec))
        self.action_space = (
            spaces.MultiDiscrete(self.nvec) if action_mode == "multidiscrete" else spaces.Discrete(self.n_actions)
        )
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(6,), dtype=np.float32)
        self._acc, self._size, self._proxy = _variant_tables()
        grid = np.array(np.unravel_index(np.arange(self.n_actions), tuple(self.nvec)))
        self._src, self._d, self._p, self._b = grid
        self._onboard: tuple[int, int, int, int] | None = None

    # --- contract helpers ---------------------------------------------------------------
    def action_to_flat(self, action) -> int:
        """Flat index of an action of either mode."""
        if np.ndim(action) == 0:
            return int(action)
        return int(np.ravel_multi_index(tuple(int(x) for x in action), tuple(self.nvec)))

    def flat_to_action(self, index: int) -> np.ndarray:
        """MultiDiscrete action of a flat index."""
        return np.array(np.unravel_index(int(index), tuple(self.nvec)), dtype=np.int64)

    def flat_action_mask(self) -> np.ndarray:
        """Joint validity mask over flat actions."""
        fits = self._size[self._d, self._p, self._b] <= STORAGE_BYTES
        mask = np.where(self._src == 0, self._d + self._p + self._b == 0, fits)
        return mask.astype(bool)

    def action_masks(self) -> np.ndarray:
        """Mask in the layout sb3-contrib expects for this action mode."""
        flat = self.flat_action_mask()
        if self.action_mode == "discrete":
            return flat
        comps = []
        for axis, n in enumerate(self.nvec):
            idx = (self._src, self._d, self._p, self._b)[axis]
            comps.append(np.array([flat[idx == k].any() for k in range(n)]))
        return np.concatenate(comps)

    def planning_view(self) -> dict:
        """Per-flat-action estimates, as the contract specifies."""
        size = np.where(self._src == 0, 0.0, self._size[self._d, self._p, self._b])
        lat = np.where(self._src == 0, 0.0, RTT_S[self._src] + 8 * size / self._rate_obs)
        keep_acc = self._keep_accuracy()
        acc = np.where(self._src == 0, keep_acc, self._acc[self._d, self._p, self._b])
        proxy = np.where(self._src == 0, 0.0, self._proxy[self._d, self._p, self._b])
        return {
            "valid": self.flat_action_mask(),
            "accuracy": acc,
            "size_bytes": size,
            "download_latency_s_est": lat,
            "energy_j_est": P_RX_W * np.where(self._src == 0, 0.0, 8 * size / self._rate_obs),
            "inference_latency_s": np.full(self.n_actions, 0.001),
            "fits_deadline": lat <= DEADLINE_S,
            "proxy_score": proxy,
            "source": self._src.copy(),
            "depth": self._d.copy(),
            "prune": self._p.copy(),
            "bits": self._b.copy(),
            "deadline_s": DEADLINE_S,
            "energy_left_j": self._energy,
            "storage_bytes": STORAGE_BYTES,
        }

    def one_step_rewards(self) -> np.ndarray:
        """Reward of every flat action on the true next step (no state change)."""
        return np.array([self._outcome(i)[0] for i in range(self.n_actions)], dtype=np.float64)

    # --- dynamics ---------------------------------------------------------------------------
    def _keep_accuracy(self) -> float:
        if self._onboard is None or self._onboard[0] != self._task_next:
            return 0.0
        return float(self._acc[self._onboard[1:]])

    def _draw_exo(self) -> None:
        self._rate_true = float(self.np_random.lognormal(np.log(8e7), 0.8))
        self._rate_obs = self._rate_true * float(self.np_random.uniform(0.8, 1.2))
        switch = self.np_random.random() < 0.2
        self._task_next = 1 - self._task if switch else self._task
        self._n_req = int(self.np_random.poisson(5))

    def _outcome(self, i: int):
        valid = bool(self.flat_action_mask()[i])
        src = int(self._src[i]) if valid else 0
        onboard_after = self._onboard
        latency = 0.0
        nbytes = 0.0
        if src != 0:
            v = (int(self._d[i]), int(self._p[i]), int(self._b[i]))
            nbytes = float(self._size[v])
            latency = RTT_S[src] + 8 * nbytes / self._rate_true
            onboard_after = (self._task_next, *v)
        energy = P_RX_W * (8 * nbytes / self._rate_true if src else 0.0)
        serving = onboard_after if latency <= DEADLINE_S else self._onboard
        ok = serving is not None and serving[0] == self._task_next
        acc = float(self._acc[serving[1:]]) if ok else 0.0
        served = self._n_req if ok else 0
        failed = self._n_req - served
        terms = {
            "accuracy": acc * served / 5.0,
            "violation": -0.5 * failed / 5.0,
            "energy": -0.3 * energy,
            "invalid": -INVALID_PENALTY if not valid else 0.0,
        }
        reward = float(sum(terms.values()))
        return reward, terms, dict(
            valid=valid, src=src, onboard_after=onboard_after, latency=latency, nbytes=nbytes,
            energy=energy, acc=acc, served=served, failed=failed,
        )

    def _obs(self) -> np.ndarray:
        keep = self._keep_accuracy()
        return np.array([
            self._task_next, float(keep > 0), keep, np.log10(self._rate_obs) / 10.0,
            self._energy / ENERGY_BUDGET_J, self._t / self.horizon,
        ], dtype=np.float32)

    def reset(self, *, seed=None, options=None):
        """Start an episode with no model on board."""
        super().reset(seed=seed)
        self._task = int(self.np_random.integers(2))
        self._onboard = None
        self._energy = ENERGY_BUDGET_J
        self._t = 0
        self._invalid = 0
        self._draw_exo()
        return self._obs(), {"action_mask": self.flat_action_mask()}

    def step(self, action):
        """Apply one download decision."""
        if not self.action_space.contains(np.asarray(action) if np.ndim(action) else int(action)):
            raise ValueError(f"action {action!r} is outside the action space {self.action_space}")
        i = self.action_to_flat(action)
        reward, terms, out = self._outcome(i)
        self._invalid += int(not out["valid"])
        self._onboard = out["onboard_after"]
        self._energy = max(0.0, self._energy - out["energy"])
        self._task = self._task_next
        self._t += 1
        info = {
            "reward_terms": terms,
            "cost": {"latency_violation": float(out["failed"] > 0), "energy_j": out["energy"]},
            "latency_s": out["latency"],
            "energy_j": out["energy"],
            "bytes_downloaded": out["nbytes"],
            "source_tier": ("keep", "edge", "local", "central")[out["src"]],
            "variant": {"depth": int(self._d[i]), "prune": int(self._p[i]), "bits": int(self._b[i])},
            "accuracy": out["acc"],
            "invalid_action": not out["valid"],
            "invalid_actions": self._invalid,
            "served_requests": out["served"],
            "failed_requests": out["failed"],
        }
        terminated = self._energy <= 0.0
        self._draw_exo()
        info["action_mask"] = self.flat_action_mask()
        return self._obs(), reward, bool(terminated), False, info


def register() -> None:
    """Register the test double as ``test/TinyDownload-v0`` (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point=TinyDownloadEnv, max_episode_steps=HORIZON)


register()
