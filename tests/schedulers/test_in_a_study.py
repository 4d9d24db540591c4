"""The promotion schedulers through a real Study: pause, checkpoint, resume, complete."""

from __future__ import annotations

from pathlib import Path

import pytest

import shoal
from shoal.schedulers import ASHA, Hyperband, SuccessiveHalving
from shoal.trial import FrozenTrial, TrialState

MAX = 9


@pytest.fixture(autouse=True)
def artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOAL_ARTIFACTS", str(tmp_path / "artifacts"))
    return tmp_path / "artifacts"


def objective(trial: shoal.Trial) -> float:
    """Reports x + 1 / (step + 1) at steps 0..MAX, continuing from its own checkpoint."""
    x = trial.suggest_float("x", 0.0, 1.0)
    start = 0 if trial.resume_step is None else trial.resume_step + 1
    for step in range(start, MAX + 1):
        trial.report(x + 1.0 / (step + 1), step)
        with trial.checkpoint(step) as folder:
            (folder / "step.txt").write_text(str(step))
        if trial.should_pause():
            raise shoal.TrialPaused()
    return x


def reached(trials: list[FrozenTrial], rung: int) -> list[int]:
    return sorted(t.number for t in trials if t.last_step is not None and t.last_step >= rung)


def test_asha_promotes_through_a_study() -> None:
    study = shoal.create_study(scheduler=ASHA(max_resource=MAX, mode="promotion"),
                               sampler=shoal.samplers.RandomSampler(seed=1))
    study.optimize(objective, n_trials=27)
    trials = study.trials
    assert len(trials) == 27  # resumes are the same records and use no budget
    for t in trials:
        assert sorted(t.intermediate) == list(range(t.last_step + 1))  # no step lost or redone
        assert t.state in (TrialState.PAUSED, TrialState.COMPLETE)
    on_1, on_3, on_9 = reached(trials, 1), reached(trials, 3), reached(trials, 9)
    assert len(on_1) == 27
    # Serial ASHA ends only when nothing is promotable: the final top 9 of rung 1 and the top 3
    # of rung 3 all went on (scores are x + const, so the best x lead at every rung).
    by_x = sorted(trials, key=lambda t: t.params["x"])
    assert {t.number for t in by_x[:9]} <= set(on_3)
    assert {t.number for t in by_x[:3]} <= set(on_9)
    assert by_x[0].state is TrialState.COMPLETE
    assert study.next_job() is None


def test_hyperband_promotes_within_brackets() -> None:
    hb = Hyperband(max_resource=MAX, mode="promotion")
    study = shoal.create_study(scheduler=hb, sampler=shoal.samplers.RandomSampler(seed=2))
    study.optimize(objective, n_trials=30)
    trials = study.trials
    assert len(trials) == 30
    for t in trials:
        if hb.bracket_of(t.number) == 0:  # no rungs: runs to the end at once
            assert t.state is TrialState.COMPLETE
            assert t.resumes == 0
    assert study.next_job() is None


def test_successive_halving_runs_whole_brackets() -> None:
    study = shoal.create_study(scheduler=SuccessiveHalving(max_resource=MAX, n_configs=9),
                               sampler=shoal.samplers.RandomSampler(seed=3))
    study.optimize(objective, n_trials=18)
    trials = study.trials
    for bracket in (trials[:9], trials[9:]):
        by_x = sorted(bracket, key=lambda t: t.params["x"])
        assert [len(reached(bracket, r)) for r in (1, 3, MAX)] == [9, 3, 1]
        assert set(reached(bracket, 3)) == {t.number for t in by_x[:3]}
        assert by_x[0].state is TrialState.COMPLETE
        assert all(t.state is TrialState.PAUSED for t in by_x[1:])


def two_objectives(trial: shoal.Trial) -> tuple[float, float]:
    """Objective 0 (minimised) and objective 1 (maximised) both grow with x: every trial is on the
    front, so crowding distance decides the rungs. Both are reported at every step."""
    x = trial.suggest_float("x", 0.0, 1.0)
    start = 0 if trial.resume_step is None else trial.resume_step + 1
    for step in range(start, MAX + 1):
        trial.report(x * x, step, name="objective_1")  # before the value: one write per step
        trial.report(x + 1.0 / (step + 1), step)
        with trial.checkpoint(step) as folder:
            (folder / "step.txt").write_text(str(step))
        if trial.should_pause():
            raise shoal.TrialPaused()
    return x, x * x


def test_asha_ranks_several_objectives_in_a_study() -> None:
    study = shoal.create_study(directions=["minimize", "maximize"],
                               scheduler=ASHA(max_resource=MAX, mode="promotion"),
                               sampler=shoal.samplers.RandomSampler(seed=4))
    study.optimize(two_objectives, n_trials=18)
    trials = study.trials
    assert len(trials) == 18
    resumed = [t for t in trials if t.resumes]
    assert len(resumed) >= 18 // 3
    by_x = sorted(trials, key=lambda t: t.params["x"])
    assert {by_x[0].number, by_x[-1].number} <= set(reached(trials, 3))  # infinite crowding
    for t in trials:  # every step kept its objective_1 point, across pauses
        assert sorted(t.curves["objective_1"]) == sorted(t.intermediate)
    assert study.next_job() is None


def rereporting(trial: shoal.Trial) -> float:
    """As the PyTorch harness does: a resumed trial reports its restored steps again first, and
    asks the scheduler after every report."""
    x = trial.suggest_float("x", 0.0, 1.0)
    start = 0 if trial.resume_step is None else trial.resume_step + 1
    for step in range(start):  # restored: reported again, the decision asked again
        trial.report(x + 1.0 / (step + 1), step)
        if trial.should_pause():
            raise shoal.TrialPaused()
    return objective(trial)


@pytest.mark.parametrize("scheduler", [ASHA(max_resource=MAX, mode="promotion"),
                                       SuccessiveHalving(max_resource=MAX, n_configs=9)])
def test_a_resumed_trial_that_reports_its_rung_again_is_not_paused_again(scheduler: object) -> None:
    study = shoal.create_study(scheduler=scheduler, sampler=shoal.samplers.RandomSampler(seed=1))
    study.optimize(rereporting, n_trials=9)
    trials = study.trials
    by_x = sorted(trials, key=lambda t: t.params["x"])
    assert by_x[0].state is TrialState.COMPLETE  # promoted through every rung, not stuck
    assert len(reached(trials, 3)) == 3
    for t in trials:
        assert t.resumes == len({e["step"] for e in t.lineage if e["event"] == "resumed"})
