"""Study and Trial semantics on in-memory storage: outcomes, enqueue, spaces, errors."""

from __future__ import annotations

import math

import pytest

import shoal
from shoal import Categorical, Float, Int, Space, TrialState
from shoal.clock import FakeClock
from shoal.exceptions import ConfigError, DistributionMismatch, NoCompletedTrials, StudyExists
from shoal.samplers import GridSampler, RandomSampler
from shoal.schedulers import MedianStopping
from shoal.storage import InMemoryStorage


def test_optimize_records_every_outcome() -> None:
    study = shoal.create_study(sampler=RandomSampler(seed=1))
    outcomes = iter(["ok", "raise", "nan", "prune", "fail", "none", "str"])

    def objective(trial: shoal.Trial) -> object:
        x = trial.suggest_float("x", -1.0, 1.0)
        trial.report(x + 10, step=0)
        kind = next(outcomes)
        if kind == "raise":
            raise ValueError("boom")
        if kind == "prune":
            raise shoal.TrialPruned()
        if kind == "fail":
            raise shoal.TrialFailed("diverged")
        return {"ok": x, "nan": math.nan, "none": None, "str": "high"}[kind]

    study.optimize(objective, n_trials=7)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE, TrialState.FAILED, TrialState.FAILED, TrialState.PRUNED,
                      TrialState.FAILED, TrialState.FAILED, TrialState.FAILED]
    t = study.trials
    assert t[1].failure_reason == "ValueError: boom"
    assert "Traceback" in t[1].system_attrs["traceback"]
    assert 'raise ValueError("boom")' in t[1].system_attrs["traceback"]
    assert t[2].failure_reason == "objective returned nan"
    assert t[3].score == pytest.approx(t[3].params["x"] + 10)  # pruned keeps its last report
    assert t[4].failure_reason == "diverged"
    assert t[5].failure_reason == "objective returned None, not a number"
    assert t[6].failure_reason == "objective returned 'high' (str), not a number"
    assert study.best_trial.number == 0


def test_catch_empty_stops_the_study_but_records_the_trial() -> None:
    study = shoal.create_study()

    def objective(trial: shoal.Trial) -> float:
        trial.suggest_float("x", 0.0, 1.0)
        raise RuntimeError("stop here")

    with pytest.raises(RuntimeError, match="stop here"):
        study.optimize(objective, n_trials=5, catch=())
    assert [t.state for t in study.trials] == [TrialState.FAILED]


def test_shoal_config_errors_always_stop_the_run() -> None:
    study = shoal.create_study()

    def objective(trial: shoal.Trial) -> float:
        return trial.suggest_float("x", 1.0, 0.0)  # low > high: a mistake in the code, not the trial

    with pytest.raises(ConfigError, match=r"low of Float 'x' must be < high \(0.0\). Got 1.0."):
        study.optimize(objective, n_trials=5)
    assert len(study.trials) == 1


def test_distribution_mismatch_across_trials() -> None:
    study = shoal.create_study()
    study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1.0, log=True), n_trials=1)
    with pytest.raises(DistributionMismatch, match="distribution of parameter 'lr' must stay"):
        study.optimize(lambda t: t.suggest_float("lr", 1e-4, 1.0), n_trials=1)


def test_same_name_same_distribution_returns_same_value() -> None:
    study = shoal.create_study()
    trial = study.ask()
    a = trial.suggest_int("units", 32, 512, log=True)
    assert trial.suggest_int("units", 32, 512, log=True) == a
    with pytest.raises(DistributionMismatch):
        trial.suggest_int("units", 32, 512)


def test_ask_tell_and_direction() -> None:
    study = shoal.create_study(direction="maximize")
    for value in (1.0, 3.0, 2.0):
        trial = study.ask()
        trial.suggest_categorical("act", ["relu", "tanh"])
        frozen = study.tell(trial, value)
        assert frozen.state is TrialState.COMPLETE
    assert study.best_value == 3.0
    assert study.best_trial.number == 1
    assert study.best_trial.score == -3.0


