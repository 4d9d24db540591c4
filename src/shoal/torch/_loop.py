"""The epoch loop: train, evaluate, report to the trial, prune, stop early, checkpoint, resume."""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from shoal._validate import integer, number
from shoal.exceptions import ConfigError, TrialFailed, TrialPruned
from shoal.torch._checkpoint import CheckpointStore, rng_states, set_rng_states
from shoal.torch._epoch import (
    EVAL_BATCH_SIZE,
    Data,
    LossWindow,
    StateDict,
    TensorPair,
    batches,
    copy_state,
    evaluate,
    to_device,
)

if TYPE_CHECKING:
    from shoal.study import Trial

__all__ = ["EarlyStopping", "FitResult", "Schedule", "TensorPair", "fit"]

log = logging.getLogger("shoal")

_FORMAT = 1


class Schedule(Protocol):
    """A learning-rate schedule stepped once per epoch (any torch.optim.lr_scheduler fits)."""

    def step(self) -> None: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state_dict: dict[str, Any], /) -> None: ...


@dataclass(frozen=True)
class EarlyStopping:
    """Stop when the validation metric has not improved for `patience` epochs in a row.

    An epoch improves when its metric beats the best so far by more than `min_delta`, in the
    metric's direction.

    >>> EarlyStopping(patience=3)
    EarlyStopping(patience=3, min_delta=0.0)
    """

    patience: int = 5
    min_delta: float = 0.0

    def __post_init__(self) -> None:
        integer(self.patience, what="patience", owner="EarlyStopping", low=1)
        number(self.min_delta, what="min_delta", owner="EarlyStopping", low=0)


@dataclass
class FitResult:
    """What `fit` did.

    Epochs count from 0, like the steps reported to the trial (plus `step_offset`).

    Attributes:
        best_metric: The best validation metric over all epochs, in the metric's direction.
        best_epoch: The epoch that reached it.
        final_metric: The validation metric of the last epoch run.
        epochs_run: Epochs completed, including those restored from a checkpoint.
        history: Per epoch: "train_loss" (mean over examples), "val_metric", "lr" (the learning
            rate of the first parameter group during that epoch).
        stopped_early: True when early stopping ended the run before `epochs`.
        state: The model's state dict at `best_epoch`, also loaded into the model.
        resumed_epochs: Epochs restored from a checkpoint rather than trained in this call.
    """

    best_metric: float
    best_epoch: int
    final_metric: float
    epochs_run: int
    history: dict[str, list[float]]
    stopped_early: bool
    state: StateDict = field(repr=False)
    resumed_epochs: int = 0


