"""Many devices in one cell: a PettingZoo ``ParallelEnv`` over the same simulation core.

``envs.parallel_env(scenario=..., n_devices=N, scheduler="equal" | "proportional_fair",
device_classes=None | [device overrides, ...])`` returns :class:`MultiDeviceEnv`. Each device is
one row of a :class:`envs.sim.cell.CellSim` (the batched core :class:`envs.sim.BatchSim` plus
coupling inputs); devices of different classes are rows of different ``CellSim`` objects (one
per class) that share the cell. Nothing of the physics is re-implemented here: channel, tasks,
requests, downloads, in-situ replacement, energy and reward are the core's.

What the devices share (per zone = serving base station; with ``mobility.n_zones = 1`` every
device is in the one cell):

* **air interface**: the devices whose downloads are active in a step (starting now or still in
  flight) divide the cell's time-frequency resources for that step: device i moves its bytes at
  the share ``w_i`` of its own achievable rate (the core's 38.901 rate of the step, which already
  includes the scenario's background load), re-decided every step by the ``equal`` or the
  ``proportional_fair`` scheduler (:func:`envs.sim.cell.air_shares`; the proportional-fair
  average :func:`envs.sim.cell.pf_average` has time constant ``t_c`` =
  ``pf_time_constant_steps``, default 10 steps: *assumption*; Jalali et al. use 1000 slots of
  1.67 ms = 1.67 s).
* **backhaul**: downloads served by the same tier (edge, local, central) in the same zone in the
  same step share that tier's backhaul equally (:func:`envs.sim.cell.backhaul_shares`).
* **edge cache**: one LRU cache per zone for all devices: a download through the edge by one
  device fills it (over the backhaul) and later edge downloads of that model by any device hit.

Observation of each device: the single env's flat observation (``envs.ModelDownloadEnv``,
``obs_mode="flat"``) plus one feature, ``cell_load`` = downloads active in the device's zone in
the previous step / n_devices, in [0, 1]. Action and reward per device: as in the single env.
A device whose energy is spent terminates and leaves ``env.agents``; all truncate at the horizon.

Seeding: ``reset(seed=s)`` draws one ``numpy.random.SeedSequence(s)``, and device i's generator
from its i-th spawned child; ``reset()`` without a seed spawns fresh children from the same
sequence, so a seeded run is reproducible reset after reset. The shared edge cache starts from
the initial fill drawn by the last device reset.
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from envs.adapter import (
    ACTION_MODES,
    InfoBuilder,
    check_action,
    check_choice,
    gym_mask,
    info_rows,
    make_params,
)
from envs.adapter import action_space as make_action_space
from envs.sim.cell import (
    AT_TIER,
    SCHEDULERS,
    CellSim,
    air_shares,
    backhaul_shares,
    pf_average,
)
from scenarios.loader import DEVICE_CLASSES

#: Default number of devices when neither the argument nor the scenario's ``cell`` section says.
DEFAULT_N_DEVICES = 4


def parallel_env(scenario: str = "urban_smartphone", n_devices: int | None = None,
                 scheduler: str | None = None, device_classes: list | None = None,
                 **kwargs: Any) -> MultiDeviceEnv:
    """Build the multi-device env (PettingZoo ``ParallelEnv``); see :class:`MultiDeviceEnv`."""
    return MultiDeviceEnv(scenario=scenario, n_devices=n_devices, scheduler=scheduler,
                          device_classes=device_classes, **kwargs)


def _cell_defaults(sc) -> tuple[int | None, str | None, float | None, list]:
    """(n_devices, scheduler, pf time constant, device mix) of the scenario's ``cell`` section."""
    cell = getattr(sc, "cell", None)
    if cell is None:
        return None, None, None, []
    mix = [(float(m.share), _asdict(m.device)) for m in cell.device_mix]
    return int(cell.n_devices), str(cell.scheduler), float(cell.pf_time_constant_steps), mix


def _asdict(obj) -> dict[str, Any]:
    import dataclasses

    return dataclasses.asdict(obj)


