"""Log expected improvement, computed stably far into the tail (Ament et al. 2023, "LogEI").

For minimisation with incumbent `best`, EI(x) = sd h(z) with z = (best - mean)/sd and
h(z) = φ(z) + zΦ(z). Plain EI underflows to 0 (and its gradient with it) once z < -38, which
leaves an acquisition optimiser with flat plateaus; log h is computed without forming h.
"""

from __future__ import annotations

import math

import numpy as np

__all__ = ["log1mexp", "log_ei", "log_ei_grad", "log_h", "log_h_grad"]

_C1 = 0.5 * math.log(2.0 * math.pi)  # log √(2π)
_C2 = 0.5 * math.log(0.5 * math.pi)  # log √(π/2)
_INV_SQRT_EPS = 1.0 / math.sqrt(np.finfo(float).eps)


def log1mexp(x: np.ndarray) -> np.ndarray:
    """log(1 - exp(x)) for x < 0 (-inf gives 0), accurate on both sides of -log 2 (Mächler 2012)."""
    out = np.empty_like(x)
    near = x > -math.log(2.0)
    out[near] = np.log(-np.expm1(x[near]))
    out[~near] = np.log1p(-np.exp(x[~near]))
    return out


def log_h(z: np.ndarray) -> np.ndarray:
    """log(φ(z) + zΦ(z)), finite for every finite z (Ament et al. 2023, eq. 9).

    >>> bool(np.isfinite(log_h(np.array([-1e3]))).all())
    True
    """
    from scipy.special import erfcx, ndtr

    z = np.asarray(z, dtype=float)
    out = np.empty_like(z)
    mid = z > -1.0
    zm = z[mid]
    out[mid] = np.log(np.exp(-0.5 * zm * zm) / math.sqrt(2 * math.pi) + zm * ndtr(zm))
    tail = (z <= -1.0) & (z > -_INV_SQRT_EPS)
    zt = z[tail]
    # φ(z) + zΦ(z) = φ(z)(1 - |z| erfcx(-z/√2) √(π/2)) for z < 0, since Φ(z) = ½erfcx(-z/√2)e^{-z²/2}.
    out[tail] = -0.5 * zt * zt - _C1 + log1mexp(np.log(erfcx(-zt / math.sqrt(2)) * -zt) + _C2)
    far = z <= -_INV_SQRT_EPS
    zf = z[far]
    out[far] = -0.5 * zf * zf - _C1 - 2.0 * np.log(-zf)  # h(z) ~ φ(z)/z² as z → -∞
    return out


def log_h_grad(z: np.ndarray, logh: np.ndarray) -> np.ndarray:
    """d log h/dz = Φ(z)/h(z), from log Φ and log h so it stays finite in the tail (→ |z|)."""
    from scipy.special import log_ndtr

    out: np.ndarray = np.exp(log_ndtr(z) - logh)
    return out


def log_ei(mean: np.ndarray, var: np.ndarray, best: float) -> np.ndarray:
    """log EI for minimisation: log sd + log h((best - mean)/sd).

    >>> float(np.exp(log_ei(np.array([0.0]), np.array([1.0]), 0.0))[0])  # φ(0)
    0.3989422804014327
    """
    sd = np.sqrt(var)
    out: np.ndarray = log_h((best - mean) / sd) + np.log(sd)
    return out


def log_ei_grad(mean: np.ndarray, var: np.ndarray, dmean: np.ndarray, dvar: np.ndarray,
                best: float) -> tuple[np.ndarray, np.ndarray]:
    """log EI and its gradient in x, from the posterior and its gradients (rows = points)."""
    sd = np.sqrt(var)
    z = (best - mean) / sd
    logh = log_h(z)
    dsd = dvar / (2.0 * sd)[:, None]
    dz = (-dmean - z[:, None] * dsd) / sd[:, None]
    grad = log_h_grad(z, logh)[:, None] * dz + dsd / sd[:, None]
    return logh + np.log(sd), grad
