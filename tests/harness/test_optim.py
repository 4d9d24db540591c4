"""Optimisers against torch.optim and the textbook updates; learning-rate schedules against formulas."""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
import torch
from recording import Recording
from torch import nn

from shoal.exceptions import ConfigError
from shoal.torch._models import build_model
from shoal.torch._optim import OPTIMIZER_KEYS, build_optimizer
from shoal.torch._schedules import SCHEDULE_KEYS, SCHEDULES, LRSchedule, build_lr_schedule

Array = npt.NDArray[np.float64]

A = np.array([1.0, 2.0, 0.5])
B = np.array([1.0, -1.0, 2.0])
W0 = np.array([0.5, -0.3, 1.2])
C0, TARGET = 0.1, 2.0
STEPS = 5


class Quadratic(nn.Module):
    """f(w, c) = ½ Σ aᵢwᵢ² - b·w + ½ (c - 2)²: a 2-D weight (decayed) and a bias (not decayed)."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.tensor(W0[None, :], dtype=torch.float64))
        self.bias = nn.Parameter(torch.tensor([C0], dtype=torch.float64))

    def loss(self) -> torch.Tensor:
        a, b = torch.tensor(A), torch.tensor(B)
        w = self.weight[0]
        return 0.5 * (a * w**2).sum() - (b * w).sum() + 0.5 * (self.bias[0] - TARGET) ** 2


def train(model: Quadratic, optimizer: torch.optim.Optimizer) -> tuple[Array, Array]:
    for _ in range(STEPS):
        optimizer.zero_grad()
        model.loss().backward()
        optimizer.step()
    return model.weight.detach().numpy()[0].copy(), model.bias.detach().numpy().copy()


def textbook(kind: str, hp: dict[str, float], p0: Array, grad: Callable[[Array], Array],
             weight_decay: float) -> Array:
    """The update rules as written in the course notes, with PyTorch's momentum and eps conventions."""
    lr, beta, eps = hp["lr"], hp.get("momentum", 0.0), hp["eps"]
    p, v, s, m = p0.copy(), np.zeros_like(p0), np.zeros_like(p0), np.zeros_like(p0)
    for t in range(1, STEPS + 1):
        g = grad(p)
        if kind == "adamw":
            p = p * (1 - lr * weight_decay)  # decoupled: shrink the weights, not the gradient
        else:
            g = g + weight_decay * p  # L2: the penalty's gradient joins the loss's
        if kind == "sgd":
            p = p - lr * g
        elif kind == "momentum":
            v = beta * v + g
            p = p - lr * v
        elif kind == "nesterov":
            v = beta * v + g
            p = p - lr * (g + beta * v)
        elif kind == "adagrad":
            s = s + g * g
            p = p - lr * g / (np.sqrt(s) + eps)
        elif kind == "rmsprop":
            rho = hp["rmsprop_decay"]
            s = rho * s + (1 - rho) * g * g
            v = beta * v + g / (np.sqrt(s) + eps)
            p = p - lr * v
        else:
            b1, b2 = hp["beta1"], hp["beta2"]
            m = b1 * m + (1 - b1) * g
            s = b2 * s + (1 - b2) * g * g
            m_hat, s_hat = m / (1 - b1**t), s / (1 - b2**t)
            p = p - lr * m_hat / (np.sqrt(s_hat) + eps)
    return p


def torch_reference(kind: str, hp: dict[str, float], model: Quadratic, weight_decay: float,
                    decay_all: bool) -> torch.optim.Optimizer:
    groups: list[dict[str, Any]] = [
        {"params": [model.weight], "weight_decay": weight_decay},
        {"params": [model.bias], "weight_decay": weight_decay if decay_all else 0.0},
    ]
    lr, eps = hp["lr"], hp["eps"]
    if kind in ("sgd", "momentum", "nesterov"):
        return torch.optim.SGD(groups, lr=lr, momentum=0.0 if kind == "sgd" else hp["momentum"],
                               nesterov=kind == "nesterov")
    if kind == "adagrad":
        return torch.optim.Adagrad(groups, lr=lr, eps=eps)
    if kind == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, alpha=hp["rmsprop_decay"], eps=eps,
                                   momentum=hp.get("momentum", 0.0))
    adam = torch.optim.AdamW if kind == "adamw" else torch.optim.Adam
    return adam(groups, lr=lr, betas=(hp["beta1"], hp["beta2"]), eps=eps)


