"""Weight initialisation schemes, every draw taken from a passed `torch.Generator`."""

from __future__ import annotations

import math

import torch
from torch import nn

from shoal.exceptions import ConfigError

__all__ = ["INIT_SCHEMES", "init_weights"]

#: The schemes `init_weights` knows, in the order error messages list them.
INIT_SCHEMES = ("he", "xavier", "normal", "he_uniform", "xavier_uniform", "default")

_LAYERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)


def init_weights(module: nn.Module, scheme: str, *, std: float = 0.01,
                 generator: torch.Generator | None = None) -> None:
    """Initialise, in place, every linear and convolution layer inside `module`.

    The schemes (fan_in = inputs to one unit: in_features, or in_channels x kernel size):

    - `normal`: weights ~ N(0, std²).
    - `xavier`: N(0, 1/fan_in), the variance-preserving rule as taught in the Deep Learning
      Specialization (LeCun's normal); *not* Glorot's 2/(fan_in + fan_out).
    - `he`: N(0, 2/fan_in), for ReLU-like activations (He et al., 2015).
    - `xavier_uniform`, `he_uniform`: U(-a, a) with the same variances, a = √(3/fan_in) and √(6/fan_in).
    - `default`: what PyTorch's own `reset_parameters` does (weights and biases
      U(±1/√fan_in)), but drawn from `generator`.

    Biases are set to zero for every scheme but `default`. Other layers (batch norm) are untouched.

    Args:
        module: The model or layer to initialise.
        scheme: One of `INIT_SCHEMES`.
        std: Standard deviation for `normal`; ignored otherwise.
        generator: Source of every random draw; None uses PyTorch's global generator.

    Raises:
        ConfigError: For an unknown scheme or a `std` that is not > 0.

    >>> layer = torch.nn.Linear(400, 300)
    >>> init_weights(layer, "he", generator=torch.Generator().manual_seed(0))
    >>> round(layer.weight.std().item() / (2 / 400) ** 0.5, 1), layer.bias.abs().max().item()
    (1.0, 0.0)
    """
    if scheme not in INIT_SCHEMES:
        listed = ", ".join(repr(s) for s in INIT_SCHEMES)
        raise ConfigError(f"scheme of init_weights must be one of {listed}. Got {scheme!r}.")
    if not (math.isfinite(std) and std > 0):
        raise ConfigError(f"std of init_weights must be > 0. Got {std!r}.")
    for layer in module.modules():
        if isinstance(layer, _LAYERS):
            _init_layer(layer.weight, layer.bias, scheme, std, generator)


def _init_layer(weight: torch.Tensor, bias: torch.Tensor | None, scheme: str, std: float,
                generator: torch.Generator | None) -> None:
    fan_in = math.prod(weight.shape[1:])
    if scheme == "default":
        # Exactly nn.Linear/nn.ConvNd.reset_parameters, with our generator.
        nn.init.kaiming_uniform_(weight, a=math.sqrt(5), generator=generator)
        if bias is not None:
            bound = 1 / math.sqrt(fan_in) if fan_in > 0 else 0.0
            nn.init.uniform_(bias, -bound, bound, generator=generator)
        return
    variance = {"normal": std**2, "xavier": 1 / fan_in, "xavier_uniform": 1 / fan_in,
                "he": 2 / fan_in, "he_uniform": 2 / fan_in}[scheme]
    if scheme.endswith("_uniform"):
        bound = math.sqrt(3 * variance)
        nn.init.uniform_(weight, -bound, bound, generator=generator)
    else:
        nn.init.normal_(weight, 0.0, math.sqrt(variance), generator=generator)
    if bias is not None:
        nn.init.zeros_(bias)
