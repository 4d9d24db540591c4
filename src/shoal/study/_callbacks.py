"""Callbacks for Study.optimize that users know from Optuna."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from shoal._validate import integer
from shoal.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from shoal.study._study import Study

__all__ = ["MaxTrialsCallback"]


class MaxTrialsCallback:
    """Stop `optimize` once the study holds `n_trials` trials in `states`, as Optuna's does.

    It counts every trial of the study, from any process or machine, so it caps a study that
    several `optimize` calls share.

    Args:
        n_trials: How many trials in `states` the study may hold.
        states: The states counted (None: every state).

    >>> import shoal
    >>> study = shoal.create_study()
    >>> study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=50,
    ...                callbacks=[shoal.MaxTrialsCallback(3)])
    >>> len(study.trials)
    3
    """

    def __init__(self, n_trials: int, *,
                 states: Iterable[TrialState] | None = (TrialState.COMPLETE,)) -> None:
        self.n_trials = integer(n_trials, what="n_trials", owner="MaxTrialsCallback", low=1)
        self.states = None if states is None else tuple(states)

    def __call__(self, study: Study, trial: FrozenTrial) -> None:
        if len(study.get_trials(self.states)) >= self.n_trials:
            study.stop()

    def __repr__(self) -> str:
        return f"MaxTrialsCallback({self.n_trials}, states={self.states!r})"
