"""Plots of a study, as Plotly figures: for notebooks, the dashboard and `shoal report` alike.

Every function takes a `shoal.Study` or a `StudySnapshot` and returns a `plotly.graph_objects.Figure`;
the dashboard serves the same figures as JSON, and the report embeds them, so a plot looks the
same everywhere. Needs the `dashboard` extra (`pip install 'shoal[dashboard]'`) for plotly.
`FIGURES` maps each kind to its function, `applicable_figures(study)` says which kinds make
sense for a study; `plot_trial_curves(study, number)` draws one trial. `plotly_js_source` gives
the Plotly.js that draws them offline: a vendored 2-D bundle (1.5 MB) when `needs_full_plotly`
says the figures allow it, else the plotly package's full one (4.8 MB).
"""

from __future__ import annotations

from shoal.visualization._bundle import LITE_TRACES, needs_full_plotly, plotly_js_source, plotly_js_version
from shoal.visualization._contour import plot_contour
from shoal.visualization._curves import plot_trial_curves
from shoal.visualization._data import StudyLike, StudySnapshot, snapshot
from shoal.visualization._history import plot_optimization_history
from shoal.visualization._importance import plot_param_importances
from shoal.visualization._intermediate import plot_intermediate_values
from shoal.visualization._parallel import plot_parallel_coordinate
from shoal.visualization._pareto import plot_pareto_front
from shoal.visualization._registry import FIGURES, applicable_figures
from shoal.visualization._rungs import plot_rungs
from shoal.visualization._slice import plot_slice
from shoal.visualization._table import json_safe, study_summary, trial_record, trials_csv
from shoal.visualization._timeline import plot_timeline
from shoal.visualization._zoom import plot_zoom_rounds

__all__ = ["FIGURES", "LITE_TRACES", "StudyLike", "StudySnapshot", "applicable_figures", "json_safe",
           "needs_full_plotly", "plot_contour", "plot_intermediate_values", "plot_optimization_history",
           "plot_parallel_coordinate", "plot_param_importances", "plot_pareto_front", "plot_rungs",
           "plot_slice", "plot_timeline", "plot_trial_curves", "plot_zoom_rounds", "plotly_js_source",
           "plotly_js_version", "snapshot", "study_summary", "trial_record", "trials_csv"]
