"""Learning-rate schedules, stepped once per epoch, saved and restored with the checkpoint."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch.optim.lr_scheduler import LambdaLR

from shoal.exceptions import ConfigError
from shoal.torch._hparams import Range, as_int, read_choice, read_float, read_int

__all__ = ["SCHEDULES", "SCHEDULE_KEYS", "EpochFactor", "LRSchedule", "build_lr_schedule"]

#: The `lr_decay` values, in the order error messages list them.
SCHEDULES = ("none", "step", "exponential", "inverse_time", "cosine")

#: The keys `build_lr_schedule` reads.
SCHEDULE_KEYS = frozenset({"lr_decay", "decay_rate", "decay_epochs", "min_lr", "warmup_epochs"})

_DEFAULT_RATE = {"step": 0.1, "exponential": 0.95, "inverse_time": 1.0}


class EpochFactor:
    """The multiple of the base learning rate to use in a given epoch (0-based).

    Its attributes are plain numbers, so `LambdaLR.state_dict` saves them with the checkpoint.

    >>> f = EpochFactor("inverse_time", rate=1.0, warmup_epochs=2)
    >>> [round(f(e), 3) for e in range(5)]
    [0.1, 0.55, 1.0, 0.5, 0.333]
    """

    def __init__(self, kind: str, *, rate: float = 1.0, decay_epochs: int = 1, warmup_epochs: int = 0,
                 epochs: int = 1, floor: float = 0.0) -> None:
        self.kind, self.rate, self.decay_epochs = kind, rate, decay_epochs
        self.warmup_epochs, self.epochs, self.floor = warmup_epochs, epochs, floor

    def __call__(self, epoch: int) -> float:
        if epoch < self.warmup_epochs:
            return 0.1 + 0.9 * epoch / self.warmup_epochs
        t = epoch - self.warmup_epochs
        if self.kind == "step":
            return float(self.rate ** (t // self.decay_epochs))
        if self.kind == "exponential":
            return float(self.rate**t)
        if self.kind == "inverse_time":
            return 1.0 / (1.0 + self.rate * t)
        if self.kind == "cosine":
            horizon = self.epochs - self.warmup_epochs
            progress = min(t, horizon) / horizon
            return self.floor + (1.0 - self.floor) * (1.0 + math.cos(math.pi * progress)) / 2.0
        return 1.0


class LRSchedule(LambdaLR):
    """A per-epoch learning-rate schedule: a `LambdaLR` whose factors are `EpochFactor`s.

    Call `step()` once at the end of each epoch, after that epoch's `optimizer.step()` calls.
    `state_dict()` holds the epoch count and the factors' settings; save it with the optimiser's.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, factors: Sequence[EpochFactor], *,
                 steps_per_epoch: int = 1) -> None:
        self.steps_per_epoch = steps_per_epoch
        lambdas: list[Callable[[int], float]] = list(factors)
        super().__init__(optimizer, lambdas)

    def lr_at(self, epoch: int) -> list[float]:
        """The learning rate of each parameter group in `epoch` (0-based), without stepping.

        >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
        >>> build_lr_schedule(opt, {"lr_decay": "step", "decay_epochs": 2}, epochs=6,
        ...                   steps_per_epoch=1).lr_at(4)
        [0.001...]
        """
        pairs = zip(self.base_lrs, self.lr_lambdas, strict=True)
        return [float(base) * factor(epoch) for base, factor in pairs]


def build_lr_schedule(optimizer: torch.optim.Optimizer, params: Mapping[str, Any], *, epochs: int,
                      steps_per_epoch: int) -> LRSchedule:
    """Build the schedule named by `params["lr_decay"]`; lr below is the optimiser's learning rate.

    Keys (defaults in brackets), with epochs counted from 0 and, after a warm-up, from its end:

    - `lr_decay` ['none']: 'none' (constant lr); 'step' (lr·decay_rate^⌊epoch/decay_epochs⌋);
      'exponential' (lr·decay_rate^epoch); 'inverse_time' (lr/(1 + decay_rate·epoch), as in the
      Deep Learning Specialization); 'cosine' (from lr down to `min_lr` over the remaining epochs,
      reaching it when the last epoch ends: min_lr + (lr - min_lr)(1 + cos(π·epoch/n))/2).
    - `decay_rate` [0.1 for step, 0.95 for exponential, 1.0 for inverse_time]: in (0, 1] for
      step and exponential, >= 0 for inverse_time.
    - `decay_epochs` [10]: epochs between two step decays, >= 1.
    - `min_lr` [0.0]: the cosine schedule's final lr, between 0 and lr.
    - `warmup_epochs` [0]: epochs of linear warm-up, in [0, epochs): epoch e < w uses
      lr·(0.1 + 0.9·e/w), so it starts at lr/10 (never wasting an epoch at 0) and the decay starts
      from the full lr at epoch w.

    Args:
        optimizer: The optimiser whose groups' learning rates (their `lr` now) are scheduled.
        params: The hyperparameters.
        epochs: Length of training in epochs (sets the cosine horizon).
        steps_per_epoch: Optimiser steps per epoch; validated and kept for the training loop, as the
            schedule itself moves per epoch.

    Returns:
        The schedule; the optimiser's learning rates are already set for epoch 0.

    Raises:
        ConfigError: A one-line message naming the key for any invalid hyperparameter.

    >>> opt = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)
    >>> schedule = build_lr_schedule(opt, {"lr_decay": "cosine", "warmup_epochs": 1}, epochs=3,
    ...                              steps_per_epoch=10)
    >>> [round(schedule.lr_at(e)[0], 4) for e in range(4)]
    [0.01, 0.1, 0.05, 0.0]
    """
    epochs = as_int(epochs, key="epochs", owner="build_lr_schedule")
    if epochs < 1:
        raise ConfigError(f"epochs of build_lr_schedule must be >= 1. Got {epochs!r}.")
    steps_per_epoch = as_int(steps_per_epoch, key="steps_per_epoch", owner="build_lr_schedule")
    if steps_per_epoch < 1:
        raise ConfigError(f"steps_per_epoch of build_lr_schedule must be >= 1. Got {steps_per_epoch!r}.")
    kind = read_choice(params, "lr_decay", "none", SCHEDULES, owner="build_lr_schedule")
    owner = f"LR schedule {kind!r}"
    warmup = read_int(params, "warmup_epochs", 0, owner=owner,
                      within=Range(low=0, high=epochs, high_open=True))
    rate, decay_epochs, min_lr = 1.0, 1, 0.0
    if kind in ("step", "exponential"):
        rate = read_float(params, "decay_rate", _DEFAULT_RATE[kind], owner=owner,
                          within=Range(low=0, high=1, low_open=True))
    elif kind == "inverse_time":
        rate = read_float(params, "decay_rate", _DEFAULT_RATE[kind], owner=owner, within=Range(low=0))
    if kind == "step":
        decay_epochs = read_int(params, "decay_epochs", 10, owner=owner, within=Range(low=1))
    base_lrs = [float(g.get("initial_lr", g["lr"])) for g in optimizer.param_groups]
    if kind == "cosine":
        min_lr = read_float(params, "min_lr", 0.0, owner=owner, within=Range(low=0, high=min(base_lrs)))
    factors = [EpochFactor(kind, rate=rate, decay_epochs=decay_epochs, warmup_epochs=warmup,
                           epochs=epochs, floor=min_lr / base if base > 0 else 0.0) for base in base_lrs]
    return LRSchedule(optimizer, factors, steps_per_epoch=steps_per_epoch)
