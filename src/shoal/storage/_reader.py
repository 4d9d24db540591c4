"""Reading a SQL storage without writing to it, and errors that say what a bad database file is.

`SQLReader` is the read-only way in to PostgreSQL for the CLI's inspection commands and the
dashboard; `open_reader` reads SQLite files with `_sqlite_reader.SQLiteReader`, without SQLAlchemy,
and SQLReader still reads them as the reference the tests compare that one with. It never creates
a file, a table or a schema, never migrates, and never switches a SQLite file's journal mode:
SQLite is opened through its read-only URI mode (`file:...?mode=ro`), PostgreSQL sessions are
`READ ONLY`. So pointing it at the wrong file (a typo, another program's database, an empty
file) says what the file is and leaves it byte-for-byte as it was.

`SQLStorage` shares the read methods (`_SQLReads`) and the error translation (`translate_errors`).
"""

from __future__ import annotations

import shlex
import sqlite3
import weakref
from collections.abc import Sequence
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine

from shoal.exceptions import StorageError, StorageURLError
from shoal.storage import _schema as q
from shoal.storage._codec import (
    BUSY_TIMEOUT_S,
    SQLITE_CORRUPT,
    check_shoal_tables,
    has_lineage,
    open_failed,
    readable_sqlite_file,
    signs_of,
    study_from_row,
)
from shoal.storage._memory import study_not_found
from shoal.storage._protocol import StudyRecord, TrialsPage
from shoal.storage._retry import split_retry_option
from shoal.storage._url import StorageURL, parse_url

__all__ = ["SQLReader", "create_engine", "translate_errors"]

_INSTALL_HINT = {"psycopg": "pip install 'shoal[postgres]'", "psycopg2": "pip install psycopg2"}


def _corrupt_message(location: StorageURL, detail: str) -> str:
    path = location.path
    where = f"the file {path}" if path is not None else "the database"
    what = "is corrupt" if "malformed" in detail else "is not a SQLite database, or is corrupt"
    if path is None:
        return f"cannot open storage {location.display}: {where} {what} ({detail})."
    copy = path.with_name(f"{path.stem}-recovered{path.suffix or '.db'}")
    lead = "Copy" if "malformed" in detail else "If it was a shoal database, copy"
    return (f"cannot open storage {location.display}: {where} {what} ({detail}). {lead} what "
            f"it still holds into a new file with "
            f"shoal recover {shlex.quote(str(path))} {shlex.quote(str(copy))} "
            f"and use --storage sqlite:///{copy}; keep the damaged file until you have checked "
            "the copy.")


def create_engine(sa_url: sa.URL, display: str, **kwargs: Any) -> Engine:
    """`sa.create_engine`, with a missing or unknown driver said in one line, with what to install."""
    try:
        return sa.create_engine(sa_url, **kwargs)
    except ImportError as err:
        module = (err.name or "").split(".")[0]
        hint = _INSTALL_HINT.get(module, f"pip install {module}" if module else "pip install")
        raise StorageURLError(
            f"storage {display} needs the database driver {module or sa_url.drivername!r}, "
            f"which is not installed. Install it: {hint}.") from None
    except sa.exc.ArgumentError:  # includes NoSuchModuleError: an unknown driver name
        raise StorageURLError(
            f"driver of storage URL {display!r} must be one SQLAlchemy knows, e.g. "
            f"'postgresql://' (psycopg 3) or 'sqlite:///'. Got {sa_url.drivername!r}.") from None


def translate_errors(engine: Engine, location: StorageURL) -> None:
    """Turn SQLite's "not a database" / "malformed" errors, wherever they surface (opening or
    any later read or write), into one StorageError naming the file and how to recover it."""

    def on_error(context: Any) -> None:
        original = context.original_exception
        if isinstance(original, sqlite3.DatabaseError) and str(original) in SQLITE_CORRUPT:
            raise StorageError(_corrupt_message(location, str(original))) from None

    event.listen(engine, "handle_error", on_error)


