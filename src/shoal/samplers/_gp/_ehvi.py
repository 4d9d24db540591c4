"""Expected hypervolume improvement in closed form, and the probability of feasibility.

With independent Gaussian posteriors per objective and the region that no observed point
dominates cut into disjoint boxes [l, u) (below a reference point), the hypervolume a new point
y adds is Σ_b Π_j (u_bj - max(y_j, l_bj))₊, and since (u - max(y, l))₊ = (u - y)₊ - (l - y)₊,
each factor's expectation is one of expected improvement: s (h((u - m)/s) - h((l - m)/s)) with
h(z) = φ(z) + zΦ(z). So EHVI = Σ_b Π_j s_j Δh_bj exactly (Yang et al. 2019's box form, no Monte
Carlo), and its log is computed from `log_h` so it stays finite far from the front, as log EI.
Everything minimises; numpy and scipy are imported inside the functions.
"""

from __future__ import annotations

import math

import numpy as np

from shoal.samplers._gp._acquisition import log1mexp, log_h

__all__ = ["box_decomposition", "log_ehvi", "log_ehvi_grad", "log_pof", "log_pof_grad"]

_C1 = 0.5 * math.log(2.0 * math.pi)  # log √(2π)
_TINY = 1e-15  # a box thinner than this, relative to the posterior, counts as that thin


