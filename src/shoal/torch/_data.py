"""Data for the torch harness: arrays with their task, and a test set that stays locked while tuning.

A loader returns a `DataBundle`: `bundle.train` is what objectives train and validate on (split
it with `Holdout` or `KFold`); `bundle.test` is a `LockedTestSet` that raises `TestSetLocked` when
read, until it is opened once, on purpose, for the final evaluation:

    with bundle.test.unlock(reason="final evaluation") as test:
        ...  # test is an ArrayData
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt
import torch

from shoal._validate import integer
from shoal.clock import Clock, SystemClock
from shoal.exceptions import ConfigError, ShoalError
from shoal.torch._splits import TASKS, Task, ValidationProtocol

__all__ = ["ArrayData", "DataBundle", "LockedTestSet", "TestAccess", "TestSetLocked"]

TEST_ACCESSES_ATTR = "test_accesses"


class TestSetLocked(ShoalError):
    """The test set was read during tuning; only the final evaluation may open it."""

    __test__ = False  # not a pytest test class, despite the name


@dataclass(frozen=True, eq=False, init=False)
class ArrayData:
    """Features and targets of one split, with the task they belong to.

    Arrays are converted on construction: `x` to float32 of shape (n, *features) (C-contiguous),
    `y` to int64 labels in [0, n_classes) for classification, or float32 of shape (n,) or
    (n, outputs) for regression. Values must be finite.

    Attributes:
        x: Features, float32, shape (n, ...).
        y: Targets: int64 labels (classification) or float32 values (regression).
        task: "classification" or "regression".
        n_classes: Number of classes (classification; inferred as max label + 1 when omitted);
            None for regression.
        name: The data set's name, for messages and reports.
        classes: The original label of each class index, when labels were re-coded (from_arrays).

    >>> import numpy as np
    >>> data = ArrayData(np.zeros((4, 3)), np.array([0, 1, 2, 1]), "classification", name="toy")
    >>> len(data), data.x.dtype, data.y.dtype, data.n_classes, data.input_shape
    (4, dtype('float32'), dtype('int64'), 3, (3,))
    >>> x, y = data.subset([0, 3]).to_tensors()
    >>> tuple(x.shape), y.tolist()
    ((2, 3), [0, 1])
    """

    x: npt.NDArray[np.float32]
    y: npt.NDArray[Any]
    task: Task
    n_classes: int | None
    name: str
    classes: tuple[Any, ...] | None

    def __init__(self, x: npt.ArrayLike, y: npt.ArrayLike, task: Task, n_classes: int | None = None,
                 name: str = "data", classes: tuple[Any, ...] | None = None) -> None:
        classes = None if classes is None else tuple(classes)
        for key, value in (("task", task), ("n_classes", n_classes), ("name", name), ("classes", classes)):
            object.__setattr__(self, key, value)
        owner = f"ArrayData {self.name!r}"
        if task not in TASKS:
            raise ConfigError(f"task of {owner} must be one of {list(TASKS)!r}. Got {self.task!r}.")
        x = _numeric(x, f"x of {owner}")
        if x.ndim < 2:
            raise ConfigError(f"x of {owner} must have shape (n, features...), at least 2-D. "
                              f"Got shape {x.shape!r}; use x.reshape(-1, 1) for a single feature.")
        x = np.ascontiguousarray(x, dtype=np.float32)
        y = _numeric(y, f"y of {owner}")
        if len(y) != len(x):
            raise ConfigError(f"y of {owner} must have one target per row of x ({len(x)}). Got {len(y)}.")
        if not np.isfinite(x).all():
            raise ConfigError(f"x of {owner} must be finite. Got NaN or infinity at row "
                              f"{int(np.flatnonzero(~np.isfinite(x.reshape(len(x), -1)).all(axis=1))[0])}.")
        if self.task == "classification":
            y, n_classes = _labels(y, n_classes, owner)
            object.__setattr__(self, "n_classes", n_classes)
        else:
            if self.n_classes is not None or self.classes is not None:
                raise ConfigError(f"n_classes and classes of {owner} must be None for regression. "
                                  f"Got {self.n_classes!r} and {self.classes!r}.")
            if y.ndim not in (1, 2) or not np.isfinite(y).all():
                raise ConfigError(f"y of {owner} must be finite values of shape (n,) or (n, outputs) "
                                  f"for regression. Got shape {y.shape!r} (finite: {np.isfinite(y).all()}).")
            y = np.ascontiguousarray(y, dtype=np.float32)
        if self.classes is not None and len(self.classes) != self.n_classes:
            raise ConfigError(f"classes of {owner} must name each of its {self.n_classes} classes. "
                              f"Got {len(self.classes)}.")
        object.__setattr__(self, "x", x)
        object.__setattr__(self, "y", y)

    def __len__(self) -> int:
        return len(self.x)

    def __repr__(self) -> str:
        extra = f", n_classes={self.n_classes}" if self.task == "classification" else ""
        return (f"ArrayData(name={self.name!r}, n={len(self)}, input_shape={self.input_shape}, "
                f"task={self.task!r}{extra})")

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Shape of one sample's features: `x.shape[1:]`."""
        return tuple(int(d) for d in self.x.shape[1:])

    @property
    def n_outputs(self) -> int:
        """Model outputs needed: n_classes logits, or one value per regression target."""
        if self.task == "classification":
            return cast(int, self.n_classes)
        return 1 if self.y.ndim == 1 else int(self.y.shape[1])

    def subset(self, indices: npt.ArrayLike) -> ArrayData:
        """The rows at `indices` (integer indices or a boolean mask), same task and classes."""
        rows = np.asarray(indices)
        if rows.dtype != np.bool_ and not np.issubdtype(rows.dtype, np.integer) and rows.size:
            raise ConfigError(f"indices of ArrayData.subset must be integers or a boolean mask. "
                              f"Got dtype {rows.dtype}.")
        return self._with(x=self.x[rows], y=self.y[rows])

    def _with(self, **changes: Any) -> ArrayData:
        fields = {"x": self.x, "y": self.y, "task": self.task, "n_classes": self.n_classes,
                  "name": self.name, "classes": self.classes}
        return ArrayData(**{**fields, **changes})

    def split(self, protocol: ValidationProtocol) -> list[tuple[ArrayData, ArrayData]]:
        """(train, validation) pairs of this data under a Holdout or KFold protocol.

        >>> import numpy as np
        >>> from shoal.torch._splits import KFold
        >>> data = ArrayData(np.zeros((10, 2)), np.array([0, 1] * 5), "classification")
        >>> [(len(t), len(v)) for t, v in data.split(KFold(k=2))]
        [(5, 5), (5, 5)]
        """
        return [(self.subset(t), self.subset(v)) for t, v in protocol.splits(self.y, self.task)]

    def to_tensors(self, device: str | torch.device | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(x, y) as tensors: float32 features, int64 labels or float32 targets.

        On the CPU they share memory with the arrays (no copy): do not modify them in place.
        """
        tensors = tuple(torch.from_numpy(a) if a.flags.writeable else torch.tensor(a)
                        for a in (self.x, self.y))
        x, y = tensors
        return (x, y) if device is None else (x.to(device), y.to(device))


@dataclass(frozen=True)
class TestAccess:
    """One opening of a locked test set: the how-many-th, why, and when (seconds since the epoch)."""

    __test__ = False  # not a pytest test class, despite the name

    number: int
    reason: str
    time: float

    def as_dict(self) -> dict[str, Any]:
        return {"number": self.number, "reason": self.reason, "time": self.time}


class _AttrStore(Protocol):
    """Where accesses are also recorded: a Study (its user attributes)."""

    @property
    def user_attrs(self) -> dict[str, Any]: ...

    def set_user_attr(self, key: str, value: Any) -> None: ...


class LockedTestSet:
    """The test split, unreadable until unlocked for the final evaluation.

    `len()` and the metadata (`name`, `task`, `n_classes`, `input_shape`) are free; `.data` and
    iteration raise TestSetLocked outside `with test.unlock(reason=...)`. Every unlock is recorded
    in `accesses`, so a report can say how often the test set was looked at.

    >>> import numpy as np
    >>> from shoal.clock import FakeClock
    >>> test = LockedTestSet(ArrayData(np.ones((3, 2)), np.array([0, 1, 0]), "classification"),
    ...                      clock=FakeClock(start=10.0))
    >>> len(test), test.locked
    (3, True)
    >>> test.data  # doctest: +IGNORE_EXCEPTION_DETAIL
    Traceback (most recent call last):
    shoal.torch.TestSetLocked: the test set is locked during tuning: ...
    >>> with test.unlock(reason="final evaluation") as data:
    ...     len(data.y)
    3
    >>> test.test_reads, test.accesses[0]
    (1, TestAccess(number=1, reason='final evaluation', time=10.0))
    """

    def __init__(self, data: ArrayData, *, clock: Clock | None = None) -> None:
        if not isinstance(data, ArrayData):
            raise ConfigError(f"data of LockedTestSet must be an ArrayData. Got {type(data).__name__}.")
        self._data = data
        self._clock = clock if clock is not None else SystemClock()
        self._accesses: list[TestAccess] = []
        self._open = 0

    @property
    def locked(self) -> bool:
        return self._open == 0

    @property
    def data(self) -> ArrayData:
        """The test ArrayData; raises TestSetLocked unless inside `unlock()`."""
        if self._open == 0:
            raise TestSetLocked(
                f"the test set is locked during tuning: objectives and samplers see only bundle.train "
                f"(validate on it with Holdout or KFold), never the {len(self)} test samples of "
                f"{self.name!r}. Use shoal.torch.evaluate(study, test=True) / 'shoal evaluate NAME "
                f"--test' to measure the chosen configuration once.")
        return self._data

    def __len__(self) -> int:
        return len(self._data)

    def __iter__(self) -> Iterator[tuple[npt.NDArray[np.float32], Any]]:
        data = self.data
        return iter(zip(data.x, data.y, strict=True))

    def __repr__(self) -> str:
        state = "locked" if self.locked else "unlocked"
        return f"LockedTestSet(name={self.name!r}, n={len(self)}, {state}, test_reads={self.test_reads})"

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_open": 0}  # a copy never starts unlocked

    @property
    def name(self) -> str:
        return self._data.name

    @property
    def task(self) -> Task:
        return self._data.task

    @property
    def n_classes(self) -> int | None:
        return self._data.n_classes

    @property
    def input_shape(self) -> tuple[int, ...]:
        return self._data.input_shape

    @property
    def accesses(self) -> list[TestAccess]:
        """Every unlock so far, oldest first (a copy)."""
        return list(self._accesses)

    @property
    def test_reads(self) -> int:
        """How many times the test set was unlocked."""
        return len(self._accesses)

    @contextlib.contextmanager
    def unlock(self, *, reason: str, study: _AttrStore | None = None) -> Iterator[ArrayData]:
        """Open the test set for the block and record why; yields its ArrayData.

        Args:
            reason: Why it is opened (recorded), e.g. "final evaluation".
            study: Also append the access to this study's user attribute "test_accesses", so the
                count survives the process and shows in reports.
        """
        if not isinstance(reason, str) or not reason.strip():
            raise ConfigError(f"reason of LockedTestSet.unlock must be a non-empty string. Got {reason!r}.")
        access = TestAccess(number=len(self._accesses) + 1, reason=reason, time=self._clock.now())
        self._accesses.append(access)
        if study is not None:
            earlier = list(study.user_attrs.get(TEST_ACCESSES_ATTR, []))
            study.set_user_attr(TEST_ACCESSES_ATTR, [*earlier, {**access.as_dict(), "dataset": self.name}])
        self._open += 1
        try:
            yield self._data
        finally:
            self._open -= 1

    def _map(self, fn: Any) -> LockedTestSet:
        """A new lock around fn(data), keeping the access log; for loaders, not a read."""
        mapped = LockedTestSet(fn(self._data), clock=self._clock)
        mapped._accesses = list(self._accesses)
        return mapped


@dataclass(frozen=True)
class DataBundle:
    """What a loader returns: training data for tuning, and the locked test set (None if there is none).

    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> train = ArrayData(rng.normal(5.0, 2.0, (50, 2)), rng.normal(size=50), "regression")
    >>> test = LockedTestSet(ArrayData(np.zeros((5, 2)), np.zeros(5), "regression"))
    >>> bundle = DataBundle(train, test).standardized()
    >>> np.allclose(bundle.train.x.mean(axis=0), 0, atol=1e-6), bundle.test.test_reads
    (True, 0)
    """

    train: ArrayData
    test: LockedTestSet | None = field(default=None)

    def __post_init__(self) -> None:
        if not isinstance(self.train, ArrayData):
            raise ConfigError(f"train of DataBundle must be an ArrayData. Got {type(self.train).__name__}.")
        if self.test is None:
            return
        if not isinstance(self.test, LockedTestSet):
            raise ConfigError(f"test of DataBundle must be a LockedTestSet or None. "
                              f"Got {type(self.test).__name__}.")
        mine = (self.train.task, self.train.n_classes, self.train.input_shape, self.train.n_outputs)
        theirs = (self.test.task, self.test.n_classes, self.test.input_shape, self.test._data.n_outputs)
        if mine != theirs:
            raise ConfigError(f"test of DataBundle {self.train.name!r} must match its training data in "
                              f"(task, n_classes, input_shape, n_outputs) = {mine!r}. Got {theirs!r}.")

    @property
    def name(self) -> str:
        return self.train.name

    @property
    def task(self) -> Task:
        return self.train.task

    def standardized(self) -> DataBundle:
        """Features scaled to mean 0 and std 1 per feature, with statistics of the TRAINING split only.

        Fitting on all data would leak the test set into training. Constant features are only
        centred. With k-fold validation the statistics come from the whole training split.
        """
        mean = self.train.x.mean(axis=0, dtype=np.float64)
        std = self.train.x.std(axis=0, dtype=np.float64)
        std[std == 0] = 1.0

        def scale(data: ArrayData) -> ArrayData:
            return data._with(x=((data.x - mean) / std).astype(np.float32))

        return DataBundle(scale(self.train), None if self.test is None else self.test._map(scale))


def _numeric(values: Any, what: str) -> npt.NDArray[Any]:
    array = np.asarray(values)
    if not (array.dtype == np.bool_ or np.issubdtype(array.dtype, np.number)) or array.ndim == 0:
        raise ConfigError(f"{what} must be a numeric array with one row per sample. "
                          f"Got dtype {array.dtype} and shape {array.shape!r}.")
    return array


def _labels(y: npt.NDArray[Any], n_classes: int | None, owner: str) -> tuple[npt.NDArray[np.int64], int]:
    if y.ndim != 1 or (y.size and not np.all(y == np.round(y))):
        raise ConfigError(f"y of {owner} must be integer class labels of shape (n,). Got dtype {y.dtype} "
                          f"and shape {y.shape!r}; use from_arrays to encode other labels.")
    labels = y.astype(np.int64)
    if n_classes is None:
        if not labels.size:
            raise ConfigError(f"n_classes of {owner} must be given when y is empty. Got None.")
        n_classes = int(labels.max()) + 1
    n_classes = integer(n_classes, what="n_classes", owner=owner, low=2)
    if labels.size and (labels.min() < 0 or labels.max() >= n_classes):
        raise ConfigError(f"y of {owner} must hold labels in [0, {n_classes}). "
                          f"Got values from {labels.min()} to {labels.max()}.")
    return labels, int(n_classes)
