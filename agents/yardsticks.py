"""Yardsticks: where a policy stands between what is deployable and what is possible.

* :class:`UpperBoundPolicy` (``upper_bound``): at every step the best fitting variant of that
  step's task (with any number of its bit-planes) is on board, downloaded for free and
  instantly, with an empty inference queue and an idle radio; the step's reward is the best over
  those, and the episode's bound is the best prefix sum (an empty battery only ends an episode
  early). It computes its return without acting (:meth:`UpperBoundPolicy.episode_result`). A
  policy whose serving model does not change within a step cannot beat it; a download landing
  mid-step lets a step mix two models (a fast one while the queue fills, then an accurate one),
  which can exceed the best single model of that step, but the download itself is not free.
* :class:`PlannerPolicy` (``planner``): clairvoyant and non-myopic. The exogenous future of an
  episode is pre-generated and does not depend on the actions, so the planner forks the
  simulation (:meth:`envs.sim.BatchSim.fork`) and runs a beam search over the endogenous state on
  the *true* future; beams are ranked by their return so far plus the value of their store on the
  next ``lookahead`` true tasks. The myopic oracle's trajectory is evaluated on the same future
  and kept when it is better, so the planner is never below ``oracle`` on an episode.
* :class:`MPCPolicy` (``mpc``): deployable, not privileged, in the style of robust MPC for video
  bitrate adaptation (Yin et al., "A control-theoretic approach for dynamic adaptive video
  streaming over HTTP", SIGCOMM 2015): it predicts the rate as the harmonic mean of its own past
  rate estimates, discounted by its largest recent relative prediction error, and the tasks from
  the scenario's task model (the current session lasts its median length given its age, then
  the most popular task of the zone and part of the day follows), and re-plans every step with a
  short beam search over that *predicted* future, taking the first action.

The beam search is :func:`beam_search`; the fork's exogenous columns are overwritten with the
prediction for the MPC (:func:`predicted_future`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import gymnasium as gym
import numpy as np

from agents.common import flat_to_env_action
from agents.policy_base import Policy

# the simulation's internals the yardsticks read (numpy only)
from envs.sim.context import ARRIVAL_SCALE
from envs.sim.dynamics import store_bytes  # noqa: F401  (re-exported for tests)
from envs.sim.exogenous import C_TASK, C_ZONE, E_HOUR, E_INV_EXPREQ, E_INVRATE, E_NREQ, E_RATE
from envs.sim.params import SRC_CANCEL, SRC_EDGE, SRC_EVICT, SRC_KEEP


def _keep(sim) -> int:
    """The keep action (flat index 0)."""
    return 0


# ---------------------------------------------------------------------------------- upper bound
def step_reward_table(sim, row: int = 0, variants: np.ndarray | None = None,
                      steps: int | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per fitting (variant, bit-planes) and remaining step of row ``row``'s episode, the one-step
    reward of holding that variant with that many planes (queue empty, radio idle, no download),
    and of an empty store.

    ``variants``: the variants to tabulate (default: every variant that fits the store; each with
    every plane count, since a partial model can score above a whole one); ``steps``: at most
    this many steps.

    Returns ``(variants [R], planes [R], rewards [R + 1, steps])``; the last row is the empty store.
    """
    p = sim.p
    base = np.flatnonzero(p.var_valid & (p.var_size_bytes <= sim.storage)) if variants is None else \
        np.asarray(variants, dtype=np.int64)
    fits = np.repeat(base, p.var_planes[base])
    planes = np.concatenate([np.arange(1, n + 1) for n in p.var_planes[base]]) if len(base) else np.zeros(0, int)
    n = len(fits) + 1
    f = sim.fork(row, n)
    st = f.state
    k0, t0 = int(st.k[0]), int(st.t[0])
    steps = min(sim.horizon - t0, sim.T - k0, steps if steps is not None else sim.T)
    ar = np.arange(len(fits))
    out = np.empty((n, steps))
    a = np.zeros(n, dtype=np.int64)
    for h in range(steps):
        d = st.dyn
        d.store_var[:] = p.no_model
        d.store_planes[:] = 0
        d.store_var[ar, p.var_task[fits]] = fits
        d.store_planes[ar, p.var_task[fits]] = planes
        d.dl_active[:] = False
        d.queue_s[:] = 0.0
        d.tail_left_s[:] = 0.0
        d.energy_left_j[:] = sim.budget_j
        st.k[:] = k0 + h
        st.t[:] = t0 + h
        ci = f.now(f.exo.ci)
        rows = f._action_rows(a, ci)
        _, res = f._transition(f.now(f.exo.f), ci, f.now(f.exo.arr), rows, a, d, st.t)
        out[:, h] = res.reward
    return fits, planes, out


