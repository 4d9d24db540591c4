"""Hypervolume: the volume a set of points dominates below a reference point (lower is better).

Two objectives: an exact O(n log n) sweep in numpy. Three or more: moocore's C code (HV3D+, HV4D+
and their recursive extension), which `benchmarks/bench_hypervolume.py` measured one to four
orders of magnitude faster than a numpy implementation and Optuna 5.0's, with the same values
(`benchmarks/RESULTS.md`; the rejected options are in `docs/decisions/hypervolume.md`). moocore is
imported inside the functions, so `import shoal` stays free of it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from shoal._validate import config_error

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike

__all__ = ["hypervolume", "hypervolume_contributions"]


def hypervolume(points: ArrayLike, reference: ArrayLike) -> float:
    """The volume dominated by `points` and bounded by `reference`; points beyond it add nothing.

    Args:
        points: shape (n, k), lower is better in every objective; a row that is not strictly
            below `reference` in every objective (NaN included) adds nothing.
        reference: shape (k,), finite.

    Returns:
        The Lebesgue measure of the union of the boxes [point, reference].

    Raises:
        ConfigError: `reference` is not finite, the shapes disagree, or a point is -inf.

    >>> hypervolume([[1, 3], [2, 2], [3, 1]], [4, 4])
    6.0
    >>> hypervolume([[0, 0, 0], [0.5, 0.5, 0.5]], [1, 1, 1])
    1.0
    """
    pts, ref, _ = _inputs(points, reference, "hypervolume")
    if len(pts) == 0:
        return 0.0
    if len(pts) == 1:
        return float((ref - pts[0]).prod())
    if len(ref) == 1:
        return float(ref[0] - pts[:, 0].min())
    if len(ref) == 2:
        return _hv2d(pts, ref)
    import moocore

    return float(moocore.hypervolume(pts, ref=ref))


def hypervolume_contributions(points: ArrayLike, reference: ArrayLike) -> np.ndarray:
    """What each point alone adds: hypervolume of all minus hypervolume without it.

    Exact by that definition: dominated and duplicated points contribute 0, and a dominated point
    that only one point dominates takes its share back from that point's contribution.

    Args:
        points: shape (n, k), lower is better; rows not strictly below `reference` contribute 0.
        reference: shape (k,), finite.

    Returns:
        An array of n non-negative floats, in the order of `points`.

    Raises:
        ConfigError: as `hypervolume`.

    >>> hypervolume_contributions([[1, 3], [2, 2], [3, 1], [2, 2]], [4, 4]).tolist()
    [1.0, 0.0, 1.0, 0.0]
    """
    import numpy as np

    pts, ref, below = _inputs(points, reference, "hypervolume_contributions")
    inside = np.flatnonzero(below)
    out = np.zeros(len(below))
    if len(pts) == 0:
        return out
    if len(pts) == 1:
        out[inside] = (ref - pts[0]).prod()
    elif len(ref) == 1:
        best = pts[:, 0].argmin()
        if np.count_nonzero(pts[:, 0] == pts[best, 0]) == 1:
            out[inside[best]] = np.partition(pts[:, 0], 1)[1] - pts[best, 0]
    elif len(ref) == 2:
        out[inside] = _contributions2d(pts, ref)
    else:
        out[inside] = _contributions_nd(pts, ref)
    return out


def _inputs(points: ArrayLike, reference: ArrayLike, owner: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows strictly below the reference as floats, the reference, and which rows those are."""
    import numpy as np

    ref = np.asarray(reference, dtype=float)
    if ref.ndim != 1 or len(ref) == 0 or not np.all(np.isfinite(ref)):
        raise config_error("reference", owner, "a non-empty vector of finite numbers", reference,
                           "Pass one finite bound per objective, e.g. the worst score seen plus a margin.")
    pts = np.asarray(points, dtype=float)
    if pts.size == 0:
        pts = pts.reshape(0, len(ref))
    if pts.ndim != 2 or pts.shape[1] != len(ref):
        raise config_error("points", owner, f"an array of shape (n, {len(ref)}) to match the reference",
                           f"shape {pts.shape}", "Pass one row per point and one column per objective.")
    if np.any(np.isneginf(pts)):
        raise config_error("points", owner, "finite or +inf", float("-inf"),
                           "Drop or clip the rows with -inf: their volume would be infinite.")
    below = np.all(pts < ref, axis=1)
    return (pts if below.all() else pts[below]), ref, below


def _hv2d(pts: np.ndarray, ref: np.ndarray) -> float:
    """Sweep by x (then y): each point adds the slab between its y and the lowest y before it."""
    import numpy as np

    order = np.lexsort((pts[:, 1], pts[:, 0]))
    x, y = pts[order, 0], pts[order, 1]
    lowest_before = np.minimum.accumulate(np.concatenate(([ref[1]], y[:-1])))
    return float(np.dot(ref[0] - x, np.maximum(lowest_before - y, 0.0)))


