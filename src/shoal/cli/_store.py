"""Opening the storage a command names, and finding a study in it.

Inspection commands read through `open_reader`, which never writes: looking at a typo'd path, an
empty file or another program's database must not turn it into a shoal database.
"""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Literal, overload

from shoal.cli._output import CommandError
from shoal.storage import (
    Storage,
    StorageReader,
    StudyRecord,
    default_storage_url,
    open_reader,
    open_storage,
    sqlite_file,
)
from shoal.trial import FrozenTrial

__all__ = ["open_existing", "require_study", "sqlite_path", "storage_flag", "study_trials"]


def sqlite_path(url: str) -> Path | None:
    """The absolute database file of a `sqlite:///` URL; None for other URLs and in-memory SQLite.

    >>> sqlite_path("sqlite:////data/runs/shoal.db")
    PosixPath('/data/runs/shoal.db')
    """
    return sqlite_file(url)


def storage_flag(url: str) -> str:
    """` --storage URL` when `url` is not what the commands use by default, else nothing."""
    return "" if url == default_storage_url() else f" --storage {shlex.quote(url)}"


def open_existing(url: str) -> StorageReader | None:
    """Open a storage read-only; None when it is a SQLite file that does not exist yet.

    Raises:
        StorageError: the file is empty, not a shoal database, or corrupt (it is left unchanged).
    """
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return None
    return open_reader(url)


@overload
def require_study(url: str, name: str, *, write: Literal[False] = False
                  ) -> tuple[StorageReader, StudyRecord]: ...
@overload
def require_study(url: str, name: str, *, write: Literal[True]) -> tuple[Storage, StudyRecord]: ...


def require_study(url: str, name: str, *, write: bool = False
                  ) -> tuple[StorageReader | Storage, StudyRecord]:
    """The storage at `url` (read-only, or read-write with `write=True`) and its study `name`.

    The study is looked up read-only first, so a write command on a file that is not a shoal
    database refuses without touching it.

    Raises:
        CommandError: the storage is a SQLite file that does not exist.
        StudyNotFound: no study of that name (its message names the storage and what to try).
        StorageError: the file is not a shoal database, or is corrupt.
    """
    store = open_existing(url)
    if store is None:
        raise CommandError(
            f"no study named {name!r} in {url}: the file {sqlite_path(url)} does not exist.",
            hint=f"shoal studies --storage URL (or set $SHOAL_STORAGE) to look elsewhere, or "
                 f"'shoal tune CONFIG.yaml{storage_flag(url)}' to create a study there.")
    try:
        record = store.get_study(name)
    finally:
        if write:
            store.close()
    if not write:
        return store, record
    writer = open_storage(url)
    return writer, writer.get_study(name)


def study_trials(store: StorageReader, record: StudyRecord) -> list[FrozenTrial]:
    """Every trial of a study, by number."""
    return sorted(store.get_trials(record.study_id).trials, key=lambda t: t.number)
