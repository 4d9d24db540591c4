"""Trial timeouts: a trial past `trial_timeout` ends FAILED("timeout") and its worker goes on."""

from __future__ import annotations

import contextlib
import logging
import os
import signal
import sys
import textwrap
import threading
import time
from pathlib import Path

import numpy  # noqa: F401  (imported before timing: the first suggest would import it)
import pytest

import shoal
from shoal import TrialState
from shoal.exceptions import ConfigError, TrialTimedOut
from shoal.executors import ProcessExecutor
from shoal.study._timeout import TrialTimer, grace_for

TIMEOUT = 1.0


def _states(study: shoal.Study) -> list[tuple[TrialState, str | None]]:
    return [(t.state, t.failure_reason) for t in study.trials]


def _sleeps_in_trial_zero(trial: shoal.Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    if trial.number == 0:
        time.sleep(60)
    return x


def test_a_sleeping_trial_fails_with_timeout_and_the_next_ones_complete() -> None:
    before = signal.getsignal(signal.SIGALRM)
    study = shoal.create_study("t")
    started = time.monotonic()
    study.optimize(_sleeps_in_trial_zero, n_trials=3, trial_timeout=TIMEOUT)
    took = time.monotonic() - started
    assert _states(study) == [(TrialState.FAILED, "timeout")] + [(TrialState.COMPLETE, None)] * 2
    assert TIMEOUT <= took < TIMEOUT + 5.0
    assert signal.getsignal(signal.SIGALRM) is before  # pytest-timeout's handler is back


def test_except_exception_does_not_swallow_the_stop_and_finally_runs() -> None:
    cleaned: list[int] = []

    def objective(trial: shoal.Trial) -> float:
        try:
            while True:
                with contextlib.suppress(Exception):  # the usual catch-all of a training loop
                    time.sleep(0.05)
        finally:
            cleaned.append(trial.number)

    study = shoal.create_study("t")
    study.optimize(objective, n_trials=1, trial_timeout=0.3)
    assert _states(study) == [(TrialState.FAILED, "timeout")]
    assert cleaned == [0]


def test_a_result_returned_after_the_deadline_is_not_recorded() -> None:
    def objective(trial: shoal.Trial) -> float:
        try:
            time.sleep(60)
        except BaseException:  # swallows even the stop, then returns a value late
            return 1.0
        return 0.0

    study = shoal.create_study("t")
    study.optimize(objective, n_trials=1, trial_timeout=0.3)
    assert _states(study) == [(TrialState.FAILED, "timeout")]
    assert study.trials[0].value is None


def test_an_error_raised_because_of_the_stop_still_reads_timeout() -> None:
    def objective(trial: shoal.Trial) -> float:
        try:
            time.sleep(60)
        except BaseException as err:  # a library wrapping whatever interrupted it
            raise RuntimeError("data loader interrupted") from err
        return 0.0

    study = shoal.create_study("t")
    study.optimize(objective, n_trials=1, trial_timeout=0.3)
    assert _states(study) == [(TrialState.FAILED, "timeout")]


def test_a_timed_out_trial_is_retried_with_retry_failed() -> None:
    def objective(trial: shoal.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        if trial.number == 0:
            time.sleep(60)
        return x

    study = shoal.create_study("t", retry=shoal.RetryPolicy(max_retries=1, retry_failed=True))
    study.optimize(objective, n_trials=2, trial_timeout=TIMEOUT)  # the retry is the second
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.FAILED, TrialState.COMPLETE]
    assert trials[1].system_attrs["retry_of"] == 0
    assert trials[1].params == trials[0].params
    assert trials[1].value == trials[0].params["x"]


def test_in_another_thread_python_code_is_stopped() -> None:
    study = shoal.create_study("t")
    spins: list[int] = []

    def objective(trial: shoal.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        if trial.number == 0:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:  # a training loop: back in Python all the time
                spins.append(1)
                spins.clear()
        return x

    errors: list[BaseException] = []

    def run() -> None:
        try:
            study.optimize(objective, n_trials=2, trial_timeout=TIMEOUT)
        except BaseException as err:  # pragma: no cover - reported below
            errors.append(err)

    thread = threading.Thread(target=run)
    thread.start()
    thread.join(timeout=30)
    assert not thread.is_alive()
    assert not errors
    assert _states(study) == [(TrialState.FAILED, "timeout"), (TrialState.COMPLETE, None)]


def test_in_the_calling_process_a_stuck_trial_is_waited_for_not_killed(
        caplog: pytest.LogCaptureFixture) -> None:
    before = signal.getsignal(signal.SIGALRM)

    def objective(trial: shoal.Trial) -> float:
        # SIGALRM blocked: what C code that never returns to Python looks like to the timer.
        old = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])
        try:
            time.sleep(0.3 + grace_for(0.3) + 0.5)
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, old)
        return 1.0

    study = shoal.create_study("t")
    with caplog.at_level(logging.WARNING, logger="shoal"):
        study.optimize(objective, n_trials=1, trial_timeout=0.3)
    assert _states(study) == [(TrialState.FAILED, "timeout")]
    assert "did not stop" in caplog.text
    assert "when its objective returns" in caplog.text
    assert signal.SIGALRM not in signal.sigpending()  # the pending alarm was consumed, not left
    assert signal.getsignal(signal.SIGALRM) is before