def box_decomposition(points: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint boxes covering the part of {z < reference} that no point weakly dominates.

    A grid over the first k - 1 objectives at the points' coordinates; in each cell, the points
    at or below its lower corner dominate everything above their lowest last coordinate, so the
    cell's box runs from -inf to that coordinate (or the reference). Cells of one row with the
    same top are merged along the first objective. Lower bounds may be -inf.

    Args:
        points: (n, k) observed points, lower is better (any, dominated ones are dropped).
        reference: (k,) the reference point.

    Returns:
        (lower, upper), each (B, k).

    >>> lo, up = box_decomposition(np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([3.0, 3.0]))
    >>> np.column_stack([lo, up]).tolist()
    [[-inf, -inf, 1.0, 3.0], [1.0, -inf, 2.0, 2.0], [2.0, -inf, 3.0, 1.0]]
    """
    from shoal.trial import pareto_mask

    ref = np.asarray(reference, dtype=float)
    k = len(ref)
    pts = np.asarray(points, dtype=float).reshape(-1, k)
    pts = pts[np.all(pts < ref, axis=1)]
    if len(pts):
        pts = pts[pareto_mask(pts)]
    if k == 1:
        top = pts[:, 0].min() if len(pts) else ref[0]
        return np.array([[-np.inf]]), np.array([[top]])
    edges = [np.concatenate([[-np.inf], np.unique(pts[:, j]), [ref[j]]]) for j in range(k - 1)]
    shape = tuple(len(e) - 1 for e in edges)
    corners = np.stack(np.meshgrid(*[e[:-1] for e in edges], indexing="ij"), axis=-1).reshape(-1, k - 1)
    below = np.all(pts[None, :, :k - 1] <= corners[:, None, :], axis=2)  # (cells, n)
    tops = np.where(below, pts[None, :, k - 1], ref[k - 1]).min(axis=1, initial=ref[k - 1])
    tops = tops.reshape(shape)
    lower, upper = [], []
    for rest in np.ndindex(*shape[1:]):
        row = tops[(slice(None), *rest)]
        tail_lo = [edges[j + 1][i] for j, i in enumerate(rest)]
        tail_up = [edges[j + 1][i + 1] for j, i in enumerate(rest)]
        start = 0
        for i in range(1, len(row) + 1):
            if i == len(row) or row[i] != row[start]:  # a run of equal tops is one box
                lower.append([edges[0][start], *tail_lo, -np.inf])
                upper.append([edges[0][i], *tail_up, row[start]])
                start = i
    return np.array(lower), np.array(upper)


def _log_factors(mean: np.ndarray, sd: np.ndarray, lower: np.ndarray, upper: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """log Δh (n, B, k) and the pieces its gradient needs: zu, zl, log h(zu), log h(zl)."""
    zu = (upper[None] - mean[:, None]) / sd[:, None]
    open_low = np.isinf(lower)[None] & np.ones(zu.shape, dtype=bool)
    zl = np.where(open_low, -np.inf, (np.where(np.isinf(lower), 0.0, lower)[None] - mean[:, None])
                  / sd[:, None])
    logh_u = log_h(zu)
    logh_l = np.full(zu.shape, -np.inf)
    logh_l[~open_low] = log_h(zl[~open_low])
    gap = np.minimum(logh_l - logh_u, -_TINY)  # h is increasing; rounding may tie them
    log_dh = logh_u + np.where(open_low, 0.0, log1mexp(gap))
    return log_dh, zu, zl, logh_u, logh_l


def log_ehvi(mean: np.ndarray, var: np.ndarray, lower: np.ndarray, upper: np.ndarray) -> np.ndarray:
    """log EHVI of independent Gaussians N(mean, var) (n, k) over the boxes (lower, upper) (B, k).

    >>> lo, up = np.array([[-np.inf]]), np.array([[0.0]])  # one objective: EHVI is EI
    >>> float(np.exp(log_ehvi(np.zeros((1, 1)), np.ones((1, 1)), lo, up))[0])  # φ(0)
    0.3989422804014327
    """
    from scipy.special import logsumexp

    sd = np.sqrt(var)
    log_dh, *_ = _log_factors(mean, sd, lower, upper)
    out: np.ndarray = logsumexp(log_dh.sum(axis=2), axis=1) + np.log(sd).sum(axis=1)
    return out


def log_ehvi_grad(mean: np.ndarray, var: np.ndarray, dmean: np.ndarray, dvar: np.ndarray,
                  lower: np.ndarray, upper: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log EHVI and its gradient in x, from the posteriors (n, k) and their gradients (n, k, p).

    With T = s Δh: ∂T/∂m = -(Φ(zu) - Φ(zl)) and ∂T/∂s = φ(zu) - φ(zl); the boxes are weighted
    by their share of the sum (a softmax of their log volumes).
    """
    from scipy.special import log_ndtr, logsumexp

    sd = np.sqrt(var)
    log_dh, zu, zl, _, _ = _log_factors(mean, sd, lower, upper)
    per_box = log_dh.sum(axis=2)
    total = logsumexp(per_box, axis=1)
    weight = np.exp(per_box - total[:, None])[:, :, None]  # (n, B, 1)
    with np.errstate(invalid="ignore"):  # zl = -inf: Φ and φ there are 0, exp(-inf) = 0
        log_phi_u, log_phi_l = -0.5 * zu * zu - _C1, -0.5 * zl * zl - _C1
    dm = -(np.exp(log_ndtr(zu) - log_dh) - np.exp(log_ndtr(zl) - log_dh))
    ds = np.exp(log_phi_u - log_dh) - np.exp(log_phi_l - log_dh)
    dlog_m = (weight * dm).sum(axis=1) / sd  # ∂ log EHVI/∂m_j, (n, k)
    dlog_s = (weight * ds).sum(axis=1) / sd  # ∂T/∂s / T, the log s of every box included
    dsd = dvar / (2.0 * sd)[:, :, None]
    grad = np.einsum("nk,nkp->np", dlog_m, dmean) + np.einsum("nk,nkp->np", dlog_s, dsd)
    return total + np.log(sd).sum(axis=1), grad


def log_pof(mean: np.ndarray, var: np.ndarray, threshold: np.ndarray) -> np.ndarray:
    """log P(every constraint <= its threshold) for independent Gaussians (n, m).

    >>> float(np.exp(log_pof(np.zeros((1, 2)), np.ones((1, 2)), np.zeros(2)))[0])
    0.25
    """
    from scipy.special import log_ndtr

    out: np.ndarray = log_ndtr((threshold[None] - mean) / np.sqrt(var)).sum(axis=1)
    return out


def log_pof_grad(mean: np.ndarray, var: np.ndarray, dmean: np.ndarray, dvar: np.ndarray,
                 threshold: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """log P(feasible) and its gradient in x (posteriors (n, m), their gradients (n, m, p))."""
    from scipy.special import log_ndtr

    sd = np.sqrt(var)
    z = (threshold[None] - mean) / sd
    log_cdf = log_ndtr(z)
    ratio = np.exp(-0.5 * z * z - _C1 - log_cdf)  # φ(z)/Φ(z), finite in the tail
    dz_dm, dz_ds = -1.0 / sd, -z / sd
    dsd = dvar / (2.0 * sd)[:, :, None]
    grad = np.einsum("nm,nmp->np", ratio * dz_dm, dmean) + np.einsum("nm,nmp->np", ratio * dz_ds, dsd)
    return log_cdf.sum(axis=1), grad
