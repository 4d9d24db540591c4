"""Real worker processes on real databases: concurrency, crashes, Ctrl-C, reproducibility."""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

import shoal
from shoal import TrialState


def _objective(trial: shoal.Trial) -> float:
    x = trial.suggest_float("x", -5.0, 5.0)
    units = trial.suggest_int("units", 8, 512, log=True)
    return x * x + units / 512


def _check_complete_run(study: shoal.Study, n: int) -> None:
    trials = study.trials
    assert [t.number for t in trials] == list(range(n))
    assert all(t.state is TrialState.COMPLETE for t in trials)
    for t in trials:
        assert t.value == pytest.approx(t.params["x"] ** 2 + t.params["units"] / 512)


def test_two_workers_share_a_sqlite_study(tmp_path: Path) -> None:
    study = shoal.create_study("s", storage=f"sqlite:///{tmp_path}/s.db")
    study.optimize(_objective, n_trials=20, n_jobs=2)
    _check_complete_run(study, 20)
    assert len({t.worker for t in study.trials}) == 2


@pytest.mark.slow
def test_eight_processes_times_one_hundred_trials_on_sqlite(tmp_path: Path) -> None:
    study = shoal.create_study("s", storage=f"sqlite:///{tmp_path}/s.db")
    study.optimize(_objective, n_trials=800, n_jobs=8)
    _check_complete_run(study, 800)


@pytest.mark.slow
def test_eight_processes_times_one_hundred_trials_on_postgres(postgres_url: str) -> None:
    study = shoal.create_study("eight-by-hundred", storage=postgres_url)
    study.optimize(_objective, n_trials=800, n_jobs=8)
    _check_complete_run(study, 800)


def _python(code: str, **kwargs: object) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)  # type: ignore[call-overload]


def _wait_for(path: Path, timeout: float = 30.0) -> None:
    deadline = time.time() + timeout
    while not path.exists():
        assert time.time() < deadline, f"{path} never appeared"
        time.sleep(0.05)


@pytest.mark.slow
def test_sigkilled_worker_trial_fails_after_grace_and_is_retried(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    marker = tmp_path / "stuck"
    worker = _python(f"""
        import time, shoal
        study = shoal.create_study("s", storage={url!r},
                                   heartbeat=shoal.Heartbeat(interval=0.2, grace=1.0))
        def objective(trial):
            x = trial.suggest_float("x", 0.0, 1.0)
            if trial.number == 3:
                open({str(marker)!r}, "w").close()
                time.sleep(600)
            return x
        study.optimize(objective, n_trials=10)
    """)
    _wait_for(marker)
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=10)
    stuck = shoal.load_study("s", storage=url).trials
    assert [t.state for t in stuck] == [TrialState.COMPLETE] * 3 + [TrialState.RUNNING]
    time.sleep(1.2)  # the grace period passes with no heartbeat

    study = shoal.load_study("s", storage=url, heartbeat=shoal.Heartbeat(interval=0.2, grace=1.0),
                             retry=shoal.RetryPolicy(max_retries=1))
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=2)
    trials = study.trials
    complete, failed = TrialState.COMPLETE, TrialState.FAILED
    assert [t.state for t in trials] == [complete, complete, complete, failed, complete, complete]
    assert trials[3].failure_reason is not None
    assert trials[3].failure_reason.startswith("heartbeat lost")
    retry = trials[4]
    assert retry.parent == 3
    assert retry.params == trials[3].params
    assert retry.value == trials[3].params["x"]
    for before, after in zip(stuck[:3], trials[:3], strict=True):
        assert before == after


