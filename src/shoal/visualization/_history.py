"""Optimisation history: every finished trial's value and the best so far."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from shoal.trial import TrialState
from shoal.visualization._data import StudyLike, objective_label, snapshot
from shoal.visualization._figure import empty_figure, objective_index
from shoal.visualization._thin import annotate, objective_key, thin

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["plot_optimization_history"]


def plot_optimization_history(study: StudyLike, *, objective: int | None = None,
                              params: Sequence[str] | None = None,
                              max_trials: int | None = None) -> go.Figure:
    """Each completed trial's value by trial number, and the best value so far as a line.

    Args:
        study: A `shoal.Study` or a `StudySnapshot`.
        objective: Which objective to draw (0, 1, ...); required when the study has several.
        params: Accepted so every figure of the registry takes the same keywords; unused.
        max_trials: Draw at most this many trials' markers (see `shoal.visualization._thin`:
            the best half, an even sample of the rest); None draws all. The best-so-far line
            always follows every completed trial.

    Returns:
        A Plotly figure with two traces: "trials" (markers at their trial numbers) and
        "best so far" (a step line through the trials that improved it, and the last one);
        before a trial completed, an empty one with an annotation. A thinned figure says so in
        an annotation.

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
    best = sign * np.fmin.accumulate(sign * values)
    # The step line changes only where a trial improved on the best: those points (and the last,
    # so the line reaches the end) draw the same line as every trial's.
    steps = np.ones(len(best), dtype=bool)
    steps[1:] = (best[1:] != best[:-1]) & ~(np.isnan(best[1:]) & np.isnan(best[:-1]))
    steps[-1] = True
    drawn = thin(done, max_trials, key=objective_key(snap, index), owner="plot_optimization_history")
    shown = np.array([t.number for t in drawn.trials], dtype=float)
    label = objective_label(snap, index)
    fig = go.Figure([
        go.Scatter(x=shown, y=np.array([t.values[index] for t in drawn.trials if t.values is not None],
                                       dtype=float), mode="markers", name="trials",
                   hovertemplate="trial %{x}<br>" + label + " %{y}<extra></extra>"),
        go.Scatter(x=numbers[steps], y=best[steps], mode="lines", line={"shape": "hv"}, name="best so far"),
    ])
    fig.update_layout(title="Optimisation history", xaxis_title="trial", yaxis_title=label,
                      template="plotly_white")
    return annotate(fig, drawn)
