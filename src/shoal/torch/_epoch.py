"""One epoch's mechanics: batches of tensors or DataLoaders, the loss divergence check, evaluation."""

from __future__ import annotations

import copy
import math
from collections.abc import Callable, Iterator
from typing import Any, TypeAlias

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from shoal.exceptions import ConfigError, TrialFailed

__all__ = ["CHECK_EVERY", "EVAL_BATCH_SIZE", "Data", "LossWindow", "StateDict", "TensorPair", "batches",
           "copy_state", "evaluate", "to_device"]

TensorPair: TypeAlias = tuple[Tensor, Tensor]
Data: TypeAlias = "TensorPair | DataLoader[Any]"
StateDict: TypeAlias = dict[str, Any]

CHECK_EVERY = 16  # batches between divergence checks: one device sync each (see fit's docstring)
EVAL_BATCH_SIZE = 1024  # least rows per forward when evaluating tensor data (no gradients kept)


class LossWindow:
    """Training losses of one epoch, checked for divergence every CHECK_EVERY batches."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch
        self.pending: list[Tensor] = []
        self.sizes: list[int] = []
        self.first = 0  # the batch number of pending[0]
        self.total = 0.0
        self.count = 0

    def add(self, loss: Tensor, size: int) -> None:
        self.pending.append(loss.detach())
        self.sizes.append(size)
        if len(self.pending) >= CHECK_EVERY:
            self.check()

    def check(self) -> None:
        if not self.pending:
            return
        values = torch.stack(self.pending).tolist()  # the one synchronisation per window
        for i, (value, size) in enumerate(zip(values, self.sizes, strict=True)):
            if not math.isfinite(value):
                raise TrialFailed(f"diverged: training loss became {value} at epoch {self.epoch}, "
                                  f"batch {self.first + i}")
            self.total += value * size
            self.count += size
        self.first += len(values)
        self.pending.clear()
        self.sizes.clear()

    def mean(self) -> float:
        self.check()
        return self.total / self.count if self.count else math.nan


def to_device(data: Data, device: torch.device) -> Data:
    """Tensor data checked and moved to `device` once; a DataLoader as it is (moved per batch)."""
    if isinstance(data, DataLoader):
        return data
    if not (isinstance(data, tuple | list) and len(data) == 2
            and all(isinstance(t, Tensor) for t in data)):
        raise ConfigError(f"data of fit must be a pair of tensors (x, y) or a DataLoader. "
                          f"Got {type(data).__name__}.")
    x, y = data
    if x.shape[0] != y.shape[0] or x.shape[0] == 0:
        raise ConfigError(f"data of fit must have as many examples in x as in y, at least one. "
                          f"Got {x.shape[0]} and {y.shape[0]}.")
    return x.to(device), y.to(device)


def batches(data: Data, batch_size: int | None, device: torch.device,
            generator: torch.Generator | None, *, shuffle: bool) -> Iterator[TensorPair]:
    """Mini-batches on `device`: a DataLoader's own, or slices of tensors shuffled by `generator`."""
    if isinstance(data, DataLoader):
        for xb, yb in data:
            yield xb.to(device, non_blocking=True), yb.to(device, non_blocking=True)
        return
    x, y = data
    n = x.shape[0]
    size = n if batch_size is None else batch_size
    if shuffle:
        # One gather per epoch, then every batch is a view: cheaper than indexing per batch.
        order = torch.randperm(n, generator=generator,
                               device=generator.device if generator is not None else "cpu")
        order = order.to(x.device)
        x, y = x[order], y[order]
    for start in range(0, n, size):
        yield x[start:start + size], y[start:start + size]


def evaluate(model: nn.Module, data: Data, metric: Callable[[Tensor, Tensor], float],
             batch_size: int | None, device: torch.device) -> float:
    """`metric` of the model's outputs on all of `data`, in eval mode, without gradients."""
    was_training = model.training
    model.eval()
    outputs: list[Tensor] = []
    targets: list[Tensor] = []
    with torch.no_grad():
        for xb, yb in batches(data, batch_size, device, None, shuffle=False):
            outputs.append(model(xb))
            targets.append(yb)
        value = metric(torch.cat(outputs), torch.cat(targets))
    model.train(was_training)
    return float(value)


def copy_state(model: nn.Module) -> StateDict:
    """A copy of the model's state dict that later training does not change."""
    return {k: v.detach().clone() if isinstance(v, Tensor) else copy.deepcopy(v)
            for k, v in model.state_dict().items()}
