"""Hyperparameter importance: the parameter that drives the score ranks first; noise ranks near 0."""

from __future__ import annotations

import numpy as np

import shoal
from shoal.samplers import RandomSampler
from shoal.study import param_importances


def test_the_parameter_that_matters_ranks_first() -> None:
    study = shoal.create_study(sampler=RandomSampler(seed=0))

    def objective(trial: shoal.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
        trial.suggest_int("units", 32, 512, log=True)  # no effect
        act = trial.suggest_categorical("act", ["relu", "tanh"])
        return (np.log10(lr) + 2.0) ** 2 + (0.3 if act == "tanh" else 0.0)

    study.optimize(objective, n_trials=120)
    importance = param_importances(study.trials)
    assert next(iter(importance)) == "lr"
    assert importance["lr"] > 0.6
    assert importance["units"] < 0.1


def test_too_few_trials_give_no_estimate() -> None:
    study = shoal.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=5)
    assert param_importances(study.trials) == {}


def test_inactive_conditional_parameters_are_skipped_not_crashing() -> None:
    study = shoal.create_study(sampler=RandomSampler(seed=1))

    def objective(trial: shoal.Trial) -> float:
        opt = trial.suggest_categorical("optimizer", ["sgd", "adam"])
        if opt == "sgd":
            return trial.suggest_float("momentum", 0.9, 0.999, scale="one_minus_log")
        return 0.5

    study.optimize(objective, n_trials=60)
    importance = param_importances(study.trials)
    assert set(importance) <= {"optimizer", "momentum"}
    assert all(0.0 <= v <= 1.0 for v in importance.values())
