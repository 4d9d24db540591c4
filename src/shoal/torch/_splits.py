"""The validation protocol: how the training data is split into training and validation parts.

The test set never enters here: these splits carve the *training* data of a `DataBundle` only.
Splitting is plain numpy with a seeded generator, so it needs neither scikit-learn nor torch.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeAlias

import numpy as np
import numpy.typing as npt

from shoal._validate import integer, number
from shoal._validate import seed as check_seed
from shoal.exceptions import ConfigError

__all__ = ["Holdout", "KFold", "Split", "Task", "ValidationProtocol", "protocol_from_dict"]

Task: TypeAlias = Literal["classification", "regression"]
Split: TypeAlias = tuple["npt.NDArray[np.int64]", "npt.NDArray[np.int64]"]
TASKS: tuple[Task, ...] = ("classification", "regression")


@dataclass(frozen=True)
class Holdout:
    """One validation split holding out `fraction` of the training data.

    With `stratify=True` and a classification task, each class gives `floor` or `ceil` of
    `fraction * class_size` samples to validation (largest remainders first), so every class's
    share in validation is within one sample of its share overall, and the validation size is
    exactly `round(fraction * n)`. For regression, `stratify` is ignored and the split is a plain
    seeded random one (there are no classes to balance); this is not an error.

    Args:
        fraction: Share of the samples used for validation, in (0, 1).
        stratify: Keep class proportions (classification only).
        seed: Seed of the split; None draws fresh entropy (not reproducible).

    >>> import numpy as np
    >>> y = np.array([0] * 8 + [1] * 2)
    >>> [(train, val)] = Holdout(fraction=0.5, seed=0).splits(y, "classification")
    >>> len(train), len(val), int(y[val].sum())
    (5, 5, 1)
    """

    fraction: float = 0.2
    stratify: bool = True
    seed: int | None = 0

    def __post_init__(self) -> None:
        number(self.fraction, what="fraction", owner="Holdout", low=0, high=1, low_open=True, high_open=True)
        _check_common("Holdout", self.stratify, self.seed)

    @property
    def n_splits(self) -> int:
        """How many (train, validation) pairs `splits` returns: always 1."""
        return 1

    def splits(self, y: npt.ArrayLike, task: Task) -> list[Split]:
        """The single (train_idx, val_idx) pair, each sorted, disjoint, covering `range(len(y))`."""
        labels = _labels(y, task, self.stratify, "Holdout")
        n = len(labels) if labels is not None else _length(y)
        n_val = math.floor(self.fraction * n + 0.5)
        if not 0 < n_val < n:
            raise ConfigError(f"validation size of Holdout(fraction={self.fraction!r}) must be between 1 "
                              f"and n - 1 for n={n} samples. Got {n_val}. Use more data or another "
                              "fraction.")
        rng = np.random.default_rng(self.seed)
        if labels is None:
            val = rng.permutation(n)[:n_val]
        else:
            val = _stratified_holdout(labels, self.fraction, n_val, rng)
        mask = np.zeros(n, dtype=bool)
        mask[val] = True
        return [(np.flatnonzero(~mask).astype(np.int64), np.flatnonzero(mask).astype(np.int64))]

    def to_dict(self) -> dict[str, Any]:
        """The YAML form, read back by `protocol_from_dict`."""
        return {"holdout": {"fraction": self.fraction, "stratify": self.stratify, "seed": self.seed}}


@dataclass(frozen=True)
class KFold:
    """K-fold cross-validation: k (train, validation) pairs whose validation folds partition the data.

    Stratified folds (classification, `stratify=True`) deal each class's samples round-robin to
    the folds, so every fold holds `floor` or `ceil` of `class_size / k` of each class and fold
    sizes differ by at most one. For regression, `stratify` is ignored and the folds are plain
    (shuffled, if `shuffle`) contiguous blocks; this is not an error.

    Args:
        k: Number of folds, >= 2; with stratification at most the size of the smallest class.
        stratify: Keep class proportions in every fold (classification only).
        seed: Seed of the shuffle; None draws fresh entropy. Unused when `shuffle=False`.
        shuffle: Shuffle before dealing; False keeps the data order (for time-ordered data).

    >>> import numpy as np
    >>> folds = KFold(k=3, seed=0).splits(np.array([0, 1] * 6), "classification")
    >>> [len(val) for _, val in folds]
    [4, 4, 4]
    """

    k: int = 5
    stratify: bool = True
    seed: int | None = 0
    shuffle: bool = True

    def __post_init__(self) -> None:
        integer(self.k, what="k", owner="KFold", low=2)
        if not isinstance(self.shuffle, bool):
            raise ConfigError(f"shuffle of KFold must be True or False. Got {self.shuffle!r}.")
        _check_common("KFold", self.stratify, self.seed)

    @property
    def n_splits(self) -> int:
        """How many (train, validation) pairs `splits` returns: k."""
        return self.k

    def splits(self, y: npt.ArrayLike, task: Task) -> list[Split]:
        """The k (train_idx, val_idx) pairs, each sorted; the validation folds partition the data."""
        labels = _labels(y, task, self.stratify, "KFold")
        n = len(labels) if labels is not None else _length(y)
        if self.k > n:
            raise ConfigError(f"k of KFold must be <= the number of samples ({n}). Got {self.k}.")
        rng = np.random.default_rng(self.seed)
        fold = np.empty(n, dtype=np.int64)
        if labels is None:
            order = rng.permutation(n) if self.shuffle else np.arange(n)
            for i, block in enumerate(np.array_split(order, self.k)):
                fold[block] = i
        else:
            classes, counts = np.unique(labels, return_counts=True)
            smallest = int(np.argmin(counts))
            if counts[smallest] < self.k:
                raise ConfigError(
                    f"k of KFold must be <= the size of the smallest class when stratify=True "
                    f"(class {classes[smallest].item()!r} has {counts[smallest]} samples). Got {self.k}. "
                    "Use a smaller k, or stratify=False.")
            # Classes one after another, each shuffled; dealing position i to fold i % k gives each
            # fold floor/ceil of every class and of the total.
            order = np.concatenate([_members(labels, c, rng, self.shuffle) for c in classes])
            fold[order] = np.arange(n) % self.k
        return [(np.flatnonzero(fold != i), np.flatnonzero(fold == i)) for i in range(self.k)]

    def to_dict(self) -> dict[str, Any]:
        """The YAML form, read back by `protocol_from_dict`."""
        return {"kfold": {"k": self.k, "stratify": self.stratify, "seed": self.seed,
                          "shuffle": self.shuffle}}


ValidationProtocol: TypeAlias = Holdout | KFold
_KINDS: dict[str, type[Holdout] | type[KFold]] = {"holdout": Holdout, "kfold": KFold}


def protocol_from_dict(spec: str | Mapping[str, Any] | ValidationProtocol) -> ValidationProtocol:
    """Read a validation protocol from its YAML form.

    Accepts `"holdout"` or `"kfold"` (defaults), `{"holdout": {"fraction": 0.2}}`,
    `{"kfold": {"k": 5, "seed": 1}}`, or a Holdout/KFold (returned as is).

    Raises:
        ConfigError: an unknown kind, more than one kind, or an unknown or invalid option.

    >>> protocol_from_dict({"kfold": {"k": 3}})
    KFold(k=3, stratify=True, seed=0, shuffle=True)
    >>> protocol_from_dict("holdout")
    Holdout(fraction=0.2, stratify=True, seed=0)
    """
    if isinstance(spec, (Holdout, KFold)):
        return spec
    if isinstance(spec, str):
        spec = {spec: {}}
    if not isinstance(spec, Mapping) or len(spec) != 1:
        raise ConfigError(f"validation of the task must be 'holdout', 'kfold', or a mapping with one of "
                          f"them as its only key. Got {spec!r}.")
    [(kind, options)] = spec.items()
    if kind not in _KINDS:
        raise ConfigError(f"validation of the task must be one of {sorted(_KINDS)!r}. Got {kind!r}.")
    options = {} if options is None else options
    if not isinstance(options, Mapping):
        raise ConfigError(f"options of validation {kind!r} must be a mapping. Got {options!r}.")
    cls = _KINDS[kind]
    allowed = sorted(cls.__dataclass_fields__)
    unknown = sorted(set(options) - set(allowed))
    if unknown:
        raise ConfigError(f"options of validation {kind!r} must be among {allowed!r}. Got {unknown!r}.")
    return cls(**options)


def _check_common(owner: str, stratify: object, seed: object) -> None:
    if not isinstance(stratify, bool):
        raise ConfigError(f"stratify of {owner} must be True or False. Got {stratify!r}.")
    check_seed(seed, owner=owner)


def _length(y: npt.ArrayLike) -> int:
    return len(np.asarray(y))


def _labels(y: npt.ArrayLike, task: str, stratify: bool, owner: str) -> npt.NDArray[Any] | None:
    """The class labels to stratify on, or None for a plain split."""
    if task not in TASKS:
        raise ConfigError(f"task of {owner}.splits must be one of {list(TASKS)!r}. Got {task!r}.")
    if not stratify or task == "regression":
        return None
    labels = np.asarray(y)
    if labels.ndim != 1:
        raise ConfigError(f"labels of {owner}.splits must be one-dimensional for a stratified split. "
                          f"Got shape {labels.shape!r}.")
    return labels


def _members(labels: npt.NDArray[Any], label: Any, rng: np.random.Generator,
             shuffle: bool) -> npt.NDArray[np.int64]:
    members = np.flatnonzero(labels == label)
    return rng.permutation(members) if shuffle else members


def _stratified_holdout(labels: npt.NDArray[Any], fraction: float, n_val: int,
                        rng: np.random.Generator) -> npt.NDArray[np.int64]:
    classes, counts = np.unique(labels, return_counts=True)
    exact = fraction * counts
    take = np.floor(exact).astype(np.int64)
    # Largest remainders get the leftover places; a random key breaks ties so no class is favoured.
    extra = n_val - int(take.sum())
    by_remainder = np.lexsort((rng.random(len(classes)), -(exact - take)))
    take[by_remainder[:extra]] += 1
    return np.concatenate([_members(labels, c, rng, True)[:t] for c, t in zip(classes, take, strict=True)])
