"""Faults a long study meets: a PostgreSQL restart, a SIGKILLed worker, Ctrl-C on the driver.

Real processes and real PostgreSQL servers (tests/conftest.py): the session's for the writes
whose connection breaks after they committed, one of the test's own for the restart.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

import shoal
from shoal import TrialState
from shoal.clock import FakeClock
from shoal.exceptions import StorageError, StorageURLError
from shoal.storage import open_reader, open_storage
from shoal.storage._retry import Retrier
from shoal.storage._sql import SQLStorage
from shoal.trial import Direction

RestartablePostgres = Any  # tests/conftest.py's server a test may stop and start
SRC = str(Path(__file__).resolve().parents[2] / "src")


def _python(code: str, *args: str, env_extra: dict[str, str] | None = None,
            **kwargs: Any) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([SRC, os.environ.get("PYTHONPATH", "")]),
           **(env_extra or {})}
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *args], text=True, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, **kwargs)


def _wait_until(condition: Callable[[], bool], what: str, timeout: float = 60.0) -> None:
    deadline = time.time() + timeout
    while not condition():
        assert time.time() < deadline, f"{what} did not happen within {timeout} s"
        time.sleep(0.05)


# Writes whose connection breaks after they committed are not written twice ---------------------
def _lost_reply() -> sa.exc.OperationalError:
    return sa.exc.OperationalError("COMMIT", {}, psycopg.OperationalError(
        "server closed the connection unexpectedly"), connection_invalidated=True)


@contextmanager
def _commit_then_lose_the_reply(storage: SQLStorage) -> Iterator[list[int]]:
    """The next write commits, then its connection breaks: the client cannot know it committed."""
    original = storage._writing
    lost: list[int] = []

    @contextmanager
    def writing() -> Iterator[Any]:
        with original() as conn:
            yield conn
        if not lost:
            lost.append(1)
            raise _lost_reply()

    storage._writing = writing  # type: ignore[method-assign]
    try:
        yield lost
    finally:
        storage._writing = original  # type: ignore[method-assign]


@pytest.fixture
def pg_storage(fresh_postgres_url: str) -> Iterator[SQLStorage]:
    storage = open_storage(fresh_postgres_url)
    assert isinstance(storage, SQLStorage)
    yield storage
    storage.close()


def _only_trials(storage: SQLStorage, study_id: int) -> list[shoal.FrozenTrial]:
    return storage.get_trials(study_id).trials


def test_create_trial_committed_before_the_connection_broke_is_not_created_twice(
        pg_storage: SQLStorage) -> None:
    study = pg_storage.create_study("s", [Direction.MINIMIZE])
    with _commit_then_lose_the_reply(pg_storage) as lost:
        trial = pg_storage.create_trial(study.study_id, params={"x": 1.0}, system_attrs={"a": 1})
    assert lost == [1]
    trials = _only_trials(pg_storage, study.study_id)
    assert [t.number for t in trials] == [0]
    assert trial.trial_id == trials[0].trial_id
    assert trials[0].system_attrs == {"a": 1}  # the write's token is never read back
    assert trial.system_attrs == {"a": 1}


def test_finish_trial_committed_before_the_connection_broke_reports_success(
        pg_storage: SQLStorage) -> None:
    study = pg_storage.create_study("s", [Direction.MINIMIZE])
    trial = pg_storage.create_trial(study.study_id)
    with _commit_then_lose_the_reply(pg_storage) as lost:
        ok = pg_storage.finish_trial(trial.trial_id, state=TrialState.COMPLETE, values=[0.5],
                                     system_attrs={"k": "v"})
    assert lost == [1]
    assert ok  # not "finished elsewhere": it was this call
    (done,) = _only_trials(pg_storage, study.study_id)
    assert (done.state, done.values, done.system_attrs) == (TrialState.COMPLETE, (0.5,), {"k": "v"})
    # A trial someone else ended differently is still refused.
    other = pg_storage.create_trial(study.study_id)
    assert pg_storage.finish_trial(other.trial_id, state=TrialState.FAILED)
    with _commit_then_lose_the_reply(pg_storage):
        assert pg_storage.update_trial(other.trial_id, user_attrs={"u": 1}) is False


def test_a_pause_committed_before_the_connection_broke_never_ends_the_resumed_run(
        pg_storage: SQLStorage) -> None:
    study = pg_storage.create_study("s", [Direction.MINIMIZE])
    trial = pg_storage.create_trial(study.study_id, worker="w1")
    pg_storage.update_trial(trial.trial_id, intermediate={2: 0.5})
    original = pg_storage._writing
    lost: list[int] = []

    @contextmanager
    def writing() -> Iterator[Any]:
        with original() as conn:
            yield conn
        if not lost:  # the pause committed; before the retry, another worker resumes the trial
            lost.append(1)
            other = SQLStorage(pg_storage.url)
            assert other.resume_trial(trial.trial_id, worker="w2") is not None
            other.close()
            raise _lost_reply()

    pg_storage._writing = writing  # type: ignore[method-assign]
    assert pg_storage.finish_trial(trial.trial_id, state=TrialState.PAUSED)
    pg_storage._writing = original  # type: ignore[method-assign]
    (stored,) = _only_trials(pg_storage, study.study_id)
    assert (stored.state, stored.worker) == (TrialState.RUNNING, "w2")  # w2's run goes on
    assert [e["event"] for e in stored.lineage] == ["paused", "resumed"]


def test_claim_committed_before_the_connection_broke_returns_that_trial(pg_storage: SQLStorage) -> None:
    study = pg_storage.create_study("s", [Direction.MINIMIZE])
    for x in (1.0, 2.0):
        pg_storage.create_trial(study.study_id, state=TrialState.WAITING, params={"x": x})
    with _commit_then_lose_the_reply(pg_storage) as lost:
        claimed = pg_storage.claim_waiting_trial(study.study_id, worker="w1")
    assert lost == [1]
    assert claimed is not None
    assert (claimed.number, claimed.params) == (0, {"x": 1.0})
    states = [t.state for t in _only_trials(pg_storage, study.study_id)]
    assert states == [TrialState.RUNNING, TrialState.WAITING]  # the second stays for another worker


def test_reaping_committed_before_the_connection_broke_returns_the_reaped(pg_storage: SQLStorage) -> None:
    study = pg_storage.create_study("s", [Direction.MINIMIZE])
    dead = pg_storage.create_trial(study.study_id, params={"x": 1.0})
    time.sleep(0.05)
    with _commit_then_lose_the_reply(pg_storage) as lost:
        reaped = pg_storage.fail_stale_trials(study.study_id, grace_seconds=0.01)
    assert lost == [1]
    assert [t.trial_id for t in reaped] == [dead.trial_id]  # so its retry is enqueued, once
    assert reaped[0].state is TrialState.FAILED
    assert pg_storage.fail_stale_trials(study.study_id, grace_seconds=0.01) == []


def test_resume_and_create_study_committed_before_the_connection_broke(pg_storage: SQLStorage) -> None:
    with _commit_then_lose_the_reply(pg_storage) as lost:
        record = pg_storage.create_study("s", [Direction.MAXIMIZE], user_attrs={"u": 1})
    assert lost == [1]
    assert record.name == "s"
    trial = pg_storage.create_trial(record.study_id)
    pg_storage.update_trial(trial.trial_id, intermediate={3: 0.5})
    assert pg_storage.finish_trial(trial.trial_id, state=TrialState.PAUSED)
    with _commit_then_lose_the_reply(pg_storage) as lost:
        resumed = pg_storage.resume_trial(trial.trial_id, worker="w2")
    assert lost == [1]
    assert resumed is not None
    assert resumed.worker == "w2"
    (stored,) = _only_trials(pg_storage, record.study_id)
    assert [e["event"] for e in stored.lineage] == ["paused", "resumed"]  # resumed once
    with _commit_then_lose_the_reply(pg_storage) as lost:
        pg_storage.delete_study("s")
    assert lost == [1]
    assert pg_storage.list_studies() == []


def test_retry_seconds_is_a_url_option(fresh_postgres_url: str) -> None:
    storage = open_storage(f"{fresh_postgres_url}&retry_seconds=5")
    assert isinstance(storage, SQLStorage)
    assert storage._retry.seconds == 5.0
    storage.close()
    reader = open_reader(f"{fresh_postgres_url}&retry_seconds=5")  # the option is shoal's, not the driver's
    assert reader.list_studies() == []
    reader.close()
    with pytest.raises(StorageURLError, match=r"retry_seconds of storage URL .* must be a number of "
                                              r"seconds >= 0. Got 'soon'."):
        open_storage(f"{fresh_postgres_url}&retry_seconds=soon")


def test_an_outage_longer_than_retry_seconds_is_one_error(
        restartable_postgres: RestartablePostgres, caplog: pytest.LogCaptureFixture) -> None:
    storage = open_storage(f"{restartable_postgres.url}?retry_seconds=1")
    record = storage.create_study("s", [Direction.MINIMIZE])
    restartable_postgres.stop()
    started = time.monotonic()
    with caplog.at_level(logging.WARNING, logger="shoal"):
        with pytest.raises(StorageError, match=r"must answer within retry_seconds=1\. .* resumes the study"):
            storage.create_trial(record.study_id)
        assert 1.0 <= time.monotonic() - started < 5.0
        assert caplog.text.count("cannot be reached") == 1  # logged once per outage
        restartable_postgres.start()
        assert storage.create_trial(record.study_id).number == 0  # usable again once it is back
        assert "answers again" in caplog.text
    storage.close()


def test_after_an_outage_the_heartbeat_grace_grows_by_its_length() -> None:
    retrier = Retrier("postgresql://db", 60.0)
    assert retrier.outage_allowance(120.0) == 0.0
    calls = iter([_lost_reply(), _lost_reply(), None])

    def flaky() -> str:
        err = next(calls)
        if err is not None:
            raise err
        return "ok"

    assert retrier.call(flaky) == "ok"  # after 0.05 + 0.1 s of back-off
    allowance = retrier.outage_allowance(120.0)  # the outage, and the most a retry lags behind
    assert 2.0 + 0.14 <= allowance < 2.0 + 1.0
    assert retrier.outage_allowance(-allowance) == 0.0  # every live worker has beaten since


def test_a_reaper_that_saw_an_outage_waits_its_length_longer(fresh_postgres_url: str) -> None:
    clock = FakeClock(1000.0)
    storage = SQLStorage(fresh_postgres_url, clock=clock)
    study = storage.create_study("s", [Direction.MINIMIZE])
    live = storage.create_trial(study.study_id)  # last beat at 1000.0
    calls = iter([_lost_reply(), _lost_reply(), None])

    def flaky() -> None:
        err = next(calls)
        if err is not None:
            raise err

    storage._retry.call(flaky)  # this storage saw a 0.15 s outage end just now
    grace = 1.0
    clock.advance(grace + 2.0)  # silent for longer than the grace, but not than grace + outage + 2 s
    assert storage.fail_stale_trials(study.study_id, grace_seconds=grace) == []
    clock.advance(2.0)  # past grace + outage + the heartbeat's largest back-off
    assert [t.trial_id for t in storage.fail_stale_trials(study.study_id, grace_seconds=grace)] == \
        [live.trial_id]
    storage.close()


STUDY_THROUGH_A_RESTART = """
import os, sys, time, shoal
url, log_folder = sys.argv[1], sys.argv[2]
study = shoal.create_study("restart", storage=url, load_if_exists=True)
def objective(trial):
    x = trial.suggest_float("x", -1.0, 1.0)
    for step in range(3):
        time.sleep(0.05)
        trial.report(x * step, step)
    with open(os.path.join(log_folder, f"{os.getpid()}.log"), "a") as log:
        log.write(f"{trial.number} {x!r}\\n")
    return x * x
