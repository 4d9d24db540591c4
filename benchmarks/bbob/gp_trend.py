"""shoal's GPSampler with a quadratic trend in the kernel: a `run_bench.py --plugin` (not adopted).

The GP's kernel gains a Bayesian quadratic trend, s·Matérn(x, x') + τ·φ(x)ᵀφ(x'), where
φ(x) = (u, u² - 1/3) per input with u = 2x - 1 (with TREND_CROSS=1 also every uᵢuⱼ), scaled so
that E|φ|² = 1 on the unit cube. This is universal kriging with a Gaussian prior on the trend's
coefficients: a bowl the data support (Rastrigin, attractive sector, a learning rate that is too
small on one side and diverges on the other) is extrapolated as a bowl instead of reverting to the
mean, which should keep EI off the walls of the box. τ has an exponential(1) prior, so the fit can
switch the trend off; it is fitted with the other hyperparameters by the same L-BFGS-B.

    OMP_NUM_THREADS=1 ../../.venv/bin/python run_bench.py --plugin gp_trend.py \
        --optimizers shoal_gp_trend --tier full --out /tmp/trend.jsonl   # TREND_CROSS=1: shoal_gp_trendx

Run as a script, it runs `benchmarks/bench_mixed.py` or `bench_mnist1d.py` with the trend
installed, the sampler named `shoal_gp_trend`:

    OMP_NUM_THREADS=1 ../../.venv/bin/python gp_trend.py bench_mixed --samplers shoal_gp_trend --out F

Results: README.md, "A quadratic trend in the kernel".
"""


import math
import os
from dataclasses import dataclass
from typing import Any

import numpy as np
from adapters import register
from shoal_adapters import _ShoalAdapter, run_deep_learning_bench

import shoal.samplers._gp.sampler as gps
from shoal.samplers._gp import GPSampler
from shoal.samplers._gp import _fit as gfit
from shoal.samplers._gp._kernel import (
    matern52,
    matern52_and_dr2,
    matern52_dr2,
    pairwise_sq_diffs,
    scaled_sq_dists,
)

CROSS = os.environ.get("TREND_CROSS", "0") == "1"
_RATE = 1.0  # exponential prior on τ


def features(x: np.ndarray) -> np.ndarray:
    """φ(x), one row per point: linear and centred square terms (and products with CROSS)."""
    u = 2.0 * x - 1.0
    d = x.shape[1]
    cols, norm = [u, u * u - 1.0 / 3.0], d * (1.0 / 3.0 + 4.0 / 45.0)
    if CROSS and d > 1:
        i, j = np.triu_indices(d, 1)
        cols.append(u[:, i] * u[:, j])
        norm += len(i) / 9.0
    return np.hstack(cols) / math.sqrt(norm)


def features_grad(x: np.ndarray) -> np.ndarray:
    """∂φ_f/∂x_k, shape (n, F, d)."""
    n, d = x.shape
    u = 2.0 * x - 1.0
    parts = [np.broadcast_to(2.0 * np.eye(d), (n, d, d)), 4.0 * u[:, :, None] * np.eye(d)[None]]
    norm = d * (1.0 / 3.0 + 4.0 / 45.0)
    if CROSS and d > 1:
        i, j = np.triu_indices(d, 1)
        g = np.zeros((n, len(i), d))
        g[:, np.arange(len(i)), i] = 2.0 * u[:, j]
        g[:, np.arange(len(i)), j] = 2.0 * u[:, i]
        parts.append(g)
        norm += len(i) / 9.0
    return np.concatenate(parts, axis=1) / math.sqrt(norm)


@dataclass(frozen=True)
class TrendHyper(gfit.Hyper):
    trend: float = 0.0


def neg_log_posterior(theta: np.ndarray, diffs: np.ndarray, pmat: np.ndarray,
                      y: np.ndarray) -> tuple[float, np.ndarray]:
    """shoal's objective (`_fit.neg_log_posterior`) with K + τ ΦΦᵀ; θ ends with log τ."""
    from scipy.linalg.lapack import dpotrf, dpotri

    n, _, d = diffs.shape
    h = gfit.unpack(theta[:-1])
    tau = math.exp(theta[-1])
    m, dm = matern52_and_dr2(diffs @ h.inv_ls2)
    k = h.scale * m + tau * pmat
    diag = np.diag_indices(n)
    k[diag] += h.noise
    chol, info = dpotrf(k, lower=1, clean=1)
    if info != 0:
        return 1e25, np.zeros_like(theta)
    k_inv, _ = dpotri(chol, lower=1)
    k_inv = k_inv + k_inv.T
    k_inv[diag] *= 0.5
    alpha = k_inv @ y
    w = k_inv - np.outer(alpha, alpha)
    nll = 0.5 * float(y @ alpha) + float(np.log(np.diag(chol)).sum()) + 0.5 * n * gfit._LOG_2PI
    grad = np.empty_like(theta)
    grad[:d] = 0.5 * h.inv_ls2 * ((w * (h.scale * dm)).reshape(-1) @ diffs.reshape(-1, d))
    grad[d] = 0.5 * float(np.sum(w * (h.scale * m)))
    grad[d + 1] = 0.5 * float(np.trace(w)) * (h.noise - gfit.MIN_NOISE)
    grad[d + 2] = 0.5 * float(np.sum(w * (tau * pmat)))
    prior, prior_grad = gfit._ls_log_prior(theta[:d])
    nll += prior
    grad[:d] += prior_grad
    nll += -(gfit._SCALE_A - 1) * math.log(h.scale) + gfit._SCALE_B * h.scale
    grad[d] += -(gfit._SCALE_A - 1) + gfit._SCALE_B * h.scale
    nll += -(gfit._NOISE_A - 1) * math.log(h.noise) + gfit._NOISE_B * h.noise
    grad[d + 1] += (-(gfit._NOISE_A - 1) / h.noise + gfit._NOISE_B) * (h.noise - gfit.MIN_NOISE)
    nll += _RATE * tau
    grad[d + 2] += _RATE * tau
    return nll, grad


