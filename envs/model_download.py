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
    make_params,
    observation_space,
)
from envs.sim import BatchSim
from envs.sim.exogenous import E_HOUR, E_RATE, E_RATE_EST, E_SNR_DB, E_ZONE
from envs.sim.params import SOURCES


class ModelDownloadEnv(gym.Env):
    r"""In-situ model downloading for one edge device in a 6G network.

    ## Description

    An edge device (smartphone, XR glasses, IoT sensor, vehicle, drone) serves inference requests
    of the application (task) it is currently running. Tasks switch as a Markov chain (day/night
    matrices), the device moves through cells and zones, and its downlink follows 3GPP TR 38.901
    path loss, LoS/NLoS, shadowing, time-correlated fading, blockage and cell load. Every step
    (``dt_s`` seconds) the agent decides whether to keep the on-board model or to download a
    model for the current task from the edge cache, the local or the central library tier, and
    how much to compress it (depth, parameter, bit level). A download first takes its round trips
    and the tier's on-the-fly compression time, then moves its bytes at each step's true rate
    ``min(air rate, backhaul)``, possibly over several steps; the old model keeps serving until
    the new one has fully arrived (in-situ replacement). Variants come from library profiles
    (``compression/profiles``): real measured models (IoT) or reference-scale architectures.
    Model: Huang et al., "In-situ Model Downloading to Realize Versatile Edge AI in 6G Mobile
    Networks", IEEE Wireless Communications 2023. Full system model: ``docs/model.md`` and
    :mod:`envs.sim`.

    ## Action Space

    ``MultiDiscrete([4, n_depth, n_prune, n_bits])`` (``action_mode="multidiscrete"``), or
    ``Discrete(n_actions)`` with ``n_actions = 4 * n_depth * n_prune * n_bits`` and
    ``a = np.ravel_multi_index((source, depth, prune, bits), (4, n_depth, n_prune, n_bits))``
    (``action_mode="discrete"``).

    | Component | Values | Meaning |
    |-----------|--------|---------|
    | source | 0 keep, 1 edge, 2 local, 3 central | where to download from (keep: no download; the other components are then ignored) |
    | depth | 0 .. n_depth-1 | depth level index into the task's profile (blocks kept; last = full depth) |
    | prune | 0 .. n_prune-1 | parameter level (profile order: none, structured 25/50/75 %, unstructured 25/50/75/90 %) |
    | bits | 0 .. n_bits-1 | bit-width level (profile order: 32, 16, 8, 6, 4, 2) |

    Valid actions (``action_masks()``, ``info["action_mask"]``): keep is always valid; a
    download is invalid if the variant does not exist in the task's profile, does not fit the
    device's model storage, a download is already in flight, or the tier lacks the model and the
    scenario does not let requests fall through to the next tier. An invalid action is executed
    as a *keep* (no-op) and penalised by the ``invalid_action`` term; it is counted in
    ``info["invalid_actions"]``. An action outside the action space raises ``ValueError``.

    ## Observation Space

    ``Box(-1, 1, (obs_dim,), float32)`` with ``obs_dim = K + 43`` for K tasks
    (``obs_mode="flat"``), or a ``Dict`` of the five groups below (``obs_mode="dict"``).
    ``env.unwrapped.feature_names`` lists (group, name) per index, in the order of this table
    (rows in table order; a row naming several features expands in the order given). log is log10.

    | Group | Feature | Unit / normalisation | Range |
    |-------|---------|----------------------|-------|
    | device | class one-hot (smartphone, xr_glasses, iot_sensor, vehicle, drone) | 0/1 | [0, 1] |
    | device | compute | (log(MAC/s) - 9) / 6 | [-1, 1] |
    | device | storage | (log(bytes) - 3) / 10 | [0, 1] |
    | device | rx_power | log(1 + W) / 3 | [0, 1] |
    | context | task one-hot (K entries) | 0/1 | [0, 1] |
    | context | request_rate | log(1 + requests/s of the task) / 4 | [0, 1] |
    | context | latency_budget | (log(s) + 4) / 5, inference budget of the task | [0, 1] |
    | context | download_deadline | (log(s) + 4) / 5 | [0, 1] |
    | context | zone | zone index / (n_zones - 1) | [0, 1] |
    | context | handover | 1 if the serving cell changed this step | [0, 1] |
    | context | hour_sin, hour_cos | sin/cos(2 pi hour / 24) | [-1, 1] |
    | context | day | 1 in day hours | [0, 1] |
    | channel | snr_est | estimated SNR in dB / 50 (delayed, noisy) | [-1, 1] |
    | channel | rate_est, rate_est_prev1, rate_est_prev2 | log(bit/s) / 11, now and 1, 2 steps before | [0, 1] |
    | channel | blocked | 1 if the link was blocked (delayed) | [0, 1] |
    | channel | bandwidth_share | 1 / (1 + other users) (delayed) | [0, 1] |
    | channel | distance | 2D distance to the serving site / inter-site distance | [0, 1] |
    | library | local_has_task | the zone's local tier holds the task's model | [0, 1] |
    | library | rtt_edge, rtt_local, rtt_central | (log(s + 1e-4) + 4) / 4 | [0, 1] |
    | library | backhaul_edge, backhaul_local, backhaul_central | log(bit/s) / 11 | [0, 1] |
    | device | energy_left | J left / episode budget (stops at 0: terminated) | [0, 1] |
    | context | episode_progress | step / horizon | [0, 1] |
    | model | has_model, task_match | on-board model exists / is for the current task | [0, 1] |
    | model | accuracy | on-board model's accuracy | [0, 1] |
    | model | size_fraction | on-board model's bytes / storage | [0, 1] |
    | model | bits | bit width / 32 | [0, 1] |
    | model | latency_ok | its inference latency meets its task's budget | [0, 1] |
    | model | download_pending | a download is in flight | [0, 1] |
    | model | download_remaining | bytes still to arrive / model storage | [0, 1] |
    | model | pending_task_match, pending_accuracy | of the model in flight | [0, 1] |
    | library | edge_has_task | the current zone's edge cache holds the task's model | [0, 1] |

    ## Rewards

    The reward is the sum of weighted named terms (weights in the scenario's ``reward:``
    section); ``info["reward_terms"]`` holds each signed, weighted term:

    * ``accuracy`` (+): accuracy summed over this step's requests (0 for a failed request:
      wrong-task or no model, or inference over budget), per expected request of the task.
    * ``latency_violation`` (-): requests whose inference latency exceeded the task's budget,
      per expected request.
    * ``deadline_miss`` (-): 1 if a download started this step exceeds the download deadline.
    * ``energy`` (-): energy beyond the per-step allowance (budget / horizon), in allowances.
    * ``backhaul`` (-): bytes over the backhaul (local/central downloads, edge cache fills) per
      full model size.
    * ``invalid_action`` (-): 1 for an invalid action.

    ``info["cost"]`` holds constraint costs (>= 0) for constrained RL: ``latency_violation``
    (requests), ``deadline_miss`` (0/1), ``energy_over_budget_j`` (J beyond the allowance),
    ``invalid_action`` (0/1).

    ## Starting State

    Position along the route, direction, hour (within the scenario's range), task, LoS and
    blockage state, fading and shadowing are drawn from their distributions; the device holds a
    random variant (that fits its storage) of a random task; each (zone, task) model is in the
    edge cache with ``initial_fill_prob`` (up to capacity); energy is full; no download in flight.

    ## Episode End

    * Termination: the energy budget is spent (energy left <= 0).
    * Truncation: after the scenario's ``max_episode_steps`` (the env sets ``truncated`` itself, and
      the registered ids also carry it as ``max_episode_steps``). ``gym.make(id,
      max_episode_steps=N)`` can shorten an episode; a longer horizon needs a scenario file with a
      larger ``max_episode_steps`` (``insitu/Custom-v0``).

    ## Arguments

    ```python
    import gymnasium as gym
    import envs  # registers the insitu/ ids
    env = gym.make("insitu/UrbanSmartphone-v0", action_mode="discrete", obs_mode="flat",
                   render_mode="ansi", dt_s=0.5, channel__bandwidth_hz=200e6)
    env = gym.make("insitu/Custom-v0", scenario="my_scenario.yaml")
    ```

    * ``scenario``: shipped scenario name (``scenarios.available_scenarios()``) or a YAML path.
    * ``action_mode``: ``"multidiscrete"`` (default) or ``"discrete"``.
    * ``obs_mode``: ``"flat"`` (default) or ``"dict"``.
    * ``render_mode``: ``None``, ``"ansi"`` (text dashboard) or ``"rgb_array"`` (matplotlib frame).
    * any other keyword: a validated scenario override (``dt_s=0.5``,
      ``channel__carrier_hz=60e9``, ``device={"storage_bytes": 1e8}``).

    Extras beyond Gymnasium: ``action_masks()``, ``flat_action_mask()``, ``planning_view()``,
    ``one_step_rewards()``, ``n_actions``, ``action_to_flat(a)``, ``flat_to_action(i)``.

    ## Version History

    * v0: initial version.
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
        self.action_mode, self.obs_mode, self.render_mode = action_mode, obs_mode, render_mode
        p = self.params
        self.sim = BatchSim(p, 1)
        self.n_actions = p.n_actions
        self.nvec = np.array(p.action_nvec, dtype=np.int64)
        self.action_space = action_space(p, action_mode)
        self.feature_names = self.sim.feature_names
        self._group_idx = group_index(self.feature_names)
        self.observation_space = observation_space(self.feature_names, obs_mode)
        self._levels = [p.variant_levels(v) for v in range(p.n_variants)]
        self._info = InfoBuilder(p)
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
        self._ever_reset = True
        self._history.clear()
        self._last = None
        obs = self._obs()
        info = {"action_mask": self.sim.action_mask_row(0), "task": int(self.sim.exo.ci[0, 0, 0]),
                "energy_left_j": float(self.sim.state.dyn.energy_left_j[0])}
        return obs, info

    def _obs(self):
        flat = self.sim.observe_row(0)
        if self.obs_mode == "dict":
            return {g: flat[ix] for g, ix in self._group_idx.items()}
        return flat

    def step(self, action):
        """One decision epoch (see the class docstring)."""
        if not self._ever_reset:
            raise RuntimeError("call reset() before step()")
        a = self.action_to_flat(action)
        sim = self.sim
        rs = sim.step_row(0, a)
        st = sim.state
        info = self._info.step(rs, int(st.invalid_count[0]), float(st.dyn.energy_left_j[0]),
                               sim.action_mask_row(0))
        if self.render_mode is not None:
            self._record(a, rs, info)
        return self._obs(), float(rs.reward), bool(rs.terminated), bool(rs.truncated), info

    # ------------------------------------------------------------------ extras
    def flat_action_mask(self) -> np.ndarray:
        """Joint mask over the flat actions: bool [n_actions]."""
        return self.sim.action_mask_row(0)

    def action_masks(self) -> np.ndarray:
        """Masks for sb3-contrib MaskablePPO.

        Discrete mode: the joint flat mask. Multi-discrete mode: the concatenated per-component
        masks (length 4 + n_depth + n_prune + n_bits): value x of a component is allowed if some
        valid joint action has it (component masks cannot express every joint constraint; a
        combination that is invalid jointly is handled as a penalised no-op).
        """
        m = self.sim.action_mask_row(0)
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
    def _record(self, a: int, rs, info: dict) -> None:
        sim = self.sim
        st = sim.state
        k = int(st.k[0]) - 1 if int(st.k[0]) > 0 else 0
        f = sim.exo.f[0, k]
        mi = int(st.dyn.model[0])
        m, v = divmod(mi, sim.V)
        onboard = (self.scenario.tasks[m].name if m < sim.K else "none",
                   self._levels[v] if m < sim.K else None,
                   float(self.params.accuracy[m, v]) if m < sim.K else 0.0)
        self._last = {"t": int(st.t[0]), "action": np.unravel_index(a, tuple(self.nvec)),
                      "rate": float(f[E_RATE]), "rate_est": float(f[E_RATE_EST]),
                      "snr_db": float(f[E_SNR_DB]), "hour": float(f[E_HOUR]), "zone": int(f[E_ZONE]),
                      "onboard": onboard, "info": info, "reward": float(rs.reward),
                      "pending": bool(st.dyn.pending[0] > 0)}
        self._history.append((int(st.t[0]), float(f[E_RATE]), onboard[2], info["energy_left_j"],
                              rs.source_tier))

    def render(self):
        """``"ansi"``: text dashboard of the last step; ``"rgb_array"``: a matplotlib frame."""
        if self.render_mode is None:
            gym.logger.warn("render() called without a render_mode; pass render_mode='ansi' or 'rgb_array'")
            return None
        if self.render_mode == "ansi":
            return self._render_ansi()
        return self._render_rgb()

    def _render_ansi(self) -> str:
        L = self._last
        if L is None:
            return f"[{self.scenario.name}] episode start, task {self.scenario.tasks[int(self.sim.exo.ci[0, 0, 0])].name}\n"
        i = L["info"]
        src = SOURCES[int(L["action"][0])]
        name, lv, acc = L["onboard"]
        terms = " ".join(f"{k}={v:+.3f}" for k, v in i["reward_terms"].items())
        return (
            f"[{self.scenario.name}] t={L['t']:4d} hour={L['hour']:5.2f} zone={L['zone']} "
            f"task={self.scenario.tasks[int(self.sim.current_task()[0])].name}\n"
            f"  channel: SNR {L['snr_db']:6.1f} dB  rate {L['rate'] / 1e6:10.2f} Mbit/s  "
            f"(estimate {L['rate_est'] / 1e6:10.2f})\n"
            f"  action: {src} depth={L['action'][1]} prune={L['action'][2]} bits={L['action'][3]}"
            f"{'  INVALID (no-op)' if i['invalid_action'] else ''}\n"
            f"  download: {i['bytes_downloaded'] / 1e6:.3f} MB via {i['source_tier']}  latency {i['latency_s'] * 1e3:.2f} ms"
            f"  {'in flight' if L['pending'] else ''}\n"
            f"  on board: {name} {lv} accuracy {acc:.3f}\n"
            f"  requests {i['requests']:.0f} served {i['served_requests']:.2f} accuracy {i['accuracy']:.3f}"
            f"  energy {i['energy_j']:.4f} J (left {i['energy_left_j']:.2f} J)\n"
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
        axs[0, 1].set_title("on-board model accuracy", fontsize=8)
        axs[1, 0].plot(t, h[:, 3] if len(h) else [], lw=1)
        axs[1, 0].set_title("energy left (J)", fontsize=8)
        counts = np.bincount(h[:, 4].astype(int), minlength=4)[:4] if len(h) else np.zeros(4)
        axs[1, 1].bar(SOURCES, counts)
        axs[1, 1].set_title("tier usage", fontsize=8)
        for ax in axs.flat:
            ax.tick_params(labelsize=7)
        fig.suptitle(f"{self.scenario.name}  step {int(self.sim.state.t[0])}", fontsize=9)
        fig.tight_layout()
        canvas.draw()
        return np.asarray(canvas.buffer_rgba())[:, :, :3].copy()

    def close(self):
        """Nothing to release (matplotlib figures are not kept)."""
        self._history.clear()
