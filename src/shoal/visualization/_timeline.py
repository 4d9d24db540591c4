"""Timeline: when each trial ran, one horizontal bar per trial, paused spans shown over them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shoal._validate import number as finite_number
from shoal.trial import STATE_ORDER, FrozenTrial, TrialState
from shoal.visualization._data import StudyLike, snapshot
from shoal.visualization._figure import STATE_COLORS, empty_figure

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["paused_spans", "plot_timeline"]

_OWNER = "plot_timeline"
_TITLE = "Timeline"


def plot_timeline(study: StudyLike, *, now: float | None = None, objective: int | None = None,
                  params: Sequence[str] | None = None) -> go.Figure:
    """Each started trial as a bar from its start to its end, on a date axis (storage clock).

    Traces, each a `go.Scattergl` of thick horizontal segments (y: trial number; x: start and
    end in milliseconds since the epoch, as plotly's date axes read numbers; NaN between
    trials; the duration in seconds as `customdata`): one per state present, named by it
    ("COMPLETE", "PRUNED", "FAILED", "RUNNING", "PAUSED", in that order), and "paused" over
    them, a thin dotted white line, for every span between a "paused" lineage event and the
    next "resumed" one (or `now` while the trial is still paused). Segments rather than bars:
    plotly keeps a bar's `base` as Python objects, which cost 0.2 s at 10,000 trials. A trial
    ends at `datetime_complete` (a PAUSED trial's is when it paused), else at the last
    heartbeat, else at `now`; a RUNNING trial's at `now` when given, else at its last heartbeat.

    Args:
        study: A `shoal.Study` or a `StudySnapshot`.
        now: The storage clock's time, in seconds, where running and paused bars end; default:
            the latest time the study's records hold, so the plot never reads a clock.
        objective, params: Accepted so every figure of the registry takes the same keywords; unused.

    Returns:
        The figure; an empty one with an annotation before a trial started.

    Raises:
        ConfigError: `now` is not a finite number.
    """
    import plotly.graph_objects as go

    snap = snapshot(study)
    started = [t for t in snap.trials if t.datetime_start is not None]
    if not started:
        return empty_figure(_TITLE, "no trial started yet")
    end_of_time = _latest(started) if now is None else finite_number(now, what="now", owner=_OWNER)
    data: list[Any] = []
    for state in STATE_ORDER:
        trials = [t for t in started if t.state is state]
        if trials:
            spans = [(t.number, t.datetime_start, _end(t, end_of_time, clock=now is not None))
                     for t in trials]
            data.append(_segments(spans, name=state.value, color=STATE_COLORS[state], width=6))
    paused = [(t.number, a, b) for t in started if t.lineage for a, b in paused_spans(t, end_of_time)]
    if paused:
        data.append(_segments(paused, name="paused", color="#ffffff", width=2, dash="dot"))
    fig = go.Figure(data)
    fig.update_layout(title=_TITLE, template="plotly_white",
                      xaxis={"type": "date", "title": {"text": "time"}},
                      yaxis={"title": {"text": "trial"}, "autorange": "reversed"})
    return fig


def _segments(spans: Sequence[tuple[int, float | None, float]], *, name: str, color: str, width: int,
              dash: str | None = None) -> go.Scattergl:
    """One line trace of horizontal segments (start, number) -> (end, number), NaN-separated;
    times in milliseconds since the epoch, as plotly's date axes read numbers."""
    import numpy as np
    import plotly.graph_objects as go

    table = np.array(spans, dtype=float).reshape(-1, 3)
    x = np.full((len(table), 3), np.nan)
    x[:, 0], x[:, 1] = table[:, 1] * 1000.0, table[:, 2] * 1000.0
    y = np.repeat(table[:, 0], 3)
    seconds = np.repeat(table[:, 2] - table[:, 1], 3)
    line: dict[str, Any] = {"color": color, "width": width}
    if dash:
        line["dash"] = dash
    return go.Scattergl(x=x.ravel(), y=y, customdata=seconds, mode="lines", name=name, line=line,
                        connectgaps=False,
                        hovertemplate="trial %{y}<br>%{customdata:.1f} s<extra>" + name + "</extra>")


def paused_spans(trial: FrozenTrial, now: float) -> list[tuple[float, float]]:
    """(from, to) of each pause in the trial's lineage; a pause not resumed yet lasts until `now`.

    >>> t = FrozenTrial(0, 0, TrialState.PAUSED, lineage=({"event": "paused", "step": 2, "at": 10.0},
    ...     {"event": "resumed", "step": 2, "at": 25.0}, {"event": "paused", "step": 5, "at": 40.0}))
    >>> paused_spans(t, 50.0)
    [(10.0, 25.0), (40.0, 50.0)]
    """
    out: list[tuple[float, float]] = []
    since: float | None = None
    for event in trial.lineage:
        at = event.get("at")
        if not isinstance(at, (int, float)):
            continue
        if event.get("event") == "paused":
            since = float(at)
        elif event.get("event") == "resumed" and since is not None:
            out.append((since, float(at)))
            since = None
    if since is not None:
        out.append((since, max(now, since)))
    return out


def _end(trial: FrozenTrial, now: float, *, clock: bool) -> float:
    """Where the trial's bar ends; a running one's at `now` when the caller gave the clock."""
    assert trial.datetime_start is not None
    if trial.state is TrialState.RUNNING:
        end = trial.last_heartbeat if trial.last_heartbeat is not None and not clock else now
    else:
        end = next((m for m in (trial.datetime_complete, trial.last_heartbeat) if m is not None), now)
    return max(end, trial.datetime_start)


def _latest(trials: Sequence[FrozenTrial]) -> float:
    """The latest time any record holds: starts, ends, heartbeats and lineage events."""
    moments = [m for t in trials for m in (t.datetime_start, t.datetime_complete, t.last_heartbeat)
               if m is not None]
    moments += [float(e["at"]) for t in trials for e in t.lineage if isinstance(e.get("at"), (int, float))]
    return max(moments)
