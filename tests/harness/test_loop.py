"""The epoch loop: determinism, divergence, reporting and pruning, early stopping, clipping."""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812
from torch.utils.data import DataLoader, TensorDataset

import shoal
from shoal.exceptions import ConfigError, TrialFailed
from shoal.schedulers import MedianStopping
from shoal.torch._epoch import CHECK_EVERY, TensorPair
from shoal.torch._loop import EarlyStopping, FitResult, fit
from shoal.torch._runtime import seed_everything
from shoal.trial import TrialState


def regression(seed: int = 0, n: int = 96) -> tuple[TensorPair, TensorPair]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(n, 4, generator=g)
    y = x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) + 0.1 * torch.randn(n, generator=g)
    return (x[:64], y[:64]), (x[64:], y[64:])


def mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Dropout(0.1), nn.Linear(16, 1), nn.Flatten(0))


def mse(out: Tensor, y: Tensor) -> Tensor:
    return F.mse_loss(out, y)


def mse_metric(out: Tensor, y: Tensor) -> float:
    return float(F.mse_loss(out, y))


def train(seed: int = 0, *, lr: float = 0.01, epochs: int = 4, **kwargs: Any) -> tuple[nn.Module, FitResult]:
    """The same small regression each time; `kwargs` go to (or override) fit's."""
    generator = seed_everything(seed, deterministic=False)
    model = mlp()
    optimizer = torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    tr, va = regression()
    options: dict[str, Any] = {"loss_fn": mse, "metric": mse_metric, "metric_direction": "minimize",
                               "epochs": epochs, "batch_size": 8, "generator": generator, **kwargs}
    result = fit(model, optimizer, schedule, tr, va, **options)
    return model, result


def same_state(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


# Determinism -------------------------------------------------------------------------------------
def test_same_seed_same_weights_and_history_other_seed_differs() -> None:
    model_a, a = train(0)
    model_b, b = train(0)
    _, c = train(1)
    assert same_state(model_a.state_dict(), model_b.state_dict())
    assert a.history == b.history
    assert not same_state(a.state, c.state)
    assert a.history["val_metric"] != c.history["val_metric"]
    assert a.history["lr"] == [0.01, 0.01, 0.005, 0.005]  # the rate used in each epoch
    assert a.epochs_run == 4
    assert not a.stopped_early


def test_model_ends_with_the_best_epochs_weights() -> None:
    model, result = train(0, epochs=5)
    assert result.best_metric == min(result.history["val_metric"])
    assert result.best_epoch == result.history["val_metric"].index(result.best_metric)
    assert result.final_metric == result.history["val_metric"][-1]
    assert same_state(model.state_dict(), result.state)
    _, va = regression()
    model.eval()
    with torch.no_grad():
        assert mse_metric(model(va[0]), va[1]) == pytest.approx(result.best_metric, rel=1e-6)


def test_dataloaders_work_as_data() -> None:
    generator = seed_everything(0, deterministic=False)
    model = mlp()
    (xt, yt), (xv, yv) = regression()
    loader = DataLoader(TensorDataset(xt, yt), batch_size=16, shuffle=True, generator=generator)
    result = fit(model, torch.optim.Adam(model.parameters(), lr=0.01), None, loader,
                 DataLoader(TensorDataset(xv, yv), batch_size=10), loss_fn=mse, metric=mse_metric,
                 metric_direction="minimize", epochs=3, device=torch.device("cpu"))
    assert result.epochs_run == 3
    assert result.history["val_metric"][-1] < result.history["val_metric"][0]


# Divergence --------------------------------------------------------------------------------------
def test_a_huge_learning_rate_fails_in_the_first_epoch() -> None:
    steps = []
    message = r"^diverged: training loss became (nan|inf) at epoch 0, batch \d+$"
    with pytest.raises(TrialFailed, match=message):
        train(0, lr=1e6, epochs=50, after_step=lambda m: steps.append(1))
    assert len(steps) <= 8  # one epoch of 64 examples in batches of 8


def test_divergence_is_caught_within_a_check_window_and_names_the_first_bad_batch() -> None:
    calls = []

    def loss_fn(out: Tensor, y: Tensor) -> Tensor:
        calls.append(1)
        loss = F.mse_loss(out, y)
        return loss * math.nan if len(calls) == 64 + 3 + 1 else loss  # epoch 1, batch 3

    seed_everything(0, deterministic=False)
    model = mlp()
    tr, va = regression()
    with pytest.raises(TrialFailed, match=r"^diverged: training loss became nan at epoch 1, batch 3$"):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.01), None, tr, va, loss_fn=loss_fn,
            metric=mse_metric, metric_direction="minimize", epochs=5, batch_size=1)
    assert len(calls) == 64 + CHECK_EVERY  # stopped at the first check after the bad batch


