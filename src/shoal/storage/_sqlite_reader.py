"""Reading a shoal SQLite file through the standard library's `sqlite3`: `open_reader` on SQLite.

The inspection commands (`shoal studies`, `trials`, `best`, `export`) read a file and exit, and
importing SQLAlchemy would cost them ~0.17 s, more than everything else they do. `SQLiteReader`
reads the same rows as `SQLReader` with the few fixed queries below and decodes and checks them
with the same code (`_codec`), so both return equal records and raise the same one-line errors
(tests compare them on the v1 fixture, a new database and every kind of bad file). PostgreSQL
URLs keep `SQLReader`.

Read-only as `SQLReader` is: the file is opened in SQLite's read-only URI mode
(`file:...?mode=ro`), so nothing is created, migrated or changed (a WAL database may get the
`-wal`/`-shm` files any reader of it makes); each call reads one snapshot (`BEGIN` ... `ROLLBACK`)
and waits up to `BUSY_TIMEOUT_S` for a writer's lock. Only a damaged file's error imports
SQLAlchemy, for the message `_reader` words.
"""

from __future__ import annotations

import sqlite3
import threading
import weakref
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any
from urllib.parse import quote

from shoal.exceptions import StorageError
from shoal.storage._codec import (
    BUSY_TIMEOUT_S,
    SQLITE_CORRUPT,
    STUDY_COLUMNS,
    TRIAL_COLUMNS,
    V1_LINEAGE,
    check_shoal_tables,
    has_lineage,
    open_failed,
    readable_sqlite_file,
    signs_of,
    study_from_row,
    trial_from_row,
)
from shoal.storage._memory import study_not_found
from shoal.storage._protocol import StudyRecord, TrialsPage
from shoal.storage._url import parse_url

__all__ = ["SQLiteReader"]


# The queries: `_schema`'s READ_SCHEMA_VERSION, GET_STUDY, LIST_STUDIES, STUDY_NAMES,
# STUDY_VERSION and TRIALS_SINCE as SQLite text, and the table list SQLAlchemy's inspector reads.
def _columns(table: str, names: Iterable[str]) -> str:
    return ", ".join(f'{table}."{name}"' for name in names)


# Numbers are gap-free from 0, so max + 1 is the count, read from the (study_id, number) index.
_N_TRIALS = ("(SELECT coalesce(max(shoal_trials.number) + 1, 0) FROM shoal_trials "
             "WHERE shoal_trials.study_id = shoal_studies.study_id)")
_STUDY = f"SELECT {_columns('shoal_studies', STUDY_COLUMNS)}, {_N_TRIALS} FROM shoal_studies"
TABLE_NAMES = ("SELECT name FROM main.sqlite_master WHERE type = 'table' "
               "AND name NOT LIKE 'sqlite~_%' ESCAPE '~' ORDER BY name")
READ_SCHEMA_VERSION = "SELECT value FROM shoal_meta WHERE \"key\" = 'schema_version'"
LIST_STUDIES = f"{_STUDY} ORDER BY shoal_studies.name"
GET_STUDY = f"{_STUDY} WHERE shoal_studies.name = ?"
STUDY_NAMES = "SELECT name FROM shoal_studies"
STUDY_VERSION = "SELECT version, directions FROM shoal_studies WHERE study_id = ?"
TRIALS_SINCE = (f"SELECT {_columns('shoal_trials', TRIAL_COLUMNS)} FROM shoal_trials "
                "WHERE study_id = ? AND version > ? ORDER BY number")
# A v1 file, read as it is, has no lineage column: its trials have no events.
TRIALS_SINCE_V1 = TRIALS_SINCE.replace('shoal_trials."lineage"', f'{V1_LINEAGE} AS "lineage"')


def _close(connections: list[sqlite3.Connection]) -> None:
    while connections:
        connections.pop().close()


