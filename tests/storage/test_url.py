"""Storage URLs are parsed in one place: `shoal.storage.parse_url`."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import shoal
from shoal.exceptions import StorageURLError
from shoal.storage import StorageURL, parse_url
from shoal.storage._url import is_shareable, sqlite_file


@pytest.fixture(autouse=True)
def _here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(("url", "backend", "driver", "path", "in_memory"), [
    ("sqlite:///shoal.db", "sqlite", "", "{tmp}/shoal.db", False),
    ("sqlite:///runs/a.db?timeout=5", "sqlite", "", "{tmp}/runs/a.db", False),
    ("sqlite:////data/x.sqlite3", "sqlite", "", "/data/x.sqlite3", False),
    ("sqlite+pysqlite:////data/x.db", "sqlite", "pysqlite", "/data/x.db", False),
    ("sqlite://", "sqlite", "", None, True),
    ("sqlite:///:memory:", "sqlite", "", None, True),
    ("sqlite:///file:x.db?mode=ro&uri=true", "sqlite", "", None, False),
    ("sqlite:///file::memory:?uri=true", "sqlite", "", None, True),
    ("memory", "memory", "", None, True),
    ("postgresql://u:p@host:5432/db", "postgresql", "", None, False),
    ("postgres://host/db", "postgresql", "", None, False),
    ("postgresql+psycopg2://host/db?options=-csearch_path%3Ds", "postgresql", "psycopg2", None,
     False),
])
def test_each_kind_of_url(url: str, backend: str, driver: str, path: str | None, in_memory: bool,
                          tmp_path: Path) -> None:
    parsed = parse_url(url)
    expected = Path(path.format(tmp=tmp_path)) if path is not None else None
    assert parsed == StorageURL(url, url.replace(":p@", ":***@"), backend, driver, expected,
                                in_memory)
    assert parsed.shareable is not in_memory
    assert is_shareable(url) is not in_memory
    assert sqlite_file(url) == expected


def test_the_display_hides_the_password_and_the_url_keeps_it() -> None:
    parsed = parse_url("postgresql://ana:s3cr%40t@db.example:5432/shoal")
    assert parsed.url == "postgresql://ana:s3cr%40t@db.example:5432/shoal"
    assert parsed.display == "postgresql://ana:***@db.example:5432/shoal"


@pytest.mark.parametrize(("bad", "match"), [
    ("not a url", r"^storage URL must be a SQLAlchemy URL such as 'sqlite:///shoal\.db'\. Got "
                  r"'not a url'\. Example:"),
    ("postgresql://u:hunter2@h:port/db", r"Got 'postgresql://u:\*\*\*@h:port/db'"),
    ("mysql://u:hunter2@h/db", r"^storage URL must start with 'sqlite:///' or 'postgresql://'\. "
                               r"Got 'mysql://u:\*\*\*@h/db'\."),
])
def test_bad_urls(bad: str, match: str) -> None:
    with pytest.raises(StorageURLError, match=match) as info:
        parse_url(bad)
    assert "hunter2" not in str(info.value)
    assert sqlite_file(bad) is None


def test_a_plugin_storage_url_is_assumed_shareable() -> None:
    assert is_shareable("redis://cache:6379/0")


def test_parsing_does_not_import_sqlalchemy() -> None:
    code = ("import sys; from shoal.storage import parse_url; parse_url('sqlite:///x.db'); "
            "print('sqlalchemy' in sys.modules)")
    source = str(Path(shoal.__file__).resolve().parents[1])
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          timeout=60, env={**os.environ, "PYTHONPATH": source})
    assert done.stdout.strip() == "False"
