"""Turn a storage URL into a storage object."""

from __future__ import annotations

import os

from shoal.clock import Clock
from shoal.storage._memory import InMemoryStorage
from shoal.storage._protocol import Storage, StorageReader
from shoal.storage._url import parse_url

__all__ = ["DEFAULT_STORAGE_URL", "default_storage_url", "open_reader", "open_storage"]

DEFAULT_STORAGE_URL = "sqlite:///shoal.db"


def default_storage_url() -> str:
    """`$SHOAL_STORAGE` if set, else `sqlite:///shoal.db` in the current folder."""
    return os.environ.get("SHOAL_STORAGE") or DEFAULT_STORAGE_URL


def open_storage(storage: str | Storage | None, *, clock: Clock | None = None) -> Storage:
    """Open a storage from a SQLAlchemy URL, pass a storage object through, or make one in memory.

    >>> open_storage(None).url
    'memory'
    """
    if storage is None or storage == "memory":
        return InMemoryStorage(clock=clock)
    if not isinstance(storage, str):
        return storage
    parse_url(storage)  # a malformed URL or another database fails here, before any import
    from shoal.storage._sql import SQLStorage  # SQLAlchemy costs ~100 ms to import

    sql: Storage = SQLStorage(storage, clock=clock)
    return sql


def open_reader(url: str) -> StorageReader:
    """Open a shoal database read-only: for looking at studies without changing anything.

    Never creates a file, a table or a schema, never migrates, and never changes the database's
    settings (SQLite is opened in its read-only mode, PostgreSQL sessions are READ ONLY). A
    missing, empty, foreign or corrupt SQLite file is a one-line StorageError that says what the
    file is, and the file is left byte-for-byte as it was. Reads databases of older schema
    versions as they are (from `MIN_READABLE_VERSION` in `shoal.storage._codec` on). A SQLite file
    is read through the standard library's `sqlite3`, without importing SQLAlchemy (`shoal studies`
    answers ~0.17 s sooner); PostgreSQL through SQLAlchemy.

    Raises:
        StorageURLError: The URL is malformed, or names in-memory storage (nothing to read).
        StorageError: The database is missing, empty, not shoal's, corrupt or unreachable.
        SchemaVersionError: A newer shoal wrote it (or one too old to read without migrating).

    >>> import tempfile
    >>> from shoal.trial import Direction
    >>> url = f"sqlite:///{tempfile.mkdtemp()}/shoal.db"
    >>> storage = open_storage(url)
    >>> _ = storage.create_study("demo", [Direction.MINIMIZE])
    >>> reader = open_reader(url)
    >>> [study.name for study in reader.list_studies()]
    ['demo']
    >>> reader.close(); storage.close()
    """
    location = parse_url(url)  # a malformed URL or another database fails here, before any import
    reader: StorageReader
    if location.backend != "postgresql":  # SQLite, or in-memory storage it refuses to read
        from shoal.storage._sqlite_reader import SQLiteReader

        reader = SQLiteReader(url)
        return reader
    from shoal.storage._reader import SQLReader  # SQLAlchemy costs ~170 ms to import

    reader = SQLReader(url)
    return reader