def test_tell_twice_is_an_error() -> None:
    study = shoal.create_study()
    trial = study.ask()
    study.tell(trial, 1.0)
    with pytest.raises(ConfigError, match="Tell each trial once"):
        study.tell(trial, 2.0)


def test_tell_by_number() -> None:
    study = shoal.create_study()
    trial = study.ask()
    assert study.tell(trial.number, 0.5).value == 0.5


def test_best_trial_without_complete_trials_says_what_to_do() -> None:
    study = shoal.create_study(name="empty")
    with pytest.raises(NoCompletedTrials, match=r"study 'empty' has no completed trial yet \(no trials\)"):
        _ = study.best_trial


def test_enqueued_configurations_run_first_and_do_not_use_sampler_positions() -> None:
    study = shoal.create_study(sampler=RandomSampler(seed=0))
    study.enqueue({"lr": 0.5})
    study.enqueue({"lr": 0.25, "units": 64})
    seen = []

    def objective(trial: shoal.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-4, 1.0, log=True)
        units = trial.suggest_int("units", 32, 512, log=True)
        seen.append((lr, units))
        return lr

    study.optimize(objective, n_trials=3)
    assert seen[0][0] == 0.5
    assert 32 <= seen[0][1] <= 512
    assert seen[1] == (0.25, 64)
    trials = study.trials
    assert [t.is_fixed for t in trials] == [True, True, False]
    assert trials[0].system_attrs["enqueued"] is True


def test_enqueue_validates_against_declared_space() -> None:
    study = shoal.create_study(space={"lr": Float(1e-4, 1.0, scale="log")})
    with pytest.raises(ConfigError, match=r"value of enqueued parameter 'lr' must lie in"):
        study.enqueue({"lr": 2.0})
    with pytest.raises(ConfigError, match=r"parameter 'units' of the enqueued configuration"):
        study.enqueue({"units": 3})


def test_declared_space_with_conditions_records_active_params_only() -> None:
    space = Space({
        "optimizer": Categorical(["sgd", "adam"]),
        "momentum": Float(0.9, 0.999, scale="one_minus_log", when={"optimizer": ["sgd"]}),
        "beta2": Float(0.99, 0.9999, scale="one_minus_log", when={"optimizer": ["adam"]}),
        "units": Int(32, 512, log=True),
    })
    study = shoal.create_study(space=space, sampler=RandomSampler(seed=3))
    study.optimize(lambda t: t.params["units"] / 512, n_trials=30)
    for trial in study.trials:
        expected = {"optimizer", "units", "momentum" if trial.params["optimizer"] == "sgd" else "beta2"}
        assert set(trial.params) == expected
        space.validate(trial.params)
    assert {t.params["optimizer"] for t in study.trials} == {"sgd", "adam"}


def test_suggest_inside_declared_space_must_match() -> None:
    study = shoal.create_study(space={"lr": Float(1e-4, 1.0, scale="log")})
    trial = study.ask()
    assert trial.suggest_float("lr", 1e-4, 1.0, log=True) == trial.params["lr"]
    with pytest.raises(DistributionMismatch):
        trial.suggest_float("lr", 0.0, 1.0)


def test_study_names_are_unique_unless_loaded() -> None:
    storage = InMemoryStorage()
    shoal.create_study("mlp", storage=storage, direction="maximize")
    with pytest.raises(StudyExists, match=r"Use load_study\('mlp'\) or pass load_if_exists=True"):
        shoal.create_study("mlp", storage=storage)
    again = shoal.create_study("mlp", storage=storage, load_if_exists=True)
    assert again.direction is shoal.Direction.MAXIMIZE
    with pytest.raises(ConfigError, match="direction of study 'mlp' must stay 'maximize'"):
        shoal.create_study("mlp", storage=storage, direction="minimize", load_if_exists=True)