def fit(model: nn.Module, optimizer: torch.optim.Optimizer, schedule: Schedule | None,
        train: Data, val: Data, *,
        loss_fn: Callable[[Tensor, Tensor], Tensor],
        metric: Callable[[Tensor, Tensor], float],
        metric_direction: str,
        epochs: int,
        batch_size: int | None = None,
        eval_batch_size: int | None = None,
        trial: Trial | None = None,
        early_stopping: EarlyStopping | None = None,
        clip_grad_norm: float | None = None,
        after_step: Callable[[nn.Module], None] | None = None,
        device: torch.device | None = None,
        checkpoints: CheckpointStore | None = None,
        generator: torch.Generator | None = None,
        step_offset: int = 0,
        report: bool = True) -> FitResult:
    """Train `model` for `epochs`, evaluating on `val` after each; return the best epoch's model.

    Each epoch: shuffle `train` with `generator`, then per mini-batch of `batch_size` examples:
    forward, `loss_fn`, backward, clip the global gradient norm to `clip_grad_norm`, optimiser
    step, `after_step(model)`. Then evaluate with `metric` on all of `val` (`model.eval()`, no
    gradients), step `schedule`, and with a `trial`: report the metric at step
    `step_offset + epoch`, the training loss and learning rate as curves "train_loss" and "lr",
    save the checkpoint, and raise `TrialPruned` if the trial's scheduler says stop.

    The model is left holding the best epoch's weights (also `FitResult.state`): the metric a
    tuner records for the trial is the best one, so the model handed back is the one that
    scored it. The last epoch's metric is `FitResult.final_metric`.

    Divergence: a NaN or infinite training loss raises `TrialFailed("diverged: training loss
    became nan at epoch E, batch B")`, with or without a trial (inside an objective it ends the
    trial FAILED; other callers decide). Losses are checked every CHECK_EVERY (16) batches and
    at the end of each epoch, in one device synchronisation each (a check per batch would stall
    a GPU's queue every batch), so a diverged run stops within 16 batches and always within its
    epoch; the message names the first bad batch. A NaN validation metric also counts as
    divergence.

    Checkpoints: with `checkpoints`, each epoch ends with one atomic save of everything the next
    epoch depends on (weights, optimiser, schedule, best weights so far, early-stopping counter,
    history, and every random state). If the store already holds a checkpoint, `fit` restores it
    and continues from the next epoch: with the same seed, a resumed run ends with exactly the
    weights of an uninterrupted one (bitwise on CPU). Epochs restored are reported again to
    `trial`, so a retry resuming from its parent's checkpoint has the whole curve.

    Args:
        model: The network; moved to `device` when one is given.
        optimizer: Built on `model`'s parameters.
        schedule: Stepped once per epoch, or None.
        train / val: `(x, y)` tensors, or DataLoaders of `(x, y)` batches. A DataLoader shuffles
            by itself: pass its generator as `generator` so checkpoints save that generator too.
        loss_fn: `loss_fn(output, y)`, the mean over the batch.
        metric: `metric(outputs, y)` over the whole validation set, a float.
        metric_direction: "maximize" or "minimize".
        epochs: Epochs to train in all, counting any restored from a checkpoint.
        batch_size: Mini-batch size for tensor data; required then.
        eval_batch_size: Rows per forward when evaluating tensor data; default
            max(batch_size, EVAL_BATCH_SIZE = 1024): without gradients a larger batch is safe,
            and evaluating in training-sized batches costs ~1.5% of an MLP epoch (benchmarks).
        trial: The live trial to report to and prune, or None.
        early_stopping: Stop after this many epochs without improvement, or None.
        clip_grad_norm: Clip the global L2 norm of the gradients to this, or None.
        after_step: Called with the model after each optimiser step (e.g. a max-norm constraint).
        device: Where to train; default: where the model's parameters are.
        checkpoints: Where to save and resume from, or None (nothing is written).
        generator: Shuffles tensor data; None uses torch's global generator.
        step_offset: Added to the epoch to make the reported step (fold f of k: `f * epochs`).
        report: False: do not report to `trial` nor prune (e.g. a final retraining).

    Returns:
        A FitResult.

    Raises:
        TrialFailed: the training loss or validation metric became NaN or infinite.
        TrialPruned: the trial's scheduler advised stopping.
        ConfigError: an argument is out of range, or the checkpoint was written by another setup.

    >>> _ = torch.manual_seed(0)
    >>> x = torch.randn(64, 3); y = x @ torch.tensor([1.0, -2.0, 0.5])
    >>> net = nn.Linear(3, 1)
    >>> mse = lambda out, t: nn.functional.mse_loss(out.squeeze(-1), t)
    >>> result = fit(net, torch.optim.SGD(net.parameters(), lr=0.1), None, (x, y), (x, y),
    ...              loss_fn=mse, metric=lambda out, t: mse(out, t).item(),
    ...              metric_direction="minimize", epochs=20, batch_size=16)
    >>> result.epochs_run, result.best_metric < 0.01
    (20, True)
    """
    direction = _check_args(epochs, batch_size, train, metric_direction, clip_grad_norm, step_offset)
    integer(eval_batch_size, what="eval_batch_size", owner="fit", low=1, none=True)
    if eval_batch_size is None and batch_size is not None:
        eval_batch_size = max(batch_size, EVAL_BATCH_SIZE)
    if device is None:
        device = next((p.device for p in model.parameters()), torch.device("cpu"))
    else:
        model.to(device)
    train_data, val_data = to_device(train, device), to_device(val, device)
    generators = {"shuffle": generator,
                  "loader": train.generator if isinstance(train, DataLoader) else None}
    trainable = [p for p in model.parameters() if p.requires_grad]
    reporter = trial if report else None
    progress = _Progress(maximize=direction == "maximize", early_stopping=early_stopping)
    setup = {"step_offset": step_offset, "metric_direction": direction}
    saved = checkpoints.load() if checkpoints is not None else None
    if saved is not None and checkpoints is not None:
        _check_checkpoint(saved, setup, epochs, checkpoints)
        model.load_state_dict(saved["model"])
        optimizer.load_state_dict(saved["optimizer"])
        if schedule is not None and saved["schedule"] is not None:
            schedule.load_state_dict(saved["schedule"])
        progress.restore(saved["progress"])
        set_rng_states(saved["rng"], generators)
        log.info("resuming from %s after epoch %d", checkpoints.loaded_from, saved["epoch"])
        if reporter is not None:
            for epoch in range(progress.epochs):
                _report(reporter, progress.history, epoch, step_offset)
    resumed = progress.epochs

    for epoch in range(resumed, epochs):
        if progress.stopped_early:
            break
        lr = float(optimizer.param_groups[0]["lr"])
        model.train()
        losses = LossWindow(epoch)
        for xb, yb in batches(train_data, batch_size, device, generator, shuffle=True):
            loss = loss_fn(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            if clip_grad_norm is not None:
                nn.utils.clip_grad_norm_(trainable, clip_grad_norm)
            optimizer.step()
            if after_step is not None:
                after_step(model)
            losses.add(loss, yb.shape[0])
        train_loss = losses.mean()
        value = evaluate(model, val_data, metric, eval_batch_size, device)
        if not math.isfinite(value):
            raise TrialFailed(f"diverged: validation metric became {value} at epoch {epoch}")
        if schedule is not None:
            schedule.step()
        progress.record(model, train_loss, value, lr)
        if reporter is not None:
            _report(reporter, progress.history, epoch, step_offset)
        if checkpoints is not None:
            model_state = model.state_dict()
            checkpoints.save({
                "format": _FORMAT, "setup": setup, "epoch": epoch, "model": model_state,
                "optimizer": optimizer.state_dict(),
                "schedule": None if schedule is None else schedule.state_dict(),
                "progress": progress.state(model_state), "rng": rng_states(generators)})
        if reporter is not None and reporter.should_prune():
            raise TrialPruned(f"pruned at step {step_offset + epoch}")

    model.load_state_dict(progress.best_state)
    history = progress.history
    return FitResult(best_metric=progress.best_metric, best_epoch=progress.best_epoch,
                     final_metric=history["val_metric"][-1], epochs_run=progress.epochs,
                     history=history, stopped_early=progress.stopped_early and progress.epochs < epochs,
                     state=progress.best_state,
                     resumed_epochs=resumed)


class _Progress:
    """What the epochs so far decided: history, best epoch and weights, early-stopping count."""

    def __init__(self, *, maximize: bool, early_stopping: EarlyStopping | None) -> None:
        self.maximize = maximize
        self.early_stopping = early_stopping
        self.history: dict[str, list[float]] = {"train_loss": [], "val_metric": [], "lr": []}
        self.best_metric, self.best_epoch = math.nan, -1
        self.best_state: StateDict = {}
        self.es_best, self.bad_epochs, self.stopped_early = math.nan, 0, False

    @property
    def epochs(self) -> int:
        return len(self.history["val_metric"])

    def _beats(self, value: float, best: float, margin: float) -> bool:
        return math.isnan(best) or (value > best + margin if self.maximize else value < best - margin)

    def record(self, model: nn.Module, train_loss: float, value: float, lr: float) -> None:
        epoch = self.epochs
        for key, item in (("train_loss", train_loss), ("val_metric", value), ("lr", lr)):
            self.history[key].append(item)
        if self._beats(value, self.best_metric, 0.0):
            self.best_metric, self.best_epoch, self.best_state = value, epoch, copy_state(model)
        if self.early_stopping is not None:
            if self._beats(value, self.es_best, self.early_stopping.min_delta):
                self.es_best, self.bad_epochs = value, 0
            else:
                self.bad_epochs += 1
            self.stopped_early = self.bad_epochs >= self.early_stopping.patience

    def state(self, model_state: StateDict) -> dict[str, Any]:
        # When this epoch is the best, its weights are the model's own tensors: torch.save
        # writes shared storage once, so the checkpoint does not grow by a second copy.
        best = model_state if self.best_epoch == self.epochs - 1 else self.best_state
        return {"history": self.history, "best_metric": self.best_metric, "best_epoch": self.best_epoch,
                "best_state": best, "es_best": self.es_best, "bad_epochs": self.bad_epochs,
                "stopped_early": self.stopped_early}

    def restore(self, saved: dict[str, Any]) -> None:
        self.history = saved["history"]
        self.best_metric, self.best_epoch = saved["best_metric"], saved["best_epoch"]
        self.best_state = saved["best_state"]
        self.es_best, self.bad_epochs = saved["es_best"], saved["bad_epochs"]
        self.stopped_early = saved["stopped_early"]


def _check_args(epochs: int, batch_size: int | None, train: Data, metric_direction: str,
                clip_grad_norm: float | None, step_offset: int) -> str:
    integer(epochs, what="epochs", owner="fit", low=1)
    if batch_size is not None:
        integer(batch_size, what="batch_size", owner="fit", low=1)
    if batch_size is None and not isinstance(train, DataLoader):
        raise ConfigError("batch_size of fit must be given when train is a pair of tensors. Got None.")
    direction = str(getattr(metric_direction, "value", metric_direction)).lower()
    if direction not in ("maximize", "minimize"):
        raise ConfigError(f"metric_direction of fit must be 'maximize' or 'minimize'. "
                          f"Got {metric_direction!r}.")
    number(clip_grad_norm, what="clip_grad_norm", owner="fit", low=0, low_open=True, none=True)
    integer(step_offset, what="step_offset", owner="fit", low=0)
    return direction


def _check_checkpoint(saved: dict[str, Any], setup: dict[str, Any], epochs: int,
                      store: CheckpointStore) -> None:
    where = store.loaded_from
    if saved.get("format") != _FORMAT:
        raise ConfigError(f"format of checkpoint {where} must be {_FORMAT}. Got {saved.get('format')!r}. "
                          "Delete it to start the trial afresh.")
    for key, value in setup.items():
        if saved["setup"][key] != value:
            hint = ("Give each fold its own store: store.child(f'fold-{k}')." if key == "step_offset"
                    else "Use another store, or delete the checkpoint to start afresh.")
            raise ConfigError(f"{key} of fit must match checkpoint {where} ({saved['setup'][key]!r}) "
                              f"to resume from it. Got {value!r}. {hint}")
    if saved["epoch"] + 1 > epochs:
        raise ConfigError(f"epochs of fit must be >= the {saved['epoch'] + 1} epochs already in checkpoint "
                          f"{where}. Got {epochs!r}.")


def _report(trial: Trial, history: dict[str, list[float]], epoch: int, step_offset: int) -> None:
    step = step_offset + epoch
    # Curves first: they ride along with the value's write, one storage transaction per epoch.
    trial.report(history["train_loss"][epoch], step, name="train_loss")
    trial.report(history["lr"][epoch], step, name="lr")
    trial.report(history["val_metric"][epoch], step)
