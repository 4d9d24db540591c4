"""Dense building blocks shared by the model families: layers, activations, max-norm, common keys."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from shoal.exceptions import ConfigError
from shoal.torch._hparams import Range, as_float, as_int, read_bool, read_choice, read_float
from shoal.torch._init import INIT_SCHEMES

__all__ = ["ACTIVATIONS", "COMMON_KEYS", "Common", "MaxNormLinear", "apply_max_norm", "dense_stack",
           "make_activation", "read_common", "read_widths"]

#: Activation names accepted by every model family; leaky_relu uses PyTorch's slope of 0.01.
ACTIVATIONS = ("relu", "tanh", "sigmoid", "gelu", "leaky_relu")

#: Keys every family reads through `read_common`.
COMMON_KEYS = frozenset({"activation", "init", "init_std", "batch_norm", "dropout", "max_norm"})


class MaxNormLinear(nn.Linear):
    """A linear layer that remembers its max-norm limit, for `apply_max_norm` to enforce.

    >>> MaxNormLinear(3, 2, max_norm=2.0)
    MaxNormLinear(in_features=3, out_features=2, bias=True, max_norm=2.0)
    """

    max_norm: float | None

    def __init__(self, in_features: int, out_features: int, *, bias: bool = True,
                 max_norm: float | None = None) -> None:
        super().__init__(in_features, out_features, bias=bias)
        self.max_norm = max_norm

    def extra_repr(self) -> str:
        return f"{super().extra_repr()}, max_norm={self.max_norm}"


def apply_max_norm(model: nn.Module) -> None:
    """Rescale, in place, each incoming weight vector longer than its layer's `max_norm` to that norm.

    An incoming weight vector is one row of a linear layer's weight (the weights into one unit);
    rows within the limit are left exactly as they are. Call it after every `optimizer.step()`;
    for a model built without `max_norm` it does nothing.

    >>> layer = MaxNormLinear(2, 2, max_norm=1.0)
    >>> with torch.no_grad():
    ...     _ = layer.weight.copy_(torch.tensor([[3.0, 4.0], [0.3, 0.4]]))
    >>> apply_max_norm(layer)
    >>> layer.weight.norm(dim=1).tolist()
    [1.0, 0.5]
    """
    with torch.no_grad():
        for layer in model.modules():
            if isinstance(layer, MaxNormLinear) and layer.max_norm is not None:
                weight = layer.weight
                norms = weight.norm(dim=1, keepdim=True)
                scale = torch.where(norms > layer.max_norm, layer.max_norm / norms, torch.ones_like(norms))
                weight.mul_(scale)


def make_activation(name: str) -> nn.Module:
    """A fresh activation module for one of `ACTIVATIONS`.

    >>> make_activation("gelu")
    GELU(approximate='none')
    """
    makers: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid,
                                          "gelu": nn.GELU, "leaky_relu": nn.LeakyReLU}
    return makers[name]()


@dataclass(frozen=True)
class Common:
    """The keys every model family shares, read and checked."""

    activation: str = "relu"
    init: str = "he"
    init_std: float = 0.01
    batch_norm: bool = False
    dropout: float = 0.0
    max_norm: float | None = None


def read_common(params: Mapping[str, Any], *, owner: str) -> Common:
    """Read and check the shared keys of `params` (see `COMMON_KEYS`).

    >>> read_common({"activation": "tanh", "dropout": 0.5}, owner="MLP").dropout
    0.5
    """
    max_norm = params.get("max_norm")
    if max_norm is not None:
        max_norm = as_float(max_norm, key="max_norm", owner=owner)
        if max_norm <= 0:
            raise ConfigError(f"max_norm of {owner} must be None or > 0. Got {max_norm!r}.")
    return Common(
        activation=read_choice(params, "activation", "relu", ACTIVATIONS, owner=owner),
        init=read_choice(params, "init", "he", INIT_SCHEMES, owner=owner),
        init_std=read_float(params, "init_std", 0.01, owner=owner, within=Range(low=0, low_open=True)),
        batch_norm=read_bool(params, "batch_norm", False, owner=owner),
        dropout=read_float(params, "dropout", 0.0, owner=owner, within=Range(low=0, high=1, high_open=True)),
        max_norm=max_norm,
    )


def read_widths(params: Mapping[str, Any], *, count_key: str, width_key: str, default_count: int,
                default_width: int, owner: str, min_count: int = 0, max_count: int | None = None,
                doubling: bool = False) -> list[int]:
    """Per-layer widths from a count key and a width key (one int for all layers, or a list).

    A list sets the count when the count key is absent; with both given, their lengths must agree.
    With `doubling`, a single width w gives w, 2w, 4w, ... (channels of a conv net).

    >>> read_widths({"units": [64, 32]}, count_key="layers", width_key="units", default_count=2,
    ...             default_width=128, owner="MLP")
    [64, 32]
    """
    raw = params.get(width_key, default_width)
    if isinstance(raw, np.ndarray):
        raw = raw.tolist()
    is_list = isinstance(raw, Sequence) and not isinstance(raw, str)
    count_default = len(raw) if is_list else default_count
    count = as_int(params.get(count_key, count_default), key=count_key, owner=owner)
    within = Range(low=min_count, high=max_count)
    if not within.contains(count):
        raise ConfigError(f"{count_key} of {owner} must be {within.text}. Got {count!r}.")
    if is_list:
        widths = [as_int(w, key=width_key, owner=owner) for w in raw]
        if len(widths) != count:
            raise ConfigError(f"{width_key} of {owner} must be one integer or a list of {count_key} "
                              f"({count}) integers. Got {list(raw)!r}.")
    else:
        width = as_int(raw, key=width_key, owner=owner)
        widths = [width * 2**i if doubling else width for i in range(count)]
    if any(w < 1 for w in widths):
        shown = list(raw) if is_list else raw
        raise ConfigError(f"{width_key} of {owner} must be >= 1. Got {shown!r}.")
    return widths


def dense_stack(in_features: int, widths: Sequence[int], n_outputs: int, common: Common) -> list[nn.Module]:
    """Hidden layers (linear, batch norm, activation, dropout) then the output linear layer.

    >>> len(dense_stack(10, [8], 2, Common(batch_norm=True, dropout=0.5)))
    5
    """
    modules: list[nn.Module] = []
    width_in = in_features
    for width in widths:
        # A bias before batch norm is cancelled by its mean subtraction, so it is left out.
        modules.append(MaxNormLinear(width_in, width, bias=not common.batch_norm, max_norm=common.max_norm))
        if common.batch_norm:
            modules.append(nn.BatchNorm1d(width))
        modules.append(make_activation(common.activation))
        if common.dropout > 0:
            modules.append(nn.Dropout(common.dropout))
        width_in = width
    modules.append(MaxNormLinear(width_in, n_outputs, max_norm=common.max_norm))
    return modules
