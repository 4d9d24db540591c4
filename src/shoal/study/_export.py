"""Trials as flat rows, for data frames and CSV/JSON export, and the summary of a Pareto front."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from shoal.trial import Direction, FrozenTrial, TrialState, dominates, hypervolume, normalise, pareto_front

__all__ = ["FRONT_REFERENCE", "FrontSummary", "RunningFront", "front_summary", "trial_rows"]

#: The reference point of a reported hypervolume, in every normalised objective (see front_summary).
FRONT_REFERENCE = 1.1


@dataclass(frozen=True)
class FrontSummary:
    """A study's Pareto front and its hypervolume.

    `hypervolume` is measured with every objective scaled to [0, 1] between the best and the worst
    value of the `n_box` feasible completed trials, against the reference point FRONT_REFERENCE
    in each objective (so the extremes of the front count too); at most FRONT_REFERENCE ** k.
    """

    front: list[FrozenTrial]
    hypervolume: float
    n_box: int

    def describe(self) -> str:
        """`front of 4 trials, hypervolume 0.8123 (...how it is measured...)`."""
        k = self.front[0].n_objectives if self.front else 0
        return (f"front of {len(self.front)} trial{'s' if len(self.front) != 1 else ''}, hypervolume "
                f"{self.hypervolume:.4g} (each objective scaled to [0, 1] between the best and worst of "
                f"the {self.n_box} feasible completed trial{'s' if self.n_box != 1 else ''}, reference "
                f"point {FRONT_REFERENCE:g} in "
                f"each; at most {FRONT_REFERENCE ** k:.4g})")


def front_summary(trials: Sequence[FrozenTrial]) -> FrontSummary:
    """The Pareto front of `trials` (`shoal.trial.pareto_front`) and its normalised hypervolume.

    >>> signs = (-1.0, 1.0)
    >>> trials = [FrozenTrial(i, i, TrialState.COMPLETE, values=v, signs=signs)
    ...           for i, v in enumerate([(1.0, 1.0), (0.0, 0.0), (0.5, 0.5), (0.4, 0.9)])]
    >>> s = front_summary(trials)
    >>> [t.number for t in s.front], round(s.hypervolume, 4), s.n_box
    ([0, 1, 2], 0.46, 4)
    """
    front = pareto_front(trials)
    box = [t.scores for t in trials
           if t.state is TrialState.COMPLETE and t.is_usable() and t.is_feasible and t.scores is not None]
    if not front:
        return FrontSummary(front, 0.0, len(box))
    k = front[0].n_objectives
    points = normalise([t.scores or () for t in front], ideal=[min(p[j] for p in box) for j in range(k)],
                       nadir=[max(p[j] for p in box) for j in range(k)])
    return FrontSummary(front, hypervolume(points, [FRONT_REFERENCE] * k), len(box))


def trial_rows(trials: Sequence[FrozenTrial], directions: Sequence[Direction]) -> list[dict[str, Any]]:
    """One flat dict per trial: number, state, value(s), times, params_*, user_attrs_*.

    With several objectives: `values_0`, `values_1`, ... and `pareto` (on the Pareto front). When
    constraints were recorded: `constraints_0`, ... (<= 0 is satisfied) and `feasible`. When a
    trial has a parent or lineage events (a retry, a fork, a pause): `parent` (its number or None)
    and `lineage` (its events, oldest first, as `FrozenTrial.lineage` holds them).

    >>> trial_rows([FrozenTrial(0, 1, TrialState.COMPLETE, params={"lr": 0.1}, values=(0.5,))],
    ...            [Direction.MINIMIZE])[0]["params_lr"]
    0.1
    """
    param_names: dict[str, None] = {}
    attr_names: dict[str, None] = {}
    for t in trials:
        param_names.update(dict.fromkeys(t.params))
        attr_names.update(dict.fromkeys(t.user_attrs))
    n_constraints = max((len(t.constraints or ()) for t in trials), default=0)
    on_front = {t.number for t in pareto_front(trials)} if len(directions) > 1 else set()
    lineage = any(t.parent is not None or t.lineage for t in trials)
    rows = []
    for t in trials:
        row: dict[str, Any] = {"number": t.number, "state": t.state.value}
        if len(directions) == 1:
            row["value"] = t.values[0] if t.values else None
        else:
            for i in range(len(directions)):
                row[f"values_{i}"] = t.values[i] if t.values else None
            row["pareto"] = t.number in on_front
        if n_constraints:
            constraints = t.constraints
            for i in range(n_constraints):
                row[f"constraints_{i}"] = constraints[i] if constraints and i < len(constraints) else None
            row["feasible"] = t.is_feasible if constraints is not None else None
        row.update(datetime_start=t.datetime_start, datetime_complete=t.datetime_complete,
                   duration=t.duration)
        if lineage:
            row.update(parent=t.parent, lineage=[dict(event) for event in t.lineage])
        row.update({f"params_{n}": t.params.get(n) for n in param_names})
        row.update({f"user_attrs_{n}": t.user_attrs.get(n) for n in attr_names})
        row["fail_reason"] = t.failure_reason
        rows.append(row)
    return rows


class RunningFront:
    """The Pareto front of a growing set of trials, and a hypervolume that never decreases.

    For a progress bar: the normalisation box is fixed once (the best and worst value per
    objective of the feasible completed trials, when they first span a positive range in every
    objective), with reference point FRONT_REFERENCE, so a trial can only add hypervolume.
    Until then `hypervolume` is None. Trials added must belong to one study.

    >>> front = RunningFront()
    >>> for i, v in enumerate([(1.0, 0.0), (0.0, 1.0), (0.5, 0.5), (0.6, 0.6)]):
    ...     front.add(FrozenTrial(i, i, TrialState.COMPLETE, values=v, signs=(1.0, 1.0)))
    >>> front.size, round(front.hypervolume or 0.0, 4), front.fixed_at
    (3, 0.46, 1)
    """

    def __init__(self) -> None:
        self._front: dict[int, tuple[float, ...]] = {}
        self._seen: list[tuple[float, ...]] = []
        self._box: tuple[list[float], list[float]] | None = None
        self.fixed_at: int | None = None  # the trial whose arrival fixed the box

    @property
    def size(self) -> int:
        return len(self._front)

    @property
    def hypervolume(self) -> float | None:
        """Normalised hypervolume of the front in the fixed box; None until the box is fixed."""
        if self._box is None or not self._front:
            return None
        ideal, nadir = self._box
        k = len(ideal)
        points = normalise(list(self._front.values()), ideal=ideal, nadir=nadir)
        return hypervolume(points, [FRONT_REFERENCE] * k)

    def add(self, trial: FrozenTrial) -> None:
        """Count a finished trial: only a complete, usable, feasible one can join the front."""
        scores = trial.scores
        if trial.state is not TrialState.COMPLETE or not trial.is_usable() or not trial.is_feasible \
                or scores is None:
            return
        if self._box is None:
            self._seen.append(scores)
            k = len(scores)
            low = [min(p[j] for p in self._seen) for j in range(k)]
            high = [max(p[j] for p in self._seen) for j in range(k)]
            if all(h > lo for lo, h in zip(low, high, strict=True)):
                self._box, self._seen, self.fixed_at = (low, high), [], trial.number
        if scores not in self._front.values() and any(
                _dominates_or_equals(other, scores) for other in self._front.values()):
            return
        for number in [n for n, other in self._front.items() if dominates(scores, other)]:
            del self._front[number]
        self._front[trial.number] = scores


def _dominates_or_equals(a: Sequence[float], b: Sequence[float]) -> bool:
    return all(x <= y for x, y in zip(a, b, strict=True))
