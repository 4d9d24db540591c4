"""The harness in a trial's life: pause and resume (a promotion), forks, retries, folds, old layouts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812

import shoal
from shoal.cli import main
from shoal.exceptions import ConfigError
from shoal.schedulers import ASHA, Decision, Hyperband, MedianStopping, SuccessiveHalving, Suggestion
from shoal.storage import Retention
from shoal.study import Trial
from shoal.torch import (
    CheckpointStore,
    Hook,
    KFold,
    Run,
    TaskSpec,
    _task,
    build_optimizer,
    fit,
    trial_checkpoint_dir,
)
from shoal.torch._checkpoint import wants_checkpoints
from shoal.torch._epoch import TensorPair
from shoal.torch._runtime import seed_everything
from shoal.trial import FrozenTrial, TrialState

EPOCHS, PAUSE_AT = 6, 3


@pytest.fixture(autouse=True)
def artifacts(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SHOAL_ARTIFACTS", str(tmp_path / "artifacts"))
    return tmp_path / "artifacts"


class PauseOnce:
    """Pause every trial at step `at` once; the next free worker resumes the lowest-numbered."""

    def __init__(self, at: int = PAUSE_AT) -> None:
        self.at = at
        self.rung_steps = frozenset({at})
        self.asked: list[tuple[int, int | None]] = []  # (trial, step) of each decide call

    def decide(self, trial: FrozenTrial, history: Sequence[FrozenTrial]) -> Decision:
        self.asked.append((trial.number, trial.last_step))
        return Decision.PAUSE if trial.last_step == self.at and not trial.resumes else Decision.CONTINUE

    def next_job(self, history: Sequence[FrozenTrial]) -> Suggestion | None:
        paused = [t for t in history if t.state is TrialState.PAUSED]
        return Suggestion(resume=paused[0].number) if paused else None


def data() -> tuple[TensorPair, TensorPair]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(80, 4, generator=g)
    y = (x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) > 0).long()
    return (x[:60], y[:60]), (x[60:], y[60:])


def val_loss(out: Tensor, y: Tensor) -> float:
    return float(F.cross_entropy(out, y))


class LastEpoch(Hook):
    """The weights after the last epoch trained (fit leaves the best epoch's in the model)."""

    def __init__(self) -> None:
        self.state: dict[str, Tensor] = {}
        self.first_lrs: list[float] | None = None
        self.first_groups: list[dict[str, Any]] = []

    def after_step(self, run: Run) -> None:
        if self.first_lrs is None:  # the rates the optimiser stepped with first in this segment
            self.first_lrs = [float(g["lr"]) for g in run.optimizer.param_groups]
            groups = run.optimizer.param_groups
            self.first_groups = [{k: v for k, v in g.items() if k != "params"} for g in groups]

    def after_epoch(self, run: Run) -> None:
        self.state = {k: v.clone() for k, v in run.model.state_dict().items()}


def train(params: dict[str, Any], *, trial: shoal.Trial | None = None, epochs: int = EPOCHS,
          checkpoints: Any = None, hooks: Sequence[Hook] = ()) -> tuple[nn.Module, Any]:
    """One configuration, rebuilt from scratch as a worker process would (dropout, batch norm,
    a schedule: everything a resume must restore)."""
    generator = seed_everything(0, deterministic=False)
    model = nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.3), nn.BatchNorm1d(16), nn.Linear(16, 2))
    optimizer = build_optimizer(model, params)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    train_data, val = data()
    result = fit(model, optimizer, schedule, train_data, val, loss_fn=F.cross_entropy, metric=val_loss,
                 metric_direction="minimize", epochs=epochs, batch_size=8, generator=generator, trial=trial,
                 checkpoints=checkpoints, hooks=hooks)
    return model, result


