"""TEST DOUBLE: a tiny in-situ-downloading env with the v1 env API of ``envs.ModelDownloadEnv``.

This is *not* the project's environment. It exists so the agents/ infrastructure (policies,
evaluator, callbacks, CLI plumbing) can be unit-tested fast and independently of the real
simulation. It implements the extras the real env offers: ``action_masks()``,
``flat_action_mask()``, ``planning_view()`` (every v1 key), ``one_step_rewards()``,
``n_actions``, ``action_to_flat``/``flat_to_action`` and the v1 step ``info`` keys.

Actions: ``MultiDiscrete([6, K, M])`` = (source, task, entry), or ``Discrete(6 K M)`` with
``a = (source * K + task) * M + entry``; sources 0 keep, 1 cancel, 2 evict, 3 edge, 4 local,
5 central; K = 2 tasks, M = 3 menu entries each (global variant ``g = task * M + entry``,
``K * M`` = no model). Keep and cancel need task 0 and entry 0, evict entry 0; a download is
valid when none is in flight, the tier serves the entry (the edge does not serve entry 2) and
the variant fits the free storage beside the models on board. Invalid actions are penalised keeps.

Dynamics (all numbers are arbitrary test values): the task switches with probability 0.2 per
step, Poisson requests at the task's rate arrive uniformly within the step, the downlink rate
is i.i.d. log-normal (the agent sees a noisy estimate), a download waits its round trip, then
moves its bytes at ``8 * max(1 / rate, 1 / backhaul)`` seconds per byte, possibly over several
steps; a model that arrives during a step serves the requests arriving after it. A request
fails without a model of its task, or when the model's service time exceeds the task's budget
(no queueing). The exogenous randomness of a step (rate, requests) is drawn before the decision,
so ``one_step_rewards`` evaluates every action exactly.

Test-relevant design: task 0's most accurate entry (2) exceeds its budget; task 1's entries 1
and 2 tie on the proxy score, entry 2 with more bits but less accuracy; the storage (5 MB) does
not hold task 0's largest model beside every model of task 1 (eviction).

Register with :func:`register` (id ``test/TinyDownload-v1``); ``gymnasium.make`` with
``"tiny_env:test/TinyDownload-v1"`` also works when this folder is on ``sys.path``.
"""

from __future__ import annotations

import gymnasium as gym
import numpy as np
from gymnasium import spaces

ENV_ID = "test/TinyDownload-v1"
K, M, N_SRC = 2, 3, 6
NO_MODEL = K * M
SIZE_BYTES = np.array([[1.0e6, 2.0e6, 4.0e6], [0.5e6, 1.5e6, 3.0e6]])
ACCURACY = np.array([[0.6, 0.75, 0.85], [0.5, 0.72, 0.7]])
SERVICE_S = np.array([[0.01, 0.03, 0.08], [0.01, 0.02, 0.06]])
BITS = np.array([[8.0, 16.0, 32.0], [8.0, 16.0, 32.0]])
PROXY = np.array([[0.3, 1.0, 0.9], [0.2, 1.0, 1.0]])
BUDGET_S = np.array([0.05, 0.1])
REQUEST_RATE_HZ = np.array([5.0, 3.0])
EDGE_SERVES = np.array([True, True, False])  # per entry
RTT_S = np.array([0.0, 0.002, 0.01, 0.04])  # per tier: none, edge, local, central
BACKHAUL_BPS = np.array([np.inf, np.inf, 1e9, 2e8])
STORAGE_BYTES = 5.0e6
ENERGY_BUDGET_J = 30.0
P_RX_W = 1.0
E_INFER_J = 0.01
DT_S = 1.0
HORIZON = 40
SWITCH_PROB = 0.2
W_FAILED, W_ENERGY, W_INVALID = 1.0, 0.5, 1.0
TERMS = ("accuracy", "failed_requests", "energy", "air_bytes", "backhaul_bytes", "invalid_action")
TIERS = ("none", "edge", "local", "central")
SOURCES = ("keep", "cancel", "evict", "edge", "local", "central")


