"""The storage protocol: the only place a study's state lives.

Every method is atomic. Storage knows nothing about studies as objects, samplers or executors:
it stores records, so any number of workers on any number of machines can share a study.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from shoal.space import Param
from shoal.trial import Direction, FrozenTrial, TrialState

__all__ = ["BudgetRecord", "Storage", "StorageReader", "StudyRecord", "TrialsPage"]


@dataclass(frozen=True)
class StudyRecord:
    """A study as stored: its identity, directions and attributes."""

    study_id: int
    name: str
    directions: tuple[Direction, ...]
    user_attrs: Mapping[str, Any] = field(default_factory=dict)
    system_attrs: Mapping[str, Any] = field(default_factory=dict)
    created: float = 0.0
    n_trials: int = 0

    @property
    def sign(self) -> float:
        """The first objective's sign (the only one in a single-objective study)."""
        return self.directions[0].sign

    @property
    def signs(self) -> tuple[float, ...]:
        """One sign per objective: +1.0 minimised, -1.0 maximised."""
        return tuple(d.sign for d in self.directions)


@dataclass(frozen=True)
class BudgetRecord:
    """A study's stored budget, shared by every worker: how many new trials it may start in all
    (`n_trials`, None for no limit), the wall-clock time after which none starts (`deadline`, None
    for none), and how many slots workers have claimed so far (`used`)."""

    n_trials: int | None
    deadline: float | None
    used: int

    @property
    def left(self) -> int | None:
        """Slots not yet claimed; None without a limit."""
        return None if self.n_trials is None else max(0, self.n_trials - self.used)


@dataclass(frozen=True)
class TrialsPage:
    """Trials changed since a version, and the version to ask from next time."""

    trials: list[FrozenTrial]
    version: int


@runtime_checkable
class StorageReader(Protocol):
    """The read-only view the CLI's inspection commands, the dashboard and reports use.

    `shoal.storage.open_reader(url)` makes one that never writes: no file, table or schema is
    created, nothing is migrated, no setting of the database is changed.
    """

    url: str

    def list_studies(self) -> list[StudyRecord]: ...

    def get_study(self, name: str) -> StudyRecord:
        """Raises StudyNotFound (with a hint listing the known studies) if there is none."""
        ...

    def get_trials(self, study_id: int, *, since: int = 0) -> TrialsPage:
        """Trials of the study written after version `since` (0: all), ordered by number.

        Every trial carries its `last_heartbeat`, so a reader can tell that a RUNNING trial's
        worker has gone silent without writing anything.
        """
        ...

    def close(self) -> None:
        """Release the connections and files this object holds; the stored data stays.

        Call it once you are done with the object (a dropped object releases them too).
        """
        ...


@runtime_checkable
class Storage(StorageReader, Protocol):
    """Read-write storage shared by every worker of a study.

    `url` reopens the same storage from another process; in-memory storage has no such URL.
    """

    def create_study(
        self,
        name: str,
        directions: Sequence[Direction],
        *,
        user_attrs: Mapping[str, Any] | None = None,
        system_attrs: Mapping[str, Any] | None = None,
    ) -> StudyRecord:
        """Raises StudyExists if the name is taken."""
        ...

    def delete_study(self, name: str) -> None:
        """Delete a study and all its trials. Raises StudyNotFound."""
        ...

    def set_study_attrs(self, study_id: int, *, user: Mapping[str, Any] | None = None,
                        system: Mapping[str, Any] | None = None) -> None: ...

    def create_trial(
        self,
        study_id: int,
        *,
        state: TrialState = TrialState.RUNNING,
        params: Mapping[str, Any] | None = None,
        distributions: Mapping[str, Param] | None = None,
        user_attrs: Mapping[str, Any] | None = None,
        system_attrs: Mapping[str, Any] | None = None,
        parent: int | None = None,
        checkpoint: str | None = None,
        worker: str | None = None,
        lineage: Sequence[Mapping[str, Any]] = (),
    ) -> FrozenTrial:
        """Create a RUNNING or WAITING trial with the next free number of the study, atomically.

        `lineage` is the trial's first events (a fork's "forked" event), stored as given.
        """
        ...

    def claim_waiting_trial(self, study_id: int, *, worker: str) -> FrozenTrial | None:
        """Atomically move the oldest WAITING trial to RUNNING for `worker`; None if there is none."""
        ...

    def update_trial(
        self,
        trial_id: int,
        *,
        params: Mapping[str, Any] | None = None,
        distributions: Mapping[str, Param] | None = None,
        intermediate: Mapping[int, float] | None = None,
        user_attrs: Mapping[str, Any] | None = None,
        system_attrs: Mapping[str, Any] | None = None,
        heartbeat: bool = False,
    ) -> bool:
        """Merge the given fields into a RUNNING trial. Returns False (writing nothing) if the trial
        is no longer RUNNING, e.g. because another worker declared it stale."""
        ...

    def finish_trial(
        self,
        trial_id: int,
        *,
        state: TrialState,
        values: Sequence[float] | None = None,
        system_attrs: Mapping[str, Any] | None = None,
    ) -> bool:
        """Move a RUNNING trial to COMPLETE, PRUNED, FAILED or PAUSED. Returns False if it was not
        RUNNING.

        PAUSED keeps the trial resumable: storage appends {"event": "paused", "step": its last
        reported step (None without reports), "at": now} to its lineage and sets
        `datetime_complete` to now (cleared again when it resumes).
        """
        ...

    def resume_trial(self, trial_id: int, *, worker: str) -> FrozenTrial | None:
        """Atomically move a PAUSED trial to RUNNING for `worker`; None if it is not PAUSED (e.g.
        another worker resumed it first).

        Appends {"event": "resumed", "step": its last reported step, "worker": worker, "at": now}
        to its lineage, starts its heartbeat and clears `datetime_complete`; `datetime_start`
        stays the trial's first start.
        """
        ...

    def fail_stale_trials(self, study_id: int, *, grace_seconds: float) -> list[FrozenTrial]:
        """Mark FAILED every RUNNING trial whose heartbeat is older than the grace period, and
        return exactly those this call changed (so only one worker acts on each).

        A stale trial's completion time is its last heartbeat, the last moment it was known to
        run, so its duration is how long it ran, not how long it took to be noticed.
        """
        ...

    # The study's budget (`shoal.study.Study.set_budget`), shared by workers on every machine ------
    def set_budget(self, study_id: int, *, n_trials: int | None, deadline: float | None,
                   used_at_least: int = 0) -> BudgetRecord:
        """Store the study's budget: at most `n_trials` claimed slots in all, none after
        `deadline`; the count of used slots becomes at least `used_at_least` (it never goes down
        here, so workers' claims are kept). Raises StudyNotFound."""
        ...

    def get_budget(self, study_id: int) -> BudgetRecord | None:
        """The study's stored budget; None when none was ever set."""
        ...

    def claim_budget(self, study_id: int) -> bool:
        """Take one slot of the study's budget, atomically across processes and machines: of
        workers racing for the last slot exactly one gets it. False when every slot is used;
        True when the study has no stored budget (nothing limits it). The deadline is the
        caller's to check (with its own clock)."""
        ...

    def release_budget(self, study_id: int) -> None:
        """Give back a claimed slot that started no trial (never below zero)."""
        ...
