"""Analysis of finished studies: pure functions over trials, shared by the CLI, plots, dashboard and reports.

Nothing here imports storage, study, executors or torch: it reads `FrozenTrial`s and parameter
definitions only, so the dashboard (which reads storage through its read-only view) and the
Python plotting functions compute exactly the same numbers.
"""

from __future__ import annotations

from shoal.analysis._eta import param_importances
from shoal.analysis._importances import Importances, importances

__all__ = ["Importances", "importances", "param_importances"]
