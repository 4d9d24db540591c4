"""Export of several objectives: a column per objective and constraint, the Pareto flag, the front summary."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest

import shoal
from shoal.samplers import RandomSampler
from shoal.study import AttrConstraints
from shoal.study._export import FrontSummary, front_summary, trial_rows
from shoal.trial import Direction, FrozenTrial, TrialState

MAX_MIN = (Direction.MAXIMIZE, Direction.MINIMIZE)


def _t(number: int, values: tuple[float, float] | None, constraint: float | None = None,
       state: TrialState = TrialState.COMPLETE) -> FrozenTrial:
    attrs = {"constraints": [constraint]} if constraint is not None else {}
    return FrozenTrial(number, number, state, values=values, signs=(-1.0, 1.0), system_attrs=attrs)


def test_rows_have_values_constraints_feasibility_and_the_pareto_flag() -> None:
    trials = [_t(0, (0.9, 5.0), -1.0), _t(1, (0.8, 1.0), 0.0), _t(2, (0.7, 2.0), -2.0),
              _t(3, (1.0, 0.5), 3.0), _t(4, None, state=TrialState.FAILED)]
    rows = trial_rows(trials, MAX_MIN)
    # By hand: 3 is infeasible; of 0, 1, 2 (max first, min second), 2 is beaten by 1.
    assert [r["pareto"] for r in rows] == [True, True, False, False, False]
    assert [(r["values_0"], r["values_1"]) for r in rows] == [
        (0.9, 5.0), (0.8, 1.0), (0.7, 2.0), (1.0, 0.5), (None, None)]
    assert [r["constraints_0"] for r in rows] == [-1.0, 0.0, -2.0, 3.0, None]
    assert [r["feasible"] for r in rows] == [True, True, True, False, None]
    assert "value" not in rows[0]


def test_rows_of_one_objective_without_constraints_are_unchanged() -> None:
    trial = FrozenTrial(0, 0, TrialState.COMPLETE, params={"lr": 0.1}, values=(0.5,))
    [row] = trial_rows([trial], [Direction.MINIMIZE])
    assert list(row) == ["number", "state", "value", "datetime_start", "datetime_complete", "duration",
                         "params_lr", "fail_reason"]


def test_front_summary_is_hand_computed() -> None:
    trials = [_t(0, (1.0, 4.0)), _t(1, (0.0, 0.0)), _t(2, (0.5, 1.0)), _t(3, (0.2, 3.0)),
              _t(4, (2.0, 0.0), constraint=1.0)]
    summary = front_summary(trials)
    assert [t.number for t in summary.front] == [0, 1, 2]  # 3 is beaten by 2; 4 is infeasible
    # Scores (lower is better): (-1, 4), (0, 0), (-0.5, 1), (-0.2, 3). Box: [-1, 0] x [0, 4].
    # Scaled front: (0, 1), (1, 0), (0.5, 0.25); reference 1.1 in each. Staircase by the first:
    # (0, 1): 0.5 * 0.1; (0.5, 0.25): 0.5 * 0.85; (1, 0): 0.1 * 1.1.
    assert summary.hypervolume == pytest.approx(0.5 * 0.1 + 0.5 * 0.85 + 0.1 * 1.1)
    assert summary.n_box == 4
    assert summary.describe().startswith("front of 3 trials, hypervolume 0.585 (each objective scaled "
                                         "to [0, 1] between the best and worst of the 4 feasible")
    assert summary.describe().endswith("reference point 1.1 in each; at most 1.21)")


def test_front_summary_without_a_feasible_trial() -> None:
    assert front_summary([_t(0, (1.0, 1.0), constraint=2.0)]) == FrontSummary([], 0.0, 0)


def test_trials_dataframe_of_a_study_with_constraints(tmp_path: Path) -> None:
    pytest.importorskip("pandas")
    constraints = AttrConstraints.parse({"cost": "<= 0.5"})
    study = shoal.create_study(directions=["minimize", "minimize"], sampler=RandomSampler(seed=0),
                               constraints_func=constraints, storage=f"sqlite:///{tmp_path}/s.db")

    def objective(trial: shoal.Trial) -> tuple[float, float]:
        x = trial.suggest_float("x", 0.0, 1.0)
        trial.set_user_attr("cost", x)
        return x, 1.0 - x

    study.optimize(objective, n_trials=12)
    frame = study.trials_dataframe()
    assert list(frame["pareto"]) == [t.is_feasible for t in study.trials]  # every feasible one is optimal
    assert list(frame["constraints_0"]) == pytest.approx([t.params["x"] - 0.5 for t in study.trials])
    assert list(frame["feasible"]) == [t.params["x"] <= 0.5 for t in study.trials]
    assert pickle.loads(pickle.dumps(study)).constraints_func == constraints
