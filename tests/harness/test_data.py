"""Data containers, loaders, and the test-set lock (including inside a real study)."""

from __future__ import annotations

import logging
import pickle
import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch.utils.data import TensorDataset

import shoal
from shoal.clock import FakeClock
from shoal.exceptions import ConfigError, ShoalError
from shoal.samplers import RandomSampler
from shoal.torch._data import ArrayData, DataBundle, LockedTestSet, TestSetLocked
from shoal.torch._loaders import from_arrays, from_csv, from_torch_dataset, load_dataset
from shoal.torch._splits import Holdout, KFold
from shoal.trial import TrialState

LOCKED = "the test set is locked during tuning"


def toy(n: int = 6, name: str = "toy") -> ArrayData:
    return ArrayData(np.arange(2.0 * n).reshape(n, 2), np.arange(n) % 3, "classification", name=name)


# --- mnist1d: generated once per session into a temporary cache ---------------------------------
@dataclass
class Mnist1d:
    bundle: DataBundle
    cache: Path
    states_before: tuple[Any, Any]
    states_after: tuple[Any, Any]


@pytest.fixture(scope="session")
def generated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Mnist1d]:
    cache = tmp_path_factory.mktemp("shoal-cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("SHOAL_CACHE", str(cache))
        np.random.seed(1234)
        random.seed(1234)
        before = (np.random.get_state(), random.getstate())
        bundle = load_dataset("mnist1d")
        after = (np.random.get_state(), random.getstate())
        yield Mnist1d(bundle, cache, before, after)


def test_mnist1d_shapes_dtypes_and_classes(generated: Mnist1d) -> None:
    train, test = generated.bundle.train, generated.bundle.test
    assert test is not None
    assert (train.x.shape, train.y.shape, len(test)) == ((4000, 40), (4000,), 1000)
    assert (str(train.x.dtype), str(train.y.dtype), train.n_classes, train.task) == (
        "float32", "int64", 10, "classification")
    assert set(np.unique(train.y).tolist()) == set(range(10))
    with test.unlock(reason="shape check") as data:
        assert data.x.shape == (1000, 40)
        assert data.y.dtype == np.int64


def test_mnist1d_leaves_the_global_random_states_alone(generated: Mnist1d) -> None:
    (np_before, py_before), (np_after, py_after) = generated.states_before, generated.states_after
    assert py_before == py_after
    assert np_before[0] == np_after[0]
    assert np.array_equal(np_before[1], np_after[1])
    assert np_before[2:] == np_after[2:]


def test_mnist1d_second_load_reuses_the_cache(generated: Mnist1d, monkeypatch: pytest.MonkeyPatch) -> None:
    import mnist1d.data

    def no_generation(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("make_dataset ran although the cache exists")

    monkeypatch.setenv("SHOAL_CACHE", str(generated.cache))
    monkeypatch.setattr(mnist1d.data, "make_dataset", no_generation)
    again = load_dataset("mnist1d")
    assert np.array_equal(again.train.x, generated.bundle.train.x)
    assert [p.name for p in generated.cache.iterdir()] == ["mnist1d-default-v1.npz"]  # no temp files left


def test_a_damaged_cache_is_regenerated_and_global_seeds_restored(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import mnist1d.data

    def fake(args: Any) -> dict[str, np.ndarray]:  # like the real one: it reseeds the globals
        np.random.seed(args.seed)
        random.seed(args.seed)
        labels = np.arange(10)
        return {"x": np.ones((10, 40)), "y": labels, "x_test": np.zeros((10, 40)), "y_test": labels}

    monkeypatch.setenv("SHOAL_CACHE", str(tmp_path))
    monkeypatch.setattr(mnist1d.data, "make_dataset", fake)
    (tmp_path / "mnist1d-default-v1.npz").write_bytes(b"not a zip file")
    state = random.getstate()
    with caplog.at_level(logging.WARNING, logger="shoal"):
        bundle = load_dataset("mnist1d")
    assert "unreadable" in caplog.text
    assert random.getstate() == state
    assert len(bundle.train) == 10
    with np.load(tmp_path / "mnist1d-default-v1.npz") as stored:
        assert sorted(stored.files) == ["x", "x_test", "y", "y_test"]


# --- scikit-learn built-ins ---------------------------------------------------------------------
@pytest.mark.parametrize(("name", "n_train", "n_test", "features", "classes"), [
    ("digits", 1438, 359, 64, 10), ("breast_cancer", 455, 114, 30, 2), ("wine", 142, 36, 13, 3)])
def test_sklearn_builtins_have_stratified_80_20_splits(name: str, n_train: int, n_test: int,
                                                       features: int, classes: int) -> None:
    bundle = load_dataset(name, seed=3)
    assert bundle.test is not None
    assert (len(bundle.train), len(bundle.test), bundle.train.input_shape) == (n_train, n_test, (features,))
    assert bundle.train.n_classes == classes
    assert bundle.train.classes is not None
    with bundle.test.unlock(reason="check split") as test:
        counts = np.bincount(np.concatenate([bundle.train.y, test.y]))
        assert np.all(np.abs(np.bincount(test.y, minlength=classes) - 0.2 * counts) < 1)
        rows = np.concatenate([bundle.train.x, test.x])
    assert len(np.unique(rows, axis=0)) == len(np.unique(rows[:n_train], axis=0)) + len(
        np.unique(rows[n_train:], axis=0))  # no sample is in both splits


def test_builtin_splits_follow_the_seed() -> None:
    a, b, c = (load_dataset("wine", seed=s).train.x for s in (0, 0, 1))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_standardize_uses_training_statistics_only() -> None:
    raw, scaled = load_dataset("wine", seed=0), load_dataset("wine", seed=0, standardize=True)
    assert raw.test is not None
    assert scaled.test is not None
    mean, std = raw.train.x.mean(axis=0, dtype=np.float64), raw.train.x.std(axis=0, dtype=np.float64)
    np.testing.assert_allclose(scaled.train.x.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(scaled.train.x.std(axis=0), 1.0, atol=1e-5)
    with raw.test.unlock(reason="t") as raw_test, scaled.test.unlock(reason="t") as scaled_test:
        np.testing.assert_allclose(scaled_test.x, (raw_test.x - mean) / std, rtol=1e-5, atol=1e-5)
        everything = np.concatenate([raw.train.x, raw_test.x])
    assert not np.allclose(mean, everything.mean(axis=0))  # all-data statistics would differ
    assert scaled.test.test_reads == 1  # only our own unlock: scaling the test set is not a read


def test_unknown_dataset_lists_the_builtins() -> None:
    with pytest.raises(ConfigError, match=r"must be one of \['breast_cancer', 'digits', 'mnist1d', "
                                          r"'wine'\]\. Got 'cifar10'\."):
        load_dataset("cifar10")


# --- the test lock ------------------------------------------------------------------------------
def test_reading_the_locked_test_set_raises_until_unlocked() -> None:
    test = LockedTestSet(toy(), clock=FakeClock(start=5.0))
    assert len(test) == 6
    assert test.locked
    assert test.n_classes == 3
    assert test.input_shape == (2,)
    for read in (lambda: test.data, lambda: list(test), lambda: next(iter(test))):
        with pytest.raises(TestSetLocked, match=LOCKED):
            read()
    assert isinstance(TestSetLocked("x"), ShoalError)
    assert test.test_reads == 0
    with test.unlock(reason="final evaluation") as data:
        assert data is test.data
        assert not test.locked
        assert len(list(test)) == 6
    assert test.locked
    assert test.test_reads == 1
    assert [(a.number, a.reason, a.time) for a in test.accesses] == [(1, "final evaluation", 5.0)]
    with pytest.raises(RuntimeError, match="boom"), test.unlock(reason="again"):
        raise RuntimeError("boom")
    assert test.locked
    assert test.test_reads == 2
    assert "locked" in repr(test)
    assert "test_reads=2" in repr(test)


def test_unlock_needs_a_reason_and_can_record_into_the_study() -> None:
    test = LockedTestSet(toy())
    with pytest.raises(ConfigError, match=r"reason of LockedTestSet\.unlock must be a non-empty string"), \
            test.unlock(reason=" "):
        pass
    study = shoal.create_study()
    for _ in range(2):
        with test.unlock(reason="final evaluation", study=study):
            pass
    recorded = study.user_attrs["test_accesses"]
    assert [(r["number"], r["reason"], r["dataset"]) for r in recorded] == [
        (1, "final evaluation", "toy"), (2, "final evaluation", "toy")]


def test_a_pickled_copy_starts_locked() -> None:
    test = LockedTestSet(toy())
    with test.unlock(reason="inside"):
        copy = pickle.loads(pickle.dumps(test))
    assert copy.locked
    assert copy.test_reads == 1
    with pytest.raises(TestSetLocked):
        _ = copy.data


def test_a_study_objective_that_reads_the_test_set_fails_its_trial() -> None:
    bundle = load_dataset("wine", seed=0, standardize=True)
    assert bundle.test is not None
    study = shoal.create_study(direction="maximize", sampler=RandomSampler(seed=0))

    def honest(trial: shoal.Trial) -> float:  # validation comes from bundle.train only
        fraction = trial.suggest_float("fraction", 0.1, 0.5)
        [(train, val)] = bundle.train.split(Holdout(fraction=fraction, seed=trial.number))
        centroids = np.stack([train.x[train.y == c].mean(axis=0) for c in range(3)])
        predicted = np.argmin(((val.x[:, None, :] - centroids) ** 2).sum(axis=2), axis=1)
        return float(np.mean(predicted == val.y))

    def peeking(trial: shoal.Trial) -> float:
        trial.suggest_float("fraction", 0.1, 0.5)
        assert bundle.test is not None
        return float(bundle.test.data.y.mean())

    study.optimize(honest, n_trials=3)
    # TestSetLocked is a ShoalError, not a TrialOutcome: the trial ends FAILED and the run stops,
    # since every further trial of that objective would peek too.
    with pytest.raises(TestSetLocked, match=LOCKED):
        study.optimize(peeking, n_trials=3)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE] * 3 + [TrialState.FAILED]
    reason = study.trials[-1].failure_reason
    assert reason is not None
    assert reason.startswith(f"TestSetLocked: {LOCKED}")
    assert "shoal.torch.evaluate(study, test=True)" in reason
    study.optimize(honest, n_trials=1)  # the study itself goes on
    assert study.trials[-1].state is TrialState.COMPLETE
    assert study.best_value > 0.5
    assert bundle.test.test_reads == 0


# --- containers ---------------------------------------------------------------------------------
def test_array_data_converts_and_validates() -> None:
    data = ArrayData(np.ones((3, 2), dtype=np.float64), [1.0, 2.0, 3.0], "regression")
    assert (str(data.x.dtype), str(data.y.dtype), data.n_outputs) == ("float32", "float32", 1)
    assert ArrayData(np.ones((3, 1)), np.ones((3, 2)), "regression").n_outputs == 2
    assert toy().n_outputs == 3
    assert ArrayData(np.ones((2, 1)), [0, 1], "classification", 5).n_classes == 5
    bad: list[tuple[dict[str, Any], str]] = [
        ({"x": np.ones(3), "y": [0, 1, 0]}, "x of ArrayData 'data' must have shape"),
        ({"x": np.ones((3, 2)), "y": [0, 1]}, r"one target per row of x \(3\)\. Got 2\."),
        ({"x": [[np.nan], [1.0]], "y": [0, 1]}, r"must be finite\. Got NaN or infinity at row 0"),
        ({"x": np.ones((2, 1)), "y": [0, 3], "n_classes": 3}, r"labels in \[0, 3\)"),
        ({"x": np.ones((2, 1)), "y": [0.5, 1.0]}, "integer class labels"),
        ({"x": np.ones((2, 1)), "y": [0, 0]}, "n_classes of ArrayData 'data' must be an integer >= 2"),
        ({"x": np.ones((2, 1)), "y": ["a", "b"]}, "y of ArrayData 'data' must be a numeric array"),
        ({"x": np.ones((2, 1)), "y": [0.0, 1.0], "task": "regression", "n_classes": 2}, "must be None"),
        ({"x": np.ones((2, 1)), "y": [0, 1], "task": "ranking"}, "task of ArrayData 'data' must be one of"),
    ]
    for kwargs, message in bad:
        with pytest.raises(ConfigError, match=message):
            ArrayData(**{"task": "classification", **kwargs})


def test_subset_split_and_tensors() -> None:
    data = toy(9)
    part = data.subset(np.array([True, False] * 4 + [True]))
    assert len(part) == 5
    assert part.n_classes == 3
    assert part.y.tolist() == [0, 2, 1, 0, 2]
    folds = data.split(KFold(k=3))
    assert [len(v) for _, v in folds] == [3, 3, 3]
    x, y = data.to_tensors()
    assert (x.dtype, y.dtype, tuple(x.shape)) == (torch.float32, torch.int64, (9, 2))
    assert np.shares_memory(x.numpy(), data.x)  # no copy on the CPU
    frozen = np.ones((2, 1), dtype=np.float32)
    frozen.flags.writeable = False
    assert ArrayData(frozen, [0, 1], "classification").to_tensors()[0].sum().item() == 2.0
    with pytest.raises(ConfigError, match=r"indices of ArrayData\.subset must be integers"):
        data.subset([0.5])


def test_bundle_requires_matching_test_data() -> None:
    other = ArrayData(np.ones((4, 3)), [0, 1, 2, 0], "classification")
    with pytest.raises(ConfigError, match=r"must match its training data in \(task, n_classes"):
        DataBundle(toy(), LockedTestSet(other))
    assert DataBundle(toy()).standardized().test is None


# --- user data ----------------------------------------------------------------------------------
def test_from_arrays_infers_the_task_and_encodes_labels() -> None:
    x = np.random.default_rng(0).normal(size=(20, 3))
    assert from_arrays(x, np.arange(20) % 2).train.classes is None
    assert from_arrays(x, np.arange(20) % 2 == 0).train.classes == (False, True)
    assert from_arrays(x, np.linspace(0, 1, 20)).task == "regression"
    coded = from_arrays(x, np.array([1, 2, 5, 5] * 5), test=(x[:3], np.array([5, 1, 2])))
    assert coded.train.classes == (1, 2, 5)
    assert coded.train.y[:4].tolist() == [0, 1, 2, 2]
    assert coded.test is not None
    with coded.test.unlock(reason="t") as test:
        assert test.y.tolist() == [2, 0, 1]
        assert test.classes == (1, 2, 5)
    floats = from_arrays(x, (np.arange(20) % 2).astype(float), task="classification")
    assert floats.task == "classification"
    assert floats.train.n_classes == 2
    held = from_arrays(x, np.array(["a"] * 10 + ["b"] * 10), test=0.3, seed=1)
    assert held.test is not None
    assert (len(held.train), len(held.test)) == (14, 6)
    assert np.bincount(held.train.y).tolist() == [7, 7]
    for test_arg in (1.5, "0.2", (x,)):
        with pytest.raises(ConfigError, match=r"test of from_arrays must be (None, a|a finite number in)"):
            from_arrays(x, np.arange(20) % 2, test=test_arg)  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="at least 2 classes"):
        from_arrays(x, np.zeros(20, dtype=int))


def test_from_csv_round_trip_and_errors(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    x, labels = rng.normal(size=(30, 2)).round(4), np.array(["yes", "no", "maybe"] * 10)
    path = tmp_path / "plants.csv"
    lines = ["height,width,kind"] + [f"{a},{b},{c}" for (a, b), c in zip(x, labels, strict=True)]
    path.write_text("\n".join(lines) + "\n\n")
    whole = from_csv(path, target="kind", test_fraction=None)
    assert whole.name == "plants"
    assert whole.test is None
    assert whole.task == "classification"
    np.testing.assert_allclose(whole.train.x, x, rtol=1e-6)
    assert whole.train.classes is not None
    assert [whole.train.classes[i] for i in whole.train.y] == labels.tolist()
    split = from_csv(path, target="kind", seed=0)
    assert split.test is not None
    assert (len(split.train), len(split.test)) == (24, 6)
    regression = tmp_path / "r.csv"
    regression.write_text("a,y\n1,0.5\n2,1.5\n3,2.5\n")
    assert from_csv(regression, target="y", test_fraction=None).task == "regression"
    with pytest.raises(ConfigError, match=r"target of from_csv must be one of the columns "
                                          r"\['height', 'width', 'kind'\] .*Got 'species'\."):
        from_csv(path, target="species")
    ragged = tmp_path / "ragged.csv"
    ragged.write_text("a,b\n1,2\n3\n")
    with pytest.raises(ConfigError, match=r"row 3 of .* must have 2 cells like the header\. Got 1\."):
        from_csv(ragged, target="b")
    text = tmp_path / "text.csv"
    text.write_text("a,b\nx,1\n")
    with pytest.raises(ConfigError, match=r"feature 'a' of .* must be numeric .*Got 'x' in row 2\."):
        from_csv(text, target="b")
    with pytest.raises(ConfigError, match="must be numeric for regression"):
        from_csv(path, target="kind", task="regression")


def test_from_torch_dataset_materialises_pairs() -> None:
    x = torch.randn(12, 2, 3)
    train = TensorDataset(x, torch.arange(12) % 4)
    bundle = from_torch_dataset(train, TensorDataset(x[:4], torch.arange(4)))
    assert bundle.task == "classification"
    assert bundle.train.n_classes == 4
    assert bundle.train.input_shape == (2, 3)
    assert bundle.train.x.dtype == np.float32
    np.testing.assert_array_equal(bundle.train.x, x.numpy())
    assert bundle.test is not None
    assert len(bundle.test) == 4
    regression = from_torch_dataset(TensorDataset(x, torch.randn(12)))
    assert regression.task == "regression"
    assert regression.test is None
    with pytest.raises(ConfigError, match="must yield \\(features, label\\) pairs"):
        from_torch_dataset(TensorDataset(x))
