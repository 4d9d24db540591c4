"""Small convolutional nets for sequence-like (1-D) and image-like (2-D) inputs."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from shoal.exceptions import ConfigError
from shoal.torch._dense import COMMON_KEYS, Common, dense_stack, make_activation, read_common, read_widths
from shoal.torch._hparams import Range, read_choice, read_int

__all__ = ["CNN_KEYS", "Reshape", "build_cnn"]

#: Keys a conv net reads: the shared ones, the conv blocks, and the dense head (`layers`, `units`).
CNN_KEYS = COMMON_KEYS | {"conv_layers", "channels", "kernel_size", "pooling", "layers", "units"}

POOLINGS = ("max", "avg", "none")


class Reshape(nn.Module):
    """Reshapes each example to `shape`, keeping the batch dimension (accepts flat inputs too).

    >>> Reshape((1, 4))(torch.zeros(2, 4)).shape
    torch.Size([2, 1, 4])
    """

    def __init__(self, shape: tuple[int, ...]) -> None:
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.reshape(x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return f"shape={self.shape}"


def _channels_first(input_shape: tuple[int, ...], dims: int, owner: str) -> tuple[int, ...]:
    if len(input_shape) == dims:
        return (1, *input_shape)
    if len(input_shape) == dims + 1:
        return input_shape
    expected = "(length,) or (channels, length)" if dims == 1 else "(H, W) or (C, H, W)"
    raise ConfigError(f"input_shape of {owner} must be {expected}. Got {input_shape!r}.")


def build_cnn(params: Mapping[str, Any], *, dims: int, input_shape: tuple[int, ...], n_outputs: int,
              owner: str, common: Common | None = None) -> nn.Sequential:
    """Conv blocks (conv, batch norm, activation, 2x pooling), then a dense head.

    Each block keeps the length (or height and width) with 'same' padding, then halves it when
    `pooling` is not 'none'. Dropout acts on the flattened conv features and after each hidden
    activation of the head. Weights are not initialised here: `build_model` does that, and passes
    the shared keys it has already read as `common` (read from `params` when None).

    >>> net = build_cnn({"conv_layers": 1}, dims=1, input_shape=(8,), n_outputs=3, owner="CNN1d")
    >>> net(torch.zeros(5, 8)).shape
    torch.Size([5, 3])
    """
    if common is None:
        common = read_common(params, owner=owner)
    channels = read_widths(params, count_key="conv_layers", width_key="channels", default_count=2,
                           default_width=32, owner=owner, min_count=1, max_count=4, doubling=True)
    kernel = read_int(params, "kernel_size", 3, owner=owner, within=Range(low=1))
    if kernel % 2 == 0:
        raise ConfigError(f"kernel_size of {owner} must be odd. Got {kernel!r}.")
    pooling = read_choice(params, "pooling", "max", POOLINGS, owner=owner)
    head = read_widths(params, count_key="layers", width_key="units", default_count=1, default_width=64,
                       owner=owner)
    shape = _channels_first(input_shape, dims, owner)
    spatial = list(shape[1:])
    if pooling != "none" and min(spatial) >> len(channels) < 1:
        most = min(spatial).bit_length() - 1
        size = "x".join(str(s) for s in spatial)
        raise ConfigError(f"conv_layers of {owner} must be <= {most} for input {size} with 2x pooling. "
                          f"Got {len(channels)}.")

    conv: type[nn.Conv1d | nn.Conv2d] = nn.Conv1d if dims == 1 else nn.Conv2d
    norm: type[nn.BatchNorm1d | nn.BatchNorm2d] = nn.BatchNorm1d if dims == 1 else nn.BatchNorm2d
    pools: dict[str, type[nn.Module]] = {"max": nn.MaxPool1d if dims == 1 else nn.MaxPool2d,
                                         "avg": nn.AvgPool1d if dims == 1 else nn.AvgPool2d}
    modules: list[nn.Module] = [Reshape(shape)]
    c_in = shape[0]
    for c_out in channels:
        modules.append(conv(c_in, c_out, kernel, padding=kernel // 2, bias=not common.batch_norm))
        if common.batch_norm:
            modules.append(norm(c_out))
        modules.append(make_activation(common.activation))
        if pooling != "none":
            modules.append(pools[pooling](2))
            spatial = [s // 2 for s in spatial]
        c_in = c_out
    modules.append(nn.Flatten())
    if common.dropout > 0:
        modules.append(nn.Dropout(common.dropout))
    modules += dense_stack(c_in * math.prod(spatial), head, n_outputs, common)
    return nn.Sequential(*modules)
