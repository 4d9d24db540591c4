"""Issue 15: in define-by-run, parameters first seen in a trial must not share one quantile.

Each new parameter is asked alone, as a one-parameter space, with the trial's history and
generator. Trial 0 of the README's style of objective was a = b = c = 0.627, d = 63.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

import shoal
from shoal.samplers import AutoSampler, GPSampler, QMCSampler, RandomSampler, Sampler, TPESampler


def _objective(trial: Any) -> float:
    a = trial.suggest_float("a", 0.0, 1.0)
    b = trial.suggest_float("b", 0.0, 1.0)
    c = trial.suggest_float("c", 0.0, 1.0)
    d = trial.suggest_int("d", 0, 100)
    return float((a - 0.3) ** 2 + (b - 0.6) ** 2 + c + d / 100)


SAMPLERS = [AutoSampler, TPESampler, GPSampler, QMCSampler, RandomSampler]


@pytest.mark.parametrize("make", SAMPLERS, ids=lambda c: c.__name__)
def test_first_trial_of_a_define_by_run_study_is_off_the_diagonal(make: type) -> None:
    sampler: Sampler = make(seed=0)
    study = shoal.create_study(sampler=sampler)
    study.optimize(_objective, n_trials=1)
    p = study.trials[0].params
    assert len({p["a"], p["b"], p["c"]}) == 3, p
    assert p["d"] not in {round(p[k] * 100) for k in "abc"}, p


@pytest.mark.parametrize("make", SAMPLERS, ids=lambda c: c.__name__)
def test_parallel_first_trials_are_not_correlated(make: type) -> None:
    """As with n_jobs workers: every trial is asked before any is told, each parameter alone."""
    study = shoal.create_study(sampler=make(seed=1))
    trials = [study.ask() for _ in range(16)]
    rows = np.array([[t.suggest_float(n, 0.0, 1.0) for n in "abc"] for t in trials])
    for t in trials:
        study.tell(t, 1.0)
    corr = np.corrcoef(rows.T)
    off_diagonal = corr[~np.eye(3, dtype=bool)]
    assert np.all(np.abs(off_diagonal) < 0.8), corr  # on main: 1.0 (a = b = c in every trial)


def test_first_trial_of_a_new_branch_is_off_the_diagonal() -> None:
    study = shoal.create_study(sampler=AutoSampler(seed=0))

    def objective(trial: Any) -> float:
        if trial.number < 6:
            return trial.suggest_float("x", 0.0, 1.0)
        return trial.suggest_float("p", 0.0, 1.0) + trial.suggest_float("q", 0.0, 1.0)

    study.optimize(objective, n_trials=7)
    branch = study.trials[6].params
    assert branch["p"] != branch["q"], branch