def upper_bound_steps(sim, row: int = 0) -> np.ndarray:
    """Per remaining step of row ``row``'s episode, the best one-step reward over the fitting
    variants of that step's task, on board for free, with an empty queue and an idle radio."""
    return step_reward_table(sim, row)[2].max(axis=0)


class UpperBoundPolicy(Policy):
    """Free, instant downloads of the best fitting variant at every step (see the module)."""

    name = "upper_bound"
    privileged = True

    def episode_result(self, env: gym.Env) -> dict[str, Any] | None:
        """The bound of the episode just reset: ``{"return": best prefix sum}``."""
        r = upper_bound_steps(env.unwrapped.sim)
        return {"return": float(np.max(np.cumsum(r))), "length": int(len(r))}

    def act(self, obs: Any, env: gym.Env) -> Any:
        """Keep (the bound is computed without acting)."""
        return flat_to_env_action(env, 0)


# ---------------------------------------------------------------------------------- beam search
@dataclass
class BeamConfig:
    """Beam-search settings."""

    beam: int = 8
    """beams kept per step"""
    lookahead: int = 20
    """steps of future tasks the store is valued on"""


def plannable_variants(sim, row: int = 0) -> np.ndarray:
    """The variants a plan can involve: every menu entry and what the store holds now."""
    p = sim.p
    held = sim.state.dyn.store_var[row]
    return np.unique(np.concatenate([p.menu[p.menu < p.no_model], held[held < p.no_model],
                                     sim.state.dyn.dl_var[row:row + 1][sim.state.dyn.dl_active[row:row + 1]]]))


class StoreValue:
    """The value of a store over the coming steps, from a table of per-step rewards of holding
    each variant (:func:`step_reward_table`, on the true or a predicted future): for each beam,
    the sum over the next ``lookahead`` steps of the reward of the model it holds for that step's
    task (the download in flight counts from its estimated arrival), or of an empty store."""

    def __init__(self, sim, fits: np.ndarray, planes: np.ndarray, table: np.ndarray, k0: int,
                 lookahead: int) -> None:
        self.p = sim.p
        self.row_of = np.full((self.p.no_model + 1, 9), len(fits), dtype=np.int64)  # [variant, planes]
        self.row_of[fits, planes] = np.arange(len(fits))
        self.table, self.k0, self.lookahead = table, k0, lookahead
        self.dt = sim.dt

    def __call__(self, fork, tasks: np.ndarray) -> np.ndarray:
        """Value per beam row of ``fork`` (its current step is ``fork.state.k[0]``)."""
        p, d = self.p, fork.state.dyn
        h0 = int(fork.state.k[0]) - self.k0
        h1 = min(h0 + self.lookahead, self.table.shape[1])
        if h1 <= h0:
            return np.zeros(fork.B)
        ts = tasks[:h1 - h0]
        held = d.store_var[:, ts]                                   # [B, L] model for each step's task
        rows = self.row_of[held, d.store_planes[:, ts]]
        cols = np.arange(h0, h1)[None, :]
        v = self.table[rows, cols]
        # the download in flight: from its arrival (at this step's rate) on, for its task
        rate_spb = fork.now(fork.exo.f)[:, E_INVRATE]
        left = p.var_size_bytes[d.dl_var] - d.dl_done_bytes
        eta = (d.dl_fixed_s + left * np.maximum(rate_spb, d.dl_s_per_byte_bh)) / self.dt
        arrive = d.dl_active[:, None] & (np.arange(h1 - h0)[None, :] >= np.ceil(eta)[:, None]) & (
            ts[None, :] == d.dl_task[:, None])
        v_dl = self.table[self.row_of[d.dl_var, p.var_planes[d.dl_var]][:, None], cols]
        return np.where(arrive, np.maximum(v, v_dl), v).sum(axis=1)


