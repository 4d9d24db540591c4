"""Timeline: when each trial ran, one thick horizontal segment per trial, paused spans drawn over them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shoal._validate import number as finite_number
from shoal.trial import STATE_ORDER, FrozenTrial, TrialState
from shoal.visualization._data import StudyLike, snapshot
from shoal.visualization._figure import STATE_COLORS, empty_figure
from shoal.visualization._thin import annotate, objective_key, scatter, thin

if TYPE_CHECKING:
    import numpy as np
    import plotly.graph_objects as go

__all__ = ["paused_spans", "plot_timeline"]

_OWNER = "plot_timeline"
_TITLE = "Timeline"
_RANK = {state: rank for rank, state in enumerate(STATE_ORDER)}


def plot_timeline(study: StudyLike, *, now: float | None = None, objective: int | None = None,
                  params: Sequence[str] | None = None, max_trials: int | None = None) -> go.Figure:
    """Each started trial as a segment from its start to its end, on a date axis (storage clock).

    Traces, each a scatter (SVG up to 100,000 points in all, else WebGL) of thick horizontal
    segments (y: trial number; x: start and
    end in milliseconds since the epoch, as plotly's date axes read numbers; NaN between
    trials; the duration in seconds as `customdata`): one per state present, named by it
    ("COMPLETE", "PRUNED", "FAILED", "RUNNING", "PAUSED", in that order), and "paused" over
    them, a thin dotted dark line (seen on every bar and off them), for every span between a
    "paused" lineage event and the next "resumed" one (or `now` while the trial is still
    paused). Segments rather than bars: plotly keeps a bar's `base` as Python objects, which
    cost 0.2 s at 10,000 trials. A trial ends at `datetime_complete` (a PAUSED trial's is when
    it paused), else at the last heartbeat, else at `now`; a RUNNING trial's at `now` when
    given, else at its last heartbeat.

    Args:
        study: A `shoal.Study` or a `StudySnapshot`.
        now: The storage clock's time, in seconds, where running and paused bars end; default:
            the latest time the study's records hold, so the plot never reads a clock.
        objective: With several objectives, which one ranks the best trials when thinning
            (default 0); nothing else.
        params: Accepted so every figure of the registry takes the same keywords; unused.
        max_trials: Draw at most this many trials (see `shoal.visualization._thin`: the best
            half, the running and paused, an even sample of the rest; an annotation says so);
            None: all. Running and paused bars still end at the latest time of every trial.

    Returns:
        The figure; an empty one with an annotation before a trial started.

    Raises:
        ConfigError: `now` is not a finite number.
    """
    import numpy as np
    import plotly.graph_objects as go

    snap = snapshot(study)
    started = [t for t in snap.trials if t.datetime_start is not None]
    if not started:
        return empty_figure(_TITLE, "no trial started yet")
    nan = float("nan")
    n = len(started)
    table = np.empty((n, 4))  # number, start, end or nan, last heartbeat or nan
    table[:, 0] = np.fromiter((t.number for t in started), dtype=float, count=n)
    table[:, 1] = np.fromiter((t.datetime_start or 0.0 for t in started), dtype=float, count=n)
    table[:, 2] = np.fromiter((nan if t.datetime_complete is None else t.datetime_complete
                               for t in started), dtype=float, count=n)
    table[:, 3] = np.fromiter((nan if t.last_heartbeat is None else t.last_heartbeat for t in started),
                              dtype=float, count=n)
    if now is None:
        events = [float(e["at"]) for t in started for e in t.lineage if isinstance(e.get("at"), (int, float))]
        end_of_time = float(np.nanmax([np.nanmax(table[:, 1:]), *events]))
    else:
        end_of_time = finite_number(now, what="now", owner=_OWNER)
    drawn = thin(started, max_trials, owner=_OWNER,
                 key=objective_key(snap, _objective(objective, len(snap.directions))))
    if drawn.note is not None:
        position = {id(t): i for i, t in enumerate(started)}
        rows = np.array([position[id(t)] for t in drawn.trials], dtype=np.int64)
        started, table = drawn.trials, table[rows]
        n = len(started)
    states = np.fromiter((_RANK[t.state] for t in started), dtype=np.int64, count=n)
    running = states == _RANK[TrialState.RUNNING]
    # The end: completion, else the last heartbeat, else now; a running trial's: now when given.
    ends = np.where(np.isnan(table[:, 2]), table[:, 3], table[:, 2])
    if now is not None:
        ends[running] = end_of_time
    ends = np.maximum(np.where(np.isnan(ends), end_of_time, ends), table[:, 1])
    data: list[Any] = []
    svg = scatter(3 * n, lines=True) is go.Scatter
    for rank, state in enumerate(STATE_ORDER):
        rows = states == rank
        if rows.any():
            data.append(_segments(np.column_stack([table[rows, 0], table[rows, 1], ends[rows]]),
                                  name=state.value, color=STATE_COLORS[state], width=6, svg=svg))
    paused = [(t.number, a, b) for t in started if t.lineage for a, b in paused_spans(t, end_of_time)]
    if paused:
        data.append(_segments(np.array(paused, dtype=float), name="paused", color="#444444", width=2,
                              dash="dot", svg=svg))
    fig = go.Figure(data)
    fig.update_layout(title=_TITLE, template="plotly_white",
                      xaxis={"type": "date", "title": {"text": "time"}},
                      yaxis={"title": {"text": "trial"}, "autorange": "reversed"})
    return annotate(fig, drawn)


def _objective(objective: int | None, count: int) -> int:
    """The objective that ranks trials for thinning: the one given when valid, else 0."""
    if isinstance(objective, int) and not isinstance(objective, bool) and 0 <= objective < count:
        return objective
    return 0


def _segments(table: np.ndarray, *, name: str, color: str, width: int,
              dash: str | None = None, svg: bool = True) -> go.Scatter | go.Scattergl:
    """One line trace of horizontal segments (start, number) -> (end, number), NaN-separated,
    from rows (number, start, end); times in milliseconds since the epoch, as plotly's date axes
    read numbers."""
    import numpy as np
    import plotly.graph_objects as go

    x = np.full((len(table), 3), np.nan)
    x[:, 0], x[:, 1] = table[:, 1] * 1000.0, table[:, 2] * 1000.0
    y = np.repeat(table[:, 0], 3)
    seconds = np.repeat(table[:, 2] - table[:, 1], 3)
    line: dict[str, Any] = {"color": color, "width": width}
    if dash:
        line["dash"] = dash
    kind = go.Scatter if svg else go.Scattergl
    return kind(x=x.ravel(), y=y, customdata=seconds, mode="lines", name=name, line=line,
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
