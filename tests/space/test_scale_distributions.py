"""Uniform in the unit cube gives the distribution each scale promises (seeded KS and chi² tests)."""

from __future__ import annotations

import itertools
import math

import numpy as np
from scipy import stats

from shoal.space import Float, Int, Space

N = 2000
ALPHA = 0.001


def _draw(param: Float | Int, seed: int) -> np.ndarray:
    space = Space({"p": param})
    rng = np.random.default_rng(seed)
    return np.array([space.sample(rng)["p"] for _ in range(N)], dtype=float)


def test_linear_float_is_uniform() -> None:
    x = _draw(Float(-2.0, 3.0), 0)
    assert stats.kstest(x, "uniform", args=(-2.0, 5.0)).pvalue > ALPHA


def test_log_float_is_log_uniform() -> None:
    x = _draw(Float(1e-5, 1.0, scale="log"), 1)
    low, high = math.log(1e-5), math.log(1.0)
    assert stats.kstest(np.log(x), "uniform", args=(low, high - low)).pvalue > ALPHA
    # and not uniform: a linear draw would put ~90% of the points above 0.1
    assert np.mean(x > 0.1) < 0.3


def test_one_minus_log_float_is_log_uniform_in_one_minus_x() -> None:
    x = _draw(Float(0.9, 0.999, scale="one_minus_log"), 2)
    low, high = math.log(1 - 0.999), math.log(1 - 0.9)
    assert stats.kstest(np.log1p(-x), "uniform", args=(low, high - low)).pvalue > ALPHA
    assert abs(float(np.median(x)) - 0.99) < 0.002


def test_log_int_is_about_log_uniform() -> None:
    x = _draw(Int(1, 1000, log=True), 3)
    # Each value v stands for [v - 0.5, v + 0.5] of a log-uniform on [0.5, 1000.5].
    edges = [1, 2, 4, 10, 30, 100, 300, 1001]
    total = math.log(1000.5) - math.log(0.5)
    expected = np.array([(math.log(b - 0.5) - math.log(a - 0.5)) / total
                         for a, b in itertools.pairwise(edges)]) * N
    observed = np.histogram(x, bins=edges)[0]
    assert observed.sum() == N
    assert stats.chisquare(observed, expected).pvalue > ALPHA


def test_power_of_two_gives_each_power_equally_often() -> None:
    x = _draw(Int(1, 1024, power_of_two=True), 4)
    powers = [2**k for k in range(11)]
    assert set(x.astype(int)) <= set(powers)
    observed = np.array([np.sum(x == p) for p in powers])
    assert stats.chisquare(observed).pvalue > ALPHA


def test_step_int_gives_each_value_equally_often() -> None:
    x = _draw(Int(0, 20, step=4), 5)
    observed = np.array([np.sum(x == v) for v in range(0, 21, 4)])
    assert observed.sum() == N
    assert stats.chisquare(observed).pvalue > ALPHA
