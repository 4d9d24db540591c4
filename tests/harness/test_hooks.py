"""The loop's hooks: the points they run at, changing the learning rate mid-run, stopping a run."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812

import shoal
from shoal.exceptions import ConfigError
from shoal.torch import (
    ApplyChanges,
    CheckpointStore,
    EarlyStopping,
    Hook,
    Run,
    build_lr_schedule,
    fit,
    fit_hooks,
)
from shoal.torch._epoch import TensorPair
from shoal.torch._runtime import seed_everything

EPOCHS, BATCHES = 4, 8  # 64 training rows in batches of 8


def data() -> tuple[TensorPair, TensorPair]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(96, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0])
    return (x[:64], y[:64]), (x[64:], y[64:])


def mse(out: Tensor, y: Tensor) -> Tensor:
    return F.mse_loss(out.squeeze(-1), y)


def run_fit(model: nn.Module, optimizer: torch.optim.Optimizer, *, schedule: Any = None,
            **kwargs: Any) -> Any:
    generator = seed_everything(0, deterministic=False)
    tr, va = data()
    return fit(model, optimizer, schedule, tr, va, loss_fn=mse, metric=lambda o, y: float(mse(o, y)),
               metric_direction="minimize", epochs=EPOCHS, batch_size=8, generator=generator, **kwargs)


class Recorder(Hook):
    """Writes down every call with the run's epoch and step at that moment."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []

    def on_start(self, run: Run) -> None:
        self.calls.append(("on_start", run.epoch, run.step))

    def before_epoch(self, run: Run) -> None:
        self.calls.append(("before_epoch", run.epoch, run.step))

    def after_step(self, run: Run) -> None:
        self.calls.append(("after_step", run.epoch, run.step))

    def after_epoch(self, run: Run) -> None:
        self.calls.append(("after_epoch", run.epoch, run.step))

    def on_end(self, run: Run) -> None:
        self.calls.append(("on_end", run.epoch, run.step))


def test_a_hook_is_called_at_every_point_in_order() -> None:
    recorder = Recorder()
    model = nn.Linear(4, 1)
    run_fit(model, torch.optim.SGD(model.parameters(), lr=0.01), hooks=[recorder])
    expected: list[tuple[str, int, int]] = [("on_start", 0, 0)]
    for epoch in range(EPOCHS):
        expected.append(("before_epoch", epoch, epoch * BATCHES))
        expected += [("after_step", epoch, epoch * BATCHES + b) for b in range(1, BATCHES + 1)]
        expected.append(("after_epoch", epoch + 1, (epoch + 1) * BATCHES))
    expected.append(("on_end", EPOCHS, EPOCHS * BATCHES))
    assert recorder.calls == expected


def test_fit_puts_its_built_in_hooks_in_one_order(tmp_path: Path) -> None:
    study = shoal.create_study()
    trial = study.ask()
    mine = Recorder()
    hooks = fit_hooks(trial=trial, early_stopping=EarlyStopping(), after_step=lambda m: None,
                      checkpoints=CheckpointStore(tmp_path), extra=[mine])
    assert [type(h).__name__ for h in hooks] == ["SaveCheckpoints", "ReportToTrial", "StopEarly",
                                                 "CallAfterStep", "Recorder", "PruneTrial", "PauseTrial"]
    # Without checkpoints a pause would lose the epochs trained: PAUSE then reads as continue.
    assert [type(h).__name__ for h in fit_hooks(trial=trial)] == ["ReportToTrial", "PruneTrial"]


class StepLog(Hook):
    """Weights, gradient and learning rate after each step of a one-layer model."""

    def __init__(self) -> None:
        self.weights: list[Tensor] = []
        self.grads: list[Tensor] = []
        self.lrs: list[float] = []

    def on_start(self, run: Run) -> None:
        self.weights.append(run.model.weight.detach().clone())  # type: ignore[operator]

    def after_step(self, run: Run) -> None:
        weight = run.model.weight
        assert isinstance(weight, Tensor)
        assert weight.grad is not None
        self.weights.append(weight.detach().clone())
        self.grads.append(weight.grad.detach().clone())
        self.lrs.append(run.lr)


@pytest.mark.parametrize("k", [1, 2])
def test_a_learning_rate_changed_at_epoch_k_is_what_the_optimiser_steps_with(k: int) -> None:
    log = StepLog()
    change = ApplyChanges(lambda run: {"lr": 0.05} if run.epoch == k else None)
    model = nn.Linear(4, 1)
    result = run_fit(model, torch.optim.SGD(model.parameters(), lr=0.01), hooks=[change, log])
    assert result.history["lr"] == [0.01] * k + [0.05] * (EPOCHS - k)
    assert change.applied == [(k, {"lr": 0.05})]
    for step, grad in enumerate(log.grads):
        used = 0.01 if step < k * BATCHES else 0.05
        # Plain SGD: w_s = w_(s-1) - lr * g_s, so the step itself shows the rate it used.
        torch.testing.assert_close(log.weights[step + 1], log.weights[step] - used * grad)
        assert log.lrs[step] == used


def test_a_changed_learning_rate_stays_under_a_schedule() -> None:
    """A cosine schedule keeps shaping the new base rate in the epochs after the change."""
    model = nn.Linear(4, 1)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    schedule = build_lr_schedule(optimizer, {"lr_decay": "cosine"}, epochs=EPOCHS, steps_per_epoch=BATCHES)
    factors = [schedule.lr_at(e)[0] / 0.1 for e in range(EPOCHS)]
    change = ApplyChanges(lambda run: {"lr": 0.02} if run.epoch == 2 else None)
    result = run_fit(model, optimizer, schedule=schedule, hooks=[change])
    assert result.history["lr"] == pytest.approx([0.1 * factors[0], 0.1 * factors[1],
                                                  0.02 * factors[2], 0.02 * factors[3]])


