"""One trial's curves: its reported value and every named curve, its fork ancestry greyed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from shoal._validate import config_error
from shoal.trial import FrozenTrial
from shoal.visualization._data import StudyLike, objective_label, snapshot, text
from shoal.visualization._figure import STATE_COLORS, empty_figure
from shoal.visualization._intermediate import curve_points

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["ancestry", "plot_trial_curves"]

_OWNER = "plot_trial_curves"
_GREY = "#b0b0b0"
_EVENTS = {"paused": "#9467bd", "resumed": "#2ca02c", "forked": "#555555"}


def plot_trial_curves(study: StudyLike, number: int) -> go.Figure:
    """Trial `number`'s reported value and each named curve, one small multiple per curve.

    Rows, sharing the step axis: the reported value first (titled by the first objective), then
    each named curve in name order (train_loss, lr, objective_1, ...). In every row the trial's
    own points are one trace named "value" or the curve's name; for a fork, each ancestor's part
    up to the branch step (its parent's up to the fork's step, the grandparent's up to the
    parent's, ...) is a grey trace "trial P (parent)", so the curve reads continuously. A row
    whose values are all positive and span more than two decades (a learning rate) gets a log
    axis. Lineage events are dashed vertical lines through every row, labelled once inside the
    top row ("paused", "resumed" and, for a fork, "forked from P" at the branch step; events at
    one step share a label).

    Args:
        study: A `shoal.Study` or a `StudySnapshot`.
        number: The trial's number.

    Returns:
        The figure; an empty one with an annotation when the trial has reported nothing.

    Raises:
        ConfigError: No trial of the study has this number.
    """
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    snap = snapshot(study)
    by_number = {t.number: t for t in snap.trials}
    if isinstance(number, bool) or not isinstance(number, int) or number not in by_number:
        raise config_error("number", _OWNER, f"one of the study's {len(snap.trials)} trial numbers", number,
                           hint=f"See them with 'shoal trials {snap.name}'.")
    trial = by_number[number]
    chain = ancestry(trial, by_number)
    names = sorted({n for t, _ in chain for n in (t.system_attrs.get("curves") or {})})
    rows: list[tuple[str | None, str]] = [(None, objective_label(snap, 0)), *((n, text(n)) for n in names)]
    title = f"Trial {number} ({trial.state.value})"
    if not any(curve_points(t, name) for t, _ in chain for name, _ in rows):
        return empty_figure(title, f"trial {number} reported no values yet")
    fig = make_subplots(rows=len(rows), cols=1, shared_xaxes=True, vertical_spacing=0.04,
                        subplot_titles=[label for _, label in rows])
    for row, (name, _) in enumerate(rows, start=1):
        values: list[float] = []
        for depth, (member, upto) in enumerate(chain):
            points = sorted(curve_points(member, name).items())
            if upto is not None:
                points = [p for p in points if p[0] <= upto]
            if not points:
                continue
            values += [v for _, v in points]
            own = depth == 0
            fig.add_trace(go.Scatter(
                x=[s for s, _ in points], y=[v for _, v in points], mode="lines+markers",
                name=("value" if name is None else text(name)) if own else f"trial {member.number} (parent)",
                legendgroup=f"trial {member.number}", showlegend=row == 1 or own,
                line={"color": STATE_COLORS[member.state] if own else _GREY},
                marker={"size": 4}), row=row, col=1)
        if values and min(values) > 0 and max(values) / min(values) > 100:
            fig.update_yaxes(type="log", row=row, col=1)
    last = max((s for t, _ in chain for name, _ in rows for s in curve_points(t, name)), default=0)
    labels: dict[int, list[str]] = {}
    for event, step, note in _markers(trial):  # a line through every row, labelled once in the first
        fig.add_vline(x=step, line={"dash": "dash", "color": _EVENTS[event], "width": 1})
        labels.setdefault(step, []).append(note)
    for step, texts in labels.items():  # "paused, resumed" at one step is one label, kept inside the plot
        fig.add_annotation(x=step, xref="x", y=1.0, yref="y domain", yanchor="top", text=", ".join(texts),
                           xanchor="right" if step >= last else "left", showarrow=False, font={"size": 10})
    fig.update_xaxes(title_text="step", row=len(rows), col=1)
    fig.update_layout(title=title, template="plotly_white", height=260 + 180 * len(rows))
    return fig


def ancestry(trial: FrozenTrial,
             by_number: Mapping[int, FrozenTrial]) -> list[tuple[FrozenTrial, int | None]]:
    """The trial (up to None: all of it), then each fork ancestor up to the step it was forked at."""
    out: list[tuple[FrozenTrial, int | None]] = [(trial, None)]
    seen = {trial.number}
    current = trial
    while (fork := current.forked_from) is not None and fork[1] is not None:
        parent = by_number.get(fork[0])
        if parent is None or parent.number in seen:  # a lost parent, or a cycle in damaged records
            break
        out.append((parent, fork[1]))
        seen.add(parent.number)
        current = parent
    return out


def _markers(trial: FrozenTrial) -> list[tuple[str, int, str]]:
    """(event, step, label) of each lineage event with a step, oldest first."""
    out: list[tuple[str, int, str]] = []
    for event in trial.lineage:
        kind: Any = event.get("event")
        step = event.get("step")
        if kind not in _EVENTS or step is None:
            continue
        label = f"forked from {event.get('parent')}" if kind == "forked" else str(kind)
        out.append((str(kind), int(step), label))
    return out
