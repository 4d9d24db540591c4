"""Turn a storage URL into a storage object."""

from __future__ import annotations

import os

from shoal.clock import Clock
from shoal.exceptions import StorageURLError
from shoal.storage._memory import InMemoryStorage
from shoal.storage._protocol import Storage

__all__ = ["DEFAULT_STORAGE_URL", "default_storage_url", "open_storage"]

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
    scheme = storage.split(":", 1)[0].split("+", 1)[0].lower()
    if scheme in ("sqlite", "postgresql", "postgres"):
        from shoal.storage._sql import SQLStorage  # SQLAlchemy costs ~100 ms to import

        sql: Storage = SQLStorage(storage, clock=clock)
        return sql
    raise StorageURLError(
        f"storage URL must start with 'sqlite:///' or 'postgresql://'. Got {storage!r}. "
        "Example: 'sqlite:///shoal.db' (a file in this folder) or "
        "'postgresql://user:password@host/dbname'.")
