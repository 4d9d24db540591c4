"""The median stopping rule (Golovin et al., 2017, "Google Vizier")."""

from __future__ import annotations

import statistics
from collections.abc import Sequence

from shoal import _validate
from shoal.schedulers._protocol import Decision
from shoal.trial import FrozenTrial, TrialState

__all__ = ["MedianStopping"]


class MedianStopping:
    """Stop a trial whose best score so far is worse than the median of the other trials' running
    averages at the same step.

    A trial's running average at step s is the mean of the scores it reported at steps <= s; only
    completed trials that reached step s count. Scores are lower-is-better, so the rule needs no
    direction.

    Args:
        min_trials: Completed trials needed at a step before anything is stopped there.
        warmup_steps: Steps before this one are never stopped (early curves are noisy).
        interval_steps: Only decide every this many steps.

    >>> from shoal.trial import FrozenTrial, TrialState
    >>> done = [FrozenTrial(i, i, TrialState.COMPLETE, intermediate={0: 1.0, 1: 0.5})
    ...         for i in range(3)]
    >>> bad = FrozenTrial(3, 3, TrialState.RUNNING, intermediate={0: 2.0, 1: 1.5})
    >>> MedianStopping(min_trials=3).decide(bad, done)
    <Decision.STOP: 'STOP'>
    """

    def __init__(self, *, min_trials: int = 5, warmup_steps: int = 0, interval_steps: int = 1) -> None:
        owner = "MedianStopping"
        self.min_trials = _validate.integer(min_trials, what="min_trials", owner=owner, low=1)
        self.warmup_steps = _validate.integer(warmup_steps, what="warmup_steps", owner=owner, low=0)
        self.interval_steps = _validate.integer(interval_steps, what="interval_steps", owner=owner,
                                                low=1)

    def decide(self, trial: FrozenTrial, history: Sequence[FrozenTrial]) -> Decision:
        scores = trial.intermediate_scores
        if not scores:
            return Decision.CONTINUE
        step = max(scores)
        if step < self.warmup_steps or (step - self.warmup_steps) % self.interval_steps:
            return Decision.CONTINUE
        averages = []
        for other in history:
            if other.state is not TrialState.COMPLETE or other.number == trial.number:
                continue
            seen = [v for s, v in other.intermediate_scores.items() if s <= step]
            if seen and other.last_step is not None and other.last_step >= step:
                averages.append(sum(seen) / len(seen))
        if len(averages) < self.min_trials:
            return Decision.CONTINUE
        best = min(v for s, v in scores.items() if s <= step)
        return Decision.STOP if best > statistics.median(averages) else Decision.CONTINUE

    def __repr__(self) -> str:
        return (f"MedianStopping(min_trials={self.min_trials}, warmup_steps={self.warmup_steps}, "
                f"interval_steps={self.interval_steps})")