CASES = [
    ("sgd", {"lr": 0.1}),
    ("momentum", {"lr": 0.1, "momentum": 0.8}),
    ("nesterov", {"lr": 0.1, "momentum": 0.7}),
    ("adagrad", {"lr": 0.3}),
    ("rmsprop", {"lr": 0.01, "rmsprop_decay": 0.9}),
    ("rmsprop", {"lr": 0.01, "rmsprop_decay": 0.8, "momentum": 0.5}),
    ("adam", {"lr": 0.05, "beta1": 0.8, "beta2": 0.99}),
    ("adamw", {"lr": 0.05, "beta1": 0.8, "beta2": 0.99}),
]


@pytest.mark.parametrize(("kind", "settings"), CASES)
@pytest.mark.parametrize(("weight_decay", "decay_all"), [(0.0, False), (0.1, False), (0.1, True)])
def test_updates_match_torch_optim_and_the_textbook(kind: str, settings: dict[str, float],
                                                    weight_decay: float, decay_all: bool) -> None:
    hp = {"eps": 1e-8, **settings}
    params = {"optimizer": kind, "weight_decay": weight_decay, "decay_all": decay_all, **hp}
    ours_model, ref_model = Quadratic(), Quadratic()
    w, c = train(ours_model, build_optimizer(ours_model, params))
    ref_w, ref_c = train(ref_model, torch_reference(kind, hp, ref_model, weight_decay, decay_all))
    assert np.array_equal(w, ref_w)
    assert np.array_equal(c, ref_c)

    book_w = textbook(kind, hp, W0, lambda p: A * p - B, weight_decay)
    book_c = textbook(kind, hp, np.array([C0]), lambda p: p - TARGET, weight_decay if decay_all else 0.0)
    np.testing.assert_allclose(w, book_w, rtol=1e-10, atol=1e-14)
    np.testing.assert_allclose(c, book_c, rtol=1e-10, atol=1e-14)
    assert not np.allclose(w, W0)  # it moved


def test_adamw_decouples_the_decay_that_adam_adds_to_the_gradient() -> None:
    results = {}
    for kind in ("adam", "adamw"):
        model = Quadratic()
        results[kind] = train(model, build_optimizer(model, {"optimizer": kind, "lr": 0.05,
                                                             "weight_decay": 0.5}))[0]
    hp = {"lr": 0.05, "eps": 1e-8, "beta1": 0.9, "beta2": 0.999}
    for kind, w in results.items():
        np.testing.assert_allclose(w, textbook(kind, hp, W0, lambda p: A * p - B, 0.5), rtol=1e-10)
    assert np.abs(results["adam"] - results["adamw"]).max() > 1e-3


