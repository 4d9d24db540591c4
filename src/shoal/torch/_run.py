"""The small core of the training loop: a `Run` (what trains and how far it got), `Hook`s, `train_run`.

Everything that is not "train an epoch, evaluate, remember the best" is a hook called at one of
five points: reporting to a trial, pruning, checkpoints, early stopping, a change of learning rate
while training, a max-norm constraint. `fit` (in `_loop`) puts the built-in hooks in order.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from shoal._validate import integer, number
from shoal.exceptions import ConfigError, TrialFailed
from shoal.torch._checkpoint import rng_states, set_rng_states
from shoal.torch._epoch import (
    EVAL_BATCH_SIZE,
    Data,
    LossWindow,
    StateDict,
    batches,
    copy_state,
    evaluate,
    to_device,
)

__all__ = ["Hook", "Progress", "Run", "Schedule", "TrainConfig", "train_run"]


class Schedule(Protocol):
    """A learning-rate schedule stepped once per epoch (any torch.optim.lr_scheduler fits)."""

    def step(self) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any], /) -> None: ...


@dataclass(frozen=True)
class TrainConfig:
    """How a run trains: loss, validation metric and its direction, length, batch sizes, clipping.

    >>> config = TrainConfig(loss_fn=torch.nn.functional.mse_loss, metric=lambda out, y: 0.0,
    ...                      direction="minimize", epochs=3, batch_size=16)
    >>> config.eval_rows
    1024
    """

    loss_fn: Callable[[Tensor, Tensor], Tensor]
    metric: Callable[[Tensor, Tensor], float]
    direction: str
    epochs: int
    batch_size: int | None = None
    eval_batch_size: int | None = None
    clip_grad_norm: float | None = None

    def __post_init__(self) -> None:
        integer(self.epochs, what="epochs", owner="fit", low=1)
        if self.batch_size is not None:
            integer(self.batch_size, what="batch_size", owner="fit", low=1)
        direction = str(getattr(self.direction, "value", self.direction)).lower()
        if direction not in ("maximize", "minimize"):
            raise ConfigError(f"metric_direction of fit must be 'maximize' or 'minimize'. "
                              f"Got {self.direction!r}.")
        object.__setattr__(self, "direction", direction)
        number(self.clip_grad_norm, what="clip_grad_norm", owner="fit", low=0, low_open=True, none=True)
        integer(self.eval_batch_size, what="eval_batch_size", owner="fit", low=1, none=True)

    @property
    def eval_rows(self) -> int | None:
        """Rows per forward when evaluating tensor data: without gradients a larger batch is safe."""
        if self.eval_batch_size is None and self.batch_size is not None:
            return max(self.batch_size, EVAL_BATCH_SIZE)
        return self.eval_batch_size


class Progress:
    """What the epochs so far decided: the history, and the best epoch with its weights."""

    def __init__(self, *, maximize: bool) -> None:
        self.maximize = maximize
        self.history: dict[str, list[float]] = {"train_loss": [], "val_metric": [], "lr": []}
        self.best_metric, self.best_epoch = math.nan, -1
        self.best_state: StateDict = {}

    @property
    def epochs(self) -> int:
        return len(self.history["val_metric"])

    def beats(self, value: float, best: float, margin: float = 0.0) -> bool:
        """Whether `value` improves on `best` by more than `margin`, in the metric's direction."""
        return math.isnan(best) or (value > best + margin if self.maximize else value < best - margin)

    def record(self, model: nn.Module, train_loss: float, value: float, lr: float) -> None:
        epoch = self.epochs
        for key, item in (("train_loss", train_loss), ("val_metric", value), ("lr", lr)):
            self.history[key].append(item)
        if self.beats(value, self.best_metric):
            self.best_metric, self.best_epoch, self.best_state = value, epoch, copy_state(model)

    def state(self, model_state: StateDict) -> dict[str, Any]:
        # When this epoch is the best, its weights are the model's own tensors: torch.save
        # writes shared storage once, so the checkpoint does not grow by a second copy.
        best = model_state if self.best_epoch == self.epochs - 1 else self.best_state
        return {"history": self.history, "best_metric": self.best_metric, "best_epoch": self.best_epoch,
                "best_state": best}

    def restore(self, saved: dict[str, Any]) -> None:
        self.history = saved["history"]
        self.best_metric, self.best_epoch = saved["best_metric"], saved["best_epoch"]
        self.best_state = saved["best_state"]