def test_a_change_with_an_unknown_key_is_refused() -> None:
    model = nn.Linear(4, 1)
    with pytest.raises(ConfigError, match=r"^keys of a change to a running fit must be among \['lr'\]. "
                                          r"Got \['momentum'\].$"):
        run_fit(model, torch.optim.SGD(model.parameters(), lr=0.01),
                hooks=[ApplyChanges(lambda run: {"momentum": 0.5})])


class StopAt(Hook):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def after_epoch(self, run: Run) -> None:
        if run.epoch == self.epoch:
            run.request_stop(f"told to stop after {self.epoch} epochs")


def test_a_hook_can_stop_the_run_and_the_best_weights_are_kept() -> None:
    recorder = Recorder()
    model = nn.Linear(4, 1)
    result = run_fit(model, torch.optim.SGD(model.parameters(), lr=0.01), hooks=[StopAt(2), recorder])
    assert result.epochs_run == 2
    assert result.stopped_early
    assert result.stop_reason == "told to stop after 2 epochs"
    assert len(result.history["val_metric"]) == 2
    assert [c[0] for c in recorder.calls].count("before_epoch") == 2
    assert recorder.calls[-1] == ("on_end", 2, 2 * BATCHES)
    assert torch.equal(model.weight, result.state["weight"])


def test_a_stop_before_the_first_epoch_trains_nothing() -> None:
    class StopNow(Hook):
        def before_epoch(self, run: Run) -> None:
            run.request_stop("paused")

    model = nn.Linear(4, 1)
    before = model.weight.detach().clone()
    result = run_fit(model, torch.optim.SGD(model.parameters(), lr=0.01), hooks=[StopNow()])
    assert result.epochs_run == 0
    assert result.stopped_early
    assert torch.equal(model.weight, before)


def fit_linear(store: CheckpointStore, *, epochs: int, init_seed: int) -> tuple[nn.Module, Any]:
    torch.manual_seed(init_seed)
    model = nn.Linear(4, 1)
    generator = seed_everything(0, deterministic=False)
    tr, va = data()
    result = fit(model, torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9), None, tr, va,
                 loss_fn=mse, metric=lambda o, y: float(mse(o, y)), metric_direction="minimize",
                 epochs=epochs, batch_size=8, generator=generator, checkpoints=store,
                 early_stopping=EarlyStopping(patience=3))
    return model, result


def test_a_format_1_checkpoint_still_resumes(tmp_path: Path) -> None:
    """Checkpoints written before early stopping became a hook (format 1) are not stranded."""
    straight_model, straight = fit_linear(CheckpointStore(tmp_path / "straight"), epochs=EPOCHS, init_seed=0)
    store = CheckpointStore(tmp_path / "old")
    fit_linear(store, epochs=2, init_seed=0)
    saved = torch.load(store.path, weights_only=True)  # rewritten as format 1 laid it out
    del saved["step"]
    saved["format"] = 1
    saved["progress"].update(es_best=min(saved["progress"]["history"]["val_metric"]), bad_epochs=0,
                             stopped_early=False)
    store.save(saved)

    resumed_model, resumed = fit_linear(store, epochs=EPOCHS, init_seed=5)  # init overwritten
    assert resumed.resumed_epochs == 2
    assert resumed.history == straight.history
    assert torch.equal(resumed_model.weight, straight_model.weight)


@pytest.mark.parametrize("decay", ["none", "cosine"])
def test_a_fork_resumes_its_parents_checkpoint_and_trains_with_its_own_learning_rate(tmp_path: Path,
                                                                                     decay: str) -> None:
    """The restored optimiser state carries the parent's rate; the fork's own optimiser wins, and
    its schedule keeps shaping the fork's base rate from the epoch restored."""
    total = EPOCHS + 2

    def fit_with(lr: float, store: CheckpointStore, epochs: int) -> Any:
        torch.manual_seed(0)
        model = nn.Linear(4, 1)
        optimizer = torch.optim.SGD(model.parameters(), lr=lr)
        schedule = build_lr_schedule(optimizer, {"lr_decay": decay}, epochs=total, steps_per_epoch=BATCHES)
        tr, va = data()
        return fit(model, optimizer, schedule, tr, va, loss_fn=mse, metric=lambda o, y: float(mse(o, y)),
                   metric_direction="minimize", epochs=epochs, batch_size=8, checkpoints=store)

    fit_with(0.01, CheckpointStore(tmp_path / "parent"), EPOCHS)
    result = fit_with(0.02, CheckpointStore(tmp_path / "fork", resume_from=tmp_path / "parent"), total)
    unit = build_lr_schedule(torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0),
                             {"lr_decay": decay}, epochs=total, steps_per_epoch=BATCHES)
    factors = [unit.lr_at(e)[0] for e in range(total)]
    assert result.resumed_epochs == EPOCHS
    assert result.history["lr"] == pytest.approx([0.01 * f for f in factors[:EPOCHS]]
                                                 + [0.02 * f for f in factors[EPOCHS:]], rel=1e-12)
    if decay == "none":
        assert result.history["lr"] == [0.01] * EPOCHS + [0.02] * 2
