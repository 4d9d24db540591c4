"""Pure functions over trial records, shared by the study, the CLI, progress bars and reports."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

from shoal.trial._records import FrozenTrial, TrialState

__all__ = ["STATE_ORDER", "best_trial", "count_states", "describe_counts"]

STATE_ORDER = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED, TrialState.RUNNING,
               TrialState.PAUSED, TrialState.WAITING)


def best_trial(trials: Iterable[FrozenTrial]) -> FrozenTrial | None:
    """The completed trial with the lowest score (ties: the earliest); None if none completed.

    Scores are sign-normalised, so this needs no direction. Feasible first: when constraints
    were recorded, only a trial that satisfies them all can be best (None if none does). Single
    objective only: a trial of a multi-objective study has no single score to rank by.

    >>> from shoal.trial import FrozenTrial, TrialState
    >>> a = FrozenTrial(number=0, trial_id=1, state=TrialState.COMPLETE, values=(0.5,), signs=(-1.0,))
    >>> b = FrozenTrial(number=1, trial_id=2, state=TrialState.COMPLETE, values=(0.9,), signs=(-1.0,))
    >>> best_trial([a, b]).number
    1
    """
    done = [t for t in trials if t.state is TrialState.COMPLETE and t.is_usable() and t.is_feasible]
    if not done:
        return None
    return min(done, key=lambda t: (t.score, t.number))


def count_states(trials: Iterable[FrozenTrial]) -> dict[TrialState, int]:
    """How many trials are in each state, in `STATE_ORDER`, leaving out empty states."""
    counts = dict.fromkeys(STATE_ORDER, 0)
    for t in trials:
        counts[t.state] += 1
    return {state: n for state, n in counts.items() if n}


def describe_counts(counts: Mapping[TrialState, int] | Mapping[str, int] | Sequence[FrozenTrial]) -> str:
    """`12 complete, 3 pruned, 1 failed`, from counts (by state or state name) or from the trials."""
    pairs = counts.items() if isinstance(counts, Mapping) else count_states(counts).items()
    return ", ".join(f"{n} {TrialState(state).value.lower()}" for state, n in pairs) or "no trials"