class SQLiteReader:
    """A read-only view of a shoal SQLite file, without SQLAlchemy; use `open_reader(url)`.

    Safe to use from threads (calls take turns on one connection). `close()` closes the file; a
    later call opens it again, as `SQLReader`'s pool does.

    Raises:
        StorageURLError: The URL names in-memory storage, or a SQLite URI instead of a file.
        StorageError: The file is missing, empty, a folder, not shoal's, or corrupt.
        SchemaVersionError: A newer shoal wrote the database.
    """

    def __init__(self, url: str) -> None:
        location = parse_url(url)
        self.url, self._location = url, location
        self._uri = f"file:{quote(str(readable_sqlite_file(location)))}?mode=ro"
        self._signs: dict[int, tuple[float, ...]] = {}  # study_id -> sign; directions never change
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []  # the open one, if any
        self._v1 = False  # reading a v1 file as it is (no lineage column)
        self._finalizer = weakref.finalize(self, _close, self._connections)
        try:
            with self._snapshot(opening=True) as conn:
                tables = sorted(name for name, in conn.execute(TABLE_NAMES))
                row = conn.execute(READ_SCHEMA_VERSION).fetchone() if "shoal_meta" in tables else None
            version = None if row is None else row[0]
            check_shoal_tables(location, tables, version)
            self._v1 = not has_lineage(version)  # checked: a version this shoal reads
        except BaseException:
            self.close()
            raise

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._location.display!r})"

    def close(self) -> None:
        """Close the connection to the file; the data stays in it."""
        with self._lock:
            _close(self._connections)

    @contextmanager
    def _snapshot(self, *, opening: bool = False) -> Iterator[sqlite3.Connection]:
        """One read transaction: the queries of one call see one state of the file."""
        with self._lock:
            try:
                if not self._connections:
                    self._connections.append(sqlite3.connect(
                        self._uri, uri=True, timeout=BUSY_TIMEOUT_S, isolation_level=None,
                        check_same_thread=False))
                conn = self._connections[0]
                conn.execute("BEGIN")
                try:
                    yield conn
                finally:
                    if conn.in_transaction:
                        conn.execute("ROLLBACK")  # read only: nothing to keep
            except sqlite3.Error as err:
                raise self._translate(err, opening=opening) from None

    def _translate(self, err: sqlite3.Error, *, opening: bool) -> Exception:
        if isinstance(err, sqlite3.DatabaseError) and str(err) in SQLITE_CORRUPT:
            from shoal.storage._reader import _corrupt_message  # imports SQLAlchemy: rare path

            return StorageError(_corrupt_message(self._location, str(err)))
        # As SQLReader: failing to open is a StorageError, a later failure the driver's own error.
        return open_failed(self._location.display, str(err)) if opening else err

    def _record(self, row: Sequence[Any]) -> StudyRecord:
        record = study_from_row(row)
        self._signs[record.study_id] = record.signs
        return record

    def get_study(self, name: str) -> StudyRecord:
        """The study of that name. Raises StudyNotFound (listing the known studies) if none."""
        with self._snapshot() as conn:
            row = conn.execute(GET_STUDY, (name,)).fetchone()
            if row is None:
                known = [known for known, in conn.execute(STUDY_NAMES)]
                raise study_not_found(name, self._location.display, known)
        return self._record(row)

    def list_studies(self) -> list[StudyRecord]:
        """Every study, sorted by name."""
        with self._snapshot() as conn:
            rows = conn.execute(LIST_STUDIES).fetchall()
        return [self._record(row) for row in rows]

    def get_trials(self, study_id: int, *, since: int = 0) -> TrialsPage:
        """Trials of the study written after version `since` (0: all), ordered by number.

        The version is read before the trials, in the same snapshot, so no trial is ever missed.
        Every trial comes with its `last_heartbeat`.
        """
        with self._snapshot() as conn:
            head = conn.execute(STUDY_VERSION, (study_id,)).fetchone()
            if head is None:
                return TrialsPage([], 0)
            version, directions = head
            if self._v1:  # a writer may have migrated it since: then read its lineage
                stored = conn.execute(READ_SCHEMA_VERSION).fetchone()
                self._v1 = stored is not None and not has_lineage(stored[0])
            query = TRIALS_SINCE_V1 if self._v1 else TRIALS_SINCE
            rows = conn.execute(query, (study_id, since)).fetchall()
        signs = self._signs.get(study_id)
        if signs is None:
            signs = self._signs[study_id] = signs_of(directions)
        return TrialsPage([trial_from_row(row, signs) for row in rows], version)
