"""Plots of a study, as Plotly figures: for notebooks, the dashboard and `shoal report` alike.

Every function takes a `shoal.Study` or a `StudySnapshot` and returns a `plotly.graph_objects.Figure`;
the dashboard serves the same figures as JSON, and the report embeds them, so a plot looks the
same everywhere. Needs the `dashboard` extra (`pip install 'shoal[dashboard]'`) for plotly.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shoal.visualization._data import StudyLike, StudySnapshot, snapshot
from shoal.visualization._history import plot_optimization_history
from shoal.visualization._table import json_safe, study_summary, trial_record, trials_csv

__all__ = ["FIGURES", "StudyLike", "StudySnapshot", "json_safe", "plot_optimization_history", "snapshot",
           "study_summary", "trial_record", "trials_csv"]

# kind -> function(study, **options) -> Figure: what the dashboard's /figures/{kind} route and the
# report draw. CONTRACT (issue 18): the visualization brief adds the other plots here.
FIGURES: dict[str, Callable[..., Any]] = {
    "history": plot_optimization_history,
}
