"""The Matérn-5/2 kernel with one length scale per input dimension (ARD), as pure functions.

Length scales enter as inverse squared length scales `inv_ls2` (λ_k = 1/l_k²), so that the scaled
squared distance is linear in them: r² = Σ_k λ_k (x_k - x'_k)². The kernel is then a function of
r² alone, k(r²) = s (1 + √(5r²) + 5r²/3) exp(-√(5r²)) (Rasmussen & Williams 2006, eq. 4.17), and
its derivative in r² stays finite at r² = 0, which the hand-written gradients below rely on.
"""

from __future__ import annotations

import numpy as np

__all__ = ["kernel", "matern52", "matern52_and_dr2", "matern52_dr2", "pairwise_sq_diffs",
           "scaled_sq_dists"]


def matern52(r2: np.ndarray) -> np.ndarray:
    """Matérn-5/2 correlation as a function of the scaled squared distance r².

    >>> float(matern52(np.array(0.0)))
    1.0
    """
    r5 = np.sqrt(5.0 * np.maximum(r2, 0.0))
    out: np.ndarray = (1.0 + r5 + (5.0 / 3.0) * r2) * np.exp(-r5)
    return out


def matern52_dr2(r2: np.ndarray) -> np.ndarray:
    """Derivative of `matern52` with respect to r²: -5/6 (1 + √(5r²)) exp(-√(5r²)).

    >>> float(matern52_dr2(np.array(0.0)))
    -0.8333333333333334
    """
    r5 = np.sqrt(5.0 * np.maximum(r2, 0.0))
    out: np.ndarray = (-5.0 / 6.0) * (1.0 + r5) * np.exp(-r5)
    return out


def matern52_and_dr2(r2: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """`matern52(r2)` and `matern52_dr2(r2)` together, sharing the square root and exponential."""
    r5 = np.sqrt(5.0 * r2)  # r2 >= 0 by construction in the callers
    e = np.exp(-r5)
    return (1.0 + r5 + (5.0 / 3.0) * r2) * e, (-5.0 / 6.0) * (1.0 + r5) * e


def pairwise_sq_diffs(x1: np.ndarray, x2: np.ndarray) -> np.ndarray:
    """Per-dimension squared differences, shape (n1, n2, d): the fixed part of r² during a fit."""
    diff = x1[:, None, :] - x2[None, :, :]
    out: np.ndarray = diff * diff
    return out


def scaled_sq_dists(x1: np.ndarray, x2: np.ndarray, inv_ls2: np.ndarray) -> np.ndarray:
    """r²_ij = Σ_k λ_k (x1_ik - x2_jk)², shape (n1, n2), without the (n1, n2, d) temporary."""
    a = x1 * np.sqrt(inv_ls2)
    b = x2 * np.sqrt(inv_ls2)
    r2 = (a * a).sum(1)[:, None] + (b * b).sum(1)[None, :] - 2.0 * (a @ b.T)
    out: np.ndarray = np.maximum(r2, 0.0)  # the expansion can dip below zero by rounding
    return out


def kernel(x1: np.ndarray, x2: np.ndarray, inv_ls2: np.ndarray, scale: float) -> np.ndarray:
    """Covariance matrix s · matern52(r²) between the rows of `x1` and of `x2`.

    >>> k = kernel(np.zeros((1, 2)), np.ones((1, 2)), np.array([1.0, 1.0]), 2.0)
    >>> k.shape
    (1, 1)
    """
    return scale * matern52(scaled_sq_dists(x1, x2, inv_ls2))
