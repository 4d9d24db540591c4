"""Learning curves of every trial, forks drawn from their parent's branch point."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from itertools import chain
from typing import TYPE_CHECKING, Any

from shoal._validate import config_error
from shoal.trial import STATE_ORDER, FrozenTrial, TrialState
from shoal.visualization._data import StudyLike, StudySnapshot, objective_label, snapshot, text
from shoal.visualization._figure import STATE_COLORS, empty_figure, objective_index
from shoal.visualization._thin import annotate, objective_key, scatter, thin

if TYPE_CHECKING:
    import numpy as np
    import plotly.graph_objects as go

__all__ = ["curve_points", "plot_intermediate_values", "step_quantiles"]

_OWNER = "plot_intermediate_values"
_TITLE = "Intermediate values"


def plot_intermediate_values(study: StudyLike, *, curve: str | None = None, objective: int | None = None,
                             params: Sequence[str] | None = None,
                             max_trials: int | None = None) -> go.Figure:
    """Every trial's reported values by step: one curve per trial, a few traces in all.

    With more trials than `max_trials`, first come two `go.Scatter` traces over *every* trial
    that reported, so what thinning leaves out is still seen in aggregate: "10-90 % of all
    trials" (a filled band, per step, between the 10th and 90th percentiles of the values
    reported at that step) and "median of all trials" (a line). Then the curves of the trials
    drawn (see `shoal.visualization._thin`: the best half by the objective's final value, the
    running and paused ones, an even sample of the rest), as below, and an annotation that
    says how many were drawn.

    Traces, each a scatter of lines (`go.Scatter`, SVG, up to 100,000 points in all; above,
    `go.Scattergl`, WebGL: see `shoal.visualization._thin.scatter`): one per state that has
    curves, named by the state
    ("COMPLETE", "PRUNED", "FAILED", "RUNNING", "PAUSED", in that order; PAUSED dashed; a
    WAITING trial has not run, so it has none, even a queued fork), each
    trial's points joined and trials separated by a NaN gap (JSON null), with the trial number
    as `customdata`. Pruned and paused trials simply end where they stopped. A resumed trial is
    one record, so one curve. A fork starts at its parent's point at the branch step (the
    parent's newest point at or before it), so branches read as a tree; a "branch points"
    marker trace shows those points when a fork was drawn.

    Args:
        study: A `shoal.Study` or a `StudySnapshot`.
        curve: A named curve (`trial.report(v, step, name=curve)`, e.g. "train_loss") to draw
            instead of the reported value.
        objective: With several objectives, which one: 0 is the reported value, i >= 1 the
            curve "objective_i" the schedulers read. Not with `curve`.
        params: Accepted so every figure of the registry takes the same keywords; unused.
        max_trials: Draw at most this many trials' curves (None: all). The best are ranked by
            the objective picked (objective 0 when `curve` is given).

    Returns:
        The figure; with no reported point, an empty one with an annotation.

    Raises:
        ConfigError: `objective` is missing or out of range for several objectives, given
            with `curve`, or `curve` is not a curve the trials reported.
    """
    import numpy as np
    import plotly.graph_objects as go

    snap = snapshot(study)
    if curve is not None and objective is not None:
        raise config_error("objective", _OWNER, "None when curve is given", objective,
                           hint=f"Pass curve={curve!r} or objective=, not both.")
    if curve is None:
        index = objective_index(snap, objective, owner=_OWNER)
        name = None if index == 0 else f"objective_{index}"
        label = objective_label(snap, index)
    else:
        name, label = _checked_curve(snap, curve), text(curve)
    forks = any(e.get("event") == "forked" for t in snap.trials for e in t.lineage)
    by_number = {t.number: t for t in snap.trials} if forks else {}
    ran = [t for t in snap.trials if t.state is not TrialState.WAITING]
    drawn = thin(ran, max_trials, key=objective_key(snap, 0 if curve is not None else index), owner=_OWNER)
    groups: dict[TrialState, list[FrozenTrial]] = {}
    for trial in drawn.trials:
        groups.setdefault(trial.state, []).append(trial)
    data: list[Any] = _band(ran, name) if drawn.note is not None else []
    branches: list[tuple[int, float, int]] = []
    joined = []
    for state in (s for s in STATE_ORDER if s in groups):
        starts = [_branch_point(t, by_number, name) for t in groups[state]]
        branches += [(p[0], p[1], t.number) for t, p in zip(groups[state], starts, strict=True) if p]
        xs, ys, ns = _joined(groups[state], name, starts)
        if len(xs):
            joined.append((state, xs, ys, ns))
    if not joined:
        return empty_figure(_TITLE, "no reported values yet" if snap.trials else "no completed trials yet")
    lines = scatter(sum(len(xs) for _, xs, _, _ in joined), lines=True)
    for state, xs, ys, ns in joined:
        line: dict[str, Any] = {"color": STATE_COLORS[state], "width": 1}
        if state is TrialState.PAUSED:
            line["dash"] = "dash"
        data.append(lines(x=xs, y=ys, customdata=ns, mode="lines", name=state.value,
                          line=line, opacity=0.6, connectgaps=False,
                          hovertemplate="trial %{customdata}<br>step %{x}<br>%{y}<extra>"
                                        + state.value + "</extra>"))
    if branches:
        bx, by, bn = zip(*branches, strict=True)
        data.append(scatter(len(bx))(x=np.asarray(bx), y=np.asarray(by), customdata=np.asarray(bn),
                                 mode="markers", name="branch points",
                                 marker={"symbol": "diamond", "size": 8, "color": "#222222"},
                                 hovertemplate="fork %{customdata} branches here<br>step %{x}"
                                               "<extra></extra>"))
    fig = go.Figure(data)
    fig.update_layout(title=_TITLE if curve is None else f"{_TITLE}: {label}", xaxis_title="step",
                      yaxis_title=label, template="plotly_white")
    return annotate(fig, drawn)


def _band(trials: Sequence[FrozenTrial], name: str | None) -> list[Any]:
    """The 10-90 % band and the median per step over every point the trials reported."""
    import numpy as np
    import plotly.graph_objects as go

    curves = [curve_points(t, name) for t in trials]
    count = sum(len(c) for c in curves)
    steps = np.fromiter(chain.from_iterable(c.keys() for c in curves), dtype=np.int64, count=count)
    values = np.fromiter(chain.from_iterable(c.values() for c in curves), dtype=float, count=count)
    at, (low, median, high) = step_quantiles(steps, values, (0.1, 0.5, 0.9))
    if not len(at):
        return []
    grey = "rgba(68, 68, 68, 0.9)"
    return [
        go.Scatter(x=np.concatenate([at, at[::-1]]), y=np.concatenate([low, high[::-1]]).astype(np.float32),
                   fill="toself", fillcolor="rgba(120, 120, 120, 0.2)", line={"width": 0}, mode="lines",
                   name="10-90 % of all trials", hoverinfo="skip"),
        go.Scatter(x=at, y=median.astype(np.float32), mode="lines", name="median of all trials",
                   line={"color": grey, "width": 2},
                   hovertemplate="step %{x}<br>median %{y}<extra>all trials</extra>"),
    ]


def step_quantiles(steps: np.ndarray, values: np.ndarray,
                   qs: Sequence[float]) -> tuple[np.ndarray, list[np.ndarray]]:
    """The distinct finite-valued steps, and per quantile in `qs` the values' quantile at each
    (linear interpolation, as `numpy.quantile`), vectorised over all steps at once.

    >>> import numpy as np
    >>> at, (low, mid) = step_quantiles(np.array([1, 0, 1, 1, 0]), np.array([4.0, 1.0, 2.0, 3.0, 9.0]),
    ...                                 (0.0, 0.5))
    >>> at.tolist(), low.tolist(), mid.tolist()
    ([0, 1], [1.0, 2.0], [5.0, 3.0])
    """
    import numpy as np

    finite = np.isfinite(values)
    steps, values = steps[finite], values[finite]
    order = np.lexsort((values, steps))
    steps, values = steps[order], values[order]
    at, first, counts = np.unique(steps, return_index=True, return_counts=True)
    out = []
    for q in qs:
        position = first + q * (counts - 1)
        below = np.floor(position).astype(np.int64)
        above = np.minimum(below + 1, first + counts - 1)
        weight = position - below
        out.append(values[below] * (1.0 - weight) + values[above] * weight)
    return at, out


def curve_points(trial: FrozenTrial, name: str | None) -> Mapping[int, float]:
    """The trial's reported values (`name` None) or its named curve, by step (any order).

    Reads `system_attrs["curves"]` directly: `FrozenTrial.curves` converts every curve of the
    trial on each call, which costs a tenth of a second over 10,000 trials.
    """
    if name is None:
        return trial.intermediate
    stored: Mapping[str, Mapping[Any, Any]] = trial.system_attrs.get("curves") or {}
    return {int(s): float(v) for s, v in (stored.get(name) or {}).items()}


def _joined(trials: Sequence[FrozenTrial], name: str | None,
            starts: Sequence[tuple[int, float] | None]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """x, y and trial number of every point, each trial's points by step after its start point,
    trials separated by a NaN in y: vectorised, as 10,000 trials of 50 points are 500,000 points.

    Values travel as float32 and steps and numbers as integers (which plotly narrows to the
    smallest type that holds them): plotly serialises arrays as base64, so this cuts the JSON of
    10,000 trials x 50 steps from 12.2 MB (float64) to 4.5 MB (what the browser draws is pixels;
    float32 keeps 7 digits).
    """
    import numpy as np

    curves = [curve_points(t, name) for t in trials]
    counts = np.fromiter((len(c) for c in curves), dtype=np.int64, count=len(curves))
    extra = [(i, p) for i, p in enumerate(starts) if p is not None]
    own = int(counts.sum())
    total = own + len(extra)
    steps = np.empty(total, dtype=np.int64)
    values = np.empty(total)
    owner = np.empty(total, dtype=np.int64)
    steps[:own] = np.fromiter(chain.from_iterable(c.keys() for c in curves), dtype=np.int64, count=own)
    values[:own] = np.fromiter(chain.from_iterable(c.values() for c in curves), dtype=float, count=own)
    owner[:own] = np.repeat(np.arange(len(trials)), counts)
    lengths = counts.copy()
    for j, (i, (step, value)) in enumerate(extra):
        steps[own + j], values[own + j], owner[own + j] = step, value, i
        lengths[i] += 1
    same = owner[1:] == owner[:-1]
    if extra or bool(np.any((steps[1:] <= steps[:-1]) & same)):
        order = np.lexsort((steps, owner))  # by trial, then by step: a start point precedes its fork
        steps, values, owner = steps[order], values[order], owner[order]
    keep = lengths > 0
    numbers = np.fromiter((t.number for t in trials), dtype=np.int64, count=len(trials))[keep]
    slots = np.arange(total) + (np.cumsum(keep) - 1)[owner]  # each point shifted by the gaps before it
    size = total + len(numbers)
    x = np.zeros(size, dtype=np.int64)
    y = np.full(size, np.nan, dtype=np.float32)
    x[slots] = steps
    y[slots] = values
    gaps = np.cumsum(lengths[keep]) + np.arange(len(numbers))
    x[gaps] = x[gaps - 1]  # a gap sits at its trial's last step, so it never widens the axis
    return x, y, np.repeat(numbers, lengths[keep] + 1)


def _branch_point(trial: FrozenTrial, by_number: Mapping[int, FrozenTrial],
                  name: str | None) -> tuple[int, float] | None:
    """The parent's point a fork's curve starts from: its newest at or before the branch step."""
    if not trial.lineage:
        return None
    fork = trial.forked_from
    if fork is None or fork[1] is None or fork[0] not in by_number:
        return None
    parent, step = curve_points(by_number[fork[0]], name), fork[1]
    before = [s for s in parent if s <= step]
    return (max(before), parent[max(before)]) if before else None


def _checked_curve(snap: StudySnapshot, curve: Any) -> str:
    known = sorted({name for t in snap.trials for name in (t.system_attrs.get("curves") or {})})
    if not isinstance(curve, str) or (known and curve not in known):
        raise config_error("curve", _OWNER, f"one of the reported curves {known!r}", curve,
                           hint="Pass curve=None for the reported value.")
    return curve
