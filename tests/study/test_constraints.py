"""AttrConstraints: declarative bounds on user attributes, as a picklable constraints_func."""

from __future__ import annotations

import pickle

import pytest

import shoal
from shoal.exceptions import ConfigError
from shoal.samplers import RandomSampler
from shoal.study import AttrConstraints
from shoal.study._constraints import MissingAttribute
from shoal.trial import FrozenTrial, TrialState


def _trial(**attrs: object) -> FrozenTrial:
    return FrozenTrial(7, 7, TrialState.COMPLETE, values=(1.0,), user_attrs=attrs)


def test_le_gives_attr_minus_bound_and_ge_flips_it() -> None:
    c = AttrConstraints.parse({"latency_ms": "<= 20", "accuracy": ">=0.5", "params_m": 5})
    assert c.bounds == (("latency_ms", "<=", 20.0), ("accuracy", ">=", 0.5), ("params_m", "<=", 5.0))
    assert c.names == ("latency_ms <= 20", "accuracy >= 0.5", "params_m <= 5")
    assert c(_trial(latency_ms=12.0, accuracy=0.75, params_m=7)) == [-8.0, -0.25, 2.0]


def test_a_missing_or_non_numeric_attribute_names_itself() -> None:
    c = AttrConstraints.parse({"latency_ms": "<= 20"})
    with pytest.raises(MissingAttribute, match=r"^user attribute 'latency_ms' of trial 7 must be set for the "
                       r"constraint 'latency_ms <= 20'\. Got none \(its user attributes: other\)\. Call "
                       r"trial\.set_user_attr\('latency_ms', value\) in the objective\.$"):
        c(_trial(other=1))
    with pytest.raises(MissingAttribute, match=r"must be a number .* Got 'fast'\.$"):
        c(_trial(latency_ms="fast"))


@pytest.mark.parametrize(("mapping", "message"), [
    ({"x": "< 3"}, "bound of 'x' of AttrConstraints.parse must be '<= NUMBER' or '>= NUMBER'. Got '< 3'."),
    ({"x": "<= abc"}, "Got '<= abc'."),
    ({"x": "<= inf"}, "Got '<= inf'."),
    ({"x": None}, "Got None."),
    ({"x": True}, "Got True."),
    ({}, "bounds of AttrConstraints.parse must be a mapping with at least one entry. Got {}."),
])
def test_bad_bounds_are_one_sentence(mapping: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError) as err:
        AttrConstraints.parse(mapping)
    assert message in str(err.value)


def test_in_a_study_a_missing_attribute_fails_the_trial_and_the_study_pickles() -> None:
    c = AttrConstraints.parse({"latency_ms": "<= 20"})
    assert pickle.loads(pickle.dumps(c)) == c
    study = shoal.create_study(sampler=RandomSampler(seed=0), constraints_func=c)

    def objective(trial: shoal.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 40.0)
        if trial.number != 1:
            trial.set_user_attr("latency_ms", x)
        return x

    study.optimize(objective, n_trials=6)
    states = [t.state for t in study.trials]
    assert states[1] is TrialState.FAILED
    assert "user attribute 'latency_ms' of trial 1 must be set" in (study.trials[1].failure_reason or "")
    for t in study.trials:
        if t.number != 1:
            assert t.state is TrialState.COMPLETE
            assert t.constraints == pytest.approx((t.params["x"] - 20.0,))
            assert t.is_feasible == (t.params["x"] <= 20.0)