def beam_search(sim, fork, steps: int, cfg: BeamConfig, value, tasks_ahead, candidates=None):
    """Beam search on ``fork`` (one row; its exogenous future is what is planned on) for ``steps``
    steps; returns ``(actions [steps], return)`` of the best beam.

    Args:
        value: a :class:`StoreValue` of the planned future.
        tasks_ahead: function(fork) -> int array of the task of each step from the fork's current
            step on (the future the store is valued on).
        candidates: optional function(fork, masks) -> masks restricting the actions tried.
    """
    cum = np.zeros(1)
    alive = np.ones(1, dtype=bool)
    parents, actions = [], []
    for h in range(steps):
        masks = fork.action_masks()
        if candidates is not None:
            masks = candidates(fork, masks)
        masks[~alive] = False
        masks[~alive, 0] = True  # ended beams only keep
        r_i, a_i = np.nonzero(masks)
        fork.take_rows(r_i)
        res = fork.step(a_i)
        live = alive[r_i]
        c2 = cum[r_i] + np.where(live, res.reward, 0.0)
        al2 = live & ~res.terminated
        last = h == steps - 1
        if last:
            score = c2
        else:
            score = c2 + np.where(al2, value(fork, tasks_ahead(fork)), 0.0)
        d = fork.state.dyn
        sig = np.concatenate([d.store_var, d.store_planes, d.dl_var[:, None], d.dl_active[:, None],
                              (d.dl_done_bytes[:, None] > 0)], axis=1)
        order = np.lexsort((-score,))
        _, first = np.unique(sig[order], axis=0, return_index=True)
        uniq = order[first]
        sel = uniq[np.argsort(-score[uniq], kind="stable")][:cfg.beam]
        fork.take_rows(sel)
        cum, alive = c2[sel], al2[sel]
        parents.append(r_i[sel])
        actions.append(a_i[sel])
    best = int(np.argmax(cum))
    seq = np.empty(steps, dtype=np.int64)
    j = best
    for h in range(steps - 1, -1, -1):
        seq[h] = actions[h][j]
        j = parents[h][j]
    return seq, float(cum[best])


def rollout_return(sim, actions: np.ndarray) -> float:
    """Return of ``actions`` on row 0's true future (a fork)."""
    f = sim.fork(0, 1)
    total, alive = 0.0, True
    for a in actions:
        res = f.step(np.array([a]))
        if alive:
            total += float(res.reward[0])
        alive = alive and not bool(res.terminated[0])
    return total


def oracle_rollout(sim, steps: int) -> np.ndarray:
    """Actions of the myopic oracle (best true one-step reward among valid actions) on row 0's
    true future."""
    f = sim.fork(0, 1)
    seq = np.empty(steps, dtype=np.int64)
    for h in range(steps):
        m = f.action_masks()[0]
        r = f.one_step_rewards(0)
        a = int(np.flatnonzero(m)[np.argmax(r[m])])
        seq[h] = a
        f.step(np.array([a]))
    return seq


