"""Slice plot: the objective against each parameter on its own, one panel per parameter."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shoal.visualization._data import StudyLike, objective_label, snapshot, text
from shoal.visualization._figure import column, completed, empty_figure, objective_index, pick_params
from shoal.visualization._thin import annotate, objective_key, scatter, thin

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["plot_slice"]

_OWNER = "plot_slice"
_TITLE = "Slice"
_COLS = 3
# Light to dark blue by trial number; plotly's "Blues" starts at white, which hides the first trials.
_TRIAL_SCALE = [[0.0, "#9ecae1"], [1.0, "#08306b"]]


def plot_slice(study: StudyLike, *, params: Sequence[str] | None = None,
               objective: int | None = None, max_trials: int | None = None) -> go.Figure:
    """The objective against each parameter: subplots, one scatter per parameter.

    Each trace (`go.Scatter`, SVG, while the panels hold 5,000 markers at most; else
    `go.Scattergl`, WebGL) is named by its parameter and holds the completed trials in which it was active,
    coloured by trial number (one shared colour bar, light to dark blue: later trials darker),
    with the number in `customdata`. Panels are laid out three a row and share the objective
    axis; a log-scale parameter's panel has a log x axis, a Categorical's shows its choices as
    categories.

    Args:
        study: A `shoal.Study` or a `StudySnapshot`.
        params: The parameters to draw, in order (default: every parameter, first seen first).
        objective: Which objective; required with several objectives.
        max_trials: Draw at most this many trials (see `shoal.visualization._thin`: the best
            half, the running, an even sample of the rest; an annotation says so); None: all.

    Returns:
        The figure; an empty one with an annotation before a trial completed.

    Raises:
        ConfigError: A bad `objective`, or `params` names a parameter no trial has.
    """
    import numpy as np
    from plotly.subplots import make_subplots

    snap = snapshot(study)
    index = objective_index(snap, objective, owner=_OWNER)
    done = completed(snap, index)
    names = pick_params(done, params, owner=_OWNER)
    if not done or not names:
        return empty_figure(_TITLE)
    first, last = min(t.number for t in done), max(t.number for t in done)  # the colour scale's span
    drawn = thin(done, max_trials, key=objective_key(snap, index), owner=_OWNER)
    done = drawn.trials
    values = np.array([t.values[index] for t in done if t.values is not None], dtype=float)
    numbers = np.array([t.number for t in done])
    cols = min(_COLS, len(names))
    rows = math.ceil(len(names) / cols)
    fig = make_subplots(rows=rows, cols=cols, shared_yaxes=True, horizontal_spacing=0.04,
                        vertical_spacing=0.12 if rows > 1 else 0.0, subplot_titles=[text(n) for n in names])
    label = objective_label(snap, index)
    kind = scatter(len(done) * len(names))
    for i, name in enumerate(names):
        col = column(done, name)
        present = ~np.isnan(col.values)
        x: Any = col.values[present]
        if col.categorical:
            x = [col.ticktext[int(k)] for k in x]
        marker: dict[str, Any] = {"color": numbers[present], "colorscale": _TRIAL_SCALE, "size": 5,
                                  "cmin": first, "cmax": last,
                                  "showscale": i == 0}
        if i == 0:
            marker["colorbar"] = {"title": {"text": "trial"}}
        row, place = divmod(i, cols)
        fig.add_trace(kind(x=x, y=values[present], mode="markers", name=col.label, marker=marker,
                                   customdata=numbers[present], showlegend=False,
                                   hovertemplate="trial %{customdata}<br>" + col.label
                                                 + " %{x}<br>%{y}<extra></extra>"),
                      row=row + 1, col=place + 1)
        axis: dict[str, Any] = {"type": "log"} if col.log else {"type": "category"} if col.categorical else {}
        if col.categorical:
            axis["categoryarray"] = col.ticktext
            axis["categoryorder"] = "array"
        if axis:
            fig.update_xaxes(axis, row=row + 1, col=place + 1)
    for r in range(1, rows + 1):
        fig.update_yaxes(title_text=label, row=r, col=1)
    fig.update_layout(title=_TITLE, template="plotly_white", height=220 + 260 * rows)
    return annotate(fig, drawn)
