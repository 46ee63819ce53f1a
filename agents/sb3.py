"""Stable-Baselines3 training: algorithm factory, YAML hyperparameters, vector envs, callbacks.

- :func:`load_hyperparams` reads ``agents/hyperparams/{algo}.yaml`` (rl-zoo style: a ``default``
  section plus per-scenario sections that override single keys) and validates every key.
- :func:`make_vec_env` is the ONE place that builds the training vector env: the native batched
  env (:mod:`envs.sb3_vec`) by default from 4 envs on, SB3 ``DummyVecEnv`` of ``Monitor``-wrapped
  envs below that, with ``vec="dummy"``, or for ids without the native vector entry point.
- :func:`train` runs one training run, set up by a :class:`TrainConfig`, into its own run folder
  ``{logdir}/{scenario}__{algo}__{seed}__{time}`` (:mod:`agents.runs`) with TensorBoard logging
  (SB3's curves plus the per-episode metrics of :mod:`agents.metrics`), periodic checkpoints, a
  final save, and a save on Ctrl-C (SIGINT): model, replay buffer (DQN) and ``VecNormalize``
  statistics. ``resume=RUN_DIR`` continues a saved run in a NEW folder, keeping the timestep count.
"""

from __future__ import annotations

import contextlib
import inspect
import os
import signal
import threading
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from sb3_contrib import MaskablePPO
from stable_baselines3 import DQN, PPO
from stable_baselines3.common.callbacks import BaseCallback, CallbackList, CheckpointCallback
from stable_baselines3.common.logger import TensorBoardOutputFormat, configure
from stable_baselines3.common.monitor import Monitor
from stable_baselines3.common.vec_env import DummyVecEnv, VecEnv, VecNormalize

from agents.common import (
    ALGO_ACTION_MODE,
    DEFAULT_SCENARIO,
    make_env,
    merge_hyperparam_sections,
    scenario_env_id,
)
from agents.metrics import EpisodeAccumulator, hparams_markdown, log_episode
from agents.runs import (
    RunError,
    check_logdir,
    finish_meta,
    new_meta,
    read_meta,
    run_name,
    unique_run_dir,
    write_meta,
)

#: Algorithm name (``--algo``) -> class.
ALGOS = {"ppo": PPO, "dqn": DQN, "maskable_ppo": MaskablePPO}
#: Folder of the hyperparameter files.
HYPERPARAMS_DIR = Path(__file__).resolve().parent / "hyperparams"
#: Keys of a hyperparameter section that are not constructor arguments of the algorithm.
SPECIAL_KEYS = {
    "policy": "policy class name (MlpPolicy)",
    "n_envs": "number of parallel envs (int >= 1)",
    "n_timesteps": "default training budget in env steps (int >= 1)",
    "normalize": "VecNormalize: false, true, or a mapping of VecNormalize kwargs",
}
_ACTIVATIONS = ("tanh", "relu", "elu", "leaky_relu")


class HyperparamError(ValueError):
    """A hyperparameter file with an unknown key or a bad value; names file, section and key."""


#: Allowed values of the numeric SB3 constructor arguments: (type, low, high, low excluded).
#: Ranges are those under which the algorithms are defined (a rate, a discount, a probability,
#: a count); SB3 itself checks few of them, and late, deep inside ``learn()``.
HP_RANGES: dict[str, tuple[type, float, float, bool]] = {
    "learning_rate": (float, 0.0, 1.0, True), "gamma": (float, 0.0, 1.0, True),
    "gae_lambda": (float, 0.0, 1.0, False), "clip_range": (float, 0.0, 10.0, True),
    "ent_coef": (float, 0.0, 10.0, False), "vf_coef": (float, 0.0, 10.0, False),
    "max_grad_norm": (float, 0.0, 1e6, True), "n_steps": (int, 1, 1e9, False),
    "batch_size": (int, 2, 1e9, False), "n_epochs": (int, 1, 1e6, False),
    "buffer_size": (int, 1, 1e10, False), "learning_starts": (int, 0, 1e10, False),
    "tau": (float, 0.0, 1.0, True), "target_update_interval": (int, 1, 1e10, False),
    "exploration_fraction": (float, 0.0, 1.0, False), "exploration_initial_eps": (float, 0.0, 1.0, False),
    "exploration_final_eps": (float, 0.0, 1.0, False),
}


