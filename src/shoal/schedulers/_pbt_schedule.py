"""The hyperparameter schedule a PBT member followed, read from its lineage, and its replay."""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

from shoal import _validate
from shoal.exceptions import ConfigError
from shoal.trial import FrozenTrial

__all__ = ["PBTReplay", "hyperparameter_schedule"]


def hyperparameter_schedule(trial: FrozenTrial,
                            history: Sequence[FrozenTrial]) -> list[tuple[int, dict[str, Any]]]:
    """The parameters `trial`'s state was trained with, as (first step, params) pairs, oldest first.

    Walks `forked_from` up the ancestors (a retry stands for the trial it re-runs, with the same
    params, from that trial's checkpoint): each ancestor's params apply from its own start step
    until the step its descendant's state was copied at; an ancestor whose span is empty (a fork
    of a fork at its very start point) drops out. The first pair starts at step 0 when the oldest
    ancestor was not itself a fork.

    Raises:
        ConfigError: an ancestor is missing from `history` (pass every trial of the study), or the
            lineage loops.

    >>> from shoal.trial import FrozenTrial, TrialState
    >>> root = FrozenTrial(0, 0, TrialState.COMPLETE, params={"lr": 0.1})
    >>> child = FrozenTrial(8, 8, TrialState.RUNNING, params={"lr": 0.12}, lineage=(
    ...     {"event": "forked", "parent": 0, "step": 3, "changed": {"lr": [0.1, 0.12]}},))
    >>> hyperparameter_schedule(child, [root, child])
    [(0, {'lr': 0.1}), (4, {'lr': 0.12})]
    """
    by_number = {t.number: t for t in history}
    chain, seen = [trial], {trial.number}
    while True:
        fork, retry_of = chain[-1].forked_from, chain[-1].system_attrs.get("retry_of")
        if fork is None and retry_of is None:
            break
        number = fork[0] if fork is not None else int(str(retry_of))
        parent = by_number.get(number)
        if parent is None:
            raise ConfigError(f"history of hyperparameter_schedule must hold trial {number}, an "
                              f"ancestor of trial {trial.number}. Got trials "
                              f"{sorted(by_number)!r}. Pass study.trials.")
        if parent.number in seen:
            raise ConfigError(f"lineage of trial {trial.number} must not loop. Got trial "
                              f"{parent.number} twice. The storage holds a corrupt lineage.")
        if fork is None:  # a retry re-runs its dead parent's params from its checkpoint: the same span
            chain[-1] = parent
        else:
            chain.append(parent)
        seen.add(parent.number)
    schedule: list[tuple[int, dict[str, Any]]] = []
    cutoff: int | None = None
    for member in chain:  # newest first: each span ends where the descendant's state begins
        start = member.start_step
        if cutoff is None or start < cutoff:
            schedule.append((start, dict(member.params)))
            cutoff = start
    return schedule[::-1]


class PBTReplay:
    """Replays a PBT schedule on a fresh model: which parameters apply at each step.

    Build it from `hyperparameter_schedule(study.best_trial, study.trials)` and train one new
    model from step 0, reading `params_at(step)` each step (or applying `changes_at(step)`, e.g.
    through `shoal.torch.ApplyChanges(lambda run: replay.changes_at(run.epoch))` for "lr").

    >>> replay = PBTReplay([(0, {"lr": 0.1, "wd": 0.0}), (4, {"lr": 0.12, "wd": 0.0})])
    >>> replay.params_at(5), replay.changes_at(4), replay.changes_at(5)
    ({'lr': 0.12, 'wd': 0.0}, {'lr': 0.12}, None)
    """

    def __init__(self, schedule: Sequence[tuple[int, Mapping[str, Any]]]) -> None:
        owner = "PBTReplay"
        if not schedule or isinstance(schedule, (str, bytes)):
            raise _validate.config_error("schedule", owner, "a non-empty list of (step, params)",
                                         schedule, "Use hyperparameter_schedule(trial, history).")
        steps = [_validate.integer(s, what="each step of schedule", owner=owner, low=0)
                 for s, _ in schedule]
        if steps[0] != 0 or any(a >= b for a, b in itertools.pairwise(steps)):
            raise _validate.config_error("steps of schedule", owner,
                                         "increasing from 0", steps,
                                         "Use hyperparameter_schedule(trial, history).")
        self.schedule = [(s, dict(p)) for s, (_, p) in zip(steps, schedule, strict=True)]

    def params_at(self, step: int) -> dict[str, Any]:
        """The parameters in force at `step`."""
        step = _validate.integer(step, what="step", owner="PBTReplay.params_at", low=0)
        return dict(next(p for s, p in reversed(self.schedule) if s <= step))

    def changes_at(self, step: int) -> dict[str, Any] | None:
        """The parameters whose values change at `step` (new values), or None."""
        for i, (start, params) in enumerate(self.schedule):
            if start == step and i > 0:
                before = self.schedule[i - 1][1]
                changed = {k: v for k, v in params.items() if k not in before or before[k] != v}
                return changed or None
        return None

    def __repr__(self) -> str:
        return f"PBTReplay({self.schedule!r})"
