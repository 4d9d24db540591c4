"""Optimisation history: every finished trial's value and the best so far."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from shoal.trial import TrialState
from shoal.visualization._data import StudyLike, objective_label, snapshot
from shoal.visualization._figure import empty_figure, objective_index

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["plot_optimization_history"]


def plot_optimization_history(study: StudyLike, *, objective: int | None = None,
                              params: Sequence[str] | None = None) -> go.Figure:
    """Each completed trial's value by trial number, and the best value so far as a line.

    Args:
        study: A `shoal.Study` or a `StudySnapshot`.
        objective: Which objective to draw (0, 1, ...); required when the study has several.
        params: Accepted so every figure of the registry takes the same keywords; unused.

    Returns:
        A Plotly figure with two traces: "trials" (markers) and "best so far" (a step line);
        before a trial completed, an empty one with an annotation.

    Raises:
        ConfigError: `objective` is missing for several objectives, or out of range.
    """
    import plotly.graph_objects as go

    snap = snapshot(study)
    index = objective_index(snap, objective, owner="plot_optimization_history")
    done = [t for t in snap.trials if t.state is TrialState.COMPLETE and t.values is not None]
    if not done:
        return empty_figure("Optimisation history")
    numbers = np.array([t.number for t in done], dtype=float)
    values = np.array([t.values[index] for t in done if t.values is not None], dtype=float)
    sign = snap.directions[index].sign
    best = sign * np.minimum.accumulate(sign * values) if len(values) else values
    label = objective_label(snap, index)
    fig = go.Figure([
        go.Scatter(x=numbers, y=values, mode="markers", name="trials",
                   hovertemplate="trial %{x}<br>" + label + " %{y}<extra></extra>"),
        go.Scatter(x=numbers, y=best, mode="lines", line={"shape": "hv"}, name="best so far"),
    ])
    fig.update_layout(title="Optimisation history", xaxis_title="trial", yaxis_title=label,
                      template="plotly_white")
    return fig
