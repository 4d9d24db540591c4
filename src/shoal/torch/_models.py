"""Model builders: a flat mapping of hyperparameters (what a trial produces) in, a seeded model out."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import torch
from torch import nn

from shoal.exceptions import ConfigError
from shoal.torch._cnn import CNN_KEYS, build_cnn
from shoal.torch._dense import COMMON_KEYS, apply_max_norm, dense_stack, read_common, read_widths
from shoal.torch._hparams import as_int
from shoal.torch._init import init_weights

__all__ = ["MODEL_KEYS", "build_model"]

#: The keys each family reads, so a task can reject keys that no builder would look at.
MODEL_KEYS: Mapping[str, frozenset[str]] = MappingProxyType({
    "mlp": COMMON_KEYS | {"layers", "units"},
    "cnn1d": CNN_KEYS,
    "cnn2d": CNN_KEYS,
})

_OWNERS = {"mlp": "MLP", "cnn1d": "CNN1d", "cnn2d": "CNN2d"}


def build_model(family: str, params: Mapping[str, Any], *, input_shape: tuple[int, ...], n_outputs: int,
                generator: torch.Generator | None = None) -> nn.Module:
    """Build and initialise a model of `family` from hyperparameters.

    `params` is flat, like `trial.params` or a YAML task; keys not in `MODEL_KEYS[family]` are
    ignored here (the optimiser and schedule read theirs from the same mapping).

    Keys of every family (defaults in brackets):

    - `activation` ['relu']: 'relu', 'tanh', 'sigmoid', 'gelu' or 'leaky_relu' (slope 0.01).
    - `init` ['he']: 'he' N(0, 2/fan_in), 'xavier' N(0, 1/fan_in), 'normal' N(0, init_std²),
      'he_uniform', 'xavier_uniform' (same variances), 'default' (PyTorch's); see `init_weights`.
      Biases start at zero except for 'default'.
    - `init_std` [0.01]: standard deviation for init='normal'.
    - `batch_norm` [False]: BatchNorm after each hidden linear or conv layer, before the activation
      (that layer then has no bias: batch norm's shift replaces it).
    - `dropout` [0.0]: rate in [0, 1), after each hidden dense activation (conv nets: also on the
      flattened conv features).
    - `max_norm` [None]: limit on the norm of every incoming weight vector of the dense layers,
      hidden and output; enforced at build time and by `apply_max_norm` after each step.

    `mlp` (input flattened): `layers` [2] hidden layers (>= 0); `units` [128] one width for all, or a
    list of widths (its length then sets `layers`).

    `cnn1d`, `cnn2d`: `conv_layers` [2] blocks (1 to 4) of conv, batch norm, activation, pooling;
    `channels` [32] for the first block, doubling each block, or a list; `kernel_size` [3], odd, with
    'same' padding; `pooling` ['max'] 'max', 'avg' or 'none', 2x; then a dense head of `layers` [1]
    hidden layers of `units` [64]. `input_shape` is (length,) or (channels, length) for cnn1d, (H, W)
    or (C, H, W) for cnn2d; inputs may also arrive flat, (batch, prod(input_shape)).

    Args:
        family: 'mlp', 'cnn1d' or 'cnn2d'.
        params: The hyperparameters.
        input_shape: Shape of one example, without the batch dimension.
        n_outputs: Width of the output layer (classes, or regression targets).
        generator: Source of every initialisation draw, so one seed gives one set of weights; None
            uses PyTorch's global generator. Building never consumes the global generator otherwise.

    Returns:
        The model, in training mode, mapping (batch, *input_shape) to (batch, n_outputs).

    Raises:
        ConfigError: A one-line message naming the key for any invalid hyperparameter.

    >>> model = build_model("mlp", {"layers": 1, "units": 16, "dropout": 0.2}, input_shape=(4, 4),
    ...                     n_outputs=3, generator=torch.Generator().manual_seed(0))
    >>> model(torch.zeros(8, 4, 4)).shape
    torch.Size([8, 3])
    >>> build_model("mlp", {"activation": "relux"}, input_shape=(4,), n_outputs=1)
    Traceback (most recent call last):
    shoal.exceptions.ConfigError: activation of MLP must be one of 'relu', 'tanh', 'sigmoid', 'gelu', \
'leaky_relu'. Got 'relux'.
    """
    if family not in MODEL_KEYS:
        listed = ", ".join(repr(f) for f in MODEL_KEYS)
        raise ConfigError(f"family of build_model must be one of {listed}. Got {family!r}.")
    shape = _check_shape(input_shape)
    n_outputs = as_int(n_outputs, key="n_outputs", owner="build_model")
    if n_outputs < 1:
        raise ConfigError(f"n_outputs of build_model must be >= 1. Got {n_outputs!r}.")
    owner = _OWNERS[family]
    common = read_common(params, owner=owner)
    # Layer constructors draw PyTorch's default init from the global generator; those draws are
    # overwritten below, so keep them from disturbing the caller's global random state.
    with torch.random.fork_rng(devices=[]):
        if family == "mlp":
            widths = read_widths(params, count_key="layers", width_key="units", default_count=2,
                                 default_width=128, owner=owner)
            model = nn.Sequential(nn.Flatten(), *dense_stack(math.prod(shape), widths, n_outputs, common))
        else:
            model = build_cnn(params, dims=1 if family == "cnn1d" else 2, input_shape=shape,
                              n_outputs=n_outputs, owner=owner, common=common)
    init_weights(model, common.init, std=common.init_std, generator=generator)
    apply_max_norm(model)
    return model


def _check_shape(input_shape: tuple[int, ...]) -> tuple[int, ...]:
    valid = isinstance(input_shape, (tuple, list, torch.Size)) and len(input_shape) > 0 and all(
        isinstance(s, numbers.Integral) and not isinstance(s, bool) and s >= 1 for s in input_shape)
    if not valid:
        raise ConfigError(f"input_shape of build_model must be a non-empty tuple of integers >= 1. "
                          f"Got {input_shape!r}.")
    return tuple(int(s) for s in input_shape)
