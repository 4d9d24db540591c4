"""Real worker processes on real databases: concurrency, crashes, Ctrl-C, reproducibility."""

from __future__ import annotations

import json
import os
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
