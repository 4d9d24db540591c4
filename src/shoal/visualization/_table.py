"""Trials and studies as JSON-safe records: what the dashboard's API, its CSV and the report share."""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from typing import Any

from shoal.trial import STATE_ORDER, FrozenTrial, TrialState, best_trial
from shoal.visualization._data import StudySnapshot

__all__ = ["json_safe", "study_summary", "trial_record", "trials_csv"]


def json_safe(value: Any) -> Any:
    """`value` with every non-finite float turned into None (JSON has no NaN or infinity),
    tuples into lists and unknown objects into their `str`, so `json.dumps` never fails."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, Mapping):
        return {str(k): json_safe(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(v) for v in value]
    return str(value)


def trial_record(trial: FrozenTrial, *, curves: bool = True) -> dict[str, Any]:
    """One trial as a JSON-safe dict: number, state, params, values, times, lineage, checkpoints,
    attributes and (with `curves`) the reported curve and the named curves, steps as strings."""
    record: dict[str, Any] = {
        "number": trial.number,
        "state": trial.state.value,
        "params": json_safe(dict(trial.params)),
        "values": json_safe(list(trial.values)) if trial.values is not None else None,
        "datetime_start": trial.datetime_start,
        "datetime_complete": trial.datetime_complete,
        "duration": trial.duration,
        "worker": trial.worker,
        "parent": trial.parent,
        "last_step": trial.last_step,
        "lineage": json_safe(list(trial.lineage)),
        "user_attrs": json_safe(dict(trial.user_attrs)),
        "checkpoints": json_safe(trial.system_attrs.get("checkpoints")),
        "fail_reason": json_safe(trial.failure_reason),
        "traceback": json_safe(trial.system_attrs.get("traceback")),
    }
    if curves:
        record["intermediate"] = {str(s): json_safe(v) for s, v in sorted(trial.intermediate.items())}
        record["curves"] = {name: {str(s): json_safe(v) for s, v in sorted(points.items())}
                            for name, points in trial.curves.items()}
    return record


def study_summary(study: StudySnapshot) -> dict[str, Any]:
    """Name, directions, trials by state, best value(s) and last activity (storage clock)."""
    counts = {state.value: 0 for state in STATE_ORDER}
    last = None
    for t in study.trials:
        counts[t.state.value] += 1
        for moment in (t.datetime_complete, t.last_heartbeat, t.datetime_start):
            if moment is not None and (last is None or moment > last):
                last = moment
    best: list[float] | None = None
    if len(study.directions) == 1:
        done = [t for t in study.trials if t.state is TrialState.COMPLETE and t.is_usable()]
        winner = best_trial(done) if done else None
        if winner is not None and winner.values is not None:
            best = list(winner.values)
    return {"name": study.name, "directions": [d.value for d in study.directions],
            "n_trials": len(study.trials), "states": counts, "best": json_safe(best),
            "last_activity": last}


def _cell(value: Any) -> Any:
    """A text cell a spreadsheet would run as a formula (`=`, `+`, `-`, `@`, tab, carriage return
    first) gets a leading apostrophe, as OWASP advises for CSV files; numbers stay numbers."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def trials_csv(trials: Sequence[FrozenTrial]) -> str:
    """The trials as CSV: number, state, value(s), duration and one column per parameter.

    Text that a spreadsheet would run as a formula (a categorical choice such as "=cmd()") is
    written with a leading apostrophe; numbers are written as they are."""
    names = list(dict.fromkeys(name for t in trials for name in t.params))
    k = max((t.n_objectives for t in trials), default=1)
    value_cols = ["value"] if k == 1 else [f"value_{i}" for i in range(k)]
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["number", "state", *value_cols, "duration_s", *(f"params_{n}" for n in names)])
    for t in trials:
        values = list(t.values) if t.values is not None else [None] * k
        writer.writerow([t.number, t.state.value, *values, t.duration,
                         *(_cell(t.params.get(n, "")) for n in names)])
    return out.getvalue()
