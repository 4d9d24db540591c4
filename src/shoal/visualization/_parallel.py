"""Parallel coordinates: each completed trial as a line through its parameters to its value."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shoal.visualization._data import StudyLike, objective_label, snapshot
from shoal.visualization._figure import Column, column, completed, empty_figure, objective_index, pick_params
from shoal.visualization._parallel_svg import svg_parallel
from shoal.visualization._thin import annotate, objective_key, thin

if TYPE_CHECKING:
    import numpy as np
    import plotly.graph_objects as go

__all__ = ["log_ticks", "plot_parallel_coordinate"]

_OWNER = "plot_parallel_coordinate"
_TITLE = "Parallel coordinates"


def plot_parallel_coordinate(study: StudyLike, *, params: Sequence[str] | None = None,
                             objective: int | None = None, max_trials: int | None = None,
                             svg: bool = False) -> go.Figure:
    """One `go.Parcoords` trace (or SVG lines, `svg`): an axis per parameter and a last one for the
    objective.

    A log-scale parameter's axis is log10 of its values over their range, ticked at the powers
    of ten inside it (and its ends) in its own units; a Categorical's axis is its choice index,
    ticked with the choices. Lines are coloured by the objective (Viridis, the better the
    brighter). Completed trials lacking one of the drawn parameters (conditional spaces) are
    left out, and the title says how many. Thinned (`max_trials`), the colour scale still spans
    every completed trial's value.

    Args:
        study: A `shoal.Study` or a `StudySnapshot`.
        params: The parameters to draw, in order (default: every parameter, first seen first).
        objective: Which objective colours the lines; required with several objectives.
        max_trials: Draw at most this many trials (see `shoal.visualization._thin`: the best
            half, the running, an even sample of the rest; an annotation says so); None: all.
        svg: Draw `Scatter` lines in colour bands instead of a `Parcoords` trace: no axis
            brushing, but no WebGL context, which a browser without a GPU takes about a second to
            create. The dashboard and the report draw it so.

    Returns:
        The figure; an empty one with an annotation before two trials completed.

    Raises:
        ConfigError: A bad `objective`, or `params` names a parameter no trial has.
    """
    import numpy as np
    import plotly.graph_objects as go

    snap = snapshot(study)
    index = objective_index(snap, objective, owner=_OWNER)
    done = completed(snap, index)
    names = pick_params(done, params, owner=_OWNER)
    if len(done) < 2 or not names:
        return empty_figure(_TITLE)
    every = np.array([t.values[index] for t in done if t.values is not None], dtype=float)
    left_out = int(np.sum(np.any([np.isnan(column(done, name).values) for name in names], axis=0)))
    drawn = thin(done, max_trials, key=objective_key(snap, index), owner=_OWNER)
    columns = [column(drawn.trials, name) for name in names]
    present = np.all([~np.isnan(c.values) for c in columns], axis=0)
    values = np.array([t.values[index] for t in drawn.trials if t.values is not None], dtype=float)[present]
    label = objective_label(snap, index)
    dimensions = [_dimension(c, present) for c in columns]
    dimensions.append({"label": label, "values": values})
    minimise = snap.directions[index].sign > 0
    title = _TITLE + (f" ({left_out} trials without every parameter left out)" if left_out else "")
    if svg:
        numbers = [t.number for t, keep in zip(drawn.trials, present, strict=True) if keep]
        fig = svg_parallel(dimensions, numbers, color=values, cmin=float(np.min(every)),
                           cmax=float(np.max(every)), label=label, minimise=minimise)
        fig.update_layout(title=title, margin={"t": 120})
        return annotate(fig, drawn, below=True)
    trace = go.Parcoords(dimensions=dimensions, line={
        "color": values, "colorscale": "Viridis", "reversescale": minimise, "showscale": True,
        "cmin": float(np.min(every)), "cmax": float(np.max(every)),
        "colorbar": {"title": {"text": label}}})
    fig = go.Figure([trace])
    fig.update_layout(title=title, template="plotly_white", margin={"t": 120})  # axis labels sit above
    return annotate(fig, drawn, below=True)


def _dimension(col: Column, present: np.ndarray) -> dict[str, Any]:
    """A Parcoords dimension: log10 values with ticks in units, or choice indices named."""
    import numpy as np

    values = col.values[present]
    if col.categorical:
        return {"label": col.label, "values": values, "tickvals": list(range(len(col.choices))),
                "ticktext": col.ticktext, "range": [0, max(len(col.choices) - 1, 1)]}
    if col.log and len(values) and float(values.min()) > 0:
        low, high = float(values.min()), float(values.max())
        ticks = log_ticks(low, high)
        return {"label": f"{col.label} (log)", "values": np.log10(values), "range": [math.log10(low),
                math.log10(high)], "tickvals": [math.log10(t) for t in ticks],
                "ticktext": [f"{t:.3g}" for t in ticks]}
    return {"label": col.label, "values": values}


def log_ticks(low: float, high: float) -> list[float]:
    """Ticks of a log axis over [low, high] (both > 0): the powers of ten inside it, with the ends
    added while fewer than two (a parcoords axis would stretch to a tick outside its range).

    >>> log_ticks(0.003, 0.2)
    [0.003, 0.01, 0.1, 0.2]
    >>> log_ticks(0.001, 0.1)
    [0.001, 0.01, 0.1]
    >>> log_ticks(16, 64)
    [16, 64]
    """
    first, last = math.ceil(math.log10(low) - 1e-12), math.floor(math.log10(high) + 1e-12)
    inside = [10.0 ** e for e in range(first, last + 1)]
    if len(inside) >= 2:
        return [low] * (inside[0] / low > 1.5) + inside + [high] * (high / inside[-1] > 1.5)
    return sorted({low, *inside, high})
