"""The records: trial states, directions, frozen trials, and pure functions over them."""

from shoal.trial._records import Direction, FrozenTrial, TrialState
from shoal.trial._select import STATE_ORDER, best_trial, count_states, describe_counts

__all__ = ["STATE_ORDER", "Direction", "FrozenTrial", "TrialState", "best_trial", "count_states",
           "describe_counts"]
