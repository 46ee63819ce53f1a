"""Run folders and their ``meta.json``: names, creation, reading and writing, for every backend.

Names. Every folder a run writes is named here:

- training and evaluation runs: ``{scenario}__{label}__{seed}__{time}`` (:func:`run_name` plus
  :func:`unique_run_dir`); ``scenario`` is the scenario name, or the stem of a YAML path or env
  id; ``label`` the algorithm (``ppo``, ``dqn``, ``maskable_ppo``, ``rllib_ppo``,
  ``rllib_ppo_multi{N}``) or, for evaluation runs, the policy's ``run_label`` (a baseline's name,
  ``{algo}-eval`` for a learned model);
- reports: ``{kind}[__{scenario}]__{time}`` (:func:`report_name`, e.g. ``compare__urban_smartphone
  __20250101-120000``);
- ``time`` is the local start time ``%Y%m%d-%H%M%S``; a folder is never reused (a clash gets
  ``-1``, ``-2``, ... appended).

``meta.json`` (one schema for the SB3 and RLlib backends, written by :func:`write_meta` only).
Keys every run has (:data:`COMMON_KEYS`, set by :func:`new_meta`):

- ``backend``: ``"sb3"`` or ``"rllib"``.
- ``algo``: the algorithm (``ppo``, ``dqn``, ``maskable_ppo``; RLlib: ``ppo``).
- ``scenario``: the scenario as given (name, YAML path or env id).
- ``seed``: the run's seed.
- ``total_timesteps``: the training budget in env steps (with ``--resume``: including the steps
  of the runs before).
- ``num_timesteps``: env steps done so far (updated when the run ends).
- ``hyperparams``: the hyperparameters used (file sections merged).
- ``env_kwargs``: extra env keyword arguments (``{}`` if none).
- ``status``: ``"running"``, then ``"finished"`` or ``"interrupted"`` (Ctrl-C).
- ``created_at``, ``finished_at``: local ISO times ``%Y-%m-%dT%H:%M:%S``; ``finished_at`` is
  null while running.
- ``wall_s``: seconds of training (null while running).
- ``versions``: versions of Python and of the libraries the run depends on (numpy, gymnasium,
  torch; stable-baselines3 and sb3-contrib, or ray), for reproducing it.

Backend keys. SB3 (:func:`agents.sb3.train`): ``n_envs``, ``action_mode``, ``start_timesteps``
(the step count a resumed run started from, else 0), ``resumed_from`` (run folder or null),
``torch_threads``. RLlib (:func:`agents.rllib.train_rllib`): ``multi_device`` (N or null),
``num_env_runners``, ``address`` (Ray address or null), and at the end ``iterations`` and
``num_env_steps_sampled`` (RLlib's name for ``num_timesteps``, the same value).
"""

from __future__ import annotations

import json
import platform
import time
from importlib import metadata
from pathlib import Path
from typing import Any

#: Name of the metadata file of a run folder.
META_FILE = "meta.json"
#: Time stamp of run-folder names.
NAME_TIME_FORMAT = "%Y%m%d-%H%M%S"
#: Time format of ``created_at`` / ``finished_at``.
META_TIME_FORMAT = "%Y-%m-%dT%H:%M:%S"
#: Keys of every run's ``meta.json``, both backends.
COMMON_KEYS = ("backend", "algo", "scenario", "seed", "total_timesteps", "num_timesteps", "hyperparams",
               "env_kwargs", "status", "created_at", "finished_at", "wall_s", "versions")
#: Values of ``status``: while running, and after the end.
STATUSES = ("running", "finished", "interrupted")
#: Backend -> distributions whose versions ``meta.json`` records.
BACKEND_PACKAGES = {
    "sb3": ("numpy", "gymnasium", "torch", "stable-baselines3", "sb3-contrib"),
    "rllib": ("numpy", "gymnasium", "torch", "ray"),
}


def scenario_stem(scenario: str | Path) -> str:
    """The scenario part of a run name: a name as is, the stem of a YAML path or env id."""
    return Path(scenario).stem


def run_name(scenario: str | Path, label: str, seed: int) -> str:
    """Run-folder prefix ``{scenario}__{label}__{seed}`` (:func:`unique_run_dir` adds the time)."""
    return f"{scenario_stem(scenario)}__{label}__{seed}"


