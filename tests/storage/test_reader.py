"""The read-only way in: `open_reader` and the CLI's inspection commands never write.

Each refusal is checked against the file itself: same bytes (hash), same mtime, no -wal/-shm/
-journal files beside it, journal mode unchanged.
"""

from __future__ import annotations

import hashlib
import os
import shlex
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from shoal.cli import main
from shoal.clock import FakeClock
from shoal.exceptions import SchemaVersionError, StorageError, StorageURLError, StudyNotFound
from shoal.storage import Storage, StorageReader, open_reader
from shoal.storage._sql import SQLStorage
from shoal.trial import Direction, TrialState

Run = Callable[..., tuple[int, str, str]]
INSPECT = (["studies"], ["trials", "s"], ["best", "s"], ["export", "s"])
WRITE = (["delete", "s", "--yes"], ["enqueue", "s", "x=1"])


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SHOAL_STORAGE", raising=False)


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Run:
    def _run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return _run


def _state(path: Path) -> tuple[str, int, list[str]]:
    """The file's bytes (hash) and mtime, and every file in its folder."""
    return (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns,
            sorted(os.listdir(path.parent)))


@pytest.fixture
def foreign(tmp_path: Path) -> Path:
    """Another program's SQLite database, in the default rollback-journal mode."""
    path = tmp_path / "notes.db"
    with sqlite3.connect(path) as conn:
        conn.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        conn.execute("INSERT INTO notes (text) VALUES ('buy milk')")
    conn.close()
    os.utime(path, ns=(1_000_000_000_000_000_000, 1_000_000_000_000_000_000))
    return path


def test_a_foreign_sqlite_file_is_refused_and_left_unchanged(foreign: Path) -> None:
    before = _state(foreign)
    with pytest.raises(StorageError) as info:
        open_reader(f"sqlite:///{foreign}")
    assert str(info.value) == (
        f"file {foreign} of storage sqlite:///{foreign} must be a shoal database, but it has no "
        "shoal tables (it holds notes); shoal left it as it is. Point --storage at the database "
        "your study is in.")
    assert _state(foreign) == before
    with sqlite3.connect(foreign) as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone() == ("delete",)
        assert conn.execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]
    conn.close()


def test_cli_commands_on_a_foreign_file_refuse_without_writing(run: Run, foreign: Path) -> None:
    # On schema v1's CLI, `shoal studies` added shoal's tables to this file and switched it to WAL.
    before = _state(foreign)
    for command in (*INSPECT, *WRITE):
        code, out, err = run(*command, "--storage", f"sqlite:///{foreign}")
        assert (code, out) == (1, ""), command
        assert err.startswith(f"Error: file {foreign} of storage sqlite:///{foreign} must be a "
                              "shoal database, but it has no shoal tables"), (command, err)
        assert err.count("\n") == 1, err
        assert _state(foreign) == before, command


def test_an_empty_file_stays_empty(run: Run, tmp_path: Path) -> None:
    # On schema v1's CLI, `shoal studies` turned a 0-byte file into a shoal database.
    empty = tmp_path / "empty.db"
    empty.touch()
    before = _state(empty)
    with pytest.raises(StorageError, match=r"empty\.db of storage .* is empty \(0 bytes\), not a "
                                           r"shoal database; shoal left it as it is\."):
        open_reader(f"sqlite:///{empty}")
    for command in (*INSPECT, *WRITE):
        code, _, err = run(*command, "--storage", f"sqlite:///{empty}")
        assert code == 1
        assert "is empty (0 bytes), not a shoal database" in err
    assert _state(empty) == before
    assert empty.stat().st_size == 0


def test_a_missing_file_is_not_created(run: Run, tmp_path: Path) -> None:
    missing = tmp_path / "typo.db"
    with pytest.raises(StorageError, match=r"file .*typo\.db of storage .* must exist to be read"):
        open_reader(f"sqlite:///{missing}")
    code, out, _ = run("studies", "--storage", f"sqlite:///{missing}")
    assert code == 0
    assert out.startswith("No studies in")
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize("url", ["memory", "sqlite://", "sqlite:///:memory:"])
def test_in_memory_storage_has_nothing_to_read(url: str) -> None:
    with pytest.raises(StorageURLError, match=r"must be a database file or server to be read: "
                                              r"in-memory storage lives only in the process"):
        open_reader(url)


