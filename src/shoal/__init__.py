"""shoal: hyperparameter tuning for deep learning.

>>> import shoal
>>> study = shoal.create_study(direction="minimize", sampler=shoal.samplers.RandomSampler(seed=0))
>>> study.optimize(lambda t: (t.suggest_float("x", -1.0, 1.0)) ** 2, n_trials=20)
>>> study.best_value < 0.1
True

Optuna's names that shoal spells differently fail at once, naming shoal's equivalent
(`shoal.pruners`, `shoal.distributions`, `shoal.logging`, ...): see docs/coming-from-optuna.md.
"""

import typing as _typing

from shoal import samplers, schedulers, storage
from shoal.exceptions import (
    ConfigError,
    NoCompletedTrials,
    SearchSpaceExhausted,
    ShoalError,
    StudyExists,
    StudyNotFound,
    TrialFailed,
    TrialPaused,
    TrialPruned,
)
from shoal.executors import Resources
from shoal.space import Categorical, Fixed, Float, Int, Space
from shoal.study import (
    Heartbeat,
    MaxTrialsCallback,
    RetryPolicy,
    Study,
    Trial,
    create_study,
    delete_study,
    list_studies,
    load_study,
)
from shoal.trial import Direction, FrozenTrial, TrialState

__version__ = "0.1.0"

__all__ = [
    "Categorical",
    "ConfigError",
    "Direction",
    "Fixed",
    "Float",
    "FrozenTrial",
    "Heartbeat",
    "Int",
    "MaxTrialsCallback",
    "NoCompletedTrials",
    "Resources",
    "RetryPolicy",
    "SearchSpaceExhausted",
    "ShoalError",
    "Space",
    "Study",
    "StudyExists",
    "StudyNotFound",
    "Trial",
    "TrialFailed",
    "TrialPaused",
    "TrialPruned",
    "TrialState",
    "__version__",
    "create_study",
    "delete_study",
    "list_studies",
    "load_study",
    "samplers",
    "schedulers",
    "storage",
]

if not _typing.TYPE_CHECKING:  # hidden from type checkers, so they still flag unknown names

    def __getattr__(name: str) -> object:
        # PEP 562: only names not found above get here; Optuna's get a line naming shoal's equivalent.
        if name in _LAZY_MODULES:  # plotly and scikit-learn load only when plots are asked for
            import importlib

            return importlib.import_module(f"shoal.{name}")
        from shoal._optuna_names import MODULES, missing

        raise missing("shoal", name, MODULES)

_LAZY_MODULES = frozenset({"analysis", "visualization"})

del _typing
