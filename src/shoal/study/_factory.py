"""Create, load, list and delete studies by name."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from shoal.clock import Clock
from shoal.exceptions import ConfigError, StudyExists
from shoal.samplers import Sampler
from shoal.schedulers import NoStopping, Scheduler
from shoal.space import Space
from shoal.storage import Storage, StudyRecord, open_storage
from shoal.study._policies import Heartbeat, RetryPolicy
from shoal.study._study import Study
from shoal.trial import Direction

__all__ = ["create_study", "delete_study", "list_studies", "load_study"]


def create_study(
    name: str | None = None,
    *,
    storage: str | Storage | None = None,
    direction: str | Direction | None = None,
    directions: Sequence[str | Direction] | None = None,
    sampler: Sampler | None = None,
    scheduler: Scheduler | None = None,
    space: Space | Mapping[str, Any] | None = None,
    load_if_exists: bool = False,
    heartbeat: Heartbeat | None = None,
    retry: RetryPolicy | None = None,
    clock: Clock | None = None,
) -> Study:
    """Create a study, or load it with `load_if_exists=True`.

    Args:
        name: Unique within the storage; a random name if omitted.
        storage: A SQLAlchemy URL (`sqlite:///shoal.db`, `postgresql://...`), a Storage, or None
            for memory (lost when the process exits; not shareable by worker processes).
        direction: "minimize" (default) or "maximize".
        directions: One direction per objective (multi-objective studies).
        sampler: How configurations are proposed; AutoSampler by default (a Gaussian process
            for small budgets in few dimensions, TPE beyond).
        scheduler: When running trials stop early; NoStopping by default.
        space: A declared space (Space, or its dict form), stored with the study.
        load_if_exists: Load a study of the same name instead of failing.
        heartbeat / retry: Fault tolerance: see Heartbeat and RetryPolicy.

    Returns:
        The Study.

    Raises:
        StudyExists: the name is taken and load_if_exists is False.

    >>> study = create_study(direction="maximize")
    >>> study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    >>> len(study.trials)
    3
    """
    if direction is not None and directions is not None:
        raise ConfigError("direction and directions of create_study must not both be given. "
                          "Use directions=[...] for several objectives.")
    dirs = tuple(Direction.parse(d) for d in (directions or [direction or "minimize"]))
    if not dirs:
        raise ConfigError("directions of create_study must name at least one direction. Got [].")
    store = open_storage(storage, clock=clock)
    declared = space if space is None or isinstance(space, Space) else Space(space)
    system = {"space": declared.to_dict()} if declared is not None else {}
    name = name or f"study-{uuid.uuid4().hex[:8]}"
    try:
        record = store.create_study(name, dirs, system_attrs=system)
    except StudyExists:
        if not load_if_exists:
            raise
        record = store.get_study(name)
        if direction is not None or directions is not None:
            _check_directions(record, dirs, store.url)
    return _study(record, store, sampler, scheduler, declared, heartbeat, retry, clock)


def load_study(
    name: str,
    *,
    storage: str | Storage | None = None,
    sampler: Sampler | None = None,
    scheduler: Scheduler | None = None,
    heartbeat: Heartbeat | None = None,
    retry: RetryPolicy | None = None,
    clock: Clock | None = None,
) -> Study:
    """Load an existing study; its declared space and directions come from storage.

    Raises:
        StudyNotFound: no study of that name; the message lists the ones there are.
    """
    store = open_storage(storage, clock=clock)
    record = store.get_study(name)
    return _study(record, store, sampler, scheduler, None, heartbeat, retry, clock)


def delete_study(name: str, *, storage: str | Storage) -> None:
    """Delete a study and all its trials."""
    open_storage(storage).delete_study(name)


def list_studies(*, storage: str | Storage) -> list[StudyRecord]:
    """Every study in the storage, with its trial count."""
    return open_storage(storage).list_studies()


def _check_directions(record: StudyRecord, dirs: tuple[Direction, ...], url: str) -> None:
    if record.directions != dirs:
        have = ", ".join(d.value for d in record.directions)
        want = ", ".join(d.value for d in dirs)
        raise ConfigError(f"direction of study {record.name!r} must stay {have!r} (as stored in "
                          f"{url}). Got {want!r}. Drop direction=, or use another study name.")


def _study(record: StudyRecord, storage: Storage, sampler: Sampler | None,
           scheduler: Scheduler | None, space: Space | None, heartbeat: Heartbeat | None,
           retry: RetryPolicy | None, clock: Clock | None) -> Study:
    stored = record.system_attrs.get("space")
    if stored is not None:
        stored_space = Space.from_dict(stored)
        if space is not None and space != stored_space:
            raise ConfigError(f"space of study {record.name!r} must match the one stored in "
                              f"{storage.url}. Got a different space. Use a new study name for a new space.")
        space = stored_space
    if sampler is None:
        from shoal.samplers import AutoSampler  # here: it loads numpy and scipy

        sampler = AutoSampler()
    return Study(record=record, storage=storage, sampler=sampler,
                 scheduler=scheduler or NoStopping(), space=space, heartbeat=heartbeat,
                 retry=retry, clock=clock)