@pytest.mark.slow
@pytest.mark.parametrize("n_jobs", [1, 2])
def test_ctrl_c_marks_running_trials_interrupted_and_keeps_the_rest(tmp_path: Path, n_jobs: int) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    ready = tmp_path / "ready"
    worker = _python(f"""
        import signal, sys, time, shoal
        # A shell that starts jobs in the background (as CI may) makes them ignore SIGINT;
        # a user at a terminal has the default handler, which is what this test plays.
        signal.signal(signal.SIGINT, signal.default_int_handler)
        study = shoal.create_study("s", storage={url!r})
        def objective(trial):
            x = trial.suggest_float("x", 0.0, 1.0)
            if trial.number >= 4:
                open({str(ready)!r} + str(trial.number), "w").close()
                time.sleep(600)
            return x
        try:
            study.optimize(objective, n_trials=20, n_jobs={n_jobs})
        except KeyboardInterrupt:
            sys.exit(130)
    """, start_new_session=True)
    for number in range(4, 4 + n_jobs):
        _wait_for(Path(f"{ready}{number}"))
    os.killpg(worker.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole group
    _, err = worker.communicate(timeout=30)
    assert worker.returncode == 130, err
    trials = shoal.load_study("s", storage=url).trials
    assert [t.state for t in trials[:4]] == [TrialState.COMPLETE] * 4
    interrupted = trials[4:]
    assert len(interrupted) == n_jobs
    assert all(t.state is TrialState.FAILED and t.failure_reason == "interrupted" for t in interrupted)


REPRODUCE = """
import json, sys, shoal
sampler = getattr(shoal.samplers, sys.argv[2])(seed=7)
study = shoal.create_study("r", storage=sys.argv[1], sampler=sampler)
def objective(trial):
    opt = trial.suggest_categorical("optimizer", ["sgd", "adam"])
    lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
    if opt == "sgd":
        trial.suggest_float("momentum", 0.9, 0.999, scale="one_minus_log")
    return lr
study.optimize(objective, n_trials=25)
print(json.dumps([t.params for t in study.trials]))
"""


@pytest.mark.parametrize("sampler", ["RandomSampler", "QMCSampler", "CoarseToFineSampler", "GPSampler"])
def test_seeded_study_gives_identical_histories_in_two_processes(tmp_path: Path, sampler: str) -> None:
    if not hasattr(shoal.samplers, sampler):
        pytest.fail(f"shoal.samplers.{sampler} is missing")
    runs = []
    for i in range(2):
        out = subprocess.run([sys.executable, "-c", REPRODUCE, f"sqlite:///{tmp_path}/{i}.db", sampler],
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout))
    assert len(runs[0]) == 25
    assert runs[0] == runs[1]


SLOW_PARENT = """
import os, sys, time, shoal
study = shoal.create_study("s", storage=sys.argv[1], heartbeat=shoal.Heartbeat(interval=0.2, grace=1.0))
def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    open(os.path.join(sys.argv[2], f"started-{trial.number}-{os.getpid()}"), "w").close()
    time.sleep(600)
    return x
try:
    study.optimize(objective, n_trials=40, n_jobs=int(sys.argv[3]))
except shoal.exceptions.Terminated:
    sys.exit(143)
"""


