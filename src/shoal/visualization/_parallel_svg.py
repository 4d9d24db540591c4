"""Parallel coordinates drawn as SVG lines: `plot_parallel_coordinate(..., svg=True)`.

Plotly's `parcoords` trace is WebGL only, and a browser without a GPU (a laptop's headless
Chromium, a CI runner, a remote desktop) spends about a second creating a software WebGL
context for it, whatever the number of lines. These figures are plain `Scatter` traces: one per
colour band (worst band first, so the best lines are drawn on top), each polyline broken from
the next by a gap, plus an invisible marker trace that carries the colour bar. What is given
up is Parcoords' axis brushing; the dashboard's trials table filters by parameter ranges instead.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np
    import plotly.graph_objects as go

__all__ = ["BANDS", "svg_parallel"]

#: Colour bands: lines are grouped into this many traces by their colour (the objective).
BANDS = 10
_TICKS = 5  # ticks on an axis in plain units


def svg_parallel(dimensions: Sequence[dict[str, Any]], numbers: Sequence[int], *, color: np.ndarray,
                 cmin: float, cmax: float, label: str, minimise: bool) -> go.Figure:
    """The figure: an axis per dimension (Parcoords' dimension dicts: label, values, and optional
    range, tickvals, ticktext), every axis scaled to [0, 1] over its range, lines coloured by
    `color` on Viridis (reversed when `minimise`: the better, the brighter)."""
    import numpy as np
    import plotly.graph_objects as go
    from plotly.colors import sample_colorscale

    count = len(numbers)
    ys = np.empty((len(dimensions), count))
    fig = go.Figure()
    for axis, dim in enumerate(dimensions):
        values = np.asarray(dim["values"], dtype=float)
        low, high = _range(dim, values)
        span = high - low
        ys[axis] = 0.5 if span <= 0 else (values - low) / span
        _draw_axis(fig, axis, dim, low, high)
    position = _colour_position(color, cmin, cmax, minimise=minimise)
    band = np.minimum((position * BANDS).astype(int), BANDS - 1)
    gap = np.full((1, count), np.nan)
    xs = np.append(np.arange(len(dimensions), dtype=float), np.nan)
    for b in range(BANDS):  # band 0 is the worst: drawn first, under the others
        members = np.flatnonzero(band == b)
        if not len(members):
            continue
        # float32 halves the figure's size; hover shows 6 significant digits
        y = np.vstack([ys[:, members], gap[:, :len(members)]]).T.ravel().astype(np.float32)
        x = np.tile(xs, len(members)).astype(np.float32)
        who = np.repeat(np.column_stack([np.asarray(numbers)[members], color[members]]), len(xs),
                        axis=0).astype(np.float32)
        fig.add_trace(go.Scatter(
            x=x, y=y, mode="lines", customdata=who, showlegend=False,
            hovertemplate=f"trial %{{customdata[0]}}<br>{label}: %{{customdata[1]:.6g}}<extra></extra>",
            line={"width": 1, "color": sample_colorscale("Viridis", [(b + 0.5) / BANDS])[0]},
            opacity=0.45 + 0.5 * b / max(BANDS - 1, 1), name=f"band {b + 1} of {BANDS}"))
    fig.add_trace(go.Scatter(
        x=[0.0], y=[0.0], mode="markers", hoverinfo="skip", showlegend=False, name="colour scale",
        marker={"color": [cmin], "cmin": cmin, "cmax": cmax, "colorscale": "Viridis",
                "reversescale": minimise, "showscale": True, "opacity": 0,
                "colorbar": {"title": {"text": label}, "thickness": 14}}))
    fig.update_layout(
        template="plotly_white", hovermode="closest",
        xaxis={"tickvals": list(range(len(dimensions))),
               "ticktext": [_two_lines(str(d["label"])) for d in dimensions],
               "side": "top", "showgrid": False, "zeroline": False, "fixedrange": True,
               "range": [-0.1, len(dimensions) - 0.55]},  # room for the last axis's tick labels
        yaxis={"visible": False, "range": [-0.04, 1.04], "fixedrange": True})
    return fig


def _two_lines(label: str) -> str:
    """'lr (log)' -> 'lr<br>(log)': an axis title's note on a line of its own, so titles overlap less."""
    head, sep, tail = label.rpartition(" (")
    return f"{head}<br>({tail}" if sep and head else label


def _range(dim: dict[str, Any], values: np.ndarray) -> tuple[float, float]:
    import numpy as np

    given = dim.get("range")
    if given is not None:
        return float(given[0]), float(given[1])
    if not len(values):
        return 0.0, 1.0
    return float(np.nanmin(values)), float(np.nanmax(values))


def _draw_axis(fig: go.Figure, axis: int, dim: dict[str, Any], low: float, high: float) -> None:
    """A grey vertical line at x = `axis` and its tick labels, right of it, as annotations."""
    fig.add_shape(type="line", x0=axis, x1=axis, y0=0, y1=1, xref="x", yref="y",
                  line={"color": "#888888", "width": 1}, layer="below")
    ticks, texts = _ticks(dim, low, high)
    span = high - low
    for tick, text in zip(ticks, texts, strict=True):
        at = 0.5 if span <= 0 else (tick - low) / span
        fig.add_annotation(x=axis, y=at, xref="x", yref="y", text=text, showarrow=False, xanchor="left",
                           xshift=3, font={"size": 10, "color": "#444444"})


def _ticks(dim: dict[str, Any], low: float, high: float) -> tuple[list[float], list[str]]:
    """The dimension's own ticks (log axes, choices), else `_TICKS` evenly spaced ones in its units."""
    if dim.get("tickvals") is not None:
        return [float(v) for v in dim["tickvals"]], [str(t) for t in dim["ticktext"]]
    if not high > low:
        return [low], [f"{low:.3g}"]
    ticks = [low + (high - low) * k / (_TICKS - 1) for k in range(_TICKS)]
    return ticks, [f"{t:.3g}" for t in ticks]


def _colour_position(color: np.ndarray, cmin: float, cmax: float, *, minimise: bool) -> np.ndarray:
    """Each value's place on the colour scale in [0, 1], 1 the best (brightest)."""
    import numpy as np

    span = cmax - cmin
    position = np.full(len(color), 0.5) if not span > 0 or not math.isfinite(span) else (color - cmin) / span
    position = np.clip(position, 0.0, 1.0)
    return 1.0 - position if minimise else position