def test_load_unknown_study_lists_known_ones() -> None:
    storage = InMemoryStorage()
    shoal.create_study("a", storage=storage)
    with pytest.raises(shoal.StudyNotFound, match=r"no study named 'b' in memory. Known studies: a."):
        shoal.load_study("b", storage=storage)


def test_loaded_study_keeps_declared_space_and_rejects_a_different_one() -> None:
    storage = InMemoryStorage()
    space = {"x": Float(0.0, 1.0)}
    shoal.create_study("s", storage=storage, space=space)
    assert shoal.load_study("s", storage=storage).space == Space(space)
    with pytest.raises(ConfigError, match="space of study 's' must match"):
        shoal.create_study("s", storage=storage, space={"x": Float(0.0, 2.0)}, load_if_exists=True)


def test_median_stopping_prunes_bad_curves() -> None:
    study = shoal.create_study(scheduler=MedianStopping(min_trials=3), sampler=RandomSampler(seed=0))

    def objective(trial: shoal.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in range(5):
            trial.report(x + 1.0 / (step + 1), step)
            if trial.should_prune():
                raise shoal.TrialPruned()
        return x

    study.optimize(objective, n_trials=30)
    pruned = study.get_trials([TrialState.PRUNED])
    complete = study.get_trials([TrialState.COMPLETE])
    assert pruned, "bad configurations should be stopped"
    assert min(t.params["x"] for t in pruned) > min(t.params["x"] for t in complete)


def test_user_attrs_and_dataframe() -> None:
    study = shoal.create_study()
    study.set_user_attr("dataset", "mnist1d")

    def objective(trial: shoal.Trial) -> float:
        trial.set_user_attr("epochs_run", 3)
        return trial.suggest_float("x", 0.0, 1.0)

    study.optimize(objective, n_trials=3)
    assert study.user_attrs == {"dataset": "mnist1d"}
    frame = study.trials_dataframe()
    assert list(frame["number"]) == [0, 1, 2]
    assert {"value", "params_x", "user_attrs_epochs_run", "state", "duration"} <= set(frame.columns)


def test_timeout_and_budget() -> None:
    study = shoal.create_study()
    study.optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=0)
    assert study.trials == []
    with pytest.raises(ConfigError, match="n_jobs of optimize must be an integer >= 1"):
        study.optimize(lambda t: 0.0, n_trials=1, n_jobs=0)


def test_in_memory_storage_refuses_worker_processes() -> None:
    study = shoal.create_study()
    with pytest.raises(ConfigError, match=r"in-memory storage is not\. Use storage='sqlite:///shoal\.db'"):
        study.optimize(lambda t: 0.0, n_trials=4, n_jobs=2)


def test_stale_trials_fail_and_are_retried_with_same_params() -> None:
    clock = FakeClock(1000.0)
    storage = InMemoryStorage(clock=clock)
    policy = dict(heartbeat=shoal.Heartbeat(interval=1.0, grace=10.0), retry=shoal.RetryPolicy(max_retries=1))
    dead = shoal.create_study("s", storage=storage, clock=clock, **policy)  # type: ignore[arg-type]
    orphan = dead.ask()
    lr = orphan.suggest_float("lr", 1e-4, 1.0, log=True)
    dead._beats.discard(orphan.trial_id)  # the worker "dies": no more heartbeats
    clock.advance(11.0)
    alive = shoal.load_study("s", storage=storage, clock=clock, **policy)  # type: ignore[arg-type]
    retry = alive.ask()
    assert retry.suggest_float("lr", 1e-4, 1.0, log=True) == lr
    alive.tell(retry, 0.1)
    first, second = alive.trials
    assert first.state is TrialState.FAILED
    assert first.failure_reason == "heartbeat lost: none for 11 s"
    assert second.parent == 0
    assert second.system_attrs["retry_of"] == 0
    assert second.state is TrialState.COMPLETE


