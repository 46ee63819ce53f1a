"""Distributed training with Ray RLlib's PPO (new API stack: RLModule, Learner, EnvRunner).

Optional backend: ``pip install -e .[rllib]`` (Ray pins gymnasium 1.2.x). Entry points:

- :func:`build_config` builds the :class:`~ray.rllib.algorithms.ppo.PPOConfig` for a scenario,
  on the single-device env (:class:`envs.ModelDownloadEnv`, one RLlib agent) or, with
  ``multi_device=N``, on the PettingZoo multi-device env (:func:`envs.parallel_env`, wrapped by
  RLlib's ``ParallelPettingZooEnv``) with ONE policy (``"shared"``) shared by every device.
- :func:`train_rllib` runs the training loop into a run folder
  ``{logdir}/{scenario}__rllib_ppo__{seed}__{time}`` (``...__rllib_ppo_multi{N}__...`` for the
  multi-device env): TensorBoard scalars of every iteration's result dict (episode return,
  learner losses, throughput) plus the per-episode metrics of :mod:`agents.metrics`
  (``episode/accuracy``, ``episode/failed_rate``, ``episode/energy_j``, ``episode/air_mb``,
  ``episode/downloads``, ``episode/tier_share/<tier>``, ...; the same tags as the SB3
  path) computed by :class:`InsituMetricsCallback` inside the env runners; periodic checkpoints
  (``algo.save``) under ``checkpoints/``, the final one under ``checkpoint/``, and a save on
  Ctrl-C; ``meta.json`` with the settings (the schema of :mod:`agents.runs`).
- ``address``: ``None`` starts a local Ray instance (``ray.init(num_cpus=..., include_dashboard=
  False)``); ``"ray://HEAD:10001"`` (Ray Client) or ``"auto"`` joins an existing cluster, whose
  nodes need this package installed (``pip install -e .[rllib]`` on every node).

``torch.set_num_threads(1)`` in the driver and in every env runner (small MLPs, shared CPUs).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

try:
    import ray
    from ray.rllib.algorithms.ppo import PPOConfig
    from ray.rllib.callbacks.callbacks import RLlibCallback
    from ray.tune.registry import register_env
except ImportError as exc:  # pragma: no cover - exercised only without the extra
    raise ImportError(
        "the RLlib backend needs Ray RLlib, which is an optional extra: pip install -e .[rllib] "
        f"(import failed: {exc})") from exc

from agents.common import merge_hyperparam_sections
from agents.metrics import EpisodeAccumulator
from agents.runs import finish_meta, new_meta, run_name, unique_run_dir, write_meta

#: Names under which the env creators are registered with Ray Tune's registry.
SINGLE_ENV_NAME = "insitu_single"
MULTI_ENV_NAME = "insitu_multi_device"
#: Module id of the policy every device shares in the multi-device env.
SHARED_POLICY = "shared"
#: Hyperparameter file (rl-zoo style: ``default`` + per-scenario sections).
HYPERPARAMS_PATH = Path(__file__).resolve().parent / "hyperparams" / "rllib_ppo.yaml"
#: Allowed hyperparameter keys -> what they mean (validation messages list them).
HYPERPARAM_KEYS = {
    "n_timesteps": "default training budget in env steps (int >= 1)",
    "lr": "learning rate (float > 0)",
    "gamma": "discount factor (0 < gamma <= 1)",
    "lambda_": "GAE lambda (0 <= lambda_ <= 1)",
    "clip_param": "PPO clip range (float > 0)",
    "entropy_coeff": "entropy bonus coefficient (float >= 0)",
    "vf_loss_coeff": "value loss coefficient (float >= 0)",
    "num_epochs": "epochs per update (int >= 1)",
    "minibatch_size": "minibatch size (int >= 1)",
    "train_batch_size_per_learner": "env steps per update (int >= 1)",
    "rollout_fragment_length": "'auto' or steps per env runner per sample call (int >= 1)",
    "num_envs_per_env_runner": "envs each env runner steps as one vector env (int >= 1)",
    "fcnet_hiddens": "hidden layer sizes (list of ints >= 1)",
    "fcnet_activation": "tanh, relu, elu or linear",
}


class RLlibSetupError(ValueError):
    """Bad RLlib settings (hyperparameter file key/value, runner count, address)."""


# --------------------------------------------------------------------------- env creators
def _threads_one() -> None:
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    try:
        import torch

        torch.set_num_threads(1)
    except ImportError:  # pragma: no cover - torch is a base dependency
        pass


def make_single_env(env_config: dict[str, Any]):
    """RLlib env creator: ``envs.ModelDownloadEnv(scenario=..., **env_kwargs)``."""
    _threads_one()
    import envs

    cfg = dict(env_config)
    return envs.ModelDownloadEnv(scenario=cfg.pop("scenario"), **cfg.pop("env_kwargs", {}))


def make_multi_env(env_config: dict[str, Any]):
    """RLlib env creator: the PettingZoo multi-device env in RLlib's ``ParallelPettingZooEnv``."""
    _threads_one()
    from ray.rllib.env.wrappers.pettingzoo_env import ParallelPettingZooEnv

    from envs.multi_device import parallel_env

    cfg = dict(env_config)
    par = parallel_env(scenario=cfg.pop("scenario"), n_devices=int(cfg.pop("n_devices")),
                            **cfg.pop("env_kwargs", {}))
    return ParallelPettingZooEnv(par)


