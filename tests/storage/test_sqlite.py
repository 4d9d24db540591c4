"""SQLite storage: the conformance suite, plus what only a file on disk can show."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import pickle
import queue
import re
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sqlalchemy as sa

import shoal
from shoal.cli import main
from shoal.clock import FakeClock
from shoal.exceptions import (
    ConfigError,
    SchemaVersionError,
    StorageError,
    StorageURLError,
    StudyNotFound,
)
from shoal.storage import open_storage
from shoal.storage._schema import SCHEMA_VERSION
from shoal.storage._sql import SQLStorage, _sqlite_connect
from shoal.testing import StorageSuite
from shoal.trial import Direction, TrialState


class TestSQLiteStorage(StorageSuite):
    def make_storage(self, tmp_path: Path, clock: FakeClock) -> SQLStorage:
        return SQLStorage(f"sqlite:///{tmp_path / 'shoal.db'}", clock=clock)


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shoal.db'}"


def _pragma(storage: SQLStorage, name: str) -> object:
    with storage._engine.connect() as conn:
        return conn.exec_driver_sql(f"PRAGMA {name}").scalar()


def test_file_is_in_wal_mode_with_busy_timeout(url: str, tmp_path: Path) -> None:
    storage = SQLStorage(url)
    assert _pragma(storage, "journal_mode") == "wal"
    assert _pragma(storage, "synchronous") == 1  # NORMAL
    assert _pragma(storage, "busy_timeout") == 30_000
    assert _pragma(storage, "foreign_keys") == 1
    storage.close()
    with sqlite3.connect(tmp_path / "shoal.db") as raw:  # WAL is a property of the file
        assert raw.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_writer_waits_for_the_lock_instead_of_failing(url: str, tmp_path: Path) -> None:
    storage = SQLStorage(url)
    study = storage.create_study("s", [Direction.MINIMIZE])
    trial = storage.create_trial(study.study_id)
    blocker = sqlite3.connect(tmp_path / "shoal.db", isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")  # another process holding the write lock
    release = threading.Timer(0.3, blocker.execute, args=("COMMIT",))
    release.start()
    started = time.perf_counter()
    assert storage.update_trial(trial.trial_id, params={"x": 1})
    assert time.perf_counter() - started >= 0.25
    release.join()
    blocker.close()
    storage.close()


def test_reopening_a_file_keeps_its_data(url: str) -> None:
    first = SQLStorage(url)
    study = first.create_study("kept", [Direction.MAXIMIZE], user_attrs={"a": 1})
    trial = first.create_trial(study.study_id, params={"x": 0.5})
    first.finish_trial(trial.trial_id, state=TrialState.COMPLETE, values=[0.25])
    first.close()
    again = SQLStorage(url)
    got = again.get_study("kept")
    assert (got.study_id, got.directions, got.n_trials) == (study.study_id, (Direction.MAXIMIZE,), 1)
    [stored] = again.get_trials(study.study_id).trials
    assert (stored.params, stored.values, stored.sign) == ({"x": 0.5}, (0.25,), -1.0)
    assert again.create_trial(study.study_id).number == 1
    again.close()


def test_two_objects_on_one_file_see_each_others_writes(url: str) -> None:
    a, b = SQLStorage(url), SQLStorage(url)
    study = a.create_study("s", [Direction.MINIMIZE])
    page = b.get_trials(study.study_id)
    trial = a.create_trial(study.study_id)
    assert [t.trial_id for t in b.get_trials(study.study_id, since=page.version).trials] == [
        trial.trial_id]
    assert b.update_trial(trial.trial_id, user_attrs={"by": "b"})
    assert a.get_trials(study.study_id).trials[0].user_attrs == {"by": "b"}
    a.close()
    b.close()


def test_threads_share_one_storage(url: str) -> None:
    storage = SQLStorage(url)
    study_id = storage.create_study("s", [Direction.MINIMIZE]).study_id
    errors: list[BaseException] = []

    def work() -> None:
        try:
            for _ in range(25):
                trial = storage.create_trial(study_id)
                assert storage.finish_trial(trial.trial_id, state=TrialState.COMPLETE,
                                            values=[1.0])
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert [t.number for t in storage.get_trials(study_id).trials] == list(range(100))
    storage.close()


def test_schema_version_mismatch_says_what_to_do(url: str, tmp_path: Path) -> None:
    SQLStorage(url).close()
    newer = SCHEMA_VERSION + 1
    with sqlite3.connect(tmp_path / "shoal.db") as raw:
        raw.execute(f"UPDATE shoal_meta SET value = '{newer}' WHERE key = 'schema_version'")
    with pytest.raises(SchemaVersionError) as info:
        SQLStorage(url)
    assert str(info.value) == (
        f"storage {url} was written with shoal schema v{newer}; this shoal reads v{SCHEMA_VERSION}. "
        "Upgrade shoal (pip install -U shoal), or point --storage at a new file.")
    with sqlite3.connect(tmp_path / "shoal.db") as raw:  # nothing was dropped or rewritten
        assert raw.execute("SELECT value FROM shoal_meta").fetchall() == [(str(newer),)]


def test_a_file_that_is_not_a_database_is_a_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_text("these are my notes, not a database\n" * 100)
    with pytest.raises(StorageError, match=r"cannot open storage sqlite:///.*notes\.db"):
        SQLStorage(f"sqlite:///{path}")
    assert path.read_text().startswith("these are my notes")


def test_relative_path_is_in_the_current_folder_and_url_is_kept(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    storage = open_storage("sqlite:///shoal.db")
    assert isinstance(storage, SQLStorage)
    assert storage.url == "sqlite:///shoal.db"
    assert (tmp_path / "shoal.db").exists()
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.chdir(tmp_path / "elsewhere")  # the open storage stays on its file
    storage.create_study("s", [Direction.MINIMIZE])
    assert not (tmp_path / "elsewhere" / "shoal.db").exists()
    storage.close()
    monkeypatch.chdir(tmp_path)
    reopened = open_storage(storage.url)
    assert isinstance(reopened, SQLStorage)
    assert [s.name for s in reopened.list_studies()] == ["s"]
    reopened.close()


def test_pickles_as_its_url_and_clock(url: str) -> None:
    clock = FakeClock(start=50.0)
    storage = SQLStorage(url, clock=clock)
    study = storage.create_study("s", [Direction.MINIMIZE])
    copy = pickle.loads(pickle.dumps(storage))
    assert isinstance(copy, SQLStorage)
    assert copy.url == url
    assert copy.get_study("s").study_id == study.study_id
    assert copy.create_trial(study.study_id).datetime_start == 50.0
    assert len(pickle.dumps(storage)) < 1000  # no engine, no pool, no connections
    storage.close()
    copy.close()


def test_in_memory_sqlite_works_in_one_process() -> None:
    storage = SQLStorage("sqlite://")
    study = storage.create_study("s", [Direction.MINIMIZE])
    thread = threading.Thread(target=storage.create_trial, args=(study.study_id,))
    thread.start()
    thread.join(10)
    assert storage.get_study("s").n_trials == 1
    storage.close()


@pytest.mark.parametrize(("bad", "match"), [
    ("sqlite:///{tmp}/no/such/folder/x.db", r"folder '.*/no/such/folder' of SQLite storage "
                                            r".* must exist\. Create it \(mkdir -p"),
    ("sqlite:///{tmp}", r"path of SQLite storage .* must be a file, not a folder"),
    ("sqlite+pysqlcipher:///{tmp}/x.db", r"needs the database driver .* not installed\. "
                                         r"Install it: pip install"),
    ("sqlite+nosuchdriver:///{tmp}/x.db", r"driver of storage URL .* must be one SQLAlchemy "
                                          r"knows"),
    ("mysql://user:hunter2@localhost/db", r"must start with 'sqlite:///' or 'postgresql://'\. "
                                          r"Got 'mysql://user:\*\*\*@localhost/db'"),
    ("not a url", r"storage URL must be a SQLAlchemy URL such as 'sqlite:///shoal.db'"),
    ("postgresql://user:hunter2@localhost:notaport/db", r"Got 'postgresql://user:\*\*\*@"),
])
def test_bad_urls_raise_storage_url_error(bad: str, match: str, tmp_path: Path) -> None:
    with pytest.raises(StorageURLError, match=match) as info:
        SQLStorage(bad.format(tmp=tmp_path))
    assert "hunter2" not in str(info.value)


def test_unreachable_server_error_hides_the_password() -> None:
    with pytest.raises(StorageError, match=r"cannot open storage postgresql://user:\*\*\*@") as info:
        SQLStorage("postgresql://user:hunter2@127.0.0.1:1/db")
    assert "hunter2" not in str(info.value)


def test_numpy_values_are_stored_as_plain_json(url: str) -> None:
    storage = SQLStorage(url)
    study = storage.create_study("s", [Direction.MINIMIZE])
    trial = storage.create_trial(study.study_id, params={"n": np.int64(3), "x": np.float32(0.5)},
                                 user_attrs={"curve": np.array([1.0, 2.5])})
    storage.finish_trial(trial.trial_id, state=TrialState.COMPLETE, values=[np.float64(0.25)])
    [got] = storage.get_trials(study.study_id).trials
    assert got.params == {"n": 3, "x": 0.5}
    assert type(got.params["n"]) is int
    assert got.user_attrs == {"curve": [1.0, 2.5]}
    assert got.values == (0.25,)
    with pytest.raises(ConfigError, match=r"user attribute 'bad' of a trial must be JSON: .* Got "
                                          r"<object object"):
        storage.create_trial(study.study_id, user_attrs={"bad": object()})
    assert storage.get_study("s").n_trials == 1  # the failed write left nothing behind
    storage.close()


def test_sql_errors_use_the_storage_url(url: str) -> None:
    storage = SQLStorage(url)
    with pytest.raises(StudyNotFound, match=re.escape(f"no study named 'x' in {url}.")):
        storage.get_study("x")
    storage.close()


def test_idle_storage_holds_no_snapshot_or_lock(url: str, tmp_path: Path) -> None:
    storage = SQLStorage(url)
    study = storage.create_study("s", [Direction.MINIMIZE])
    trial = storage.create_trial(study.study_id)
    storage.claim_waiting_trial(study.study_id, worker="w")
    storage.get_trials(study.study_id)
    storage.update_trial(trial.trial_id, heartbeat=True)
    with sqlite3.connect(tmp_path / "shoal.db", isolation_level=None, timeout=0) as raw:
        busy, _, _ = raw.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
        assert busy == 0  # no pooled connection keeps a read transaction open
    assert sorted(sa.inspect(storage._engine).get_table_names()) == [
        "shoal_budgets", "shoal_commands", "shoal_meta", "shoal_studies", "shoal_trials"]
    storage.close()


def _switch_new_file_to_wal(path: str, barrier: Any, errors: Any) -> None:
    barrier.wait()
    try:
        with contextlib.closing(sqlite3.connect(path, timeout=30.0)) as conn:
            _sqlite_connect(conn, None)
    except sqlite3.Error as err:
        errors.put(repr(err))


def test_processes_switching_one_new_file_to_wal_at_once_all_succeed(tmp_path: Path) -> None:
    # Without the retry, 8 processes setting journal_mode = WAL on one new file fail with
    # "database is locked" within a millisecond, busy timeout or not (62 failures in 200 rounds).
    ctx = mp.get_context("fork")
    errors: Any = ctx.Queue()
    for i in range(40):
        barrier = ctx.Barrier(8)
        procs = [ctx.Process(target=_switch_new_file_to_wal,
                             args=(str(tmp_path / f"new{i}.db"), barrier, errors)) for _ in range(8)]
        for proc in procs:
            proc.start()
        for proc in procs:
            proc.join(60.0)
        assert all(proc.exitcode == 0 for proc in procs)
    found = []
    with contextlib.suppress(queue.Empty):
        while True:
            found.append(errors.get(timeout=0.5))
    assert found == []
    with contextlib.closing(sqlite3.connect(tmp_path / "new0.db")) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


@pytest.mark.slow
def test_eight_processes_open_a_new_file_at_once(
        url: str, check_concurrent_ask_tell: Callable[[str, bool, int], None]) -> None:
    check_concurrent_ask_tell(url, False, 100)


@pytest.mark.slow
def test_eight_forked_processes_share_one_storage_object(
        url: str, check_concurrent_ask_tell: Callable[[str, bool, int], None]) -> None:
    check_concurrent_ask_tell(url, True, 100)


@pytest.mark.slow
def test_eight_processes_claim_each_waiting_trial_once(
        url: str, check_concurrent_claims: Callable[[str, int], None]) -> None:
    check_concurrent_claims(url, 200)


def test_eight_processes_resume_each_paused_trial_once(
        url: str, check_concurrent_resumes: Callable[[str, int], None]) -> None:
    check_concurrent_resumes(url, 40)


def test_in_memory_sqlite_with_several_jobs_is_one_config_error() -> None:
    # Schema v1's shoal raised a raw SQLAlchemy traceback from the worker processes here.
    study = shoal.create_study("s", storage="sqlite://")
    with pytest.raises(ConfigError, match=r"^storage of study 's' must be shareable between 2 "
                                          r"worker processes; in-memory storage is not\."):
        study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=2, n_jobs=2)
    assert study.trials == []
    study.storage.close()


@pytest.mark.parametrize("memory_url", ["sqlite://", "sqlite:///:memory:", "memory"])
def test_tune_in_memory_does_not_suggest_exploring_an_unsaved_study(
        memory_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
        capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    config = Path(__file__).resolve().parents[2] / "examples" / "tune_quadratic.yaml"
    assert main(["tune", str(config), "--n-trials", "2", "--storage", memory_url]) == 0
    out = capsys.readouterr().out
    assert (f"Study 'quadratic' (2 trials) was kept in memory ({memory_url}) and is gone when "
            "this command ends. To keep a study, store it in a file: --storage "
            "sqlite:///shoal.db.") in out
    assert "Explore it" not in out
    assert "Add trials" not in out
    assert os.listdir(tmp_path) == []