def test_report_rejects_bad_steps_and_skips_non_finite_values() -> None:
    study = shoal.create_study()
    trial = study.ask()
    with pytest.raises(ConfigError, match="step of report must be an integer >= 0"):
        trial.report(1.0, step=-1)
    trial.report(math.inf, step=0)
    trial.report(0.5, step=1)
    study.tell(trial, 0.5)
    assert study.trials[0].intermediate == {1: 0.5}


def test_named_curves_are_kept_beside_the_objective_curve() -> None:
    study = shoal.create_study()
    trial = study.ask()
    for epoch in range(3):
        trial.report(0.5 + epoch / 10, step=epoch)
        trial.report(1.0 / (epoch + 1), step=epoch, name="train_loss")
    assert trial.curves == {"train_loss": {0: 1.0, 1: 0.5, 2: 1.0 / 3}}
    study.tell(trial, 0.7)
    stored = study.trials[0]
    assert stored.intermediate == {0: 0.5, 1: 0.6, 2: 0.7}
    assert stored.curves == {"train_loss": {0: 1.0, 1: 0.5, 2: 1.0 / 3}}


def test_live_trial_knows_its_lineage() -> None:
    storage = InMemoryStorage()
    study = shoal.create_study(storage=storage)
    first = study.ask()
    assert first.parent is None
    study.tell(first, 1.0)
    storage.create_trial(study.study_id, state=TrialState.WAITING, params={}, parent=0,
                         checkpoint="ckpt/0", system_attrs={"fixed_params": True})
    second = study.ask()
    assert (second.parent, second.checkpoint_source) == (0, "ckpt/0")


class _CountingStorage(InMemoryStorage):
    """In-memory storage that counts the calls a trial makes."""

    def __init__(self) -> None:
        super().__init__()
        self.calls: dict[str, int] = {}

    def update_trial(self, trial_id: int, **fields: object) -> bool:  # type: ignore[override]
        self.calls["update_trial"] = self.calls.get("update_trial", 0) + 1
        return super().update_trial(trial_id, **fields)  # type: ignore[arg-type]

    def get_trials(self, study_id: int, *, since: int = 0) -> shoal.storage.TrialsPage:
        self.calls["get_trials"] = self.calls.get("get_trials", 0) + 1
        return super().get_trials(study_id, since=since)


@pytest.mark.parametrize("scheduler", [None, MedianStopping(min_trials=1)])
def test_an_epoch_costs_one_write_and_a_read_only_when_the_scheduler_looks(
        scheduler: MedianStopping | None) -> None:
    storage = _CountingStorage()
    study = shoal.create_study(storage=storage, scheduler=scheduler)
    trial = study.ask()
    storage.calls.clear()
    for epoch in range(5):
        trial.report(1.0 / (epoch + 1), epoch, name="train_loss")
        trial.report(0.01, epoch, name="lr")
        trial.report(0.5 + epoch / 10, epoch)
        assert not trial.should_prune()
    assert storage.calls.get("update_trial") == 5
    assert storage.calls.get("get_trials", 0) == (0 if scheduler is None else 5)
    study.tell(trial, 1.0)
    stored = study.trials[0]
    assert stored.curves == {"train_loss": {e: 1.0 / (e + 1) for e in range(5)},
                             "lr": dict.fromkeys(range(5), 0.01)}


def test_curves_reported_last_are_written_when_the_trial_ends_and_not_shared() -> None:
    study = shoal.create_study()
    trial = study.ask()
    trial.report(0.7, 0)
    trial.report(2.0, 0, name="train_loss")  # nothing else is written after this
    study.tell(trial, 0.7)
    assert study.trials[0].curves == {"train_loss": {0: 2.0}}
    trial._curves["train_loss"]["1"] = 9.0  # the storage holds a copy, not the trial's dict
    assert study.trials[0].curves == {"train_loss": {0: 2.0}}


def _no_trial_running(study: shoal.Study) -> bool:
    return all(t.state is not TrialState.RUNNING for t in study.trials)