def report_name(kind: str, scenario: str | Path | None = None) -> str:
    """Report-folder name ``{kind}[__{scenario}]__{time}`` (e.g. ``compare__urban_smartphone__...``)."""
    parts = [kind] if scenario is None else [kind, scenario_stem(scenario)]
    return "__".join([*parts, time.strftime(NAME_TIME_FORMAT)])


class RunError(ValueError):
    """A run folder, log folder or trained model that does not fit what was asked of it (the
    message names it and what is allowed): a user's mistake, reported without a traceback."""


def check_logdir(logdir: str | Path) -> None:
    """Raise :class:`RunError` when ``logdir`` exists and is not a folder."""
    if Path(logdir).exists() and not Path(logdir).is_dir():
        raise RunError(f"--logdir {str(logdir)!r} is a file; allowed: a folder (created if missing)")


def unique_run_dir(logdir: str | Path, prefix: str) -> Path:
    """Create and return ``logdir/{prefix}__{time}``, never reusing an existing folder.

    Raises:
        RunError: ``logdir`` is a file.
    """
    check_logdir(logdir)
    base = Path(logdir) / f"{prefix}__{time.strftime(NAME_TIME_FORMAT)}"
    path, n = base, 1
    while True:
        try:
            path.mkdir(parents=True, exist_ok=False)
            return path
        except FileExistsError:
            path = Path(f"{base}-{n}")
            n += 1


def versions(backend: str) -> dict[str, str]:
    """Versions of Python and of the installed distributions ``backend`` depends on."""
    out = {"python": platform.python_version()}
    for dist in BACKEND_PACKAGES.get(backend, ()):
        try:
            out[dist] = metadata.version(dist)
        except metadata.PackageNotFoundError:
            continue
    return out


def now() -> str:
    """The current local time in ``meta.json``'s format."""
    return time.strftime(META_TIME_FORMAT)


def new_meta(*, backend: str, algo: str, scenario: str, seed: int, total_timesteps: int,
             hyperparams: dict[str, Any], env_kwargs: dict[str, Any] | None = None,
             num_timesteps: int = 0, **backend_keys: Any) -> dict[str, Any]:
    """The ``meta.json`` content of a run that starts now (status ``running``).

    Args:
        backend, algo, scenario, seed, total_timesteps, hyperparams, env_kwargs, num_timesteps:
            the common keys (see the module docstring).
        backend_keys: the backend's own keys, stored at the top level beside the common ones.
    """
    if backend not in BACKEND_PACKAGES:
        raise ValueError(f"backend {backend!r} not allowed; allowed: {', '.join(BACKEND_PACKAGES)}")
    clash = sorted(set(backend_keys) & set(COMMON_KEYS))
    if clash:
        raise ValueError(f"backend keys {clash} would overwrite common meta.json keys")
    return {
        "backend": backend, "algo": algo, "scenario": str(scenario), "seed": int(seed),
        "total_timesteps": int(total_timesteps), "num_timesteps": int(num_timesteps),
        "hyperparams": dict(hyperparams), "env_kwargs": dict(env_kwargs or {}),
        **backend_keys,
        "status": "running", "created_at": now(), "finished_at": None, "wall_s": None,
        "versions": versions(backend),
    }


def write_meta(run_dir: str | Path, meta: dict[str, Any]) -> Path:
    """Write ``meta`` to ``run_dir/meta.json`` (the only writer of the file); return its path."""
    path = Path(run_dir) / META_FILE
    path.write_text(json.dumps(meta, indent=2))
    return path


def finish_meta(run_dir: str | Path, meta: dict[str, Any], status: str, num_timesteps: int,
                wall_s: float, **backend_keys: Any) -> None:
    """Record the end of a run in ``meta`` (status, step count, times) and write it."""
    if status not in STATUSES[1:]:
        raise ValueError(f"status {status!r} not allowed at the end of a run; allowed: {STATUSES[1:]}")
    meta.update(status=status, num_timesteps=int(num_timesteps), wall_s=float(wall_s), **backend_keys,
                finished_at=now())
    write_meta(run_dir, meta)


def read_meta(run_dir: str | Path) -> dict[str, Any]:
    """The ``meta.json`` of a run folder.

    Raises:
        FileNotFoundError: naming the folder when it holds no ``meta.json``.
    """
    path = Path(run_dir) / META_FILE
    if not path.is_file():
        raise FileNotFoundError(f"{str(run_dir)!r} is not a run folder (no {META_FILE})")
    return json.loads(path.read_text())
