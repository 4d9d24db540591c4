"""`shoal demo`: tune a real (NumPy) network on a synthetic dataset, in seconds, on any machine.

The model is a one-hidden-layer ReLU network with a softmax cross-entropy loss, trained by
mini-batch SGD with momentum and weight decay on three interleaved spirals. The data are split
into train / validation (the trials see only these) and a test set used once, at the end, to
measure the best configuration.
"""

from __future__ import annotations

import argparse
import functools
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shoal.cli._output import format_value, stdout
from shoal.cli._running import describe_start, print_outcome, print_where, run_study
from shoal.cli._store import storage_flag
from shoal.exceptions import TrialFailed, TrialPruned
from shoal.samplers import RandomSampler
from shoal.schedulers import MedianStopping
from shoal.space import Fixed, Float, Int, Space
from shoal.storage import open_storage
from shoal.study import Trial, create_study

__all__ = ["DemoData", "accuracy", "cmd_demo", "demo_space", "make_data", "objective", "train"]

EPOCHS = 20
DATA_SEED = 0
TRAIN_SEED = 1  # every trial starts from the same weights, so only the hyperparameters differ
N_CLASSES = 3
# Three times the loss of guessing uniformly: a run this far gone is diverging, not learning.
DIVERGED_LOSS = 3.0 * math.log(N_CLASSES)

Weights = list[np.ndarray]


def demo_space() -> Space:
    """The search space: each parameter on the scale it acts on."""
    return Space({
        "lr": Float(1e-4, 1.0, scale="log"),
        "momentum": Float(0.9, 0.999, scale="one_minus_log"),
        "hidden_units": Int(8, 256, log=True),
        "batch_size": Int(16, 256, power_of_two=True),
        "epochs": Fixed(EPOCHS),
        "weight_decay": Float(1e-6, 1e-2, scale="log"),
    })


