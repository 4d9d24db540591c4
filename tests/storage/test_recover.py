"""`recover_sqlite` (`shoal recover`): what a damaged SQLite file still holds, copied into a new one.

The damaged file is only ever read: each test that recovers checks its bytes, mtime and folder.
"""

from __future__ import annotations

import hashlib
import math
import os
import sqlite3
from pathlib import Path
from typing import Any

import pytest

from shoal.clock import FakeClock
from shoal.exceptions import SchemaVersionError, StorageError
from shoal.space import Float, Int
from shoal.storage import BudgetRecord, RecoveryReport, StorageReader, open_reader, recover_sqlite
from shoal.storage._schema import SCHEMA_VERSION
from shoal.storage._sql import SQLStorage
from shoal.trial import Direction, TrialState

FIXTURES = Path(__file__).parent / "fixtures"


def _state(path: Path) -> tuple[str, int, list[str]]:
    """The file's bytes (hash) and mtime, and every file in its folder."""
    return (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns,
            sorted(os.listdir(path.parent)))


def _everything(reader: StorageReader) -> list[Any]:
    """Every study and every trial of it, as the reader returns them."""
    return [(record, reader.get_trials(record.study_id).trials) for record in reader.list_studies()]


def _counts(report: RecoveryReport) -> dict[str, tuple[int, int | None, int]]:
    return {t.table: (t.copied, t.unreadable, t.skipped) for t in report.tables}


@pytest.fixture
def healthy(tmp_path: Path) -> Path:
    """Two studies with every trial state, values, intermediate values and attributes; closed."""
    path = tmp_path / "old" / "shoal.db"
    path.parent.mkdir()
    clock = FakeClock(start=1000.0)
    storage = SQLStorage(f"sqlite:///{path}", clock=clock)
    a = storage.create_study("a", [Direction.MINIMIZE], user_attrs={"owner": "ana", "nan": math.nan})
    b = storage.create_study("b", [Direction.MAXIMIZE, Direction.MINIMIZE],
                             system_attrs={"space": {"x": 1}})
    dists = {"lr": Float(1e-4, 1.0, log=True), "units": Int(8, 256)}
    for i, state in enumerate([TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED,
                               TrialState.RUNNING]):
        trial = storage.create_trial(a.study_id, params={"lr": 0.1 / (i + 1), "units": 8 * (i + 1)},
                                     distributions=dists, user_attrs={"i": i}, worker=f"w{i}")
        clock.advance(1.5)
        storage.update_trial(trial.trial_id, intermediate={0: 1.0 / (i + 1), 3: math.inf},
                             system_attrs={"note": "x" * i}, heartbeat=True)
        if state is not TrialState.RUNNING:
            storage.finish_trial(trial.trial_id, state=state,
                                 values=[float(i)] if state is TrialState.COMPLETE else None)
    storage.create_trial(a.study_id, state=TrialState.WAITING, params={"lr": 0.5})
    done = storage.create_trial(b.study_id, params={"x": "é"}, parent=0, checkpoint="ckpt/0")
    storage.finish_trial(done.trial_id, state=TrialState.COMPLETE, values=[1.0, -2.5])
    storage.set_budget(a.study_id, n_trials=9, deadline=5000.0, used_at_least=4)  # schema v3
    gone = storage.create_study("deleted", [Direction.MINIMIZE])  # leaves gaps in the ids
    storage.create_trial(gone.study_id)
    storage.set_budget(gone.study_id, n_trials=1, deadline=None)
    storage.delete_study("deleted")
    storage.close()
    return path


def test_a_healthy_file_is_copied_completely(healthy: Path, tmp_path: Path) -> None:
    before = _state(healthy)
    copy = tmp_path / "copy.db"
    report = recover_sqlite(healthy, copy)
    assert report.complete
    assert (report.source, report.target, report.url) == (healthy, copy, f"sqlite:///{copy}")
    assert _counts(report) == {"shoal_meta": (0, 0, 0), "shoal_studies": (2, 0, 0),
                               "shoal_trials": (6, 0, 0), "shoal_commands": (0, 0, 0),
                               "shoal_budgets": (1, 0, 0)}
    assert _state(healthy) == before  # not a byte, not a -wal or -shm file beside it
    assert copy.stat().st_mode == healthy.stat().st_mode
    assert sorted(os.listdir(tmp_path)) == ["copy.db", "old"]  # no temporary file left
    old, new = open_reader(f"sqlite:///{healthy}"), open_reader(report.url)
    expected, got = _everything(old), _everything(new)
    assert [r.name for r, _ in got] == ["a", "b"]
    assert repr(got) == repr(expected)  # repr: NaN attributes compare equal as text
    old.close()
    new.close()
    copied = SQLStorage(report.url)
    assert copied.get_budget(copied.get_study("a").study_id) == BudgetRecord(9, 5000.0, 4)
    copied.close()


def test_the_copy_is_a_working_storage_that_never_reuses_an_id(healthy: Path,
                                                                tmp_path: Path) -> None:
    copy = tmp_path / "copy.db"
    recover_sqlite(healthy, copy)
    storage = SQLStorage(f"sqlite:///{copy}")
    study = storage.create_study("c", [Direction.MINIMIZE])
    assert study.study_id == 4  # the deleted study had 3: ids stay unique across the copy
    trial = storage.create_trial(storage.get_study("a").study_id)
    assert (trial.number, trial.trial_id) == (5, 8)  # 7 was the deleted study's trial
    storage.close()


