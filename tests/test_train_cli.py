"""train.py command line: help, argument errors, and subprocess smoke runs of every subcommand."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
import train as cli  # noqa: E402  (the repo root is on sys.path: pytest's `pythonpath`)

sys.path.insert(0, str(ROOT / "tests" / "agents"))
from small_scenario import write_small_scenario  # noqa: E402


@pytest.fixture(scope="module")
def scenario(tmp_path_factory) -> str:
    """The real default scenario with small test profiles (tests/agents/small_scenario.py)."""
    return write_small_scenario(tmp_path_factory.mktemp("scenario"))


def run_cli(*args: str, timeout: float = 120, **kw) -> subprocess.CompletedProcess:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run([sys.executable, str(ROOT / "train.py"), *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=timeout, **kw)


@pytest.mark.parametrize("sub", [[], ["train"], ["eval"], ["compare"], ["experiment"]])
def test_help_of_every_subcommand(sub, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args([*sub, "--help"])
    assert exc.value.code == 0
    assert "usage: train.py" in capsys.readouterr().out


@pytest.mark.parametrize("argv, message", [
    (["train", "--algo", "a2c"], "argument --algo: invalid choice: 'a2c' (choose from 'ppo', 'dqn', 'maskable_ppo')"),
    (["train", "--scenario", "nowhere"], "argument --scenario: 'nowhere' is not a known scenario; available:"),
    (["train", "--timesteps", "-5"], "argument --timesteps: --timesteps must be >= 1, got -5"),
    (["train", "--timesteps", "lots"], "argument --timesteps: --timesteps must be an integer, got 'lots'"),
    (["train", "--seed", "-1"], "argument --seed: seed must be a non-negative integer, got -1"),
    (["train", "--resume", "/no/such/run"], "argument --resume: --resume '/no/such/run' is not a run folder"),
    (["compare", "--policies", "greedy", "bogus"], "argument --policies: 'bogus' is neither a baseline (random,"),
    (["experiment", "wifi"], "argument name: invalid choice: 'wifi' (choose from 'connectivity')"),
    (["eval", "bogus"], "argument MODEL: 'bogus' is neither a baseline"),
])
def test_bad_arguments_name_argument_value_and_allowed(argv, message, capsys):
    with pytest.raises(SystemExit) as exc:
        cli.build_parser().parse_args(argv)
    assert exc.value.code == 2
    assert message in capsys.readouterr().err


def test_compare_accepts_every_baseline_yardstick_and_alias():
    args = cli.build_parser().parse_args(["compare"])
    assert args.policies == list(cli.BASELINE_NAMES)
    assert {"random", "fixed", "fixed_smallest", "greedy", "greedy_compute", "zero_shot", "oracle",
            "upper_bound", "planner", "mpc"} <= set(cli.BASELINE_NAMES)
    args = cli.build_parser().parse_args(["compare", "--policies", "fixed_central_full", "planner"])
    assert args.policies == ["fixed_central_full", "planner"]


@pytest.mark.parametrize("algo", ["ppo", "dqn", "maskable_ppo"])
def test_train_smoke_subprocess(algo, tmp_path, scenario):
    res = run_cli("train", "--algo", algo, "--scenario", scenario, "--timesteps", "300", "--seed", "2",
                  "--n-envs", "2", "--logdir", str(tmp_path), "--no-progress")
    assert res.returncode == 0, res.stderr
    (run,) = tmp_path.iterdir()
    meta = json.loads((run / "meta.json").read_text())
    assert meta["algo"] == algo and meta["status"] == "finished" and meta["num_timesteps"] >= 300
    assert f"tensorboard --logdir {tmp_path}" in res.stdout
    res = run_cli("eval", str(run), "--episodes", "2")
    assert res.returncode == 0, res.stderr
    assert algo in res.stdout and "mean ± 95 % CI" in res.stdout


def test_compare_every_baseline_subprocess(tmp_path, scenario):
    out = tmp_path / "report"
    res = run_cli("compare", "--scenario", scenario, "--seeds", "0", "1", "--episodes", "2", "--out", str(out),
                  "--logdir", str(tmp_path / "tb"), "--no-progress")
    assert res.returncode == 0, res.stderr
    md = (out / "results.md").read_text()
    for name in cli.BASELINE_NAMES:
        assert f"| {name} | 4 |" in md
    res = run_cli("compare", "--scenario", scenario, "--seeds", "0", "--episodes", "1", "--out", str(out))
    assert res.returncode == 2 and "already holds a report" in res.stderr


def test_sigint_saves_and_resume_continues_the_step_count(tmp_path, scenario):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, str(ROOT / "train.py"), "train", "--algo", "ppo", "--scenario", scenario,
         "--timesteps", "1000000", "--n-envs", "1", "--checkpoint-freq", "256", "--logdir", str(tmp_path),
         "--no-progress"], cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60
    while time.time() < deadline and not list(tmp_path.glob("*/checkpoints/*.zip")):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err
    (run,) = tmp_path.iterdir()
    meta = json.loads((run / "meta.json").read_text())
    assert meta["status"] == "interrupted" and meta["num_timesteps"] >= 256
    assert "--resume" in out
    target = meta["num_timesteps"] + 512
    res = run_cli("train", "--algo", "ppo", "--resume", str(run), "--timesteps", str(target),
                  "--logdir", str(tmp_path), "--no-progress")
    assert res.returncode == 0, res.stderr
    (new,) = [p for p in tmp_path.iterdir() if p != run]
    meta2 = json.loads((new / "meta.json").read_text())
    assert meta2["start_timesteps"] == meta["num_timesteps"]
    assert meta2["num_timesteps"] >= target and meta2["status"] == "finished"


def test_experiment_connectivity_subprocess(tmp_path):
    from test_connectivity import make_profile_file

    prof = make_profile_file(tmp_path / "toy.json")
    res = run_cli("experiment", "connectivity", "--profiles", str(prof), "--out", str(tmp_path / "c"))
    assert res.returncode == 0, res.stderr
    assert "Required downlink rate" in res.stdout
    assert (tmp_path / "c" / "connectivity.png").is_file()


def test_main_job_trains_compares_and_writes_the_report(tmp_path, scenario, capsys):
    """The main job's code path with a tiny budget on the real env (small test profiles)."""
    job = {**cli.MAIN_JOB, "timesteps": 256, "n_envs": 2, "eval_seeds": [0, 1], "eval_episodes": 1,
           "progress": False}
    assert cli.main_job(logdir=str(tmp_path), job=job, scenario=scenario) == 0
    out = capsys.readouterr().out
    (run,) = tmp_path.glob("urban_small__ppo__0__*")
    report = run / "comparison"
    md = (report / "results.md").read_text()
    for name in ("ppo", *cli.BASELINE_NAMES):
        assert f"| {name} | 2 |" in md
    for f in ("results.csv", "episodes.csv", "returns.png", "accuracy_latency.png"):
        assert (report / f).stat().st_size > 0
    assert f"tensorboard --logdir {tmp_path}" in out and "oracle" in out
    # every policy has its own TensorBoard run beside the training run
    assert len(list(tmp_path.glob("urban_small__greedy__*"))) == 2
    assert len(list(tmp_path.glob("urban_small__ppo-eval__*"))) == 2