class Run:
    """One training run: what it trains, and how far it got. Hooks read it and change it.

    Attributes:
        model, optimizer, schedule: What trains; `schedule` may be None.
        config: The TrainConfig.
        device: Where it trains.
        progress: History, best epoch and best weights so far.
        epoch: Epochs completed (restored ones included); the next epoch to train has this number.
        step: Optimiser steps taken (restored ones included).
        batch_loss: The loss tensor of the latest step (reading its value synchronises the device).
        stop_reason: Why the run stops before its last epoch, once a hook has asked it to.
        resumed_epochs: Epochs restored from a checkpoint rather than trained in this run.
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer, schedule: Schedule | None,
                 train: Data, val: Data, *, config: TrainConfig, device: torch.device | None = None,
                 generator: torch.Generator | None = None) -> None:
        if config.batch_size is None and not isinstance(train, DataLoader):
            raise ConfigError("batch_size of fit must be given when train is a pair of tensors. Got None.")
        if device is None:
            device = next((p.device for p in model.parameters()), torch.device("cpu"))
        else:
            model.to(device)
        self.model, self.optimizer, self.schedule, self.config = model, optimizer, schedule, config
        self.device = device
        self.train_data, self.val_data = to_device(train, device), to_device(val, device)
        self.generator = generator
        self._generators = {"shuffle": generator,
                            "loader": train.generator if isinstance(train, DataLoader) else None}
        self.trainable = [p for p in model.parameters() if p.requires_grad]
        self.progress = Progress(maximize=config.direction == "maximize")
        self.epoch = 0
        self.step = 0
        self.batch_loss: Tensor | None = None
        self.stop_reason: str | None = None
        self.resumed_epochs = 0

    @property
    def lr(self) -> float:
        """The learning rate of the first parameter group now."""
        return float(self.optimizer.param_groups[0]["lr"])

    def set_lr(self, lr: float) -> None:
        """Make `lr` the base learning rate of every parameter group from now on.

        A schedule keeps shaping it: the current factor (the group's rate over the schedule's
        base rate) applies to the new base, and later epochs follow the schedule from there.
        """
        lr = number(lr, what="lr", owner="Run.set_lr", low=0, low_open=True)
        for i in range(len(self.optimizer.param_groups)):
            self._rebase(i, lr)

    def _base_lr(self, i: int) -> float:
        """Group `i`'s base learning rate: the schedule's (which it scales), else its rate now."""
        base_lrs: list[float] | None = getattr(self.schedule, "base_lrs", None)
        group = self.optimizer.param_groups[i]
        return float(base_lrs[i] if base_lrs is not None else group.get("initial_lr", group["lr"]))

    def _rebase(self, i: int, lr: float) -> None:
        base_lrs: list[float] | None = getattr(self.schedule, "base_lrs", None)
        group = self.optimizer.param_groups[i]
        factor = 1.0
        if base_lrs is not None and base_lrs[i] > 0:
            factor = float(group["lr"]) / float(base_lrs[i])
        if base_lrs is not None:
            base_lrs[i] = lr
        if "initial_lr" in group:
            group["initial_lr"] = lr
        group["lr"] = lr * factor

    def request_stop(self, reason: str) -> None:
        """End the run after the current point: no further epoch starts. The first reason stays."""
        if self.stop_reason is None:
            self.stop_reason = reason

    def state_dict(self) -> dict[str, Any]:
        """Everything the next epoch depends on: weights, optimiser, schedule, progress, random states."""
        model_state = self.model.state_dict()
        return {"model": model_state, "optimizer": self.optimizer.state_dict(),
                "schedule": None if self.schedule is None else self.schedule.state_dict(),
                "progress": self.progress.state(model_state), "rng": rng_states(self._generators),
                "step": self.step}

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Continue from `saved` (a `state_dict()`, with "epoch" the last epoch it completed).

        The hyperparameters the optimiser and schedule were built with win over the saved ones:
        `optimizer.load_state_dict` brings back the saved run's param groups (its lr, momentum,
        betas, eps, weight decay...), so each group's built values are put back afterwards, and
        a new base learning rate is rebased under the schedule (the saved epoch's factor applies
        to it, as `set_lr` does). A fork with a perturbed learning rate trains with it; a run
        resumed with its own settings is unchanged, bit for bit.
        """
        built = [{k: v for k, v in group.items() if k != "params"} for group in self.optimizer.param_groups]
        bases = [self._base_lr(i) for i in range(len(built))]
        factors = None if self.schedule is None else self.schedule.state_dict().get("lr_lambdas")
        self.model.load_state_dict(saved["model"])
        self.optimizer.load_state_dict(saved["optimizer"])
        if self.schedule is not None and saved["schedule"] is not None:
            schedule_state = dict(saved["schedule"])
            if factors is not None:  # a LambdaLR's factors are settings too: keep the built ones
                schedule_state["lr_lambdas"] = factors
            self.schedule.load_state_dict(schedule_state)
        for i, group in enumerate(self.optimizer.param_groups):
            group.update({k: v for k, v in built[i].items() if k not in ("lr", "initial_lr")})
            if self._base_lr(i) != bases[i]:  # only then: (lr / base) * base need not be lr exactly
                self._rebase(i, bases[i])
        self.progress.restore(saved["progress"])
        set_rng_states(saved["rng"], self._generators)
        self.epoch = self.resumed_epochs = self.progress.epochs
        self.step = int(saved.get("step", 0))  # checkpoints of format 1 did not count steps


