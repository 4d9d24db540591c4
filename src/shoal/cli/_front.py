"""Several objectives on the command line: the Pareto front as a table, JSON, and one summary line."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.table import Table

from shoal.cli._output import format_params, format_value, make_table
from shoal.study._constraints import NAMES_ATTR
from shoal.study._export import FrontSummary
from shoal.trial import Direction, FrozenTrial

__all__ = ["constraint_names", "front_json", "front_order", "front_table", "objective_names"]


def objective_names(directions: Sequence[Direction]) -> list[str]:
    """`value 0 (maximize)`, `value 1 (minimize)`: a column header per objective."""
    return [f"value {i} ({d.value})" for i, d in enumerate(directions)]


def constraint_names(system_attrs: Mapping[str, Any], trials: Sequence[FrozenTrial]) -> list[str]:
    """The names `shoal tune` stored for the study's constraints (`latency_ms <= 20`), else c0, c1..."""
    n = max((len(t.constraints or ()) for t in trials), default=0)
    stored = system_attrs.get(NAMES_ATTR)
    if isinstance(stored, list) and len(stored) == n:
        return [str(name) for name in stored]
    return [f"c{i}" for i in range(n)]


def front_order(front: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """Front members by the first objective, best first (then by number)."""
    return sorted(front, key=lambda t: ((t.scores or (0.0,))[0], t.number))


def front_table(summary: FrontSummary, directions: Sequence[Direction], constraints: Sequence[str], *,
                title: str, limit: int | None = None) -> Table:
    """The front, one row per trial: number, each objective, each constraint value, parameters."""
    rows = []
    chosen = front_order(summary.front)
    for t in chosen[:limit] if limit is not None else chosen:
        values = [format_value(v) for v in t.values or ()]
        recorded = list(t.constraints or ())
        cells = [format_value(recorded[i]) if i < len(recorded) else "-" for i in range(len(constraints))]
        rows.append([str(t.number), *values, *cells, format_params(t.params)])
    shown = "" if limit is None or limit >= len(chosen) else f" (the first {limit} by value 0)"
    caption = "constraint values: <= 0 is satisfied (every front member satisfies all)" \
        if constraints else None
    return make_table(["#", *objective_names(directions), *constraints, "params"], rows,
                      title=f"{title}{shown}", caption=caption)


def front_json(summary: FrontSummary, directions: Sequence[Direction],
               constraints: Sequence[str]) -> list[dict[str, Any]]:
    """The front as a list of objects, in the table's order."""
    return [{"number": t.number, "values": list(t.values or ()),
             "directions": [d.value for d in directions],
             "constraints": dict(zip(constraints, t.constraints, strict=False)) if t.constraints else None,
             "feasible": t.is_feasible, "params": dict(t.params), "user_attrs": dict(t.user_attrs)}
            for t in front_order(summary.front)]
