"""The Pareto front of two objectives, with the dominated and the infeasible trials."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from shoal._validate import config_error, integer
from shoal.trial import FrozenTrial, TrialState, pareto_front
from shoal.visualization._data import StudyLike, objective_label, snapshot
from shoal.visualization._figure import empty_figure
from shoal.visualization._thin import annotate, scatter, thin

if TYPE_CHECKING:
    import numpy as np
    import plotly.graph_objects as go

__all__ = ["plot_pareto_front"]

_OWNER = "plot_pareto_front"
_TITLE = "Pareto front"
_BLOCK = 128


def plot_pareto_front(study: StudyLike, *, objectives: Sequence[int] = (0, 1), objective: int | None = None,
                      params: Sequence[str] | None = None, max_trials: int | None = None) -> go.Figure:
    """Completed trials by two of their objectives: the front, the dominated, the infeasible.

    Traces, each markers (SVG up to 5,000 in all, else WebGL) with the trial number in
    `customdata`: "Pareto front" (the trials
    `shoal.trial.pareto_front` returns, i.e. non-dominated in *every* objective among the
    feasible ones; joined by a line, in order of x, when the study has exactly two objectives),
    "dominated" (the other feasible trials) and, only when a trial violates its recorded
    constraints, "infeasible". Axes show the values as reported, each with its direction.

    Args:
        study: A `shoal.Study` or a `StudySnapshot` with at least two objectives.
        objectives: The two objective indices for x and y.
        objective, params: Accepted so every figure of the registry takes the same keywords;
            unused (`objectives` picks the axes).
        max_trials: Draw at most this many of the dominated and infeasible trials together
            (see `shoal.visualization._thin`; "best" there: the smallest sum of the drawn
            objectives' scores, each scaled to [0, 1] over the completed trials); the front is
            always drawn whole, and the title counts every trial. None: all.

    Returns:
        The figure; an empty one with an annotation before a trial completed.

    Raises:
        ConfigError: The study has one objective, or `objectives` is not two distinct indices.
    """
    import numpy as np
    import plotly.graph_objects as go

    snap = snapshot(study)
    k = len(snap.directions)
    if k < 2:
        raise config_error("directions", _OWNER, "at least two objectives", k,
                           hint="Use plot_optimization_history for a study with one objective.")
    if isinstance(objectives, (str, bytes)) or not isinstance(objectives, Sequence) or len(objectives) != 2:
        raise config_error("objectives", _OWNER, f"two indices in [0, {k - 1}]", objectives)
    ix, iy = (integer(o, what="objectives", owner=_OWNER, low=0, high=k - 1) for o in objectives)
    if ix == iy:
        raise config_error("objectives", _OWNER, "two different indices", objectives,
                           hint="Pass e.g. objectives=(0, 1).")
    done = [t for t in snap.trials if t.state is TrialState.COMPLETE and t.is_usable()]
    if not done:
        return empty_figure(_TITLE)
    front = _front(done)
    on_front = {t.number for t in front}
    dominated = [t for t in done if t.is_feasible and t.number not in on_front]
    infeasible = [t for t in done if not t.is_feasible]
    drawn = thin([t for t in done if t.number not in on_front], max_trials, key=_scaled_sum(done, ix, iy),
                 owner=_OWNER)
    if drawn.note is not None:
        kept = {t.number for t in drawn.trials}
        dominated = [t for t in dominated if t.number in kept]
        infeasible = [t for t in infeasible if t.number in kept]
    lx, ly = objective_label(snap, ix), objective_label(snap, iy)
    front = sorted(front, key=lambda t: (_value(t, ix), _value(t, iy)))
    groups: list[tuple[str, list[FrozenTrial], dict[str, Any]]] = [
        ("Pareto front", front, {"color": "#d62728", "size": 9}),
        ("dominated", dominated, {"color": "#1f77b4", "size": 6, "opacity": 0.5}),
    ]
    if infeasible:
        groups.append(("infeasible", infeasible, {"color": "#7f7f7f", "size": 6, "symbol": "x"}))
    data = []
    kind = scatter(sum(len(trials) for _, trials, _ in groups))
    for name, trials, marker in groups:
        mode = "lines+markers" if name == "Pareto front" and k == 2 else "markers"
        data.append(kind(
            x=np.array([_value(t, ix) for t in trials], dtype=float),
            y=np.array([_value(t, iy) for t in trials], dtype=float), mode=mode, name=name, marker=marker,
            customdata=np.array([t.number for t in trials], dtype=np.int64),
            hovertemplate="trial %{customdata}<br>" + lx + " %{x}<br>" + ly + " %{y}<extra></extra>"))
    fig = go.Figure(data)
    fig.update_layout(title=f"{_TITLE} ({len(front)} of {len(done)} completed trials)", xaxis_title=lx,
                      yaxis_title=ly, template="plotly_white")
    return annotate(fig, drawn)


def _scaled_sum(done: Sequence[FrozenTrial], ix: int, iy: int) -> Callable[[FrozenTrial], float]:
    """A trial's scores on objectives ix and iy, each scaled to [0, 1] over `done`, summed."""
    spans = []
    for i in (ix, iy):
        scores = [_score(t, i) for t in done]
        low, high = min(scores), max(scores)
        spans.append((i, low, high - low if high > low else 1.0))

    def key(trial: FrozenTrial) -> float:
        return sum((_score(trial, i) - low) / width for i, low, width in spans)
    return key


def _score(trial: FrozenTrial, index: int) -> float:
    scores = trial.scores
    assert scores is not None  # completed, usable trials
    return float(scores[index])


def _front(done: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """`shoal.trial.pareto_front(done)`, after dropping trials a blockwise sweep shows dominated.

    With three or more objectives `pareto_mask` compares every pair (10,000 trials: 1.6 s); a
    trial dominated by another has a larger score sum, so trials in order of sum need checking
    only against those kept before them and their own block: what is left is the front.
    """
    import numpy as np

    feasible = [t for t in done if t.is_feasible]
    if not feasible or feasible[0].n_objectives <= 2:
        return pareto_front(done)
    scores = np.array([t.scores for t in feasible], dtype=float)
    order = np.argsort(scores.sum(axis=1), kind="stable")
    kept = np.zeros((0, scores.shape[1]))
    survivors: list[int] = []
    for start in range(0, len(order), _BLOCK):
        block = order[start:start + _BLOCK]
        points = scores[block]
        beaten = _dominated(points, kept) | _dominated(points, points)
        fresh = block[~beaten]
        survivors += fresh.tolist()
        kept = np.vstack([kept, scores[fresh]])
    return pareto_front([feasible[i] for i in survivors])


def _dominated(points: np.ndarray, by: np.ndarray) -> np.ndarray:
    """Which of `points` some row of `by` dominates (lower is better in every column)."""
    import numpy as np

    if not len(by):
        return np.zeros(len(points), dtype=bool)
    leq = np.ones((len(points), len(by)), dtype=bool)
    lt = np.zeros((len(points), len(by)), dtype=bool)
    for j in range(points.shape[1]):  # a column at a time: far faster than all/any over a 3-d array
        column, row = by[None, :, j], points[:, None, j]
        leq &= column <= row
        lt |= column < row
    return np.asarray((leq & lt).any(axis=1))


def _value(trial: FrozenTrial, index: int) -> float:
    assert trial.values is not None  # completed, usable trials
    return float(trial.values[index])