def register_envs() -> None:
    """Register both env creators with Ray Tune's registry (idempotent)."""
    register_env(SINGLE_ENV_NAME, make_single_env)
    register_env(MULTI_ENV_NAME, make_multi_env)


# --------------------------------------------------------------------------- metrics
def _chunk_stats(acc: EpisodeAccumulator, chunk) -> None:
    """Feed one (single-agent) episode chunk to ``acc``: reward t pairs with info t + 1."""
    rewards = list(chunk.get_rewards())
    infos = list(chunk.get_infos())
    for r, info in zip(rewards, infos[1:]):
        if isinstance(info, dict) and "requests" in info:
            acc.add(float(r), info)


def episode_stats(episode, prev_chunks=None) -> list:
    """Per-agent :class:`agents.metrics.EpisodeStats` of a finished RLlib episode.

    ``episode`` is a ``SingleAgentEpisode`` or a ``MultiAgentEpisode`` (one stats object per
    agent); ``prev_chunks`` are the earlier chunks of the same episode (RLlib cuts episodes at
    sample boundaries).
    """
    chunks = list(prev_chunks or []) + [episode]
    if hasattr(episode, "agent_episodes"):
        accs: dict[Any, EpisodeAccumulator] = {}
        for ch in chunks:
            for aid, sa in ch.agent_episodes.items():
                _chunk_stats(accs.setdefault(aid, EpisodeAccumulator()), sa)
        return [a.result() for _, a in sorted(accs.items(), key=lambda kv: str(kv[0]))]
    acc = EpisodeAccumulator()
    for ch in chunks:
        _chunk_stats(acc, ch)
    return [acc.result()]


class InsituMetricsCallback(RLlibCallback):
    """Logs the project's per-episode metrics (:mod:`agents.metrics`) from the env's infos.

    Runs inside the env runners: at each episode end the metrics (mean over the devices for the
    multi-device env) go to the runner's ``MetricsLogger`` under ``insitu/<metric>`` (mean over
    the iteration's episodes), so they appear in ``result["env_runners"]["insitu/..."]`` and
    :func:`train_rllib` writes them to TensorBoard as ``episode/<metric>``.
    """

    def on_episode_end(self, *, episode, prev_episode_chunks=None, metrics_logger=None, **kwargs) -> None:
        """Compute and log the finished episode's metrics."""
        if metrics_logger is None:
            return
        stats = episode_stats(episode, prev_episode_chunks)
        stats = [s for s in stats if s.length > 0]
        if not stats:
            return
        keys = stats[0].scalars().keys()
        for key in keys:
            value = sum(s.scalars().get(key, 0.0) for s in stats) / len(stats)
            metrics_logger.log_value(f"insitu/{key}", float(value), reduce="mean")


# --------------------------------------------------------------------------- config
def load_rllib_hyperparams(scenario: str, path: str | Path | None = None) -> dict[str, Any]:
    """The ``default`` section of the RLlib PPO file updated with the scenario's section.

    Raises:
        RLlibSetupError: unknown key or bad value, naming the file, section and key.
    """
    path = Path(path) if path else HYPERPARAMS_PATH
    return merge_hyperparam_sections(path, scenario, HYPERPARAM_KEYS, RLlibSetupError,
                                     check=lambda section, key, value: _check_value(path, section, key, value))


