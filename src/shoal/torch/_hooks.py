"""The built-in hooks of the training loop: each feature of `fit` is one of these, nothing more.

`fit` runs them in this order at every point: SaveCheckpoints, ReportToTrial, StopEarly,
CallAfterStep, the caller's own hooks, PruneTrial, PauseTrial. So a checkpoint is restored before
the restored epochs are reported, and an epoch is saved before a pruning or pausing decision ends
the trial. PruneTrial and PauseTrial share one `TrialDecision`: the scheduler is asked once per
epoch, and the one answer is acted on (STOP prunes, PAUSE pauses).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from torch import nn

from shoal._validate import config_error, integer, number
from shoal.exceptions import ConfigError, TrialPaused, TrialPruned
from shoal.schedulers import Decision
from shoal.torch._checkpoint import CheckpointStore, TrialCheckpoints
from shoal.torch._run import Hook, Run

if TYPE_CHECKING:
    from shoal.study import Trial

__all__ = ["ApplyChanges", "CallAfterStep", "EarlyStopping", "PauseTrial", "PruneTrial", "ReportToTrial",
           "SaveCheckpoints", "StopEarly", "TrialDecision"]

log = logging.getLogger("shoal")

FORMAT = 2  # of checkpoints; 2 added "step" and leaves early stopping to be recomputed from history
_READABLE = (1, 2)


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

    def stalled(self, values: list[float], beats: Callable[[float, float, float], bool]) -> bool:
        """Whether the last `patience` of `values` all failed to improve on the best before them.

        Recomputed from the history each time, so it needs no state of its own in a checkpoint.
        """
        best, bad = float("nan"), 0
        for value in values:
            if beats(value, best, self.min_delta):
                best, bad = value, 0
            else:
                bad += 1
        return bad >= self.patience


class StopEarly(Hook):
    """Ask the run to stop once the validation metric has stalled for `patience` epochs."""

    def __init__(self, settings: EarlyStopping) -> None:
        self.settings = settings

    def _check(self, run: Run) -> None:
        if self.settings.stalled(run.progress.history["val_metric"], run.progress.beats):
            run.request_stop(f"early stopping: no improvement in {self.settings.patience} epochs")

    def on_start(self, run: Run) -> None:  # a run restored at a stall does not train on
        self._check(run)

    def after_epoch(self, run: Run) -> None:
        self._check(run)


class ReportToTrial(Hook):
    """Report each epoch to the trial: the metric at step `step_offset + epoch`, with the curves
    "train_loss" and "lr".

    Steps before `trial.start_step` are not reported: a fork's record starts after the step it
    was forked at (the steps before are its parent's). Epochs restored from a checkpoint are
    reported at the start unless the trial's record already holds them (a paused trial resumed
    has them; a retry starting from its parent's checkpoint does not).
    """

    def __init__(self, trial: Trial, *, step_offset: int = 0) -> None:
        self.trial, self.step_offset = trial, step_offset

    def _report(self, run: Run, epoch: int) -> None:
        history, step = run.progress.history, self.step_offset + epoch
        if step < self.trial.start_step:
            return
        # Curves first: they ride along with the value's write, one storage transaction per epoch.
        self.trial.report(history["train_loss"][epoch], step, name="train_loss")
        self.trial.report(history["lr"][epoch], step, name="lr")
        self.trial.report(history["val_metric"][epoch], step)

    def on_start(self, run: Run) -> None:
        recorded = self.trial.snapshot().intermediate if run.resumed_epochs else {}
        for epoch in range(run.resumed_epochs):
            if self.step_offset + epoch not in recorded:
                self._report(run, epoch)

    def after_epoch(self, run: Run) -> None:
        self._report(run, run.epoch - 1)


class TrialDecision:
    """The scheduler's decision for a trial after each epoch, asked once per epoch however many
    hooks act on it (`PruneTrial` on STOP, `PauseTrial` on PAUSE)."""

    def __init__(self, trial: Trial) -> None:
        self.trial = trial
        self._epoch, self._decision = -1, Decision.CONTINUE

    def after(self, run: Run) -> Decision:
        """The decision after the epoch `run` just finished (asked on the first call only)."""
        if run.epoch != self._epoch:
            self._epoch, self._decision = run.epoch, self.trial.decision()
        return self._decision


class PruneTrial(Hook):
    """Raise TrialPruned after an epoch when the trial's scheduler advises stopping."""

    def __init__(self, trial: Trial, *, step_offset: int = 0, decision: TrialDecision | None = None) -> None:
        self.trial, self.step_offset = trial, step_offset
        self.decision = decision if decision is not None else TrialDecision(trial)

    def after_epoch(self, run: Run) -> None:
        if self.decision.after(run) is Decision.STOP:
            raise TrialPruned(f"pruned at step {self.step_offset + run.epoch - 1}")


class PauseTrial(Hook):
    """Raise TrialPaused after an epoch when the trial's scheduler advises pausing there.

    Runs after the epoch's checkpoint is saved (`fit` adds it only when checkpoints are written,
    so a pause never loses an epoch): the trial is recorded PAUSED and a worker may resume it
    from that step later. Without checkpoints a PAUSE reads as "continue", and so does a PAUSE
    after this fit's last epoch: nothing is left to train (`ASHA(max_resource=EPOCHS)` has a rung
    at step EPOCHS - 1 when steps count from 0), so the trial ends as it would have.
    """

    def __init__(self, trial: Trial, *, step_offset: int = 0, decision: TrialDecision | None = None) -> None:
        self.trial, self.step_offset = trial, step_offset
        self.decision = decision if decision is not None else TrialDecision(trial)

    def after_epoch(self, run: Run) -> None:
        if self.decision.after(run) is Decision.PAUSE and run.epoch < run.config.epochs:
            raise TrialPaused(f"paused at step {self.step_offset + run.epoch - 1}")


class SaveCheckpoints(Hook):
    """Resume from the store's checkpoint at the start; save one atomically after every epoch.

    The store is a `TrialCheckpoints` (a live trial's step folders) or a `CheckpointStore` (one
    `last.pt`, for a run without a trial). `setup` holds what must match for a checkpoint to be
    resumed (the fold's step offset, the metric's direction): a checkpoint of another fold or
    study is refused, not silently used.
    """

    def __init__(self, store: CheckpointStore | TrialCheckpoints, *, setup: Mapping[str, Any]) -> None:
        self.store, self.setup = store, dict(setup)

    def on_start(self, run: Run) -> None:
        saved = self.store.load()
        if saved is None:
            return
        self._check(saved, run.config.epochs)
        run.load_state_dict(saved)
        # DEBUG: under a promotion scheduler every resume is routine, and a line each buried the
        # progress bar of `shoal demo` (30 of 40 trials resume); the trial's lineage records them.
        log.debug("resuming from %s after epoch %d", self.store.loaded_from, saved["epoch"])

    def after_epoch(self, run: Run) -> None:
        self.store.save({"format": FORMAT, "setup": self.setup, "epoch": run.epoch - 1, **run.state_dict()})

    def _check(self, saved: dict[str, Any], epochs: int) -> None:
        where = self.store.loaded_from
        if saved.get("format") not in _READABLE:
            raise config_error("format", f"checkpoint {where}", f"one of {list(_READABLE)}",
                               saved.get("format"), "Delete it to start the trial afresh.")
        for key, value in self.setup.items():
            if saved["setup"][key] != value:
                hint = ("Give each fold its own store: store.child(f'fold-{k}')." if key == "step_offset"
                        else "Use another store, or delete the checkpoint to start afresh.")
                raise ConfigError(f"{key} of fit must match checkpoint {where} ({saved['setup'][key]!r}) "
                                  f"to resume from it. Got {value!r}. {hint}")
        if saved["epoch"] + 1 > epochs:
            raise ConfigError(f"epochs of fit must be >= the {saved['epoch'] + 1} epochs already in "
                              f"checkpoint {where}. Got {epochs!r}.")


class CallAfterStep(Hook):
    """Call `fn(model)` after each optimiser step (e.g. `apply_max_norm`, a weight constraint)."""

    def __init__(self, fn: Callable[[nn.Module], None]) -> None:
        self.fn = fn

    def after_step(self, run: Run) -> None:
        self.fn(run.model)


class ApplyChanges(Hook):
    """Before each epoch, ask `source(run)` for pending changes and apply them to the run.

    `source` returns None (nothing pending) or a mapping; the key understood is "lr", the new base
    learning rate (the schedule keeps shaping it). A nudge from a person or a fork with a new
    learning rate is such a source. Each change applied is kept in `applied` as (epoch, changes).

    >>> ApplyChanges(lambda run: {"lr": 0.01} if run.epoch == 3 else None).applied
    []
    """

    KEYS = ("lr",)

    def __init__(self, source: Callable[[Run], Mapping[str, Any] | None]) -> None:
        self.source = source
        self.applied: list[tuple[int, dict[str, Any]]] = []

    def before_epoch(self, run: Run) -> None:
        changes = self.source(run)
        if not changes:
            return
        unknown = sorted(set(changes) - set(self.KEYS))
        if unknown:
            raise config_error("keys", "a change to a running fit", f"among {list(self.KEYS)}", unknown)
        if "lr" in changes:
            run.set_lr(changes["lr"])
        self.applied.append((run.epoch, dict(changes)))
        log.info("applied %s before epoch %d", dict(changes), run.epoch)
