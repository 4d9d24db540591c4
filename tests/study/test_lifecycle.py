"""Pause, resume and fork through a Study: the records, the checkpoints, the optimize loop."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest

import shoal
from shoal.exceptions import ConfigError
from shoal.schedulers import Decision, Suggestion
from shoal.storage import Retention
from shoal.trial import FrozenTrial, TrialState


@pytest.fixture(autouse=True)
def artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOAL_ARTIFACTS", str(tmp_path / "artifacts"))
    return tmp_path / "artifacts"


class PauseAtTwo:
    """Pause every trial at step 2 once; resume paused trials in number order, best first."""

    rung_steps = frozenset({2})

    def decide(self, trial: FrozenTrial, history: Sequence[FrozenTrial]) -> Decision:
        return Decision.PAUSE if trial.last_step == 2 and not trial.resumes else Decision.CONTINUE

    def next_job(self, history: Sequence[FrozenTrial]) -> Suggestion | None:
        paused = [t for t in history if t.state is TrialState.PAUSED]
        return Suggestion(resume=paused[0].number) if paused else None


def counting(trial: shoal.Trial) -> float:
    """Counts steps 0..5 from its checkpoint: the stored count proves where it resumed."""
    x = trial.suggest_float("x", 0.0, 1.0)
    start, count = 0, 0
    if trial.resume_checkpoint is not None:
        count = int((trial.resume_checkpoint / "count.txt").read_text())
        start = trial.resume_step + 1  # type: ignore[operator]
    for step in range(start, 6):
        count += 1
        trial.report(x + step, step)
        with trial.checkpoint(step) as folder:
            (folder / "count.txt").write_text(str(count))
        if trial.should_pause():
            raise shoal.TrialPaused()
    return x + count


def test_a_paused_trial_resumes_from_its_checkpoint_as_the_same_record() -> None:
    study = shoal.create_study(scheduler=PauseAtTwo(), sampler=shoal.samplers.RandomSampler(seed=0))
    study.optimize(counting, n_trials=3)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3  # resumes do not use n_trials
    for t in trials:
        assert t.values == (t.params["x"] + 6,)  # six steps counted once each: no step redone
        assert sorted(t.intermediate) == [0, 1, 2, 3, 4, 5]
        assert [e["event"] for e in t.lineage] == ["paused", "resumed"]
        assert t.lineage[0]["step"] == 2
        assert t.lineage[1]["step"] == 2
        assert t.resumes == 1


def test_retention_keeps_newest_best_and_rungs(artifacts: Path) -> None:
    study = shoal.create_study(scheduler=PauseAtTwo(), retention=Retention(keep_last=1),
                               direction="maximize")
    study.optimize(counting, n_trials=1)
    trial = study.trials[0]
    folder = artifacts / study.name / "trial-0"
    kept = sorted(p.name for p in folder.iterdir())
    # newest (5) is also the best (values rise); the rung (2) stays.
    assert kept == ["step-2", "step-5"]
    assert trial.system_attrs["checkpoints"]["steps"] == [2, 5]
    assert trial.system_attrs["checkpoints"]["bytes"] == 2


def test_ask_and_tell_pause_then_resume_by_hand() -> None:
    study = shoal.create_study()
    trial = study.ask()
    trial.report(0.5, 0)
    with trial.checkpoint(0) as folder:
        (folder / "w").write_text("0.5")
    paused = study.tell(trial, state=TrialState.PAUSED)
    assert paused.state is TrialState.PAUSED
    assert paused.lineage[-1]["event"] == "paused"
    again = study.resume(trial.number)
    assert again is not None
    assert again.number == trial.number
    assert again.resume_step == 0
    assert again.resume_checkpoint is not None
    assert (again.resume_checkpoint / "w").read_text() == "0.5"
    assert study.resume(trial.number) is None  # RUNNING now: nothing to resume
    study.tell(again, 0.25)
    assert study.trials[0].state is TrialState.COMPLETE


def test_fork_starts_from_the_parents_step_with_changed_params(artifacts: Path) -> None:
    study = shoal.create_study()
    parent = study.ask()
    lr = parent.suggest_float("lr", 1e-4, 1.0, log=True)
    for step in range(4):
        parent.report(1.0 / (step + 1), step)
        with parent.checkpoint(step) as folder:
            (folder / "w").write_text(f"weights after {step}")
    study.tell(parent, 0.25)
    child_number = study.fork(parent.number, step=2, params={"lr": lr * 2})
    child = study.ask()
    assert child.number == child_number
    assert child.params["lr"] == lr * 2
    assert child.resume_step == 2
    assert child.start_step == 3
    assert (child.resume_checkpoint / "w").read_text() == "weights after 2"  # type: ignore[operator]
    record = study.trials[child_number]
    assert record.parent == parent.number
    assert record.forked_from == (parent.number, 2)
    assert record.lineage[0]["changed"] == {"lr": [lr, lr * 2]}
    # The start point is the fork's own: deleting the parent's folder does not lose it.
    import shutil

    shutil.rmtree(artifacts / study.name / "trial-0")
    assert (child.resume_checkpoint / "w").read_text() == "weights after 2"  # type: ignore[operator]


def test_fork_takes_the_newest_kept_step_before_the_one_asked() -> None:
    study = shoal.create_study()
    parent = study.ask()
    parent.suggest_float("lr", 0.1, 1.0)
    with parent.checkpoint(4) as folder:
        (folder / "w").write_text("4")
    study.tell(parent, 1.0)
    child = study.fork(0, step=7, params={})
    assert study.trials[child].forked_from == (0, 4)


def test_fork_refuses_a_value_outside_the_declared_space() -> None:
    study = shoal.create_study(space={"lr": shoal.Float(0.01, 0.1)})
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(ConfigError, match="forked parameter 'lr'"):
        study.fork(0, step=None, params={"lr": 5.0})


def test_a_new_trial_never_resumes_leftovers_of_an_earlier_study(artifacts: Path) -> None:
    first = shoal.create_study("same")
    trial = first.ask()
    with trial.checkpoint(0) as folder:
        (folder / "w").write_text("old")
    first.tell(trial, 1.0)
    second = shoal.create_study("same")  # another in-memory study with the same name
    fresh = second.ask()
    assert fresh.resume_step is None
    assert fresh.resume_checkpoint is None
    assert not (artifacts / "same" / "trial-0").exists()


def test_checkpoint_needs_a_study_host() -> None:
    import numpy as np

    from shoal.study import Trial

    class Host:  # a host that is no Study: it is never called by what this test does
        pass

    trial = Trial(host=Host(), frozen=FrozenTrial(0, 0, TrialState.RUNNING),  # type: ignore[arg-type]
                  rng=np.random.default_rng(0))
    assert trial.resume_step is None
    assert trial.resume_checkpoint is None
    with pytest.raises(ConfigError, match="must come from a Study"), trial.checkpoint(0):
        pass


def test_a_fork_without_a_parent_checkpoint_starts_from_scratch() -> None:
    study = shoal.create_study()
    parent = study.ask()
    parent.suggest_float("lr", 0.1, 1.0)
    study.tell(parent, 1.0)
    number = study.fork(0, step=5, params={"lr": 0.5})
    record = study.trials[number]
    assert record.forked_from == (0, None)
    assert record.start_step == 0
    child = study.ask()
    assert child.resume_step is None
    assert child.start_step == 0


def test_the_default_scheduler_says_once_that_it_never_stops(caplog: pytest.LogCaptureFixture) -> None:
    def objective(trial: shoal.Trial) -> float:
        for step in range(3):
            trial.report(float(step), step)
            assert not trial.should_prune()
        return 0.0

    study = shoal.create_study()
    with caplog.at_level("WARNING", logger="shoal"):
        study.optimize(objective, n_trials=2)
    told = [r.getMessage() for r in caplog.records if "NoStopping (the default)" in r.getMessage()]
    assert len(told) == 1
    assert "scheduler=shoal.schedulers.ASHA(max_resource=EPOCHS)" in told[0]
    chosen = shoal.create_study(scheduler=shoal.schedulers.NoStopping())
    caplog.clear()
    with caplog.at_level("WARNING", logger="shoal"):
        chosen.optimize(objective, n_trials=1)
    assert not [r for r in caplog.records if "NoStopping (the default)" in r.getMessage()]


def test_a_rung_scheduler_brings_the_multi_fidelity_sampler_by_default() -> None:
    from shoal.samplers import AutoSampler, MultiFidelitySampler
    from shoal.schedulers import ASHA, Hyperband, MedianStopping, SuccessiveHalving

    for scheduler in (ASHA(max_resource=9), Hyperband(max_resource=9, mode="promotion"),
                      SuccessiveHalving(max_resource=9, n_configs=9)):
        assert isinstance(shoal.create_study(scheduler=scheduler).sampler, MultiFidelitySampler)
    assert isinstance(shoal.create_study(scheduler=MedianStopping()).sampler, AutoSampler)
    assert isinstance(shoal.create_study().sampler, AutoSampler)
    two = shoal.create_study(directions=["minimize", "maximize"], scheduler=ASHA(max_resource=9))
    assert isinstance(two.sampler, AutoSampler)  # MultiFidelitySampler ranks one objective
    chosen = shoal.create_study(scheduler=ASHA(max_resource=9),
                                sampler=shoal.samplers.RandomSampler(seed=0))
    assert isinstance(chosen.sampler, shoal.samplers.RandomSampler)
