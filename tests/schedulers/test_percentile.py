"""PercentileStopping: a hand-computed table, then Optuna's PercentilePruner as a reference."""

from __future__ import annotations

import random
import re
from typing import Any

import optuna
import pytest

from shoal.exceptions import ConfigError
from shoal.schedulers import Decision, PercentileStopping
from shoal.testing import SchedulerSuite
from shoal.trial import FrozenTrial, TrialState

C, S = Decision.CONTINUE, Decision.STOP


def done(number: int, curve: dict[int, float], sign: float = 1.0,
         state: TrialState = TrialState.COMPLETE) -> FrozenTrial:
    return FrozenTrial(number, number, state, intermediate=curve, signs=(sign,),
                       values=(curve[max(curve)],) if state is TrialState.COMPLETE else None)


def running(curve: dict[int, float], sign: float = 1.0) -> FrozenTrial:
    return FrozenTrial(99, 99, TrialState.RUNNING, intermediate=curve, signs=(sign,))


#: Five completed trials; at step 2 they reported 1, 2, 3, 4, 5 (25th percentile 2.0, 50th 3.0);
#: trial 4 stopped reporting after step 2, so step 3 has four values 1, 2, 3, 4 (25th: 1.75).
HISTORY = [done(i, {0: 9.0, 1: 5.0 + i, 2: 1.0 + i, **({3: 1.0 + i} if i < 4 else {})})
           for i in range(5)]

TABLE: list[tuple[dict[str, Any], dict[int, float], list[FrozenTrial], Decision, str]] = [
    ({}, {0: 9.0, 1: 5.0, 2: 2.5}, HISTORY, S, "best 2.5 > 2.0"),
    ({}, {0: 9.0, 1: 5.0, 2: 2.0}, HISTORY, C, "a tie goes on"),
    ({}, {0: 9.0, 1: 1.5, 2: 2.5}, HISTORY, C, "its best so far (1.5 at step 1) counts"),
    ({"percentile": 50.0}, {2: 2.5}, HISTORY, C, "2.5 <= median 3.0"),
    ({"percentile": 50.0}, {2: 3.5}, HISTORY, S, "3.5 > median 3.0"),
    ({}, {3: 2.5}, HISTORY, C, "only 4 completed trials reported at step 3 < min_trials 5"),
    ({"min_trials": 4}, {3: 1.8}, HISTORY, S, "1.8 > 1.75: interpolated between 1 and 2"),
    ({"min_trials": 4}, {3: 1.75}, HISTORY, C, "on the cut"),
    ({}, {4: 9.0}, HISTORY, C, "nobody reported at step 4"),
    ({"warmup_steps": 3}, {2: 9.0}, HISTORY, C, "still warming up"),
    ({"interval_steps": 2}, {0: 9.0, 1: 9.0}, HISTORY, C, "step 1 is not a decision step"),
    ({"interval_steps": 2}, {0: 9.0, 1: 9.0, 2: 9.0}, HISTORY, S, "step 2 is"),
    ({"interval_steps": 2, "min_trials": 4}, {1: 9.0, 3: 9.0}, HISTORY, S,
     "step 3 skipped over decision step 2 after step 1: decided"),
    ({"interval_steps": 2, "min_trials": 4}, {2: 1.0, 3: 9.0}, HISTORY, C,
     "step 2 was decided already; step 3 is not a decision step"),
    ({}, {2: 2.5}, [done(i, {2: 1.0 + i}, state=TrialState.PRUNED) for i in range(5)], C,
     "pruned trials do not count"),
    ({}, {2: -2.5}, [done(i, {2: -1.0 - i}, sign=-1.0) for i in range(5)], S,
     "maximised: values -1..-5 are scores 1..5; 2.5 > 2.0 (Optuna: -2.5 < 75th percentile -2.0)"),
]


