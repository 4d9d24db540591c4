"""Continuations of a trial's life: where it keeps checkpoints, where it resumes from, and forks.

A trial keeps one folder of step checkpoints (`shoal.storage.CheckpointFolder`). Where it continues
from is decided once, when the trial starts:

- its own newest step (a PAUSED trial resumed, or a fork, whose start point is linked into its
  own folder when it is created);
- else, for a retry, the newest step of the nearest ancestor that has one (`parent`, then its
  parent, ...), so a trial whose worker died carries on from that worker's last epoch;
- else nothing: it starts from scratch.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shoal.exceptions import ConfigError
from shoal.space import Space
from shoal.storage import CheckpointFolder, Retention, Storage, study_folder
from shoal.trial import FrozenTrial, TrialState

__all__ = ["CheckpointPlan", "best_step", "create_fork", "fork_changes", "kept_summary", "plan_for",
           "trial_folder"]


@dataclass(frozen=True)
class CheckpointPlan:
    """Where a running trial writes its checkpoints and where it resumes from.

    Attributes:
        folder: The trial's own step folders.
        resume_from: The folder holding the step to resume from (its own, or an ancestor's).
        resume_step: That step; None when the trial starts from scratch.
        retention: Which steps are kept after each save.
        rungs: Steps the scheduler decides at (kept when `retention.keep_rungs`).
    """

    folder: CheckpointFolder
    resume_from: CheckpointFolder | None = None
    resume_step: int | None = None
    retention: Retention = field(default_factory=Retention)
    rungs: Collection[int] = ()

    @property
    def resume_path(self) -> Path | None:
        """The step folder to load, or None."""
        if self.resume_from is None or self.resume_step is None:
            return None
        return self.resume_from.step_path(self.resume_step)


def trial_folder(storage_url: str, study_name: str, number: int) -> CheckpointFolder:
    return CheckpointFolder(study_folder(storage_url, study_name) / f"trial-{number}")


def plan_for(trial: FrozenTrial, *, storage_url: str, study_name: str, retention: Retention,
             rungs: Collection[int], fresh: bool,
             parents: Callable[[], Mapping[int, int | None]]) -> CheckpointPlan:
    """The checkpoint plan of a trial that is starting.

    Args:
        trial: Its record as it starts (RUNNING).
        fresh: True for a trial that never ran (a new number): anything already in its folder was
            left by an earlier study of the same name (deleted, or kept in memory) and is removed.
        parents: Each trial number's parent, read only when a retry's ancestors must be walked.
    """
    own = trial_folder(storage_url, study_name, trial.number)
    if fresh and own.path.exists():
        shutil.rmtree(own.path, ignore_errors=True)
    plan = CheckpointPlan(folder=own, retention=retention, rungs=frozenset(rungs))
    step = own.latest()
    if step is not None:
        return _with(plan, own, step)
    seen = {trial.number}
    number = trial.parent
    table: Mapping[int, int | None] | None = None
    while number is not None and number not in seen:
        folder = trial_folder(storage_url, study_name, number)
        step = folder.latest()
        if step is not None:
            return _with(plan, folder, step)
        seen.add(number)
        if table is None:
            table = parents()
        number = table.get(number)
    return plan


def _with(plan: CheckpointPlan, folder: CheckpointFolder, step: int) -> CheckpointPlan:
    return CheckpointPlan(folder=plan.folder, resume_from=folder, resume_step=step,
                          retention=plan.retention, rungs=plan.rungs)


def fork_changes(parent: FrozenTrial, params: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{name: [old, new]} for each value of `params` that differs from the parent's."""
    return {name: [parent.params.get(name), value] for name, value in params.items()
            if parent.params.get(name) != value}


def link_fork_start(*, storage_url: str, study_name: str, parent: int,
                    step: int | None) -> tuple[Path | None, int | None]:
    """Pin the parent's checkpoint at `step` (or its newest before) in a staging folder, by hard
    links, before the fork's trial number exists; return (staging folder, step taken).

    The staging folder is moved into the fork's own folder by `adopt_fork_start` once the trial
    is created, so the fork keeps its start point even if the parent deletes that step meanwhile.
    """
    if step is None:
        return None, None
    source = trial_folder(storage_url, study_name, parent)
    staging = CheckpointFolder(study_folder(storage_url, study_name) / f".fork-{uuid.uuid4().hex}")
    taken = staging.link_from(source, step)
    if taken is None:
        shutil.rmtree(staging.path, ignore_errors=True)
        return None, None
    return staging.path, taken


def adopt_fork_start(staging: Path | None, *, storage_url: str, study_name: str,
                     number: int) -> None:
    """Move a staged fork start point into trial `number`'s folder."""
    if staging is None:
        return
    target = trial_folder(storage_url, study_name, number).path
    if target.exists():  # left by an earlier study of the same name
        shutil.rmtree(target, ignore_errors=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(staging, target)


def best_step(scores: Mapping[int, float]) -> int | None:
    """The step with the lowest reported score (the first, on ties)."""
    return min(scores, key=lambda s: (scores[s], s)) if scores else None


def kept_summary(folder: CheckpointFolder) -> dict[str, Any]:
    """What `system_attrs["checkpoints"]` records after a save: kept steps and their bytes."""
    return {"steps": folder.steps(), "bytes": folder.disk_bytes()}


def create_fork(storage: Storage, *, study_id: int, study_name: str, space: Space | None,
                parent: FrozenTrial, step: int | None, params: Mapping[str, Any],
                replaces: int | None, now: float, worker: str | None) -> FrozenTrial:
    """Create the trial that forks `parent` at `step` with `params` changed: RUNNING for `worker`,
    or WAITING for any worker when `worker` is None. Its start point is pinned first."""
    if space is not None:
        for name, value in params.items():
            if name not in space or not space[name].contains(value):
                raise ConfigError(f"value of forked parameter {name!r} must lie in the study's "
                                  f"space. Got {value!r}. Use a value the space allows.")
    staging, taken = link_fork_start(storage_url=storage.url, study_name=study_name,
                                     parent=parent.number, step=step)
    event = {"event": "forked", "parent": parent.number, "step": taken,
             "changed": fork_changes(parent, params), "replaces": replaces, "at": now}
    try:
        frozen = storage.create_trial(
            study_id, state=TrialState.WAITING if worker is None else TrialState.RUNNING,
            params={**parent.params, **params}, distributions=dict(parent.distributions),
            user_attrs=dict(parent.user_attrs), system_attrs={"fixed_params": True, "forked": True},
            parent=parent.number, worker=worker, lineage=[event])
        adopt_fork_start(staging, storage_url=storage.url, study_name=study_name,
                         number=frozen.number)
    except BaseException:
        if staging is not None:
            shutil.rmtree(staging, ignore_errors=True)
        raise
    return frozen
