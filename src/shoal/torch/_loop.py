"""`fit`: the epoch loop with reporting, pruning, early stopping and checkpoints, as hooks on `train`."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import torch
from torch import Tensor, nn

from shoal._validate import integer
from shoal.exceptions import ConfigError
from shoal.torch._checkpoint import CheckpointStore, TrialCheckpoints, wants_checkpoints
from shoal.torch._epoch import Data, StateDict, TensorPair
from shoal.torch._hooks import (
    CallAfterStep,
    EarlyStopping,
    PauseTrial,
    PruneTrial,
    ReportToTrial,
    SaveCheckpoints,
    StopEarly,
    TrialDecision,
)
from shoal.torch._run import Hook, Run, Schedule, TrainConfig, train_run

if TYPE_CHECKING:
    from shoal.study import Trial

__all__ = ["EarlyStopping", "FitResult", "Schedule", "TensorPair", "fit", "fit_hooks"]


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
        stopped_early: True when a hook (early stopping, or one of yours) ended the run before
            `epochs`.
        state: The model's state dict at `best_epoch`, also loaded into the model.
        resumed_epochs: Epochs restored from a checkpoint rather than trained in this call.
        stop_reason: Why a hook stopped the run (e.g. "early stopping: ..."), or None.
    """

    best_metric: float
    best_epoch: int
    final_metric: float
    epochs_run: int
    history: dict[str, list[float]]
    stopped_early: bool
    state: StateDict = field(repr=False)
    resumed_epochs: int = 0
    stop_reason: str | None = None

    @classmethod
    def of(cls, run: Run) -> FitResult:
        """What `run` did, once `train_run` has returned."""
        progress = run.progress
        history = progress.history
        return cls(best_metric=progress.best_metric, best_epoch=progress.best_epoch,
                   final_metric=history["val_metric"][-1] if history["val_metric"] else math.nan,
                   epochs_run=progress.epochs, history=history,
                   stopped_early=run.stop_reason is not None and progress.epochs < run.config.epochs,
                   state=progress.best_state, resumed_epochs=run.resumed_epochs,
                   stop_reason=run.stop_reason)


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
        checkpoints: CheckpointStore | TrialCheckpoints | bool | None = None,
        generator: torch.Generator | None = None,
        step_offset: int = 0,
        report: bool = True,
        hooks: Sequence[Hook] = ()) -> FitResult:
    """Train `model` for `epochs`, evaluating on `val` after each; return the best epoch's model.

    Each epoch: shuffle `train` with `generator`, then per mini-batch of `batch_size` examples:
    forward, `loss_fn`, backward, clip the global gradient norm to `clip_grad_norm`, optimiser
    step, `after_step(model)`. Then evaluate with `metric` on all of `val` (`model.eval()`, no
    gradients), step `schedule`, save the checkpoint, and with a `trial`: report the metric at
    step `step_offset + epoch`, the training loss and learning rate as curves "train_loss" and
    "lr", then ask the trial's scheduler once: raise `TrialPruned` if it says stop, or
    `TrialPaused` if it says pause (only when checkpoints are written: the trial resumes from
    this epoch's). Each of these is a hook on `train_run` (see `fit_hooks` for their order);
    `hooks=` adds your own.

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

    Checkpoints: each epoch ends with one atomic save of everything the next epoch depends on
    (weights, optimiser, schedule, best weights so far, history, step count, and every random
    state; early stopping is recomputed from the history). With a trial they go through it: epoch
    e is saved as `state.pt` in `trial.checkpoint(step_offset + e)`, kept by the study's retention,
    and `fit` starts from `trial.resume_step` (a paused trial resumed, a fork, a retry of a trial
    whose worker died). Without a trial, a `CheckpointStore` keeps `last.pt`. Either way `fit`
    restores what it finds and continues from the next epoch: with the same seed, a resumed run
    ends with exactly the weights of an uninterrupted one (bitwise on CPU). The optimiser's and
    schedule's own hyperparameters win over the checkpoint's (`Run.load_state_dict`): a fork
    with a new learning rate trains with it. Epochs restored are reported to `trial` unless its
    record holds them (a retry gets the whole curve); steps before `trial.start_step` (a fork's
    parent's) are never reported.

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
        checkpoints: Where to save and resume from. None (default): through the trial when it
            continues from a step or its study's scheduler pauses or forks trials
            (`wants_checkpoints`), else nothing. True: through the trial. False: nothing. A
            `CheckpointStore`: that folder's `last.pt`. A `TrialCheckpoints`: the trial's steps
            (its step range is set from `step_offset` and `epochs`).
        generator: Shuffles tensor data; None uses torch's global generator.
        step_offset: Added to the epoch to make the reported step (fold f of k: `f * epochs`).
        report: False: do not report to `trial` nor prune (e.g. a final retraining).
        hooks: Your own `Hook`s, run after the built-in ones and before pruning (see `fit_hooks`).

    Returns:
        A FitResult.

    Raises:
        TrialFailed: the training loss or validation metric became NaN or infinite.
        TrialPruned: the trial's scheduler advised stopping.
        TrialPaused: the trial's scheduler advised pausing (the epoch's checkpoint is saved).
        ConfigError: an argument is out of range, the checkpoint was written by another setup,
            or `checkpoints=True` was given without a trial.

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
    config = TrainConfig(loss_fn=loss_fn, metric=metric, direction=metric_direction, epochs=epochs,
                         batch_size=batch_size, eval_batch_size=eval_batch_size,
                         clip_grad_norm=clip_grad_norm)
    integer(step_offset, what="step_offset", owner="fit", low=0)
    run = Run(model, optimizer, schedule, train, val, config=config, device=device, generator=generator)
    chain = fit_hooks(trial=trial if report else None, step_offset=step_offset, direction=config.direction,
                      early_stopping=early_stopping, after_step=after_step,
                      checkpoints=_checkpoints(checkpoints, trial, auto=report), epochs=epochs, extra=hooks)
    train_run(run, chain)
    return FitResult.of(run)


def _checkpoints(checkpoints: CheckpointStore | TrialCheckpoints | bool | None,
                 trial: Trial | None, *, auto: bool) -> CheckpointStore | TrialCheckpoints | None:
    """What `fit`'s `checkpoints=` means for this call (see `fit`); `auto`: None may turn them on."""
    if checkpoints is None:
        on = auto and trial is not None and wants_checkpoints(trial)
        return TrialCheckpoints(trial) if on and trial is not None else None
    if checkpoints is True:
        if trial is None:
            raise ConfigError("checkpoints=True of fit must come with a trial to save through. Got "
                              "trial=None. Pass checkpoints=CheckpointStore(folder) instead.")
        return TrialCheckpoints(trial)
    if checkpoints is False:
        return None
    return checkpoints


