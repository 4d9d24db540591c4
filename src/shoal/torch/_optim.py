"""Optimisers from a flat mapping of hyperparameters, with weight decay kept off biases and norms."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from shoal.exceptions import ConfigError
from shoal.torch._hparams import Range, read_bool, read_choice, read_float

__all__ = ["OPTIMIZERS", "OPTIMIZER_KEYS", "build_optimizer", "decay_groups"]

#: The `optimizer` values, in the order error messages list them.
OPTIMIZERS = ("sgd", "momentum", "nesterov", "adagrad", "rmsprop", "adam", "adamw")

#: The keys `build_optimizer` reads.
OPTIMIZER_KEYS = frozenset({"optimizer", "lr", "momentum", "beta1", "beta2", "eps", "weight_decay",
                            "rmsprop_decay", "decay_all"})

_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.SyncBatchNorm, nn.InstanceNorm1d,
          nn.InstanceNorm2d, nn.InstanceNorm3d, nn.LayerNorm, nn.GroupNorm)
_POSITIVE = Range(low=0, low_open=True)
_UNIT = Range(low=0, high=1, high_open=True)


def build_optimizer(model: nn.Module, params: Mapping[str, Any]) -> torch.optim.Optimizer:
    """Build the optimiser named by `params["optimizer"]` for the trainable parameters of `model`.

    Keys (defaults in brackets; a key the chosen optimiser does not use is ignored):

    - `optimizer` ['adam']: 'sgd'; 'momentum' (SGD with momentum); 'nesterov'; 'adagrad';
      'rmsprop'; 'adam'; 'adamw' (Adam with decoupled weight decay, Loshchilov & Hutter).
    - `lr` [1e-3]: learning rate, > 0.
    - `momentum` [0.9 for 'momentum' and 'nesterov', 0 for 'rmsprop']: β in [0, 1). Momentum follows
      PyTorch's convention v ← βv + g, w ← w - lr·v (the velocity holds gradients, not steps, so
      changing lr takes effect at once); Nesterov steps w ← w - lr·(g + βv) with the new v.
    - `beta1` [0.9], `beta2` [0.999]: Adam's moment decay rates, in [0, 1); Adam bias-corrects both.
    - `eps` [1e-8]: added to the root of the second moment (outside the square root, as PyTorch).
    - `rmsprop_decay` [0.99]: RMSProp's rho (PyTorch's `alpha`) in [0, 1): s ← rho·s + (1 - rho)·g².
    - `weight_decay` [0]: L2 penalty coefficient, >= 0; added to the gradient (g + λw) for every
      optimiser but 'adamw', which shrinks weights directly, w ← w(1 - lr·λ).
    - `decay_all` [False]: weight decay normally applies to weights only, not to biases, nor to
      batch/layer/group norm parameters, nor to any other one-dimensional parameter: decaying
      those only fights the normalisation. True decays every parameter, as plain PyTorch does.

    Args:
        model: The model whose parameters with `requires_grad` are optimised.
        params: The hyperparameters.

    Returns:
        A `torch.optim.Optimizer` with two parameter groups (weights first, then the parameters
        exempt from decay, with weight_decay 0), or one with `decay_all` or when a model has only
        one kind. The groups do not depend on the value of `weight_decay`, so a checkpoint of a
        run with one value restores into an optimiser built with another (a fork that changes it).

    Raises:
        ConfigError: A one-line message naming the key for any invalid hyperparameter.

    >>> model = torch.nn.Linear(3, 1)
    >>> opt = build_optimizer(model, {"optimizer": "momentum", "lr": 0.1, "weight_decay": 1e-4})
    >>> type(opt).__name__, [g["weight_decay"] for g in opt.param_groups], opt.defaults["momentum"]
    ('SGD', [0.0001, 0.0], 0.9)
    """
    kind = read_choice(params, "optimizer", "adam", OPTIMIZERS, owner="build_optimizer")
    owner = f"optimizer {kind!r}"
    lr = read_float(params, "lr", 1e-3, owner=owner, within=_POSITIVE)
    momentum = read_float(params, "momentum", 0.0 if kind == "rmsprop" else 0.9, owner=owner, within=_UNIT)
    beta1 = read_float(params, "beta1", 0.9, owner=owner, within=_UNIT)
    beta2 = read_float(params, "beta2", 0.999, owner=owner, within=_UNIT)
    eps = read_float(params, "eps", 1e-8, owner=owner, within=_POSITIVE)
    rho = read_float(params, "rmsprop_decay", 0.99, owner=owner, within=_UNIT)
    weight_decay = read_float(params, "weight_decay", 0.0, owner=owner, within=Range(low=0))
    decay_all = read_bool(params, "decay_all", False, owner=owner)

    groups = decay_groups(model, weight_decay, decay_all=decay_all)
    if not groups:
        raise ConfigError(f"model of build_optimizer must have parameters that require grad. "
                          f"Got {type(model).__name__} with none.")
    if kind in ("sgd", "momentum", "nesterov"):
        return torch.optim.SGD(groups, lr=lr, momentum=0.0 if kind == "sgd" else momentum,
                               nesterov=kind == "nesterov", weight_decay=weight_decay)
    if kind == "adagrad":
        return torch.optim.Adagrad(groups, lr=lr, eps=eps, weight_decay=weight_decay)
    if kind == "rmsprop":
        return torch.optim.RMSprop(groups, lr=lr, alpha=rho, eps=eps, momentum=momentum,
                                   weight_decay=weight_decay)
    if kind == "adam":
        return torch.optim.Adam(groups, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)
    return torch.optim.AdamW(groups, lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay)


def decay_groups(model: nn.Module, weight_decay: float, *, decay_all: bool = False) -> list[dict[str, Any]]:
    """Parameter groups: weights with `weight_decay`, then biases and norm parameters with none.

    A parameter is exempt from decay when it belongs to a batch/layer/group norm layer or has fewer
    than two dimensions (biases, scales). Frozen parameters are left out; empty groups are dropped.
    The split is the same for every `weight_decay`, 0 included.

    >>> net = torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.BatchNorm1d(2))
    >>> [(len(g["params"]), g["weight_decay"]) for g in decay_groups(net, 0.1)]
    [(1, 0.1), (3, 0.0)]
    >>> [(len(g["params"]), g["weight_decay"]) for g in decay_groups(net, 0.0)]
    [(1, 0.0), (3, 0.0)]
    """
    decayed: list[nn.Parameter] = []
    exempt: list[nn.Parameter] = []
    seen: set[int] = set()
    for module in model.modules():
        for param in module.parameters(recurse=False):
            if not param.requires_grad or id(param) in seen:
                continue
            seen.add(id(param))
            if decay_all or not (param.ndim < 2 or isinstance(module, _NORMS)):
                decayed.append(param)
            else:
                exempt.append(param)
    groups = [{"params": decayed, "weight_decay": weight_decay}, {"params": exempt, "weight_decay": 0.0}]
    return [g for g in groups if g["params"]]
