"""The figures the dashboard serves: built by `shoal.visualization`, made safe, cached by version.

Plotly renders a few HTML tags in titles, legends, ticks and hover labels, and user data (parameter
names and values, objective names, attributes) reaches those strings. Every string of a figure is
therefore escaped (`<`, `>`, and `&` where it does not already start an entity, so text that
`shoal.visualization` escaped is not escaped twice) before it is served, and only the formatting
tags that cannot run anything (`<br>`, `<b>`, `<i>`, `<sub>`, `<sup>`, `<extra>`) are put back: a
hostile name shows as text, whatever the plotting function did with it.
"""

from __future__ import annotations

import importlib
import inspect
import re
import time
from collections.abc import Callable, Mapping
from typing import Any

from shoal import visualization
from shoal._validate import config_error
from shoal.dashboard._state import CachedFigure, StudyState
from shoal.visualization import StudySnapshot

__all__ = ["MAX_TRIALS", "escape_figure", "figure_kinds", "figure_payload", "trial_figure_payload"]

#: At most this many trials are drawn per figure (`max_trials` of the plotting functions): the
#: best half, the running, an even sample of the rest; aggregates still use every trial. The
#: browser's drawing time grows with the marks: on a 10,000-trial study in headless Chromium
#: without a GPU, all 10,000 learning curves added 12.9 s to the study page; 1,000 draw in
#: 0.2-0.3 s and 500 in 0.06 s, slices (two panels) in 0.3 s at 1,000, 500 or 250 alike.
MAX_TRIALS = 1000

# A figure that took this much CPU time to build is rebuilt at most once per 10x its build time while trials
# arrive (an importance fit over 10,000 trials must not run on every poll); cheap ones always follow.
SLOW_BUILD_S = 0.5
_MAX_CACHED = 256  # figures kept per study
_SAFE_TAGS = re.compile(r"&lt;(/?(?:br|b|i|sub|sup|extra)\s*/?)&gt;", re.IGNORECASE)
_BARE_AMPERSAND = re.compile(r"&(?!(?:[a-zA-Z][a-zA-Z0-9]*|#[0-9]+|#[xX][0-9a-fA-F]+);)")


def _escape_text(text: str) -> str:
    if not any(c in text for c in "&<>"):
        return text
    escaped = _BARE_AMPERSAND.sub("&amp;", text).replace("<", "&lt;").replace(">", "&gt;")
    return _SAFE_TAGS.sub(r"<\1>", escaped)