class _SQLReads:
    """The read methods of SQL storage, over `self._engine`; shared by SQLReader and SQLStorage."""

    url: str
    _display: str
    _engine: Engine
    _signs: dict[int, tuple[float, ...]]  # study_id -> sign; directions never change
    _finalizer: weakref.finalize[Any, Any]
    _v1 = False  # reading a v1 database as it is: its trials have no lineage column (read as [])

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._display!r})"

    def close(self) -> None:
        """Close this object's pooled connections; the data stays in the database."""
        self._finalizer()

    def _record(self, row: Sequence[Any]) -> StudyRecord:
        record = study_from_row(row)
        self._signs[record.study_id] = record.signs
        return record

    def _not_found(self, conn: Connection, name: str) -> Exception:
        return study_not_found(name, self._display, list(conn.execute(q.STUDY_NAMES).scalars()))

    def get_study(self, name: str) -> StudyRecord:
        """The study of that name. Raises StudyNotFound (listing the known studies) if none."""
        with self._engine.connect() as conn:
            row = conn.execute(q.GET_STUDY, {"b_name": name}).first()
            if row is None:
                raise self._not_found(conn, name)
        return self._record(row)

    def list_studies(self) -> list[StudyRecord]:
        """Every study, sorted by name."""
        with self._engine.connect() as conn:
            rows = conn.execute(q.LIST_STUDIES).all()
        return [self._record(row) for row in rows]

    def get_trials(self, study_id: int, *, since: int = 0) -> TrialsPage:
        """Trials of the study written after version `since` (0: all), ordered by number.

        The version is read before the trials, so a trial written meanwhile may come twice
        (in this page and the next), but none is ever missed. Every trial comes with its
        `last_heartbeat`, so a reader can tell a RUNNING trial whose worker died.
        """
        with self._engine.connect() as conn:
            head = conn.execute(q.STUDY_VERSION, {"b_sid": study_id}).first()
            if head is None:
                return TrialsPage([], 0)
            version, directions = head
            if self._v1:  # a writer may have migrated it since: then read its lineage
                self._v1 = not has_lineage(conn.execute(q.READ_SCHEMA_VERSION).scalar())
            since_query = q.TRIALS_SINCE_V1 if self._v1 else q.TRIALS_SINCE
            rows = conn.execute(since_query, {"b_sid": study_id, "b_since": since}).all()
        signs = self._signs.get(study_id)
        if signs is None:
            signs = self._signs[study_id] = signs_of(directions)
        return TrialsPage([q.trial_from_row(row, signs) for row in rows], version)


class SQLReader(_SQLReads):
    """A read-only view of a shoal database (SQLite or PostgreSQL); use `open_reader(url)`.

    Raises:
        StorageURLError: The URL is malformed or names in-memory storage (nothing to read).
        StorageError: The file is missing, empty, not shoal's, corrupt; or the server is unreachable.
        SchemaVersionError: A newer shoal wrote the database.
    """

    def __init__(self, url: str) -> None:
        location = parse_url(url)
        self.url, self._display = url, location.display
        self._signs = {}
        self._engine = _read_only_engine(location)
        self._finalizer = weakref.finalize(self, self._engine.dispose)
        try:
            translate_errors(self._engine, location)
            self._v1 = not has_lineage(_check_shoal_database(self._engine, location))
        except BaseException:
            self.close()
            raise


def _read_only_engine(location: StorageURL) -> Engine:
    if location.backend == "postgresql":
        url, _ = split_retry_option(sa.make_url(location.url), location.display)  # a reader never retries
        engine = create_engine(url.set(drivername=f"postgresql+{location.driver or 'psycopg'}"),
                               location.display, pool_pre_ping=True)
        event.listen(engine, "connect", _postgres_read_only)
        return engine
    uri = f"file:{quote(str(readable_sqlite_file(location)))}?mode=ro"
    engine = sa.create_engine(
        "sqlite://", poolclass=sa.pool.QueuePool,
        creator=lambda: sqlite3.connect(uri, uri=True, timeout=BUSY_TIMEOUT_S,
                                        check_same_thread=False))
    event.listen(engine, "connect", _sqlite_read_connect)
    event.listen(engine, "begin", _sqlite_read_begin)
    return engine


def _sqlite_read_connect(dbapi_connection: Any, connection_record: Any) -> None:
    dbapi_connection.isolation_level = None  # shoal emits BEGIN itself (_sqlite_read_begin)


def _sqlite_read_begin(conn: Connection) -> None:
    conn.exec_driver_sql("BEGIN")  # one snapshot for the reads of a call


def _postgres_read_only(dbapi_connection: Any, connection_record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("SET SESSION CHARACTERISTICS AS TRANSACTION READ ONLY")
    finally:
        cursor.close()
    dbapi_connection.commit()


def _check_shoal_database(engine: Engine, location: StorageURL) -> Any:
    """Raise unless the database holds shoal's tables at a schema version this shoal can read;
    return that version as stored."""
    try:
        with engine.connect() as conn:
            tables = sorted(sa.inspect(conn).get_table_names())
            version = (conn.execute(q.READ_SCHEMA_VERSION).scalar()
                       if q.meta.name in tables else None)
    except sa.exc.DBAPIError as err:
        raise open_failed(location.display, str(err.orig if err.orig is not None else err)) from None
    check_shoal_tables(location, tables, version)
    return version
