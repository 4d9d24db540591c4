"""Create, load, list and delete studies by name."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from typing import Any

from shoal._optuna_names import fail
from shoal.clock import Clock
from shoal.exceptions import ConfigError, StudyExists
from shoal.samplers import Sampler
from shoal.schedulers import Scheduler
from shoal.space import Space
from shoal.storage import Retention, Storage, StudyRecord, open_storage
from shoal.study._policies import Heartbeat, RetryPolicy
from shoal.study._study import ConstraintsFunc, Study
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
    study_name: str | None = None,
    pruner: object = None,
    constraints_func: ConstraintsFunc | None = None,
    retention: Retention | None = None,
) -> Study:
    """Create a study, or load it with `load_if_exists=True`.

    Args:
        name: Unique within the storage; a random name if omitted.
        storage: A SQLAlchemy URL (`sqlite:///shoal.db`, `postgresql://...`), a Storage, or None
            for memory (lost when the process exits; not shareable by worker processes).
        direction: "minimize" (default) or "maximize".
        directions: One direction per objective (multi-objective studies: `study.best_trials`
            is their Pareto front). The sampler and scheduler must handle several objectives.
        sampler: How configurations are proposed; AutoSampler by default (a Gaussian process
            for small budgets in few dimensions, TPE beyond), and MultiFidelitySampler (a GP
            fitted at the highest rung enough trials reached) under ASHA, Hyperband or
            SuccessiveHalving with one objective.
        scheduler: When running trials stop early; NoStopping by default.
        space: A declared space (Space, or its dict form), stored with the study.
        load_if_exists: Load a study of the same name instead of failing.
        heartbeat / retry: Fault tolerance: see Heartbeat and RetryPolicy.
        study_name: Optuna's spelling of `name`, accepted.
        pruner: Optuna's name for `scheduler`: refused at once with the shoal spelling.
        constraints_func: `f(frozen_trial) -> [c1, c2, ...]`, called when a trial completes;
            the trial is feasible when every value is <= 0. Feasible trials come first: only
            they can be best or on the front, and samplers steer away from violations. Must be
            picklable (a module-level function) to run with n_jobs > 1.
        retention: Which step checkpoints a trial keeps (`Retention()`: the newest two, the
            best and the scheduler's rungs).

    Returns:
        The Study.

    Raises:
        StudyExists: the name is taken and load_if_exists is False.
        OptunaName: `pruner=` was given (a ConfigError naming `scheduler=`).
        ConfigError: the sampler or scheduler cannot handle the study's number of objectives.

    >>> study = create_study(direction="maximize")
    >>> study.optimize(lambda trial: trial.suggest_float("x", 0, 1), n_trials=3)
    >>> len(study.trials)
    3
    """
    name = _name(name, study_name, "create_study")
    _no_pruner(pruner, "create_study")
    if direction is not None and directions is not None:
        raise ConfigError("direction and directions of create_study must not both be given. "
                          "Use directions=[...] for several objectives.")
    dirs = tuple(Direction.parse(d) for d in (directions or [direction or "minimize"]))
    if not dirs:
        raise ConfigError("directions of create_study must name at least one direction. Got [].")
    _check_objectives(sampler, scheduler, len(dirs), name or "(unnamed)")  # before anything is stored
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
    return _study(record, store, sampler, scheduler, declared, heartbeat, retry, clock, constraints_func,
                  retention)


def load_study(
    name: str | None = None,
    *,
    storage: str | Storage | None = None,
    sampler: Sampler | None = None,
    scheduler: Scheduler | None = None,
    heartbeat: Heartbeat | None = None,
    retry: RetryPolicy | None = None,
    clock: Clock | None = None,
    study_name: str | None = None,
    pruner: object = None,
    constraints_func: ConstraintsFunc | None = None,
    retention: Retention | None = None,
) -> Study:
    """Load an existing study; its declared space and directions come from storage.

    `study_name=` (Optuna's spelling of `name`) is accepted; `pruner=` is refused as in
    `create_study`; `constraints_func` and `retention` are as in `create_study`.

    Raises:
        StudyNotFound: no study of that name; the message lists the ones there are.
    """
    name = _name(name, study_name, "load_study")
    _no_pruner(pruner, "load_study")
    if name is None:
        raise ConfigError("name of load_study must be given. Got None. Pass the study's name, "
                          "e.g. load_study('mnist', storage=...); 'shoal studies' lists them.")
    store = open_storage(storage, clock=clock)
    record = store.get_study(name)
    return _study(record, store, sampler, scheduler, None, heartbeat, retry, clock, constraints_func,
                  retention)


def delete_study(name: str | None = None, *, storage: str | Storage,
                 study_name: str | None = None) -> None:
    """Delete a study and all its trials; `study_name=` is Optuna's spelling of `name`."""
    name = _name(name, study_name, "delete_study")
    if name is None:
        raise ConfigError("name of delete_study must be given. Got None. Pass the study's name; "
                          "'shoal studies' lists them.")
    open_storage(storage).delete_study(name)


def list_studies(*, storage: str | Storage) -> list[StudyRecord]:
    """Every study in the storage, with its trial count."""
    return open_storage(storage).list_studies()


def _name(name: str | None, study_name: str | None, owner: str) -> str | None:
    """`name`, or Optuna's `study_name=` for it; both only when they agree."""
    if study_name is None:
        return name
    if name is not None and name != study_name:
        raise ConfigError(f"study_name of {owner} must equal name when both are given. Got "
                          f"{study_name!r} and name={name!r}. Pass only one of them.")
    return study_name


def _no_pruner(pruner: object, owner: str) -> None:
    if pruner is None:
        return
    equivalent = {"MedianPruner": "shoal.schedulers.MedianStopping()",
                  "NopPruner": "shoal.schedulers.NoStopping()"}.get(type(pruner).__name__,
                                                                   "shoal.schedulers.MedianStopping()")
    raise fail(f"pruner of {owner} is Optuna's name: shoal calls it scheduler=. "
               f"Use scheduler={equivalent}.")


def _check_directions(record: StudyRecord, dirs: tuple[Direction, ...], url: str) -> None:
    if record.directions != dirs:
        have = ", ".join(d.value for d in record.directions)
        want = ", ".join(d.value for d in dirs)
        raise ConfigError(f"direction of study {record.name!r} must stay {have!r} (as stored in "
                          f"{url}). Got {want!r}. Drop direction=, or use another study name.")


def _study(record: StudyRecord, storage: Storage, sampler: Sampler | None,
           scheduler: Scheduler | None, space: Space | None, heartbeat: Heartbeat | None,
           retry: RetryPolicy | None, clock: Clock | None,
           constraints_func: ConstraintsFunc | None, retention: Retention | None) -> Study:
    stored = record.system_attrs.get("space")
    if stored is not None:
        stored_space = Space.from_dict(stored)
        if space is not None and space != stored_space:
            raise ConfigError(f"space of study {record.name!r} must match the one stored in "
                              f"{storage.url}. Got a different space. Use a new study name for a new space.")
        space = stored_space
    if sampler is None:
        sampler = _default_sampler(scheduler, len(record.directions))
    _check_objectives(sampler, scheduler, len(record.directions), record.name)
    if constraints_func is not None and not callable(constraints_func):
        raise ConfigError(f"constraints_func of study {record.name!r} must be callable "
                          f"(trial -> list of floats). Got {constraints_func!r}.")
    return Study(record=record, storage=storage, sampler=sampler, scheduler=scheduler, space=space,
                 heartbeat=heartbeat, retry=retry, clock=clock, constraints_func=constraints_func,
                 retention=retention)


def _default_sampler(scheduler: Scheduler | None, n_objectives: int) -> Sampler:
    """AutoSampler; under a rung scheduler (ASHA, Hyperband, SuccessiveHalving) with one objective,
    MultiFidelitySampler, whose GP is fitted at the highest rung enough trials reached.

    A plain sampler under a rung scheduler ranks trials stopped after one epoch with finished
    ones: on LCBench, TPE under stopping ASHA was worse than random search under it (mean
    normalised regret 0.379 against 0.213 at the full budget); MultiFidelitySampler with
    Hyperband's promotion form reached 0.046 (benchmarks/RESULTS.md, section 12).
    """
    from shoal.samplers import AutoSampler, MultiFidelitySampler  # here: they load numpy and scipy
    from shoal.schedulers import ASHA, Hyperband, SuccessiveHalving

    if n_objectives == 1 and isinstance(scheduler, (ASHA, Hyperband, SuccessiveHalving)):
        return MultiFidelitySampler()
    return AutoSampler()


_HANDLE_MANY = {"sampler": "Use RandomSampler, QMCSampler, GridSampler, CoarseToFineSampler, TPESampler, "
                           "GPSampler or AutoSampler (a sampler of your own declares "
                           "`multi_objective = True` once it ranks by every objective).",
                "scheduler": "Use NoStopping() (the default), ASHA, Hyperband or SuccessiveHalving "
                             "(they rank a rung by non-dominated sorting)."}


def _check_objectives(sampler: Sampler | None, scheduler: Scheduler | None, n: int, study: str) -> None:
    """Refuse a sampler or scheduler written for one objective in a study with several."""
    if n == 1:
        return
    for role, part in (("sampler", sampler), ("scheduler", scheduler)):
        if part is None or getattr(part, "multi_objective", False) is True:
            continue  # None: the defaults, AutoSampler and NoStopping, handle any number
        name = type(part).__name__
        raise ConfigError(f"{role} of study {study!r} must handle {n} objectives; {name} ranks "
                          f"trials by one. Got {name}. {_HANDLE_MANY[role]}")