def fit_hyper(x: np.ndarray, y: np.ndarray, *, tie: np.ndarray | None = None,
              **_: Any) -> TrendHyper:
    """MAP fit as `_fit.fit_hyper` (same starts and bounds), τ starting at 0.1."""
    from scipy.optimize import minimize

    diffs = pairwise_sq_diffs(x, x)
    if tie is not None:
        diffs = diffs @ tie
    phi = features(x)
    d = diffs.shape[2]
    bounds = [*gfit.theta_bounds(d), (math.log(1e-6), math.log(1e2))]
    best: tuple[float, np.ndarray] | None = None
    for log_ls in (0.0, math.log(0.3)):
        theta0 = np.concatenate([np.full(d, -2 * log_ls), [0.0, math.log(1e-3), math.log(0.1)]])
        res = minimize(neg_log_posterior, theta0, args=(diffs, phi @ phi.T, y), jac=True,
                       method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": 80, "ftol": 1e-9, "gtol": 1e-6})
        if math.isfinite(res.fun) and (best is None or res.fun < best[0]):
            best = (float(res.fun), np.asarray(res.x))
    assert best is not None, "no finite fit"
    h = gfit.unpack(best[1][:-1])
    inv = h.inv_ls2 if tie is None else tie @ h.inv_ls2
    return TrendHyper(inv, h.scale, h.noise, math.exp(best[1][-1]))


class TrendGP(gfit.GP):
    """`_fit.GP` with the trend term in every covariance (prior variance s + τ|φ(x)|²)."""

    hyper: TrendHyper

    def __init__(self, x: np.ndarray, y: np.ndarray, hyper: TrendHyper) -> None:
        from scipy.linalg import cho_solve

        self.x, self.y, self.hyper = x, y, hyper
        self.phi = features(x)
        k = hyper.scale * matern52(scaled_sq_dists(x, x, hyper.inv_ls2)) + (
            hyper.trend * self.phi) @ self.phi.T
        self.chol = gfit.cholesky_with_jitter(k, hyper.noise)
        self.alpha = cho_solve((self.chol, True), y)

    def _cross(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        pq = features(xq)
        h = self.hyper
        kq = h.scale * matern52(scaled_sq_dists(xq, self.x, h.inv_ls2)) + (h.trend * pq) @ self.phi.T
        return kq, h.scale + h.trend * np.sum(pq * pq, axis=1), pq

    def posterior(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        from scipy.linalg import solve_triangular

        kq, prior, _ = self._cross(xq)
        v = solve_triangular(self.chol, kq.T, lower=True)
        return kq @ self.alpha, np.maximum(prior - np.sum(v * v, axis=0), 1e-12)

    def posterior_grad(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                       np.ndarray]:
        from scipy.linalg import cho_solve

        h = self.hyper
        kq, prior, pq = self._cross(xq)
        beta = cho_solve((self.chol, True), kq.T).T
        dk = 2.0 * h.scale * matern52_dr2(scaled_sq_dists(xq, self.x, h.inv_ls2))
        gphi = features_grad(xq)

        def weighted(c: np.ndarray) -> np.ndarray:  # Σ_i c_i ∂k(xq, x_i)/∂xq
            g = dk * c
            out: np.ndarray = h.inv_ls2 * (g.sum(1)[:, None] * xq - g @ self.x)
            return out + h.trend * np.einsum("mfd,mf->md", gphi, c @ self.phi)

        dmean = weighted(np.broadcast_to(self.alpha, kq.shape))
        dvar = 2.0 * h.trend * np.einsum("mfd,mf->md", gphi, pq) - 2.0 * weighted(beta)
        return (kq @ self.alpha, np.maximum(prior - np.sum(kq * beta, axis=1), 1e-12), dmean,
                dvar)

    def with_fantasies(self, xr: np.ndarray) -> "TrendGP":
        if len(xr) == 0:
            return self
        mean, _ = self.posterior(xr)
        lie = np.maximum(mean, float(np.mean(self.y)))
        return TrendGP(np.vstack([self.x, xr]), np.concatenate([self.y, lie]), self.hyper)


gps.GP = TrendGP  # type: ignore[misc]
gps.fit_hyper = fit_hyper  # type: ignore[assignment]

if __name__ == "__main__":
    run_deep_learning_bench("shoal_gp_trend")

register("shoal_gp_trendx" if CROSS else "shoal_gp_trend")(type("TrendAdapter", (_ShoalAdapter,), {
    "make_sampler": staticmethod(lambda seed: GPSampler(seed=seed))}))
