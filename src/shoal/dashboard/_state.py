"""What the dashboard server remembers of each study: its trials, version, and built figures.

Each study is read once in full, then only what changed: `reader.get_trials(study_id,
since=version)` returns the trials written after `version`, which are merged by number. Every
request asks for a study's state; a refresh runs at most once per `min_interval` seconds per study,
however many pages poll, so a hundred open tabs cost storage what one does.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shoal.storage import StorageReader, StudyRecord
from shoal.trial import FrozenTrial
from shoal.visualization import StudySnapshot, trial_record

__all__ = ["CachedFigure", "Catalog", "StudyState"]


@dataclass(frozen=True)
class CachedFigure:
    """A figure's JSON as served, the study version it was built from, and what building it cost."""

    version: int
    payload: bytes
    build_s: float
    built_at: float


@dataclass
class StudyState:
    """One study as the server holds it; replaced fields, never mutated lists, so a reader holding
    `snapshot` keeps a consistent view while a refresh runs."""

    record: StudyRecord
    version: int = 0  # the storage version of the last change seen: what pages compare
    read_version: int = 0  # the storage version read up to (other studies' writes may move it)
    trials: dict[int, FrozenTrial] = field(default_factory=dict)
    changed_at: dict[int, int] = field(default_factory=dict)  # number -> version it was seen at
    snapshot: StudySnapshot | None = None
    checked: float = float("-inf")
    record_json: dict[int, tuple[int, str]] = field(default_factory=dict)  # number -> (version, JSON)
    row_json: dict[int, tuple[int, str]] = field(default_factory=dict)  # the same for table rows
    figures: dict[tuple[Any, ...], CachedFigure] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def current(self) -> StudySnapshot:
        """The study's snapshot at `version`."""
        assert self.snapshot is not None  # set by the first refresh, before anyone can see the state
        return self.snapshot

    def trials_json(self, since: int, *, rows: bool = False) -> tuple[int, bytes]:
        """`{"version": V, "trials": [...]}` for the trials seen after version `since`, without
        curves; each trial's JSON is made once per change and reused. With `rows`, only what the
        trials table shows (number, state, params, values, duration): a third of the bytes."""
        cache = self.row_json if rows else self.record_json
        with self.lock:
            version, parts = self.version, []
            for number in sorted(self.trials):
                seen = self.changed_at[number]
                if seen <= since:
                    continue
                cached = cache.get(number)
                if cached is None or cached[0] != seen:
                    record = trial_record(self.trials[number], curves=False)
                    if rows:
                        record = {key: record[key] for key in TABLE_FIELDS}
                    cached = (seen, json.dumps(record, allow_nan=False, separators=(",", ":")))
                    cache[number] = cached
                parts.append(cached[1])
        body = f'{{"version":{version},"trials":[{",".join(parts)}]}}'
        return version, body.encode()


#: What the trials table of the study page reads of each trial (`trials?fields=table`).
TABLE_FIELDS = ("number", "state", "params", "values", "duration")


class Catalog:
    """Every study the dashboard has shown, refreshed from a `StorageReader` incrementally.

    Args:
        reader: The read-only storage view (`shoal.storage.open_reader(url)`).
        min_interval: Seconds between two refreshes of the same study (and of the study list).
        clock: A monotonic clock in seconds (injected for tests).
    """

    def __init__(self, reader: StorageReader, *, min_interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.reader = reader
        self.min_interval = min_interval
        self.clock = clock
        self._lock = threading.Lock()  # guards the reader and the dict of states
        self._states: dict[str, StudyState] = {}
        self._names: list[str] = []
        self._listed = float("-inf")

    def names(self) -> list[str]:
        """Names of every study in storage, sorted (re-listed at most once per `min_interval`)."""
        with self._lock:
            now = self.clock()
            if now - self._listed >= self.min_interval:
                self._names = [record.name for record in self.reader.list_studies()]
                self._listed = now
                for gone in set(self._states) - set(self._names):
                    del self._states[gone]
            return list(self._names)

    def study(self, name: str) -> StudyState:
        """The state of study `name`, refreshed if it was last checked `min_interval` ago or more.

        Raises:
            StudyNotFound: No study of that name (its message lists the known studies).
        """
        with self._lock:
            state = self._states.get(name)
            now = self.clock()
            if state is not None and now - state.checked < self.min_interval:
                return state
            record = self.reader.get_study(name)
            if state is None or state.record.study_id != record.study_id:  # new, or deleted and made again
                state = StudyState(record)
                self._states[name] = state
            self._refresh(state, record)
            state.checked = now
            return state

    def _refresh(self, state: StudyState, record: StudyRecord) -> None:
        page = self.reader.get_trials(record.study_id, since=state.read_version)
        if page.version < state.read_version:  # the database was replaced under us: read it whole
            with state.lock:
                state.trials, state.changed_at, state.record_json = {}, {}, {}
            page = self.reader.get_trials(record.study_id, since=0)
        state.read_version = page.version
        attrs_changed = (record.user_attrs, record.system_attrs) != (state.record.user_attrs,
                                                                     state.record.system_attrs)
        if not page.trials and state.snapshot is not None and not attrs_changed:
            return
        mark = max(page.version, state.version + 1)  # served versions only ever grow
        with state.lock:
            trials, changed_at = dict(state.trials), dict(state.changed_at)
            for trial in page.trials:
                trials[trial.number] = trial
                changed_at[trial.number] = mark
            state.trials, state.changed_at, state.record = trials, changed_at, record
            state.version = mark
            state.snapshot = StudySnapshot(
                record.name, tuple(record.directions), [trials[n] for n in sorted(trials)],
                dict(record.user_attrs), dict(record.system_attrs))