class PlannerPolicy(Policy):
    """Clairvoyant beam-search planner over the true future (see the module docstring)."""

    name = "planner"
    privileged = True

    def __init__(self, beam: int = 8, lookahead: int = 20) -> None:
        self.cfg = BeamConfig(beam=beam, lookahead=lookahead)
        self._plan: np.ndarray | None = None
        self._t0 = 0
        self.plan_return: float | None = None

    def reset(self, seed: int | None = None) -> None:
        """Forget the plan of the previous episode."""
        self._plan = None

    def make_plan(self, env: gym.Env) -> np.ndarray:
        """Plan the rest of the episode from the current state (the better of the beam search and
        the oracle's rollout on the true future)."""
        sim = env.unwrapped.sim
        t0, k0 = int(sim.state.t[0]), int(sim.state.k[0])
        steps = min(sim.horizon - t0, sim.T - k0)
        fits, planes, table = step_reward_table(sim, variants=plannable_variants(sim))
        value = StoreValue(sim, fits, planes, table, k0, self.cfg.lookahead)
        tasks = sim.exo.ci[0, k0:k0 + steps, C_TASK]

        def tasks_ahead(fork):
            return tasks[int(fork.state.k[0]) - k0:]

        seq, ret = beam_search(sim, sim.fork(0, 1), steps, self.cfg, value, tasks_ahead)
        ora = oracle_rollout(sim, steps)
        ret_o = rollout_return(sim, ora)
        if ret_o > ret:
            seq, ret = ora, ret_o
        self._plan, self._t0, self.plan_return = seq, t0, ret
        return seq

    def act(self, obs: Any, env: gym.Env) -> Any:
        """The planned action of this step (planning on the first step of an episode)."""
        sim = env.unwrapped.sim
        t = int(sim.state.t[0])
        if self._plan is None or not 0 <= t - self._t0 < len(self._plan):
            self.make_plan(env)
        a = int(self._plan[t - self._t0])
        if not env.unwrapped.flat_action_mask()[a]:  # cannot happen on the true future; be safe
            a = _keep(sim)
        return flat_to_env_action(env, a)


# ---------------------------------------------------------------------------------- MPC
def predicted_future(sim, fork, rate_bps: float, horizon: int, tasks: np.ndarray,
                     rng: np.random.Generator) -> None:
    """Overwrite the fork's next ``horizon`` steps with a predicted future: the rate constant at
    ``rate_bps``, the given tasks, requests drawn from the tasks' Poisson processes with ``rng``
    (a sample of the request model, so that the plan sees queueing), the current zone."""
    p = sim.p
    k = int(fork.state.k[0])
    h = min(horizon, fork.T - k)
    sl = slice(k, k + h)
    f, ci, arr = fork.exo.f[0], fork.exo.ci[0], fork.exo.arr[0]
    t = tasks[:h]
    nreq = np.minimum(rng.poisson(p.request_rate_hz[t] * sim.dt), arr.shape[1]).astype(float)
    f[sl, E_RATE] = rate_bps
    f[sl, E_INVRATE] = 8.0 / rate_bps
    f[sl, E_NREQ] = nreq
    f[sl, E_INV_EXPREQ] = np.where(p.request_rate_hz[t] > 0, 1.0 / np.maximum(p.request_rate_hz[t] * sim.dt, 1e-300),
                                   0.0)
    ci[sl, C_TASK] = t
    ci[sl, C_ZONE] = ci[k, C_ZONE]
    j = np.arange(arr.shape[1])[None, :]
    u = np.sort(rng.random((h, arr.shape[1])), axis=1)
    arr[sl] = np.where(j < nreq[:, None], np.minimum(np.floor(u * ARRIVAL_SCALE), ARRIVAL_SCALE - 1),
                       ARRIVAL_SCALE - 1).astype(np.uint16)


def predicted_tasks(sim, view, steps: int) -> np.ndarray:
    """The most likely task path under the scenario's task model: the current session lasts its
    median length (or one more step once older than that), then the most popular other task of
    the zone and part of the day, for its median length, and so on."""
    p = sim.p
    task, age = int(view["task"]), float(view["time_in_task_s"])
    zone, day = int(view["zone"]), bool(view["day"])
    pop = (p.next_task_pop_day if day else p.next_task_pop_night)[zone]
    out = np.empty(steps, dtype=np.int64)
    left = max(1, int(round((p.session_median_s[task] - age) / sim.dt)))
    i = 0
    while i < steps:
        n = min(left, steps - i)
        out[i:i + n] = task
        i += n
        q = pop.copy()
        q[task] = -1.0
        task = int(np.argmax(q))
        left = max(1, int(round(p.session_median_s[task] / sim.dt)))
    return out


