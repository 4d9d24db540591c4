"""`open_reader` on SQLite reads through the standard library (`SQLiteReader`), as `SQLReader` does.

The two readers must agree on everything: every record of the v1 fixture and of a new database
holding every kind of trial (compared field by field through `repr`, so NaN and the type of each
number count too), every page of `get_trials(since=)`, and the type and text of every refusal.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import math
import os
import sqlite3
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from shoal.clock import FakeClock
from shoal.storage import StorageReader, open_reader
from shoal.storage._reader import SQLReader
from shoal.storage._sql import SQLStorage
from shoal.storage._sqlite_reader import STUDY_NAMES, SQLiteReader
from shoal.trial import Direction, TrialState

FIXTURES = Path(__file__).parent / "fixtures"
READERS: dict[str, Callable[[str], StorageReader]] = {"sqlite3": SQLiteReader, "sqlalchemy": SQLReader}


def _fixture_builder() -> Callable[[Path], None]:
    """`make_schema_v1.build`: writes, with today's shoal, every kind of record the v1 fixture has."""
    spec = importlib.util.spec_from_file_location("make_schema_v1", FIXTURES / "make_schema_v1.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    build: Callable[[Path], None] = module.build
    return build


def _everything(reader: StorageReader) -> list[str]:
    """Every record the reader gives, as text: each study (listed and looked up), and each page of
    trials from every version on, so equal lists mean equal values, types and NaNs."""
    out = []
    for record in reader.list_studies():
        assert reader.get_study(record.name) == record
        out.append(repr(record))
        page = reader.get_trials(record.study_id)
        out.append(repr(page))
        for since in range(page.version + 1):
            out.append(repr(reader.get_trials(record.study_id, since=since)))
    out.append(repr(reader.get_trials(10_000)))  # no such study: an empty page
    return out


def _read_with_both(url: str) -> dict[str, list[str]]:
    read = {}
    for name, opener in READERS.items():
        reader = opener(url)
        read[name] = _everything(reader)
        reader.close()
    return read


def _hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_open_reader_reads_sqlite_through_the_standard_library(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shoal.db'}"
    SQLStorage(url).close()
    reader = open_reader(url)
    assert type(reader) is SQLiteReader
    assert repr(reader) == f"SQLiteReader({url!r})"
    reader.close()


def _v1_file(tmp_path: Path) -> Path:
    path = tmp_path / "v1.db"
    with sqlite3.connect(path) as conn:
        conn.executescript((FIXTURES / "schema_v1.sql").read_text(encoding="utf-8"))
    conn.close()
    return path


def test_both_readers_read_the_v1_fixture_alike(tmp_path: Path) -> None:
    path = _v1_file(tmp_path)
    before = _hash(path)
    read = _read_with_both(f"sqlite:///{path}")
    assert read["sqlite3"] == read["sqlalchemy"]
    assert len(read["sqlite3"]) > 20
    assert _hash(path) == before  # neither migrated nor wrote anything


@pytest.mark.parametrize("opener", READERS.values(), ids=READERS.keys())
def test_a_v1_file_has_no_lineage_until_a_writer_migrates_it(
        tmp_path: Path, opener: Callable[[str], StorageReader]) -> None:
    path = _v1_file(tmp_path)
    url = f"sqlite:///{path}"
    reader = opener(url)  # opened on v1: no lineage column to select
    study = reader.get_study("single")
    trials = reader.get_trials(study.study_id).trials
    assert len(trials) > 3
    assert all(t.lineage == () for t in trials)
    writer = SQLStorage(url)  # migrates to v2 under the open reader
    running = next(t for t in trials if t.state is TrialState.RUNNING)
    assert writer.update_trial(running.trial_id, intermediate={99: 1.0})
    assert writer.finish_trial(running.trial_id, state=TrialState.PAUSED)
    writer.close()
    [paused] = [t for t in reader.get_trials(study.study_id).trials
                if t.number == running.number]
    assert paused.state is TrialState.PAUSED
    assert [(e["event"], e["step"]) for e in paused.lineage] == [("paused", 99)]
    reader.close()


@pytest.fixture
def every_kind(tmp_path: Path) -> tuple[str, Path]:
    """A new database: the v1 fixture's records written by today's shoal, and a study of odd
    values (NaN and infinities, nested attributes, a failed trial with its reason, a gap left
    by a deleted study)."""
    path = tmp_path / "shoal.db"
    _fixture_builder()(path)
    url = f"sqlite:///{path}"
    clock = FakeClock(start=2_000_000_000.0)
    storage = SQLStorage(url, clock=clock)
    gone = storage.create_study("gone", [Direction.MINIMIZE])
    storage.create_trial(gone.study_id)
    storage.delete_study("gone")
    odd = storage.create_study("odd", [Direction.MINIMIZE], system_attrs={"space": {"x": [1, 2]}})
    trial = storage.create_trial(odd.study_id, params={"x": 1.5}, user_attrs={"inf": math.inf})
    storage.update_trial(trial.trial_id, intermediate={0: math.nan, 3: -math.inf}, heartbeat=True)
    clock.advance(1.25)
    storage.finish_trial(trial.trial_id, state=TrialState.COMPLETE, values=[math.inf])
    failed = storage.create_trial(odd.study_id, worker="host:7")
    storage.finish_trial(failed.trial_id, state=TrialState.FAILED,
                         system_attrs={"fail_reason": "ValueError: nan"})
    fork = {"event": "forked", "parent": 0, "step": 3, "changed": {"x": [1.5, 2.0]},
            "replaces": None, "at": clock.now()}
    paused = storage.create_trial(odd.study_id, params={"x": 2.0}, parent=0, lineage=[fork])
    storage.update_trial(paused.trial_id, intermediate={4: 0.5})
    storage.finish_trial(paused.trial_id, state=TrialState.PAUSED)
    storage.resume_trial(paused.trial_id, worker="host:8")
    storage.update_trial(paused.trial_id, intermediate={5: 0.25})
    storage.finish_trial(paused.trial_id, state=TrialState.PAUSED)
    storage.create_study("empty", [Direction.MAXIMIZE])
    storage.close()
    return url, path


def test_both_readers_read_every_kind_of_trial_alike(every_kind: tuple[str, Path]) -> None:
    url, path = every_kind
    before = _hash(path)
    read = _read_with_both(url)
    assert read["sqlite3"] == read["sqlalchemy"]
    reader = SQLiteReader(url)
    assert [s.name for s in reader.list_studies()] == ["empty", "odd", "pareto", "single"]
    states = {t.state for t in reader.get_trials(reader.get_study("single").study_id).trials}
    assert states == set(TrialState) - {TrialState.PAUSED}
    [odd, failed, paused] = reader.get_trials(reader.get_study("odd").study_id).trials
    assert math.isnan(odd.intermediate[0])
    assert odd.values == (math.inf,)
    assert failed.system_attrs == {"fail_reason": "ValueError: nan"}
    assert paused.state is TrialState.PAUSED
    assert [(e["event"], e["step"]) for e in paused.lineage] == [
        ("forked", 3), ("paused", 4), ("resumed", 4), ("paused", 5)]
    assert (paused.forked_from, paused.resumes, paused.lineage[2]["worker"]) == ((0, 3), 1,
                                                                                "host:8")
    reader.close()
    assert _hash(path) == before


def test_both_readers_say_the_same_about_a_missing_study(every_kind: tuple[str, Path]) -> None:
    url, _ = every_kind
    errors = []
    for opener in READERS.values():
        reader = opener(url)
        with pytest.raises(Exception) as info:  # noqa: PT011 (compared below)
            reader.get_study("nope")
        errors.append((type(info.value), str(info.value)))
        reader.close()
    assert errors[0] == errors[1]
    assert "Known studies: empty, odd, pareto, single." in errors[0][1]


def _bad(kind: str, tmp_path: Path) -> str:
    """A URL of a database a reader must refuse, made by kind."""
    path = tmp_path / f"{kind}.db"
    if kind == "missing":
        return f"sqlite:///{path}"
    if kind in ("in memory", "uri"):
        return {"in memory": "sqlite://", "uri": f"sqlite:///file:{path}?uri=true"}[kind]
    if kind == "folder":
        return f"sqlite:///{tmp_path}"
    if kind == "empty":
        path.touch()
    elif kind == "not sqlite":
        path.write_text("name,value\nlr,0.1\n" * 50)
    else:
        with sqlite3.connect(path) as conn:
            if kind == "blank":
                conn.execute("PRAGMA user_version = 7")
            elif kind == "foreign":
                for table in ("notes", "tags", "users", "a", "b", "c"):
                    conn.execute(f"CREATE TABLE {table} (id INTEGER PRIMARY KEY)")
            elif kind == "no version row":
                conn.execute("CREATE TABLE shoal_meta (key TEXT PRIMARY KEY, value TEXT)")
        conn.close()
        if kind in ("newer", "older", "odd version", "corrupt"):
            storage = SQLStorage(f"sqlite:///{path}")
            study = storage.create_study("s", [Direction.MINIMIZE])
            for i in range(300 if kind == "corrupt" else 1):
                trial = storage.create_trial(study.study_id, params={"i": i, "pad": "x" * 200})
                storage.finish_trial(trial.trial_id, state=TrialState.COMPLETE, values=[1.0])
            storage.close()
            if kind == "corrupt":
                with path.open("r+b") as f:
                    f.seek(path.stat().st_size // 2)
                    f.write(b"\xa5" * 8192)
            else:
                version = {"newer": "99", "older": "0", "odd version": "v2-beta"}[kind]
                with sqlite3.connect(path) as conn:
                    conn.execute("UPDATE shoal_meta SET value = ? WHERE key = 'schema_version'",
                                 (version,))
                conn.close()
    return f"sqlite:///{path}"


def _folder(tmp_path: Path) -> dict[str, tuple[str, int]]:
    """Each file's bytes (hash) and mtime; SQLite's -wal/-shm files, which any reader of a WAL
    database may leave, aside."""
    return {name: (_hash(tmp_path / name) if (tmp_path / name).is_file() else "",
                   (tmp_path / name).stat().st_mtime_ns)
            for name in os.listdir(tmp_path) if not name.endswith(("-wal", "-shm"))}


@pytest.mark.parametrize("kind", ["missing", "in memory", "uri", "folder", "empty", "not sqlite",
                                  "blank", "foreign", "no version row", "newer", "older",
                                  "odd version", "corrupt"])
def test_both_readers_refuse_a_bad_database_alike_and_leave_it_unchanged(
        kind: str, tmp_path: Path) -> None:
    url = _bad(kind, tmp_path)
    before = _folder(tmp_path)
    errors = []
    for opener in READERS.values():
        with pytest.raises(Exception) as info:  # noqa: PT011, PT012 (a read may show the damage)
            reader = opener(url)
            for record in reader.list_studies():
                reader.get_trials(record.study_id)
        errors.append((type(info.value).__name__, str(info.value)))
    assert errors[0] == errors[1]
    assert errors[0][0] in ("StorageError", "StorageURLError", "SchemaVersionError")
    assert errors[0][1].count("\n") == 0
    assert _folder(tmp_path) == before


def test_a_database_that_cannot_be_opened_is_one_storage_error(tmp_path: Path) -> None:
    path = tmp_path / "locked.db"
    SQLStorage(f"sqlite:///{path}").close()
    path.chmod(0)
    try:
        if os.access(path, os.R_OK):
            pytest.skip("running as a user who reads any file")
        errors = []
        for opener in READERS.values():
            with pytest.raises(Exception) as info:  # noqa: PT011
                opener(f"sqlite:///{path}")
            errors.append((type(info.value).__name__, str(info.value)))
        assert errors[0] == errors[1]
        assert errors[0][1].startswith(f"cannot open storage sqlite:///{path}: unable to open")
    finally:
        path.chmod(0o644)


def test_neither_reader_can_write(every_kind: tuple[str, Path]) -> None:
    url, path = every_kind
    sql_reader = SQLReader(url)
    with pytest.raises(sa.exc.OperationalError, match="attempt to write a readonly database"), \
            sql_reader._engine.connect() as conn:
        conn.exec_driver_sql("CREATE TABLE intruder (a)")
    sql_reader.close()
    reader = SQLiteReader(url)
    for statement in ("CREATE TABLE intruder (a)", "DELETE FROM shoal_trials"):
        with pytest.raises(sqlite3.OperationalError, match="attempt to write a readonly database"), \
                reader._snapshot() as conn:
            conn.execute(statement)
    with contextlib.suppress(sqlite3.OperationalError), reader._snapshot() as conn:
        conn.execute("PRAGMA journal_mode = DELETE").fetchall()
    reader.close()
    with sqlite3.connect(path) as check:  # the journal mode stays as the writer set it
        assert check.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    check.close()


def test_each_call_reads_one_snapshot(every_kind: tuple[str, Path]) -> None:
    url, _ = every_kind
    reader = SQLiteReader(url)
    writer = SQLStorage(url)
    with reader._snapshot() as conn:
        before = conn.execute(STUDY_NAMES).fetchall()
        writer.create_study("meanwhile", [Direction.MINIMIZE])  # WAL: a writer does not wait
        assert conn.execute(STUDY_NAMES).fetchall() == before
    assert "meanwhile" in [s.name for s in reader.list_studies()]  # the next call sees it
    writer.close()
    reader.close()


def test_trials_since_a_version_are_the_later_writes(every_kind: tuple[str, Path]) -> None:
    url, _ = every_kind
    reader = SQLiteReader(url)
    study_id = reader.get_study("single").study_id
    page = reader.get_trials(study_id)
    writer = SQLStorage(url)
    trial = writer.create_trial(study_id, worker="host:9")
    writer.update_trial(trial.trial_id, intermediate={0: 0.5}, heartbeat=True)
    later = reader.get_trials(study_id, since=page.version)
    assert [t.number for t in later.trials] == [trial.number]
    assert later.version > page.version
    assert reader.get_trials(study_id, since=later.version).trials == []
    assert reader.get_study("single").n_trials == trial.number + 1
    writer.close()
    reader.close()


def test_a_closed_reader_opens_the_file_again_and_threads_take_turns(
        every_kind: tuple[str, Path]) -> None:
    url, _ = every_kind
    reader = SQLiteReader(url)
    expected = _everything(reader)
    reader.close()
    assert _everything(reader) == expected  # as SQLReader, whose pool reconnects
    results: list[Any] = []

    def read() -> None:
        results.append(_everything(reader))

    threads = [threading.Thread(target=read) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert results == [expected] * 4
    reader.close()
