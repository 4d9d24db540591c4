"""Storage in a Python dict: fast, for one process; the reference the SQL storage is tested against."""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from shoal.clock import Clock, SystemClock
from shoal.exceptions import StudyExists, StudyNotFound
from shoal.space import Param
from shoal.storage._attrs import plain_attrs
from shoal.storage._protocol import BudgetRecord, StudyRecord, TrialsPage
from shoal.trial import Direction, FrozenTrial, TrialState

__all__ = ["InMemoryStorage", "study_not_found"]


def study_not_found(name: str, url: str, known: Sequence[str]) -> StudyNotFound:
    hint = f" Known studies: {', '.join(sorted(known)[:10])}." if known else " It holds no study yet."
    return StudyNotFound(f"no study named {name!r} in {url}.{hint} "
                         f"Try 'shoal studies' to list them, or create_study({name!r}).")


class InMemoryStorage:
    """Keeps everything in this process's memory; lost when it exits.

    >>> storage = InMemoryStorage()
    >>> study = storage.create_study("demo", [Direction.MINIMIZE])
    >>> storage.create_trial(study.study_id).number
    0
    """

    url = "memory"

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._lock = threading.RLock()
        self._studies: dict[str, StudyRecord] = {}
        self._trials: dict[int, list[FrozenTrial]] = {}  # study_id -> trials by number
        self._where: dict[int, tuple[int, int]] = {}  # trial_id -> (study_id, number)
        self._versions: dict[int, list[int]] = {}  # study_id -> version of each trial
        # study_id -> numbers of trials put WAITING, oldest first (claiming scanned every trial)
        self._waiting: dict[int, deque[int]] = {}
        self._budgets: dict[int, BudgetRecord] = {}  # study_id -> its stored budget
        self._version = 0
        self._next_id = 0

    def close(self) -> None:
        """Nothing to release: the data lives in this object and stays readable until it is dropped."""

    # Studies ----------------------------------------------------------------------------------
    def create_study(self, name: str, directions: Sequence[Direction], *,
                     user_attrs: Mapping[str, Any] | None = None,
                     system_attrs: Mapping[str, Any] | None = None) -> StudyRecord:
        owner = f"study {name!r}"
        user_attrs = plain_attrs(user_attrs, kind="user attribute", owner=owner)
        system_attrs = plain_attrs(system_attrs, kind="system attribute", owner=owner)
        with self._lock:
            if name in self._studies:
                raise StudyExists(f"Study {name!r} already exists in {self.url}. "
                                  f"Use load_study({name!r}) or pass load_if_exists=True.")
            self._next_id += 1
            record = StudyRecord(self._next_id, name, tuple(directions), dict(user_attrs or {}),
                                 dict(system_attrs or {}), self._clock.now())
            self._studies[name] = record
            self._trials[record.study_id] = []
            self._versions[record.study_id] = []
            return record

    def get_study(self, name: str) -> StudyRecord:
        with self._lock:
            if name not in self._studies:
                raise study_not_found(name, self.url, list(self._studies))
            record = self._studies[name]
            return replace(record, n_trials=len(self._trials[record.study_id]))

    def list_studies(self) -> list[StudyRecord]:
        with self._lock:
            return [self.get_study(name) for name in sorted(self._studies)]

    def delete_study(self, name: str) -> None:
        with self._lock:
            record = self.get_study(name)
            del self._studies[name]
            for trial in self._trials.pop(record.study_id):
                del self._where[trial.trial_id]
            del self._versions[record.study_id]
            self._waiting.pop(record.study_id, None)
            self._budgets.pop(record.study_id, None)

    def set_study_attrs(self, study_id: int, *, user: Mapping[str, Any] | None = None,
                        system: Mapping[str, Any] | None = None) -> None:
        user = plain_attrs(user, kind="user attribute", owner="a study")
        system = plain_attrs(system, kind="system attribute", owner="a study")
        with self._lock:
            record = next(r for r in self._studies.values() if r.study_id == study_id)
            self._studies[record.name] = replace(
                record, user_attrs={**record.user_attrs, **(user or {})},
                system_attrs={**record.system_attrs, **(system or {})})

    # Trials -----------------------------------------------------------------------------------
    def _signs(self, study_id: int) -> tuple[float, ...]:
        return next(r.signs for r in self._studies.values() if r.study_id == study_id)

    def _put(self, study_id: int, trial: FrozenTrial) -> None:
        self._version += 1
        trials, versions = self._trials[study_id], self._versions[study_id]
        if trial.number == len(trials):
            trials.append(trial)
            versions.append(self._version)
        else:
            trials[trial.number] = trial
            versions[trial.number] = self._version
        if trial.state is TrialState.WAITING:
            self._waiting.setdefault(study_id, deque()).append(trial.number)

    def create_trial(self, study_id: int, *, state: TrialState = TrialState.RUNNING,
                     params: Mapping[str, Any] | None = None,
                     distributions: Mapping[str, Param] | None = None,
                     user_attrs: Mapping[str, Any] | None = None,
                     system_attrs: Mapping[str, Any] | None = None,
                     parent: int | None = None, checkpoint: str | None = None,
                     worker: str | None = None,
                     lineage: Sequence[Mapping[str, Any]] = ()) -> FrozenTrial:
        user_attrs = plain_attrs(user_attrs, kind="user attribute", owner="a trial")
        events = tuple(plain_attrs(dict(e), kind="lineage field", owner="a trial") for e in lineage)
        system_attrs = plain_attrs(system_attrs, kind="system attribute", owner="a trial")
        with self._lock:
            if study_id not in self._trials:
                raise StudyNotFound(f"no study with id {study_id} in {self.url}.")
            now = self._clock.now()
            running = state is TrialState.RUNNING
            self._next_id += 1
            trial = FrozenTrial(
                number=len(self._trials[study_id]), trial_id=self._next_id, state=state,
                params=dict(params or {}), distributions=dict(distributions or {}),
                user_attrs=dict(user_attrs or {}), system_attrs=dict(system_attrs or {}),
                signs=self._signs(study_id), datetime_start=now if running else None,
                last_heartbeat=now if running else None, worker=worker if running else None,
                parent=parent, checkpoint=checkpoint, lineage=events)
            self._where[trial.trial_id] = (study_id, trial.number)
            self._put(study_id, trial)
            return trial

    def claim_waiting_trial(self, study_id: int, *, worker: str) -> FrozenTrial | None:
        with self._lock:
            waiting, trials = self._waiting.get(study_id, deque()), self._trials[study_id]
            while waiting:
                trial = trials[waiting.popleft()]
                if trial.state is TrialState.WAITING:  # else claimed already (listed twice)
                    now = self._clock.now()
                    claimed = replace(trial, state=TrialState.RUNNING, datetime_start=now,
                                      last_heartbeat=now, worker=worker)
                    self._put(study_id, claimed)
                    return claimed
            return None

    def _running(self, trial_id: int) -> tuple[int, FrozenTrial] | None:
        study_id, number = self._where[trial_id]
        trial = self._trials[study_id][number]
        return (study_id, trial) if trial.state is TrialState.RUNNING else None

    def update_trial(self, trial_id: int, *, params: Mapping[str, Any] | None = None,
                     distributions: Mapping[str, Param] | None = None,
                     intermediate: Mapping[int, float] | None = None,
                     user_attrs: Mapping[str, Any] | None = None,
                     system_attrs: Mapping[str, Any] | None = None,
                     heartbeat: bool = False) -> bool:
        user_attrs = plain_attrs(user_attrs, kind="user attribute", owner="a trial")
        system_attrs = plain_attrs(system_attrs, kind="system attribute", owner="a trial")
        with self._lock:
            found = self._running(trial_id)
            if found is None:
                return False
            study_id, trial = found
            self._put(study_id, replace(
                trial,
                params={**trial.params, **(params or {})},
                distributions={**trial.distributions, **(distributions or {})},
                intermediate={**trial.intermediate, **(intermediate or {})},
                user_attrs={**trial.user_attrs, **(user_attrs or {})},
                system_attrs={**trial.system_attrs, **(system_attrs or {})},
                last_heartbeat=self._clock.now() if heartbeat else trial.last_heartbeat))
            return True

    def finish_trial(self, trial_id: int, *, state: TrialState,
                     values: Sequence[float] | None = None,
                     system_attrs: Mapping[str, Any] | None = None) -> bool:
        system_attrs = plain_attrs(system_attrs, kind="system attribute", owner="a trial")
        with self._lock:
            found = self._running(trial_id)
            if found is None:
                return False
            study_id, trial = found
            now = self._clock.now()
            lineage = trial.lineage
            if state is TrialState.PAUSED:
                lineage = (*lineage, {"event": "paused", "step": trial.last_step, "at": now})
            self._put(study_id, replace(
                trial, state=state, values=tuple(values) if values is not None else None,
                system_attrs={**trial.system_attrs, **(system_attrs or {})},
                datetime_complete=now, lineage=lineage))
            return True

    def resume_trial(self, trial_id: int, *, worker: str) -> FrozenTrial | None:
        with self._lock:
            study_id, number = self._where[trial_id]
            trial = self._trials[study_id][number]
            if trial.state is not TrialState.PAUSED:
                return None
            now = self._clock.now()
            event = {"event": "resumed", "step": trial.last_step, "worker": worker, "at": now}
            resumed = replace(trial, state=TrialState.RUNNING, last_heartbeat=now, worker=worker,
                              datetime_complete=None, lineage=(*trial.lineage, event))
            self._put(study_id, resumed)
            return resumed

    def fail_stale_trials(self, study_id: int, *, grace_seconds: float) -> list[FrozenTrial]:
        with self._lock:
            now = self._clock.now()
            stale = [t for t in self._trials[study_id] if t.state is TrialState.RUNNING
                     and (t.last_heartbeat or 0.0) < now - grace_seconds]
            out = []
            for trial in stale:
                reason = f"heartbeat lost: none for {now - (trial.last_heartbeat or 0.0):.0f} s"
                failed = replace(trial, state=TrialState.FAILED,
                                 datetime_complete=trial.last_heartbeat or trial.datetime_start or now,
                                 system_attrs={**trial.system_attrs, "fail_reason": reason})
                self._put(study_id, failed)
                out.append(failed)
            return out

    def get_trials(self, study_id: int, *, since: int = 0) -> TrialsPage:
        with self._lock:
            trials, versions = self._trials.get(study_id, []), self._versions.get(study_id, [])
            changed = [t for t, v in zip(trials, versions, strict=True) if v > since]
            return TrialsPage(changed, self._version)

    # The study's budget -------------------------------------------------------------------------
    def set_budget(self, study_id: int, *, n_trials: int | None, deadline: float | None,
                   used_at_least: int = 0) -> BudgetRecord:
        with self._lock:
            if study_id not in self._trials:
                raise StudyNotFound(f"no study with id {study_id} in {self.url}.")
            before = self._budgets.get(study_id)
            used = max(before.used if before is not None else 0, used_at_least)
            record = self._budgets[study_id] = BudgetRecord(n_trials, deadline, used)
            return record

    def get_budget(self, study_id: int) -> BudgetRecord | None:
        with self._lock:
            return self._budgets.get(study_id)

    def claim_budget(self, study_id: int) -> bool:
        with self._lock:
            budget = self._budgets.get(study_id)
            if budget is None:
                return True
            if budget.n_trials is not None and budget.used >= budget.n_trials:
                return False
            self._budgets[study_id] = replace(budget, used=budget.used + 1)
            return True

    def release_budget(self, study_id: int) -> None:
        with self._lock:
            budget = self._budgets.get(study_id)
            if budget is not None and budget.used > 0:
                self._budgets[study_id] = replace(budget, used=budget.used - 1)
