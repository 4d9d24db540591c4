"""Orchestration: studies, the live trial, and the optimize loop."""

from shoal.study._factory import create_study, delete_study, list_studies, load_study
from shoal.study._host import TrialHost
from shoal.study._importance import param_importances
from shoal.study._policies import Heartbeat, RetryPolicy
from shoal.study._study import Study
from shoal.study._trial import Trial

__all__ = [
    "Heartbeat",
    "RetryPolicy",
    "Study",
    "Trial",
    "TrialHost",
    "create_study",
    "delete_study",
    "list_studies",
    "load_study",
    "param_importances",
]