def _contributions2d(pts: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Each front point's rectangle between its neighbours, less what its own dominated points cover.

    A dominated point inside front point f's rectangle is dominated by f alone, so removing f
    leaves it covering part of that rectangle; a point outside every rectangle changes nothing.
    """
    import numpy as np

    n = len(pts)
    order = np.lexsort((pts[:, 1], pts[:, 0]))
    x, y = pts[order, 0], pts[order, 1]
    lowest_before = np.minimum.accumulate(np.concatenate(([np.inf], y[:-1])))
    front = lowest_before > y  # the first copy of each non-dominated value, by increasing x
    copied = np.zeros(n, dtype=bool)
    copied[:-1] = (x[1:] == x[:-1]) & (y[1:] == y[:-1])
    fx, fy = x[front], y[front]
    right = np.append(fx[1:], ref[0])  # the next front point's x bounds the rectangle
    top = np.insert(fy[:-1], 0, ref[1])  # the previous one's y
    rect = (right - fx) * (top - fy)
    rest = np.flatnonzero(~front)
    if len(rest):
        owner = np.searchsorted(fx, x[rest], side="right") - 1
        inside = y[rest] < top[owner]
        rest, owner = rest[inside], owner[inside]
        rect -= _grouped_hv2d(x[rest], y[rest], owner, right, top)
    values = np.where(copied[front], 0.0, rect)
    out = np.zeros(n)
    out[order[front]] = values
    return out


def _grouped_hv2d(x: np.ndarray, y: np.ndarray, group: np.ndarray, right: np.ndarray,
                  top: np.ndarray) -> np.ndarray:
    """The 2D hypervolume of each group of points, group g bounded by (right[g], top[g])."""
    import numpy as np

    m = len(x)
    if m == 0:
        return np.zeros(len(right))
    order = np.lexsort((y, x, group))
    x, y, group = x[order], y[order], group[order]
    # A running minimum of y that restarts at each group: later groups get keys below every
    # earlier one (integer ranks, so no rounding), and the minimum of keys restarts there.
    ranks = np.empty(m, dtype=np.int64)
    ranks[np.argsort(y, kind="stable")] = np.arange(m)
    keys = ranks - group.astype(np.int64) * (m + 1)
    running = np.minimum.accumulate(keys)
    same = np.zeros(m, dtype=bool)
    same[1:] = group[1:] == group[:-1]
    before = np.empty(m, dtype=np.int64)
    before[0] = 0
    before[1:] = running[:-1] + group[1:].astype(np.int64) * (m + 1)
    lowest_before = np.where(same, np.sort(y)[np.clip(before, 0, m - 1)], top[group])
    gains = (right[group] - x) * np.maximum(lowest_before - y, 0.0)
    return np.bincount(group, weights=gains, minlength=len(right))


def _contributions_nd(pts: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Exact contributions in 3+ objectives; only non-dominated, unduplicated points have one.

    3 objectives: moocore's HVC3D (O(n log n)) ignores dominated points, so a front point f that
    is the only one dominating some point is recomputed as hv(all) - hv(all without f), since
    that point covers part of f's share once f is gone. 4 and more: moocore's own contributions
    were 10-30x slower at 1000 points than the box of f less the hypervolume of every other point
    clipped to that box, which counts dominated points by itself.
    """
    import moocore
    import numpy as np

    n, k = pts.shape
    _, inverse, counts = np.unique(pts, axis=0, return_inverse=True, return_counts=True)
    lone = np.asarray(moocore.is_nondominated(pts, keep_weakly=True)) & (counts[inverse.ravel()] == 1)
    out = np.zeros(n)
    if k == 3:
        out[lone] = np.asarray(moocore.hv_contributions(pts, ref=ref), dtype=float)[lone]
        others = np.flatnonzero(~lone)
        # covers[i, j]: the front point lone[j] weakly dominates the point others[i]
        covers = np.all(pts[lone][None, :, :] <= pts[others][:, None, :], axis=2)
        single = covers.sum(axis=1) == 1
        if single.any():
            total = float(moocore.hypervolume(pts, ref=ref))
            for f in np.flatnonzero(lone)[np.unique(covers[single].argmax(axis=1))]:
                out[f] = total - float(moocore.hypervolume(np.delete(pts, f, axis=0), ref=ref))
    else:
        for f in np.flatnonzero(lone):
            clipped = np.maximum(pts[f], np.delete(pts, f, axis=0))
            if k > 4:  # moocore's 5D+ recursion does not drop dominated points early; 4D+ does
                clipped = clipped[np.asarray(moocore.is_nondominated(clipped))]
            out[f] = float((ref - pts[f]).prod()) - float(moocore.hypervolume(clipped, ref=ref))
    return np.maximum(out, 0.0)  # rounding can leave -1e-17 where a share is ~0
