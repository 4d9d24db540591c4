"""Percentile stopping: Optuna's PercentilePruner, on lower-is-better scores."""

from __future__ import annotations

import math
from collections.abc import Sequence

from shoal import _validate
from shoal.schedulers._protocol import Decision
from shoal.trial import FrozenTrial, TrialState

__all__ = ["PercentileStopping", "percentile"]


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile with linear interpolation (numpy's default), NaN ignored; NaN if none.

    >>> percentile([4.0, 1.0, 3.0, 2.0], 25.0)
    1.75
    """
    xs = sorted(v for v in values if not math.isnan(v))
    if not xs:
        return math.nan
    h = (len(xs) - 1) * q / 100.0
    lo = math.floor(h)
    hi = min(lo + 1, len(xs) - 1)
    if xs[lo] == xs[hi]:
        return xs[lo]  # also for two infinities, where interpolating gives NaN
    return xs[lo] + (h - lo) * (xs[hi] - xs[lo])


class PercentileStopping:
    """Stop a trial whose best score so far is worse than the given percentile of the scores
    completed trials reported at the same step.

    Optuna's `PercentilePruner` on sign-normalised scores (lower is better), so there is no
    direction: for a maximised objective it is the same as Optuna's rule with 100 - percentile.
    Decided at the trial's latest step s: only completed trials that reported at exactly s
    count; decisions start at `warmup_steps` and come every `interval_steps` (a report that skips
    over a decision step is decided, as in Optuna). Steps are whatever the objective reports
    (epochs, samples seen, seconds). `MedianStopping` compares running averages instead (Vizier's
    rule), so it is not this class with percentile=50.

    Args:
        percentile: In [0, 100]: with 25 a trial goes on only while its best score is within
            the best quarter of the others' at that step; 50 is Optuna's MedianPruner.
        min_trials: Completed trials that reported at the step before anything is stopped there
            (Optuna's n_startup_trials and n_min_trials in one).
        warmup_steps: Steps before this one are never stopped.
        interval_steps: Decide every this many steps after the warm-up.

    >>> from shoal.trial import FrozenTrial, TrialState
    >>> done = [FrozenTrial(i, i, TrialState.COMPLETE, intermediate={0: float(i)}) for i in range(5)]
    >>> rule = PercentileStopping(percentile=25.0, min_trials=5)  # 25th percentile of 0..4: 1.0
    >>> rule.decide(FrozenTrial(5, 5, TrialState.RUNNING, intermediate={0: 1.5}), done)
    <Decision.STOP: 'STOP'>
    >>> rule.decide(FrozenTrial(5, 5, TrialState.RUNNING, intermediate={0: 1.0}), done)
    <Decision.CONTINUE: 'CONTINUE'>
    """

    def __init__(self, *, percentile: float = 25.0, min_trials: int = 5, warmup_steps: int = 0,
                 interval_steps: int = 1) -> None:
        owner = "PercentileStopping"
        self.percentile = _validate.number(percentile, what="percentile", owner=owner, low=0.0,
                                           high=100.0)
        self.min_trials = _validate.integer(min_trials, what="min_trials", owner=owner, low=1)
        self.warmup_steps = _validate.integer(warmup_steps, what="warmup_steps", owner=owner, low=0)
        self.interval_steps = _validate.integer(interval_steps, what="interval_steps", owner=owner,
                                                low=1)

    def _decides_at(self, steps: Sequence[int]) -> bool:
        """True when the latest report is the first at or after a decision step."""
        step = steps[-1]
        if step < self.warmup_steps:
            return False
        due = (step - self.warmup_steps) // self.interval_steps * self.interval_steps \
            + self.warmup_steps
        before = steps[-2] if len(steps) > 1 else -1
        return before < due

    def decide(self, trial: FrozenTrial, history: Sequence[FrozenTrial]) -> Decision:
        scores = trial.intermediate_scores
        if not scores or not self._decides_at(sorted(scores)):
            return Decision.CONTINUE
        step = max(scores)
        seen = [t.intermediate_scores[step] for t in history
                if t.state is TrialState.COMPLETE and t.number != trial.number
                and step in t.intermediate]
        if len(seen) < self.min_trials:
            return Decision.CONTINUE
        mine = [v for v in scores.values() if not math.isnan(v)]
        if not mine:
            return Decision.STOP  # only NaN reported (Optuna prunes it too)
        cut = percentile(seen, self.percentile)
        return Decision.STOP if not math.isnan(cut) and min(mine) > cut else Decision.CONTINUE

    def __repr__(self) -> str:
        return (f"PercentileStopping(percentile={self.percentile}, min_trials={self.min_trials}, "
                f"warmup_steps={self.warmup_steps}, interval_steps={self.interval_steps})")
