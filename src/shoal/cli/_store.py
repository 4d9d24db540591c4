"""Opening the storage a command names, and finding a study in it."""

from __future__ import annotations

import shlex
from pathlib import Path

from shoal.cli._output import CommandError
from shoal.storage import Storage, StudyRecord, default_storage_url, open_storage
from shoal.trial import FrozenTrial

__all__ = ["open_existing", "require_study", "sqlite_path", "storage_flag", "study_trials"]


def sqlite_path(url: str) -> Path | None:
    """The database file of a `sqlite:///` URL; None for other URLs and in-memory SQLite.

    >>> sqlite_path("sqlite:///runs/shoal.db")
    PosixPath('runs/shoal.db')
    >>> sqlite_path("postgresql://host/db") is None
    True
    """
    scheme, sep, rest = url.partition(":///")
    if not sep or scheme.split("+", 1)[0].lower() != "sqlite":
        return None
    path = rest.split("?", 1)[0]
    return None if path in ("", ":memory:") else Path(path)


def storage_flag(url: str) -> str:
    """` --storage URL` when `url` is not what the commands use by default, else nothing."""
    return "" if url == default_storage_url() else f" --storage {shlex.quote(url)}"


def open_existing(url: str) -> Storage | None:
    """Open a storage for reading; None when it is a SQLite file that does not exist yet.

    Reading must not leave an empty database file behind (a typo in `--storage` would).
    """
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return None
    return open_storage(url)


def require_study(url: str, name: str) -> tuple[Storage, StudyRecord]:
    """The storage at `url` and its study `name`.

    Raises:
        CommandError: the storage is a SQLite file that does not exist.
        StudyNotFound: no study of that name (its message names the storage and what to try).
    """
    store = open_existing(url)
    if store is None:
        raise CommandError(
            f"no study named {name!r} in {url}: the file {sqlite_path(url)} does not exist.",
            hint=f"shoal studies --storage URL (or set $SHOAL_STORAGE) to look elsewhere, or "
                 f"'shoal tune CONFIG.yaml{storage_flag(url)}' to create a study there.")
    return store, store.get_study(name)


def study_trials(store: Storage, record: StudyRecord) -> list[FrozenTrial]:
    """Every trial of a study, by number."""
    return sorted(store.get_trials(record.study_id).trials, key=lambda t: t.number)