@pytest.fixture
def written(tmp_path: Path) -> tuple[str, Path, int]:
    """A shoal database with a COMPLETE and a RUNNING trial, written and closed."""
    url, path = f"sqlite:///{tmp_path / 'shoal.db'}", tmp_path / "shoal.db"
    clock = FakeClock(start=1000.0)
    storage = SQLStorage(url, clock=clock)
    study = storage.create_study("s", [Direction.MAXIMIZE], user_attrs={"owner": "ana"})
    done = storage.create_trial(study.study_id, params={"x": 1})
    clock.advance(2.0)
    storage.finish_trial(done.trial_id, state=TrialState.COMPLETE, values=[0.5])
    running = storage.create_trial(study.study_id, params={"x": 2}, worker="host:1")
    clock.advance(6.0)
    storage.update_trial(running.trial_id, intermediate={0: 0.25}, heartbeat=True)
    clock.advance(300.0)  # the worker died: no heartbeat since 1008
    storage.close()
    return url, path, study.study_id


def test_reader_reads_everything_and_changes_nothing(written: tuple[str, Path, int]) -> None:
    url, path, study_id = written
    before = _state(path)[:2]
    reader = open_reader(url)
    assert isinstance(reader, StorageReader)
    assert not isinstance(reader, Storage)  # no write methods at all
    assert reader.url == url
    [record] = reader.list_studies()
    assert (record.name, record.n_trials, dict(record.user_attrs)) == ("s", 2, {"owner": "ana"})
    assert reader.get_study("s").study_id == study_id
    done, running = reader.get_trials(study_id).trials
    assert (done.state, done.values, done.duration) == (TrialState.COMPLETE, (0.5,), 2.0)
    # What the CLI needs to call a running trial stale without writing: its last heartbeat.
    assert (running.state, running.last_heartbeat, running.worker) == (TrialState.RUNNING,
                                                                       1008.0, "host:1")
    assert running.intermediate == {0: 0.25}
    with pytest.raises(StudyNotFound, match=r"no study named 'x' in .* Known studies: s\."):
        reader.get_study("x")
    with pytest.raises(sqlite3.OperationalError, match="attempt to write a readonly database"), \
            reader._snapshot() as conn:  # type: ignore[attr-defined]
        conn.execute("CREATE TABLE intruder (a)")
    reader.close()
    assert _state(path)[:2] == before


def test_reader_sees_later_writes(written: tuple[str, Path, int]) -> None:
    url, _, study_id = written
    reader = open_reader(url)
    page = reader.get_trials(study_id)
    writer = SQLStorage(url)
    trial = writer.create_trial(study_id)
    assert [t.number for t in reader.get_trials(study_id, since=page.version).trials] == [
        trial.number]
    writer.close()
    reader.close()


def test_reader_refuses_a_newer_schema(written: tuple[str, Path, int]) -> None:
    url, path, _ = written
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE shoal_meta SET value = '99' WHERE key = 'schema_version'")
    conn.close()
    with pytest.raises(SchemaVersionError, match=r"written with shoal schema v99; this shoal "
                                                 r"reads up to v3\. Upgrade shoal"):
        open_reader(url)