def fit_hooks(*, trial: Trial | None, step_offset: int = 0, direction: str = "maximize",
              early_stopping: EarlyStopping | None = None,
              after_step: Callable[[nn.Module], None] | None = None,
              checkpoints: CheckpointStore | TrialCheckpoints | None = None, epochs: int | None = None,
              extra: Sequence[Hook] = ()) -> list[Hook]:
    """The hooks `fit` runs, in their order: checkpoints, reporting, early stopping, `after_step`,
    `extra`, pruning, pausing (only when checkpoints are written).

    Pruning and pausing share one `TrialDecision`, so the scheduler is asked once per epoch.

    >>> [type(h).__name__ for h in fit_hooks(trial=None, early_stopping=EarlyStopping())]
    ['StopEarly']
    """
    hooks: list[Hook] = []
    if isinstance(checkpoints, TrialCheckpoints):
        checkpoints = checkpoints.spanning(step_offset=step_offset, epochs=epochs)
    if checkpoints is not None:
        hooks.append(SaveCheckpoints(checkpoints, setup={"step_offset": step_offset,
                                                         "metric_direction": direction}))
    if trial is not None:
        hooks.append(ReportToTrial(trial, step_offset=step_offset))
    if early_stopping is not None:
        hooks.append(StopEarly(early_stopping))
    if after_step is not None:
        hooks.append(CallAfterStep(after_step))
    hooks.extend(extra)
    if trial is not None:
        decision = TrialDecision(trial)
        hooks.append(PruneTrial(trial, step_offset=step_offset, decision=decision))
        if checkpoints is not None:
            hooks.append(PauseTrial(trial, step_offset=step_offset, decision=decision))
    return hooks