def _check_hp_value(path: Path, section: str, key: str, value: Any) -> None:
    if key not in HP_RANGES:
        return
    kind, lo, hi, lo_open = HP_RANGES[key]
    ok_type = isinstance(value, int if kind is int else (int, float)) and not isinstance(value, bool)
    if not ok_type or (value <= lo if lo_open else value < lo) or value > hi:
        raise HyperparamError(
            f"hyperparameter file {path}, section {section!r}, key {key!r}: value {value!r} is not allowed; "
            f"allowed: {'an integer' if kind is int else 'a number'} in {'(' if lo_open else '['}{lo:g}, {hi:g}]")


def _algo_params(algo: str) -> set[str]:
    sig = inspect.signature(ALGOS[algo].__init__)
    return {p for p in sig.parameters if p not in ("self", "env", "policy", "kwargs")}


def load_hyperparams(algo: str, scenario: str, path: str | Path | None = None) -> dict[str, Any]:
    """Hyperparameters of ``algo`` for ``scenario``: the ``default`` section updated with the
    scenario's own section (if any).

    Raises:
        HyperparamError: unknown algorithm, missing ``default``, unknown key or bad value, naming
            the file, the section and the key.
    """
    if algo not in ALGOS:
        raise HyperparamError(f"--algo {algo!r} is not supported; allowed: {', '.join(ALGOS)}")
    path = Path(path) if path else HYPERPARAMS_DIR / f"{algo}.yaml"
    allowed = _algo_params(algo) | set(SPECIAL_KEYS)
    merged = merge_hyperparam_sections(path, scenario, allowed, HyperparamError,
                                       check=lambda section, key, value: _check_hp_value(path, section, key, value))
    for key in ("n_envs", "n_timesteps"):
        if key in merged and (not isinstance(merged[key], int) or merged[key] < 1):
            raise HyperparamError(f"hyperparameter file {path}: {key} must be an int >= 1, got {merged[key]!r}")
    pk = merged.get("policy_kwargs")
    if pk is not None:
        if not isinstance(pk, dict):
            raise HyperparamError(f"hyperparameter file {path}: policy_kwargs must be a mapping, got {pk!r}")
        act = pk.get("activation_fn")
        if act is not None and act not in _ACTIVATIONS:
            raise HyperparamError(
                f"hyperparameter file {path}: policy_kwargs.activation_fn {act!r}; allowed: {_ACTIVATIONS}")
    return merged


def _algo_kwargs(hp: dict[str, Any]) -> dict[str, Any]:
    """Constructor kwargs from a hyperparameter section (special keys removed, names resolved)."""
    import torch.nn as nn

    kwargs = {k: v for k, v in hp.items() if k not in SPECIAL_KEYS}
    pk = dict(kwargs.get("policy_kwargs") or {})
    if "activation_fn" in pk:
        pk["activation_fn"] = {"tanh": nn.Tanh, "relu": nn.ReLU, "elu": nn.ELU,
                               "leaky_relu": nn.LeakyReLU}[pk["activation_fn"]]
    if pk:
        kwargs["policy_kwargs"] = pk
    if isinstance(kwargs.get("train_freq"), list):
        kwargs["train_freq"] = tuple(kwargs["train_freq"])
    return kwargs


#: Training vector-env implementations (``make_vec_env(vec=...)``).
VEC_KINDS = ("auto", "native", "dummy")
#: ``vec="auto"`` uses the native batched env from this many envs on: below it SB3's DummyVecEnv
#: of single envs steps faster (their Python-scalar path against the batch machinery's fixed cost
#: per step), with the same trajectories (the crossover is measured in BENCHMARKS.md, Vector env).
NATIVE_MIN_ENVS = 4