def same_state(a: dict[str, Tensor], b: dict[str, Tensor]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


PARAMS: dict[str, Any] = {"optimizer": "adam", "lr": 0.01, "weight_decay": 1e-3}


# Pause and resume: a promotion -------------------------------------------------------------------
def test_a_promotion_resumes_from_its_checkpoint_and_ends_bitwise_equal_to_an_uninterrupted_run() -> None:
    straight_last = LastEpoch()
    straight_model, straight = train(PARAMS, hooks=[straight_last])
    scheduler = PauseOnce()
    study = shoal.create_study(scheduler=scheduler)
    starts: list[int] = []
    ends: list[tuple[Any, nn.Module, LastEpoch]] = []

    def objective(trial: shoal.Trial) -> float:
        params = {k: trial.suggest_categorical(k, [v]) for k, v in PARAMS.items()}
        starts.append(trial.number)
        last = LastEpoch()
        model, result = train(params, trial=trial, hooks=[last])  # checkpoints on: the scheduler pauses
        ends.append((result, model, last))
        return float(result.best_metric)

    study.optimize(objective, n_trials=1)
    [trial] = study.trials
    assert trial.state is TrialState.COMPLETE
    assert [e["event"] for e in trial.lineage] == ["paused", "resumed"]
    assert trial.lineage[0]["step"] == PAUSE_AT
    assert starts == [0, 0]  # the same trial ran twice: paused, then resumed
    [(resumed, model, last)] = ends
    assert resumed.resumed_epochs == PAUSE_AT + 1
    assert same_state(last.state, straight_last.state)  # the last epoch's weights, bit for bit
    assert same_state(model.state_dict(), straight_model.state_dict())  # and the best epoch's
    assert resumed.history == straight.history
    assert trial.intermediate == dict(enumerate(straight.history["val_metric"]))
    assert trial.value == straight.best_metric
    # One decision per epoch trained, none for the restored epochs.
    assert scheduler.asked == [(0, step) for step in range(EPOCHS)]
    kept = trial.system_attrs["checkpoints"]["steps"]
    assert PAUSE_AT in kept  # the rung stays for forks; the newest too
    assert EPOCHS - 1 in kept


def test_without_checkpoints_a_pause_reads_as_continue() -> None:
    study = shoal.create_study(scheduler=PauseOnce())
    trial = study.ask()
    _, result = train(PARAMS, trial=trial, checkpoints=False)
    assert result.epochs_run == EPOCHS
    assert not (trial.checkpoint_dir).exists()


# Forks -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["momentum", "adam"])
def test_a_fork_with_new_hyperparameters_trains_with_them(kind: str) -> None:
    study = shoal.create_study(retention=Retention(keep_last=4))  # step 1 is kept to fork from
    base: dict[str, Any] = {"optimizer": kind, "lr": 0.01, "momentum": 0.9, "beta1": 0.9, "eps": 1e-8,
                            "weight_decay": 0.0}
    changed = {"lr": 0.02, "momentum": 0.5, "beta1": 0.8, "eps": 1e-6, "weight_decay": 0.01}
    parent = study.ask()
    params = {k: parent.suggest_categorical(k, [v]) for k, v in base.items()}
    parent_last = LastEpoch()
    _, parent_result = train(params, trial=parent, checkpoints=True, epochs=4, hooks=[parent_last])
    study.tell(parent, parent_result.best_metric)

    def run_fork(new: dict[str, Any]) -> tuple[shoal.Trial, LastEpoch, Any]:
        number = study.fork(0, step=1, params=new)
        fork = study.ask()
        assert fork.number == number
        assert (fork.resume_step, fork.start_step) == (1, 2)
        last = LastEpoch()
        _, result = train(fork.params, trial=fork, epochs=4, hooks=[last])  # checkpoints on: a fork
        study.tell(fork, result.best_metric)
        return fork, last, result

    _, same_last, _ = run_fork({})
    assert same_state(same_last.state, parent_last.state)  # a fork that changes nothing continues exactly
    fork, last, result = run_fork(changed)
    # StepLR(step_size=2, gamma=0.5): epoch 2 runs at half the base rate, of the fork's new base.
    assert last.first_lrs == [0.02 * 0.5] * 2
    decayed, exempt = last.first_groups
    assert (decayed["weight_decay"], exempt["weight_decay"]) == (0.01, 0.0)
    if kind == "momentum":
        assert decayed["momentum"] == exempt["momentum"] == 0.5
    else:
        assert decayed["betas"] == exempt["betas"] == (0.8, 0.999)
        assert decayed["eps"] == exempt["eps"] == 1e-6
    assert not same_state(last.state, parent_last.state)  # it trains differently from the parent's run
    record = study.trials[fork.number]
    assert sorted(record.intermediate) == [2, 3]  # steps 0 and 1 are the parent's record
    assert result.history["lr"][:2] == parent_result.history["lr"][:2]  # restored from the parent
    assert result.history["lr"][2:] == [0.02 * 0.5] * 2  # the schedule shapes the new base


# Retries after a crash ---------------------------------------------------------------------------
class Crash(Exception):
    """Stands for the worker dying mid-epoch."""


class CrashAt(Hook):
    def __init__(self, step: int) -> None:
        self.step = step

    def after_step(self, run: Run) -> None:
        if run.step == self.step:
            raise Crash


def test_a_retry_resumes_from_the_newest_step_of_the_trial_that_died(tmp_path: Path) -> None:
    straight_last = LastEpoch()
    _, straight = train(PARAMS, hooks=[straight_last])
    study = shoal.create_study("retry", storage=f"sqlite:///{tmp_path}/shoal.db",
                               retry=shoal.RetryPolicy(max_retries=1, retry_failed=True))
    starts: list[int | None] = []
    lasts: list[LastEpoch] = []

    def objective(trial: shoal.Trial) -> float:
        params = {k: trial.suggest_categorical(k, [v]) for k, v in PARAMS.items()}
        starts.append(trial.resume_step)
        lasts.append(LastEpoch())
        crash = [CrashAt(4 * 8 + 3)] if trial.parent is None else []  # dies in epoch 4 (8 batches each)
        _, result = train(params, trial=trial, checkpoints=True, hooks=[*crash, lasts[-1]])
        return float(result.best_metric)

    study.optimize(objective, n_trials=2)  # the retry is the second
    first, retry = study.trials
    assert first.state is TrialState.FAILED
    assert (retry.state, retry.parent) == (TrialState.COMPLETE, 0)
    assert starts == [None, 3]  # the newest step the dead trial saved
    assert same_state(lasts[1].state, straight_last.state)
    assert retry.intermediate == dict(enumerate(straight.history["val_metric"]))  # restored steps too
    assert retry.value == straight.best_metric


def test_a_retry_still_resumes_an_older_last_pt_layout() -> None:
    _, straight = train(PARAMS)
    study = shoal.create_study(retry=shoal.RetryPolicy(max_retries=1, retry_failed=True))
    results: list[Any] = []

    def objective(trial: shoal.Trial) -> float:
        params = {k: trial.suggest_categorical(k, [v]) for k, v in PARAMS.items()}
        if trial.parent is None:  # written before step checkpoints: trial-0/last.pt
            train(params, trial=trial, checkpoints=CheckpointStore(trial_checkpoint_dir(trial)), epochs=2)
            raise Crash
        _, result = train(params, trial=trial, checkpoints=True)
        results.append(result)
        return float(result.best_metric)

    study.optimize(objective, n_trials=2)
    assert [t.state for t in study.trials] == [TrialState.FAILED, TrialState.COMPLETE]
    assert results[0].resumed_epochs == 2
    assert results[0].history == straight.history


# A task's cross-validation -----------------------------------------------------------------------
def test_a_task_paused_mid_cross_validation_resumes_the_right_fold(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = TaskSpec(dataset="wine", protocol=KFold(k=2), epochs=3, batch_size=32, standardize=True)
    params = {"optimizer": "adam", "lr": 0.01, "dropout": 0.2}
    straight = shoal.create_study(direction=spec.direction)
    straight.enqueue(params)
    straight.optimize(spec.objective(), n_trials=1)
    [reference] = straight.trials

    offsets: list[int] = []
    real = _task.train_model

    def counted(*args: Any, **kwargs: Any) -> Any:
        offsets.append(kwargs["step_offset"])
        return real(*args, **kwargs)

    monkeypatch.setattr(_task, "train_model", counted)
    study = shoal.create_study(direction=spec.direction, scheduler=PauseOnce(at=4))  # fold 1, epoch 1
    study.enqueue(params)
    study.optimize(spec.objective(), n_trials=1)
    [trial] = study.trials
    # Fold 0 (steps 0-2), then fold 1 until the pause at step 4; resumed: fold 1 only.
    assert offsets == [0, 3, 3]
    assert [e["event"] for e in trial.lineage] == ["paused", "resumed"]
    assert trial.intermediate == reference.intermediate
    assert trial.user_attrs == reference.user_attrs  # fold_scores and best_epochs, fold 0 from the checkpoint
    assert trial.value == reference.value


# Across processes --------------------------------------------------------------------------------
def _straight(lr: float) -> tuple[dict[str, Tensor], Any]:
    last = LastEpoch()
    _, result = train({**PARAMS, "lr": lr}, hooks=[last])
    return last.state, result


def _saving_objective(folder: Path) -> Any:
    def objective(trial: shoal.Trial) -> float:
        torch.set_num_threads(1)
        lr = trial.suggest_float("lr", 0.005, 0.05, log=True)
        last = LastEpoch()
        _, result = train({**PARAMS, "lr": lr}, trial=trial, hooks=[last])
        torch.save(last.state, folder / f"final-{trial.number}.pt")
        return float(result.best_metric)

    return objective


def test_trials_paused_in_one_worker_process_are_resumed_by_any(tmp_path: Path) -> None:
    study = shoal.create_study("workers", storage=f"sqlite:///{tmp_path}/s.db", scheduler=PauseOnce(),
                               sampler=shoal.samplers.RandomSampler(seed=0))
    study.optimize(_saving_objective(tmp_path), n_trials=4, n_jobs=2)
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4
    assert len({t.worker for t in trials} | {e["worker"] for t in trials for e in t.lineage
                                              if e["event"] == "resumed"}) == 2
    for t in trials:
        assert [e["event"] for e in t.lineage] == ["paused", "resumed"]
        state, straight = _straight(t.params["lr"])
        assert same_state(torch.load(tmp_path / f"final-{t.number}.pt", weights_only=True), state)
        assert t.intermediate == dict(enumerate(straight.history["val_metric"]))


@pytest.mark.slow
def test_a_sigkilled_workers_trial_is_retried_from_its_newest_step(tmp_path: Path) -> None:
    url, marker = f"sqlite:///{tmp_path}/s.db", tmp_path / "stalled"
    code = f"""
        import time, torch, shoal
        from pathlib import Path
        from test_pause_resume import PARAMS, Hook, train
        torch.set_num_threads(1)

        class Stall(Hook):  # the worker hangs in epoch 4, after saving steps 0-3, and is killed
            def after_step(self, run):
                if run.step == 4 * 8 + 3:
                    Path({str(marker)!r}).touch()
                    time.sleep(600)

        study = shoal.create_study("killed", storage={url!r},
                                   heartbeat=shoal.Heartbeat(interval=0.2, grace=1.0))
        def objective(trial):
            params = {{k: trial.suggest_categorical(k, [v]) for k, v in PARAMS.items()}}
            return train(params, trial=trial, checkpoints=True, hooks=[Stall()])[1].best_metric
        study.optimize(objective, n_trials=1)
    """
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(__file__).parent),
                                                         os.environ.get("PYTHONPATH", "")])}
    worker = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)], env=env,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.time() + 60
    while not marker.exists():
        assert worker.poll() is None, worker.communicate()
        assert time.time() < deadline, "the worker never reached epoch 4"
        time.sleep(0.05)
    worker.send_signal(signal.SIGKILL)
    worker.communicate(timeout=10)
    time.sleep(1.2)  # the grace period passes with no heartbeat
    study = shoal.load_study("killed", storage=url, heartbeat=shoal.Heartbeat(interval=0.2, grace=1.0),
                             retry=shoal.RetryPolicy(max_retries=1))
    starts: list[int | None] = []
    last = LastEpoch()

    def objective(trial: shoal.Trial) -> float:
        starts.append(trial.resume_step)
        params = {k: trial.suggest_categorical(k, [v]) for k, v in PARAMS.items()}
        return float(train(params, trial=trial, checkpoints=True, hooks=[last])[1].best_metric)

    study.optimize(objective, n_trials=1)
    dead, retry = study.trials
    assert dead.state is TrialState.FAILED
    assert (retry.state, retry.parent) == (TrialState.COMPLETE, 0)
    assert starts == [3]
    straight_last = LastEpoch()
    _, straight = train(PARAMS, hooks=[straight_last])
    assert same_state(last.state, straight_last.state)
    assert retry.intermediate == dict(enumerate(straight.history["val_metric"]))