@pytest.mark.parametrize(("params", "kind", "expected"), [
    ({}, torch.optim.Adam, {"lr": 1e-3, "betas": (0.9, 0.999), "eps": 1e-8, "weight_decay": 0.0}),
    ({"optimizer": "sgd"}, torch.optim.SGD, {"lr": 1e-3, "momentum": 0.0, "nesterov": False}),
    ({"optimizer": "momentum"}, torch.optim.SGD, {"momentum": 0.9, "nesterov": False, "dampening": 0}),
    ({"optimizer": "nesterov"}, torch.optim.SGD, {"momentum": 0.9, "nesterov": True}),
    ({"optimizer": "adagrad"}, torch.optim.Adagrad, {"eps": 1e-8, "initial_accumulator_value": 0}),
    ({"optimizer": "rmsprop"}, torch.optim.RMSprop, {"alpha": 0.99, "momentum": 0.0, "centered": False}),
    ({"optimizer": "adamw"}, torch.optim.AdamW, {"weight_decay": 0.0, "betas": (0.9, 0.999)}),
    ({"optimizer": "adam", "lr": 1, "beta1": np.float64(0.5), "eps": "1e-6"}, torch.optim.Adam,
     {"lr": 1.0, "betas": (0.5, 0.999), "eps": 1e-6}),
])
def test_defaults_and_coercion(params: dict[str, Any], kind: type[torch.optim.Optimizer],
                               expected: dict[str, Any]) -> None:
    optimizer = build_optimizer(nn.Linear(2, 1), params)
    assert type(optimizer) is kind
    assert {k: optimizer.defaults[k] for k in expected} == expected


def test_biases_and_batch_norm_parameters_are_not_decayed() -> None:
    model = build_model("mlp", {"layers": 1, "units": 4, "batch_norm": True}, input_shape=(3,), n_outputs=2)
    hidden, norm, output = model[1], model[2], model[4]
    optimizer = build_optimizer(model, {"weight_decay": 0.01})
    decayed, exempt = optimizer.param_groups
    assert decayed["weight_decay"] == 0.01
    assert exempt["weight_decay"] == 0.0
    assert {id(p) for p in decayed["params"]} == {id(hidden.weight), id(output.weight)}
    assert {id(p) for p in exempt["params"]} == {id(norm.weight), id(norm.bias), id(output.bias)}
    everything = build_optimizer(model, {"weight_decay": 0.01, "decay_all": True}).param_groups
    assert len(everything) == 1
    assert len(everything[0]["params"]) == 5
    # The same two groups without decay: a fork that changes weight_decay restores into them.
    assert [g["weight_decay"] for g in build_optimizer(model, {}).param_groups] == [0.0, 0.0]
    output.weight.requires_grad_(False)
    assert id(output.weight) not in {id(p) for g in build_optimizer(model, {}).param_groups
                                     for p in g["params"]}


@pytest.mark.parametrize(("params", "message"), [
    ({"optimizer": "adm"}, "optimizer of build_optimizer must be one of 'sgd', 'momentum', 'nesterov', "
     "'adagrad', 'rmsprop', 'adam', 'adamw'. Got 'adm'."),
    ({"lr": 0}, "lr of optimizer 'adam' must be > 0. Got 0.0."),
    ({"optimizer": "sgd", "lr": "fast"}, "lr of optimizer 'sgd' must be a finite number. Got 'fast'."),
    ({"lr": True}, "lr of optimizer 'adam' must be a finite number. Got True."),
    ({"optimizer": "momentum", "momentum": 1},
     "momentum of optimizer 'momentum' must be in [0, 1). Got 1.0."),
    ({"beta2": 1.0}, "beta2 of optimizer 'adam' must be in [0, 1). Got 1.0."),
    ({"eps": 0}, "eps of optimizer 'adam' must be > 0. Got 0.0."),
    ({"weight_decay": -0.1}, "weight_decay of optimizer 'adam' must be >= 0. Got -0.1."),
    ({"optimizer": "rmsprop", "rmsprop_decay": 1.5},
     "rmsprop_decay of optimizer 'rmsprop' must be in [0, 1). Got 1.5."),
    ({"decay_all": "no"}, "decay_all of optimizer 'adam' must be true or false. Got 'no'."),
])
def test_bad_optimizer_hyperparameters(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_optimizer(nn.Linear(2, 1), params)
    assert str(caught.value) == message


def test_a_model_without_trainable_parameters_is_refused() -> None:
    with pytest.raises(ConfigError, match=r"^model of build_optimizer must have parameters that require "
                                          r"grad\. Got ReLU with none\.$"):
        build_optimizer(nn.ReLU(), {})


def test_the_key_sets_are_the_keys_read() -> None:
    params = Recording({"optimizer": "adam", "lr": 0.1, "layers": 3, "lr_decay": "cosine"})
    build_optimizer(nn.Linear(2, 1), params)
    assert params.read == OPTIMIZER_KEYS
    read: set[str] = set()
    for kind in SCHEDULES:
        params = Recording({"lr_decay": kind, "optimizer": "sgd", "units": 3})
        build_lr_schedule(torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=0.1), params, epochs=5,
                          steps_per_epoch=1)
        read |= params.read
    assert read == SCHEDULE_KEYS