def make_vec_env(scenario: str, n_envs: int, seed: int, algo: str,
                 env_kwargs: dict[str, Any] | None = None, vec: str = "auto") -> VecEnv:
    """The training vector env for ``algo`` on ``scenario``: ``n_envs`` copies, env ``i`` seeded
    with ``seed + i`` at the first reset, with episode statistics (``info["episode"]``) for SB3's
    ``rollout/ep_rew_mean``. The action mode follows :data:`agents.common.ALGO_ACTION_MODE`.

    ``vec="native"``: one batched simulation behind SB3's ``VecEnv`` API
    (:class:`envs.sb3_vec.InsituSB3VecEnv` in ``VecMonitor``), for every id registered with the
    native vector entry point; other ids (test doubles) fall back to ``DummyVecEnv``.
    ``vec="dummy"``: SB3 ``DummyVecEnv`` of ``Monitor``-wrapped single envs (same trajectories).
    ``vec="auto"`` (default): native from :data:`NATIVE_MIN_ENVS` envs on, dummy below.

    This is the single construction point for training envs.
    """
    if n_envs < 1:
        raise ValueError(f"--n-envs must be >= 1, got {n_envs}")
    if vec not in VEC_KINDS:
        raise ValueError(f"vec={vec!r} not allowed; allowed: {VEC_KINDS}")
    mode = ALGO_ACTION_MODE[algo]
    kwargs = dict(env_kwargs or {})
    if vec == "auto":
        vec = "native" if n_envs >= NATIVE_MIN_ENVS else "dummy"
    if vec == "native":
        import gymnasium as gym

        env_id, extra = scenario_env_id(scenario)
        spec = gym.spec(env_id)
        if spec.vector_entry_point in ("envs.vector:InsituVectorEnv", "envs.vector:make_custom_vec"):
            from stable_baselines3.common.vec_env import VecMonitor

            from envs.sb3_vec import InsituSB3VecEnv

            venv = VecMonitor(InsituSB3VecEnv(n_envs, action_mode=mode, max_episode_steps=spec.max_episode_steps,
                                              **{**spec.kwargs, **extra, **kwargs}))
            venv.seed(seed)
            return venv

    def thunk():
        return Monitor(make_env(scenario, action_mode=mode, **kwargs))

    venv = DummyVecEnv([thunk for _ in range(n_envs)])
    venv.seed(seed)
    return venv


class EpisodeMetricsCallback(BaseCallback):
    """Logs the per-episode metrics of :mod:`agents.metrics` (accuracy, failed/no-model/late
    rates, energy, downloads, bytes, tier shares, reward terms, depth/prune/bits histograms) to
    the run's TensorBoard file at the training timestep where each episode ended, plus the
    hyperparameter table."""

    def __init__(self, hparams: dict[str, Any]):
        super().__init__()
        self.hparams = hparams
        self.writer = None
        self.accs: list[EpisodeAccumulator] = []
        self.episodes = 0

    def _on_training_start(self) -> None:
        for fmt in self.logger.output_formats:
            if isinstance(fmt, TensorBoardOutputFormat):
                self.writer = fmt.writer
        if self.writer is not None:
            self.writer.add_text("hyperparameters", hparams_markdown(self.hparams), self.num_timesteps)
        self.accs = [EpisodeAccumulator() for _ in range(self.training_env.num_envs)]

    def _on_step(self) -> bool:
        infos = self.locals["infos"]
        rewards = self.locals["rewards"]
        dones = self.locals["dones"]
        for i, info in enumerate(infos):
            self.accs[i].add(float(rewards[i]), info)
            if dones[i]:
                stats = self.accs[i].result()
                if "episode" in info:  # Monitor's raw return (independent of reward scaling)
                    stats.ret = float(info["episode"]["r"])
                if self.writer is not None:
                    log_episode(self.writer, stats, self.num_timesteps)
                self.episodes += 1
                self.accs[i] = EpisodeAccumulator()
        return True


