"""Fixtures of the dashboard tests (the helpers they use live in dashboard_support.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from dashboard_support import TestClient, quadratic_study

from shoal.dashboard import create_app
from shoal.storage import Storage, StorageReader, open_reader, open_storage


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'shoal.db'}"


@pytest.fixture
def storage(url: str) -> Iterator[Storage]:
    store = open_storage(url)
    yield store
    store.close()


@pytest.fixture
def reader(url: str, storage: Storage) -> Iterator[StorageReader]:
    quadratic_study(storage, "quad", 12)
    read = open_reader(url)
    yield read
    read.close()


@pytest.fixture
def client(reader: StorageReader) -> TestClient:
    """A client of the app over `reader` (a loopback Host, as a browser on this machine sends)."""
    return TestClient(create_app(reader, poll_s=0.05), base_url="http://127.0.0.1")
