"""A mapping that records which keys a builder read: checks that key sets match what is read."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any


class Recording(Mapping[str, Any]):
    """A mapping that remembers which keys were looked up."""

    def __init__(self, data: dict[str, Any]) -> None:
        self.data, self.read = data, set[str]()

    def __getitem__(self, key: str) -> Any:
        self.read.add(key)
        return self.data[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self.data)

    def __len__(self) -> int:
        return len(self.data)