# --- learning-rate schedules -------------------------------------------------------------------


def lr_per_epoch(optimizer: torch.optim.Optimizer, schedule: LRSchedule, epochs: int) -> list[float]:
    seen = []
    for _ in range(epochs):
        seen.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    return seen


def sgd(lr: float = 0.1) -> torch.optim.Optimizer:
    return torch.optim.SGD(nn.Linear(2, 1).parameters(), lr=lr)


DECAYS: list[tuple[dict[str, Any], Callable[[int, int], float]]] = [
    ({"lr_decay": "none"}, lambda t, n: 1.0),
    ({"lr_decay": "step", "decay_rate": 0.5, "decay_epochs": 3}, lambda t, n: 0.5 ** (t // 3)),
    ({"lr_decay": "exponential", "decay_rate": 0.8}, lambda t, n: 0.8**t),
    ({"lr_decay": "inverse_time", "decay_rate": 0.5}, lambda t, n: 1 / (1 + 0.5 * t)),
    ({"lr_decay": "cosine", "min_lr": 0.01}, lambda t, n: 0.1 + 0.9 * (1 + math.cos(math.pi * t / n)) / 2),
]


@pytest.mark.parametrize("warmup", [0, 3])
@pytest.mark.parametrize(("params", "decay"), DECAYS)
def test_learning_rate_per_epoch_follows_the_formula(params: dict[str, Any],
                                                     decay: Callable[[int, int], float], warmup: int) -> None:
    epochs = 12
    optimizer = sgd(0.1)
    schedule = build_lr_schedule(optimizer, {**params, "warmup_epochs": warmup}, epochs=epochs,
                                 steps_per_epoch=7)
    expected = [0.1 * (0.1 + 0.9 * e / warmup) if e < warmup else 0.1 * decay(e - warmup, epochs - warmup)
                for e in range(epochs)]
    assert lr_per_epoch(optimizer, schedule, epochs) == pytest.approx(expected, rel=1e-12)
    assert schedule.steps_per_epoch == 7


@pytest.mark.parametrize(("params", "lr", "expected"), [
    ({"lr_decay": "step", "decay_rate": 0.5, "decay_epochs": 2}, 0.1, [0.1, 0.1, 0.05, 0.05, 0.025]),
    ({"lr_decay": "step"}, 1.0, [1.0] * 10 + [0.1]),
    ({"lr_decay": "exponential"}, 1.0, [1.0, 0.95, 0.9025]),
    ({"lr_decay": "inverse_time"}, 0.2, [0.2, 0.1, 0.2 / 3, 0.05]),
    ({"lr_decay": "cosine", "warmup_epochs": 2}, 1.0,
     [0.1, 0.55, 1.0, (1 + math.sqrt(0.5)) / 2, 0.5, (1 - math.sqrt(0.5)) / 2]),
    ({"warmup_epochs": 4}, 1.0, [0.1, 0.325, 0.55, 0.775, 1.0, 1.0]),
])
def test_schedule_oracle_table(params: dict[str, Any], lr: float, expected: list[float]) -> None:
    optimizer = sgd(lr)
    schedule = build_lr_schedule(optimizer, params, epochs=6, steps_per_epoch=1)
    assert lr_per_epoch(optimizer, schedule, len(expected)) == pytest.approx(expected, rel=1e-12)


def test_cosine_ends_at_min_lr_in_every_group() -> None:
    a, b = nn.Parameter(torch.zeros(1)), nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([{"params": [a], "lr": 1.0}, {"params": [b], "lr": 0.1}], lr=0.5)
    schedule = build_lr_schedule(optimizer, {"lr_decay": "cosine", "min_lr": 0.05}, epochs=4,
                                 steps_per_epoch=1)
    assert schedule.lr_at(0) == pytest.approx([1.0, 0.1])
    assert schedule.lr_at(4) == pytest.approx([0.05, 0.05])
    assert schedule.lr_at(9) == pytest.approx([0.05, 0.05])


def test_state_dict_round_trip_resumes_the_same_sequence() -> None:
    params = {"optimizer": "momentum", "lr": 0.1, "lr_decay": "cosine", "warmup_epochs": 2, "min_lr": 0.001}

    def fresh() -> tuple[Quadratic, torch.optim.Optimizer, LRSchedule]:
        model = Quadratic()
        optimizer = build_optimizer(model, params)
        return model, optimizer, build_lr_schedule(optimizer, params, epochs=10, steps_per_epoch=1)

    def epochs(model: Quadratic, optimizer: torch.optim.Optimizer, schedule: LRSchedule,
               n: int) -> list[float]:
        seen = []
        for _ in range(n):
            seen.append(optimizer.param_groups[0]["lr"])
            optimizer.zero_grad()
            model.loss().backward()
            optimizer.step()
            schedule.step()
        return seen

    straight = epochs(*fresh(), 10)
    model, optimizer, schedule = fresh()
    first = epochs(model, optimizer, schedule, 4)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict(),
                "schedule": schedule.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    model, optimizer, schedule = fresh()
    model.load_state_dict(saved["model"])
    optimizer.load_state_dict(saved["optimizer"])
    schedule.load_state_dict(saved["schedule"])
    assert first + epochs(model, optimizer, schedule, 6) == straight


@pytest.mark.parametrize(("params", "message"), [
    ({"lr_decay": "linear"}, "lr_decay of build_lr_schedule must be one of 'none', 'step', 'exponential', "
     "'inverse_time', 'cosine'. Got 'linear'."),
    ({"lr_decay": "step", "decay_rate": 0}, "decay_rate of LR schedule 'step' must be in (0, 1]. Got 0.0."),
    ({"lr_decay": "exponential", "decay_rate": 1.5},
     "decay_rate of LR schedule 'exponential' must be in (0, 1]. Got 1.5."),
    ({"lr_decay": "inverse_time", "decay_rate": -1},
     "decay_rate of LR schedule 'inverse_time' must be >= 0. Got -1.0."),
    ({"lr_decay": "step", "decay_epochs": 0}, "decay_epochs of LR schedule 'step' must be >= 1. Got 0."),
    ({"warmup_epochs": 10}, "warmup_epochs of LR schedule 'none' must be in [0, 10). Got 10."),
    ({"lr_decay": "cosine", "warmup_epochs": 1.5},
     "warmup_epochs of LR schedule 'cosine' must be an integer. Got 1.5."),
    ({"lr_decay": "cosine", "min_lr": 0.5}, "min_lr of LR schedule 'cosine' must be in [0, 0.1]. Got 0.5."),
])
def test_bad_schedule_hyperparameters(params: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_lr_schedule(sgd(0.1), params, epochs=10, steps_per_epoch=1)
    assert str(caught.value) == message


@pytest.mark.parametrize(("epochs", "steps", "message"), [
    (0, 1, "epochs of build_lr_schedule must be >= 1. Got 0."),
    (5, 0, "steps_per_epoch of build_lr_schedule must be >= 1. Got 0."),
])
def test_bad_schedule_lengths(epochs: int, steps: int, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_lr_schedule(sgd(), {}, epochs=epochs, steps_per_epoch=steps)
    assert str(caught.value) == message
