"""insitu-gym command line: train, evaluate and compare downloading policies.

With no arguments it runs the MAIN JOB on the default scenario: trains the main-job agent, compares
it with every baseline and yardstick (oracle, planner, MPC, upper bound) over several seeds, prints
the table, writes it (markdown + CSV) and plots (PNG) into the run folder, and prints the
TensorBoard command.

Subcommands (``python train.py SUBCOMMAND --help`` for details)::

    train       --algo {ppo,dqn,maskable_ppo} --scenario NAME --timesteps N --seed S
                [--n-envs K] [--logdir runs] [--resume RUN_DIR]
    train       --backend rllib --algo ppo --scenario NAME [--num-env-runners K]
                [--address ray://HEAD:10001] [--multi-device N]
    eval        MODEL --scenario NAME --episodes N [--seeds ...]
    compare     --scenario NAME [--policies ...] --seeds ... --episodes N --out DIR
    experiment  connectivity [--out DIR]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

from agents.policies import ALIASES, BASELINES  # noqa: E402  (no torch: keeps --help fast)

#: Settings of the main job (``python train.py`` with no arguments), chosen from the learning
#: benchmark (BENCHMARKS.md, Learning): PPO with its factored MultiDiscrete head.
MAIN_JOB = {
    "algo": "ppo",
    "timesteps": 400_000,
    "n_envs": 8,
    "seed": 0,
    "eval_seeds": [0, 1, 2, 3, 4],
    "eval_episodes": 4,
}
ALGOS = ("ppo", "dqn", "maskable_ppo")
BASELINE_NAMES = tuple(BASELINES)  # every baseline of agents.policies, in table order


def _int_at_least(name: str, low: int):
    """argparse type: an integer >= ``low``, with an error naming the option."""
    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{name} must be an integer, got {text!r}") from None
        if value < low:
            raise argparse.ArgumentTypeError(f"{name} must be >= {low}, got {value}")
        return value
    return parse


def _positive_int(name: str):
    return _int_at_least(name, 1)


def _non_negative_int(name: str):
    return _int_at_least(name, 0)


def _seed(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"seed must be a non-negative integer, got {value}")
    return value


def _scenario(text: str) -> str:
    from agents.common import ScenarioError, scenario_env_id

    try:
        scenario_env_id(text)
        if text.endswith((".yaml", ".yml")):  # a user's file: validated here, all its problems at once
            from scenarios import load_scenario

            load_scenario(text)
    except ScenarioError as exc:
        raise argparse.ArgumentTypeError(str(exc).removeprefix("--scenario ")) from None
    return text


def _scenario_or_exit(name: str) -> str:
    """Validate a scenario chosen by default (argparse validates only what the user typed)."""
    try:
        return _scenario(name)
    except argparse.ArgumentTypeError as exc:
        raise SystemExit(f"error: scenario {exc}") from None


def _policy(text: str) -> str:
    if text in BASELINE_NAMES or text in ALIASES or Path(text).exists():
        return text
    raise argparse.ArgumentTypeError(
        f"{text!r} is neither a baseline ({', '.join(BASELINE_NAMES)}) nor an existing model path "
        "(a run folder or model .zip written by `train.py train`)")


def _existing_dir(name: str):
    def parse(text: str) -> str:
        if not Path(text, "meta.json").is_file():
            raise argparse.ArgumentTypeError(f"{name} {text!r} is not a run folder (no meta.json in it)")
        return text
    return parse


def build_parser() -> argparse.ArgumentParser:
    """The argparse parser of every subcommand."""
    from agents.common import DEFAULT_SCENARIO

    parser = argparse.ArgumentParser(
        prog="train.py", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", metavar="SUBCOMMAND")

    p = sub.add_parser("train", help="train one agent", description="Train PPO, DQN or MaskablePPO "
                       "on a scenario into a new run folder {logdir}/{scenario}__{algo}__{seed}__{time}.")
    p.add_argument("--algo", choices=ALGOS, default="ppo", help="algorithm (default: ppo)")
    p.add_argument("--scenario", type=_scenario, default=None,
                   help=f"scenario name, path to a scenario .yaml, or env id (default: {DEFAULT_SCENARIO}; "
                   "with --resume: the run's scenario)")
    p.add_argument("--timesteps", type=_positive_int("--timesteps"), default=None,
                   help="total env steps (default: n_timesteps of the hyperparameter file; with "
                   "--resume: the total including the steps already done)")
    p.add_argument("--seed", type=_seed, default=0, help="random seed (default: 0)")
    p.add_argument("--n-envs", type=_positive_int("--n-envs"), default=None,
                   help="parallel environments (default: n_envs of the hyperparameter file)")
    p.add_argument("--logdir", default="runs", help="parent folder of run folders (default: runs)")
    p.add_argument("--resume", type=_existing_dir("--resume"), default=None, metavar="RUN_DIR",
                   help="continue a saved run (same timestep count) in a new run folder")
    p.add_argument("--hyperparams", default=None, metavar="YAML",
                   help="hyperparameter file (default: agents/hyperparams/{algo}.yaml)")
    p.add_argument("--checkpoint-freq", type=_positive_int("--checkpoint-freq"), default=10_000,
                   help="env steps between checkpoints (default: 10000)")
    p.add_argument("--threads", type=_positive_int("--threads"), default=1,
                   help="torch threads (default: 1)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    # RLlib backend (agents/rllib.py, optional extra: pip install -e .[rllib]).
    p.add_argument("--backend", choices=("sb3", "rllib"), default="sb3",
                   help="training library: sb3 (default) or rllib (Ray RLlib PPO, new API stack; "
                   "needs pip install -e .[rllib])")
    p.add_argument("--num-env-runners", type=_non_negative_int("--num-env-runners"), default=0,
                   help="rllib: remote env runners sampling in parallel (default: 0, sample in the driver)")
    p.add_argument("--address", default=None, metavar="RAY_ADDRESS",
                   help="rllib: join an existing Ray cluster (ray://HEAD:10001); default: local Ray")
    p.add_argument("--multi-device", type=_positive_int("--multi-device"), default=None, metavar="N",
                   help="rllib: train one shared policy on the multi-device env with N devices per cell")

    p = sub.add_parser("eval", help="evaluate a trained model", description="Evaluate a trained "
                       "model (run folder or model .zip) and print mean metrics with 95 %% CIs.")
    p.add_argument("model", type=_policy, metavar="MODEL", help="run folder or model .zip (or a baseline name)")
    p.add_argument("--scenario", type=_scenario, default=None,
                   help="scenario (default: the one the model was trained on)")
    p.add_argument("--episodes", type=_positive_int("--episodes"), default=10, help="episodes per seed (default: 10)")
    p.add_argument("--seeds", type=_seed, nargs="+", default=[0], help="evaluation seeds (default: 0)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    p = sub.add_parser("compare", help="compare policies", description="Evaluate baselines, yardsticks "
                       "and trained models on the same episodes; write results.md/.csv and plots to --out.")
    p.add_argument("--scenario", type=_scenario, default=None, help=f"scenario (default: {DEFAULT_SCENARIO})")
    p.add_argument("--policies", type=_policy, nargs="+", default=list(BASELINE_NAMES),
                   help=f"baseline names ({', '.join(BASELINE_NAMES)}) and/or model paths (default: all baselines)")
    p.add_argument("--seeds", type=_seed, nargs="+", default=[0, 1, 2], help="evaluation seeds (default: 0 1 2)")
    p.add_argument("--episodes", type=_positive_int("--episodes"), default=5, help="episodes per seed (default: 5)")
    p.add_argument("--out", default=None, help="report folder (default: runs/compare__{scenario}__{time})")
    p.add_argument("--logdir", default="runs", help="TensorBoard parent folder for the policies' runs (default: runs)")
    p.add_argument("--no-progress", action="store_true", help="hide the progress bar")

    p = sub.add_parser("experiment", help="run a paper experiment", description="Experiments of the "
                       "paper (docs/model.md). connectivity: the downlink rate each model variant needs to "
                       "download within its latency budget, against 5G and 6G rates.")
    p.add_argument("name", choices=("connectivity",), help="experiment name")
    p.add_argument("--out", default=None, help="output folder (default: runs/connectivity__{time})")
    p.add_argument("--profiles", nargs="+", default=None,
                   help="profile names or JSON paths (default: every shipped profile)")
    return parser


def cmd_train_rllib(args: argparse.Namespace) -> int:
    """``train --backend rllib``: RLlib PPO (agents/rllib.py); Ray is imported only here."""
    from agents.common import DEFAULT_SCENARIO

    if args.algo != "ppo":
        print(f"error: --backend rllib supports --algo ppo only, got {args.algo!r}", file=sys.stderr)
        return 2
    if args.resume:
        print("error: --resume is not supported with --backend rllib (restore a run's checkpoint/ "
              "folder with agents.rllib.load_algorithm)", file=sys.stderr)
        return 2
    try:
        from agents.rllib import train_rllib
    except ImportError as exc:
        print(f"error: --backend rllib: {exc}", file=sys.stderr)
        return 2
    scenario = _scenario_or_exit(args.scenario or DEFAULT_SCENARIO)
    try:
        run_dir = train_rllib(scenario, args.timesteps, seed=args.seed,
                              num_env_runners=args.num_env_runners, address=args.address,
                              multi_device=args.multi_device, logdir=args.logdir,
                              progress_bar=not args.no_progress)
    except KeyboardInterrupt:
        return 130
    print(f"saved run: {run_dir}")
    print(f"look at the curves: tensorboard --logdir {args.logdir}")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    """``train`` subcommand."""
    from agents.common import DEFAULT_SCENARIO

    if args.backend == "rllib":
        return cmd_train_rllib(args)
    for opt, value, default in (("--num-env-runners", args.num_env_runners, 0), ("--address", args.address, None),
                                ("--multi-device", args.multi_device, None)):
        if value != default:
            print(f"error: {opt} needs --backend rllib", file=sys.stderr)
            return 2
    from agents.runs import read_meta
    from agents.sb3 import HyperparamError, TrainConfig, train

    if not args.resume:
        args.scenario = _scenario_or_exit(args.scenario or DEFAULT_SCENARIO)
    else:
        meta = read_meta(args.resume)
        if meta["algo"] != args.algo:
            print(f"error: --resume {args.resume!r} is a {meta['algo']} run; pass --algo {meta['algo']}",
                  file=sys.stderr)
            return 2
    # with --resume, train() takes the scenario, seed and env settings from the run's meta.json
    config = TrainConfig(algo=args.algo, scenario=args.scenario or DEFAULT_SCENARIO, timesteps=args.timesteps,
                         seed=args.seed, n_envs=args.n_envs, logdir=args.logdir, resume=args.resume,
                         hyperparams_path=args.hyperparams, checkpoint_freq=args.checkpoint_freq,
                         threads=args.threads, progress_bar=not args.no_progress)
    try:
        run_dir = train(config)
    except KeyboardInterrupt:
        return 130
    except HyperparamError as exc:
        print(f"error: --hyperparams: {exc}", file=sys.stderr)
        return 2
    print(f"saved run: {run_dir}")
    print(f"look at the curves: tensorboard --logdir {args.logdir}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    """``eval`` subcommand."""
    from agents.evaluate import print_table, run_episodes, summarize
    from agents.policies import make_policy
    from agents.runs import read_meta

    policy = make_policy(args.model)
    scenario = args.scenario
    model = Path(args.model)
    if not model.exists():  # a baseline
        if scenario is None:
            print("error: --scenario is required when MODEL is a baseline name", file=sys.stderr)
            return 2
    else:
        trained_on = read_meta(model if model.is_dir() else model.parent)["scenario"]
        if scenario is None:
            scenario = trained_on
        elif trained_on != scenario:
            print(f"note: {args.model} was trained on {trained_on}; evaluating it on {scenario}", file=sys.stderr)
    records = run_episodes(policy, scenario, args.seeds, args.episodes)
    print_table(summarize(records), scenario)
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """``compare`` subcommand."""
    from agents.common import DEFAULT_SCENARIO
    from agents.evaluate import compare, print_table
    from agents.policies import make_policy
    from agents.runs import report_name

    args.scenario = _scenario_or_exit(args.scenario or DEFAULT_SCENARIO)
    out = args.out or str(Path("runs") / report_name("compare", args.scenario))
    if Path(out, "results.md").exists():
        print(f"error: --out {out!r} already holds a report (results.md); choose a new folder", file=sys.stderr)
        return 2
    policies = [make_policy(p, seed=args.seeds[0]) for p in args.policies]
    seen: dict[str, int] = {}
    for policy in policies:  # two models of the same algorithm get distinct table rows
        seen[policy.name] = seen.get(policy.name, 0) + 1
        if seen[policy.name] > 1:
            policy.name = f"{policy.name}#{seen[policy.name]}"
    rows, _ = compare(policies, args.scenario, args.seeds, args.episodes, out, logdir=args.logdir,
                      show_progress=not args.no_progress)
    print_table(rows, args.scenario)
    print(f"report: {out}/results.md, results.csv, returns.png, accuracy_latency.png")
    print(f"look at the curves: tensorboard --logdir {args.logdir}")
    return 0


def cmd_experiment(args: argparse.Namespace) -> int:
    """``experiment`` subcommand."""
    from agents.connectivity import run_connectivity
    from agents.runs import report_name

    out = Path(args.out or Path("runs") / report_name("connectivity"))
    summary = run_connectivity(out, args.profiles)
    print(summary)
    print(f"written: {out}/connectivity.md, connectivity.csv, connectivity.png")
    return 0


def main_job(logdir: str = "runs", job: dict | None = None, scenario: str | None = None) -> int:
    """Train the main-job agent on the default scenario, compare it with every baseline and
    yardstick, print and write the table and plots, and print the TensorBoard command.

    ``job`` (default :data:`MAIN_JOB`) and ``scenario`` (default ``urban_smartphone``) exist for
    tests and experiments; ``python train.py`` uses the defaults."""
    from agents.common import DEFAULT_SCENARIO
    from agents.evaluate import compare, print_table
    from agents.policies import make_policy
    from agents.sb3 import TrainConfig, train
    from agents.sb3_policy import load_learned_policy

    job = job or MAIN_JOB
    scenario = scenario or DEFAULT_SCENARIO
    print(f"main job: {job['algo']} on {scenario}, {job['timesteps']} steps with {job['n_envs']} envs, "
          f"then every baseline and yardstick on {len(job['eval_seeds'])} seeds x "
          f"{job['eval_episodes']} episodes")
    t0 = time.perf_counter()
    try:
        run_dir = train(TrainConfig(algo=job["algo"], scenario=scenario, timesteps=job["timesteps"],
                                    seed=job["seed"], n_envs=job["n_envs"], logdir=logdir,
                                    progress_bar=job.get("progress", True)))
    except KeyboardInterrupt:
        return 130
    t_train = time.perf_counter() - t0
    policies = [make_policy(n, seed=0) for n in BASELINE_NAMES]
    policies.insert(0, load_learned_policy(run_dir))
    out = run_dir / "comparison"
    rows, _ = compare(policies, scenario, job["eval_seeds"], job["eval_episodes"], out, logdir=logdir,
                      show_progress=job.get("progress", True))
    t_total = time.perf_counter() - t0
    print_table(rows, scenario)
    print(f"training {t_train:.0f} s, total {t_total:.0f} s")
    print(f"report: {out}/results.md, results.csv, returns.png, accuracy_latency.png")
    print(f"look at the curves: tensorboard --logdir {logdir}")
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        return main_job()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    handler = {"train": cmd_train, "eval": cmd_eval, "compare": cmd_compare,
               "experiment": cmd_experiment}[args.command]
    try:
        return handler(args)
    except USER_ERRORS as exc:  # a user's mistake: one line, no traceback
        print(f"error: {exc}", file=sys.stderr)
        return 2


def _user_errors() -> tuple[type[BaseException], ...]:
    from agents.runs import RunError
    from scenarios import ScenarioError

    return (ScenarioError, RunError, FileNotFoundError, NotADirectoryError, IsADirectoryError)


#: Exceptions that report a user's mistake (bad file, key, value or run folder); every other
#: exception is a bug and keeps its traceback.
USER_ERRORS = _user_errors()


if __name__ == "__main__":
    sys.exit(main())
