"""Studies with several objectives and constraints: the front, feasible-first, refusals, storage."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

import shoal
from shoal.exceptions import ConfigError, NoCompletedTrials, StudyNotFound
from shoal.samplers import History, RandomSampler
from shoal.schedulers import MedianStopping
from shoal.space import Space
from shoal.trial import FrozenTrial, TrialState

COMPLETE, FAILED = TrialState.COMPLETE, TrialState.FAILED


class OneObjectiveSampler:
    """A plugin sampler written before several objectives existed: no `multi_objective`."""

    seed = None

    def suggest(self, space: Space, history: History, rng: Any) -> dict[str, Any]:
        return space.sample(rng)


def accuracy_and_cost(trial: shoal.Trial) -> tuple[float, float]:
    x = trial.suggest_float("x", 0.0, 1.0)
    return x, x * x  # accuracy up, cost up: every trial is Pareto-optimal


def test_best_trials_is_the_front_and_best_trial_names_it() -> None:
    study = shoal.create_study(directions=["maximize", "minimize"], sampler=RandomSampler(seed=0))
    for values in [(0.9, 5.0), (0.8, 1.0), (0.7, 2.0), (0.9, 5.0)]:
        trial = study.ask()
        study.tell(trial, values)
    assert study.directions == (shoal.Direction.MAXIMIZE, shoal.Direction.MINIMIZE)
    assert [t.number for t in study.best_trials] == [0, 1, 3]
    assert study.best_trials[0].scores == (-0.9, 5.0)
    with pytest.raises(ConfigError, match=r"^best_trial of study .* must have one objective; the study has "
                                          r"2\. Use study\.best_trials"):
        _ = study.best_trial
    assert "directions=['maximize', 'minimize']" in repr(study)


def test_best_trials_of_one_objective_are_the_ties_for_best() -> None:
    study = shoal.create_study()
    for v in [3.0, 1.0, 1.0]:
        study.tell(study.ask(), v)
    assert [t.number for t in study.best_trials] == [1, 2]
    assert shoal.create_study().best_trials == []


def test_a_wrong_number_of_values_fails_the_trial_not_the_study() -> None:
    study = shoal.create_study(directions=["minimize", "minimize"])
    frozen = study.tell(study.ask(), 1.0)
    assert frozen.state is FAILED
    assert frozen.failure_reason == "objective returned 1 values; the study has 2"


@pytest.mark.parametrize("storage", ["memory", "sqlite"])
def test_constraints_are_recorded_and_only_feasible_trials_can_be_best(tmp_path: Path, storage: str) -> None:
    url = None if storage == "memory" else f"sqlite:///{tmp_path}/c.db"
    study = shoal.create_study("c", storage=url, sampler=RandomSampler(seed=1),
                               constraints_func=lambda t: [t.params["x"] - 0.5])
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=20)
    trials = shoal.load_study("c", storage=url or study.storage).trials
    assert all(t.constraints == (pytest.approx(t.params["x"] - 0.5),) for t in trials)
    feasible = [t for t in trials if t.params["x"] <= 0.5]
    assert 0 < len(feasible) < len(trials)
    assert study.best_trial.number == min(feasible, key=lambda t: (t.value, t.number)).number
    assert study.best_trial.is_feasible


def test_only_infeasible_trials_mean_no_best_and_say_why() -> None:
    study = shoal.create_study(constraints_func=lambda t: [1.0])
    study.optimize(lambda trial: trial.suggest_float("x", 0.0, 1.0), n_trials=3)
    with pytest.raises(NoCompletedTrials, match=r"no feasible trial yet: every completed trial "
                                                r"violates a constraint\. Run more trials, or "
                                                r"loosen constraints_func\."):
        _ = study.best_trial
    assert study.best_trials == []


def test_constraints_shape_the_front_of_several_objectives() -> None:
    study = shoal.create_study(directions=["maximize", "minimize"],
                               constraints_func=lambda t: [t.values[1] - 2.0])  # cost <= 2
    for values in [(0.99, 9.0), (0.9, 2.0), (0.5, 1.0), (0.4, 1.5)]:
        study.tell(study.ask(), values)
    assert [t.number for t in study.best_trials] == [1, 2]


@pytest.mark.parametrize(("func", "reason"), [
    (lambda t: 1 / 0, r"^constraints_func raised ZeroDivisionError: division by zero$"),
    (lambda t: [float("nan")], r"^constraints_func returned \[nan\]; every value must be a finite number$"),
    (lambda t: ["tall"], r"^constraints_func raised ValueError: could not convert string to float"),
])
def test_a_broken_constraints_func_fails_that_trial_with_the_reason(func: Any, reason: str) -> None:
    study = shoal.create_study(constraints_func=func)
    frozen = study.tell(study.ask(), 1.0)
    assert frozen.state is FAILED
    assert frozen.values is None
    assert frozen.failure_reason is not None
    assert re.match(reason, frozen.failure_reason)
    assert study.trials[0].state is FAILED


def test_constraints_func_must_be_callable() -> None:
    with pytest.raises(ConfigError, match=r"^constraints_func of study 'x' must be callable"):
        shoal.create_study("x", constraints_func=[1.0])  # type: ignore[arg-type]


def test_a_one_objective_sampler_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/r.db"
    with pytest.raises(ConfigError, match=r"^sampler of study 'r' must handle 2 objectives; "
                                          r"OneObjectiveSampler ranks trials by one\. "
                                          r"Got OneObjectiveSampler\. "
                                          r"Use RandomSampler, .*AutoSampler .*multi_objective = True"):
        shoal.create_study("r", storage=url, directions=["maximize", "minimize"],
                           sampler=OneObjectiveSampler())
    with pytest.raises(StudyNotFound):
        shoal.load_study("r", storage=url)
    with pytest.raises(ConfigError, match=r"^scheduler of study 'r' must handle 2 objectives; MedianStopping "
                                          r"ranks trials by one\. Got MedianStopping\. Use NoStopping\(\)"):
        shoal.create_study("r", storage=url, directions=["maximize", "minimize"],
                           scheduler=MedianStopping())
    shoal.create_study("r", storage=url, directions=["maximize", "minimize"], sampler=RandomSampler())
    with pytest.raises(ConfigError, match=r"^sampler of study 'r' must handle 2 objectives"):
        shoal.load_study("r", storage=url, sampler=OneObjectiveSampler())
    shoal.create_study("one", storage=url, sampler=OneObjectiveSampler())  # one objective: fine


def test_signs_round_trip_through_sqlite_and_the_reader(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    study = shoal.create_study("s", storage=url, directions=["maximize", "minimize", "maximize"],
                               sampler=RandomSampler(seed=0))
    study.tell(study.ask(), (0.5, 2.0, 3.0))
    reader = shoal.storage.open_reader(url)
    try:
        [record] = reader.list_studies()
        [got] = reader.get_trials(record.study_id).trials
    finally:
        reader.close()
    for trial in (shoal.load_study("s", storage=url).trials[0], got):
        assert trial.signs == (-1.0, 1.0, -1.0)
        assert trial.scores == (-0.5, 2.0, -3.0)


REPRODUCE = """
import json, sys, shoal
sampler = getattr(shoal.samplers, sys.argv[2])(seed=11)
study = shoal.create_study("r", storage=sys.argv[1], sampler=sampler, directions=["maximize", "minimize"],
                           constraints_func=lambda t: [t.values[1] - 0.5])
def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_float("y", 1e-3, 1.0, log=True)
    return x, x * x + y
study.optimize(objective, n_trials=int(sys.argv[3]))
print(json.dumps([[t.params, t.values, t.constraints] for t in study.trials]))
"""


@pytest.mark.parametrize("sampler", ["RandomSampler", "QMCSampler", "CoarseToFineSampler", "TPESampler",
                                     "GPSampler", "AutoSampler"])
def test_seeded_multi_objective_study_is_identical_in_two_processes(tmp_path: Path, sampler: str) -> None:
    runs = []
    for i in range(2):
        out = subprocess.run([sys.executable, "-c", REPRODUCE, f"sqlite:///{tmp_path}/{i}.db", sampler, "15"],
                             capture_output=True, text=True, check=True)
        runs.append(json.loads(out.stdout))
    assert len(runs[0]) == 15
    assert runs[0] == runs[1]


def test_frozen_trial_from_tell_carries_the_signs() -> None:
    study = shoal.create_study(directions=["maximize", "minimize"])
    frozen: FrozenTrial = study.tell(study.ask(), (1.0, 2.0))
    assert (frozen.state, frozen.signs, frozen.scores) == (COMPLETE, (-1.0, 1.0), (-1.0, 2.0))