def _corrupt(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.seek(size // 2)
        f.write(b"\xa5" * 8192)


@pytest.fixture
def corrupt(tmp_path: Path) -> tuple[str, Path]:
    url, path = f"sqlite:///{tmp_path / 'shoal.db'}", tmp_path / "shoal.db"
    storage = SQLStorage(url)
    study = storage.create_study("s", [Direction.MINIMIZE])
    for i in range(300):  # many pages, so the damage is mid-file, past the schema
        trial = storage.create_trial(study.study_id, params={"i": i, "pad": "x" * 200})
        storage.finish_trial(trial.trial_id, state=TrialState.COMPLETE, values=[float(i)])
    storage.close()
    _corrupt(path)
    return url, path


def test_a_corrupt_file_is_one_line_saying_how_to_recover(run: Run,
                                                          corrupt: tuple[str, Path]) -> None:
    url, path = corrupt
    copy = path.with_name("shoal-recovered.db")
    expected = (f"cannot open storage {url}: the file {path} is corrupt (database disk image is "
                f"malformed). Copy what it still holds into a new file with shoal recover {path} "
                f"{copy} and use --storage sqlite:///{copy}; keep the damaged file until you have "
                "checked the copy.")
    for opener in (open_reader, SQLStorage):
        with pytest.raises(StorageError) as info:  # noqa: PT012 (the damage shows on a read)
            store = opener(url)
            store.get_trials(store.get_study("s").study_id)
        assert str(info.value) == expected
    code, out, err = run("studies", "--storage", url)
    assert (code, out, err) == (1, "", f"Error: {expected}\n")


def _advice(url: str) -> str:
    """The recovery command that the corrupt-file error advises."""
    with pytest.raises(StorageError) as info:  # noqa: PT012 (the damage shows on a read)
        reader = open_reader(url)
        reader.get_trials(reader.get_study("s").study_id)
    return str(info.value).split(" new file with ", 1)[1].split(" and use ", 1)[0]


def _check_recovered(copy: Path) -> None:
    """The copy opens read-only and holds most of the 300 trials, each with its own value."""
    recovered = open_reader(f"sqlite:///{copy}")
    trials = recovered.get_trials(recovered.get_study("s").study_id).trials
    assert 200 <= len(trials) < 300  # the damage costs the rows on the damaged pages only
    assert all(t.state is TrialState.COMPLETE for t in trials)
    assert all(t.values == (float(t.params["i"]),) for t in trials)
    assert all(t.number == t.params["i"] for t in trials)
    recovered.close()


def test_the_recovery_command_in_the_message_works(run: Run, corrupt: tuple[str, Path]) -> None:
    url, path = corrupt
    before = _state(path)
    command = shlex.split(_advice(url))
    assert command[:2] == ["shoal", "recover"]
    code, out, err = run(*command[1:])
    assert (code, err) == (0, "")
    copy = path.with_name("shoal-recovered.db")
    assert f"Next: shoal studies --storage sqlite:///{copy}" in out
    _check_recovered(copy)
    assert _state(path)[:2] == before[:2]  # the damaged file: same bytes, same mtime


def test_the_printed_recovery_command_works_in_a_shell(corrupt: tuple[str, Path]) -> None:
    url, path = corrupt
    bin_dir = Path(sys.executable).parent  # the environment's `shoal` script lives beside python
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}"}
    done = subprocess.run(_advice(url), shell=True, capture_output=True, text=True, timeout=120,
                          env=env, check=False)
    assert done.returncode == 0, done.stderr
    _check_recovered(path.with_name("shoal-recovered.db"))


@pytest.mark.parametrize(("bad", "error", "match"), [
    ("postgresql+nosuchdriver://h/db", StorageURLError, r"driver of storage URL .* must be one "
                                                        r"SQLAlchemy knows"),
    ("mysql://user:hunter2@localhost/db", StorageURLError, r"must start with 'sqlite:///' or "
                                                           r"'postgresql://'\. Got 'mysql://user:"
                                                           r"\*\*\*@localhost/db'"),
    ("postgresql://user:hunter2@127.0.0.1:1/db", StorageError, r"^cannot open storage "
                                                               r"postgresql://user:\*\*\*@"),
    ("sqlite:///{tmp}", StorageError, r"path of SQLite storage .* must be a file, not a folder"),
])
def test_bad_urls_are_one_line_errors_without_the_password(
        bad: str, error: type[Exception], match: str, tmp_path: Path) -> None:
    with pytest.raises(error, match=match) as info:
        open_reader(bad.format(tmp=tmp_path))
    assert "hunter2" not in str(info.value)


def test_a_sqlite_file_without_tables_is_refused_unchanged(tmp_path: Path) -> None:
    path = tmp_path / "blank.db"
    with sqlite3.connect(path) as conn:  # a valid SQLite file with nothing in it
        conn.execute("PRAGMA user_version = 7")
    conn.close()
    before = _state(path)
    assert path.stat().st_size > 0
    with pytest.raises(StorageError, match=r"blank\.db of storage .* holds no shoal study yet: it "
                                           r"has no tables\. Create one there with 'shoal tune"):
        open_reader(f"sqlite:///{path}")
    assert _state(path) == before