class MPCPolicy(Policy):
    """Deployable model-predictive controller (see the module docstring)."""

    name = "mpc"
    privileged = False

    def __init__(self, horizon: int = 5, beam: int = 4, lookahead: int = 20, history: int = 5,
                 samples: int = 3) -> None:
        self.horizon, self.history, self.samples = horizon, history, samples
        self.cfg = BeamConfig(beam=beam, lookahead=lookahead)
        self.reset()

    def reset(self, seed: int | None = None) -> None:
        """Forget the rate history of the previous episode; seed the request samples."""
        self._rng = np.random.default_rng(seed)
        self._rates: list[float] = []
        self._preds: list[float] = []
        self._errors: list[float] = []

    #: Largest relative prediction error the robust discount uses (mmWave rates swing by 10x
    #: within seconds; uncapped, the discount would make every download look hopeless).
    max_error = 1.0

    def predict_rate(self, rate_est: float) -> float:
        """Harmonic mean of the last ``history`` estimates, divided by 1 + the largest relative
        error of the last ``history`` predictions (robust MPC), the error capped at
        :attr:`max_error`."""
        if self._preds:
            self._errors.append(abs(self._preds[-1] - rate_est) / max(rate_est, 1.0))
        self._rates.append(max(rate_est, 1.0))
        r = np.asarray(self._rates[-self.history:])
        hm = len(r) / np.sum(1.0 / r)
        err = min(max(self._errors[-self.history:], default=0.0), self.max_error)
        pred = hm / (1.0 + err)
        self._preds.append(hm)
        return float(pred)

    def act(self, obs: Any, env: gym.Env) -> Any:
        """Plan on the predicted future and take the first action."""
        u = env.unwrapped
        sim = u.sim
        view = u.planning_view()
        rate = self.predict_rate(float(view["rate_est_bps"]))
        t0, k0 = int(sim.state.t[0]), int(sim.state.k[0])
        steps = min(self.horizon, sim.horizon - t0, sim.T - k0)
        total = min(self.horizon + self.cfg.lookahead, sim.T - k0)
        tasks = predicted_tasks(sim, view, total)
        fork = sim.fork(0, 1)
        predicted_future(sim, fork, rate, total, tasks, self._rng)
        # the predicted future is stationary within a task: value each variant on a few sampled
        # steps of each predicted task and use that for every step of the task
        distinct = np.unique(tasks)
        seq = np.repeat(distinct, self.samples)
        probe = sim.fork(0, 1)
        predicted_future(sim, probe, rate, len(seq), seq, self._rng)
        fits, planes, tab = step_reward_table(probe, variants=plannable_variants(sim), steps=len(seq))
        cols = seq[:tab.shape[1]]
        per_task = {int(t): tab[:, cols == t].mean(axis=1) if (cols == t).any() else tab.mean(axis=1)
                    for t in distinct}
        table = np.stack([per_task[int(t)] for t in tasks], axis=1)
        value = StoreValue(sim, fits, planes, table, k0, self.cfg.lookahead)

        def tasks_ahead(f):
            return tasks[int(f.state.k[0]) - k0:]

        likely = set(tasks.tolist())
        p = sim.p

        current = int(view["task"])

        def candidates(f, masks):  # downloads of the likely tasks; never evict the current task's model
            keep = (p.act_src <= SRC_CANCEL) | ((p.act_src == SRC_EVICT) & (p.act_task != current)) | (
                (p.act_src >= SRC_EDGE) & np.isin(p.act_task, list(likely)))
            return masks & keep[None, :]

        seq, _ = beam_search(sim, fork, max(steps, 1), self.cfg, value, tasks_ahead, candidates)
        a = int(seq[0])
        if not u.flat_action_mask()[a]:
            a = _keep(sim)
        return flat_to_env_action(env, a)


__all__ = ["BeamConfig", "MPCPolicy", "PlannerPolicy", "UpperBoundPolicy", "beam_search", "oracle_rollout",
           "predicted_future", "predicted_tasks", "rollout_return", "upper_bound_steps",
           "SRC_CANCEL", "SRC_EDGE", "SRC_KEEP", "E_HOUR"]
