"""The single-fidelity view of a multi-fidelity history, as pure functions (BOHB's data rule).

A trial trained to step s has an observation at every reported step up to s; a completed trial
also has its final value, at the level `FINAL` above every step. `choose_level` picks the
highest level that at least `min_points` trials reached (Falkner et al. 2018: the largest
budget with enough observations); `level_view` rewrites each trial as if it had finished
there, so any single-fidelity sampler can model it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

from shoal.trial import FrozenTrial, TrialState

__all__ = ["FINAL", "Unreached", "choose_level", "imputed", "level_score", "level_view",
           "reached", "shift"]

#: The level of a completed trial's final value: above every reported step.
FINAL = math.inf
#: What the view makes of a trial that stopped (pruned, paused) below the level: "impute" gives
#: the most recent ones a value there (`imputed`) and hides the rest, "drop" hides it from the
#: model (BOHB), "bad" counts it with the failures (ranked below every trial there).
Unreached = Literal["impute", "drop", "bad"]
_NONE = -math.inf  # "reached" of a trial with no observation at all


def reached(trial: FrozenTrial) -> float:
    """The highest level `trial` has an observation at: FINAL when complete with one value, else
    its last reported step (-inf when it reported nothing).

    >>> reached(FrozenTrial(0, 0, TrialState.PRUNED, intermediate={1: 0.5, 3: 0.4}))
    3
    >>> reached(FrozenTrial(0, 0, TrialState.COMPLETE, values=(0.2,)))
    inf
    """
    if trial.state is TrialState.COMPLETE and trial.values is not None and len(trial.values) == 1:
        return FINAL
    if trial.state is TrialState.FAILED or not trial.intermediate:
        return _NONE
    return max(trial.intermediate)


def choose_level(reached_levels: Sequence[float], min_points: int) -> float | None:
    """The highest level at least `min_points` of the trials reached; while fewer trials than
    that have any observation, the lowest level any reached (the one with the most data).

    None when no trial has an observation.

    >>> choose_level([FINAL, FINAL, 27, 27, 9, 9, 9, 3, 1, 1], 4)
    27
    >>> choose_level([FINAL, 9, 3], 4), choose_level([], 4)
    (3, None)
    """
    levels = sorted((r for r in reached_levels if r != _NONE), reverse=True)
    if not levels:
        return None
    return levels[min(min_points, len(levels)) - 1]


def level_score(trial: FrozenTrial, level: float) -> float | None:
    """The trial's raw value at `level` (as reported, not sign-normalised), or None without one.

    At FINAL: its final value. At a step: its report there, else its latest report before it (for
    trials that report every few steps), provided the trial got as far as `level`; a completed
    trial without a report before `level` counts with its final value.

    >>> t = FrozenTrial(0, 0, TrialState.COMPLETE, values=(0.1,), intermediate={1: 0.9, 4: 0.3})
    >>> level_score(t, 4), level_score(t, 3), level_score(t, FINAL), level_score(t, 0)
    (0.3, 0.9, 0.1, 0.1)
    """
    if level > reached(trial):
        return None
    if level == FINAL:
        assert trial.values is not None  # reached() is FINAL only with values
        return float(trial.values[0])
    value = trial.intermediate.get(int(level))
    if value is not None:
        return float(value)
    before = [s for s in trial.intermediate if s <= level]
    if before:
        return float(trial.intermediate[max(before)])
    return float(trial.values[0]) if trial.values is not None else None


def level_view(trial: FrozenTrial, level: float, unreached: Unreached) -> FrozenTrial:
    """`trial` as a single-fidelity sampler should see it when modelling `level`.

    A trial with an observation there becomes COMPLETE with that value (a running one too: its
    report is real); a completed trial at FINAL is returned as it is. A trial without one (it
    stopped below the level, pruned or paused, or first reported after it) becomes WAITING
    without values when `unreached` is "drop" (samplers ignore WAITING trials, but they still
    count for the position in a Sobol sequence), FAILED when "bad". Running trials below the
    level, failed ones, and trials that never reported stay as they are: the sampler's own rules
    (constant liar, worst score) apply.

    >>> t = FrozenTrial(3, 3, TrialState.PRUNED, intermediate={1: 0.5, 3: 0.4})
    >>> v = level_view(t, 3, "drop"); (v.state.value, v.values)
    ('COMPLETE', (0.4,))
    >>> level_view(t, 9, "drop").state.value, level_view(t, 9, "bad").state.value
    ('WAITING', 'FAILED')
    """
    if trial.state not in _OBSERVED or (level == FINAL and trial.state is TrialState.COMPLETE):
        return trial
    top = reached(trial)
    if top == _NONE:
        return trial
    value = level_score(trial, level) if level <= top else None
    if value is not None:
        return _with(trial, TrialState.COMPLETE, (value,))
    if trial.state is TrialState.RUNNING:
        return trial
    if unreached == "bad":
        return _with(trial, TrialState.FAILED, None)
    return _with(trial, TrialState.WAITING, None)


def shift(trials: Sequence[FrozenTrial], low: float, level: float) -> float | None:
    """The median change of the raw value from `low` to `level` over the trials that have both.

    >>> done = [FrozenTrial(i, i, TrialState.COMPLETE, values=(v3,), intermediate={1: v1, 3: v3})
    ...         for i, (v1, v3) in enumerate([(0.9, 0.5), (0.8, 0.6), (0.7, 0.2)])]
    >>> round(shift(done, 1, 3), 6), shift([], 1, 3)
    (-0.4, None)
    """
    deltas = sorted(b - a for t in trials
                    if (a := level_score(t, low)) is not None
                    and (b := level_score(t, level)) is not None)
    if not deltas:
        return None
    mid = len(deltas) // 2
    return deltas[mid] if len(deltas) % 2 else 0.5 * (deltas[mid - 1] + deltas[mid])


def imputed(trial: FrozenTrial, level: float, change: float) -> FrozenTrial:
    """`trial`, stopped below `level`, as COMPLETE with its last report moved by `change`
    (`shift` from its last step to `level`): a trial a scheduler stopped early keeps the rank it
    had there among the trials that went on, so a model learns where proposals fail.

    >>> t = FrozenTrial(0, 0, TrialState.PRUNED, intermediate={1: 1.0})
    >>> imputed(t, 3, -0.25).values
    (0.75,)
    """
    last = level_score(trial, reached(trial))
    assert last is not None  # only trials that reported are imputed
    return _with(trial, TrialState.COMPLETE, (last + change,))


def _with(trial: FrozenTrial, state: TrialState, values: tuple[float, ...] | None) -> FrozenTrial:
    """`dataclasses.replace(trial, state=state, values=values)`, without its per-field checks.

    A view is made for up to every trial of a study per suggestion; replace() cost about 15 us
    a trial, a third of a 1,000-trial suggestion's budget. FrozenTrial has no __post_init__.
    """
    view = object.__new__(FrozenTrial)
    view.__dict__.update(trial.__dict__)
    object.__setattr__(view, "state", state)
    object.__setattr__(view, "values", values)
    return view


_OBSERVED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.PAUSED, TrialState.RUNNING)
