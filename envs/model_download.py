"""The single-device Gymnasium environment (a thin adapter over :class:`envs.sim.BatchSim`, B = 1)."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from envs.adapter import (
    ACTION_MODES,
    OBS_MODES,
    InfoBuilder,
    action_space,
    check_action,
    check_choice,
    component_masks,
    group_index,
    gym_mask,
    info_rows,
    make_params,
    observation_space,
)
from envs.sim import BatchSim
from envs.sim.exogenous import E_HOUR, E_RATE, E_RATE_EST, E_SINR_DB, E_ZONE
from envs.sim.params import SOURCES


class ModelDownloadEnv(gym.Env):
    r"""In-situ model downloading for one edge device in a 6G network.

    ## Description

    An edge device (smartphone, XR glasses, IoT sensor, vehicle, drone) serves inference requests
    of the application (task) it is running. Tasks change as a semi-Markov process (log-normal
    sessions; the next task depends on the zone and the time of day), the device moves through
    cells and zones, and its downlink follows 3GPP TR 38.901 path loss, LoS/NLoS, shadowing,
    blockage, cell load and interference from neighbour cells, with the fast fading of each step
    averaged. The device has a *model store* that holds one model per task, up to its storage.
    Every step (``dt_s`` seconds) the agent keeps, downloads a variant of *any* task's model
    (prefetching) from the edge, the local or the central tier of the AI library, cancels the
    download in flight, or evicts a model. Variants differ in depth, pruning and bits, in
    arithmetic (weight-only float or integer W8A8) and in where they exist (fine-tuned pruned
    variants only where a tier stores them; training-free ones are also made on the fly at the
    edge). A download waits its round trips (and the radio's promotion), then moves its bytes at
    each step's true rate; integer-coded variants arrive bit-plane by bit-plane, most significant
    first, and serve at the per-plane accuracy as they refine (progressive replacement). Requests
    queue FIFO at the device and fail when waiting + inference exceed the task's budget. Energy
    (receive power, radio tail, promotion, arithmetic and memory traffic of inference) comes out
    of a battery that terminates the episode when empty. Model: Huang et al., "In-situ Model
    Downloading to Realize Versatile Edge AI in 6G Mobile Networks", IEEE Wireless
    Communications 2023. Full system model with formulas and sources: ``docs/model.md``.

    ## Action Space

    ``MultiDiscrete([6, K, M])`` (``action_mode="multidiscrete"``), or ``Discrete(6 K M)`` with
    ``a = (source * K + task) * M + entry`` (``action_mode="discrete"``); K tasks, M =
    ``library.menu_size`` variants per task (``env.unwrapped.params.menu`` lists them).

    | Component | Values | Meaning |
    |-----------|--------|---------|
    | source | 0 keep, 1 cancel, 2 evict, 3 edge, 4 local, 5 central | what to do; 3-5 download from that tier |
    | task | 0 .. K-1 | the task whose model is downloaded or evicted (ignored by keep and cancel) |
    | entry | 0 .. M-1 | the menu entry (variant) to download (ignored by keep, cancel and evict) |

    A download is valid when no download is in flight, the tier can serve the variant (or
    forwards the request up when the scenario allows it) and the variant fits the free storage
    beside every model on board (double buffering); cancel needs a download in flight, evict a
    model of the task. The joint mask lists keep and cancel once (task 0, entry 0) and evict once
    per task (entry 0); the other indices of these sources act the same and are valid too. Invalid actions are executed as *keep* and penalised (``invalid_action``).
    ``info["action_mask"]`` has the form ``action_space.sample(mask=...)`` takes (int8; for
    MultiDiscrete a tuple of per-component masks, which can only express a *factored* mask: a
    combination allowed component by component may still be invalid); the exact joint mask over
    flat actions is ``info["joint_action_mask"]`` and ``env.unwrapped.flat_action_mask()``.
    ``action_masks()`` (sb3-contrib MaskablePPO) is the joint mask in discrete mode and the
    concatenated component masks in multi-discrete mode.

    ## Observation Space

    ``Box(-1, 1, (obs_dim,), float32)`` (``obs_mode="flat"``) or a ``Dict`` of the groups
    hardware, context, channel, library, store (``obs_mode="dict"``).
    ``env.unwrapped.feature_names`` lists (group, name) per index, in this order (log is log10):

    | Group | Feature | Normalisation |
    |-------|---------|---------------|
    | hardware | class one-hot (smartphone, xr_glasses, iot_sensor, vehicle, drone) | 0/1 |
    | hardware | compute, int8_speedup, storage | (log MAC/s - 9) / 6; log(1 + x) / 2; (log bytes - 3) / 10 |
    | context | task one-hot (K) | 0/1 |
    | context | time_in_task | log(1 + s) / 4 |
    | context | request_rate, latency_budget | log(1 + 1/s) / 4; (log s + 4) / 5 of the current task |
    | context | zone, handover, hour_sin, hour_cos, day | index / (zones - 1); 0/1; sin, cos(2 pi h / 24); 0/1 |
    | channel | sinr_est | estimated SINR dB / 50 (delayed, noisy) |
    | channel | rate_est, rate_est_prev1, rate_est_prev2 | log(bit/s) / 11, now and 1, 2 steps before (delayed, noisy) |
    | channel | blocked, bandwidth_share, distance | blocked fraction of the step, 1 / (1 + other users) (delayed); d / ISD |
    | library | local_has_<task> (K) | the zone's local tier stores the task |
    | library | rtt_edge/local/central, backhaul_edge/local/central | (log(s + 1e-4) + 4) / 4; log(bit/s) / 11 |
    | hardware | energy_left, storage_free, queue_backlog, radio_tail | J / budget; free / storage; backlog / budget; tail left / tail |
    | context | episode_progress | step / horizon |
    | store | per task: has_model, accuracy, bits, size, service_over_budget, integer, planes | 0/1; [0, 1]; bits / 32; bytes / storage; min(service / budget, 1); 0/1; planes on board / planes |
    | store | download_pending, download_remaining, download_accuracy, download_planes | 0/1; bytes left / size; final accuracy; planes arrived / planes |
    | store | download_task_<task> (K) | one-hot of the task being downloaded |
    | library | edge_has_<task> (K) | the zone's edge caches the task's full model |

    ## Rewards

    The sum of weighted named terms (weights in the scenario's ``reward:`` section);
    ``info["reward_terms"]`` holds each signed, weighted term:

    * ``accuracy`` (+): accuracy summed over this step's served requests, per expected request.
    * ``failed_requests`` (-): requests without a model of their task, or over their budget
      (waiting + inference), per expected request.
    * ``energy`` (-): energy spent this step in units of battery / horizon (priced per joule).
    * ``air_bytes`` (-): GB received over the air; ``backhaul_bytes`` (-): GB over the backhaul.
    * ``invalid_action`` (-): 1 for an invalid action.

    ``info["cost"]`` holds constraint costs for constrained RL: ``energy_j`` and
    ``failed_requests``.

    ## Starting State

    Position, direction, hour, task (part-way through a session), LoS and blockage state,
    shadowing, cell and neighbour loads are drawn from their distributions; the store holds one
    random variant (that fits) of a random task; each (zone, task) full model is in the edge
    cache with ``initial_fill_prob``; battery full; nothing in flight; radio idle.

    ## Episode End

    * Termination: the battery is empty.
    * Truncation: after the scenario's ``max_episode_steps`` (also set as the registration's
      ``max_episode_steps``). A shorter episode with a consistent episode progress and energy
      price: the scenario override ``gymnasium.make("insitu/Custom-v1", scenario=...,
      max_episode_steps=N)`` is taken by Gymnasium as its time limit, so change the horizon in
      the scenario file. Stepping after the end warns.

    ## Arguments

    ```python
    import gymnasium as gym
    import envs  # registers the insitu/ ids
    env = gym.make("insitu/UrbanSmartphone-v1", action_mode="discrete", obs_mode="flat",
                   render_mode="ansi", channel__bandwidth_hz=200e6)
    env = gym.make("insitu/Custom-v1", scenario="my_scenario.yaml")
    ```

    * ``scenario``: shipped scenario name (``scenarios.available_scenarios()``) or a YAML path.
    * ``action_mode``: ``"multidiscrete"`` (default) or ``"discrete"``.
    * ``obs_mode``: ``"flat"`` (default) or ``"dict"``.
    * ``render_mode``: ``None``, ``"ansi"`` (text dashboard) or ``"rgb_array"`` (matplotlib frame).
    * any other keyword: a validated scenario override (``dt_s=0.5``,
      ``channel__carrier_hz=60e9``, ``device={"storage_bytes": 1e8}``).

    Extras beyond Gymnasium: ``action_masks()``, ``flat_action_mask()``, ``planning_view()``,
    ``one_step_rewards()``, ``n_actions``, ``action_to_flat(a)``, ``flat_to_action(i)``, ``sim``.

    ## Version History

    * v1: model store with prefetching, eviction and cancelling; progressive bit-plane
      downloads; semi-Markov tasks depending on zone and time of day; published ImageNet accuracy
      for reference models, stored vs on-the-fly variants, weight-only vs integer arithmetic;
      SINR with neighbour interference, fading averaged within a step, exact blockage with
      blocked fractions, fresh shadowing after handovers, RMa for rural macro cells; FIFO
      inference queue; memory and radio-tail energy, a battery priced per joule that
      terminates; new reward terms and costs.
    * v0: initial version (one model on board, current task only, per-step energy hinge).
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, scenario: str = "urban_smartphone", action_mode: str = "multidiscrete",
                 obs_mode: str = "flat", render_mode: str | None = None, **overrides: Any):
        if not isinstance(scenario, (str, Path)):
            raise TypeError(f"argument 'scenario' must be a scenario name or a path, got {scenario!r}")
        check_choice("action_mode", action_mode, ACTION_MODES)
        check_choice("obs_mode", obs_mode, OBS_MODES)
        check_choice("render_mode", render_mode, tuple(self.metadata["render_modes"]), none_ok=True)
        self.scenario, self.params = make_params(str(scenario), **overrides)
        self._ended = False
        self.action_mode, self.obs_mode, self.render_mode = action_mode, obs_mode, render_mode
        p = self.params
        self.sim = BatchSim(p, 1)
        self.n_actions = p.n_actions
        self.nvec = np.array(p.action_nvec, dtype=np.int64)
        self.action_space = action_space(p, action_mode)
        self.feature_names = self.sim.feature_names
        self._group_idx = group_index(self.feature_names)
        self.observation_space = observation_space(self.feature_names, obs_mode)
        self._info = InfoBuilder(p)
        self._mask: np.ndarray | None = None
        self._history: deque = deque(maxlen=200)
        self._last: dict[str, Any] | None = None
        self._ever_reset = False

    # ------------------------------------------------------------------ action encodings
    def action_to_flat(self, action) -> int:
        """Validate an action of this env's action space and return its flat index.

        Raises:
            ValueError: the action is outside the action space (the message says which component).
        """
        return check_action(action, self.action_mode, self.nvec, self.n_actions)

    def flat_to_action(self, i: int):
        """Flat index -> action of this env's action space (int in discrete mode)."""
        i = int(i)
        if not 0 <= i < self.n_actions:
            raise ValueError(f"flat action {i} outside 0 .. {self.n_actions - 1}")
        if self.action_mode == "discrete":
            return i
        return np.array(np.unravel_index(i, tuple(self.nvec)), dtype=np.int64)

    # ------------------------------------------------------------------ gymnasium API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        """Start an episode (see Starting State); ``options`` is accepted and unused."""
        super().reset(seed=seed)
        self.sim.reset_rows([0], [self.np_random])
        self._ended = False
        self._ever_reset = True
        self._history.clear()
        self._last = None
        self._mask = None
        m = self.flat_action_mask()
        info = {"action_mask": gym_mask(m, self.nvec, self.action_mode), "joint_action_mask": m,
                "task": int(self.sim.current_task()[0]), "energy_left_j": float(self.sim.state.dyn.energy_left_j[0])}
        return self._obs(), info

    def _obs(self):
        flat = self.sim.observe()[0]
        if self.obs_mode == "dict":
            return {g: flat[ix] for g, ix in self._group_idx.items()}
        return flat

    def step(self, action):
        """One decision epoch (see the class docstring)."""
        if not self._ever_reset:
            raise RuntimeError("call reset() before step()")
        a = self.action_to_flat(action)
        if self._ended:
            gym.logger.warn("step() called after the episode ended (terminated or truncated); call reset() first: "
                            "the simulation goes on, but its returns mean nothing")
        sim = self.sim
        res = sim.step(np.array([a]))
        self._ended = bool(res.terminated[0] or res.truncated[0])
        self._mask = None
        st = sim.state
        m = self.flat_action_mask()
        info = info_rows(self._info.step(res, st.invalid_count, st.dyn.energy_left_j, sim.current_task(),
                                         None, None))[0]
        info["action_mask"] = gym_mask(m, self.nvec, self.action_mode)
        info["joint_action_mask"] = m
        if self.render_mode is not None:
            self._record(a, res, info)
        return self._obs(), float(res.reward[0]), bool(res.terminated[0]), bool(res.truncated[0]), info

    # ------------------------------------------------------------------ extras
    def flat_action_mask(self) -> np.ndarray:
        """Joint mask over the flat actions: bool [n_actions] (a fresh array)."""
        if self._mask is None:
            self._mask = self.sim.action_masks()[0]
        return self._mask.copy()

    def action_masks(self) -> np.ndarray:
        """Masks for sb3-contrib MaskablePPO: the joint flat mask (discrete mode) or the
        concatenated per-component masks (multi-discrete mode; factored, see the docstring)."""
        m = self.flat_action_mask()
        if self.action_mode == "discrete":
            return m
        return component_masks(m, self.nvec)

    def planning_view(self) -> dict[str, np.ndarray]:
        """Per-flat-action estimates from observed quantities; see :meth:`envs.sim.BatchSim.planning_view`."""
        return self.sim.planning_view(0)

    def one_step_rewards(self) -> np.ndarray:
        """Reward each flat action would get on the true next step (no state or RNG change)."""
        return self.sim.one_step_rewards(0)

    # ------------------------------------------------------------------ rendering
    def _record(self, a: int, res, info: dict) -> None:
        sim = self.sim
        st = sim.state
        k = max(int(st.k[0]) - 1, 0)
        f = sim.exo.f[0, k]
        task = int(sim.current_task()[0])
        acc = float(info["accuracy"])
        self._last = {"t": int(st.t[0]), "action": np.unravel_index(a, tuple(self.nvec)),
                      "rate": float(f[E_RATE]), "rate_est": float(f[E_RATE_EST]), "sinr_db": float(f[E_SINR_DB]),
                      "hour": float(f[E_HOUR]), "zone": int(f[E_ZONE]), "task": task, "info": info,
                      "reward": float(res.reward[0]), "pending": bool(st.dyn.dl_active[0])}
        self._history.append((int(st.t[0]), float(f[E_RATE]), acc, info["energy_left_j"],
                              int(res.source_tier[0])))

    def render(self):
        """``"ansi"``: text dashboard of the last step; ``"rgb_array"``: a matplotlib frame."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'rgb_array'")
            return None
        if self.render_mode == "ansi":
            return self._render_ansi()
        return self._render_rgb()

    def _store_text(self) -> str:
        p, d = self.params, self.sim.state.dyn
        parts = []
        for k, t in enumerate(self.scenario.tasks):
            g = int(d.store_var[0, k])
            if g == p.no_model:
                continue
            pl = int(d.store_planes[0, k])
            parts.append(f"{t.name}: acc {p.var_plane_accuracy[g, pl - 1]:.3f} "
                         f"{p.var_size_bytes[g] / 1e6:.1f} MB {int(p.var_bits[g])}b"
                         f"{'i' if p.var_integer[g] else ''} {pl}/{int(p.var_planes[g])} planes")
        return "; ".join(parts) or "empty"

    def _render_ansi(self) -> str:
        L = self._last
        tasks = self.scenario.tasks
        if L is None:
            return (f"[{self.scenario.name}] episode start, task {tasks[int(self.sim.current_task()[0])].name}; "
                    f"store: {self._store_text()}\n")
        i = L["info"]
        s, k, e = L["action"]
        terms = " ".join(f"{n}={v:+.3f}" for n, v in i["reward_terms"].items())
        return (
            f"[{self.scenario.name}] t={L['t']:4d} hour={L['hour']:5.2f} zone={L['zone']} "
            f"task={tasks[L['task']].name}\n"
            f"  channel: SINR {L['sinr_db']:6.1f} dB  rate {L['rate'] / 1e6:10.2f} Mbit/s  "
            f"(estimate {L['rate_est'] / 1e6:10.2f})\n"
            f"  action: {SOURCES[int(s)]} task={tasks[int(k)].name} entry={int(e)}"
            f"{'  INVALID (keep)' if i['invalid_action'] else ''}  tier {i['source_tier']}"
            f"  {'downloading' if L['pending'] else ''}\n"
            f"  store: {self._store_text()}\n"
            f"  requests {i['requests']:.0f} served {i['served_requests']:.0f} accuracy {i['accuracy']:.3f}"
            f"  energy {i['energy_j']:.3f} J (left {i['energy_left_j']:.1f} J)\n"
            f"  reward {L['reward']:+.4f}: {terms}\n"
        )

    def _render_rgb(self) -> np.ndarray:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure

        fig = Figure(figsize=(6.4, 4.8), dpi=80)
        canvas = FigureCanvasAgg(fig)
        axs = fig.subplots(2, 2)
        h = np.array(self._history) if self._history else np.zeros((0, 5))
        t = h[:, 0] if len(h) else []
        axs[0, 0].semilogy(t, np.maximum(h[:, 1], 1.0) if len(h) else [], lw=1)
        axs[0, 0].set_title("air rate (bit/s)", fontsize=8)
        axs[0, 1].plot(t, h[:, 2] if len(h) else [], lw=1, drawstyle="steps-post")
        axs[0, 1].set_ylim(0, 1)
        axs[0, 1].set_title("accuracy of served requests", fontsize=8)
        axs[1, 0].plot(t, h[:, 3] if len(h) else [], lw=1)
        axs[1, 0].set_title("energy left (J)", fontsize=8)
        counts = np.bincount(h[:, 4].astype(int), minlength=4)[:4] if len(h) else np.zeros(4)
        axs[1, 1].bar(["none", "edge", "local", "central"], counts)
        axs[1, 1].set_title("downloads per tier", fontsize=8)
        for ax in axs.flat:
            ax.tick_params(labelsize=7)
        fig.suptitle(f"{self.scenario.name}  step {int(self.sim.state.t[0])}", fontsize=9)
        fig.tight_layout()
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()

    def close(self):
        """Nothing to release (matplotlib figures are not kept)."""
        self._history.clear()