def _check_value(path: Path, section: str, key: str, value: Any) -> None:
    where = f"hyperparameter file {path}, section {section!r}, key {key!r}"
    ints = {"n_timesteps", "num_epochs", "minibatch_size", "train_batch_size_per_learner",
            "num_envs_per_env_runner"}
    if key in ints and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise RLlibSetupError(f"{where}: {value!r} is not allowed ({HYPERPARAM_KEYS[key]})")
    if key == "rollout_fragment_length" and value != "auto" and (
            not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise RLlibSetupError(f"{where}: {value!r} is not allowed ({HYPERPARAM_KEYS[key]})")
    if key in {"lr", "clip_param"} and not (isinstance(value, (int, float)) and value > 0):
        raise RLlibSetupError(f"{where}: {value!r} is not allowed ({HYPERPARAM_KEYS[key]})")
    if key in {"entropy_coeff", "vf_loss_coeff"} and not (isinstance(value, (int, float)) and value >= 0):
        raise RLlibSetupError(f"{where}: {value!r} is not allowed ({HYPERPARAM_KEYS[key]})")
    if key == "gamma" and not (isinstance(value, (int, float)) and 0 < value <= 1):
        raise RLlibSetupError(f"{where}: {value!r} is not allowed ({HYPERPARAM_KEYS[key]})")
    if key == "lambda_" and not (isinstance(value, (int, float)) and 0 <= value <= 1):
        raise RLlibSetupError(f"{where}: {value!r} is not allowed ({HYPERPARAM_KEYS[key]})")
    if key == "fcnet_hiddens" and not (isinstance(value, list) and value and all(
            isinstance(v, int) and not isinstance(v, bool) and v >= 1 for v in value)):
        raise RLlibSetupError(f"{where}: {value!r} is not allowed ({HYPERPARAM_KEYS[key]})")
    if key == "fcnet_activation" and value not in ("tanh", "relu", "elu", "linear"):
        raise RLlibSetupError(f"{where}: {value!r} is not allowed ({HYPERPARAM_KEYS[key]})")


def build_config(scenario: str, *, multi_device: int | None = None, num_env_runners: int = 0,
                 seed: int = 0, hyperparams: dict[str, Any] | None = None,
                 env_kwargs: dict[str, Any] | None = None) -> PPOConfig:
    """PPO config (new API stack) for ``scenario``.

    Args:
        scenario: scenario name or YAML path.
        multi_device: ``None`` for the single-device env; N >= 1 for the multi-device env with N
            devices and one shared policy.
        num_env_runners: remote env runners (0: sample in the driver process).
        seed: seed of the algorithm (env runner ``i`` seeds its envs from it).
        hyperparams: keys of :data:`HYPERPARAM_KEYS` (default: the file's values).
        env_kwargs: extra keyword arguments of the env (scenario overrides; for the multi-device
            env also ``scheduler``, ``device_classes``).
    """
    if not isinstance(num_env_runners, int) or num_env_runners < 0:
        raise RLlibSetupError(f"--num-env-runners must be an integer >= 0, got {num_env_runners!r}")
    if multi_device is not None and (not isinstance(multi_device, int) or multi_device < 1):
        raise RLlibSetupError(f"--multi-device must be an integer >= 1, got {multi_device!r}")
    hp = dict(load_rllib_hyperparams(scenario)) if hyperparams is None else dict(hyperparams)
    register_envs()
    env_config: dict[str, Any] = {"scenario": str(scenario), "env_kwargs": dict(env_kwargs or {})}
    model_config = {"fcnet_hiddens": list(hp.get("fcnet_hiddens", [64, 64])),
                    "fcnet_activation": hp.get("fcnet_activation", "tanh")}
    cfg = PPOConfig()
    if multi_device is None:
        cfg = cfg.environment(SINGLE_ENV_NAME, env_config=env_config)
        cfg = cfg.rl_module(model_config=model_config)
    else:
        from ray.rllib.core.rl_module.multi_rl_module import MultiRLModuleSpec
        from ray.rllib.core.rl_module.rl_module import RLModuleSpec

        env_config["n_devices"] = int(multi_device)
        cfg = cfg.environment(MULTI_ENV_NAME, env_config=env_config)
        cfg = cfg.multi_agent(policies={SHARED_POLICY}, policy_mapping_fn=_shared_policy)
        cfg = cfg.rl_module(rl_module_spec=MultiRLModuleSpec(
            rl_module_specs={SHARED_POLICY: RLModuleSpec(model_config=model_config)}))
    cfg = cfg.env_runners(num_env_runners=num_env_runners,
                          rollout_fragment_length=hp.get("rollout_fragment_length", "auto"),
                          num_envs_per_env_runner=int(hp.get("num_envs_per_env_runner", 1)),
                          num_cpus_per_env_runner=1)
    training = {k: hp[k] for k in ("lr", "gamma", "lambda_", "clip_param", "entropy_coeff",
                                   "vf_loss_coeff", "num_epochs", "minibatch_size",
                                   "train_batch_size_per_learner") if k in hp}
    cfg = cfg.training(**training)
    cfg = cfg.callbacks(InsituMetricsCallback)
    cfg = cfg.debugging(seed=int(seed), log_level="ERROR")
    return cfg


def _shared_policy(agent_id, episode=None, **kwargs) -> str:
    """Every device maps to the one shared policy."""
    return SHARED_POLICY


# --------------------------------------------------------------------------- ray session
def init_ray(address: str | None = None, num_env_runners: int = 0) -> None:
    """Connect to ``address`` (``ray://HOST:10001``, ``auto``, ``HOST:6379``) or start Ray locally.

    Locally Ray gets ``max(2, num_env_runners + 1)`` logical CPUs (one per env runner plus the
    driver, which holds the learner), no dashboard, and quiet logs.
    """
    if address is not None and not (address == "auto" or address.startswith("ray://") or ":" in address):
        raise RLlibSetupError(f"--address {address!r} is not a Ray address; use ray://HEAD:10001 "
                              "(Ray Client), HEAD:6379 or auto")
    if ray.is_initialized():
        return
    env_vars = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    if address:
        ray.init(address=address, runtime_env={"env_vars": env_vars}, log_to_driver=False)
        return
    ray.init(num_cpus=max(2, num_env_runners + 1), include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": env_vars}, configure_logging=False)


# --------------------------------------------------------------------------- training loop
def _flatten(prefix: str, d: dict[str, Any], out: dict[str, float]) -> None:
    for k, v in d.items():
        key = f"{prefix}/{k}" if prefix else str(k)
        if isinstance(v, dict):
            _flatten(key, v, out)
        else:
            try:
                f = float(v)
            except (TypeError, ValueError):
                continue
            if f == f:  # skip NaN
                out[key] = f


def result_scalars(result: dict[str, Any]) -> dict[str, float]:
    """TensorBoard scalars of one ``algo.train()`` result.

    ``rllib/episode_return_mean`` and ``rllib/episode_len_mean``; ``episode/<metric>`` for the
    project's metrics (from ``env_runners/insitu/<metric>``); ``learner/<module>/<name>`` for the
    learner stats (losses, entropy, KL); ``rllib/env_steps_per_s`` (sampled env steps over the
    iteration's wall time); connector timers are left out.
    """
    out: dict[str, float] = {}
    er = result.get("env_runners", {}) or {}
    for key in ("episode_return_mean", "episode_return_min", "episode_return_max", "episode_len_mean",
                "num_episodes", "num_env_steps_sampled"):
        if key in er:
            try:
                out[f"rllib/{key}"] = float(er[key])
            except (TypeError, ValueError):
                pass
    for key, value in er.items():
        if str(key).startswith("insitu/"):
            out["episode/" + str(key)[len("insitu/"):]] = float(value)
    learners = result.get("learners", {}) or {}
    for module, stats in learners.items():
        if isinstance(stats, dict) and module != "__all_modules__":
            flat: dict[str, float] = {}
            _flatten("", stats, flat)
            for k, v in flat.items():
                if "throughput" not in k:
                    out[f"learner/{module}/{k}"] = v
    t = float(result.get("time_this_iter_s", 0.0) or 0.0)
    if t > 0 and "rllib/num_env_steps_sampled" in out:
        out["rllib/env_steps_per_s"] = out["rllib/num_env_steps_sampled"] / t
    return out


def run_label(multi_device: int | None) -> str:
    """Algorithm label of RLlib run folders: ``rllib_ppo``, or ``rllib_ppo_multi{N}`` with N devices."""
    return "rllib_ppo" if multi_device is None else f"rllib_ppo_multi{multi_device}"


def train_rllib(
    scenario: str,
    timesteps: int | None = None,
    *,
    seed: int = 0,
    num_env_runners: int = 0,
    address: str | None = None,
    multi_device: int | None = None,
    logdir: str | Path = "runs",
    checkpoint_every: int = 10,
    hyperparams: dict[str, Any] | None = None,
    env_kwargs: dict[str, Any] | None = None,
    max_iterations: int | None = None,
    progress_bar: bool = True,
    shutdown: bool = True,
) -> Path:
    """Train RLlib PPO on ``scenario`` into a new run folder and return the folder.

    Args:
        scenario: scenario name or YAML path.
        timesteps: env steps to sample in total (default: the file's ``n_timesteps``); training
            stops after the first iteration that reaches it (or after ``max_iterations``).
        seed: algorithm seed.
        num_env_runners: remote env runners (0: sample in the driver).
        address: Ray cluster address (``ray://HEAD:10001``); ``None`` runs Ray locally.
        multi_device: N devices in the PettingZoo multi-device env, one shared policy.
        logdir: parent folder of run folders.
        checkpoint_every: iterations between checkpoints (``checkpoints/iter_XXXXXX``).
        hyperparams: override the hyperparameter file entirely (keys of :data:`HYPERPARAM_KEYS`).
        env_kwargs: extra env keyword arguments (scenario overrides, scheduler, ...).
        max_iterations: stop after this many ``algo.train()`` calls.
        progress_bar: show a rich progress bar.
        shutdown: call ``ray.shutdown()`` at the end when this call started Ray.

    On Ctrl-C the algorithm is saved to ``checkpoint/`` (``meta.json`` status ``interrupted``) and
    ``KeyboardInterrupt`` is re-raised.
    """
    _threads_one()
    hp = dict(load_rllib_hyperparams(scenario)) if hyperparams is None else dict(hyperparams)
    total = int(timesteps if timesteps is not None else hp.get("n_timesteps", 100_000))
    if total < 1:
        raise RLlibSetupError(f"--timesteps must be >= 1, got {total}")
    config = build_config(scenario, multi_device=multi_device, num_env_runners=num_env_runners,
                          seed=seed, hyperparams=hp, env_kwargs=env_kwargs)
    started_ray = not ray.is_initialized()
    init_ray(address, num_env_runners)
    run_dir = unique_run_dir(logdir, run_name(scenario, run_label(multi_device), seed))
    meta = new_meta(backend="rllib", algo="ppo", scenario=scenario, seed=seed, total_timesteps=total,
                    hyperparams=hp, env_kwargs=env_kwargs, multi_device=multi_device,
                    num_env_runners=int(num_env_runners), address=address)
    write_meta(run_dir, meta)

    from torch.utils.tensorboard import SummaryWriter

    from agents.metrics import hparams_markdown

    writer = SummaryWriter(str(run_dir))
    writer.add_text("hyperparameters", hparams_markdown({**hp, "num_env_runners": num_env_runners,
                                                         "multi_device": multi_device}), 0)
    algo = config.build_algo()
    progress = _progress(progress_bar, total, run_dir.name)
    steps, it = 0, 0
    t0 = time.perf_counter()
    status = "finished"
    try:
        while steps < total and (max_iterations is None or it < max_iterations):
            result = algo.train()
            it += 1
            steps = int(result.get("num_env_steps_sampled_lifetime", 0) or 0)
            for tag, value in result_scalars(result).items():
                writer.add_scalar(tag, value, steps)
            if progress is not None:
                progress[0].update(progress[1], completed=min(steps, total))
            if checkpoint_every and it % checkpoint_every == 0:
                algo.save(str((run_dir / "checkpoints" / f"iter_{it:06d}").resolve()))
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if progress is not None:
            progress[0].stop()
        algo.save(str((run_dir / "checkpoint").resolve()))
        writer.flush()
        writer.close()
        finish_meta(run_dir, meta, status, steps, time.perf_counter() - t0, iterations=it,
                    num_env_steps_sampled=steps)
        algo.stop()
        if shutdown and started_ray:
            ray.shutdown()
    return run_dir


def _progress(enabled: bool, total: int, name: str):
    if not enabled:
        return None
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    prog = Progress(TextColumn("[bold]rllib {task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn())
    prog.start()
    return prog, prog.add_task(name, total=total)


def load_algorithm(checkpoint_dir: str | Path):
    """Restore a trained algorithm from ``checkpoint_dir`` (a run's ``checkpoint/`` folder)."""
    from ray.rllib.algorithms.algorithm import Algorithm

    register_envs()
    return Algorithm.from_checkpoint(str(Path(checkpoint_dir).resolve()))