@dataclass(frozen=True)
class DemoData:
    """Train and validation sets for the trials; a test set for the one final measurement."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray


def _spirals(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """`n` points on three interleaved noisy spiral arms, in [-1, 1]^2."""
    y = rng.integers(0, N_CLASSES, size=n)
    r = rng.uniform(0.05, 1.0, size=n)
    theta = 6.0 * r + y * (2.0 * math.pi / N_CLASSES) + rng.normal(0.0, 0.3, size=n)
    x = np.stack([r * np.sin(theta), r * np.cos(theta)], axis=1)
    return x, y


def make_data(seed: int = DATA_SEED, *, n: int = 1500, n_test: int = 600) -> DemoData:
    """A seeded three-class spiral problem: `n` points split 80/20 into train and validation,
    and `n_test` more points drawn independently for the test set."""
    rng = np.random.default_rng(seed)
    x, y = _spirals(n + n_test, rng)
    cut = int(0.8 * n)
    return DemoData(x[:cut], y[:cut], x[cut:n], y[cut:n], x[n:], y[n:])


def _forward(w: Weights, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    hidden = np.maximum(x @ w[0] + w[1], 0.0)
    return hidden, hidden @ w[2] + w[3]


def accuracy(w: Weights, x: np.ndarray, y: np.ndarray) -> float:
    """Fraction of points whose largest logit is their class."""
    return float(np.mean(np.argmax(_forward(w, x)[1], axis=1) == y))


def train(params: Mapping[str, Any], x: np.ndarray, y: np.ndarray, *, seed: int = TRAIN_SEED,
          on_epoch: Callable[[int, Weights], None] | None = None) -> Weights:
    """Train the network with the given hyperparameters; returns its weights.

    Args:
        params: lr, momentum, hidden_units, batch_size, epochs, weight_decay.
        on_epoch: Called with (epoch, weights) after each epoch: to report and prune.

    Raises:
        TrialFailed: the training loss became NaN, or exploded past DIVERGED_LOSS (the step size
            was too large).
    """
    rng = np.random.default_rng(seed)
    lr, momentum, decay = float(params["lr"]), float(params["momentum"]), float(params["weight_decay"])
    units, batch = int(params["hidden_units"]), int(params["batch_size"])
    n, n_in = x.shape
    w: Weights = [rng.normal(0.0, math.sqrt(2.0 / n_in), (n_in, units)), np.zeros(units),
                  rng.normal(0.0, math.sqrt(1.0 / units), (units, N_CLASSES)), np.zeros(N_CLASSES)]
    velocity = [np.zeros_like(p) for p in w]
    onehot = np.eye(N_CLASSES)[y]
    for epoch in range(int(params["epochs"])):
        order = rng.permutation(n)
        total = 0.0
        # A diverging run overflows on purpose; it is caught below as a NaN loss.
        with np.errstate(all="ignore"):
            for start in range(0, n, batch):
                idx = order[start:start + batch]
                xb, tb = x[idx], onehot[idx]
                hidden, logits = _forward(w, xb)
                logits = logits - logits.max(axis=1, keepdims=True)
                log_norm = np.log(np.exp(logits).sum(axis=1, keepdims=True))
                log_p = logits - log_norm
                total -= float(np.sum(tb * log_p))
                d_logits = (np.exp(log_p) - tb) / len(idx)
                d_hidden = (d_logits @ w[2].T) * (hidden > 0)
                grads = [xb.T @ d_hidden + decay * w[0], d_hidden.sum(axis=0),
                         hidden.T @ d_logits + decay * w[2], d_logits.sum(axis=0)]
                for p, v, g in zip(w, velocity, grads, strict=True):
                    v *= momentum
                    v += g
                    p -= lr * v
        loss = total / n
        if not loss <= DIVERGED_LOSS:  # also true for NaN
            raise TrialFailed(f"diverged: training loss {loss:.3g} in epoch {epoch}")
        if on_epoch is not None:
            on_epoch(epoch, w)
    return w


def objective(trial: Trial, data: DemoData) -> float:
    """Train with the trial's parameters; report validation accuracy each epoch; prune if behind."""

    def report(epoch: int, w: Weights) -> None:
        trial.report(accuracy(w, data.x_val, data.y_val), step=epoch)
        if trial.should_prune():
            raise TrialPruned()

    w = train(trial.params, data.x_train, data.y_train, on_epoch=report)
    return accuracy(w, data.x_val, data.y_val)


def cmd_demo(args: argparse.Namespace) -> int:
    """Run (or resume) the demo study, then measure the best configuration once on the test set."""
    url: str = args.storage
    data = make_data()
    study = create_study(args.name, storage=open_storage(url), direction="maximize", space=demo_space(),
                         sampler=RandomSampler(seed=0),
                         scheduler=MedianStopping(min_trials=5, warmup_steps=4), load_if_exists=True)
    console = stdout()
    console.print(
        f"Tuning a one-hidden-layer NumPy network on 3-class spirals ({len(data.y_train)} train / "
        f"{len(data.y_val)} validation points), maximising validation accuracy over {EPOCHS} epochs.")
    console.print(f"{describe_start(study)}: running {args.n_trials} trials on {args.n_jobs} worker process"
                  f"{'es' if args.n_jobs != 1 else ''} (median stopping prunes laggards).")
    result = run_study(study, functools.partial(objective, data=data), n_trials=args.n_trials,
                       n_jobs=args.n_jobs, timeout=None)
    name_flag = f" --name {args.name}" if args.name != "demo" else ""
    rerun = f"shoal demo{name_flag}{storage_flag(url)}"
    best = print_outcome(console, study, result, rerun=rerun, value_name="validation accuracy")
    if best is not None and not result.interrupted:
        weights = train(best.params, data.x_train, data.y_train)
        test = accuracy(weights, data.x_test, data.y_test)
        console.print(f"Test accuracy: {format_value(test, 4)} on {len(data.y_test)} held-out points "
                      f"(validation accuracy {format_value(best.value, 4)}). The best configuration "
                      "was retrained on the training set and measured on the test set once: this is "
                      "the only time the demo uses the test set.", style="bold")
    print_where(console, study, url, rerun=rerun)
    return 130 if result.interrupted else 0