def test_a_nan_validation_metric_is_divergence_too() -> None:
    with pytest.raises(TrialFailed, match=r"^diverged: validation metric became nan at epoch 0$"):
        train(0, epochs=3, metric=lambda out, y: math.nan)


def test_a_diverged_trial_ends_failed_with_the_reason() -> None:
    study = shoal.create_study()

    def objective(trial: shoal.Trial) -> float:
        _, result = train(0, lr=trial.suggest_float("lr", 1e5, 1e6, log=True), epochs=30, trial=trial)
        return result.best_metric

    study.optimize(objective, n_trials=1)
    (frozen,) = study.trials
    assert frozen.state is TrialState.FAILED
    assert frozen.failure_reason is not None
    assert frozen.failure_reason.startswith("diverged: training loss became")


# Reporting and pruning ---------------------------------------------------------------------------
def test_each_epoch_is_reported_with_its_curves() -> None:
    study = shoal.create_study()
    results: list[FitResult] = []

    def objective(trial: shoal.Trial) -> float:
        _, result = train(0, epochs=3, trial=trial, step_offset=3)
        results.append(result)
        return result.best_metric

    study.optimize(objective, n_trials=1)
    (frozen,) = study.trials
    history = results[0].history
    assert frozen.state is TrialState.COMPLETE
    assert frozen.intermediate == dict(zip([3, 4, 5], history["val_metric"], strict=True))
    assert frozen.curves["train_loss"] == dict(zip([3, 4, 5], history["train_loss"], strict=True))
    assert frozen.curves["lr"] == {3: 0.01, 4: 0.01, 5: 0.005}


def test_report_false_reports_nothing() -> None:
    study = shoal.create_study()
    study.optimize(lambda trial: train(0, epochs=2, trial=trial, report=False)[1].best_metric, n_trials=1)
    assert study.trials[0].intermediate == {}


def test_median_stopping_prunes_the_bad_trials() -> None:
    study = shoal.create_study(scheduler=MedianStopping(min_trials=2))
    for lr in (0.01, 0.005, 0.01, 1e-5, 2e-5):
        study.enqueue({"lr": lr})

    def objective(trial: shoal.Trial) -> float:
        return train(0, lr=trial.suggest_float("lr", 1e-5, 0.1, log=True), epochs=3,
                     trial=trial)[1].best_metric

    study.optimize(objective, n_trials=5)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE] * 3 + [TrialState.PRUNED] * 2
    assert all(len(t.intermediate) == 1 for t in study.trials[3:])  # pruned at the first step


# Early stopping ----------------------------------------------------------------------------------
def scripted(values: list[float], model: nn.Module, states: list[dict[str, Tensor]]) -> Callable[..., float]:
    """A metric that returns `values` in turn and remembers the model's weights at each epoch."""

    def metric(out: Tensor, y: Tensor) -> float:
        states.append({k: v.clone() for k, v in model.state_dict().items()})
        return values[len(states) - 1]

    return metric


@pytest.mark.parametrize(("direction", "values", "patience", "min_delta", "best_epoch", "epochs_run"), [
    ("minimize", [5.0, 3.0, 4.0, 4.0, 4.0, 1.0, 0.0], 3, 0.0, 1, 5),
    ("maximize", [1.0, 3.0, 2.0, 2.0, 9.0], 2, 0.0, 1, 4),
    ("maximize", [1.0, 2.0, 3.0, 4.0, 5.0], 2, 0.0, 4, 5),  # never stalls: runs every epoch
    ("minimize", [1.0, 2.0, 3.0], 2, 0.0, 0, 3),  # stalls at the last epoch: not stopped early
    # Improvements of 0.05 are below min_delta: stop, yet keep the truly best weights.
    ("minimize", [1.0, 0.95, 0.9, 0.0], 2, 0.1, 2, 3),
])
def test_early_stopping_is_direction_aware_and_restores_the_best_weights(
        direction: str, values: list[float], patience: int, min_delta: float, best_epoch: int,
        epochs_run: int) -> None:
    seed_everything(0, deterministic=False)
    model = mlp()
    states: list[dict[str, Tensor]] = []
    tr, va = regression()
    result = fit(model, torch.optim.SGD(model.parameters(), lr=0.01), None, tr, va, loss_fn=mse,
                 metric=scripted(values, model, states), metric_direction=direction,
                 epochs=len(values), batch_size=16, early_stopping=EarlyStopping(patience, min_delta))
    assert result.epochs_run == epochs_run == len(states)
    assert result.stopped_early == (epochs_run < len(values))
    assert result.best_epoch == best_epoch
    assert result.best_metric == values[best_epoch]
    assert same_state(model.state_dict(), states[best_epoch])
    assert not same_state(model.state_dict(), states[-1]) or best_epoch == epochs_run - 1


