"""The records: trial states, directions, frozen trials, and pure functions over them."""

from typing import TYPE_CHECKING

from shoal.trial._records import Direction, FrozenTrial, TrialState
from shoal.trial._select import STATE_ORDER, best_trial, count_states, describe_counts

__all__ = ["STATE_ORDER", "Direction", "FrozenTrial", "TrialState", "best_trial", "count_states",
           "describe_counts"]

if not TYPE_CHECKING:  # hidden from type checkers, so they still flag unknown names

    def __getattr__(name: str) -> object:
        # `optuna.trial.Trial` in an annotation fails here, at definition, naming shoal.Trial.
        from shoal._optuna_names import TRIAL, missing

        raise missing("shoal.trial", name, TRIAL)
