"""Holdout and KFold: disjoint, covering, stratified within one sample, seeded; and their errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.exceptions import ConfigError
from shoal.torch._splits import Holdout, KFold, protocol_from_dict

FAST = settings(max_examples=60, deadline=None)


@st.composite
def labelled(draw: st.DrawFn, min_per_class: int = 1) -> np.ndarray:
    """Labels with 1 to 6 classes of min_per_class to 30 members each, in a shuffled order."""
    sizes = draw(st.lists(st.integers(min_per_class, 30), min_size=1, max_size=6))
    labels = np.repeat(np.arange(len(sizes)), sizes)
    return np.random.default_rng(draw(st.integers(0, 2**16))).permutation(labels)


@FAST
@given(y=labelled(min_per_class=2), data=st.data(), stratify=st.booleans())
def test_kfold_folds_are_disjoint_cover_the_data_and_keep_class_ratios(
        y: np.ndarray, data: st.DataObject, stratify: bool) -> None:
    k = data.draw(st.integers(2, int(np.bincount(y).min()) if stratify else len(y)))
    folds = KFold(k=k, stratify=stratify, seed=data.draw(st.integers(0, 100))).splits(y, "classification")
    assert len(folds) == k
    validation = np.concatenate([val for _, val in folds])
    assert sorted(validation.tolist()) == list(range(len(y)))  # disjoint and covering
    for train, val in folds:
        assert np.intersect1d(train, val).size == 0
        assert len(train) + len(val) == len(y)
        assert abs(len(val) - len(y) / k) < 1  # fold sizes floor/ceil of n/k
        if stratify:
            for c, count in enumerate(np.bincount(y)):
                assert abs(np.sum(y[val] == c) - count / k) < 1


@FAST
@given(y=labelled(), fraction=st.floats(0.05, 0.95), seed=st.integers(0, 100))
def test_stratified_holdout_keeps_each_class_within_one_sample(y: np.ndarray, fraction: float,
                                                               seed: int) -> None:
    n = len(y)
    n_val = math.floor(fraction * n + 0.5)
    if not 0 < n_val < n:
        with pytest.raises(ConfigError, match="validation size of Holdout"):
            Holdout(fraction=fraction, seed=seed).splits(y, "classification")
        return
    [(train, val)] = Holdout(fraction=fraction, seed=seed).splits(y, "classification")
    assert abs(len(val) - round(fraction * n)) <= len(np.unique(y))
    assert sorted(np.concatenate([train, val]).tolist()) == list(range(n))
    for c, count in enumerate(np.bincount(y)):
        assert abs(np.sum(y[val] == c) - fraction * count) < 1


@FAST
@given(n=st.integers(2, 200), fraction=st.floats(0.05, 0.95), seed=st.integers(0, 100))
def test_regression_holdout_is_a_plain_split_of_the_right_size(n: int, fraction: float, seed: int) -> None:
    y = np.linspace(0.0, 1.0, n)
    n_val = math.floor(fraction * n + 0.5)
    if not 0 < n_val < n:
        return
    [(train, val)] = Holdout(fraction=fraction, stratify=True, seed=seed).splits(y, "regression")
    assert len(val) == n_val
    assert np.intersect1d(train, val).size == 0
    assert len(train) + len(val) == n


def test_regression_kfold_with_stratify_falls_back_to_plain_folds() -> None:
    y = np.random.default_rng(0).normal(size=23)
    folds = KFold(k=4).splits(y, "regression")
    assert [len(v) for _, v in folds] == [6, 6, 6, 5]
    assert sorted(np.concatenate([v for _, v in folds]).tolist()) == list(range(23))


def test_splits_are_reproducible_by_seed_and_differ_between_seeds() -> None:
    y = np.repeat(np.arange(3), 40)

    def folds(seed: int) -> list[list[int]]:
        return [val.tolist() for _, val in KFold(k=4, seed=seed).splits(y, "classification")]

    def holdout(seed: int) -> list[int]:
        return list(Holdout(seed=seed).splits(y, "classification")[0][1].tolist())

    assert folds(1) == folds(1)
    assert holdout(1) == holdout(1)
    assert folds(1) != folds(2)
    assert holdout(1) != holdout(2)


def test_kfold_without_shuffle_ignores_the_seed() -> None:
    y = np.repeat([0, 1], 10)
    first = KFold(k=5, seed=0, shuffle=False).splits(y, "classification")
    second = KFold(k=5, seed=9, shuffle=False).splits(y, "classification")
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(first, second, strict=True))
    plain = KFold(k=4, stratify=False, shuffle=False).splits(np.arange(8.0), "regression")
    assert [v.tolist() for _, v in plain] == [[0, 1], [2, 3], [4, 5], [6, 7]]


@pytest.mark.parametrize("fraction", [0, 0.0, 1.0, 1.5, -0.2, True, "0.2", float("nan")])
def test_holdout_rejects_fractions_outside_zero_one(fraction: object) -> None:
    with pytest.raises(ConfigError, match=r"fraction of Holdout must be a finite number in \(0, 1\). Got "):
        Holdout(fraction=fraction)  # type: ignore[arg-type]


@pytest.mark.parametrize("k", [1, 0, -3, 2.5, True])
def test_kfold_rejects_k_below_two(k: object) -> None:
    with pytest.raises(ConfigError, match=r"k of KFold must be an integer >= 2\. Got"):
        KFold(k=k)  # type: ignore[arg-type]


def test_kfold_names_the_class_that_is_too_small() -> None:
    y = np.array([0] * 10 + [1] * 10 + [2] * 3)
    with pytest.raises(ConfigError, match=r"smallest class .*\(class 2 has 3 samples\)\. Got 4\."):
        KFold(k=4).splits(y, "classification")
    assert len(KFold(k=4, stratify=False).splits(y, "classification")) == 4  # unstratified is fine
    with pytest.raises(ConfigError, match=r"k of KFold must be <= the number of samples \(3\)\. Got 4\."):
        KFold(k=4, stratify=False).splits(np.arange(3), "classification")


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ConfigError, match="seed of KFold must be an integer >= 0 or None"):
        KFold(seed=-1)
    with pytest.raises(ConfigError, match="stratify of Holdout must be True or False"):
        Holdout(stratify="yes")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match=r"task of Holdout.splits must be one of"):
        Holdout().splits(np.arange(10), "ranking")  # type: ignore[arg-type]


def test_protocol_from_dict_reads_every_yaml_form_and_round_trips() -> None:
    assert protocol_from_dict("holdout") == Holdout()
    assert protocol_from_dict("kfold") == KFold()
    assert protocol_from_dict({"holdout": {"fraction": 0.3}}) == Holdout(fraction=0.3)
    assert protocol_from_dict({"kfold": {"k": 3, "shuffle": False}}) == KFold(k=3, shuffle=False)
    assert protocol_from_dict({"kfold": None}) == KFold()
    for protocol in (Holdout(fraction=0.25, seed=3), KFold(k=7, stratify=False, seed=None)):
        assert protocol_from_dict(protocol.to_dict()) == protocol
        assert protocol_from_dict(protocol) is protocol


@pytest.mark.parametrize(("spec", "message"), [
    ("crossval", r"must be one of \['holdout', 'kfold'\]\. Got 'crossval'\."),
    ({"holdout": {}, "kfold": {}}, "mapping with one of them as its only key"),
    ({"kfold": {"folds": 3}}, r"options of validation 'kfold' must be among .*Got \['folds'\]\."),
    ({"kfold": [3]}, "options of validation 'kfold' must be a mapping"),
    ({"holdout": {"fraction": 2}}, "fraction of Holdout must be"),
    (5, "validation of the task must be 'holdout', 'kfold'"),
])
def test_protocol_from_dict_errors(spec: object, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        protocol_from_dict(spec)  # type: ignore[arg-type]
