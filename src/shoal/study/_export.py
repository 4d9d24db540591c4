"""Trials as flat rows, for data frames and CSV/JSON export."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from shoal.trial import Direction, FrozenTrial

__all__ = ["trial_rows"]


def trial_rows(trials: Sequence[FrozenTrial], directions: Sequence[Direction]) -> list[dict[str, Any]]:
    """One flat dict per trial: number, state, value(s), times, params_*, user_attrs_*.

    >>> from shoal.trial import TrialState
    >>> trial_rows([FrozenTrial(0, 1, TrialState.COMPLETE, params={"lr": 0.1}, values=(0.5,))],
    ...            [Direction.MINIMIZE])[0]["params_lr"]
    0.1
    """
    param_names: dict[str, None] = {}
    attr_names: dict[str, None] = {}
    for t in trials:
        param_names.update(dict.fromkeys(t.params))
        attr_names.update(dict.fromkeys(t.user_attrs))
    rows = []
    for t in trials:
        row: dict[str, Any] = {"number": t.number, "state": t.state.value}
        if len(directions) == 1:
            row["value"] = t.values[0] if t.values else None
        else:
            for i in range(len(directions)):
                row[f"values_{i}"] = t.values[i] if t.values else None
        row.update(datetime_start=t.datetime_start, datetime_complete=t.datetime_complete,
                   duration=t.duration)
        row.update({f"params_{n}": t.params.get(n) for n in param_names})
        row.update({f"user_attrs_{n}": t.user_attrs.get(n) for n in attr_names})
        row["fail_reason"] = t.failure_reason
        rows.append(row)
    return rows
