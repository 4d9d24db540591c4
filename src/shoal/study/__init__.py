"""Orchestration: studies, the live trial, and the optimize loop."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shoal.study._budget import StudyBudgetExecutor
from shoal.study._callbacks import MaxTrialsCallback
from shoal.study._constraints import AttrConstraints
from shoal.study._factory import create_study, delete_study, list_studies, load_study
from shoal.study._host import TrialHost
from shoal.study._policies import Heartbeat, RetryPolicy
from shoal.study._study import Study
from shoal.study._trial import Trial

if TYPE_CHECKING:
    from shoal.analysis import param_importances

__all__ = [
    "AttrConstraints",
    "Heartbeat",
    "MaxTrialsCallback",
    "RetryPolicy",
    "Study",
    "StudyBudgetExecutor",
    "Trial",
    "TrialHost",
    "create_study",
    "delete_study",
    "list_studies",
    "load_study",
    "param_importances",
]

if not TYPE_CHECKING:  # hidden from type checkers, so they still flag unknown names

    def __getattr__(name: str) -> Any:
        # param_importances needs numpy: loaded on first use, so `import shoal` stays light.
        if name == "param_importances":
            from shoal.analysis import param_importances

            globals()[name] = param_importances
            return param_importances
        from shoal._optuna_names import STUDY, missing

        raise missing("shoal.study", name, STUDY)

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
