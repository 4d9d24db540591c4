"""QMCSampler: scipy's scrambled sequences, indexed by position, shared by every worker."""

from __future__ import annotations

import pickle
import re
import time

import numpy as np
import pytest
from scipy.stats import qmc

from shoal.exceptions import ConfigError
from shoal.samplers import History, QMCSampler, Sampler, sampler_rng
from shoal.samplers._qmc import qmc_point
from shoal.space import Categorical, Float, Int, Space
from shoal.testing import SamplerSuite
from shoal.trial import FrozenTrial, TrialState


class TestQMCSamplerSuite(SamplerSuite):
    def make_sampler(self, seed: int | None) -> Sampler:
        return QMCSampler(seed=seed)


class TestHaltonSamplerSuite(SamplerSuite):
    def make_sampler(self, seed: int | None) -> Sampler:
        return QMCSampler(seed=seed, kind="halton")


UNIT = Space({"a": Float(0.0, 1.0), "b": Float(0.0, 1.0), "c": Float(0.0, 1.0)})


def _history(number: int) -> History:
    """Trial `number` with every earlier trial still running: its position is `number`."""
    return History([FrozenTrial(i, i, TrialState.RUNNING) for i in range(number + 1)], number)


def _points(sampler: QMCSampler, space: Space, numbers: range | list[int]) -> np.ndarray:
    return np.array([space.encode(sampler.suggest(space, _history(n), sampler_rng(None, n)))
                     for n in numbers])


@pytest.mark.parametrize(("kind", "engine"), [("sobol", qmc.Sobol), ("halton", qmc.Halton)])
def test_points_are_the_scipy_sequence(kind: str, engine: type) -> None:
    sampler = QMCSampler(seed=11, kind=kind)  # type: ignore[arg-type]
    expected = engine(3, scramble=True, rng=np.random.default_rng(11)).random(16)
    np.testing.assert_allclose(_points(sampler, UNIT, range(16)), expected, rtol=0, atol=1e-12)


def test_far_positions_fast_forward() -> None:
    expected = qmc.Sobol(3, scramble=True, rng=np.random.default_rng(4)).random(1024)
    sampler = QMCSampler(seed=4)
    start = time.perf_counter()
    got = _points(sampler, UNIT, [1000, 1023, 513])
    assert time.perf_counter() - start < 1.0
    np.testing.assert_allclose(got, expected[[1000, 1023, 513]], rtol=0, atol=1e-12)
    np.testing.assert_array_equal(qmc_point("sobol", 3, 1000, seed=4), expected[1000])


def test_scales_are_respected() -> None:
    space = Space({"lr": Float(1e-5, 1.0, scale="log"),
                   "momentum": Float(0.9, 0.999, scale="one_minus_log")})
    sampler = QMCSampler(seed=2)
    expected = qmc.Sobol(2, scramble=True, rng=np.random.default_rng(2)).random(8)
    np.testing.assert_allclose(_points(sampler, space, range(8)), expected, atol=1e-9)


def test_lower_discrepancy_than_random() -> None:
    sobol = _points(QMCSampler(seed=0), UNIT, range(64))
    randoms = [qmc.discrepancy(np.random.default_rng(s).random((64, 3))) for s in range(20)]
    assert qmc.discrepancy(sobol) < min(randoms)
    halton = _points(QMCSampler(seed=0, kind="halton"), UNIT, range(64))
    assert qmc.discrepancy(halton) < float(np.median(randoms))


def test_two_workers_share_one_sequence() -> None:
    space = Space({"lr": Float(1e-4, 1.0, scale="log"), "act": Categorical(["relu", "tanh"]),
                   "units": Int(16, 512, log=True)})
    one, two = QMCSampler(seed=9), QMCSampler(seed=9)
    evens, odds = range(0, 32, 2), range(1, 32, 2)  # the workers take alternate trials
    merged = np.empty((32, 3))
    merged[0::2] = _points(one, space, evens)
    merged[1::2] = _points(two, space, odds)
    np.testing.assert_array_equal(merged, _points(QMCSampler(seed=9), space, range(32)))


def test_unseeded_sampler_draws_its_seed_once() -> None:
    sampler = QMCSampler()
    assert sampler.seed is None
    copy = pickle.loads(pickle.dumps(sampler))
    np.testing.assert_array_equal(_points(sampler, UNIT, range(4)), _points(copy, UNIT, range(4)))
    assert not np.array_equal(_points(sampler, UNIT, range(4)),
                              _points(QMCSampler(), UNIT, range(4)))


def test_unscrambled_sequence_starts_at_the_corner() -> None:
    points = _points(QMCSampler(seed=0, scramble=False), UNIT, range(2))
    np.testing.assert_array_equal(points, [[0.0, 0.0, 0.0], [0.5, 0.5, 0.5]])


def test_conditional_space_uses_one_dimension_per_parameter() -> None:
    space = Space({"opt": Categorical(["sgd", "adam"]),
                   "momentum": Float(0.0, 0.9, when={"opt": ["sgd"]})})
    sampler = QMCSampler(seed=1)
    expected = qmc.Sobol(2, scramble=True, rng=np.random.default_rng(1)).random(8)
    for n in range(8):
        params = sampler.suggest(space, _history(n), sampler_rng(None, n))
        space.validate(params)
        assert params["opt"] == ("sgd" if expected[n, 0] < 0.5 else "adam")


def test_empty_space() -> None:
    assert QMCSampler(seed=0).suggest(Space({}), _history(3), sampler_rng(0, 3)) == {}


def test_unknown_kind_is_rejected() -> None:
    with pytest.raises(ConfigError, match=re.escape(
            "kind of QMCSampler must be one of ['halton', 'sobol']. Got 'lhs'.")):
        QMCSampler(kind="lhs")  # type: ignore[arg-type]
