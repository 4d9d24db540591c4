"""Contour of the objective over two parameters: a binned mean on their encoded axes, with the trials."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shoal.trial import FrozenTrial
from shoal.visualization._data import StudyLike, objective_label, snapshot
from shoal.visualization._figure import Column, column, completed, empty_figure, objective_index, pick_params
from shoal.visualization._importance import cached_importances
from shoal.visualization._thin import annotate, objective_key, scatter, thin

if TYPE_CHECKING:
    import numpy as np
    import plotly.graph_objects as go

__all__ = ["binned_mean", "plot_contour"]

_OWNER = "plot_contour"
_TITLE = "Contour"
_MIN_TRIALS = 3
# The default pair needs a ranking, not the estimate the importance plot shows: 500 trials, 8 trees
# and no pairs take 30-40 ms of CPU at 10,000 trials where the full estimate takes 250 ms.
_QUICK = {"max_trials": 500, "n_trees": 8, "pairs": False}


def plot_contour(study: StudyLike, *, params: Sequence[str] | None = None,
                 objective: int | None = None, max_trials: int | None = None) -> go.Figure:
    """The objective over a pair of parameters: a `go.Contour` "binned mean" and a "trials" scatter.

    The grid is a binned mean, not a model: each axis is cut into equal bins of its encoded
    value (log10 for a log-scale parameter, so bins are equal per decade; one bin per choice for
    a Categorical), about sqrt(n / 2) bins a side (3 to 25), and a cell holds the mean objective
    of the completed trials in it. Empty cells hold NaN in `z`, which plotly's `connectgaps`
    fills by interpolating its neighbours when drawing (so sparse studies read as a surface; the
    scatter shows where trials actually are). Cells are drawn at their centres, in the
    parameters' units, on log axes for log-scale parameters; a Categorical's axis is its choice
    index, ticked with the choices. The scatter (SVG up to 5,000 trials, else WebGL) shows
    every trial drawn (trial number in
    `customdata`); with `max_trials`, the grid is still the mean over every trial, and only the
    scatter is thinned.

    Args:
        study: A `shoal.Study` or a `StudySnapshot`.
        params: Exactly two parameter names (x, y). Default: the two most important by
            `shoal.analysis.importances` (a quick estimate: 500 trials at most, 8 trees, no
            pairs), else the first two parameters.
        objective: Which objective; required with several objectives.
        max_trials: Draw at most this many trials (see `shoal.visualization._thin`: the best
            half, the running, an even sample of the rest; an annotation says so); None: all.

    Returns:
        The figure; an empty one with an annotation when fewer than 3 completed trials have
        both parameters, or the study has fewer than two parameters.

    Raises:
        ConfigError: A bad `objective`, or `params` is not two names of the study's parameters.
    """
    import numpy as np
    import plotly.graph_objects as go

    snap = snapshot(study)
    index = objective_index(snap, objective, owner=_OWNER)
    done = completed(snap, index)
    names = pick_params(done, params, owner=_OWNER, count=2)
    if params is None:
        names = _default_pair(snap.trials, names, objective=None if len(snap.directions) == 1 else index)
    if len(names) < 2:
        return empty_figure(_TITLE, "a contour needs two parameters" if done else "no completed trials yet")
    cx, cy = column(done, names[0]), column(done, names[1])
    present = ~np.isnan(cx.values) & ~np.isnan(cy.values)
    if int(present.sum()) < _MIN_TRIALS:
        return empty_figure(_TITLE)
    values = np.array([t.values[index] for t in done if t.values is not None], dtype=float)[present]
    which = np.flatnonzero(present)
    drawn = thin([done[i] for i in which], max_trials, key=objective_key(snap, index), owner=_OWNER)
    position = {t.number: k for k, t in enumerate(done)}
    shown = np.array([position[t.number] for t in drawn.trials], dtype=np.int64)
    bins = int(np.clip(round(float(np.sqrt(present.sum() / 2))), 3, 25))
    gx, ex = _axis(cx, present, bins)
    gy, ey = _axis(cy, present, bins)
    z = binned_mean(ex[0], ey[0], values, ex[1], ey[1])
    label = objective_label(snap, index)
    fig = go.Figure([
        go.Contour(x=gx, y=gy, z=z, name="binned mean", colorscale="Viridis",
                   reversescale=snap.directions[index].sign > 0, connectgaps=True,
                   colorbar={"title": {"text": label}},
                   hovertemplate=f"{cx.label} %{{x}}<br>{cy.label} %{{y}}<br>mean %{{z}}<extra></extra>"),
        scatter(len(shown))(x=cx.values[shown], y=cy.values[shown], mode="markers", name="trials",
                     customdata=np.array([t.number for t in drawn.trials], dtype=np.int64),
                     marker={"color": "black", "size": 4, "opacity": 0.6},
                     hovertemplate="trial %{customdata}<extra></extra>"),
    ])
    fig.update_layout(title=f"{_TITLE} of {label}<br><sup>binned mean of {int(present.sum())} completed "
                            f"trials</sup>", template="plotly_white",
                      xaxis=_axis_layout(cx), yaxis=_axis_layout(cy))
    return annotate(fig, drawn)


def binned_mean(ix: np.ndarray, iy: np.ndarray, values: np.ndarray, nx: int, ny: int) -> np.ndarray:
    """The mean of `values` per cell (iy, ix) of an ny x nx grid; NaN where a cell is empty.

    >>> import numpy as np
    >>> binned_mean(np.array([0, 0, 1]), np.array([0, 0, 1]), np.array([1.0, 3.0, 5.0]), 2, 2).tolist()
    [[2.0, nan], [nan, 5.0]]
    """
    import numpy as np

    cell = iy * nx + ix
    sums = np.bincount(cell, weights=values, minlength=nx * ny)
    counts = np.bincount(cell, minlength=nx * ny)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(counts > 0, sums / np.maximum(counts, 1), np.nan)
    return np.asarray(mean.reshape(ny, nx))


def _default_pair(trials: Sequence[FrozenTrial], names: list[str], *, objective: int | None) -> list[str]:
    """The two most important parameters by a quick estimate (memoised), else the first two."""
    if len(names) <= 2:
        return names
    quick = cached_importances(trials, objective=objective, **_QUICK)
    ranked = [n for n in quick.main if n in names]
    return (ranked + [n for n in names if n not in ranked])[:2]


def _encoded(col: Column, present: np.ndarray) -> np.ndarray:
    import numpy as np

    values = col.values[present]
    return np.asarray(np.log10(values)) if col.log and float(values.min()) > 0 else values


def _axis(col: Column, present: np.ndarray, bins: int) -> tuple[np.ndarray, tuple[np.ndarray, int]]:
    """Cell centres in the parameter's units, and (each trial's bin, bin count) on its encoded axis."""
    import numpy as np

    encoded = _encoded(col, present)
    if col.categorical:
        n = len(col.choices)
        return np.arange(n, dtype=float), (encoded.astype(int), n)
    low, high = float(encoded.min()), float(encoded.max())
    if high <= low:
        high = low + 1.0
    which = np.clip(((encoded - low) / (high - low) * bins).astype(int), 0, bins - 1)
    centres = low + (np.arange(bins) + 0.5) * (high - low) / bins
    return (10.0 ** centres if col.log and float(col.values[present].min()) > 0 else centres), (which, bins)


def _axis_layout(col: Column) -> dict[str, Any]:
    if col.categorical:
        return {"title": {"text": col.label}, "tickvals": list(range(len(col.choices))),
                "ticktext": col.ticktext}
    return {"title": {"text": col.label}, "type": "log" if col.log else "linear"}