@pytest.mark.parametrize(("kwargs", "curve", "history", "expected", "why"), TABLE)
def test_table(kwargs: dict[str, Any], curve: dict[int, float], history: list[FrozenTrial],
               expected: Decision, why: str) -> None:
    sign = history[0].sign
    trial = running(curve, sign)
    assert PercentileStopping(**kwargs).decide(trial, [*history, trial]) is expected, why


def _optuna_prunes(pruner: optuna.pruners.BasePruner, trial: FrozenTrial,
                   history: list[FrozenTrial], direction: str) -> bool:
    study = optuna.create_study(direction=direction)
    for t in history:
        state = optuna.trial.TrialState[t.state.name]
        study.add_trial(optuna.trial.create_trial(
            state=state, value=t.values[0] if t.values else None, params={}, distributions={},
            intermediate_values=dict(t.intermediate)))
    frozen = optuna.trial.create_trial(state=optuna.trial.TrialState.RUNNING,
                                       intermediate_values=dict(trial.intermediate))
    return bool(pruner.prune(study, frozen))


def test_agrees_with_optunas_percentile_pruner() -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = random.Random(17)
    disagreements, stops = [], 0
    for case in range(200):
        percentile, min_trials = rng.choice([10.0, 25.0, 50.0, 90.0]), rng.randint(1, 4)
        warmup, interval = rng.randint(0, 3), rng.randint(1, 3)
        maximise = rng.random() < 0.5
        sign = -1.0 if maximise else 1.0
        history = []
        for i in range(rng.randint(0, 12)):
            steps = list(range(rng.randint(1, 8))) if rng.random() < 0.7 else \
                sorted(rng.sample(range(8), rng.randint(1, 6)))
            state = rng.choice([TrialState.COMPLETE] * 3 + [TrialState.PRUNED])
            curve = {s: sign * round(rng.uniform(-1.0, 1.0), 1) for s in steps}
            history.append(done(i, curve, sign, state))
        steps = list(range(rng.randint(1, 6))) if rng.random() < 0.7 else \
            sorted(rng.sample(range(8), rng.randint(1, 5)))
        trial = running({s: sign * round(rng.uniform(-0.2, 1.5), 1) for s in steps}, sign)  # worse
        ours = PercentileStopping(percentile=percentile, min_trials=min_trials,
                                  warmup_steps=warmup, interval_steps=interval).decide(
            trial, [*history, trial]) is Decision.STOP
        pruner = optuna.pruners.PercentilePruner(percentile, n_startup_trials=0,
                                                 n_warmup_steps=warmup, interval_steps=interval,
                                                 n_min_trials=min_trials)
        theirs = _optuna_prunes(pruner, trial, history, "maximize" if maximise else "minimize")
        stops += ours
        if ours != theirs:
            disagreements.append((case, ours, theirs))
    assert not disagreements
    assert 20 <= stops <= 180, stops  # both outcomes were exercised


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"percentile": 101.0}, "percentile of PercentileStopping must be a finite number in [0.0, "
                            "100.0]. Got 101.0."),
    ({"percentile": "25"}, "percentile of PercentileStopping must be a finite number in [0.0, "
                           "100.0]. Got '25'."),
    ({"min_trials": 0}, "min_trials of PercentileStopping must be an integer >= 1. Got 0."),
    ({"warmup_steps": -1}, "warmup_steps of PercentileStopping must be an integer >= 0. Got -1."),
    ({"interval_steps": 0}, "interval_steps of PercentileStopping must be an integer >= 1. Got 0."),
])
def test_bad_arguments_are_one_sentence(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        PercentileStopping(**kwargs)


def test_repr() -> None:
    assert repr(PercentileStopping(percentile=10, min_trials=2)) == (
        "PercentileStopping(percentile=10.0, min_trials=2, warmup_steps=0, interval_steps=1)")


class TestMedianLikeSuite(SchedulerSuite):
    """The conformance suite at the median (the default instance runs in tests/test_common.py)."""

    def make_scheduler(self) -> PercentileStopping:
        return PercentileStopping(percentile=50.0, min_trials=1)
