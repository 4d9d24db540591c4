"""The records: trial states, directions, frozen trials."""

from shoal.trial._records import Direction, FrozenTrial, TrialState

__all__ = ["Direction", "FrozenTrial", "TrialState"]
