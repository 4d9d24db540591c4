"""The GP sampler's maths, each piece against a hand formula, finite differences or brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import ndtr
from scipy.stats import multivariate_normal

from shoal.samplers._gp._acquisition import log_ei, log_ei_grad, log_h, log_h_grad
from shoal.samplers._gp._fit import (
    GP,
    Hyper,
    _ls_log_prior,
    fit_hyper,
    neg_log_posterior,
    unpack,
    warp_scores,
)
from shoal.samplers._gp._kernel import kernel, matern52, matern52_dr2, pairwise_sq_diffs
from shoal.samplers._gp._layout import Layout as _Layout
from shoal.samplers._gp._optimize import refine
from shoal.samplers._gp.sampler import _trust_length
from shoal.space import Categorical, Fixed, Float, Int, Space

RNG = np.random.default_rng(20231)


def _data(n: int = 25, d: int = 3) -> tuple[np.ndarray, np.ndarray]:
    x = RNG.random((n, d))
    y = np.sin(4 * x[:, 0]) + x[:, 1] ** 2 - 0.3 * x[:, 2]
    return x, (y - y.mean()) / y.std()


def _central(f: object, x: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    g = np.empty_like(x)
    for i in range(len(x)):
        e = np.zeros_like(x)
        e[i] = eps
        g[i] = (f(x + e) - f(x - e)) / (2 * eps)  # type: ignore[operator]
    return g


# Kernel -------------------------------------------------------------------------------------------
def test_matern52_matches_the_textbook_formula() -> None:
    x1, x2 = RNG.random((4, 3)), RNG.random((5, 3))
    ls, scale = np.array([0.3, 1.0, 2.5]), 1.7
    got = kernel(x1, x2, 1.0 / ls**2, scale)
    for i in range(4):
        for j in range(5):
            r = math.sqrt(sum(((x1[i, k] - x2[j, k]) / ls[k]) ** 2 for k in range(3)))
            hand = scale * (1 + math.sqrt(5) * r + 5 * r * r / 3) * math.exp(-math.sqrt(5) * r)
            assert got[i, j] == pytest.approx(hand, rel=1e-12)


def test_matern52_derivative_in_r2() -> None:
    r2 = np.array([1e-3, 0.1, 0.7, 3.0, 20.0])
    fd = (matern52(r2 + 1e-7) - matern52(r2 - 1e-7)) / 2e-7
    np.testing.assert_allclose(matern52_dr2(r2), fd, rtol=1e-6)
    assert matern52_dr2(np.array(0.0)) == pytest.approx(-5 / 6)


# Marginal likelihood ------------------------------------------------------------------------------
def test_neg_log_posterior_is_the_gaussian_likelihood_plus_priors() -> None:
    x, y = _data()
    theta = np.array([0.5, -0.3, 1.2, 0.2, math.log(0.01)])
    h = unpack(theta)
    cov = kernel(x, x, h.inv_ls2, h.scale) + h.noise * np.eye(len(x))
    prior = (_ls_log_prior(theta[:3])[0] - math.log(h.scale) + h.scale
             - 0.1 * math.log(h.noise) + 30.0 * h.noise)
    expected = -multivariate_normal(np.zeros(len(x)), cov).logpdf(y) + prior
    got, _ = neg_log_posterior(theta, pairwise_sq_diffs(x, x), y)
    assert got == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_neg_log_posterior_gradient_matches_finite_differences(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x, y = _data()
    diffs = pairwise_sq_diffs(x, x)
    theta = np.concatenate([rng.normal(size=3), [rng.normal(scale=0.5), rng.uniform(-8, -1)]])
    _, grad = neg_log_posterior(theta, diffs, y)
    fd = _central(lambda t: neg_log_posterior(t, diffs, y)[0], theta)
    np.testing.assert_allclose(grad, fd, rtol=1e-5, atol=1e-6)


def test_fit_prefers_short_length_scales_on_relevant_inputs() -> None:
    x = RNG.random((40, 3))
    y = np.sin(6 * x[:, 0])  # only the first input matters
    h = fit_hyper(x, (y - y.mean()) / y.std())
    ls = h.length_scales
    assert ls[0] < ls[1]
    assert ls[0] < ls[2]


def test_tied_inputs_share_one_length_scale_and_the_kernel_is_unchanged() -> None:
    # Inputs 1-3 are one categorical's one-hot columns, tied with weight 1/2: one kernel dimension.
    rng = np.random.default_rng(4)
    choice = rng.integers(0, 3, 30)
    x = np.column_stack([rng.random(30), np.eye(3)[choice]])
    y = np.sin(5 * x[:, 0]) + np.array([0.0, 1.0, -1.0])[choice]
    tie = np.zeros((4, 2))
    tie[0, 0], tie[1:, 1] = 1.0, 0.5
    h = fit_hyper(x, (y - y.mean()) / y.std(), tie=tie)
    assert h.inv_ls2[1] == h.inv_ls2[2] == h.inv_ls2[3]
    assert h.inv_ls2.shape == (4,)
    # The tied dimension's squared distance between two different choices is 1 (Hamming), and
    # the per-input scales returned give the posterior the same kernel as the tied fit saw.
    assert (pairwise_sq_diffs(x, x) @ tie)[0, 1, 1] == (0.0 if choice[0] == choice[1] else 1.0)
    theta = np.concatenate([np.log([3.0, 2.0]), [0.1, -4.0]])
    tied, _ = neg_log_posterior(theta, pairwise_sq_diffs(x, x) @ tie, y)
    expanded = unpack(theta)
    cov = kernel(x, x, tie @ expanded.inv_ls2, expanded.scale) + expanded.noise * np.eye(30)
    prior = (_ls_log_prior(theta[:2])[0] - math.log(expanded.scale) + expanded.scale
             - 0.1 * math.log(expanded.noise) + 30.0 * expanded.noise)
    assert tied == pytest.approx(-multivariate_normal(np.zeros(30), cov).logpdf(y) + prior, rel=1e-9)


def test_layout_ties_each_choice_s_columns_and_leaves_numbers_alone() -> None:
    layout = _Layout(Space({"lr": Float(1e-4, 1.0, scale="log"), "act": Categorical(["relu", "tanh", "gelu"]),
                            "fixed": Fixed(3), "units": Int(8, 64), "bn": Categorical([False, True])}))
    assert layout.tie is not None
    assert layout.tie.shape == (layout.n_features, 4)  # four searched parameters, seven inputs
    np.testing.assert_array_equal(layout.tie.sum(axis=0), [1.0, 1.5, 1.0, 1.0])
    np.testing.assert_array_equal(layout.tie[layout.numeric_features].sum(axis=1), [1.0, 1.0])
    assert _Layout(Space({"a": Float(0, 1), "b": Int(1, 4)})).tie is None  # no choice: no tying


# Posterior ----------------------------------------------------------------------------------------
def test_posterior_matches_a_brute_force_solve() -> None:
    x, y = _data()
    h = Hyper(np.array([2.0, 0.5, 5.0]), 1.3, 1e-3)
    xq = RNG.random((7, 3))
    k = kernel(x, x, h.inv_ls2, h.scale) + h.noise * np.eye(len(x))
    kq = kernel(xq, x, h.inv_ls2, h.scale)
    mean = kq @ np.linalg.solve(k, y)
    var = h.scale - np.einsum("ij,ji->i", kq, np.linalg.solve(k, kq.T))
    gp = GP(x, y, h)
    got_mean, got_var = gp.posterior(xq)
    np.testing.assert_allclose(got_mean, mean, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(got_var, var, rtol=1e-7, atol=1e-10)
    mean2, var2, _, _ = gp.posterior_grad(xq)
    np.testing.assert_allclose(mean2, mean, rtol=1e-9, atol=1e-10)
    np.testing.assert_allclose(var2, var, rtol=1e-7, atol=1e-10)


def test_posterior_gradients_match_finite_differences() -> None:
    x, y = _data()
    gp = GP(x, y, Hyper(np.array([2.0, 0.5, 5.0]), 1.3, 1e-3))
    xq = RNG.random((1, 3))
    _, _, dmean, dvar = gp.posterior_grad(xq)
    np.testing.assert_allclose(dmean[0], _central(lambda v: gp.posterior(v[None])[0][0], xq[0]),
                               rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(dvar[0], _central(lambda v: gp.posterior(v[None])[1][0], xq[0]),
                               rtol=1e-5, atol=1e-7)


def test_fantasies_repel_from_running_points() -> None:
    x, y = _data()
    gp = GP(x, y, Hyper(np.array([2.0, 0.5, 5.0]), 1.3, 1e-4))
    xr = x[[int(np.argmin(y))]] + 0.01  # next to the best point: predicted to be very good
    before_mean, before_var = gp.posterior(xr)
    fantasised = gp.with_fantasies(xr)
    after_mean, after_var = fantasised.posterior(xr)
    assert fantasised.y[-1] == pytest.approx(np.mean(y))  # the lie: no better than average
    assert after_mean[0] > before_mean[0] + 0.5
    assert after_var[0] < before_var[0]


# Acquisition --------------------------------------------------------------------------------------
def test_log_h_matches_the_direct_formula_where_that_is_accurate() -> None:
    z = np.linspace(-5, 5, 201)
    direct = np.log(np.exp(-z * z / 2) / math.sqrt(2 * math.pi) + z * ndtr(z))
    np.testing.assert_allclose(log_h(z), direct, rtol=1e-9, atol=1e-12)


def test_log_h_is_finite_smooth_and_increasing_far_in_the_tail() -> None:
    z = -np.logspace(0, 12, 2000)[::-1]  # -1e12 ... -1
    values = log_h(z)
    assert np.all(np.isfinite(values))
    assert np.all(np.diff(values) > 0)
    # Direct EI has underflowed to exactly 0 here; the asymptote -z²/2 - log √(2π) - 2 log|z| holds.
    assert np.exp(-1e4 / 2) == 0.0
    assert log_h(np.array([-100.0]))[0] == pytest.approx(
        -5000 - 0.5 * math.log(2 * math.pi) - 2 * math.log(100), rel=1e-6)
    # No jump where the branches meet.
    for edge in (-1.0, -1.0 / math.sqrt(np.finfo(float).eps)):
        near = log_h(np.array([edge * (1 + 1e-9), edge * (1 - 1e-9)]))
        assert near[0] == pytest.approx(near[1], rel=1e-6)


def test_log_h_gradient() -> None:
    z = np.array([-1e4, -40.0, -3.0, -1.0, 0.0, 2.0, 30.0])
    step = 1e-6 * np.maximum(1.0, np.abs(z))
    fd = (log_h(z + step) - log_h(z - step)) / (2 * step)
    np.testing.assert_allclose(log_h_grad(z, log_h(z)), fd, rtol=1e-4)


def test_log_ei_equals_log_of_expected_improvement() -> None:
    mean, var, best = np.array([0.3, -0.2, 1.5]), np.array([0.5, 0.04, 2.0]), 0.1
    sd = np.sqrt(var)
    z = (best - mean) / sd
    ei = sd * (np.exp(-z * z / 2) / math.sqrt(2 * math.pi) + z * ndtr(z))
    np.testing.assert_allclose(np.exp(log_ei(mean, var, best)), ei, rtol=1e-10)


def test_log_ei_gradient_matches_finite_differences() -> None:
    x, y = _data()
    gp = GP(x, y, Hyper(np.array([2.0, 0.5, 5.0]), 1.3, 1e-3))
    best = float(y.min())
    xq = RNG.random((1, 3))
    _, grad = log_ei_grad(*gp.posterior_grad(xq), best)
    fd = _central(lambda v: log_ei(*gp.posterior(v[None]), best)[0], xq[0])
    np.testing.assert_allclose(grad[0], fd, rtol=1e-5, atol=1e-7)


# Warping ------------------------------------------------------------------------------------------
@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-1e12, 1e12, allow_nan=False), min_size=2, max_size=40),
       st.sampled_from(["copula", "yeo_johnson"]))
def test_warp_is_monotone(values: list[float], method: str) -> None:
    s = np.array(values)
    w = warp_scores(s, method)  # type: ignore[arg-type]
    assert np.all(np.isfinite(w))
    order = np.argsort(s, kind="stable")
    assert np.all(np.diff(w[order]) >= -1e-9)


def test_warp_tames_a_heavy_tail() -> None:
    w = warp_scores(np.array([0.1, 0.2, 0.3, 0.4, 1e12]), "yeo_johnson")
    assert w[3] - w[0] > 0.2 * (w[4] - w[3])  # the good points stay distinguishable


def test_warp_compresses_bad_scores_no_harder_than_log() -> None:
    # A smooth landscape's values spanning decades (a rotated ellipsoid's, say): with exponents
    # >= 0 the bad scores' gaps shrink at most as log1p shrinks them, and the good scores' gaps
    # grow at most as at exponent 0, so their ratio is at least the one at exponent 0.
    s = np.array([1.0, 2.0, 3.0, 5.0, 8.0, 30.0, 100.0, 400.0, 2e3, 9e3])
    w = warp_scores(s, "yeo_johnson")
    q1, med, q3 = np.percentile(s, [25, 50, 75])
    x = (s - med) / (q3 - q1)
    assert x.max() < 100  # no score is far enough out to be log-compressed first
    top, good = x[-3:], x[:3]
    at_zero = np.ptp(np.log1p(top)) / np.ptp(-((1 - good) ** 2 - 1) / 2)
    assert np.ptp(w[-3:]) / np.ptp(w[:3]) >= 0.999 * at_zero


# Acquisition optimiser ----------------------------------------------------------------------------
def test_refine_climbs_within_the_box_and_keeps_fixed_entries() -> None:
    target = np.array([0.3, 1.7, 0.6])

    def fun(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return -((x - target) ** 2).sum(1), -2 * (x - target)

    starts = np.array([[0.9, 0.1, 0.2], [0.0, 0.5, 0.9]])
    free = np.array([[True, True, False], [True, True, True]])
    out = refine(fun, starts, np.zeros(3), np.ones(3), free, np.array([0.1, 1.0, 3.0]))
    np.testing.assert_allclose(out, [[0.3, 1.0, 0.2], [0.3, 1.0, 0.6]], atol=1e-5)


# The adapter's pure parts -------------------------------------------------------------------------
def test_layout_one_hot_and_neutral_fill() -> None:
    space = Space({"c": Categorical(["a", "b", "c"]), "x": Float(0.0, 1.0, when={"c": ["a"]}),
                   "n": Int(0, 9), "k": Fixed(3), "only": Categorical(["z"])})
    layout = _Layout(space)
    assert layout.n_features == 5
    assert layout.n_numeric == 2
    u = np.array([space.encode({"c": "b", "n": 4, "k": 3, "only": "z"}),
                  space.encode({"c": "a", "x": 0.9, "n": 0, "k": 3, "only": "z"})])
    np.testing.assert_allclose(layout.features(u), [[0, 1, 0, 0.5, 0.45], [1, 0, 0, 0.9, 0.05]])
    back = layout.canonical(layout.raw(layout.features(u)))
    np.testing.assert_array_equal(np.isnan(back), np.isnan(u))
    np.testing.assert_allclose(np.nan_to_num(back), np.nan_to_num(u))


def test_trust_region_replay() -> None:
    # 2 startup trials, then 3 successes (0.8 -> 1.6), then 4 failures (d=2: halve to 0.8).
    scores = np.array([5.0, 4.0, 3.0, 2.0, 1.0, 1.0, 1.0, np.nan, 2.0])
    assert _trust_length(scores[:5], 2, 2) == pytest.approx(1.6)
    assert _trust_length(scores, 2, 2) == pytest.approx(0.8)
    assert _trust_length(np.full(60, 1.0), 2, 2) == pytest.approx(0.8)  # shrunk, then restarted


def test_warp_survives_a_subnormal_spread() -> None:
    # Found by hypothesis: an interquartile range of 2.8e-301 overflowed the division.
    w = warp_scores(np.array([0.0, 0.0, 0.0, 50824306.0, 2.8271958661189424e-301]), "yeo_johnson")
    assert np.all(np.isfinite(w))
    assert w[3] == w.max()
