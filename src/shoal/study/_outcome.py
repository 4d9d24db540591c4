"""How a told value becomes a trial's outcome: its state, values, failure reason and constraints."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from shoal.exceptions import ConfigError
from shoal.trial import FrozenTrial, TrialState

__all__ = ["ConstraintsFunc", "constraints_of", "outcome"]

#: `f(frozen_trial) -> [c1, c2, ...]`: the trial is feasible when every value is <= 0.
ConstraintsFunc = Callable[[FrozenTrial], Sequence[float]]


def constraints_of(func: ConstraintsFunc, trial: FrozenTrial) -> tuple[list[float] | None, str | None]:
    """The constraint values of a completed trial, or None and why the trial must fail instead."""
    try:
        raw = func(trial)
        got = [float(c) for c in (raw if isinstance(raw, (list, tuple)) else list(raw))]
    except Exception as err:  # a broken constraint marks this trial, as a broken objective would
        return None, f"constraints_func raised {type(err).__name__}: {err}"
    if not all(math.isfinite(c) for c in got):
        return None, f"constraints_func returned {got!r}; every value must be a finite number"
    return got, None


def outcome(value: Any, state: TrialState | None, reason: str | None,
             n_objectives: int) -> tuple[tuple[float, ...] | None, TrialState, str | None]:
    if state in (TrialState.PRUNED, TrialState.FAILED, TrialState.PAUSED):
        return None, state, reason if state is TrialState.FAILED else None
    if state not in (None, TrialState.COMPLETE):
        raise ConfigError(f"state of tell must be COMPLETE, PRUNED, FAILED or PAUSED. Got {state!r}.")
    raw = list(value) if isinstance(value, (list, tuple)) else [value]
    if len(raw) != n_objectives:
        return None, TrialState.FAILED, f"objective returned {len(raw)} values; the study has {n_objectives}"
    values = []
    for v in raw:
        if isinstance(v, bool) or v is None:
            return None, TrialState.FAILED, f"objective returned {v!r}, not a number"
        try:
            f = float(v)
        except (TypeError, ValueError):
            return None, TrialState.FAILED, f"objective returned {v!r} ({type(v).__name__}), not a number"
        if not math.isfinite(f):
            return None, TrialState.FAILED, f"objective returned {f!r}"
        values.append(f)
    return tuple(values), TrialState.COMPLETE, None