def test_a_sampler_error_at_ask_fails_the_trial_with_its_reason() -> None:
    declared = shoal.create_study(space={"x": Float(0.0, 1.0)}, sampler=GridSampler())
    with pytest.raises(ConfigError, match="points of Float 'x' must be given to GridSampler"):
        declared.optimize(lambda t: t.params["x"], n_trials=3)
    joint = shoal.create_study(sampler=GridSampler())
    with pytest.raises(ConfigError, match="points of Float 'x'"):
        joint.ask({"x": Float(0.0, 1.0)})
    for study in (declared, joint):
        assert _no_trial_running(study)
        [trial] = study.trials
        assert trial.state is TrialState.FAILED
        assert (trial.failure_reason or "").startswith("sampler failed: ConfigError: points of Float 'x'")
        assert "Traceback" in trial.system_attrs["traceback"]


def test_a_sampler_error_in_a_define_by_run_suggest_fails_the_trial() -> None:
    study = shoal.create_study(sampler=GridSampler())
    trial = study.ask()
    with pytest.raises(ConfigError, match="points of Float 'x'"):
        trial.suggest_float("x", 0.0, 1.0)
    assert _no_trial_running(study)
    assert (study.trials[0].failure_reason or "").startswith("sampler failed: ConfigError")
    with pytest.raises(ConfigError, match="must have been asked by this Study object and not told"):
        study.tell(trial, 1.0)
    with pytest.raises(ConfigError, match="points of Float 'y'"):  # optimize keeps the reason too
        study.optimize(lambda t: t.suggest_float("y", 0.0, 1.0), n_trials=1)
    assert _no_trial_running(study)
    assert (study.trials[1].failure_reason or "").startswith("sampler failed: ConfigError")


def test_suggest_float_with_a_step_stays_on_the_grid() -> None:
    study = shoal.create_study(sampler=RandomSampler(seed=0))
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0, step=0.25), n_trials=30)
    assert {t.params["x"] for t in study.trials} == {0.0, 0.25, 0.5, 0.75, 1.0}
    assert study.trials[0].distributions["x"] == Float(0.0, 1.0, step=0.25, name="x")
    trial = study.ask()
    with pytest.raises(DistributionMismatch):  # a step is part of the distribution
        trial.suggest_float("x", 0.0, 1.0)
    with pytest.raises(ConfigError, match=r"step of Float 'lr' must be None when scale='log'"):
        trial.suggest_float("lr", 1e-3, 1.0, step=0.1, log=True)
    with pytest.raises(ConfigError, match=r"high of Float 'z' must be low \+ k\*step \(e.g. 0.9\)"):
        trial.suggest_float("z", 0.0, 1.0, step=0.3)


def test_suggest_int_takes_scale_log_as_log_true() -> None:
    study = shoal.create_study()
    trial = study.ask()
    trial.suggest_int("units", 8, 512, scale="log")
    assert trial.distributions["units"] == Int(8, 512, log=True, name="units")
    assert trial.suggest_int("units", 8, 512, log=True) == trial.params["units"]
    assert trial.suggest_int("layers", 1, 4, scale="linear") in range(1, 5)
    with pytest.raises(ConfigError, match=r"scale of Int 'n' must be one of 'linear', 'log'. Got 'exp'"):
        trial.suggest_int("n", 1, 4, scale="exp")
    with pytest.raises(ConfigError, match=r"log of Int 'n' must agree with scale='linear'\. Got True"):
        trial.suggest_int("n", 1, 4, log=True, scale="linear")


def test_grid_sampler_enumerates_a_float_with_a_step() -> None:
    study = shoal.create_study(sampler=GridSampler())
    study.optimize(lambda t: t.suggest_float("x", 0.0, 0.3, step=0.1), n_trials=10)
    done = [t.params["x"] for t in study.trials if t.state is TrialState.COMPLETE]
    assert sorted(done) == [0.0, 0.1, 0.2, 0.3]
    assert _no_trial_running(study)
