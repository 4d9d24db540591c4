"""`shoal tune CONFIG.yaml`: config checking, objectives, resuming, flags, Ctrl-C."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

import pytest

import shoal
from shoal import TrialState
from shoal.cli._config import load_config
from shoal.clock import FakeClock
from shoal.storage import open_storage

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

Run = Callable[..., tuple[int, str, str]]
CONFIG = str(EXAMPLES / "tune_quadratic.yaml")


def write(tmp_path: Path, text: str, name: str = "tune.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_tune_runs_the_example_and_resumes(run: Run, url: str) -> None:
    code, out, err = run("tune", CONFIG, "--n-trials", "6", "--storage", url)
    assert code == 0, err
    assert "New study 'quadratic'" in out
    assert "Best trial of the study" in out
    assert "shoal trials quadratic --storage" in out
    study = shoal.load_study("quadratic", storage=url)
    assert len(study.trials) == 6
    assert all(t.state.is_finished for t in study.trials)
    assert set(study.trials[0].params) == {"x", "lr", "activation", "steps"}

    code, out, _ = run("tune", CONFIG, "--n-trials", "4", "--storage", url)
    assert code == 0
    assert "Resuming study 'quadratic' (6 trials so far)" in out
    assert len(shoal.load_study("quadratic", storage=url).trials) == 10
    assert [s.name for s in shoal.list_studies(storage=url)] == ["quadratic"]


def test_tune_runs_the_two_objective_example_and_best_lists_its_front(run: Run, url: str) -> None:
    code, out, err = run("tune", str(EXAMPLES / "tune_tradeoff.yaml"), "--n-trials", "16", "--storage", url)
    assert code == 0, err
    assert "Pareto front of the study (2 objectives)" in out
    study = shoal.load_study("tradeoff", storage=url)
    assert [d.value for d in study.directions] == ["maximize", "minimize"]
    trials = study.trials
    assert len(trials) == 16
    assert all(t.state is shoal.TrialState.COMPLETE for t in trials)
    assert all(t.constraints == (pytest.approx(t.user_attrs["params_m"] - 2.0),) for t in trials)
    front = {t.number for t in study.best_trials}
    assert front
    assert all(trials[n].is_feasible for n in front)
    code, out, err = run("best", "tradeoff", "--storage", url, "--json")
    assert code == 0, err
    assert {row["number"] for row in json.loads(out)} == front


def test_flags_override_the_file_and_storage_comes_from_it(run: Run, tmp_path: Path) -> None:
    config = write(tmp_path, f"""\
        objective: quadratic:objective
        study: from-file
        space: {{x: {{type: float, low: -1.0, high: 1.0}}, lr: 0.01, activation: relu, steps: 2}}
        n_trials: 50
        storage: sqlite:///{tmp_path}/from-config.db
        """)
    (tmp_path / "quadratic.py").write_text((EXAMPLES / "quadratic.py").read_text())
    code, _, err = run("tune", config, "--n-trials", "3", "--name", "from-flag")
    assert code == 0, err
    [record] = shoal.list_studies(storage=f"sqlite:///{tmp_path}/from-config.db")
    assert (record.name, record.n_trials) == ("from-flag", 3)


@pytest.mark.parametrize(("text", "message"), [
    ("objective: [unclosed\n", "tune.yaml must be valid YAML"),
    ("- a\n- b\n", "tune.yaml must be a YAML mapping"),
    ("", "Got an empty file"),
    ("objective: quadratic:objective\nn_trails: 5\n", "'n_trails' is not a key of a tune config"),
    ("study: x\n", "tune.yaml must name either an objective"),
    ("objective: 42\n", "objective of tune.yaml must be 'module:function'. Got 42."),
    ("objective: quadratic.objective\n", "objective of tune.yaml must be 'module:function'"),
    ("objective: quadratic:objective\nn_trials: many\n", "n_trials of tune.yaml must be an integer >= 1"),
    ("objective: quadratic:objective\nn_trials: 0\n", "n_trials of tune.yaml must be an integer >= 1"),
    ("objective: quadratic:objective\nn_jobs: 0\n", "n_jobs of tune.yaml must be an integer >= 1 (or -1)"),
    ("objective: quadratic:objective\ntimeout: -3\n",
     "timeout of tune.yaml must be a finite number > 0. Got -3."),
    ("objective: quadratic:objective\ntimeout: '5'\n",
     "timeout of tune.yaml must be a finite number > 0. Got '5'."),
    ("objective: quadratic:objective\ndirection: up\n",
     "direction of tune.yaml must be minimize or maximize"),
    ("objective: quadratic:objective\nsampler: rndom\n",
     "sampler of tune.yaml must be one of auto, random, grid, qmc, coarse_to_fine, gp, tpe, multi_fidelity. "
     "Got 'rndom' "
     "(did you mean 'random'?)."),
    ("objective: quadratic:objective\nsampler: {seed: 1}\n", "sampler.name of tune.yaml must be one of"),
    ("objective: quadratic:objective\nsampler: {name: random, sed: 1}\n",
     "'sed' is not an option of sampler 'random' in tune.yaml (did you mean 'seed'?)"),
    ("objective: quadratic:objective\nsampler: {name: random, seed: abc}\n",
     "sampler.seed of tune.yaml must be an integer >= 0. Got 'abc'. Or null for a fresh seed each run."),
    ("objective: quadratic:objective\nscheduler: ashaa\n",
     "scheduler of tune.yaml must be one of none, median, percentile, asha, hyperband, "
     "successive_halving, pbt, pb2. Got 'ashaa' (did you mean 'asha'?)."),
    ("objective: quadratic:objective\nscheduler: {name: median, min_trials: 0}\n",
     "min_trials of MedianStopping must be an integer >= 1"),
    ("objective: quadratic:objective\nspace: {lr: {type: float, low: 0.0, high: 1.0, scale: log}}\n",
     "space of tune.yaml: low of Float 'lr' must be > 0 when scale='log'. Got 0.0."),
    ("objective: quadratic:objective\nspace: [1, 2]\n", "space of tune.yaml must be a mapping"),
    ("objective: quadratic:objective\nstorage: 3\n", "storage of tune.yaml must be a storage URL"),
    ("objective: no_such_module:objective\n", "no module 'no_such_module'"),
    ("objective: quadratic.py:objective\n",
     "objective 'quadratic.py:objective' must name a module, not a file. Got 'quadratic.py'."),
    ("objective: quadratic:objectiv\n", "has no 'objectiv' (did you mean 'objective'?)"),
    ("objective: quadratic:math\n", "objective 'quadratic:math' must be a function taking a trial"),
])
def test_config_mistakes_are_one_line_errors(run: Run, url: str, tmp_path: Path, text: str,
                                             message: str) -> None:
    (tmp_path / "quadratic.py").write_text((EXAMPLES / "quadratic.py").read_text())
    code, _, err = run("tune", write(tmp_path, text), "--n-trials", "1", "--storage", url)
    assert code == 1, err
    assert err.startswith("Error: "), err
    assert message in err.splitlines()[0], err
    assert len(err.splitlines()) <= 2  # the error and, at most, a `Try:` line
    assert "Traceback" not in err
    if (tmp_path / "s.db").exists():
        assert shoal.list_studies(storage=url) == []  # a bad config creates nothing


def test_bad_storage_url_in_the_config(run: Run, tmp_path: Path) -> None:
    (tmp_path / "quadratic.py").write_text((EXAMPLES / "quadratic.py").read_text())
    code, _, err = run("tune", write(tmp_path, "objective: quadratic:objective\nstorage: mysql://x\n"))
    assert code == 1
    assert err.startswith("Error: storage URL must start with 'sqlite:///' or 'postgresql://'. Got 'mysql://x'.")


def test_missing_config_file(run: Run) -> None:
    code, _, err = run("tune", "nope.yaml")
    assert code == 1
    assert err.startswith("Error: config file 'nope.yaml' does not exist.")
    assert "Try: shoal tune examples/tune_quadratic.yaml" in err


def test_objective_whose_import_fails(run: Run, url: str, tmp_path: Path) -> None:
    (tmp_path / "broken_objective.py").write_text("import no_such_dependency_here\n")
    config = write(tmp_path, "objective: broken_objective:objective\n")
    code, _, err = run("tune", config, "--n-trials", "1", "--storage", url)
    assert code == 1
    assert "importing 'broken_objective' failed" in err
    assert "no_such_dependency_here" in err


def test_define_by_run_objective_and_failures_do_not_stop_the_study(run: Run, url: str,
                                                                    tmp_path: Path) -> None:
    (tmp_path / "by_run_objective.py").write_text(textwrap.dedent("""\
        def objective(trial):
            x = trial.suggest_float("x", 0.0, 1.0)
            if trial.number == 1:
                raise RuntimeError("bad batch")
            return x
        """))
    config = write(tmp_path, "objective: by_run_objective:objective\nstudy: by-run\ndirection: maximize\n")
    code, out, err = run("tune", config, "--n-trials", "3", "--storage", url)
    assert code == 0, err
    assert "Ran 3 trials: 2 complete, 1 failed." in out
    trials = shoal.load_study("by-run", storage=url).trials
    assert trials[1].failure_reason == "RuntimeError: bad batch"


def test_ctrl_c_reports_completed_trials_and_exits_130(run: Run, url: str, tmp_path: Path) -> None:
    (tmp_path / "interrupted_objective.py").write_text(textwrap.dedent("""\
        def objective(trial):
            if trial.number == 2:
                raise KeyboardInterrupt
            return trial.suggest_float("x", 0.0, 1.0)
        """))
    config = write(tmp_path, "objective: interrupted_objective:objective\nstudy: ctrl-c\n")
    code, out, _ = run("tune", config, "--n-trials", "10", "--storage", url)
    assert code == 130
    assert "Interrupted: 2 trials completed in this run" in out
    assert "The study is saved" in out
    states = [t.state for t in shoal.load_study("ctrl-c", storage=url).trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAILED]


@pytest.mark.parametrize(("name", "cls"), [
    ("random", "RandomSampler"), ("qmc", "QMCSampler"), ("grid", "GridSampler"),
    ("coarse_to_fine", "CoarseToFineSampler")])
def test_samplers_by_name(run: Run, url: str, tmp_path: Path, name: str, cls: str) -> None:
    (tmp_path / "quadratic.py").write_text((EXAMPLES / "quadratic.py").read_text())
    options = "grid: {x: [-1.0, 0.0, 1.0]}" if name == "grid" else "seed: 3"
    config = write(tmp_path, f"""\
        objective: quadratic:objective
        study: s-{name}
        space: {{x: {{type: float, low: -1.0, high: 1.0}}, lr: [0.01, 0.1], activation: relu, steps: 1}}
        sampler: {{name: {name}, {options}}}
        """)
    code, _, err = run("tune", config, "--n-trials", "3", "--storage", url)
    if not hasattr(shoal.samplers, cls):  # samplers land one by one; the message must say so
        assert code == 1
        assert f"sampler '{name}' of tune.yaml is not available" in err
        return
    assert code == 0, err
    assert len(shoal.load_study(f"s-{name}", storage=url).trials) == 3


def test_progress_and_summary_count_only_this_run(run: Run, url: str, tmp_path: Path) -> None:
    # Trial 0 plays a second `shoal tune` on the same study: five trials finish meanwhile.
    (tmp_path / "shared_objective.py").write_text(textwrap.dedent(f"""\
        import shoal
        def objective(trial):
            if trial.number == 0:
                other = shoal.load_study("shared", storage={url!r})
                for _ in range(5):
                    other.tell(other.ask(), 1.0)
            return trial.suggest_float("x", 0.0, 1.0)
        """))
    config = write(tmp_path, "objective: shared_objective:objective\nstudy: shared\n")
    code, out, err = run("tune", config, "--n-trials", "3", "--storage", url)
    assert code == 0, err
    assert "Ran 3 trials: 3 complete." in out
    assert "3/3" in out
    assert "8/3" not in out
    assert "Trial 0 finished with value" not in out + err  # the progress bar says it already


def test_sigterm_prints_the_summary_and_exits_143(url: str, tmp_path: Path) -> None:
    (tmp_path / "slow_objective.py").write_text(textwrap.dedent(f"""\
        import time
        def objective(trial):
            x = trial.suggest_float("x", 0.0, 1.0)
            if trial.number == 2:
                open({str(tmp_path / "running")!r}, "w").close()
                time.sleep(600)
            return x
        """))
    config = write(tmp_path, "objective: slow_objective:objective\nstudy: term\n")
    main = "import sys; from shoal.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(Path(shoal.__file__).parents[1])}  # this shoal
    proc = subprocess.Popen([sys.executable, "-c", main, "tune", config, "--n-trials", "10",
                             "--storage", url], text=True, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not (tmp_path / "running").exists():
        assert time.time() < deadline, proc.stderr
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    proc.terminate()
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 143, err
    assert "Terminated (SIGTERM): 2 trials completed in this run (2 complete, 1 failed)" in out
    trials = shoal.load_study("term", storage=url).trials
    assert trials[2].state is TrialState.FAILED
    assert trials[2].failure_reason == "interrupted"


def test_an_objective_that_always_fails_stops_and_exits_1(run: Run, url: str, tmp_path: Path) -> None:
    (tmp_path / "failing_objective.py").write_text(textwrap.dedent("""\
        def objective(trial):
            trial.suggest_float("x", 0.0, 1.0)
            raise RuntimeError("CUDA out of memory")
        """))
    config = write(tmp_path, "objective: failing_objective:objective\nstudy: f\n"
                             "max_consecutive_failures: 3\n")
    code, out, err = run("tune", config, "--n-trials", "20", "--storage", url)
    assert code == 1, err
    assert "Stopped: optimize of study 'f' stopped: its last 3 trials failed in a row" in out
    assert "RuntimeError: CUDA out of memory" in out
    assert len(shoal.load_study("f", storage=url).trials) == 3
    bad = write(tmp_path, "objective: failing_objective:objective\nmax_consecutive_failures: 0\n", "bad.yaml")
    code, _, err = run("tune", bad, "--n-trials", "1", "--storage", url)
    assert code == 1
    assert "max_consecutive_failures of bad.yaml must be an integer >= 1" in err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_of_a_sigkilled_tune_stop(url: str, tmp_path: Path) -> None:
    (tmp_path / "stuck_objective.py").write_text(textwrap.dedent(f"""\
        import os, time
        def objective(trial):
            open(os.path.join({str(tmp_path)!r}, f"pid-{{os.getpid()}}"), "w").close()
            time.sleep(600)
        """))
    config = write(tmp_path, "objective: stuck_objective:objective\nstudy: orphans\n")
    main = "import sys; from shoal.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": str(Path(shoal.__file__).parents[1])}
    proc = subprocess.Popen([sys.executable, "-c", main, "tune", config, "--n-trials", "12",
                             "--n-jobs", "2", "--storage", url], text=True, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while len(list(tmp_path.glob("pid-*"))) < 2:
        assert time.time() < deadline, proc.stderr
        assert proc.poll() is None, proc.communicate()
        time.sleep(0.05)
    pids = [int(p.name[4:]) for p in tmp_path.glob("pid-*")]
    proc.kill()
    proc.communicate(timeout=10)

    def alive(pid: int) -> bool:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
        except FileNotFoundError:
            return False

    deadline = time.time() + 5
    while any(alive(pid) for pid in pids):
        assert time.time() < deadline, f"workers {pids} outlived 'shoal tune'"
        time.sleep(0.05)
    trials = shoal.load_study("orphans", storage=url).trials
    assert [(t.state, t.failure_reason) for t in trials] == [(TrialState.FAILED, "interrupted")] * 2


def _dead_trial(url: str, *, age: float) -> None:
    """Study 'resumed' with trial 0 RUNNING, its last heartbeat `age` seconds ago (its worker died)."""
    space = {"x": {"type": "float", "low": -1.0, "high": 1.0}, "lr": 0.01, "activation": "relu",
             "steps": 1}
    storage = open_storage(url, clock=FakeClock(time.time() - age))
    study = shoal.create_study("resumed", storage=storage, space=space)
    assert study.space is not None
    storage.create_trial(study.study_id, params={"x": 0.5, "lr": 0.01, "activation": "relu", "steps": 1},
                         distributions=dict(study.space), checkpoint="checkpoints/0/step-3")


def test_retry_and_heartbeat_keys_resume_a_dead_trial_from_its_checkpoint(run: Run, url: str,
                                                                          tmp_path: Path) -> None:
    (tmp_path / "quadratic.py").write_text((EXAMPLES / "quadratic.py").read_text())
    _dead_trial(url, age=30.0)  # younger than the default grace (120 s): only heartbeat.grace finds it
    config = write(tmp_path, """\
        objective: quadratic:objective
        study: resumed
        retry: {max_retries: 1}
        heartbeat: {interval: 1, grace: 5}
        """)
    code, _, err = run("tune", config, "--n-trials", "2", "--storage", url)
    assert code == 0, err
    trials = shoal.load_study("resumed", storage=url).trials
    assert trials[0].state is TrialState.FAILED
    assert "heartbeat lost" in (trials[0].failure_reason or "")
    [retry] = [t for t in trials if t.parent == 0]
    assert retry.state is TrialState.COMPLETE
    assert dict(retry.params) == dict(trials[0].params)
    assert retry.checkpoint == "checkpoints/0/step-3"  # the retry starts from the dead trial's checkpoint


def test_without_retry_a_dead_trial_is_not_rerun(run: Run, url: str, tmp_path: Path) -> None:
    (tmp_path / "quadratic.py").write_text((EXAMPLES / "quadratic.py").read_text())
    _dead_trial(url, age=1000.0)
    config = write(tmp_path, "objective: quadratic:objective\nstudy: resumed\n")
    code, _, err = run("tune", config, "--n-trials", "1", "--storage", url)
    assert code == 0, err
    trials = shoal.load_study("resumed", storage=url).trials
    assert trials[0].state is TrialState.FAILED
    assert not any(t.parent == 0 for t in trials)


@pytest.mark.parametrize(("text", "message"), [
    ("retry: {max_retries: -1}", "retry.max_retries of tune.yaml must be an integer >= 0. Got -1."),
    ("retry: {max_retries: two}", "retry.max_retries of tune.yaml must be an integer >= 0. Got 'two'."),
    ("retry: -2", "retry of tune.yaml must be an integer >= 0. Got -2."),
    ("retry: {max_retry: 2}", "'max_retry' is not an option of retry in tune.yaml (did you mean "
                              "'max_retries'?). Options: max_retries, retry_failed."),
    ("retry: {retry_failed: sometimes}",
     "retry.retry_failed of tune.yaml must be true or false. Got 'sometimes'."),
    ("retry: yes", "retry of tune.yaml must be a mapping of max_retries, retry_failed. Got True."),
    ("heartbeat: 15", "heartbeat of tune.yaml must be a mapping of interval, grace. Got 15."),
    ("heartbeat: {interval: 0}", "heartbeat.interval of tune.yaml must be a finite number > 0. Got 0."),
    ("heartbeat: {interval: 10, grace: 5}",
     "heartbeat.grace of tune.yaml must be a finite number > 10.0. Got 5. A few intervals is typical."),
    ("heartbeat: {intervall: 10}", "'intervall' is not an option of heartbeat in tune.yaml (did you mean"),
])
def test_retry_and_heartbeat_mistakes_are_one_line_errors(run: Run, url: str, tmp_path: Path, text: str,
                                                          message: str) -> None:
    (tmp_path / "quadratic.py").write_text((EXAMPLES / "quadratic.py").read_text())
    code, _, err = run("tune", write(tmp_path, f"objective: quadratic:objective\n{text}\n"), "--storage", url)
    assert code == 1, err
    assert err.splitlines()[0] == f"Error: {message}" or err.splitlines()[0].startswith(f"Error: {message}")
    assert err.splitlines()[1].startswith("Try: ")
    assert "Traceback" not in err


def test_retry_and_heartbeat_map_onto_the_policies(tmp_path: Path) -> None:
    path = tmp_path / "tune.yaml"
    path.write_text("objective: m:f\nretry: {max_retries: 3, retry_failed: true}\n"
                    "heartbeat: {interval: 2, grace: 30}\n")
    config = load_config(path)
    assert config.retry == shoal.RetryPolicy(max_retries=3, retry_failed=True)
    assert config.heartbeat == shoal.Heartbeat(interval=2.0, grace=30.0)
    path.write_text("objective: m:f\nretry: 2\nheartbeat: {interval: 30}\n")
    config = load_config(path)
    assert config.retry == shoal.RetryPolicy(max_retries=2)
    assert config.heartbeat == shoal.Heartbeat(interval=30.0, grace=240.0)  # grace: 8 intervals at least
    path.write_text("objective: m:f\n")
    assert (load_config(path).retry, load_config(path).heartbeat) == (None, None)


def test_a_config_that_is_not_utf8_is_a_one_line_error(run: Run, url: str, tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("objective: quadratic:objective\n# r\xe9glages\n".encode("latin-1"))
    code, _, err = run("tune", str(path), "--storage", url)
    assert code == 1
    assert err.splitlines()[0] == (f"Error: config file {str(path)!r} must be UTF-8 text. "
                                   "Got a byte that is not, on line 2.")
    assert err.splitlines()[1].startswith("Try: save it as UTF-8")


def test_numbers_written_1e_minus_4_are_numbers(tmp_path: Path) -> None:
    path = tmp_path / "tune.yaml"
    path.write_text("objective: m:f\ntimeout: 1e3\nheartbeat: {interval: 1e1, grace: 1E2}\n"
                    "space: {lr: {type: float, low: 1e-4, high: 1, scale: log}, "
                    "units: {type: int, low: 8, high: 256, scale: log}}\n")
    config = load_config(path)
    assert config.timeout == 1000.0
    assert config.heartbeat == shoal.Heartbeat(interval=10.0, grace=100.0)
    assert config.space is not None
    assert config.space["lr"] == shoal.Float(1e-4, 1.0, scale="log", name="lr")
    assert config.space["units"] == shoal.Int(8, 256, log=True, name="units")