def _flat_tables():
    a = np.arange(N_SRC * K * M)
    src, task, entry = np.unravel_index(a, (N_SRC, K, M))
    canon = np.where(src <= 1, (task == 0) & (entry == 0), np.where(src == 2, entry == 0, True))
    var = np.where(src >= 3, task * M + entry, NO_MODEL)
    tier = np.zeros(len(a), dtype=np.int64)
    tier[src == 3] = np.where(EDGE_SERVES[entry[src == 3]], 1, 0)
    tier[src == 4] = 2
    tier[src == 5] = 3
    tier = np.where(canon, tier, 0)
    return src, task, entry, canon, var, tier


def _per_variant(table: np.ndarray, none_value: float) -> np.ndarray:
    return np.concatenate([table.ravel(), [none_value]])


class TinyDownloadEnv(gym.Env):
    """TEST DOUBLE of ``envs.ModelDownloadEnv`` (see the module docstring)."""

    metadata = {"render_modes": []}

    def __init__(self, action_mode: str = "multidiscrete", horizon: int = HORIZON):
        if action_mode not in ("multidiscrete", "discrete"):
            raise ValueError(f"action_mode must be 'multidiscrete' or 'discrete', got {action_mode!r}")
        self.action_mode = action_mode
        self.horizon = horizon
        self.nvec = np.array([N_SRC, K, M], dtype=np.int64)
        self.n_actions = int(np.prod(self.nvec))
        self.action_space = (spaces.MultiDiscrete(self.nvec) if action_mode == "multidiscrete"
                             else spaces.Discrete(self.n_actions))
        self.observation_space = spaces.Box(-1.0, 1.0, shape=(13,), dtype=np.float32)
        self._src, self._task_of, self._entry, self._canon, self._var, self._tier = _flat_tables()
        self._size = _per_variant(SIZE_BYTES, 0.0)
        self._acc = _per_variant(ACCURACY, 0.0)
        self._svc = _per_variant(SERVICE_S, np.inf)
        self._bits = _per_variant(BITS, 0.0)
        self._proxy = _per_variant(PROXY, 0.0)
        self._var_task = np.concatenate([np.repeat(np.arange(K), M), [K]])
        self._lat_ok = self._svc <= np.concatenate([BUDGET_S, [0.0]])[self._var_task]

    # --- encodings -------------------------------------------------------------------------
    def action_to_flat(self, action) -> int:
        """Flat index of an action of either mode."""
        if np.ndim(action) == 0:
            return int(action)
        return int(np.ravel_multi_index(tuple(int(x) for x in action), tuple(self.nvec)))

    def flat_to_action(self, index: int):
        """Action of this env's space for a flat index."""
        if self.action_mode == "discrete":
            return int(index)
        return np.array(np.unravel_index(int(index), tuple(self.nvec)), dtype=np.int64)

    # --- masks ---------------------------------------------------------------------------------
    def _free_bytes(self) -> float:
        held = float(self._size[self._store].sum())
        pending = self._size[self._dl_var] if self._dl_active else 0.0
        return STORAGE_BYTES - held - pending

    def flat_action_mask(self) -> np.ndarray:
        """Joint validity mask over flat actions (bool [n_actions])."""
        src = self._src
        mask = np.zeros(self.n_actions, dtype=bool)
        mask[0] = True
        mask[(src == 1) & self._canon] = self._dl_active
        ev = (src == 2) & self._canon
        mask[ev] = self._store[self._task_of[ev]] != NO_MODEL
        dl = (src >= 3) & (self._tier > 0)
        mask[dl] = (not self._dl_active) & (self._size[self._var[dl]] <= self._free_bytes())
        return mask

    def _component_masks(self) -> np.ndarray:
        g = self.flat_action_mask().reshape(tuple(self.nvec))
        return np.concatenate([g.any(axis=(1, 2)), g.any(axis=(0, 2)), g.any(axis=(0, 1))])

    def action_masks(self) -> np.ndarray:
        """Mask for MaskablePPO: joint (discrete) or the concatenated component masks."""
        if self.action_mode == "discrete":
            return self.flat_action_mask()
        return self._component_masks()

    def _gym_mask(self):
        if self.action_mode == "discrete":
            return self.flat_action_mask().astype(np.int8)
        comp = self._component_masks().astype(np.int8)
        return tuple(np.split(comp, np.cumsum(self.nvec)[:-1]))

    # --- planning ------------------------------------------------------------------------------
    def _latency_s(self, tier: np.ndarray, size: np.ndarray, rate: float) -> np.ndarray:
        spb = 8.0 * np.maximum(1.0 / rate, 1.0 / BACKHAUL_BPS[tier])
        return np.where(tier > 0, RTT_S[tier] + size * spb, 0.0)

    def planning_view(self) -> dict:
        """Per-flat-action estimates (at the estimated rate), per-task store state and scalars:
        the keys of ``envs.sim.BatchSim.planning_view``."""
        g = self._var
        size = np.where(self._tier > 0, self._size[g], 0.0)
        lat = self._latency_s(self._tier, size, self._rate_est)
        return {
            "valid": self.flat_action_mask(), "source": self._src.copy(), "target_task": self._task_of.copy(),
            "entry": self._entry.copy(), "variant": g.copy(), "tier": self._tier.copy(), "size_bytes": size,
            "accuracy": self._acc[g], "service_s": self._svc[g], "latency_ok": self._lat_ok[g],
            "training_free": g != NO_MODEL, "integer": np.zeros(self.n_actions, dtype=bool),
            "bits": self._bits[g], "planes": np.ones(self.n_actions, dtype=np.int64), "proxy_score": self._proxy[g],
            "download_latency_s_est": lat, "download_energy_j_est": P_RX_W * lat,
            "store_variant": self._store.copy(), "store_accuracy": self._acc[self._store],
            "store_size_bytes": self._size[self._store], "store_service_s": self._svc[self._store],
            "store_last_used": self._last_used.copy(), "budget_s": BUDGET_S.copy(),
            "request_rate_hz": REQUEST_RATE_HZ.copy(), "local_has": np.ones(K, dtype=bool),
            "edge_has": np.ones(K, dtype=bool),
            "task": np.asarray(self._task), "zone": np.asarray(0), "hour": np.asarray(12.0), "day": np.asarray(True),
            "time_in_task_s": np.asarray(float(self._age) * DT_S), "rate_est_bps": np.asarray(self._rate_est),
            "free_bytes": np.asarray(self._free_bytes()), "storage_bytes": np.asarray(STORAGE_BYTES),
            "energy_left_j": np.asarray(self._energy), "energy_budget_j": np.asarray(ENERGY_BUDGET_J),
            "download_pending": np.asarray(self._dl_active),
            "download_task": np.asarray(int(self._var_task[self._dl_var]) if self._dl_active else -1),
            "download_variant": np.asarray(self._dl_var),
            "download_remaining_bytes": np.asarray(self._dl_left if self._dl_active else 0.0),
            "tail_left_s": np.asarray(0.0), "queue_s": np.asarray(0.0), "dt_s": np.asarray(DT_S),
            "steps_left": np.asarray(self.horizon - self._t),
        }

    def one_step_rewards(self) -> np.ndarray:
        """Reward of every flat action on the true next step (no state change)."""
        return np.array([self._outcome(i)[0] for i in range(self.n_actions)], dtype=np.float64)

    # --- dynamics ------------------------------------------------------------------------------
    def _draw_exo(self) -> None:
        rng = self.np_random
        self._rate = float(rng.lognormal(np.log(2e7), 1.0))
        self._rate_est = self._rate * float(rng.uniform(0.8, 1.25))
        n = int(rng.poisson(REQUEST_RATE_HZ[self._task] * DT_S))
        self._arrivals = np.sort(rng.random(n)) * DT_S

    def _outcome(self, i: int):
        """(reward, terms, details) of flat action ``i`` in the current state (pure)."""
        valid = bool(self.flat_action_mask()[i])
        src = int(self._src[i]) if valid else 0
        store = self._store.copy()
        dl_active, dl_var, dl_left, dl_fix = self._dl_active, self._dl_var, self._dl_left, self._dl_fix
        cancelled = started = False
        bh, tier, dl_spb = 0.0, 0, self._dl_spb
        if src == 1:
            dl_active, cancelled = False, True
        elif src == 2:
            store[self._task_of[i]] = NO_MODEL
        elif src >= 3:
            tier = int(self._tier[i])
            dl_active, dl_var, started = True, int(self._var[i]), True
            dl_left, dl_fix, dl_spb = float(self._size[dl_var]), float(RTT_S[tier]), 8.0 / BACKHAUL_BPS[tier]
            bh = dl_left if tier >= 2 else 0.0
        # the download's progress this step
        air, arrive_at, complete = 0.0, np.inf, False
        if dl_active:
            spb = max(8.0 / self._rate, dl_spb)
            t_fix = min(dl_fix, DT_S)
            need = dl_left * spb
            if t_fix + need <= DT_S:
                complete, arrive_at, air = True, t_fix + need, dl_left
            else:
                air = (DT_S - t_fix) / spb
            dl_fix -= t_fix
            dl_left -= air
        air_time = air * max(8.0 / self._rate, dl_spb) if dl_active else 0.0
        # serving the current task's requests
        task = self._task
        old = store[task]
        new = dl_var if complete and self._var_task[dl_var] == task else old
        model = np.where(self._arrivals >= arrive_at, new, old)
        has = model != NO_MODEL
        ok = has & (self._svc[model] <= BUDGET_S[task])
        n = len(self._arrivals)
        served = int(ok.sum())
        acc_sum = float(self._acc[model][ok].sum())
        energy = P_RX_W * air_time + E_INFER_J * int(has.sum())
        if complete:
            store[self._var_task[dl_var]] = dl_var
            dl_active = False
        expected = REQUEST_RATE_HZ[task] * DT_S
        raw = (acc_sum / expected, (n - served) / expected, energy * self.horizon / ENERGY_BUDGET_J,
               air / 1e9, bh / 1e9, float(not valid))
        weights = (1.0, -W_FAILED, -W_ENERGY, -1.0, -0.2, -W_INVALID)
        terms = {name: r * w for name, r, w in zip(TERMS, raw, weights)}
        reward = float(sum(terms.values()))
        return reward, terms, dict(
            valid=valid, src=src, tier=tier, started=started, cancelled=cancelled, complete=complete,
            store=store, dl_active=dl_active, dl_var=dl_var, dl_left=dl_left, dl_fix=dl_fix, dl_spb=dl_spb,
            air=air, bh=bh, energy=energy, energy_radio=P_RX_W * air_time, requests=n, served=served,
            no_model=int((~has).sum()), late=int((has & ~ok).sum()), acc_sum=acc_sum, used=served > 0,
            latency=float(self._latency_s(np.array([tier]), np.array([self._size[self._var[i]]]), self._rate)[0])
            if started else 0.0)

    def _obs(self) -> np.ndarray:
        has = self._store != NO_MODEL
        return np.clip(np.array([
            self._task == 0, self._task == 1, has[0], has[1], self._acc[self._store[0]], self._acc[self._store[1]],
            self._dl_active, self._dl_left / STORAGE_BYTES, np.log10(self._rate_est) / 11.0,
            self._energy / ENERGY_BUDGET_J, self._t / self.horizon, self._free_bytes() / STORAGE_BYTES, 0.0,
        ], dtype=np.float32), -1.0, 1.0)

    def reset(self, *, seed=None, options=None):
        """Start an episode with an empty store and nothing in flight."""
        super().reset(seed=seed)
        self._task = int(self.np_random.integers(K))
        self._age = 0
        self._store = np.full(K, NO_MODEL, dtype=np.int64)
        self._last_used = np.full(K, -np.inf)
        self._dl_active, self._dl_var, self._dl_left, self._dl_fix, self._dl_spb = False, NO_MODEL, 0.0, 0.0, 0.0
        self._energy = ENERGY_BUDGET_J
        self._t = 0
        self._invalid = 0
        self._draw_exo()
        m = self.flat_action_mask()
        return self._obs(), {"action_mask": self._gym_mask(), "joint_action_mask": m, "task": self._task,
                             "energy_left_j": self._energy}

    def step(self, action):
        """Apply one decision (see the module docstring)."""
        if not self.action_space.contains(np.asarray(action) if np.ndim(action) else int(action)):
            raise ValueError(f"action {action!r} is outside the action space {self.action_space}")
        i = self.action_to_flat(action)
        reward, terms, out = self._outcome(i)
        self._invalid += int(not out["valid"])
        self._store = out["store"]
        self._dl_active, self._dl_var = out["dl_active"], out["dl_var"] if out["dl_active"] else NO_MODEL
        self._dl_left, self._dl_fix, self._dl_spb = out["dl_left"], out["dl_fix"], out["dl_spb"]
        if out["used"]:
            self._last_used[self._task] = self._t
        self._energy = max(0.0, self._energy - out["energy"])
        self._t += 1
        if self.np_random.random() < SWITCH_PROB:
            self._task, self._age = 1 - self._task, 0
        else:
            self._age += 1
        g = int(self._var[i]) if out["started"] else NO_MODEL
        n = out["requests"]
        info = {
            "reward_terms": terms,
            "cost": {"energy_j": out["energy"], "failed_requests": float(n - out["served"])},
            "action_source": SOURCES[out["src"]] if out["valid"] else "keep",
            "source_tier": TIERS[out["tier"]],
            "target_task": int(self._task_of[i]) if out["valid"] and out["src"] in (2, 3, 4, 5) else -1,
            # level indices of the download started (test values: depth = bits level = the entry)
            "variant": {"depth": int(g % M) if out["started"] else -1, "prune": 0 if out["started"] else -1,
                        "bits": int(g % M) if out["started"] else -1, "integer": False},
            "download_latency_s": out["latency"],
            "downloaded": out["complete"],
            "cancelled": out["cancelled"],
            "requests": float(n),
            "served_requests": float(out["served"]),
            "failed_requests": float(n - out["served"]),
            "no_model_requests": float(out["no_model"]),
            "late_requests": float(out["late"]),
            "accuracy": out["acc_sum"] / n if n else 0.0,
            "accuracy_sum": out["acc_sum"],
            "energy_j": out["energy"],
            "energy_radio_j": out["energy_radio"],
            "air_bytes": out["air"],
            "backhaul_bytes": out["bh"],
            "invalid_action": not out["valid"],
            "invalid_actions": self._invalid,
            "energy_left_j": self._energy,
            "task": self._task,
        }
        terminated = self._energy <= 0.0
        self._draw_exo()
        info["action_mask"] = self._gym_mask()
        info["joint_action_mask"] = self.flat_action_mask()
        return self._obs(), reward, bool(terminated), False, info


def register() -> None:
    """Register the test double as ``test/TinyDownload-v1`` (idempotent)."""
    if ENV_ID not in gym.registry:
        gym.register(id=ENV_ID, entry_point=TinyDownloadEnv, max_episode_steps=HORIZON)


register()