def test_shoal_tune_promotes_a_task_with_asha(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    """`shoal tune task.yaml` with `scheduler: {name: asha, mode: promotion}`: every trial pauses
    at the rung (step 1), the best of the three is promoted, resumes from its checkpoint and ends
    as an uninterrupted run of its configuration would; the others stay PAUSED."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "task.yaml"
    config.write_text(textwrap.dedent("""\
        study: asha-task
        task: {dataset: wine, epochs: 3, batch_size: 32, standardize: true}
        space:
          lr: {type: float, low: 0.001, high: 0.1, scale: log}
        scheduler: {name: asha, mode: promotion, min_resource: 1, max_resource: 3}
        """))
    url = f"sqlite:///{tmp_path}/s.db"
    assert main(["tune", str(config), "--storage", url, "--n-trials", "3"]) == 0
    out = capsys.readouterr().out
    assert "Ran 3 trials: 1 complete, 2 paused." in out  # a resume counts once
    assert "sampler MultiFidelitySampler(" in out  # no sampler named: the rung scheduler's default
    trials = shoal.load_study("asha-task", storage=url).trials
    assert sorted(t.state.name for t in trials) == ["COMPLETE", "PAUSED", "PAUSED"]  # n_trials: new ones
    [done] = [t for t in trials if t.state is TrialState.COMPLETE]
    assert done.intermediate[1] == max(t.intermediate[1] for t in trials)  # accuracy: the best went on
    assert [e["event"] for e in done.lineage] == ["paused", "resumed"]
    spec = TaskSpec(dataset="wine", epochs=3, batch_size=32, standardize=True)
    straight = shoal.create_study(direction=spec.direction)
    straight.enqueue(dict(done.params))
    straight.optimize(spec.objective(), n_trials=1)
    assert done.intermediate == straight.trials[0].intermediate
    assert done.value == straight.trials[0].value
    for t in trials:
        assert t.lineage[0] == {**t.lineage[0], "event": "paused", "step": 1}
        folder = tmp_path / "s-artifacts" / "asha-task" / f"trial-{t.number}"
        assert (folder / "step-1" / "state.pt").is_file()  # the rung is kept (a promotion resumes it)


def test_checkpoints_true_needs_a_trial_of_a_study() -> None:
    with pytest.raises(ConfigError, match=r"^checkpoints=True of fit must come with a trial .* "
                                          r"Pass checkpoints=CheckpointStore\(folder\) instead\.$"):
        train(PARAMS, checkpoints=True)

    class Host:  # a host that is no Study: it is never called before the refusal
        pass

    orphan = Trial(host=Host(), frozen=FrozenTrial(0, 0, TrialState.RUNNING),  # type: ignore[arg-type]
                   rng=np.random.default_rng(0))
    with pytest.raises(ConfigError, match="must come from a Study"):
        train(PARAMS, trial=orphan, checkpoints=True)
    assert not wants_checkpoints(orphan)  # by default such a trial writes none, and fit does not fail


def test_a_task_retry_still_resumes_a_fold_of_the_older_layout() -> None:
    """Before step checkpoints, a task kept trial-N/holdout/last.pt (trial-N/fold-k/ for k folds)."""
    spec = TaskSpec(dataset="wine", epochs=3, batch_size=32, standardize=True, checkpoints=True)
    params = {"optimizer": "adam", "lr": 0.01}
    straight = shoal.create_study(direction=spec.direction)
    straight.enqueue(params)
    straight.optimize(spec.objective(), n_trials=1)
    study = shoal.create_study(direction=spec.direction,
                               retry=shoal.RetryPolicy(max_retries=1, retry_failed=True))
    study.enqueue(params)
    resumed: list[int] = []

    def objective(trial: shoal.Trial) -> float:
        if trial.parent is None:  # the older TaskObjective: two epochs saved as holdout/last.pt, then a crash
            fit_data, val_data = spec.load().train.split(spec.protocol)[0]
            store = CheckpointStore(trial_checkpoint_dir(trial) / "holdout")
            _task.train_model(spec, trial.params, fit_data, val_data, trial=trial, checkpoints=store,
                              seed=spec.seed, epochs=2)
            raise Crash
        real = _task.train_model

        def counted(*args: Any, **kwargs: Any) -> Any:
            model, result = real(*args, **kwargs)
            resumed.append(result.resumed_epochs)
            return model, result

        _task.train_model = counted  # type: ignore[assignment]
        try:
            return spec.objective()(trial)
        finally:
            _task.train_model = real

    study.optimize(objective, n_trials=2)
    first, retry = study.trials
    assert (first.state, retry.state) == (TrialState.FAILED, TrialState.COMPLETE)
    assert resumed == [2]
    assert retry.value == straight.trials[0].value
    assert retry.intermediate == straight.trials[0].intermediate


@pytest.mark.parametrize(("scheduler", "on"), [
    (None, False), (MedianStopping(), False), (ASHA(max_resource=9), False),
    (Hyperband(max_resource=9), False), (ASHA(max_resource=9, mode="promotion"), True),
    (Hyperband(max_resource=9, mode="promotion"), True),
    (SuccessiveHalving(max_resource=9, n_configs=9), True), (PauseOnce(), True),
])
def test_fit_checkpoints_by_itself_under_a_scheduler_that_pauses_or_forks(scheduler: Any, on: bool) -> None:
    study = shoal.create_study(scheduler=scheduler)
    assert wants_checkpoints(study.ask()) is on


def test_a_pause_after_the_last_epoch_ends_the_trial_instead() -> None:
    # ASHA(max_resource=EPOCHS) has a rung at step EPOCHS - 1 when steps count from 0: pausing a
    # trial with nothing left to train would only park it; it completes.
    scheduler = PauseOnce(at=EPOCHS - 1)
    study = shoal.create_study(scheduler=scheduler)

    def objective(trial: shoal.Trial) -> float:
        params = {k: trial.suggest_categorical(k, [v]) for k, v in PARAMS.items()}
        _, result = train(params, trial=trial)
        return float(result.best_metric)

    study.optimize(objective, n_trials=1)
    [trial] = study.trials
    assert trial.state is TrialState.COMPLETE
    assert trial.lineage == ()
    assert (trial.number, EPOCHS - 1) in scheduler.asked  # it was asked, and said PAUSE