# --------------------------------------------------------------------------- a user's mistakes
@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory, scenario) -> Path:
    """One finished 64-step PPO run on the small scenario."""
    logdir = tmp_path_factory.mktemp("runs")
    assert cli.main(["train", "--scenario", scenario, "--timesteps", "64", "--n-envs", "1",
                     "--logdir", str(logdir), "--no-progress"]) == 0
    (run,) = logdir.iterdir()
    return run


def _fails_cleanly(argv: list[str], capsys, *pieces: str) -> str:
    """``train.py argv`` exits with code 2 and one error naming ``pieces``, no traceback."""
    try:
        code = cli.main(argv)
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    assert code == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for piece in pieces:
        assert piece in err, (piece, err)
    return err


def test_bad_scenario_file_is_refused_before_anything_runs(tmp_path, scenario, capsys):
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(scenario).read_text().replace("dt_s:", "colour: blue\ndt_s:", 1)
                   .replace("max_episode_steps:", "max_episode_steps: -3\nx_max_episode_steps:", 1))
    err = _fails_cleanly(["train", "--scenario", str(bad), "--logdir", str(tmp_path / "runs")], capsys,
                         "argument --scenario", str(bad), "'colour'", "'blue'", "unknown key",
                         "'max_episode_steps'", "-3")
    assert "problems" in err and not (tmp_path / "runs").exists()


def test_bad_hyperparameter_value_leaves_no_run_folder(tmp_path, scenario, capsys):
    hp = tmp_path / "hp.yaml"
    hp.write_text("default:\n  learning_rate: -1\n")
    _fails_cleanly(["train", "--scenario", scenario, "--hyperparams", str(hp), "--logdir", str(tmp_path / "runs")],
                   capsys, str(hp), "'default'", "'learning_rate'", "-1", "(0, 1]")
    assert not (tmp_path / "runs").exists()


def test_logdir_that_is_a_file_is_refused(tmp_path, scenario, capsys):
    f = tmp_path / "afile"
    f.write_text("mine")
    _fails_cleanly(["train", "--scenario", scenario, "--timesteps", "10", "--logdir", str(f)], capsys,
                   "--logdir", str(f), "is a file")
    assert f.read_text() == "mine"


def test_eval_of_a_folder_without_a_model(tmp_path, capsys):
    _fails_cleanly(["eval", str(tmp_path), "--episodes", "1"], capsys, str(tmp_path), "model.zip")


def test_eval_on_a_scenario_with_other_spaces_names_them(tiny_run, capsys):
    _fails_cleanly(["eval", str(tiny_run), "--scenario", "tactile_xr", "--episodes", "1", "--no-progress"], capsys,
                   "trained with the observation space", "(82,)", "(71,)", "meta.json")


def test_resume_without_more_steps_is_refused_with_the_numbers(tiny_run, capsys):
    before = sorted(tiny_run.parent.iterdir())
    done = json.loads((tiny_run / "meta.json").read_text())["num_timesteps"]
    _fails_cleanly(["train", "--resume", str(tiny_run), "--timesteps", str(done), "--logdir", str(tiny_run.parent),
                    "--no-progress"], capsys, f"--timesteps {done} is not above the {done} steps")
    assert sorted(tiny_run.parent.iterdir()) == before


def test_every_shipped_scenario_is_accepted():
    from scenarios import available_scenarios

    for name in available_scenarios():
        assert cli.build_parser().parse_args(["train", "--scenario", name]).scenario == name
