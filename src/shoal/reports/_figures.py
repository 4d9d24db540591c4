"""Which figures a report draws, and each as Plotly JSON: generic over `shoal.visualization.FIGURES`."""

from __future__ import annotations

import inspect
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from shoal.exceptions import ConfigError
from shoal.trial import FrozenTrial, TrialState, feasible_first_ranks
from shoal.visualization import StudySnapshot

__all__ = ["CURVE_TRIALS", "MAX_FIGURE_BYTES", "Drawn", "best_curves", "draw_figures", "ranked", "thin"]

#: A figure whose JSON is larger than this is drawn again from `CURVE_TRIALS` trials (`thin`).
MAX_FIGURE_BYTES = 1_500_000
#: How many trials a thinned figure keeps: the best `CURVE_TRIALS // 10` and an even spread of the rest.
CURVE_TRIALS = 1000


@dataclass(frozen=True)
class Drawn:
    """One figure of the report: its anchor, title, Plotly JSON and what the reader should know."""

    key: str
    title: str
    json: str
    note: str = ""


def ranked(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """Completed trials with scores, best first: feasible before infeasible (by violation), then by
    score (several objectives: non-dominated rank, then the first score), then by number."""
    done = [t for t in trials if t.state is TrialState.COMPLETE and t.is_usable()]
    if done and done[0].n_objectives == 1:  # a sort, not the O(n^2) non-dominated ranking
        return sorted(done, key=lambda t: (t.violation, t.score, t.number))
    ranks = feasible_first_ranks(done)

    def key(pair: tuple[int, FrozenTrial]) -> tuple[int, float, int]:
        rank, trial = pair
        scores = trial.scores or (0.0,)
        return rank, scores[0], trial.number

    return [t for _, t in sorted(zip(ranks, done, strict=True), key=key)]


def thin(study: StudySnapshot, *, keep: int | None = None) -> StudySnapshot:
    """The study with at most `keep` (default `CURVE_TRIALS`) trials: the best tenth of `keep` and an
    even spread of the others, by number, so a curve plot of 10,000 trials stays a few hundred kB."""
    keep = CURVE_TRIALS if keep is None else keep
    trials = study.trials
    if len(trials) <= keep:
        return study
    best = {t.number for t in ranked(trials)[: max(1, keep // 10)]}
    others = [t for t in trials if t.number not in best]
    room = keep - len(best)
    step = len(others) / room
    chosen = best | {others[int(i * step)].number for i in range(room)}
    return replace(study, trials=[t for t in trials if t.number in chosen])


def _takes(function: Callable[..., Any], name: str) -> bool:
    try:
        return name in inspect.signature(function).parameters
    except (TypeError, ValueError):
        return False


def _to_json(figure: Any) -> str:
    import plotly.io

    return str(plotly.io.to_json(figure, validate=False))


def _draw_one(function: Callable[..., Any], study: StudySnapshot, options: dict[str, Any]
              ) -> tuple[str, str, str]:
    """The figure's JSON, drawn again from `thin(study)` when it is too large; the note saying so; and
    the figure's own title (empty without one).

    A plot that takes `max_trials` thins itself as the dashboard's do (at most `CURVE_TRIALS` trials
    drawn, aggregates such as the best-so-far line and the learning curves' band over every trial,
    and an annotation that says so); `thin` is the fallback for the others."""
    if _takes(function, "max_trials"):
        options = {**options, "max_trials": CURVE_TRIALS}
    if _takes(function, "svg"):  # SVG parallel coordinates: the report can embed the cartesian bundle
        options = {**options, "svg": True}
    figure = function(study, **options)
    title = _plain(str(getattr(figure.layout.title, "text", None) or ""))
    text = _to_json(figure)
    if len(text) <= MAX_FIGURE_BYTES:
        return text, "", title
    fewer = thin(study)
    if fewer is study:
        return text, "", title
    small = _to_json(function(fewer, **options))
    if len(small) >= len(text):
        return text, "", title
    note = (f"Drawn from {len(fewer.trials):,} of {len(study.trials):,} trials (the "
            f"{max(1, CURVE_TRIALS // 10)} best and an even spread of the others), to keep this file "
            "small; the summary and the tables cover every trial.")
    return small, note, title


def draw_figures(study: StudySnapshot) -> tuple[list[Drawn], list[str]]:
    """Every applicable figure of the study as Plotly JSON, and a line for each that could not be drawn.

    The kinds come from `shoal.visualization.applicable_figures` (every kind of `FIGURES` where that
    is missing). A figure that needs `objective` is drawn once per objective of a study with several.
    """
    from shoal import visualization

    applicable = getattr(visualization, "applicable_figures", None)
    kinds = list(applicable(study)) if applicable is not None else list(visualization.FIGURES)
    drawn: list[Drawn] = []
    skipped: list[str] = []
    n_objectives = len(study.directions)
    for kind in kinds:
        function = visualization.FIGURES.get(kind)
        if function is None:
            continue
        try:
            text, note, title = _draw_one(function, study, {})
            drawn.append(Drawn(kind, title or _title(function, kind), text, note))
            continue
        except ConfigError as err:
            if n_objectives == 1 or not _takes(function, "objective"):
                skipped.append(f"{kind}: {err}")
                continue
        for index in range(n_objectives):
            try:
                text, note, title = _draw_one(function, study, {"objective": index})
            except ConfigError as err:
                skipped.append(f"{kind} (objective {index}): {err}")
                continue
            drawn.append(Drawn(f"{kind}-{index}", f"{title or _title(function, kind)} — objective {index}",
                               text, note))
    return drawn, skipped


def _plain(title: str) -> str:
    """A Plotly title as plain text: its first line (before `<br>`), tags dropped."""
    return re.sub(r"<[^>]*>", "", re.split(r"<br\s*/?>", title, maxsplit=1, flags=re.IGNORECASE)[0]).strip()


def _title(function: Callable[..., Any], kind: str) -> str:
    """A section title from the plot's name: plot_optimization_history -> 'Optimization history'."""
    name = getattr(function, "__name__", kind).removeprefix("plot_").replace("_", " ")
    return name[:1].upper() + name[1:]


def best_curves(study: StudySnapshot, number: int) -> Drawn:
    """Trial `number`'s curves: `shoal.visualization.plot_trial_curves` where it exists, else its
    reported values and named curves as lines."""
    from shoal import visualization

    plot: Callable[..., Any] | None = getattr(visualization, "plot_trial_curves", None)
    figure = plot(study, number) if plot is not None else _curves_figure(study, number)
    return Drawn("best-trial", f"Trial {number}: curves", _to_json(figure))


def _curves_figure(study: StudySnapshot, number: int) -> Any:
    import plotly.graph_objects as go

    trial = next(t for t in study.trials if t.number == number)
    series = {"reported value": dict(trial.intermediate), **trial.curves}
    figure = go.Figure([go.Scatter(x=sorted(points), y=[points[s] for s in sorted(points)], mode="lines",
                                   name=name) for name, points in series.items() if points])
    figure.update_layout(title=f"Trial {number}", xaxis_title="step", template="plotly_white",
                         showlegend=True)
    return figure