def test_an_existing_target_is_refused_and_left_alone(healthy: Path, tmp_path: Path) -> None:
    target = tmp_path / "copy.db"
    target.write_bytes(b"mine")
    with pytest.raises(StorageError) as info:
        recover_sqlite(healthy, target)
    assert str(info.value) == (
        f"target {target} of shoal recover must be a new file, but it exists; nothing was "
        f"written. Give a path that does not exist yet, e.g. {tmp_path / 'copy-2.db'}.")
    assert target.read_bytes() == b"mine"
    assert sorted(os.listdir(tmp_path)) == ["copy.db", "old"]
    with pytest.raises(StorageError, match=r"must be a new file, but it exists"):
        recover_sqlite(healthy, healthy)


def test_a_file_that_is_not_shoal_s_is_refused_unchanged(tmp_path: Path) -> None:
    notes = tmp_path / "notes.db"
    with sqlite3.connect(notes) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
    conn.close()
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"not a database at all\n" * 500)
    for path, match in ((notes, r"it has no shoal tables \(it holds notes\)"),
                        (junk, r"SQLite cannot read its list of tables \(file is not a database\)")):
        before = _state(path)
        with pytest.raises(StorageError, match=rf"^file {path} must be a shoal database to be "
                                               rf"recovered, but {match}; the file was left as it "
                                               r"is\. Check the path") as info:
            recover_sqlite(path, tmp_path / "copy.db")
        assert "\n" not in str(info.value)
        assert _state(path) == before
        assert not (tmp_path / "copy.db").exists()
    assert sorted(os.listdir(tmp_path)) == ["junk.db", "notes.db"]  # no temporary file left


@pytest.mark.parametrize(("make", "match"), [
    (lambda p: None, r"file .*missing\.db to recover must exist and be a file\. Check the path\."),
    (lambda p: p.touch(), r"file .*missing\.db to recover is empty \(0 bytes\)"),
])
def test_a_missing_or_empty_file_is_refused(make: Any, match: str, tmp_path: Path) -> None:
    make(tmp_path / "missing.db")
    with pytest.raises(StorageError, match=match):
        recover_sqlite(tmp_path / "missing.db", tmp_path / "copy.db")
    assert not (tmp_path / "copy.db").exists()


def test_a_target_folder_that_does_not_exist_is_refused(healthy: Path, tmp_path: Path) -> None:
    with pytest.raises(StorageError, match=r"folder .*nowhere of the recovery target must exist"):
        recover_sqlite(healthy, tmp_path / "nowhere" / "copy.db")


def test_a_newer_schema_is_refused(healthy: Path, tmp_path: Path) -> None:
    with sqlite3.connect(healthy) as conn:
        conn.execute("UPDATE shoal_meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(SchemaVersionError, match=r"written with shoal schema v99; this shoal "
                                                 r"recovers up to v3\. Upgrade shoal"):
        recover_sqlite(healthy, tmp_path / "copy.db")
    assert sorted(os.listdir(tmp_path)) == ["old"]


def test_rows_with_damaged_text_or_a_lost_study_are_skipped(healthy: Path, tmp_path: Path) -> None:
    with sqlite3.connect(healthy) as conn:  # damage that SQLite itself cannot notice
        conn.execute("UPDATE shoal_trials SET params = '{\"lr\": 0.1' WHERE number = 1 "
                     "AND study_id = 1")
        conn.execute("INSERT INTO shoal_trials (study_id, number, state, params, distributions, "
                     "intermediate, user_attrs, system_attrs, version) VALUES "
                     "(77, 0, 'COMPLETE', '{}', '{}', '{}', '{}', '{}', 1)")
    conn.close()
    report = recover_sqlite(healthy, tmp_path / "copy.db")
    assert not report.complete
    assert _counts(report)["shoal_trials"] == (5, 0, 2)
    reader = open_reader(report.url)
    assert [t.number for t in reader.get_trials(reader.get_study("a").study_id).trials] == [
        0, 2, 3, 4]
    reader.close()


def test_a_schema_v1_file_is_recovered_into_today_s_schema(tmp_path: Path) -> None:
    old = tmp_path / "v1.db"
    with sqlite3.connect(old) as conn:
        conn.executescript((FIXTURES / "schema_v1.sql").read_text(encoding="utf-8"))
    conn.close()
    report = recover_sqlite(old, tmp_path / "copy.db")
    assert report.complete
    before, after = open_reader(f"sqlite:///{old}"), open_reader(report.url)
    assert repr(_everything(after)) == repr(_everything(before))
    before.close()
    after.close()
    with sqlite3.connect(report.target) as conn:
        assert conn.execute("SELECT value FROM shoal_meta WHERE key = 'schema_version'"
                            ).fetchone() == (str(SCHEMA_VERSION),)
        assert conn.execute("SELECT DISTINCT lineage FROM shoal_trials").fetchall() == [("[]",)]
    conn.close()


def test_transactions_still_in_the_wal_file_are_recovered(healthy: Path, tmp_path: Path) -> None:
    live = sqlite3.connect(healthy)  # a writer that crashed: its last commit is only in -wal
    live.execute("PRAGMA wal_autocheckpoint = 0")
    live.execute("UPDATE shoal_studies SET user_attrs = '{\"late\":true}' WHERE name = 'b'")
    live.commit()
    crashed = tmp_path / "crashed"
    crashed.mkdir()
    for suffix in ("", "-wal"):
        (crashed / f"shoal.db{suffix}").write_bytes(Path(f"{healthy}{suffix}").read_bytes())
    live.close()
    assert (crashed / "shoal.db-wal").stat().st_size > 0
    report = recover_sqlite(crashed / "shoal.db", tmp_path / "copy.db")
    assert report.complete
    reader = open_reader(report.url)
    assert dict(reader.get_study("b").user_attrs) == {"late": True}
    reader.close()