def expand_mix(mix: list[tuple[float, dict]], n: int) -> list[dict]:
    """Device specs of ``n`` devices from ``(share, spec)`` pairs: counts by largest remainder
    (ties to the earlier entry), devices of one entry consecutive, in entry order."""
    shares = np.array([s for s, _ in mix], dtype=float)
    raw = shares / shares.sum() * n
    counts = np.floor(raw).astype(int)
    rest = n - int(counts.sum())
    order = sorted(range(len(mix)), key=lambda i: (-(raw[i] - counts[i]), i))
    for i in order[:rest]:
        counts[i] += 1
    out: list[dict] = []
    for (_, spec), c in zip(mix, counts):
        out += [dict(spec)] * int(c)
    return out


class MultiDeviceEnv(ParallelEnv):
    """N devices sharing one cell (bandwidth, backhaul, edge cache); PettingZoo ``ParallelEnv``.

    See the module docstring for the sharing model, observations and seeding.

    Args:
        scenario: shipped scenario name or YAML path (as for :class:`envs.ModelDownloadEnv`).
        n_devices: devices in the cell (default: the scenario's ``cell.n_devices``, else 4).
        scheduler: ``"equal"`` or ``"proportional_fair"`` (default: the scenario's
            ``cell.scheduler``, else equal).
        device_classes: ``None`` (the scenario's ``cell.device_mix``, else every device is the
            scenario's ``device``) or a list of ``n_devices`` device-section overrides, e.g.
            ``[{"device_class": "xr_glasses", "storage_bytes": 2e7}, ...]``, each merged onto
            the scenario's ``device`` section and validated by the scenario loader.
        action_mode: ``"multidiscrete"`` (default) or ``"discrete"``, as in the single env.
        pf_time_constant_steps: ``t_c`` of the proportional-fair average (default: the
            scenario's ``cell.pf_time_constant_steps``, else 10).
        render_mode: ``None`` or ``"ansi"`` (one line per device).
        **overrides: validated scenario overrides, as for the single env.

    Agents are ``"device_0" .. "device_{N-1}"``. Extras: ``action_mask(agent)`` (joint flat
    mask), ``device_class(agent)``, ``edge_cache()`` (the shared cache, per zone and task).
    """

    metadata = {"name": "insitu_multi_device_v1", "render_modes": ["ansi"], "is_parallelizable": True}

    def __init__(self, scenario: str = "urban_smartphone", n_devices: int | None = None,
                 scheduler: str | None = None, device_classes: list | None = None,
                 action_mode: str = "multidiscrete", pf_time_constant_steps: float | None = None,
                 render_mode: str | None = None, **overrides: Any):
        base_sc, base_p = make_params(str(scenario), **overrides)
        c_n, c_sched, c_tc, c_mix = _cell_defaults(base_sc)
        n = n_devices if n_devices is not None else (c_n or DEFAULT_N_DEVICES)
        if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 1:
            raise ValueError(f"argument 'n_devices' = {n_devices!r} not allowed; allowed: an integer >= 1")
        sched = scheduler if scheduler is not None else (c_sched or "equal")
        if sched not in SCHEDULERS:
            raise ValueError(f"argument 'scheduler' = {scheduler!r} not allowed; allowed: {SCHEDULERS}")
        check_choice("action_mode", action_mode, ACTION_MODES)
        tc = pf_time_constant_steps if pf_time_constant_steps is not None else (c_tc or 10.0)
        if isinstance(tc, bool) or not isinstance(tc, (int, float)) or not tc >= 1.0:
            raise ValueError(f"argument 'pf_time_constant_steps' = {pf_time_constant_steps!r} not allowed; "
                             "allowed: a number >= 1")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"argument 'render_mode' = {render_mode!r} not allowed; allowed: None or 'ansi'")
        n = int(n)
        if device_classes is None:
            specs = expand_mix(c_mix, n) if c_mix else [{}] * n
        else:
            if not isinstance(device_classes, (list, tuple)) or len(device_classes) != n:
                raise ValueError(f"argument 'device_classes' must be a list of {n} device-section "
                                 f"overrides (one per device), got {device_classes!r}")
            specs = []
            for i, s in enumerate(device_classes):
                if isinstance(s, str):
                    if s not in DEVICE_CLASSES:
                        raise ValueError(f"argument 'device_classes[{i}]' = {s!r} not allowed; allowed: a "
                                         f"mapping of device keys, or a class name in {DEVICE_CLASSES}")
                    s = {"device_class": s}
                if not isinstance(s, dict):
                    raise ValueError(f"argument 'device_classes[{i}]' = {s!r} must be a mapping of "
                                     "device-section keys (device_class, storage_bytes, ...)")
                specs.append(dict(s))
        self.scenario, self.params = base_sc, base_p
        self.n_devices, self.scheduler, self.pf_tc = n, sched, float(tc)
        self.action_mode, self.render_mode = action_mode, render_mode

        # one CellSim per distinct device spec, rows = that spec's devices (in device order)
        groups: dict[str, list[int]] = {}
        for i, s in enumerate(specs):
            groups.setdefault(json.dumps(s, sort_keys=True), []).append(i)
        self.sims: list[CellSim] = []
        self._devs: list[np.ndarray] = []
        self.dev_sim = np.zeros(n, dtype=np.int64)
        self.dev_row = np.zeros(n, dtype=np.int64)
        self._class_names: list[str] = [""] * n
        for key, devs in groups.items():
            spec = json.loads(key)
            if spec:
                kw = dict(overrides)
                kw["device"] = {**dict(kw.get("device") or {}), **spec}
                sc_g, p_g = make_params(str(scenario), **kw)
            else:
                sc_g, p_g = base_sc, base_p
            if (p_g.grid != base_p.grid or p_g.n_tasks != base_p.n_tasks
                    or not np.array_equal(p_g.full_size_bytes, base_p.full_size_bytes)):
                raise ValueError(f"device_classes entry {spec!r}: devices of one cell must share the "
                                 "scenario's tasks and library profiles")
            g = len(self.sims)
            self.sims.append(CellSim(p_g, len(devs)))
            self._devs.append(np.asarray(devs, dtype=np.int64))
            for r, i in enumerate(devs):
                self.dev_sim[i], self.dev_row[i] = g, r
                self._class_names[i] = sc_g.device.device_class
        s0 = self.sims[0]
        self.n_zones = base_sc.mobility.n_zones
        self._edge_present = np.zeros(s0.zk)
        self._edge_lastuse = np.full(s0.zk, -np.inf)
        for sim in self.sims:
            sim.share_edge_cache(self._edge_present, self._edge_lastuse)

        self.possible_agents = [f"device_{i}" for i in range(n)]
        self.agent_name_mapping = {a: i for i, a in enumerate(self.possible_agents)}
        self.agents: list[str] = []
        self.n_actions = base_p.n_actions
        self.nvec = np.array(base_p.action_nvec, dtype=np.int64)
        self.obs_dim = s0.obs_dim + 1
        self.feature_names = list(s0.feature_names) + [("channel", "cell_load")]
        self._obs_space = spaces.Box(-1.0, 1.0, (self.obs_dim,), dtype=np.float32)
        self._act_space = make_action_space(base_p, action_mode)
        self._info = InfoBuilder(base_p)
        self._ss: np.random.SeedSequence | None = None
        self.alive = np.zeros(n, dtype=bool)
        self.pf_avg = np.ones(n)
        self.load = np.zeros(n)
        self._last: dict[str, Any] | None = None

    # ------------------------------------------------------------------ spaces
    def observation_space(self, agent: str) -> spaces.Box:
        """Box(-1, 1, (obs_dim,)): the single env's flat observation plus ``cell_load`` (the same
        object for every agent and call, as PettingZoo requires)."""
        self._check_agent(agent)
        return self._obs_space

    def action_space(self, agent: str) -> spaces.Space:
        """MultiDiscrete([6, K, M]) or Discrete(n_actions), as the single env."""
        self._check_agent(agent)
        return self._act_space

    def _check_agent(self, agent: str) -> int:
        i = self.agent_name_mapping.get(agent)
        if i is None:
            raise KeyError(f"unknown agent {agent!r}; agents are device_0 .. device_{self.n_devices - 1}")
        return i

    # ------------------------------------------------------------------ helpers
    def _gather(self, get) -> np.ndarray:
        """Device-ordered array from a per-sim function returning [B_g] arrays."""
        out = np.empty(self.n_devices)
        for sim, devs in zip(self.sims, self._devs):
            out[devs] = get(sim)
        return out

    def _observe(self) -> np.ndarray:
        out = np.empty((self.n_devices, self.obs_dim), dtype=np.float32)
        for sim, devs in zip(self.sims, self._devs):
            out[devs, :-1] = sim.observe()
        out[:, -1] = self.load
        return out

    def _masks(self) -> np.ndarray:
        out = np.empty((self.n_devices, self.n_actions), dtype=bool)
        for sim, devs in zip(self.sims, self._devs):
            out[devs] = sim.action_masks()
        return out

    def action_mask(self, agent: str) -> np.ndarray:
        """Joint flat action mask of ``agent``: bool [n_actions]."""
        i = self._check_agent(agent)
        return self.sims[self.dev_sim[i]].action_masks()[int(self.dev_row[i])]

    def device_class(self, agent: str) -> str:
        """Device class name of ``agent``."""
        return self._class_names[self._check_agent(agent)]

    def edge_cache(self) -> np.ndarray:
        """The shared edge cache: bool [n_zones, n_tasks] (a copy)."""
        return self._edge_present.reshape(self.n_zones, -1) > 0

    def _to_flat(self, agent: str, action) -> int:
        return check_action(action, self.action_mode, self.nvec, self.n_actions, who=agent)

    # ------------------------------------------------------------------ PettingZoo API
    def reset(self, seed: int | None = None, options: dict | None = None):
        """Start an episode for every device (see the module docstring for seeding)."""
        if seed is not None:
            self._ss = np.random.SeedSequence(int(seed))
        elif self._ss is None:
            self._ss = np.random.SeedSequence()
        rngs = [np.random.default_rng(c) for c in self._ss.spawn(self.n_devices)]
        for sim, devs in zip(self.sims, self._devs):
            sim.reset_rows(np.arange(len(devs)), [rngs[i] for i in devs])
        self.agents = list(self.possible_agents)
        self.alive[:] = True
        self.pf_avg = self._gather(lambda s: s.true_rates_bps())
        self.load[:] = 0.0
        self._last = None
        obs = self._observe()
        masks = self._masks()
        observations = {a: obs[i] for i, a in enumerate(self.possible_agents)}
        tasks = self._gather(lambda s: s.current_task()).astype(int).tolist()
        infos = {a: {"action_mask": gym_mask(masks[i], self.nvec, self.action_mode), "joint_action_mask": masks[i],
                     "device_class": self._class_names[i], "task": tasks[i]}
                 for i, a in enumerate(self.possible_agents)}
        return observations, infos

    def step(self, actions: dict[str, Any]):
        """One decision epoch for every live device (actions: agent -> action)."""
        if not self.agents:
            raise RuntimeError("no live agents: call reset() first (the episode has ended or not started)")
        missing = [a for a in self.agents if a not in actions]
        extra = [a for a in actions if a not in self.agents]
        if missing or extra:
            raise ValueError(f"step() needs one action per live agent: missing {missing}, not live {extra}")
        n = self.n_devices
        flat = np.zeros(n, dtype=np.int64)
        for a in self.agents:
            flat[self.agent_name_mapping[a]] = self._to_flat(a, actions[a])
        alive = self.alive.copy()

        # who downloads from which tier, at which rate, in which zone (before the step)
        is_dl = np.zeros(n, dtype=bool)
        tier = np.zeros(n)
        rate = np.empty(n)
        zone = np.empty(n, dtype=np.int64)
        inflight = np.empty(n, dtype=bool)
        for sim, devs in zip(self.sims, self._devs):
            rows = sim.action_rows(flat[devs])
            is_dl[devs] = sim.starts_download(flat[devs])
            tier[devs] = np.where(sim.state.dyn.dl_active, sim.state.dyn.dl_tier, rows[:, AT_TIER])
            rate[devs] = sim.true_rates_bps()
            zone[devs] = sim.zones()
            inflight[devs] = sim.state.dyn.dl_active
        is_dl &= alive
        inflight &= alive
        active = is_dl | inflight
        counts = np.bincount(zone[active], minlength=self.n_zones).astype(float)
        any_dl = bool(is_dl.any())
        any_active = bool(active.any())
        rate_share = air_shares(self.scheduler, active, zone, rate, self.pf_avg, self.n_zones)
        bh_share = backhaul_shares(active, zone, tier, self.n_zones)

        # every device acts on the cache as it was at the start of the step (simultaneous moves)
        edge_before = self._edge_present.copy() if len(self.sims) > 1 and any_dl else None
        results = []
        for sim, devs in zip(self.sims, self._devs):
            if any_active:
                results.append(sim.step(flat[devs], rate_share=rate_share[devs], backhaul_share=bh_share[devs],
                                        edge_before=edge_before))
            else:  # no download active: no sharing, nothing touches the edge cache
                results.append(sim.step(flat[devs]))

        # scheduler and load state for the next step
        if self.scheduler == "proportional_fair":
            self.pf_avg = pf_average(self.pf_avg, rate, self.pf_tc)
        self.load = np.minimum(counts[zone] / n, 1.0)

        obs = self._observe()
        masks = self._masks()
        observations, rewards, terms, truncs, infos = {}, {}, {}, {}, {}
        for (sim, devs), res in zip(zip(self.sims, self._devs), results):
            st = sim.state
            rows = info_rows(self._info.step(res, st.invalid_count, st.dyn.energy_left_j, sim.current_task(),
                                             None, None))
            rew, term, trunc = res.reward.tolist(), res.terminated.tolist(), res.truncated.tolist()
            for r, i in enumerate(devs.tolist()):
                agent = self.possible_agents[i]
                if not alive[i]:
                    continue
                observations[agent] = obs[i]
                rewards[agent] = float(rew[r])
                terms[agent] = bool(term[r])
                truncs[agent] = bool(trunc[r])
                info = rows[r]
                info["action_mask"] = gym_mask(masks[i], self.nvec, self.action_mode)
                info["joint_action_mask"] = masks[i]
                info.update(rate_share=float(rate_share[i]), backhaul_share=float(bh_share[i]),
                            cell_load=float(self.load[i]), device_class=self._class_names[i])
                infos[agent] = info
        if self.render_mode is not None:
            self._last = {"infos": infos, "rewards": rewards}
        self.agents = [a for a in self.agents if not (terms[a] or truncs[a])]
        for a in self.possible_agents:
            if a in terms and (terms[a] or truncs[a]):
                self.alive[self.agent_name_mapping[a]] = False
        return observations, rewards, terms, truncs, infos

    def render(self):
        """``"ansi"``: one line per device of the last step (None without a render mode)."""
        if self.render_mode is None:
            return None
        if self._last is None:
            return f"[{self.scenario.name}] {self.n_devices} devices, {self.scheduler} scheduler: episode start\n"
        lines = [f"[{self.scenario.name}] t={int(self.sims[0].state.t[0])} {self.scheduler} scheduler, "
                 f"edge cache {int(self._edge_present.sum())} models"]
        for a, info in self._last["infos"].items():
            lines.append(f"  {a:>10} {info['device_class']:<10} {info['source_tier']:<7} "
                         f"share {info['rate_share']:.2f} bh {info['backhaul_share']:.2f} "
                         f"lat {info['download_latency_s'] * 1e3:8.2f} ms acc {info['accuracy']:.3f} "
                         f"reward {self._last['rewards'][a]:+.3f}")
        return "\n".join(lines) + "\n"

    def close(self):
        """Nothing to release."""
        self._last = None
