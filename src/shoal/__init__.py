"""shoal: hyperparameter tuning for deep learning.

>>> import shoal
>>> study = shoal.create_study(direction="minimize", sampler=shoal.samplers.RandomSampler(seed=0))
>>> study.optimize(lambda t: (t.suggest_float("x", -1.0, 1.0)) ** 2, n_trials=20)
>>> study.best_value < 0.1
True
"""

from shoal import samplers, schedulers, storage
from shoal.exceptions import (
    ConfigError,
    NoCompletedTrials,
    SearchSpaceExhausted,
    ShoalError,
    StudyExists,
    StudyNotFound,
    TrialFailed,
    TrialPruned,
)
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
    "RetryPolicy",
    "SearchSpaceExhausted",
    "ShoalError",
    "Space",
    "Study",
    "StudyExists",
    "StudyNotFound",
    "Trial",
    "TrialFailed",
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