# Gradient clipping and after_step ----------------------------------------------------------------
def global_grad_norm(model: nn.Module) -> float:
    return math.sqrt(sum(float(p.grad.pow(2).sum()) for p in model.parameters() if p.grad is not None))


@pytest.mark.parametrize("clip", [None, 0.5])
def test_gradient_clipping_bounds_the_global_norm(clip: float | None) -> None:
    norms: list[float] = []
    train(0, lr=0.01, epochs=2, clip_grad_norm=clip, after_step=lambda m: norms.append(global_grad_norm(m)))
    assert len(norms) == 2 * 8
    if clip is None:
        assert max(norms) > 2.0  # clipping below would have done something
    else:
        assert max(norms) <= clip * (1 + 1e-5)


# Arguments ---------------------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"epochs": 0}, "epochs of fit must be an integer >= 1. Got 0."),
    ({"batch_size": None}, "batch_size of fit must be given when train is a pair of tensors."),
    ({"batch_size": 0}, "batch_size of fit must be an integer >= 1. Got 0."),
    ({"metric_direction": "up"}, "metric_direction of fit must be 'maximize' or 'minimize'. Got 'up'."),
    ({"clip_grad_norm": 0.0}, "clip_grad_norm of fit must be a finite number > 0 or None. Got 0.0."),
    ({"step_offset": -1}, "step_offset of fit must be an integer >= 0. Got -1."),
])
def test_bad_arguments_say_what_is_wrong(kwargs: dict[str, Any], message: str) -> None:
    model = mlp()
    tr, va = regression()
    args: dict[str, Any] = {"loss_fn": mse, "metric": mse_metric, "metric_direction": "minimize",
                            "epochs": 1, "batch_size": 8, **kwargs}
    with pytest.raises(ConfigError, match=f"^{message}".replace("(", r"\(").replace(")", r"\)")):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), None, tr, va, **args)


def test_mismatched_data_is_refused() -> None:
    model = mlp()
    x, y = regression()[0]
    with pytest.raises(ConfigError, match="as many examples in x as in y"):
        fit(model, torch.optim.SGD(model.parameters(), lr=0.1), None, (x, y[:3]), (x, y), loss_fn=mse,
            metric=mse_metric, metric_direction="minimize", epochs=1, batch_size=8)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"patience": 0}, "patience of EarlyStopping must be an integer >= 1. Got 0."),
    ({"min_delta": -1.0}, "min_delta of EarlyStopping must be a finite number >= 0. Got -1.0."),
])
def test_early_stopping_validates_itself(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{message}$"):
        EarlyStopping(**kwargs)


@pytest.mark.parametrize(("eval_batch_size", "forwards"), [(None, 1), (8, 4), (20, 2)])
def test_validation_runs_in_large_batches_unless_told_otherwise(eval_batch_size: int | None,
                                                                 forwards: int) -> None:
    """32 validation rows, training batches of 8: by default one forward evaluates them all."""
    sizes: list[int] = []

    def record(module: nn.Module, inputs: tuple[Tensor, ...]) -> None:
        if not module.training:
            sizes.append(inputs[0].shape[0])

    generator = seed_everything(0, deterministic=False)
    model = mlp()
    model.register_forward_pre_hook(record)
    tr, va = regression()
    fit(model, torch.optim.SGD(model.parameters(), lr=0.01), None, tr, va, loss_fn=mse, metric=mse_metric,
        metric_direction="minimize", epochs=1, batch_size=8, eval_batch_size=eval_batch_size,
        generator=generator)
    assert len(sizes) == forwards
    assert sum(sizes) == 32


@pytest.mark.parametrize("bad", [0, -1, 2.5, True])
def test_eval_batch_size_must_be_a_positive_integer(bad: object) -> None:
    with pytest.raises(ConfigError, match="eval_batch_size of fit must be an integer >= 1 or None"):
        train(eval_batch_size=bad)