def test_the_timer_leaves_a_quick_block_alone() -> None:
    with TrialTimer(seconds=5.0, hard_stop=None, number=0) as timer:
        time.sleep(0.01)
    assert not timer.expired
    with pytest.raises(TrialTimedOut), TrialTimer(seconds=0.2, hard_stop=None, number=1) as timer:
        time.sleep(5)
    assert timer.expired


@pytest.mark.parametrize("value", [0, -1.0, "10"])
def test_trial_timeout_is_checked(value: object) -> None:
    study = shoal.create_study("t")
    with pytest.raises(ConfigError, match="trial_timeout of optimize must be"):
        study.optimize(_sleeps_in_trial_zero, n_trials=1, trial_timeout=value)  # type: ignore[arg-type]


def test_worker_processes_time_out_a_trial_and_go_on(tmp_path: Path) -> None:
    study = shoal.create_study("t", storage=f"sqlite:///{tmp_path}/t.db")
    study.optimize(_sleeps_in_trial_zero, n_trials=4, n_jobs=2, trial_timeout=TIMEOUT)
    trials = study.trials
    assert _states(study) == [(TrialState.FAILED, "timeout")] + [(TrialState.COMPLETE, None)] * 3
    assert len({t.worker for t in trials}) == 2  # no worker was replaced: the soft stop sufficed


def _stuck_in_c(trial: shoal.Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    if trial.number == 0:
        signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGALRM])  # the soft stop never arrives
        time.sleep(60)
    return x


def test_a_worker_stuck_in_c_code_is_replaced_and_the_run_goes_on(tmp_path: Path) -> None:
    study = shoal.create_study("t", storage=f"sqlite:///{tmp_path}/t.db")
    started = time.monotonic()
    study.optimize(_stuck_in_c, n_trials=3, executor=ProcessExecutor(), trial_timeout=TIMEOUT)
    took = time.monotonic() - started
    trials = study.trials
    assert _states(study) == [(TrialState.FAILED, "timeout")] + [(TrialState.COMPLETE, None)] * 2
    assert trials[1].worker != trials[0].worker  # a fresh worker took over
    assert took < TIMEOUT + grace_for(TIMEOUT) + 8.0
    pid = int(str(trials[0].worker).rsplit(":", 1)[1])
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # the stuck worker is gone (and reaped)


def test_shoal_tune_reads_trial_timeout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                        capsys: pytest.CaptureFixture[str]) -> None:
    from shoal.cli import main
    from shoal.cli._config import load_config

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    (tmp_path / "timeout_objective.py").write_text(textwrap.dedent("""\
        import time
        def objective(trial):
            x = trial.suggest_float("x", 0.0, 1.0)
            if trial.number == 1:
                time.sleep(60)
            return x
        """))
    config = tmp_path / "tune.yaml"
    config.write_text("objective: timeout_objective:objective\nstudy: slow\ntrial_timeout: 1\n")
    assert load_config(config).trial_timeout == 1.0
    url = f"sqlite:///{tmp_path}/s.db"
    try:
        assert main(["tune", str(config), "--n-trials", "3", "--storage", url]) == 0
    finally:
        sys.modules.pop("timeout_objective", None)
    assert "Ran 3 trials: 2 complete, 1 failed." in capsys.readouterr().out
    trials = shoal.load_study("slow", storage=url).trials
    assert [(t.state, t.failure_reason) for t in trials][1] == (TrialState.FAILED, "timeout")

    config.write_text("objective: timeout_objective:objective\ntrial_timeout: -5\n")
    assert main(["tune", str(config), "--storage", url]) == 1
    error = capsys.readouterr().err.splitlines()[0]
    assert error.startswith("Error: trial_timeout of tune.yaml must be a finite number > 0. Got -5."), error
