"""Fitting the GP: warping the scores, the log marginal likelihood with priors, and the posterior.

Everything here is a pure function of arrays (or a small frozen value), so each piece is tested
against a brute-force reference in `tests/samplers/test_gp_math.py`. The GP minimises: targets
are warped scores, lower is better.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np

from shoal.samplers._gp._kernel import (
    matern52,
    matern52_and_dr2,
    matern52_dr2,
    pairwise_sq_diffs,
    scaled_sq_dists,
)

__all__ = ["GP", "Hyper", "Warp", "cholesky_with_jitter", "fit_hyper", "neg_log_posterior",
           "theta_bounds", "warp_scores"]

Warp = Literal["copula", "yeo_johnson"]

#: Smallest noise variance of the standardised targets: keeps K well conditioned with duplicates.
MIN_NOISE = 1e-6
_LOG_2PI = math.log(2.0 * math.pi)
# Gamma(1.1, 30) on the noise variance and Gamma(2, 1) on the signal variance, as Optuna 5's GP.
_NOISE_A, _NOISE_B = 1.1, 30.0
_SCALE_A, _SCALE_B = 2.0, 1.0
# Scores this many interquartile ranges above the median are log-compressed before the warp.
_FAR_IQR = 100.0
# Bounds of the raw (log) hyperparameters: length scales in [0.01, 100] of the unit cube.
_LOG_LS_MIN, _LOG_LS_MAX = math.log(1e-2), math.log(1e2)


# Output warping ---------------------------------------------------------------------------------
def warp_scores(scores: np.ndarray, method: Warp = "yeo_johnson") -> np.ndarray:
    """Map finite scores to standardised targets by a monotone (non-decreasing) warp.

    "copula": normal quantiles of the average ranks, Φ⁻¹((rank - ½)/n) (a rank-based Gaussian
    copula, as in Salinas et al. 2020): heavy tails and outliers cannot dominate the fit.
    "yeo_johnson": a Yeo-Johnson power transform of the robustly centred scores, its exponent
    chosen in [0, 3] by profile likelihood on a grid (as HEBO, Cowen-Rivers et al. 2022, but
    without an optimiser that could warn), scores beyond 100 IQRs above the median first
    log-compressed (see `_yeo_johnson`).

    >>> warp_scores(np.array([3.0, 1.0, 2.0, 1e9]), "copula").round(2).tolist()
    [0.38, -1.36, -0.38, 1.36]
    """
    from scipy.special import ndtri

    s = np.asarray(scores, dtype=float)
    n = len(s)
    if n == 0:
        return s.copy()
    if method == "copula":
        _, inv, counts = np.unique(s, return_inverse=True, return_counts=True)
        avg_rank = np.cumsum(counts) - (counts - 1) / 2.0  # 1-based, ties share their mean rank
        z = ndtri((avg_rank[inv] - 0.5) / n)
    else:
        z = _yeo_johnson(s)
    return _standardise(z)


def _standardise(z: np.ndarray) -> np.ndarray:
    sd = float(np.std(z))
    out: np.ndarray = (z - np.mean(z)) / sd if sd > 0 else z - np.mean(z)
    return out


def _yeo_johnson(s: np.ndarray) -> np.ndarray:
    """Yeo-Johnson with an exponent in [0, 3], after log-compressing scores far above the rest.

    Exponents below 0 squash every large score to about the same target, so a region 1000 times
    worse than the incumbent looked no worse than a mediocre one and EI kept sampling it (BBOB
    f10 at d = 2, instance 2: 34 of the last 80 proposals above 1e4, the best at 13). The exponent therefore
    compresses no harder than log; scores more than `_FAR_IQR` interquartile ranges above the
    median (diverged runs) are log-compressed beyond that point first, so they still cannot
    flatten the rest. See benchmarks/bbob/README.md, "yjcap".
    """
    q1, med, q3 = np.percentile(s, [25, 50, 75])
    spread = q3 - q1 if q3 > q1 else (float(np.std(s)) or 1.0)
    with np.errstate(over="ignore"):  # a subnormal spread overflows to inf, which the clip bounds
        x = np.clip((s - med) / spread, -1e6, 1e6)  # no power of it can overflow
    far = x > _FAR_IQR
    x[far] = _FAR_IQR + np.log1p(x[far] - _FAR_IQR)
    best: np.ndarray = x
    best_ll = -math.inf
    for lam in np.linspace(0.0, 3.0, 16):
        t = _yj(x, float(lam))
        var = float(np.var(t))
        if not math.isfinite(var) or var <= 0:
            continue
        # Profile log-likelihood of a normal fit, with the transform's log-Jacobian.
        ll = -0.5 * len(x) * math.log(var) + (lam - 1.0) * float(
            np.sum(np.sign(x) * np.log1p(np.abs(x))))
        if ll > best_ll:
            best, best_ll = t, ll
    return best


def _yj(x: np.ndarray, lam: float) -> np.ndarray:
    pos = x >= 0
    out = np.empty_like(x)
    xp, xn = x[pos], x[~pos]
    out[pos] = np.log1p(xp) if abs(lam) < 1e-8 else np.expm1(lam * np.log1p(xp)) / lam
    out[~pos] = (-np.log1p(-xn) if abs(lam - 2) < 1e-8
                 else -np.expm1((2 - lam) * np.log1p(-xn)) / (2 - lam))
    return out


# Hyperparameters ----------------------------------------------------------------------------------
@dataclass(frozen=True)
class Hyper:
    """Kernel hyperparameters: inverse squared length scales, signal and noise variance."""

    inv_ls2: np.ndarray
    scale: float
    noise: float

    @property
    def length_scales(self) -> np.ndarray:
        return np.asarray(1.0 / np.sqrt(self.inv_ls2))


def _ls_log_prior(log_inv_ls2: np.ndarray) -> tuple[float, np.ndarray]:
    """-log prior of the inverse squared length scales λ (up to a constant), and its gradient in log λ.

    0.1/λ + 0.1λ, Optuna 5's heuristic: its mode is a length scale of 1 (the whole unit cube),
    and it keeps length scales within about [0.1, 10], so an input whose effect is small next to
    another's is not declared irrelevant (length scale → ∞), which stalls high-conditioning
    problems. The dimension-scaled log-normal prior of Hvarfner et al. (2024) did worse on the
    BBOB lite tier.
    """
    lam = np.exp(log_inv_ls2)
    return float(np.sum(0.1 / lam + 0.1 * lam)), -0.1 / lam + 0.1 * lam


def unpack(theta: np.ndarray, min_noise: float = MIN_NOISE) -> Hyper:
    """θ = (log λ_1..d, log s, log(noise - min_noise)) → Hyper."""
    d = len(theta) - 2
    return Hyper(np.exp(theta[:d]), float(math.exp(theta[d])),
                 min_noise + float(math.exp(theta[d + 1])))


def neg_log_posterior(theta: np.ndarray, diffs: np.ndarray, y: np.ndarray,
                      min_noise: float = MIN_NOISE) -> tuple[float, np.ndarray]:
    """Negative log marginal likelihood plus negative log priors, and its gradient in θ.

    `diffs` are the per-dimension squared differences of the inputs (n, n, d). With
    W = K⁻¹ - aaᵀ (a = K⁻¹y), ∂(-log p(y))/∂θ = ½ tr(W ∂K/∂θ) (Rasmussen & Williams, eq. 5.9).
    """
    from scipy.linalg.lapack import dpotrf, dpotri

    n, _, d = diffs.shape
    h = unpack(theta, min_noise)
    r2 = diffs @ h.inv_ls2
    m, dm = matern52_and_dr2(r2)
    k = h.scale * m
    diag = np.diag_indices(n)
    k[diag] += h.noise
    chol, info = dpotrf(k, lower=1, clean=1)
    if info != 0:
        return 1e25, np.zeros_like(theta)  # not positive definite: L-BFGS-B backs off the step
    # K⁻¹ from the Cholesky factor directly: potri fills the lower triangle, the upper stays 0.
    k_inv, _ = dpotri(chol, lower=1)
    k_inv = k_inv + k_inv.T
    k_inv[diag] *= 0.5
    alpha = k_inv @ y
    w = k_inv - np.outer(alpha, alpha)
    nll = 0.5 * float(y @ alpha) + float(np.log(np.diag(chol)).sum()) + 0.5 * n * _LOG_2PI
    grad = np.empty_like(theta)
    grad[:d] = 0.5 * h.inv_ls2 * ((w * (h.scale * dm)).reshape(-1)
                                  @ diffs.reshape(-1, d))
    grad[d] = 0.5 * float(np.sum(w * k)) - 0.5 * h.noise * float(np.trace(w))  # ∂K/∂log s = sM
    grad[d + 1] = 0.5 * float(np.trace(w)) * (h.noise - min_noise)
    # Priors: on λ as Optuna's; signal variance s ~ Gamma(2, 1); noise ~ Gamma(1.1, 30).
    prior, prior_grad = _ls_log_prior(theta[:d])
    nll += prior
    grad[:d] += prior_grad
    nll += -(_SCALE_A - 1) * math.log(h.scale) + _SCALE_B * h.scale
    grad[d] += -(_SCALE_A - 1) + _SCALE_B * h.scale
    nll += -(_NOISE_A - 1) * math.log(h.noise) + _NOISE_B * h.noise
    grad[d + 1] += (-(_NOISE_A - 1) / h.noise + _NOISE_B) * (h.noise - min_noise)
    return nll, grad


def theta_bounds(d: int) -> list[tuple[float, float]]:
    """Bounds of θ for `d` kernel dimensions, as `fit_hyper` searches them: log λ (length scales
    in [0.01, 100]), log signal variance in [0.01, 100], log excess noise in [1e-9, 2]."""
    return ([(-2 * _LOG_LS_MAX, -2 * _LOG_LS_MIN)] * d
            + [(math.log(1e-2), math.log(1e2)), (math.log(1e-9), math.log(2.0))])


def fit_hyper(x: np.ndarray, y: np.ndarray, *, min_noise: float = MIN_NOISE,
              max_iter: int = 80, tie: np.ndarray | None = None) -> Hyper:
    """MAP hyperparameters by L-BFGS-B from two starts (length scales 1 and 0.3).

    `tie` (features x kernel dimensions) shares length scales between inputs: the kernel sees
    the squared differences `diffs @ tie`, so a categorical's one-hot columns, tied with weight
    1/2 each, are one dimension whose distance between two choices is 1 (Optuna's Hamming
    kernel) and which has one length scale, not one per choice. The returned `inv_ls2` is per
    input (`tie @` the fitted ones), ready for the posterior. None: one length scale per input.

    Deterministic: the starts are fixed, so the fit depends on the data only.
    """
    from scipy.optimize import minimize

    diffs = pairwise_sq_diffs(x, x)
    if tie is not None:
        diffs = diffs @ tie
    d = diffs.shape[2]
    bounds = theta_bounds(d)
    best: tuple[float, np.ndarray] | None = None
    for log_ls in (0.0, math.log(0.3)):
        theta0 = np.concatenate([np.full(d, -2 * log_ls), [0.0, math.log(1e-3)]])
        res = minimize(neg_log_posterior, theta0, args=(diffs, y, min_noise), jac=True,
                       method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": max_iter, "ftol": 1e-9, "gtol": 1e-6})
        value = float(res.fun)
        if math.isfinite(value) and (best is None or value < best[0]):
            best = (value, np.asarray(res.x, dtype=float))
    theta = best[1] if best is not None else np.concatenate([np.zeros(d), [0.0, math.log(1e-3)]])
    hyper = unpack(theta, min_noise)
    if tie is None:
        return hyper
    return Hyper(tie @ hyper.inv_ls2, hyper.scale, hyper.noise)


# Posterior ----------------------------------------------------------------------------------------
def cholesky_with_jitter(k: np.ndarray, jitter: float) -> np.ndarray:
    """Lower Cholesky factor of k + jitter·I, the jitter escalated tenfold (up to 5 times) only if
    rounding broke positive definiteness."""
    for _ in range(6):
        try:
            chol: np.ndarray = np.linalg.cholesky(k + jitter * np.eye(len(k)))
            return chol
        except np.linalg.LinAlgError:
            jitter *= 10.0
    raise np.linalg.LinAlgError("kernel matrix is not positive definite")


class GP:
    """A GP conditioned on (x, y) with fixed hyperparameters; the Cholesky factor is kept.

    >>> gp = GP(np.array([[0.2], [0.8]]), np.array([1.0, -1.0]), Hyper(np.array([4.0]), 1.0, 1e-6))
    >>> mean, var = gp.posterior(np.array([[0.8]]))
    >>> round(float(mean[0]), 3), bool(var[0] < 1e-5)
    (-1.0, True)
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, hyper: Hyper) -> None:
        from scipy.linalg import cho_solve

        self.x, self.y, self.hyper = x, y, hyper
        k = hyper.scale * matern52(scaled_sq_dists(x, x, hyper.inv_ls2))
        self.chol = cholesky_with_jitter(k, hyper.noise)
        self.alpha = cho_solve((self.chol, True), y)

    def posterior(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Posterior mean and variance of the latent f (noise excluded) at the rows of `xq`."""
        from scipy.linalg import solve_triangular

        kq = self.hyper.scale * matern52(scaled_sq_dists(xq, self.x, self.hyper.inv_ls2))
        v = solve_triangular(self.chol, kq.T, lower=True)
        var = self.hyper.scale - np.sum(v * v, axis=0)
        return kq @ self.alpha, np.maximum(var, 1e-12)

    def posterior_grad(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                       np.ndarray]:
        """Mean, variance and their gradients in xq (each gradient has the shape of xq)."""
        from scipy.linalg import cho_solve

        h = self.hyper
        r2 = scaled_sq_dists(xq, self.x, h.inv_ls2)
        kq = h.scale * matern52(r2)
        beta = cho_solve((self.chol, True), kq.T).T  # K⁻¹ k(x), one row per query
        var = h.scale - np.sum(kq * beta, axis=1)
        # ∂k_i/∂x = s M'(r²_i) 2λ ⊙ (x - X_i)
        dk = 2.0 * h.scale * matern52_dr2(r2)

        def weighted(c: np.ndarray) -> np.ndarray:  # Σ_i c_i ∂k_i/∂x, for each query row
            g = dk * c
            out: np.ndarray = h.inv_ls2 * (g.sum(1)[:, None] * xq - g @ self.x)
            return out

        dmean = weighted(np.broadcast_to(self.alpha, kq.shape))
        dvar = -2.0 * weighted(beta)
        return kq @ self.alpha, np.maximum(var, 1e-12), dmean, dvar

    def with_fantasies(self, xr: np.ndarray) -> GP:
        """Condition also on fantasised targets at `xr` (running trials), hyperparameters kept.

        The fantasy is the posterior mean (kriging believer), but never better than the mean of
        the targets (a constant liar; Ginsbourger et al. 2010): believing a promising running
        point is as good as predicted leaves its neighbourhood just as attractive, and a second
        worker would propose a point next to it.
        """
        if len(xr) == 0:
            return self
        mean, _ = self.posterior(xr)
        lie = np.maximum(mean, float(np.mean(self.y)))
        return GP(np.vstack([self.x, xr]), np.concatenate([self.y, lie]), self.hyper)