def escape_figure(value: Any) -> Any:
    """`value` (a figure as `Figure.to_plotly_json()` gives it) with every string escaped for
    Plotly's text renderer; numeric arrays are passed through untouched."""
    if isinstance(value, str):
        return _escape_text(value)
    if isinstance(value, Mapping):
        return {k: escape_figure(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [escape_figure(v) for v in value]
    kind = getattr(getattr(value, "dtype", None), "kind", None)
    if kind in ("U", "S", "O"):  # a numpy array of strings or objects
        return [escape_figure(v) for v in value.tolist()]
    return value


def figure_kinds(study: StudySnapshot) -> list[str]:
    """The figure kinds to draw for `study`, in display order: `applicable_figures` when the
    visualization package has it, else every registered kind."""
    applicable: Callable[[StudySnapshot], list[str]] | None = getattr(
        visualization, "applicable_figures", None)
    kinds = applicable(study) if applicable is not None else list(visualization.FIGURES)
    return [kind for kind in kinds if kind in visualization.FIGURES]


def _accepted(function: Callable[..., Any]) -> set[str]:
    return {p.name for p in inspect.signature(function).parameters.values()
            if p.kind is inspect.Parameter.KEYWORD_ONLY}


def _serialise(figure: Any) -> str:
    import plotly.io as pio

    text: str = pio.to_json(escape_figure(figure.to_plotly_json()), validate=False)
    return text


def figure_payload(state: StudyState, kind: str, *, objective: int | None,
                   params: list[str] | None, clock: Callable[[], float] = time.monotonic,
                   cost: Callable[[], float] = time.thread_time) -> bytes:
    """`{"version": V, "figure": {...}}` for figure `kind` of the study, from the cache when it
    was built at the current version (or is expensive and recent: see SLOW_BUILD_S).

    Options a plotting function does not take are ignored, so a page can send its objective to
    every figure; with several objectives and none given, objective 0 is drawn. A function that
    takes `max_trials` gets MAX_TRIALS, one that takes `svg` gets True.

    Raises:
        ConfigError: An unknown kind, or options the plotting function refuses.
    """
    function = visualization.FIGURES.get(kind)
    if function is None:
        raise config_error("kind", "a dashboard figure", f"one of {sorted(visualization.FIGURES)}", kind,
                           hint="Use a kind that /api/studies/NAME lists under 'figures'.")
    snap = state.current()
    accepted = _accepted(function)
    options: dict[str, Any] = {}
    if "objective" in accepted and (objective is not None or len(snap.directions) > 1):
        options["objective"] = 0 if objective is None else objective
    if "params" in accepted and params is not None:
        options["params"] = params
    if "max_trials" in accepted:
        options["max_trials"] = MAX_TRIALS
    if "svg" in accepted:  # no WebGL context (about a second without a GPU), the cartesian bundle
        options["svg"] = True
    key = (kind, tuple(sorted((k, repr(v)) for k, v in options.items())))
    version = state.version
    cached = state.figures.get(key)
    now = clock()
    if cached is not None and (cached.version == version or (
            cached.build_s > SLOW_BUILD_S and now - cached.built_at < 10 * cached.build_s)):
        return cached.payload
    # the build's cost is the CPU time of this thread: a page asks for every figure at once, and
    # wall time spent waiting for the GIL would make a cheap figure look slow (and stale for 10x)
    for module in ("plotly.graph_objects", "plotly.io"):  # nor may plotly's first import count
        importlib.import_module(module)
    start = cost()
    body = _serialise(function(snap, **options))
    payload = f'{{"version":{version},"figure":{body}}}'.encode()
    spent = cost() - start
    _remember(state, key, CachedFigure(version, payload, spent, clock()))
    return payload


def _remember(state: StudyState, key: tuple[Any, ...], figure: CachedFigure) -> None:
    if len(state.figures) >= _MAX_CACHED:  # many parameter pairs or trials looked at: start afresh
        state.figures.clear()
    state.figures[key] = figure


def trial_figure_payload(state: StudyState, number: int) -> bytes:
    """`{"version": V, "figure": {...}}`: trial `number`'s curves (`plot_trial_curves`)."""
    snap = state.current()
    key = ("trial", number)
    cached = state.figures.get(key)
    if cached is not None and cached.version == state.version:
        return cached.payload
    plot: Callable[..., Any] = getattr(visualization, "plot_trial_curves", _trial_curves)
    body = _serialise(plot(snap, number))
    payload = f'{{"version":{state.version},"figure":{body}}}'.encode()
    _remember(state, key, CachedFigure(state.version, payload, 0.0, 0.0))
    return payload


def _trial_curves(study: StudySnapshot, number: int) -> Any:
    """One trial's reported values and named curves by step, for a shoal whose visualization
    package predates `plot_trial_curves` (issue 18 adds it there; this goes when it lands)."""
    import plotly.graph_objects as go

    trial = next(t for t in study.trials if t.number == number)
    curves = {"value": dict(trial.intermediate), **trial.curves}
    fig = go.Figure([go.Scatter(x=sorted(points), y=[points[s] for s in sorted(points)],
                                mode="lines+markers", name=name)
                     for name, points in curves.items() if points])
    fig.update_layout(title=f"Trial {number}", xaxis_title="step", template="plotly_white")
    return fig
