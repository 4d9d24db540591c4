"""Rungs: the pure functions that successive halving, ASHA and Hyperband share.

A *rung* is a resource level (a step the objective reports: an epoch, samples seen, seconds).
A trial *reaches* rung r at its first reported step >= r, and its value there is the report at
that step. Everything here is recomputed from trial records, so any worker gets the same answer.

With several objectives a report is one number (the first objective); objective i >= 1 comes from
the trial's curve named "objective_i" at the same step (`trial.report(v, step,
name="objective_1")`, reported before the value so both are written together), made
lower-is-better by the study's sign for that objective. The trials at a rung are then ordered by
non-dominated rank, ties broken by larger crowding distance (MO-ASHA, Schmucker et al. 2021).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from shoal import _validate
from shoal.exceptions import ConfigError
from shoal.trial import FrozenTrial, TrialState

__all__ = ["OBJECTIVE_CURVE", "RungEntry", "check_resources", "crossed_rungs", "entries_at",
           "is_promoted", "order_key", "paused_at", "ranked", "rung_levels", "rung_step"]

#: The curve that carries objective i (i >= 1) per step when a study has several objectives.
OBJECTIVE_CURVE = "objective_{}"

#: (trial, its value(s) at the rung, made lower-is-better): one entry of a rung.
RungEntry = tuple[FrozenTrial, tuple[float, ...]]


def check_resources(min_resource: Any, max_resource: Any, reduction_factor: Any,
                    *, owner: str) -> tuple[int, int, int]:
    """The three resource arguments, validated in the one sentence shape."""
    low = _validate.integer(min_resource, what="min_resource", owner=owner, low=1)
    high = _validate.integer(max_resource, what="max_resource", owner=owner, low=low + 1,
                             hint="Pass the resource a full trial reaches (its last step).")
    eta = _validate.integer(reduction_factor, what="reduction_factor", owner=owner, low=2)
    return low, high, eta


def rung_levels(min_resource: int, max_resource: int, reduction_factor: int) -> tuple[int, ...]:
    """The rungs below `max_resource`: min_resource * eta**k.

    >>> rung_levels(1, 27, 3)
    (1, 3, 9)
    >>> rung_levels(2, 100, 3)
    (2, 6, 18, 54)
    """
    out, level = [], min_resource
    while level < max_resource:
        out.append(level)
        level *= reduction_factor
    return tuple(out)


def rung_step(trial: FrozenTrial, rung: int) -> int | None:
    """The trial's first reported step >= `rung` (where it reached the rung), or None."""
    if rung in trial.intermediate:  # the usual case, without a scan
        return rung
    return min((s for s in trial.intermediate if s >= rung), default=None)


def crossed_rungs(trial: FrozenTrial, rungs: Sequence[int]) -> list[int]:
    """The rungs the trial's latest report reached for the first time (usually none or one)."""
    steps = sorted(trial.intermediate)
    if not steps:
        return []
    last = steps[-1]
    before = steps[-2] if len(steps) > 1 else -1
    return [r for r in rungs if before < r <= last]


def _objective_values(trial: FrozenTrial, step: int) -> tuple[float, ...]:
    """The lower-is-better values of every objective at `step` (see the module docstring)."""
    first = trial.signs[0] * trial.intermediate[step]
    if len(trial.signs) == 1:  # the common case, kept short: it runs for every trial at a rung
        return (first if not math.isnan(first) else math.inf,)
    values = [first]
    curves: Mapping[str, Mapping[int, float]] = trial.curves
    for i in range(1, trial.n_objectives):
        name = OBJECTIVE_CURVE.format(i)
        point = curves.get(name, {}).get(step)
        if point is None:
            raise ConfigError(
                f"curve {name!r} of trial {trial.number} must be reported at step {step} when a "
                f"scheduler ranks {trial.n_objectives} objectives. Got none. Report objective {i} "
                f"before the value at each step: trial.report(v, {step}, name={name!r}).")
        values.append(trial.signs[i] * point)
    return tuple(v if not math.isnan(v) else math.inf for v in values)  # NaN ranks last


def entries_at(rung: int, trials: Sequence[FrozenTrial]) -> list[RungEntry]:
    """Every trial that reached `rung` (any state) with its value(s) there."""
    out: list[RungEntry] = []
    for trial in trials:
        reports = trial.intermediate
        if rung in reports and len(trial.signs) == 1:  # the usual case, inline: it runs n times a call
            value = trial.signs[0] * reports[rung]
            out.append((trial, (value if value == value else math.inf,)))  # NaN ranks last
            continue
        step = rung_step(trial, rung)
        if step is not None:
            out.append((trial, _objective_values(trial, step)))
    return out


def order_key(entries: Sequence[RungEntry]) -> dict[int, tuple[float, ...]]:
    """A sort key per trial number: smaller is better.

    One objective: the value. Several: (non-dominated rank, -crowding distance within its front).
    Ties go either way by trial number in `ranked`; `better_than` counts strictly better keys only.
    """
    if not entries:
        return {}
    if len(entries[0][1]) == 1:
        return {t.number: (v[0],) for t, v in entries}
    import numpy as np

    from shoal.trial import crowding_distance, non_dominated_ranks

    points = np.array([v for _, v in entries], dtype=float)
    points = np.where(np.isfinite(points), points, np.finfo(float).max)  # inf: worst, comparable
    ranks = non_dominated_ranks(points)
    crowding = np.zeros(len(entries))
    for front in np.unique(ranks):
        members = np.flatnonzero(ranks == front)
        crowding[members] = crowding_distance(points[members])
    return {t.number: (float(ranks[i]), -float(crowding[i])) for i, (t, _) in enumerate(entries)}


def ranked(entries: Sequence[RungEntry]) -> list[FrozenTrial]:
    """The trials of a rung, best first (ties by trial number)."""
    if entries and len(entries[0][1]) == 1:  # one objective: the values are the keys
        return [t for _, _, t in sorted(((v[0], t.number, t) for t, v in entries), key=_first_two)]
    keys = order_key(entries)
    return sorted((t for t, _ in entries), key=lambda t: (keys[t.number], t.number))


def _first_two(item: tuple[float, int, FrozenTrial]) -> tuple[float, int]:
    return item[0], item[1]


def paused_at(trial: FrozenTrial, rung: int) -> bool:
    """True when the trial is PAUSED at this rung (its last report is where it reached it)."""
    return (trial.state is TrialState.PAUSED and trial.last_step is not None
            and trial.last_step == rung_step(trial, rung))


def is_promoted(trial: FrozenTrial, rung: int) -> bool:
    """True when the trial went on past `rung`: it reported later, or was resumed there."""
    step = rung_step(trial, rung)
    if step is None:
        return False
    if trial.last_step is not None and trial.last_step > step:
        return True
    return any(e.get("event") == "resumed" and e.get("step") is not None and e["step"] >= step
               for e in trial.lineage)
