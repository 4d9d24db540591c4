"""The in-memory storage passes the storage conformance suite."""

from __future__ import annotations

from pathlib import Path

from shoal.clock import FakeClock
from shoal.storage import InMemoryStorage
from shoal.testing import StorageSuite


class TestInMemoryStorage(StorageSuite):
    def make_storage(self, tmp_path: Path, clock: FakeClock) -> InMemoryStorage:
        return InMemoryStorage(clock=clock)
