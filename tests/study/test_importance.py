"""Hyperparameter importance: the parameter that drives the score ranks first; noise ranks near 0."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import shoal
from shoal.exceptions import ConfigError
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


def test_each_objective_has_its_own_importances() -> None:
    study = shoal.create_study(directions=["maximize", "minimize"], sampler=RandomSampler(seed=0))

    def objective(trial: shoal.Trial) -> tuple[float, float]:
        a = trial.suggest_float("a", 0.0, 1.0)
        b = trial.suggest_float("b", 0.0, 1.0)
        return a, b  # the first objective depends on a only, the second on b only

    study.optimize(objective, n_trials=80)
    first = param_importances(study.trials, objective=0)
    second = param_importances(study.trials, objective=1)
    assert list(first) == ["a", "b"]
    assert list(second) == ["b", "a"]
    assert first["a"] > 0.8
    assert first["b"] < 0.1
    assert second["b"] > 0.8
    assert second["a"] < 0.1
    # The direction does not matter to how much a parameter explains: same as explaining -a.
    flipped = [dataclasses.replace(t, signs=(1.0, 1.0)) for t in study.trials]
    assert param_importances(flipped, objective=0) == pytest.approx(first)


def test_several_objectives_need_the_objective_named() -> None:
    study = shoal.create_study(directions=["minimize", "minimize"], sampler=RandomSampler(seed=0))
    study.optimize(lambda t: (t.suggest_float("a", 0, 1), 1.0), n_trials=10)
    with pytest.raises(ConfigError, match=r"^objective of param_importances must be an index in \[0, 1\] "
                       r"for trials with 2 objectives\. Got None\. Pass objective=0"):
        param_importances(study.trials)
    with pytest.raises(ConfigError, match=r"^objective of param_importances must be an integer in \[0, 1\]"):
        param_importances(study.trials, objective=2)
    single = shoal.create_study(sampler=RandomSampler(seed=0))
    single.optimize(lambda t: t.suggest_float("a", 0, 1), n_trials=10)
    assert param_importances(single.trials, objective=0) == param_importances(single.trials)