class RichProgressCallback(BaseCallback):
    """A rich progress bar over the run's timesteps (SB3's own needs tqdm, not installed)."""

    def __init__(self, total_timesteps: int, description: str):
        super().__init__()
        self.total = total_timesteps
        self.description = description
        self.progress = None

    def _on_training_start(self) -> None:
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        self.progress = Progress(TextColumn("[bold]train {task.description}"), BarColumn(),
                                 MofNCompleteColumn(), TimeElapsedColumn(), TimeRemainingColumn())
        self.progress.start()
        self.task = self.progress.add_task(self.description, total=self.total,
                                           completed=self.model.num_timesteps)

    def _on_step(self) -> bool:
        self.progress.update(self.task, completed=self.num_timesteps)
        return True

    def _on_training_end(self) -> None:
        if self.progress is not None:  # PPO rounds up to whole rollouts: let the bar end at 100 %
            self.progress.update(self.task, total=max(self.total, self.num_timesteps),
                                 completed=self.num_timesteps)
            self.progress.stop()


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """Settings of one SB3 training run: ``train(TrainConfig(algo="dqn", scenario=..., ...))``.

    Values are validated on construction (ValueError naming the ``train.py train`` option).
    ``dataclasses.replace(config, seed=1)`` derives a variant.
    """

    algo: str = "ppo"
    """algorithm: ``ppo``, ``dqn`` or ``maskable_ppo``"""
    scenario: str = DEFAULT_SCENARIO
    """scenario name, YAML path or registered env id (with ``resume``: the resumed run's)"""
    timesteps: int | None = None
    """total env steps (None: the YAML ``n_timesteps``); with ``resume`` the total including the
    steps already done (None: the resumed run's total)"""
    seed: int = 0
    """seed of the model and of env ``i`` (``seed + i``); with ``resume``: the resumed run's"""
    n_envs: int | None = None
    """parallel envs (None: the YAML ``n_envs``, or the resumed run's)"""
    logdir: str | Path = "runs"
    """parent folder of run folders"""
    resume: str | Path | None = None
    """a previous run folder: its model, VecNormalize statistics and replay buffer are loaded and
    training continues (``reset_num_timesteps=False``) in a new run folder"""
    hyperparams_path: str | Path | None = None
    """hyperparameter YAML file (None: ``agents/hyperparams/{algo}.yaml``)"""
    checkpoint_freq: int = 10_000
    """env steps between checkpoints (under ``checkpoints/``)"""
    threads: int = 1
    """``torch.set_num_threads`` value (1: small MLPs, shared CPUs)"""
    progress_bar: bool = True
    """show the rich progress bar"""
    env_kwargs: dict[str, Any] | None = None
    """extra env keyword arguments (validated by the env); with ``resume``: the resumed run's if None"""
    verbose: int = 0
    """SB3 verbosity"""
    vec: str = "auto"
    """training vector env: ``auto``, ``native`` (batched) or ``dummy`` (see :func:`make_vec_env`)"""

    def __post_init__(self) -> None:
        if self.algo not in ALGOS:
            raise HyperparamError(f"--algo {self.algo!r} is not supported; allowed: {', '.join(ALGOS)}")
        for option, value in (("--timesteps", self.timesteps), ("--n-envs", self.n_envs),
                              ("--checkpoint-freq", self.checkpoint_freq), ("--threads", self.threads)):
            if value is not None and value < 1:
                raise ValueError(f"{option} must be >= 1, got {value}")
        if self.vec not in VEC_KINDS:
            raise ValueError(f"vec={self.vec!r} not allowed; allowed: {VEC_KINDS}")


def _save_run(model, venv: VecEnv, run_dir: Path, meta: dict[str, Any], status: str, wall_s: float) -> None:
    """Save model, replay buffer (off-policy), VecNormalize stats and the updated meta.json."""
    model.save(str(run_dir / "model.zip"))
    if hasattr(model, "replay_buffer") and model.replay_buffer is not None:
        model.save_replay_buffer(str(run_dir / "replay_buffer.pkl"))
    if isinstance(venv, VecNormalize):
        venv.save(str(run_dir / "vecnormalize.pkl"))
    finish_meta(run_dir, meta, status, model.num_timesteps, wall_s)


