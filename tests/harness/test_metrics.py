"""Metrics against hand computations and scikit-learn; the registry; stability and errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import f1_score, log_loss, mean_absolute_error, mean_squared_error

from shoal.exceptions import ConfigError
from shoal.torch._metrics import (
    METRICS,
    accuracy,
    cross_entropy,
    default_metric,
    get_metric,
    macro_f1,
    mae,
    mse,
)


def softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True))


def test_hand_computed_values() -> None:
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 3.0, 0.0], [1.0, 0.0, 4.0], [5.0, 0.0, 0.0]])
    targets = np.array([0, 2, 2, 1])
    assert accuracy(logits, targets) == 0.5
    expected = np.mean([math.log(sum(math.exp(v) for v in row)) - row[t]
                        for row, t in zip(logits.tolist(), targets.tolist(), strict=True)])
    assert cross_entropy(logits, targets) == pytest.approx(expected, rel=1e-12)
    # predictions 0,1,2,0 vs 0,2,2,1: F1 class0 = 2/3, class1 = 0, class2 = 2/3
    assert macro_f1(logits, targets) == pytest.approx((2 / 3 + 0 + 2 / 3) / 3)
    assert mse([1.0, 2.0], [3.0, 2.0]) == 2.0
    assert mae([1.0, -2.0], [3.0, 2.0]) == 3.0


@pytest.mark.parametrize("seed", range(5))
def test_classification_metrics_match_sklearn_on_random_inputs(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, k = 60, int(rng.integers(2, 7))
    logits, targets = rng.normal(scale=3.0, size=(n, k)), rng.integers(0, k, size=n)
    predicted = logits.argmax(axis=1)
    assert accuracy(logits, targets) == pytest.approx(np.mean(predicted == targets))
    assert macro_f1(logits, targets) == pytest.approx(f1_score(targets, predicted, average="macro"))
    assert macro_f1(predicted, targets) == macro_f1(logits, targets)
    assert cross_entropy(logits, targets) == pytest.approx(
        log_loss(targets, softmax(logits), labels=list(range(k))), rel=1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_regression_metrics_match_sklearn(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pred, true = rng.normal(size=40), rng.normal(size=40)
    assert mse(pred, true) == pytest.approx(mean_squared_error(true, pred))
    assert mae(pred, true) == pytest.approx(mean_absolute_error(true, pred))
    # A model's (n, 1) output is matched to (n,) targets, never broadcast to (n, n).
    assert mse(pred.reshape(-1, 1), true) == pytest.approx(mean_squared_error(true, pred))


def test_torch_tensors_are_accepted_and_agree_with_numpy() -> None:
    rng = np.random.default_rng(0)
    logits, targets = rng.normal(size=(20, 4)).astype(np.float32), rng.integers(0, 4, size=20)
    tensor_logits = torch.from_numpy(logits).requires_grad_(True)
    tensor_targets = torch.from_numpy(targets)
    for fn in (accuracy, cross_entropy, macro_f1):
        assert fn(tensor_logits, tensor_targets) == pytest.approx(fn(logits, targets))
    torch_loss = torch.nn.functional.cross_entropy(tensor_logits, tensor_targets).item()
    assert cross_entropy(tensor_logits, tensor_targets) == pytest.approx(torch_loss, rel=1e-5)
    assert isinstance(mse(torch.ones(3), torch.zeros(3)), float)


def test_cross_entropy_is_finite_for_huge_logits() -> None:
    logits = np.array([[1e30, -1e30, 0.0], [800.0, 799.0, -1e4], [-1e4, -1e4, -1e4]])
    value = cross_entropy(logits, [1, 0, 2])
    assert math.isfinite(value)
    expected = np.mean([2e30, math.log1p(math.exp(-1.0)), math.log(3.0)])
    assert value == pytest.approx(expected)
    assert cross_entropy(np.array([[1000.0, 0.0]]), [0]) == 0.0


def test_registry_directions_needs_and_defaults() -> None:
    assert sorted(METRICS) == ["accuracy", "cross_entropy", "macro_f1", "mae", "mse"]
    assert {n: m.direction for n, m in METRICS.items()} == {
        "accuracy": "maximize", "cross_entropy": "minimize", "macro_f1": "maximize",
        "mae": "minimize", "mse": "minimize"}
    assert {m.needs for m in METRICS.values() if m.task == "classification"} == {"logits"}
    assert {m.needs for m in METRICS.values() if m.task == "regression"} == {"predictions"}
    assert default_metric("classification") is METRICS["accuracy"]
    assert default_metric("regression") is METRICS["mse"]
    assert METRICS["mae"]([1.0], [2.0]) == 1.0
    with pytest.raises(TypeError):
        METRICS["mine"] = METRICS["mse"]  # type: ignore[index]


def test_unknown_or_mismatched_metric_lists_the_names() -> None:
    with pytest.raises(ConfigError, match=r"metric must be one of \['accuracy', 'cross_entropy', "
                                          r"'macro_f1', 'mae', 'mse'\]\. Got 'auc'\."):
        get_metric("auc")
    with pytest.raises(ConfigError, match=r"metric of a regression task must be one of \['mae', 'mse'\]"):
        get_metric("accuracy", task="regression")
    with pytest.raises(ConfigError, match="task must be one of"):
        default_metric("ranking")  # type: ignore[arg-type]


def test_shape_and_label_errors() -> None:
    with pytest.raises(ConfigError, match=r"predictions of mse must have the targets' shape \(3,\)"):
        mse(np.zeros((3, 2)), np.zeros(3))
    with pytest.raises(ConfigError, match=r"logits of cross_entropy must have shape \(n, n_classes\)"):
        cross_entropy(np.zeros(3), [0, 1, 0])
    with pytest.raises(ConfigError, match=r"targets of cross_entropy must lie in \[0, 2\)"):
        cross_entropy(np.zeros((2, 2)), [0, 2])
    with pytest.raises(ConfigError, match="one column per class"):
        accuracy(np.zeros((3, 1)), [0, 1, 0])
    with pytest.raises(ConfigError, match="must hold integer class labels"):
        accuracy([0, 1], [0.5, 1.0])
    with pytest.raises(ConfigError, match="must have one row per target"):
        macro_f1([], [])
