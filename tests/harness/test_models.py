"""Model builders: initialisation statistics, seeding, batch norm, dropout, max-norm, shapes, errors."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
from recording import Recording
from scipy import stats
from torch import nn

from shoal.exceptions import ConfigError
from shoal.torch._dense import MaxNormLinear, apply_max_norm
from shoal.torch._models import MODEL_KEYS, build_model


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def assert_close(actual: torch.Tensor, expected: torch.Tensor) -> None:
    # torch.testing.assert_close costs a second of imports on first use; this is all we need.
    assert actual.shape == expected.shape
    assert torch.allclose(actual, expected, rtol=1e-5, atol=1e-6), (actual, expected)


def linears(model: nn.Module) -> list[nn.Linear]:
    return [m for m in model.modules() if isinstance(m, nn.Linear)]


# --- initialisation ----------------------------------------------------------------------------


@pytest.mark.parametrize(("init", "init_std", "std", "uniform"), [
    ("he", 0.01, math.sqrt(2 / 1000), False),
    ("xavier", 0.01, math.sqrt(1 / 1000), False),
    ("normal", 0.01, 0.01, False),
    ("normal", 1.0, 1.0, False),
    ("he_uniform", 0.01, math.sqrt(2 / 1000), True),
    ("xavier_uniform", 0.01, math.sqrt(1 / 1000), True),
])
def test_init_has_the_std_and_distribution_of_its_formula(init: str, init_std: float, std: float,
                                                          uniform: bool) -> None:
    model = build_model("mlp", {"layers": 0, "init": init, "init_std": init_std}, input_shape=(1000,),
                        n_outputs=1000, generator=gen(1))
    (layer,) = linears(model)
    w = layer.weight.detach().double().numpy().ravel()
    assert w.size == 1_000_000
    assert w.std() == pytest.approx(std, rel=0.005)
    assert abs(w.mean()) < 5 * std / 1000
    normal_p = stats.kstest(w / std, "norm").pvalue
    if uniform:
        bound = math.sqrt(3) * std
        assert np.abs(w).max() <= bound
        assert stats.kstest(w, "uniform", args=(-bound, 2 * bound)).pvalue > 1e-3
        assert normal_p < 1e-9  # the KS test can tell the two apart at this size
    else:
        assert normal_p > 1e-3
    assert torch.equal(layer.bias, torch.zeros(1000))


def test_conv_fan_in_counts_channels_times_kernel() -> None:
    model = build_model("cnn2d", {"conv_layers": 1, "channels": 64, "init": "he"}, input_shape=(16, 8, 8),
                        n_outputs=2, generator=gen())
    conv = next(m for m in model.modules() if isinstance(m, nn.Conv2d))
    assert conv.weight.shape == (64, 16, 3, 3)
    assert conv.weight.std().item() == pytest.approx(math.sqrt(2 / (16 * 9)), rel=0.03)


def test_default_init_is_pytorchs_own_drawn_from_the_generator() -> None:
    model = build_model("mlp", {"layers": 0, "init": "default"}, input_shape=(5,), n_outputs=4,
                        generator=gen(3))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(3)
        reference = nn.Linear(5, 4)
    (layer,) = linears(model)
    assert torch.equal(layer.weight, reference.weight)
    assert torch.equal(layer.bias, reference.bias)


@pytest.mark.parametrize(("family", "shape"), [("mlp", (6,)), ("cnn1d", (2, 12)), ("cnn2d", (2, 8, 8))])
def test_the_same_seed_gives_the_same_weights(family: str, shape: tuple[int, ...]) -> None:
    params = {"batch_norm": True, "channels": 4, "units": 8, "init": "xavier_uniform"}
    global_state = torch.get_rng_state()
    first = build_model(family, params, input_shape=shape, n_outputs=3, generator=gen(7)).state_dict()
    again = build_model(family, params, input_shape=shape, n_outputs=3, generator=gen(7)).state_dict()
    other = build_model(family, params, input_shape=shape, n_outputs=3, generator=gen(8)).state_dict()
    assert torch.equal(torch.get_rng_state(), global_state), "building must not consume the global RNG"
    assert first.keys() == again.keys() == other.keys()
    assert all(torch.equal(first[k], again[k]) for k in first)
    weights = [k for k in first if k.endswith("weight") and first[k].ndim > 1]
    assert weights
    assert all(not torch.equal(first[k], other[k]) for k in weights)


# --- structure and shapes ----------------------------------------------------------------------


def test_mlp_layers_and_units() -> None:
    model = build_model("mlp", {"units": [5, 7], "activation": "gelu"}, input_shape=(2, 3), n_outputs=4)
    assert [tuple(layer.weight.shape) for layer in linears(model)] == [(5, 6), (7, 5), (4, 7)]
    assert sum(isinstance(m, nn.GELU) for m in model.modules()) == 2
    logistic = build_model("mlp", {"layers": 0}, input_shape=(3,), n_outputs=1)
    assert [tuple(layer.weight.shape) for layer in linears(logistic)] == [(1, 3)]
    assert model(torch.zeros(2, 2, 3)).shape == (2, 4)


@pytest.mark.parametrize(("family", "shape", "params", "inputs"), [
    ("cnn1d", (20,), {}, [(4, 20), (4, 1, 20)]),
    ("cnn1d", (3, 20), {"pooling": "avg", "kernel_size": 5}, [(4, 3, 20), (4, 60)]),
    ("cnn1d", (3, 9), {"pooling": "none", "conv_layers": 4, "channels": [2, 3, 4, 5]}, [(2, 27)]),
    ("cnn2d", (8, 8), {"batch_norm": True}, [(4, 8, 8), (4, 1, 8, 8), (4, 64)]),
    ("cnn2d", (3, 8, 6), {"conv_layers": 1, "layers": 2, "units": [16, 8], "dropout": 0.5},
     [(4, 3, 8, 6), (4, 144)]),
])
def test_cnns_map_declared_and_flat_inputs_to_batch_by_outputs(family: str, shape: tuple[int, ...],
                                                               params: dict[str, Any],
                                                               inputs: list[tuple[int, ...]]) -> None:
    model = build_model(family, {"channels": 4, **params}, input_shape=shape, n_outputs=5, generator=gen())
    for batch_shape in inputs:
        assert model(torch.randn(batch_shape, generator=gen())).shape == (batch_shape[0], 5)


def test_cnn_channels_double_per_block() -> None:
    model = build_model("cnn1d", {"conv_layers": 3, "channels": 4}, input_shape=(16,), n_outputs=2)
    convs = [m for m in model.modules() if isinstance(m, nn.Conv1d)]
    assert [c.out_channels for c in convs] == [4, 8, 16]
    assert [layer.out_features for layer in linears(model)] == [64, 2]  # default head: one layer of 64


# --- batch norm, dropout, max-norm -------------------------------------------------------------


def test_batch_norm_uses_batch_statistics_in_training_and_running_ones_in_eval() -> None:
    model = build_model("mlp", {"layers": 1, "units": 4, "batch_norm": True}, input_shape=(3,), n_outputs=2,
                        generator=gen())
    norm = next(m for m in model.modules() if isinstance(m, nn.BatchNorm1d))
    with torch.no_grad():
        norm.weight.copy_(torch.tensor([0.5, 1.0, 2.0, -1.0]))
        norm.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    norm.register_forward_hook(lambda _m, args, out: seen.append((args[0].detach(), out.detach())))
    x = torch.randn(16, 3, generator=gen(2)) * 3 + 5  # far from the initial running statistics

    model.train()
    model(x)
    h, out_train = seen[-1]
    mean, var = h.mean(0), h.var(0, unbiased=False)
    expected_train = (h - mean) / torch.sqrt(var + norm.eps) * norm.weight + norm.bias
    assert_close(out_train, expected_train.detach())

    model.eval()
    model(x)
    _, out_eval = seen[-1]
    running_mean, running_var = 0.1 * mean, 0.9 + 0.1 * h.var(0, unbiased=True)
    assert norm.running_mean is not None
    assert norm.running_var is not None
    assert_close(norm.running_mean, running_mean)
    assert_close(norm.running_var, running_var)
    expected_eval = (h - running_mean) / torch.sqrt(running_var + norm.eps) * norm.weight + norm.bias
    assert_close(out_eval, expected_eval.detach())
    assert (out_eval - out_train).abs().max() > 1.0
    assert_close(model(x)[:1], model(x[:1]))  # eval: an example ignores its batch


def test_dropout_is_random_in_training_and_off_in_eval() -> None:
    model = build_model("mlp", {"layers": 1, "units": 2000, "dropout": 0.3, "activation": "tanh"},
                        input_shape=(5,), n_outputs=2, generator=gen())
    dropout = next(m for m in model.modules() if isinstance(m, nn.Dropout))
    seen: list[tuple[torch.Tensor, torch.Tensor]] = []
    dropout.register_forward_hook(lambda _m, args, out: seen.append((args[0].detach(), out.detach())))
    x = torch.randn(8, 5, generator=gen(1))

    model.eval()
    assert torch.equal(model(x), model(x))
    assert torch.equal(seen[-1][0], seen[-1][1])

    model.train()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model(x)
    before, after = seen[-1]
    dropped = after == 0
    assert not (before == 0).any()
    assert dropped.float().mean().item() == pytest.approx(0.3, abs=0.02)
    assert_close(after[~dropped], before[~dropped] / 0.7)


def test_max_norm_caps_long_incoming_vectors_and_leaves_short_ones_alone() -> None:
    model = build_model("mlp", {"layers": 1, "units": 6, "max_norm": 1.0}, input_shape=(4,), n_outputs=3,
                        generator=gen())
    layers = linears(model)
    assert all(isinstance(layer, MaxNormLinear) and layer.max_norm == 1.0 for layer in layers)
    with torch.no_grad():
        for layer in layers:
            rows = torch.randn(layer.weight.shape, generator=gen(5))
            rows /= rows.norm(dim=1, keepdim=True)
            lengths = torch.tensor([3.0, 0.5, 1.0, 0.99, 7.0, 0.1])[: rows.shape[0], None]
            layer.weight.copy_(rows * lengths)
    before = [layer.weight.detach().clone() for layer in layers]
    biases = [layer.bias.detach().clone() for layer in layers if layer.bias is not None]
    apply_max_norm(model)
    for layer, old in zip(layers, before, strict=True):
        norms, old_norms = layer.weight.norm(dim=1), old.norm(dim=1)
        assert (norms <= 1.0 + 1e-6).all()
        short = old_norms <= 1.0
        assert torch.equal(layer.weight[short], old[short])
        assert_close(norms[~short], torch.ones(int((~short).sum())))
        assert_close(layer.weight[~short], old[~short] / old_norms[~short, None])
    assert all(torch.equal(layer.bias, b) for layer, b in zip(layers, biases, strict=True))


def test_max_norm_holds_from_construction_and_is_a_no_op_without_it() -> None:
    capped = build_model("cnn1d", {"max_norm": 0.05, "channels": 2}, input_shape=(8,), n_outputs=2,
                         generator=gen())
    assert all((layer.weight.norm(dim=1) <= 0.05 + 1e-6).all() for layer in linears(capped))
    free = build_model("mlp", {}, input_shape=(4,), n_outputs=2, generator=gen())
    before = {k: v.clone() for k, v in free.state_dict().items()}
    apply_max_norm(free)
    assert all(torch.equal(before[k], v) for k, v in free.state_dict().items())


# --- hyperparameter handling -------------------------------------------------------------------


def test_values_from_yaml_and_samplers_are_coerced() -> None:
    params = {"layers": 1.0, "units": [np.int32(8)], "dropout": np.float32(0.25), "init": "normal",
              "init_std": 1, "batch_norm": np.bool_(True), "max_norm": "2.5", "activation": np.str_("tanh")}
    model = build_model("mlp", params, input_shape=(np.int64(3),), n_outputs=np.int64(2), generator=gen())
    hidden, output = linears(model)
    assert (hidden.out_features, output.out_features) == (8, 2)
    assert next(m for m in model.modules() if isinstance(m, nn.Dropout)).p == 0.25
    assert isinstance(hidden, MaxNormLinear)
    assert hidden.max_norm == 2.5


@pytest.mark.parametrize("family", sorted(MODEL_KEYS))
def test_model_keys_are_exactly_the_keys_read(family: str) -> None:
    everything = {"layers": 1, "units": 4, "activation": "tanh", "init": "normal", "init_std": 0.1,
                  "batch_norm": True, "dropout": 0.1, "max_norm": 3.0, "conv_layers": 1, "channels": 2,
                  "kernel_size": 3, "pooling": "avg", "lr": 0.1, "optimizer": "sgd"}
    params = Recording(everything)
    build_model(family, params, input_shape=(8,) if family == "cnn1d" else (4, 4), n_outputs=2)
    assert params.read == MODEL_KEYS[family]


@pytest.mark.parametrize(("family", "params", "shape", "message"), [
    ("mlp", {"activation": "relux"}, (4,),
     "activation of MLP must be one of 'relu', 'tanh', 'sigmoid', 'gelu', 'leaky_relu'. Got 'relux'."),
    ("mlp", {"layers": -1}, (4,), "layers of MLP must be >= 0. Got -1."),
    ("mlp", {"layers": 2.5}, (4,), "layers of MLP must be an integer. Got 2.5."),
    ("mlp", {"layers": True}, (4,), "layers of MLP must be an integer. Got True."),
    ("mlp", {"units": 0}, (4,), "units of MLP must be >= 1. Got 0."),
    ("mlp", {"units": "wide"}, (4,), "units of MLP must be an integer. Got 'wide'."),
    ("mlp", {"units": [64, 32], "layers": 3}, (4,),
     "units of MLP must be one integer or a list of layers (3) integers. Got [64, 32]."),
    ("mlp", {"init": "glorot"}, (4,), "init of MLP must be one of 'he', 'xavier', 'normal', 'he_uniform', "
     "'xavier_uniform', 'default'. Got 'glorot'."),
    ("mlp", {"init_std": 0}, (4,), "init_std of MLP must be > 0. Got 0.0."),
    ("mlp", {"dropout": 1.0}, (4,), "dropout of MLP must be in [0, 1). Got 1.0."),
    ("mlp", {"dropout": float("nan")}, (4,), "dropout of MLP must be a finite number. Got nan."),
    ("mlp", {"batch_norm": "yes"}, (4,), "batch_norm of MLP must be true or false. Got 'yes'."),
    ("mlp", {"max_norm": -1}, (4,), "max_norm of MLP must be None or > 0. Got -1.0."),
    ("cnn1d", {"conv_layers": 5}, (32,), "conv_layers of CNN1d must be in [1, 4]. Got 5."),
    ("cnn1d", {"kernel_size": 4}, (32,), "kernel_size of CNN1d must be odd. Got 4."),
    ("cnn1d", {"channels": [8, 16, 32], "conv_layers": 2}, (32,),
     "channels of CNN1d must be one integer or a list of conv_layers (2) integers. Got [8, 16, 32]."),
    ("cnn2d", {"pooling": "min"}, (8, 8), "pooling of CNN2d must be one of 'max', 'avg', 'none'. Got 'min'."),
    ("cnn2d", {"conv_layers": 3}, (4, 6),
     "conv_layers of CNN2d must be <= 2 for input 4x6 with 2x pooling. Got 3."),
    ("cnn2d", {}, (2, 3, 4, 5), "input_shape of CNN2d must be (H, W) or (C, H, W). Got (2, 3, 4, 5)."),
    ("rnn", {}, (4,), "family of build_model must be one of 'mlp', 'cnn1d', 'cnn2d'. Got 'rnn'."),
    ("mlp", {}, (0, 3), "input_shape of build_model must be a non-empty tuple of integers >= 1. Got (0, 3)."),
])
def test_bad_hyperparameters_give_a_one_line_config_error(family: str, params: dict[str, Any],
                                                          shape: tuple[int, ...], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        build_model(family, params, input_shape=shape, n_outputs=2)
    assert str(caught.value) == message
    assert "\n" not in message


def test_bad_n_outputs() -> None:
    with pytest.raises(ConfigError, match=r"^n_outputs of build_model must be >= 1\. Got 0\.$"):
        build_model("mlp", {}, input_shape=(3,), n_outputs=0)
