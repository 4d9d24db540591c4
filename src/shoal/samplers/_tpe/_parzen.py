"""Parzen estimators of multivariate TPE: weighted product kernels over the encoded unit cube.

A numeric dimension gets a Gaussian kernel truncated to [0, 1]; a categorical dimension (its
choice index) gets a categorical kernel smoothed towards uniform. Each estimator has one extra
component, the prior (a wide Gaussian at 0.5 and uniform choices), so it keeps exploring.
Pure numpy/scipy functions, vectorised over points x components x dimensions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy.special import ndtr, ndtri

__all__ = ["ParzenEstimator", "bandwidth", "fit_parzen", "n_below", "neighbour_bandwidths",
           "trial_weights"]

_LOG_SQRT_2PI = 0.5 * math.log(2.0 * math.pi)
_PRIOR_SIGMA = 1.0  # the width of the cube: the prior is nearly flat on [0, 1]
_MIN_MASS = 1e-300
_FAR = 8.0  # widths from an end beyond which a Gaussian's truncated mass is 1 to double precision


def n_below(n: int) -> int:
    """How many of `n` observations form the good set: Optuna's gamma(n) = min(ceil(0.1 n), 25).

    >>> [n_below(n) for n in (1, 10, 11, 100, 1000)]
    [1, 1, 2, 10, 25]
    """
    return min(math.ceil(0.1 * n), 25)


def trial_weights(n: int) -> np.ndarray:
    """Weights of `n` observations in trial order: 1 for the newest 25, a ramp down to 1/n before.

    Optuna's `default_weights`: old trials of a long study count less.

    >>> trial_weights(3).tolist()
    [1.0, 1.0, 1.0]
    >>> w = trial_weights(30); (round(float(w[0]), 3), float(w[-1]), len(w))
    (0.033, 1.0, 30)
    """
    if n < 25:
        return np.ones(n)
    return np.concatenate([np.linspace(1.0 / n, 1.0, n - 25), np.ones(25)])


def bandwidth(n_obs: int, n_dims: int) -> float:
    """Scott-like rule of multivariate TPE (Falkner et al. 2018): 0.2 n^(-1/(d+4)), clipped.

    No smaller than 1/min(100, n+2) (the magic clip: with few kernels they must stay wide).

    >>> bandwidth(1, 2), round(bandwidth(1000, 2), 4)
    (0.3333333333333333, 0.0632)
    """
    sigma = 0.2 * max(n_obs, 1) ** (-1.0 / (n_dims + 4))
    return float(min(max(sigma, 1.0 / min(100.0, n_obs + 2.0)), 1.0))


def neighbour_bandwidths(x: np.ndarray) -> np.ndarray:
    """Per-kernel widths on [0, 1] (Optuna's rule): the larger gap to a neighbour, clipped.

    In each dimension a point's width is the larger of its gaps to the next points below and
    above (the end kernels look inwards only, Optuna's consider_endpoints=False), clipped to
    [1/min(100, n+2), 1] (the magic clip).

    >>> np.round(neighbour_bandwidths(np.array([[0.1], [0.2], [0.6]])), 6).ravel().tolist()
    [0.2, 0.4, 0.4]
    """
    n, d = x.shape
    if n == 0:
        return np.empty_like(x)
    # One row per dimension, and flat indices for the gather and scatter: numpy's fancy
    # indexing along an axis costs several times more with a thousand points.
    xt = np.ascontiguousarray(x.T)
    flat = (np.argsort(xt, axis=1) + np.arange(0, d * n, n)[:, None]).ravel()
    padded = np.empty((d, n + 2))
    padded[:, 0], padded[:, -1] = 0.0, 1.0
    padded[:, 1:-1] = xt.ravel()[flat].reshape(d, n)
    diff = padded[:, 1:] - padded[:, :-1]
    gaps = np.maximum(diff[:, :-1], diff[:, 1:])
    if n >= 2:
        gaps[:, 0], gaps[:, -1] = diff[:, 1], diff[:, -2]
    np.clip(gaps, 1.0 / min(100.0, n + 2.0), 1.0, out=gaps)
    out = np.empty(d * n)
    out[flat] = gaps.ravel()
    widths: np.ndarray = out.reshape(d, n).T
    return widths


@dataclass(frozen=True)
class ParzenEstimator:
    """A mixture of product kernels: component k has weight `weights[k]`.

    Attributes:
        weights: (K,) mixture weights summing to 1; the last component is the prior.
        mus, sigmas: (K, Dn) centres and widths of the truncated Gaussians on [0, 1].
        log_norm: (K, Dn) log of each Gaussian's mass inside [0, 1].
        cat_probs: one (K, k_j) array per categorical dimension; each row sums to 1.
    """

    weights: np.ndarray
    mus: np.ndarray
    sigmas: np.ndarray
    log_norm: np.ndarray
    cat_probs: tuple[np.ndarray, ...]

    def log_pdf(self, x_num: np.ndarray, x_cat: np.ndarray,
                cells: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None) -> np.ndarray:
        """Log density at N points: `x_num` (N, Dn) in [0, 1], `x_cat` (N, Dc) choice indices.

        `cells` = (dims, lower, upper) makes the numeric dimensions `dims` discrete: point i
        then counts the kernels' mass over [lower[i, j], upper[i, j]] (the encoded interval of
        its integer, see `Int.cell`) instead of their density at x_num[i, dims[j]], as Optuna's
        TPE does for integers: a narrow kernel can hold at most all of its mass on an integer,
        not a density of 1/width.
        """
        # In place on one (N, K) array: with a thousand kernels every (N, K) temporary is past
        # glibc's mmap threshold, and the page faults of a fresh one cost more than the maths.
        dims = cells[0] if cells is not None else np.empty(0, dtype=int)
        cont = np.ones(self.mus.shape[1], dtype=bool)
        cont[dims] = False
        mus, sigmas = self.mus[:, cont], self.sigmas[:, cont]
        # Per component: log weight and normalising terms (none of 1/sigma for a discrete dimension).
        log_const = np.log(self.weights) - self.log_norm.sum(axis=1) - (
            np.log(sigmas) + _LOG_SQRT_2PI).sum(axis=1)
        if cont.any():
            # sum_d (x - mu)^2 / s^2 = [x^2, -2x] . [1/s^2, mu/s^2] + sum_d mu^2/s^2: one product.
            x = x_num[:, cont]
            prec = 1.0 / (sigmas * sigmas)
            mu_prec = mus * prec
            comp = np.hstack([x * x, -2.0 * x]) @ np.hstack([prec, mu_prec]).T
            comp += (mus * mu_prec).sum(axis=1)
            comp *= -0.5
            comp += log_const
        else:
            comp = np.repeat(log_const[None, :], len(x_num), axis=0)
        if cells is not None:
            for j, d in enumerate(dims):
                comp += _log_interval_mass(cells[1][:, j], cells[2][:, j], self.mus[:, d],
                                           self.sigmas[:, d])
        for j, probs in enumerate(self.cat_probs):
            comp += np.log(probs)[:, x_cat[:, j]].T  # k logs per kernel, not one per point
        top = comp.max(axis=1, keepdims=True)  # logsumexp, without scipy's checks
        comp -= top
        # Far kernels add < K e^-50 (relative) but exp of -1e4 is slow in libm: floor at -50.
        np.maximum(comp, -50.0, out=comp)
        np.exp(comp, out=comp)
        out: np.ndarray = top[:, 0] + np.log(comp.sum(axis=1))
        return out

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Draw `n` points: a component by weight, then each dimension from its kernel."""
        k = rng.choice(len(self.weights), size=n, p=self.weights)
        mu, sigma = self.mus[k], self.sigmas[k]
        lo, hi = ndtr(-mu / sigma), ndtr((1.0 - mu) / sigma)
        u = rng.random(mu.shape)
        x_num = np.clip(mu + sigma * ndtri(lo + u * (hi - lo)), 0.0, 1.0)  # inverse-CDF draw
        x_cat = np.empty((n, len(self.cat_probs)), dtype=int)
        for j, probs in enumerate(self.cat_probs):
            cum = np.cumsum(probs[k], axis=1)
            r = rng.random((n, 1)) * cum[:, -1:]
            x_cat[:, j] = np.minimum((r >= cum).sum(axis=1), probs.shape[1] - 1)
        return x_num, x_cat


def _log_interval_mass(a: np.ndarray, b: np.ndarray, mu: np.ndarray,
                       sigma: np.ndarray) -> np.ndarray:
    """(N, K) log of each Gaussian kernel's mass over [a_i, b_i], from the nearer tail.

    Only kernels reaching the interval within 8 widths are computed (the others hold under
    1e-15 of their mass there; they get the floor): with a thousand kernels, most are far.
    """
    # Candidates share integers (a few distinct values of `layers` among 24 draws), and so do
    # kernels (a thousand trials of `layers` leave a few dozen distinct (mu, sigma)): each
    # distinct pair once. Cells are numbered in order of appearance by a dict (24 floats).
    rows: dict[float, int] = {}
    cell_of = np.array([rows.setdefault(x, len(rows)) for x in a.tolist()])
    first = np.unique(cell_of, return_index=True)[1]
    order = np.lexsort((sigma, mu))
    mu_sorted, sigma_sorted = mu[order], sigma[order]
    new = np.empty(len(mu), dtype=bool)
    new[:1] = True
    new[1:] = (mu_sorted[1:] != mu_sorted[:-1]) | (sigma_sorted[1:] != sigma_sorted[:-1])
    kernel_of = np.empty(len(mu), dtype=int)
    kernel_of[order] = np.cumsum(new) - 1
    table = _distinct_log_masses(a[first], b[first], mu_sorted[new], sigma_sorted[new])
    out: np.ndarray = table[cell_of].take(kernel_of, axis=1)
    return out


def _distinct_log_masses(a: np.ndarray, b: np.ndarray, mu: np.ndarray,
                         sigma: np.ndarray) -> np.ndarray:
    half = 0.5 * (b - a)
    i, k = np.nonzero(np.abs((a + half)[:, None] - mu) < _FAR * sigma + half[:, None])
    # Below the kernel's centre ndtr(zb) - ndtr(za); above it the mirror image, where 1 - ndtr
    # would lose the digits that ndtr(-z) keeps.
    side = np.where(a[i] > mu[k], -1.0, 1.0)
    mu_k, sigma_k = mu[k], sigma[k]
    mass = side * (ndtr(side * (b[i] - mu_k) / sigma_k) - ndtr(side * (a[i] - mu_k) / sigma_k))
    out = np.full((len(a), len(mu)), math.log(_MIN_MASS))
    out[i, k] = np.log(np.maximum(mass, _MIN_MASS))
    return out


def fit_parzen(x_num: np.ndarray, x_cat: np.ndarray, n_choices: list[int], weights: np.ndarray,
               *, prior_weight: float = 1.0,
               rule: Literal["neighbour", "scott"] = "neighbour") -> ParzenEstimator:
    """Fit the estimator of n observations, plus the prior component.

    Args:
        x_num: (n, Dn) numeric coordinates in [0, 1].
        x_cat: (n, Dc) choice indices, dimension j in range(n_choices[j]).
        n_choices: number of choices of each categorical dimension.
        weights: (n,) observation weights (see `trial_weights`).
        prior_weight: weight of the prior component beside observations of weight <= 1.
        rule: "neighbour" (per-kernel widths, `neighbour_bandwidths`) or "scott" (one width
            for all kernels, `bandwidth`).

    >>> est = fit_parzen(np.array([[0.2]]), np.array([[1]]), [3], np.ones(1))
    >>> round(float(np.exp(est.log_pdf(np.array([[0.2]]), np.array([[1]])))[0]), 3)
    0.506
    """
    n, n_num = x_num.shape
    w = np.append(np.asarray(weights, dtype=float), prior_weight)
    w = w / w.sum()
    if rule == "scott":
        obs_sigmas = np.full((n, n_num), bandwidth(n, n_num + len(n_choices)))
    else:
        obs_sigmas = neighbour_bandwidths(x_num)
    mus = np.vstack([x_num, np.full((1, n_num), 0.5)])
    sigmas = np.vstack([obs_sigmas, np.full((1, n_num), _PRIOR_SIGMA)])
    # A kernel 8 widths from both ends keeps all but 1e-15 of its mass: ndtr (the costliest step
    # with a thousand kernels) only for those near an end.
    reach = _FAR * sigmas
    near = np.flatnonzero((mus < reach) | (1.0 - mus < reach))
    mu, sigma = mus.ravel()[near], sigmas.ravel()[near]
    log_norm = np.zeros_like(mus)
    np.put(log_norm, near, np.log(np.maximum(ndtr((1.0 - mu) / sigma) - ndtr(-mu / sigma), _MIN_MASS)))
    cat_probs = []
    for j, k in enumerate(n_choices):
        # Smoothing shrinks as observations accumulate (Optuna 5: prior weight / (n + 1) per choice).
        probs = np.full((n + 1, k), prior_weight / (n + 1))
        probs[np.arange(n), x_cat[:, j]] += 1.0
        probs[n] = 1.0 / k  # the prior: uniform
        cat_probs.append(probs / probs.sum(axis=1, keepdims=True))
    return ParzenEstimator(w, mus, sigmas, log_norm, tuple(cat_probs))
