"""Coarse-to-fine rounds: the best value per round and the region each round searched."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shoal._validate import config_error
from shoal.trial import FrozenTrial, TrialState
from shoal.visualization._data import StudyLike, objective_label, snapshot, text
from shoal.visualization._figure import empty_figure, is_log, objective_index

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["plot_zoom_rounds", "round_regions"]

_OWNER = "plot_zoom_rounds"
_TITLE = "Coarse-to-fine rounds"
_TOP = 3


def plot_zoom_rounds(study: StudyLike, *, objective: int | None = None,
                     params: Sequence[str] | None = None) -> go.Figure:
    """Per zoom round (`system_attrs["zoom_round"]`, recorded by `CoarseToFineSampler`): the values
    reached, and each round's search box for the parameters it narrowed most.

    Top panel traces: "trials" (each completed trial's value at its round), "best in round"
    and "best so far" (lines with markers over rounds). Then one panel per parameter, each a
    `go.Bar` trace named by it: a floating bar per round from the lowest to the highest bound
    of the boxes (`system_attrs["zoom_box"]`) that round's trials were drawn from, on a log axis
    for a log-scale parameter. Default parameters: the three whose last round's box is the
    smallest share of their round-0 range (the ones the search narrowed most).

    Args:
        study: A `shoal.Study` or a `StudySnapshot`.
        objective: Which objective; required with several objectives.
        params: The parameters whose boxes to draw (default: see above).

    Returns:
        The figure; an empty one with an annotation while no trial records a zoom round.

    Raises:
        ConfigError: A bad `objective`, or `params` names a parameter no box holds.
    """
    import numpy as np
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    snap = snapshot(study)
    index = objective_index(snap, objective, owner=_OWNER)
    zoomed = [t for t in snap.trials if isinstance(t.system_attrs.get("zoom_round"), int)]
    if not zoomed:
        return empty_figure(_TITLE, "no trial records a zoom round (CoarseToFineSampler) yet")
    regions = round_regions(zoomed)
    logs = {n for n in regions if is_log(next((t.distributions[n] for t in zoomed if n in t.distributions),
                                              None))}
    names = _pick(regions, params, logs)
    rounds = sorted({int(t.system_attrs["zoom_round"]) for t in zoomed})
    label = objective_label(snap, index)
    fig = make_subplots(rows=1 + len(names), cols=1, shared_xaxes=True, vertical_spacing=0.06,
                        subplot_titles=[label, *(f"box of {text(n)}" for n in names)])
    done = [t for t in zoomed if t.state is TrialState.COMPLETE and t.values is not None
            and np.isfinite(t.values[index])]
    sign = snap.directions[index].sign
    x = np.array([t.system_attrs["zoom_round"] for t in done], dtype=float)
    y = np.array([t.values[index] for t in done if t.values is not None], dtype=float)
    fig.add_trace(go.Scattergl(x=x, y=y, mode="markers", name="trials", customdata=[t.number for t in done],
                               marker={"size": 4, "color": "#888888", "opacity": 0.5},
                               hovertemplate="trial %{customdata}<br>%{y}<extra></extra>"), row=1, col=1)
    best = [sign * min(sign * y[x == r]) if np.any(x == r) else np.nan for r in rounds]
    so_far = sign * np.fmin.accumulate(sign * np.array(best, dtype=float)) if best else np.array([])
    fig.add_trace(go.Scatter(x=rounds, y=best, mode="lines+markers", name="best in round"), row=1, col=1)
    fig.add_trace(go.Scatter(x=rounds, y=so_far, mode="lines", name="best so far",
                             line={"dash": "dot"}), row=1, col=1)
    for row, name in enumerate(names, start=2):
        spans = regions[name]
        kept = [r for r in rounds if r in spans]
        lows = [spans[r][0] for r in kept]
        highs = [spans[r][1] for r in kept]
        fig.add_trace(go.Bar(x=kept, base=lows, y=[h - lo for lo, h in zip(lows, highs, strict=True)],
                             name=text(name), customdata=highs,
                             hovertemplate="round %{x}<br>%{base} to %{customdata}<extra>" + text(name)
                                           + "</extra>"), row=row, col=1)
        if name in logs:
            fig.update_yaxes(type="log", row=row, col=1)
    fig.update_xaxes(title_text="zoom round", dtick=1, row=1 + len(names), col=1)
    fig.update_layout(title=_TITLE, template="plotly_white", height=300 + 200 * len(names))
    return fig


def round_regions(trials: Sequence[FrozenTrial]) -> dict[str, dict[int, tuple[float, float]]]:
    """Parameter -> round -> (lowest, highest) bound of the zoom boxes of that round's trials.

    >>> from shoal.trial import FrozenTrial, TrialState
    >>> ts = [FrozenTrial(i, i, TrialState.COMPLETE, system_attrs={"zoom_round": r, "zoom_box": {"x": b}})
    ...       for i, (r, b) in enumerate([(0, [0, 10]), (1, [2, 6]), (1, [3, 7])])]
    >>> round_regions(ts)
    {'x': {0: (0.0, 10.0), 1: (2.0, 7.0)}}
    """
    out: dict[str, dict[int, tuple[float, float]]] = {}
    for t in trials:
        box: Mapping[str, Any] = t.system_attrs.get("zoom_box") or {}
        r = int(t.system_attrs["zoom_round"])
        for name, bounds in box.items():
            low, high = float(bounds[0]), float(bounds[1])
            spans = out.setdefault(name, {})
            old = spans.get(r)
            spans[r] = (low, high) if old is None else (min(old[0], low), max(old[1], high))
    return out


def _pick(regions: Mapping[str, Mapping[int, tuple[float, float]]], params: Any, logs: set[str]) -> list[str]:
    """`params` checked against the boxes, or the parameters narrowed most (last width / first,
    in decades for a log-scale parameter)."""
    if params is not None:
        if isinstance(params, str) or not isinstance(params, Sequence) or not params \
                or any(p not in regions for p in params):
            raise config_error("params", _OWNER, f"a list of names among {sorted(regions)!r}", params,
                               hint="Leave params=None for the parameters narrowed most.")
        return list(params)

    def narrowed(name: str) -> float:
        spans = regions[name]
        first, last = spans[min(spans)], spans[max(spans)]
        if name in logs and first[0] > 0 and last[0] > 0:
            first, last = (math.log(first[0]), math.log(first[1])), (math.log(last[0]), math.log(last[1]))
        return (last[1] - last[0]) / (first[1] - first[0]) if first[1] > first[0] else 1.0

    return sorted(regions, key=narrowed)[:_TOP]