class Hook:
    """Code the loop runs at its points; each does nothing unless a subclass overrides it.

    Hooks run in the order given, at each point. A hook may read and change the `Run` (set the
    learning rate, ask it to stop) or raise (`TrialPruned` ends the trial pruned).
    """

    def on_start(self, run: Run) -> None:
        """Before the first epoch (after a checkpoint was restored, when a hook restores one)."""

    def before_epoch(self, run: Run) -> None:
        """Before epoch `run.epoch` trains: the place to apply a pending change."""

    def after_step(self, run: Run) -> None:
        """After each optimiser step (`run.step` counts them)."""

    def after_epoch(self, run: Run) -> None:
        """After epoch `run.epoch - 1` is evaluated and recorded in `run.progress`."""

    def on_end(self, run: Run) -> None:
        """After the last epoch, once the model holds the best epoch's weights (not after a raise)."""


def train_run(run: Run, hooks: Sequence[Hook] = ()) -> None:
    """Train `run` to its last epoch or until a hook stops it; leave the best epoch's weights loaded.

    Each epoch: the `before_epoch` hooks; per mini-batch forward, loss, backward, clipping,
    optimiser step, the `after_step` hooks; then evaluation on the validation data, a schedule
    step, the record in `run.progress`, and the `after_epoch` hooks.

    Raises:
        TrialFailed: the training loss or validation metric became NaN or infinite.
    """
    config, model, optimizer = run.config, run.model, run.optimizer
    # Only hooks that act after a step are called per step: the rest would cost a call per batch.
    step_hooks = [h for h in hooks if type(h).after_step is not Hook.after_step]
    for hook in hooks:
        hook.on_start(run)
    while run.epoch < config.epochs and run.stop_reason is None:
        for hook in hooks:
            hook.before_epoch(run)
        if run.stop_reason is not None:
            break
        epoch, lr = run.epoch, run.lr
        model.train()
        losses = LossWindow(epoch)
        for xb, yb in batches(run.train_data, config.batch_size, run.device, run.generator, shuffle=True):
            loss = config.loss_fn(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            if config.clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(run.trainable, config.clip_grad_norm)
            optimizer.step()
            run.step += 1
            run.batch_loss = loss
            for hook in step_hooks:
                hook.after_step(run)
            losses.add(loss, yb.shape[0])
        train_loss = losses.mean()
        value = evaluate(model, run.val_data, config.metric, config.eval_rows, run.device)
        if not math.isfinite(value):
            raise TrialFailed(f"diverged: validation metric became {value} at epoch {epoch}")
        if run.schedule is not None:
            run.schedule.step()
        run.progress.record(model, train_loss, value, lr)
        run.epoch = epoch + 1
        for hook in hooks:
            hook.after_epoch(run)
    if run.progress.epochs:
        model.load_state_dict(run.progress.best_state)
    for hook in hooks:
        hook.on_end(run)
