"""Storage URLs, parsed in one place: which back end, which file, and whether workers can share it.

Storage, the CLI and `Study.optimize(n_jobs=)` all ask these questions; they ask `parse_url`.
Parsing imports nothing heavy (no SQLAlchemy), so a CLI command that only names a file stays fast.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs

from shoal.exceptions import StorageURLError

__all__ = ["URL_EXAMPLES", "StorageURL", "is_shareable", "parse_url", "sqlite_file"]

URL_EXAMPLES = ("Example: 'sqlite:///shoal.db' (a file in this folder) or "
                "'postgresql://user:password@host/dbname'.")

# SQLAlchemy's own URL grammar (sqlalchemy.engine.url), so both read a URL the same way.
_URL = re.compile(r"""
    (?P<scheme>[\w+]+)://
    (?:(?P<username>[^:/]*)(?::(?P<password>[^@]*))?@)?
    (?:(?:\[(?P<ipv6host>[^/?]+)\]|(?P<ipv4host>[^/:?]+))?(?::(?P<port>[^/?]*))?)?
    (?:/(?P<database>[^?]*))?
    (?:\?(?P<query>.*))?
    """, re.X | re.S)
_BACKENDS = {"sqlite": "sqlite", "postgresql": "postgresql", "postgres": "postgresql"}


@dataclass(frozen=True)
class StorageURL:
    """A storage URL, understood.

    Attributes:
        url: The URL as given (password included), to reopen the storage from another process.
        display: The URL for messages, its password replaced by `***`.
        backend: "memory" (shoal's in-memory storage), "sqlite" or "postgresql".
        driver: The DBAPI driver the URL names after `+` (`sqlite+pysqlite://`), else "".
        path: The absolute path of a SQLite database file; None for every other storage
            (in-memory SQLite, SQLite URIs given with `?uri=true`, PostgreSQL, memory).
        in_memory: The data lives in this process only and is gone when it exits.

    >>> parse_url("sqlite:////data/runs/shoal.db").path
    PosixPath('/data/runs/shoal.db')
    >>> parse_url("sqlite://").shareable
    False
    >>> parse_url("postgresql://ana:secret@db/shoal").display
    'postgresql://ana:***@db/shoal'
    """

    url: str
    display: str
    backend: str
    driver: str = ""
    path: Path | None = None
    in_memory: bool = False

    @property
    def shareable(self) -> bool:
        """Whether other processes (workers, the CLI, a dashboard) can open the same storage."""
        return not self.in_memory


def _redact(url: str) -> str:
    """The URL with any password replaced by ***, for messages about a URL that does not parse."""
    return re.sub(r"(://[^:/@]*:)[^/]*@", r"\1***@", url)


def parse_url(url: str) -> StorageURL:
    """Parse a storage URL: `memory`, `sqlite:///file.db`, `sqlite://` or `postgresql://...`.

    A relative SQLite path is made absolute against the current folder now, so a later `chdir`
    does not move the storage.

    Raises:
        StorageURLError: The URL does not parse, names another database, or has a bad port.
    """
    if url == "memory":
        return StorageURL(url, url, "memory", in_memory=True)
    match = _URL.fullmatch(url) if isinstance(url, str) else None
    if match is None or (match["port"] and not match["port"].isdigit()):
        raise StorageURLError(
            f"storage URL must be a SQLAlchemy URL such as 'sqlite:///shoal.db'. Got "
            f"{_redact(str(url))!r}. {URL_EXAMPLES}")
    display = url
    if match["password"] is not None:
        start, end = match.span("password")
        display = f"{url[:start]}***{url[end:]}"
    scheme, _, driver = match["scheme"].partition("+")
    backend = _BACKENDS.get(scheme.lower())
    if backend is None:
        raise StorageURLError(
            f"storage URL must start with 'sqlite:///' or 'postgresql://'. Got {display!r}. "
            f"{URL_EXAMPLES}")
    if backend == "postgresql":
        return StorageURL(url, display, backend, driver)
    database, query = match["database"] or "", parse_qs(match["query"] or "")
    if query.get("uri", [""])[0].lower() in ("true", "1"):  # a SQLite URI: the driver reads it
        in_memory = ":memory:" in database or "memory" in query.get("mode", [])
        return StorageURL(url, display, backend, driver, in_memory=in_memory)
    if database in ("", ":memory:"):
        return StorageURL(url, display, backend, driver, in_memory=True)
    path = Path(database)
    return StorageURL(url, display, backend, driver, path if path.is_absolute() else Path.cwd() / path)


def is_shareable(url: str) -> bool:
    """Whether worker processes can open the storage at `url` (a plugin's own URL: assumed so)."""
    try:
        return parse_url(url).shareable
    except StorageURLError:
        return True


def sqlite_file(url: str) -> Path | None:
    """The absolute path of the SQLite file a URL names; None for any other URL, valid or not.

    >>> sqlite_file("sqlite:////data/runs/shoal.db")
    PosixPath('/data/runs/shoal.db')
    >>> sqlite_file("postgresql://host/db") is None
    True
    """
    try:
        return parse_url(url).path
    except StorageURLError:
        return None
