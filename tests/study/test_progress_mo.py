"""optimize(show_progress_bar=True) on several objectives: the front size and a hypervolume, never a crash."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import shoal
from shoal.samplers import RandomSampler
from shoal.study._export import FRONT_REFERENCE, RunningFront
from shoal.trial import FrozenTrial, TrialState, hypervolume, pareto_front


def _two(trial: shoal.Trial) -> tuple[float, float]:
    x = trial.suggest_float("x", 0.0, 1.0)
    return x, x * x


def test_progress_bar_shows_the_front_size_and_does_not_crash(capsys: pytest.CaptureFixture[str]) -> None:
    study = shoal.create_study(directions=["maximize", "minimize"], sampler=RandomSampler(seed=0))
    study.optimize(_two, n_trials=8, show_progress_bar=True)  # raised `value ... must be single` once
    out = capsys.readouterr().out
    assert len(study.trials) == 8
    assert "8/8" in out
    assert "front of 8, hypervolume" in out  # maximise x, minimise x^2: every trial is on the front
    assert "best " not in out


def test_progress_bar_with_every_trial_infeasible_shows_no_front(capsys: pytest.CaptureFixture[str],
                                                                  caplog: pytest.LogCaptureFixture) -> None:
    study = shoal.create_study(directions=["maximize", "minimize"], sampler=RandomSampler(seed=0),
                               constraints_func=lambda t: [1.0])
    study.optimize(_two, n_trials=4, show_progress_bar=True)
    captured = capsys.readouterr()
    assert "4/4" in captured.out
    assert "front of" not in captured.out
    assert study.best_trials == []
    assert caplog.text.count("violating its constraints [1.0] (so not on the front)") == 4


def test_progress_bar_counts_the_front_of_trials_before_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    study = shoal.create_study(directions=["minimize", "minimize"], sampler=RandomSampler(seed=1))
    study.optimize(lambda t: (t.suggest_float("x", 0, 1), 0.5), n_trials=5)
    study.optimize(lambda t: (2.0, 2.0), n_trials=1, show_progress_bar=True)  # dominated: front stays 1
    assert "front of 1" in capsys.readouterr().out


def _trial(number: int, scores: tuple[float, ...], feasible: bool = True) -> FrozenTrial:
    attrs = {"constraints": [0.0 if feasible else 1.0]}
    return FrozenTrial(number, number, TrialState.COMPLETE, values=scores, signs=(1.0,) * len(scores),
                       system_attrs=attrs)


points = st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6), st.booleans()), min_size=1, max_size=25)


@settings(max_examples=150, deadline=None)
@given(points)
def test_running_front_matches_pareto_front_and_its_hypervolume_never_falls(
        rows: list[tuple[int, int, bool]]) -> None:
    running = RunningFront()
    trials: list[FrozenTrial] = []
    last = 0.0
    for i, (a, b, ok) in enumerate(rows):
        trials.append(_trial(i, (float(a), float(b)), ok))
        running.add(trials[-1])
        front = pareto_front(trials)
        assert running.size == len(front)
        volume = running.hypervolume
        feasible = [t.scores for t in trials if t.is_feasible]
        spans = all(len({p[j] for p in feasible if p is not None}) > 1 for j in range(2))
        if volume is None:
            assert not spans or running.fixed_at is None
            continue
        assert volume >= last - 1e-12  # the box is fixed: a new trial can only add volume
        last = volume
        # Brute force: the box is the range of the feasible trials up to the one that fixed it.
        fixed = [t.scores for t in trials[:running.fixed_at + 1 if running.fixed_at is not None else 0]
                 if t.is_feasible and t.scores is not None]
        lo = [min(p[j] for p in fixed) for j in range(2)]
        hi = [max(p[j] for p in fixed) for j in range(2)]
        scaled = [[(t.values[j] - lo[j]) / (hi[j] - lo[j]) for j in range(2)]  # type: ignore[index]
                  for t in front]
        assert volume == pytest.approx(hypervolume(scaled, [FRONT_REFERENCE] * 2))


def test_running_front_hand_computed() -> None:
    running = RunningFront()
    running.add(_trial(0, (4.0, 0.0)))
    assert (running.size, running.hypervolume) == (1, None)  # one point spans no box yet
    running.add(_trial(1, (0.0, 4.0)))
    # Box [0, 4] x [0, 4], so the points are (1, 0) and (0, 1), reference 1.1: the staircase is
    # 1.1 * 0.1 (from (0, 1)) + 0.1 * 1.0 (from (1, 0), below y = 1) = 0.21
    assert running.hypervolume == pytest.approx(0.21)
    running.add(_trial(2, (2.0, 2.0)))  # (0.5, 0.5): adds 0.5 * 0.5 = 0.25
    assert running.hypervolume == pytest.approx(0.46)
    running.add(_trial(3, (3.0, 3.0)))  # dominated by trial 2: nothing changes
    running.add(_trial(4, (-4.0, -4.0), feasible=False))  # infeasible: never on the front
    assert (running.size, running.hypervolume) == (3, pytest.approx(0.46))
    running.add(_trial(5, (-4.0, 2.0)))  # (-1, 0.5): beyond the box's ideal, so more than 1.21 is possible
    assert running.size == 2  # it dominates trials 1 and 2
    # staircase from (-1, 0.5): 2.1 * 0.6; then (1, 0) below y = 0.5: 0.1 * 0.5
    assert running.hypervolume == pytest.approx(2.1 * 0.6 + 0.1 * 0.5)
    assert math.isfinite(running.hypervolume or math.nan)