def _resolve(config: TrainConfig) -> tuple[TrainConfig, dict[str, Any] | None]:
    """With ``resume``: the config completed from the resumed run's ``meta.json``, and that meta."""
    if config.resume is None:
        return config, None
    try:
        prev = read_meta(config.resume)
    except FileNotFoundError as exc:
        raise FileNotFoundError(f"--resume {exc}") from None
    if prev["algo"] != config.algo:
        raise RunError(f"--resume {str(config.resume)!r} is a {prev['algo']} run, not {config.algo}")
    return replace(config, scenario=prev["scenario"], seed=prev["seed"],
                   n_envs=config.n_envs or prev["n_envs"],
                   env_kwargs=config.env_kwargs or prev.get("env_kwargs") or None), prev


def train(config: TrainConfig | str | None = None, scenario: str | None = None, /, *,
          callbacks: list[BaseCallback] | None = None, **settings: Any) -> Path:
    """Train as ``config`` says into a new run folder and return the folder.

    Two spellings: ``train(TrainConfig(...))``, or the keyword form ``train(algo, scenario,
    timesteps=..., seed=..., ...)`` whose keywords are the fields of :class:`TrainConfig`
    (``algo`` and ``scenario`` may also be given by keyword; any other keyword is a TypeError).

    Args:
        config: the run's settings (or, in the keyword form, the algorithm).
        scenario: the scenario, in the keyword form only.
        callbacks: extra SB3 callbacks, run after the built-in ones.
        settings: the other :class:`TrainConfig` fields, in the keyword form only.

    The run folder ``{logdir}/{scenario}__{algo}__{seed}__{time}`` holds ``meta.json``
    (:mod:`agents.runs`), TensorBoard and CSV logs, ``checkpoints/``, ``model.zip``,
    ``vecnormalize.pkl`` (with normalisation) and ``replay_buffer.pkl`` (DQN).

    On Ctrl-C the run is saved (status ``interrupted`` in ``meta.json``) and KeyboardInterrupt
    is re-raised: the first Ctrl-C stops training at the next env step (:class:`StopOnSigint`),
    a second one at once.
    """
    if isinstance(config, TrainConfig):
        if scenario is not None or settings:
            raise TypeError("train(config) takes no other settings; use dataclasses.replace(config, ...)")
    else:
        for key, value in (("algo", config), ("scenario", scenario)):
            if value is not None:
                if key in settings:
                    raise TypeError(f"train() got {key!r} both by position and by keyword")
                settings[key] = value
        config = TrainConfig(**settings)
    import torch

    torch.set_num_threads(config.threads)
    cfg, prev_meta = _resolve(config)
    algo, scenario, seed, resume = cfg.algo, cfg.scenario, cfg.seed, cfg.resume
    hp = load_hyperparams(algo, scenario, cfg.hyperparams_path)
    n_envs = int(cfg.n_envs or hp.get("n_envs", 1))
    timesteps = cfg.timesteps
    if timesteps is None:
        timesteps = int(prev_meta["total_timesteps"] if prev_meta else hp.get("n_timesteps", 100_000))
    if prev_meta is not None and timesteps <= int(prev_meta["num_timesteps"]):
        raise RunError(f"--resume {str(resume)!r}: --timesteps {timesteps} is not above the "
                       f"{prev_meta['num_timesteps']} steps the run has done; allowed: a total above "
                       f"{prev_meta['num_timesteps']} (--timesteps is the run's total, not the steps to add)")
    check_logdir(cfg.logdir)

    venv = make_vec_env(scenario, n_envs, seed, algo, cfg.env_kwargs, vec=cfg.vec)
    norm = hp.get("normalize", False)
    if resume is not None and (Path(resume) / "vecnormalize.pkl").is_file():
        venv = VecNormalize.load(str(Path(resume) / "vecnormalize.pkl"), venv)
        venv.training = True
    elif norm:
        venv = VecNormalize(venv, **({"norm_reward": False} | (norm if isinstance(norm, dict) else {})))

    if resume is not None:
        model = ALGOS[algo].load(str(Path(resume) / "model.zip"), env=venv, device="cpu")
        rb = Path(resume) / "replay_buffer.pkl"
        if rb.is_file() and hasattr(model, "load_replay_buffer"):
            model.load_replay_buffer(str(rb))
    else:
        model = ALGOS[algo](hp.get("policy", "MlpPolicy"), venv, seed=seed, device="cpu",
                            verbose=cfg.verbose, **_algo_kwargs(hp))
    run_dir = unique_run_dir(cfg.logdir, run_name(scenario, algo, seed))  # once nothing can fail
    model.set_logger(configure(str(run_dir), ["tensorboard", "csv"]))
    start = int(model.num_timesteps)
    meta = new_meta(backend="sb3", algo=algo, scenario=scenario, seed=seed, total_timesteps=timesteps,
                    hyperparams=hp, env_kwargs=cfg.env_kwargs, num_timesteps=start,
                    n_envs=n_envs, action_mode=ALGO_ACTION_MODE[algo], start_timesteps=start,
                    resumed_from=str(resume) if resume is not None else None,
                    torch_threads=cfg.threads)
    write_meta(run_dir, meta)
    hparams = {"algo": algo, "scenario": scenario, "seed": seed, "n_envs": n_envs,
               "total_timesteps": timesteps, **{k: v for k, v in hp.items()}}
    all_callbacks: list[BaseCallback] = [
        EpisodeMetricsCallback(hparams),
        CheckpointCallback(save_freq=max(cfg.checkpoint_freq // n_envs, 1), save_path=str(run_dir / "checkpoints"),
                           name_prefix="model", save_replay_buffer=True, save_vecnormalize=True),
    ]
    if cfg.progress_bar:
        all_callbacks.append(RichProgressCallback(timesteps, run_dir.name))
    all_callbacks += list(callbacks or [])
    remaining = max(int(timesteps) - start, 0)
    stopper = StopOnSigint()
    t0 = time.perf_counter()
    try:
        if remaining > 0:
            with stopper.installed():
                model.learn(total_timesteps=remaining, callback=CallbackList([stopper, *all_callbacks]),
                            reset_num_timesteps=resume is None)
        if stopper.requested:  # the first Ctrl-C: learn() stopped at the next step
            raise KeyboardInterrupt
    except KeyboardInterrupt:
        _save_run(model, venv, run_dir, meta, "interrupted", time.perf_counter() - t0)
        print(f"\ninterrupted at {model.num_timesteps} steps; saved to {run_dir} "
              f"(continue with: python train.py train --algo {algo} --resume {run_dir})")
        raise
    finally:
        for fmt in model.logger.output_formats:
            fmt.close()
    _save_run(model, venv, run_dir, meta, "finished", time.perf_counter() - t0)
    venv.close()
    return run_dir


class StopOnSigint(BaseCallback):
    """Ctrl-C (SIGINT) during ``learn()`` stops training at the next env step instead of raising
    ``KeyboardInterrupt`` wherever the main thread happens to be (inside a checkpoint's zip
    write or the TensorBoard writer's locks, which an exception can leave half done); a second
    Ctrl-C raises ``KeyboardInterrupt`` at once. The handler is only installed in the main thread
    (``signal.signal`` works there only) and only while :meth:`installed` is active.
    """

    def __init__(self) -> None:
        super().__init__()
        self.requested = False

    def _handler(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        print("\nCtrl-C: stopping at the next step and saving (Ctrl-C again to stop at once)", flush=True)

    @contextlib.contextmanager
    def installed(self):
        """Context in which SIGINT is handled as described above (the previous handler after)."""
        if threading.current_thread() is not threading.main_thread():
            yield self
            return
        previous = signal.signal(signal.SIGINT, self._handler)
        try:
            yield self
        finally:
            signal.signal(signal.SIGINT, previous)

    def _on_step(self) -> bool:
        return not self.requested


def default_threads() -> int:
    """Torch threads: ``INSITU_TORCH_THREADS`` if set, else 1."""
    return int(os.environ.get("INSITU_TORCH_THREADS", "1"))
