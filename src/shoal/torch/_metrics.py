"""Metrics on model outputs, and the registry that ties each metric to its direction.

Every metric takes numpy arrays or torch tensors (on any device; gradients are ignored), computes
in float64 numpy, and returns a Python float. The study's direction follows the metric:
`create_study(direction=METRICS["accuracy"].direction)`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt
import torch

from shoal.exceptions import ConfigError
from shoal.torch._splits import Task

__all__ = [
    "METRICS",
    "Metric",
    "accuracy",
    "cross_entropy",
    "default_metric",
    "get_metric",
    "macro_f1",
    "mae",
    "mse",
]

ArrayLike: TypeAlias = "npt.ArrayLike | torch.Tensor"
FloatArray: TypeAlias = "npt.NDArray[np.float64]"


def accuracy(outputs: ArrayLike, targets: ArrayLike) -> float:
    """Share of samples whose predicted class is the target class.

    Args:
        outputs: Logits or probabilities of shape (n, n_classes) (the argmax is the prediction),
            or predicted labels of shape (n,).
        targets: Labels of shape (n,), integers in [0, n_classes).

    >>> accuracy([[2.0, 0.1], [0.3, 0.9], [5.0, 1.0]], [0, 1, 1])
    0.6666666666666666
    """
    predicted, true = _labels_of(outputs, targets, "accuracy")
    return float(np.mean(predicted == true))


def cross_entropy(logits: ArrayLike, targets: ArrayLike) -> float:
    """Mean negative log-likelihood of the targets under softmax(logits), in nats.

    Computed as logsumexp(logits) - logits[target] with the row maximum subtracted first, so huge
    logits give finite values (no overflow in exp, no log(0)).

    Args:
        logits: Unnormalised scores of shape (n, n_classes).
        targets: Labels of shape (n,), integers in [0, n_classes).

    >>> round(cross_entropy([[0.0, 0.0]], [1]), 6)  # log(2)
    0.693147
    >>> cross_entropy([[1e4, -1e4]], [1])
    20000.0
    """
    scores = _as_float(logits)
    labels = _as_labels(targets, "targets of cross_entropy")
    if scores.ndim != 2 or scores.shape[0] != len(labels) or scores.shape[0] == 0:
        raise ConfigError(f"logits of cross_entropy must have shape (n, n_classes) with n = {len(labels)} "
                          f"> 0 targets. Got shape {scores.shape!r}.")
    if labels.min() < 0 or labels.max() >= scores.shape[1]:
        raise ConfigError(f"targets of cross_entropy must lie in [0, {scores.shape[1]}). "
                          f"Got values from {labels.min()} to {labels.max()}.")
    top = scores.max(axis=1, keepdims=True)
    log_norm = top[:, 0] + np.log(np.exp(scores - top).sum(axis=1))
    return float(np.mean(log_norm - scores[np.arange(len(labels)), labels]))


def macro_f1(outputs: ArrayLike, targets: ArrayLike) -> float:
    """Unweighted mean of the per-class F1 scores, over classes that occur in targets or predictions.

    Matches `sklearn.metrics.f1_score(targets, predictions, average="macro")`.

    Args:
        outputs: Logits of shape (n, n_classes), or predicted labels of shape (n,).
        targets: Labels of shape (n,).

    >>> macro_f1([0, 0, 1, 1], [0, 1, 1, 1])  # F1 is 2/3 for class 0, 4/5 for class 1
    0.7333333333333334
    """
    predicted, true = _labels_of(outputs, targets, "macro_f1")
    classes = np.union1d(predicted, true)
    scores = []
    for c in classes:
        said, real = predicted == c, true == c
        tp = np.sum(said & real)
        scores.append(2.0 * tp / (np.sum(said) + np.sum(real)))  # 2TP / (2TP + FP + FN) > 0 here
    return float(np.mean(scores))


def mse(predictions: ArrayLike, targets: ArrayLike) -> float:
    """Mean squared error. Predictions of shape (n, 1) are matched to targets of shape (n,).

    >>> mse([1.0, 2.0, 4.0], [1.0, 3.0, 2.0])
    1.6666666666666667
    """
    pred, true = _paired(predictions, targets, "mse")
    return float(np.mean((pred - true) ** 2))


def mae(predictions: ArrayLike, targets: ArrayLike) -> float:
    """Mean absolute error. Predictions of shape (n, 1) are matched to targets of shape (n,).

    >>> mae([[1.0], [2.0], [4.0]], [1.0, 3.0, 2.0])
    1.0
    """
    pred, true = _paired(predictions, targets, "mae")
    return float(np.mean(np.abs(pred - true)))


@dataclass(frozen=True)
class Metric:
    """A metric with what it needs to drive a study.

    Attributes:
        name: Its key in METRICS.
        fn: `fn(outputs, targets) -> float`.
        direction: "maximize" or "minimize": the study's direction when tuning this metric.
        needs: "logits" (the model's raw class scores) or "predictions" (regression outputs).
        task: The task it applies to.

    >>> METRICS["accuracy"].direction, METRICS["mse"].needs
    ('maximize', 'predictions')
    >>> METRICS["accuracy"]([[0.0, 1.0]], [1])
    1.0
    """

    name: str
    fn: Callable[[Any, Any], float]
    direction: Literal["maximize", "minimize"]
    needs: Literal["logits", "predictions"]
    task: Task

    def __call__(self, outputs: ArrayLike, targets: ArrayLike) -> float:
        return self.fn(outputs, targets)


METRICS: Mapping[str, Metric] = MappingProxyType({m.name: m for m in (
    Metric("accuracy", accuracy, "maximize", "logits", "classification"),
    Metric("cross_entropy", cross_entropy, "minimize", "logits", "classification"),
    Metric("macro_f1", macro_f1, "maximize", "logits", "classification"),
    Metric("mae", mae, "minimize", "predictions", "regression"),
    Metric("mse", mse, "minimize", "predictions", "regression"),
)})
_DEFAULTS: dict[str, str] = {"classification": "accuracy", "regression": "mse"}


def get_metric(name: str, *, task: Task | None = None) -> Metric:
    """The registered metric called `name`, checked against `task` when given.

    Raises:
        ConfigError: no metric has that name, or it belongs to the other task.

    >>> get_metric("macro_f1").direction
    'maximize'
    """
    metric = METRICS.get(name) if isinstance(name, str) else None
    if metric is None:
        raise ConfigError(f"metric must be one of {sorted(METRICS)!r}. Got {name!r}.")
    if task is not None and metric.task != task:
        fitting = sorted(n for n, m in METRICS.items() if m.task == task)
        raise ConfigError(f"metric of a {task} task must be one of {fitting!r}. Got {name!r} "
                          f"(a {metric.task} metric).")
    return metric


def default_metric(task: Task) -> Metric:
    """Accuracy for classification, mean squared error for regression.

    >>> default_metric("regression").name
    'mse'
    """
    if task not in _DEFAULTS:
        raise ConfigError(f"task must be one of {sorted(_DEFAULTS)!r}. Got {task!r}.")
    return METRICS[_DEFAULTS[task]]


def _numpy(values: ArrayLike) -> npt.NDArray[Any]:
    if isinstance(values, torch.Tensor):
        return values.detach().cpu().numpy()
    return np.asarray(values)


def _as_float(values: ArrayLike) -> FloatArray:
    return _numpy(values).astype(np.float64, copy=False)


def _as_labels(values: ArrayLike, what: str) -> npt.NDArray[np.int64]:
    array = _numpy(values)
    if array.ndim != 1:
        raise ConfigError(f"{what} must be a one-dimensional array of labels. Got shape {array.shape!r}.")
    integral = np.issubdtype(array.dtype, np.integer) or (
        np.issubdtype(array.dtype, np.floating) and bool(np.all(array == np.round(array))))
    if array.size and not integral:
        raise ConfigError(f"{what} must hold integer class labels. Got dtype {array.dtype}.")
    return array.astype(np.int64, copy=False)


def _labels_of(outputs: ArrayLike, targets: ArrayLike, owner: str) -> tuple[npt.NDArray[np.int64], ...]:
    """Predicted and true labels, from logits (n, n_classes) or labels (n,)."""
    array = _numpy(outputs)
    true = _as_labels(targets, f"targets of {owner}")
    if array.ndim == 2 and array.shape[1] < 2:
        raise ConfigError(f"logits of {owner} must have one column per class (two for a binary task). "
                          f"Got shape {array.shape!r}.")
    predicted = array.argmax(axis=1) if array.ndim == 2 else _as_labels(array, f"outputs of {owner}")
    if len(predicted) != len(true) or len(true) == 0:
        raise ConfigError(f"outputs of {owner} must have one row per target (n = {len(true)} > 0). "
                          f"Got shape {array.shape!r}.")
    return predicted.astype(np.int64, copy=False), true


def _paired(predictions: ArrayLike, targets: ArrayLike, owner: str) -> tuple[FloatArray, FloatArray]:
    pred, true = _as_float(predictions), _as_float(targets)
    if pred.shape != true.shape and pred.size == true.size and len(pred) == len(true):
        pred = pred.reshape(true.shape)  # (n, 1) outputs vs (n,) targets: never broadcast to (n, n)
    if pred.shape != true.shape or pred.size == 0:
        raise ConfigError(f"predictions of {owner} must have the targets' shape {true.shape!r} "
                          f"(and not be empty). Got {pred.shape!r}.")
    return pred, true
