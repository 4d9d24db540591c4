"""The records: trial states, directions, frozen trials, and pure functions over them
(best trial, state counts, and for several objectives the Pareto front, ranks and hypervolume)."""

from typing import TYPE_CHECKING

from shoal.trial._hypervolume import hypervolume, hypervolume_contributions
from shoal.trial._pareto import (
    chebyshev,
    crowding_distance,
    dominates,
    feasible_first_ranks,
    non_dominated_ranks,
    normalise,
    pareto_front,
    pareto_mask,
)
from shoal.trial._records import Direction, FrozenTrial, TrialState
from shoal.trial._select import STATE_ORDER, best_trial, count_states, describe_counts

__all__ = ["STATE_ORDER", "Direction", "FrozenTrial", "TrialState", "best_trial", "chebyshev",
           "count_states", "crowding_distance", "describe_counts", "dominates", "feasible_first_ranks",
           "hypervolume", "hypervolume_contributions", "non_dominated_ranks", "normalise",
           "pareto_front", "pareto_mask"]

if not TYPE_CHECKING:  # hidden from type checkers, so they still flag unknown names

    def __getattr__(name: str) -> object:
        # `optuna.trial.Trial` in an annotation fails here, at definition, naming shoal.Trial.
        from shoal._optuna_names import TRIAL, missing

        raise missing("shoal.trial", name, TRIAL)