study.optimize(objective, n_trials=int(sys.argv[3]), n_jobs=2)
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["fast", "immediate"])  # a restart; a crash (backends killed)
def test_a_postgres_restart_mid_study_loses_and_duplicates_nothing(
        restartable_postgres: RestartablePostgres, tmp_path: Path, mode: str) -> None:
    n_trials = 40
    url = f"{restartable_postgres.url}?retry_seconds=60"
    driver = _python(STUDY_THROUGH_A_RESTART, url, str(tmp_path), str(n_trials))

    def done() -> int:
        return sum(len(p.read_text().splitlines()) for p in tmp_path.glob("*.log"))

    _wait_until(lambda: done() >= 5 or driver.poll() is not None, "five trials")
    assert driver.poll() is None, driver.communicate()
    restartable_postgres.stop(mode)  # ends every connection of both workers mid-transaction
    down_at = done()
    time.sleep(3.0)
    restartable_postgres.start()
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 0, err
    assert down_at <= n_trials - 10, down_at  # the outage came mid-study: ten trials still needed it
    assert "cannot be reached" in err, err
    assert "answers again" in err

    trials = shoal.load_study("restart", storage=url).trials
    assert [t.number for t in trials] == list(range(n_trials))  # the budget, no duplicate number
    assert all(t.state is TrialState.COMPLETE for t in trials)  # none left RUNNING, none failed
    assert len({t.params["x"] for t in trials}) == n_trials  # no configuration twice
    ran = sorted((int(n), float(x)) for p in tmp_path.glob("*.log")
                 for n, x in (line.split() for line in p.read_text().splitlines()))
    assert ran == [(t.number, t.params["x"]) for t in trials]  # every run recorded, once
    for t in trials:
        assert t.value == pytest.approx(t.params["x"] ** 2)
        assert t.intermediate == {s: pytest.approx(t.params["x"] * s) for s in range(3)}