def _start_slow_parent(tmp_path: Path, n_jobs: int) -> tuple[subprocess.Popen[str], str, list[int]]:
    url = f"sqlite:///{tmp_path}/s.db"
    markers = tmp_path / "markers"
    markers.mkdir()
    parent = subprocess.Popen([sys.executable, "-c", SLOW_PARENT, url, str(markers), str(n_jobs)],
                              text=True, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 30
    while len(list(markers.iterdir())) < n_jobs:
        assert time.time() < deadline, parent.stderr
        assert parent.poll() is None, parent.stderr
        time.sleep(0.05)
    pids = [int(p.name.rsplit("-", 1)[1]) for p in markers.iterdir()]
    return parent, url, pids


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, only not yet reaped
        return stat.read().rsplit(")", 1)[1].split()[0] == "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_workers_of_a_sigkilled_optimize_stop_and_record_their_trials(tmp_path: Path) -> None:
    parent, url, pids = _start_slow_parent(tmp_path, n_jobs=2)
    parent.kill()
    parent.communicate(timeout=10)
    deadline = time.time() + 5
    while not all(_gone(pid) for pid in pids):
        assert time.time() < deadline, f"workers {pids} outlived their parent"
        time.sleep(0.05)
    trials = shoal.load_study("s", storage=url).trials
    time.sleep(0.5)
    assert shoal.load_study("s", storage=url).trials == trials  # no trial started since
    assert len(trials) == 2
    assert all(t.state is TrialState.FAILED and t.failure_reason == "interrupted" for t in trials)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_sigterm_is_handled_like_ctrl_c(tmp_path: Path, n_jobs: int) -> None:
    parent, url, pids = _start_slow_parent(tmp_path, n_jobs=n_jobs)
    parent.terminate()
    _, err = parent.communicate(timeout=30)
    assert parent.returncode == 143, err
    trials = shoal.load_study("s", storage=url).trials
    assert len(trials) == n_jobs
    assert all(t.state is TrialState.FAILED and t.failure_reason == "interrupted" for t in trials)
    assert all(_gone(pid) for pid in pids)


def _quick(trial: shoal.Trial) -> float:
    return trial.suggest_float("x", 0.0, 1.0)


def test_callbacks_run_in_the_parent_with_workers(tmp_path: Path) -> None:
    study = shoal.create_study("s", storage=f"sqlite:///{tmp_path}/s.db")
    seen: list[tuple[int, int]] = []
    study.optimize(_quick, n_trials=8, n_jobs=2,
                   callbacks=[lambda s, t: seen.append((t.number, os.getpid()))])
    assert sorted(n for n, _ in seen) == list(range(8))
    assert {pid for _, pid in seen} == {os.getpid()}


def test_max_trials_callback_and_stop_across_workers(tmp_path: Path) -> None:
    study = shoal.create_study("s", storage=f"sqlite:///{tmp_path}/s.db")
    study.optimize(_quick, n_trials=100, n_jobs=2, callbacks=[shoal.MaxTrialsCallback(6)])
    done = len(study.get_trials([TrialState.COMPLETE]))
    assert 6 <= done <= 8  # trials already running when the sixth finished still finish
    assert len(study.trials) == done


def test_stop_from_the_objective(tmp_path: Path) -> None:
    study = shoal.create_study("s")
    study.optimize(lambda t: (t.number == 3 and study.stop()) or 1.0, n_trials=50)
    assert len(study.trials) == 4
    assert all(t.state is TrialState.COMPLETE for t in study.trials)
    with pytest.raises(shoal.ShoalError, match="stop of study 's' must be called while its optimize runs"):
        study.stop()


def _always_fails(trial: shoal.Trial) -> float:
    trial.suggest_float("x", 0.0, 1.0)
    raise RuntimeError("no GPU")


def _fails_after_a_while(trial: shoal.Trial) -> float:
    time.sleep(0.4)  # longer than the parent takes to hear of a failure, even on a loaded machine
    return _always_fails(trial)


@pytest.mark.parametrize("n_jobs", [1, 2])
def test_stops_after_consecutive_failures(tmp_path: Path, n_jobs: int) -> None:
    study = shoal.create_study("s", storage=f"sqlite:///{tmp_path}/s.db")
    study.optimize(_quick, n_trials=2)
    # Each worker may have claimed its next trial before the parent hears of the fourth failure,
    # so up to n_jobs more run; with instant failures a worker could finish several before that.
    objective = _always_fails if n_jobs == 1 else _fails_after_a_while
    with pytest.raises(shoal.exceptions.TooManyFailures,
                       match=r"its last [0-9]+ trials failed in a row \(the last: RuntimeError: no GPU\)"):
        study.optimize(objective, n_trials=40, n_jobs=n_jobs, max_consecutive_failures=4)
    failed = study.get_trials([TrialState.FAILED])
    assert 4 <= len(failed) <= 4 + (n_jobs if n_jobs > 1 else 0)
    assert len(study.trials) == 2 + len(failed)
    study.optimize(_always_fails, n_trials=6, max_consecutive_failures=None)  # never stops
    assert len(study.get_trials([TrialState.FAILED])) == len(failed) + 6


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"timeout": "5"}, "timeout of optimize must be a finite number > 0 or None. Got '5'."),
    ({"n_trials": "3"}, "n_trials of optimize must be an integer >= 0 or None. Got '3'."),
    ({"n_jobs": 0}, "n_jobs of optimize must be an integer >= 1, or -1 for every core. Got 0."),
    ({"max_consecutive_failures": 0}, "max_consecutive_failures of optimize must be an integer >= 1"),
])
def test_optimize_arguments_are_checked(kwargs: dict[str, object], message: str) -> None:
    study = shoal.create_study("s")
    with pytest.raises(shoal.ConfigError, match=re.escape(message)):
        study.optimize(_quick, **kwargs)  # type: ignore[arg-type]
    assert study.trials == []


def test_one_info_line_per_finished_trial(caplog: pytest.LogCaptureFixture) -> None:
    study = shoal.create_study("s", sampler=shoal.samplers.RandomSampler(seed=0))
    with caplog.at_level(logging.INFO, logger="shoal"):
        study.optimize(_quick, n_trials=3)
    lines = [r.getMessage() for r in caplog.records if r.name == "shoal"]
    assert len(lines) == 3
    best = study.best_trial
    assert lines[-1] == (f"Trial 2 finished with value {study.trials[2].value} and parameters "
                         f"{study.trials[2].params}. Best is trial {best.number} with value {best.value}.")
    caplog.clear()
    logger = logging.getLogger("shoal")
    level = logger.level
    logger.setLevel(logging.WARNING)  # the standard way to silence it
    try:
        study.optimize(_quick, n_trials=2)
    finally:
        logger.setLevel(level)
    assert [r for r in caplog.records if r.levelno == logging.INFO] == []


def _slowish(trial: shoal.Trial) -> float:
    time.sleep(0.05)
    return trial.suggest_float("x", 0.0, 1.0)


def test_an_error_in_a_callback_stops_the_workers_and_leaves_no_trial_running(tmp_path: Path) -> None:
    study = shoal.create_study("s", storage=f"sqlite:///{tmp_path}/s.db")

    def broken(study: shoal.Study, trial: shoal.FrozenTrial) -> None:
        if trial.number == 3:
            raise RuntimeError("callback broke")

    with pytest.raises(RuntimeError, match="callback broke"):
        study.optimize(_slowish, n_trials=50, n_jobs=2, callbacks=[broken])
    trials = study.trials
    assert len(trials) < 50
    assert not [t for t in trials if t.state is TrialState.RUNNING]
    assert all(t.failure_reason == "interrupted" for t in trials if t.state is TrialState.FAILED)
