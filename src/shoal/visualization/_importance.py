"""Hyperparameter importance as bars: main effects, and the strongest interactions when estimated."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from threading import Lock
from typing import TYPE_CHECKING, Any

from shoal.analysis import Importances, importances
from shoal.trial import FrozenTrial, TrialState
from shoal.visualization._data import StudyLike, objective_label, snapshot, text
from shoal.visualization._figure import completed, empty_figure, objective_index

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["cached_importances", "plot_param_importances"]

_OWNER = "plot_param_importances"
_TITLE = "Hyperparameter importance"
_TOP_PAIRS = 10
# What an estimate may read: paused and pruned trials count by their last report while few completed.
_COUNTED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.PAUSED)

# Estimates by what they were computed from (the finished trials), so a study that gained no
# finished trial is not estimated again: the dashboard redraws every few seconds, and an
# fANOVA-style estimate over thousands of trials takes far longer than a plot.
_CACHE: OrderedDict[tuple[Any, ...], Importances] = OrderedDict()
_CACHE_SIZE = 16
_LOCK = Lock()


def cached_importances(trials: Sequence[FrozenTrial], *, objective: int | None,
                       **options: Any) -> Importances:
    """`shoal.analysis.importances(trials, objective=objective, **options)`, memoised on the
    trials it reads.

    Only COMPLETE, PRUNED and PAUSED trials enter an estimate, so the key is their id, number,
    state, values, report count and parameters; a running trial's new report does not recompute it.
    """
    read = tuple((t.trial_id, t.number, t.state, t.values, len(t.intermediate), tuple(t.params.items()))
                 for t in trials if t.state in _COUNTED)
    key = (objective, tuple(sorted(options.items())), read)
    with _LOCK:
        found = _CACHE.get(key)
        if found is not None:
            _CACHE.move_to_end(key)
            return found
    result = importances(trials, objective=objective, **options)
    with _LOCK:
        _CACHE[key] = result
        while len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    return result


def plot_param_importances(study: StudyLike, *, objective: int | None = None,
                           params: Sequence[str] | None = None) -> go.Figure:
    """Horizontal bars of each parameter's importance, and of its strongest pair interactions.

    Traces: "main effect" (`shoal.analysis.importances(...).main`, the most important at the
    top) and, when the estimator gives any, "interactions" (the top 10 of `.pairs`, labelled
    "a x b", drawn below the main effects; this trace comes first in `data`). The estimator's
    `method` (which says how many trials it used) is under the title. Estimates are memoised
    on the finished trials (`cached_importances`), so a redraw of an unchanged study is cheap.

    Args:
        study: A `shoal.Study` or a `StudySnapshot`.
        objective: Which objective to explain; required with several objectives.
        params: Accepted so every figure of the registry takes the same keywords; unused.

    Returns:
        The figure; an empty one with an annotation while too few trials finished to estimate.

    Raises:
        ConfigError: `objective` is missing for several objectives, or out of range.
    """
    import plotly.graph_objects as go

    snap = snapshot(study)
    index = objective_index(snap, objective, owner=_OWNER)
    if not completed(snap, index):
        return empty_figure(_TITLE)
    result = cached_importances(snap.trials, objective=None if len(snap.directions) == 1 else index)
    if not result.main:
        return empty_figure(_TITLE, f"too few finished trials to estimate importance yet: {result.method}")
    main = list(result.main.items())[::-1]  # plotly draws the first category at the bottom
    pairs = list(result.pairs.items())[:_TOP_PAIRS][::-1]
    data = []
    if pairs:  # below the main effects, which keep the top of the plot
        data.append(go.Bar(x=[v for _, v in pairs], y=[f"{text(a)} x {text(b)}" for (a, b), _ in pairs],
                           orientation="h", name="interactions", marker={"color": "#9467bd"},
                           hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    data.append(go.Bar(x=[v for _, v in main], y=[text(n) for n, _ in main], orientation="h",
                       name="main effect", marker={"color": "#1f77b4"},
                       hovertemplate="%{y}: %{x:.3f}<extra></extra>"))
    fig = go.Figure(data)
    fig.update_layout(title=f"{_TITLE} for {objective_label(snap, index)}<br><sup>{result.method}</sup>",
                      xaxis_title="share of variance explained", template="plotly_white",
                      barmode="stack", legend={"traceorder": "reversed"},
                      height=max(450, 120 + 28 * (len(main) + len(pairs))))
    return fig