# A worker process SIGKILLed mid-trial: its trial is retried from its last checkpoint -------------
KILLED_WORKER = """
import json, os, sys, time, shoal
from shoal.executors import WorkerCrashed
url, markers = sys.argv[1], sys.argv[2]
study = shoal.create_study("killed", storage=url, heartbeat=shoal.Heartbeat(interval=0.2, grace=1.5),
                           retry=shoal.RetryPolicy(max_retries=1))
def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    total, first = 0.0, 0
    if trial.resume_step is not None:  # a retry: carry on from the dead run's newest step
        state = json.loads((trial.resume_checkpoint / "state.json").read_text())
        total, first = state["total"], trial.resume_step + 1
    trial.set_user_attr("first_step", first)
    for step in range(first, 6):
        time.sleep(0.1)
        total += x * step
        with trial.checkpoint(step) as folder:
            (folder / "state.json").write_text(json.dumps({"total": total}))
        trial.report(total, step)
        if trial.number == 1 and step == 3:
            open(os.path.join(markers, str(os.getpid())), "w").close()
            time.sleep(600)  # SIGKILLed here
    return total
try:
    study.optimize(objective, n_trials=8, n_jobs=2)
except WorkerCrashed as err:
    print("crashed:", err)
"""


@pytest.mark.slow
def test_a_sigkilled_worker_trial_is_retried_from_its_last_checkpoint(fresh_postgres_url: str,
                                                                       tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    driver = _python(KILLED_WORKER, fresh_postgres_url, str(markers),
                     env_extra={"SHOAL_ARTIFACTS": str(tmp_path / "artifacts")})
    _wait_until(lambda: any(markers.iterdir()) or driver.poll() is not None, "trial 1 at step 3")
    assert driver.poll() is None, driver.communicate()
    (marker,) = markers.iterdir()
    os.kill(int(marker.name), signal.SIGKILL)  # one worker process, mid-trial; the driver goes on
    out, err = driver.communicate(timeout=90)
    assert driver.returncode == 0, err
    assert "crashed: worker processes died" in out  # a real crash is still reported, at the end

    trials = shoal.load_study("killed", storage=fresh_postgres_url).trials
    dead = trials[1]
    assert dead.state is TrialState.FAILED
    assert str(dead.failure_reason).startswith("heartbeat lost")
    assert dead.last_step == 3
    (retry,) = [t for t in trials if t.parent == 1]
    assert retry.system_attrs["retry_of"] == 1
    assert retry.params == dead.params
    assert retry.state is TrialState.COMPLETE
    assert retry.user_attrs["first_step"] == 4  # resumed after the checkpointed step 3, not at 0
    assert sorted(retry.intermediate) == [4, 5]
    x = dead.params["x"]
    assert retry.value == pytest.approx(x * sum(range(6)))  # the checkpoint's running total carried on
    others = [t for t in trials if t.number not in (1, retry.number)]
    assert all(t.state is TrialState.COMPLETE and t.user_attrs["first_step"] == 0 for t in others)
    assert len(trials) == 8
    assert not [t for t in trials if t.state is TrialState.RUNNING]


# Ctrl-C on the driver while two worker processes run on PostgreSQL -------------------------------
CTRL_C = """
import os, signal, sys, time, shoal
signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal
url, markers = sys.argv[1], sys.argv[2]
study = shoal.create_study("ctrl-c", storage=url)
def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    if trial.number >= 3:
        open(os.path.join(markers, f"{trial.number}-{os.getpid()}"), "w").close()
        while True:  # a training loop
            time.sleep(0.01)
    return x
try:
    study.optimize(objective, n_trials=20, n_jobs=2, trial_timeout=300)
except KeyboardInterrupt:
    sys.exit(130)
"""


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_ctrl_c_on_postgres_stops_the_workers_and_leaves_storage_consistent(
        fresh_postgres_url: str, tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    driver = _python(CTRL_C, fresh_postgres_url, str(markers), start_new_session=True)
    _wait_until(lambda: len(list(markers.iterdir())) >= 2 or driver.poll() is not None,
                "two trials running")
    assert driver.poll() is None, driver.communicate()
    pids = {int(p.name.split("-")[1]) for p in markers.iterdir()}
    os.killpg(driver.pid, signal.SIGINT)  # a terminal's Ctrl-C: the whole process group
    _, err = driver.communicate(timeout=30)
    assert driver.returncode == 130, err
    assert all(_gone(pid) for pid in pids)  # the workers stopped with the driver

    trials = shoal.load_study("ctrl-c", storage=fresh_postgres_url).trials
    assert [t.number for t in trials] == list(range(len(trials)))
    assert [t.state for t in trials[:3]] == [TrialState.COMPLETE] * 3
    assert [(t.state, t.failure_reason) for t in trials[3:]] == [(TrialState.FAILED, "interrupted")] * 2
    assert all(t.datetime_complete is not None for t in trials)
    time.sleep(0.5)
    assert shoal.load_study("ctrl-c", storage=fresh_postgres_url).trials == trials  # nothing runs on


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, only not yet reaped
        return stat.read().rsplit(")", 1)[1].split()[0] == "Z"


LONG_TRIAL_THROUGH_AN_OUTAGE = """
import sys, time, shoal
url, n_trials = sys.argv[1], int(sys.argv[2])
study = shoal.create_study("outage", storage=url, heartbeat=shoal.Heartbeat(interval=0.2, grace=1.0))
def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    time.sleep(9.0 if trial.number == 0 else 0.2)  # trial 0 only beats, through the outage
    return x
study.optimize(objective, n_trials=n_trials, n_jobs=2)
"""


@pytest.mark.slow
def test_heartbeats_missed_in_an_outage_do_not_fail_live_trials(
        restartable_postgres: RestartablePostgres) -> None:
    url = f"{restartable_postgres.url}?retry_seconds=60"
    driver = _python(LONG_TRIAL_THROUGH_AN_OUTAGE, url, "40")
    storage = None

    def started() -> bool:
        nonlocal storage
        try:
            storage = storage or open_storage(url)
            record = storage.get_study("outage")
        except Exception:  # not created yet
            return driver.poll() is not None
        return len(storage.get_trials(record.study_id).trials) >= 4 or driver.poll() is not None

    _wait_until(started, "four trials")
    assert storage is not None
    storage.close()
    assert driver.poll() is None, driver.communicate()
    restartable_postgres.stop()  # longer than the grace: the other worker reaps as soon as it is back
    time.sleep(3.0)
    restartable_postgres.start()
    _, err = driver.communicate(timeout=120)
    assert driver.returncode == 0, err
    trials = shoal.load_study("outage", storage=url).trials
    assert [(t.state, t.failure_reason) for t in trials] == [(TrialState.COMPLETE, None)] * 40
    assert "finished elsewhere" not in err
