"""The figures by kind, and which kinds make sense for a study: what the dashboard and report draw."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shoal.trial import TrialState
from shoal.visualization._contour import plot_contour
from shoal.visualization._data import StudyLike, snapshot
from shoal.visualization._figure import param_names
from shoal.visualization._history import plot_optimization_history
from shoal.visualization._importance import plot_param_importances
from shoal.visualization._intermediate import plot_intermediate_values
from shoal.visualization._parallel import plot_parallel_coordinate
from shoal.visualization._pareto import plot_pareto_front
from shoal.visualization._rungs import has_rungs, plot_rungs
from shoal.visualization._slice import plot_slice
from shoal.visualization._timeline import plot_timeline
from shoal.visualization._zoom import plot_zoom_rounds

__all__ = ["FIGURES", "applicable_figures"]

#: kind -> function(study, *, objective=None, params=None, ...) -> Figure, in display order: what
#: the dashboard's /figures/{kind} route and the report draw. Every function accepts `objective`
#: and `params` (unused where they mean nothing), so a caller can pass both to any kind.
FIGURES: dict[str, Callable[..., Any]] = {
    "history": plot_optimization_history,
    "intermediate": plot_intermediate_values,
    "parallel": plot_parallel_coordinate,
    "contour": plot_contour,
    "slice": plot_slice,
    "importance": plot_param_importances,
    "pareto": plot_pareto_front,
    "timeline": plot_timeline,
    "rungs": plot_rungs,
    "zoom": plot_zoom_rounds,
}

# Fewer completed trials than this and the kind has nothing worth drawing yet.
_MIN_COMPLETED = {"parallel": 2, "slice": 2, "contour": 3, "importance": 8}


def applicable_figures(study: StudyLike) -> list[str]:
    """The kinds that make sense for this study now, in display order (`FIGURES`' order).

    history always (an empty study draws an annotation); timeline once a trial started;
    intermediate once a trial reported; parallel and slice from 2 completed trials with a
    parameter, contour from 3 with two parameters, importance from 8 with a parameter; pareto
    with several objectives; rungs once a trial was paused or stopped at a step; zoom once a
    trial records a zoom round.

    >>> from shoal.trial import Direction
    >>> from shoal.visualization import StudySnapshot
    >>> applicable_figures(StudySnapshot("new", (Direction.MINIMIZE, Direction.MAXIMIZE), []))
    ['history', 'pareto']
    """
    snap = snapshot(study)
    done = [t for t in snap.trials if t.state is TrialState.COMPLETE and t.values is not None]
    names = param_names(done)
    wanted = {
        "history": True,
        "intermediate": any(t.intermediate for t in snap.trials),
        "parallel": bool(names),
        "contour": len(names) >= 2,
        "slice": bool(names),
        "importance": bool(names),
        "pareto": len(snap.directions) >= 2,
        "timeline": any(t.datetime_start is not None for t in snap.trials),
        "rungs": has_rungs(snap),
        "zoom": any("zoom_round" in t.system_attrs for t in snap.trials),
    }
    return [kind for kind in FIGURES if wanted[kind] and len(done) >= _MIN_COMPLETED.get(kind, 0)]
