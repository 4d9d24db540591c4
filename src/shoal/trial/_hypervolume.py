"""Hypervolume: the volume a set of points dominates below a reference point (lower is better).

Computed by moocore's C code (O(n log n) in 2 and 3 objectives, HV4D+ in 4, its recursion above):
`benchmarks/bench_hypervolume.py` measured it at least as fast as a numpy sweep in 2D and one to
four orders of magnitude faster than Optuna 5.0's in 3+ objectives, with the same values
(`benchmarks/RESULTS.md`; the options not taken are in `docs/decisions/hypervolume.md`). moocore
is imported inside the functions, so `import shoal` stays free of it.
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
    import numpy as np

    pts, ref, nan = _inputs(points, reference, "hypervolume")
    if nan:  # a NaN row is not below the reference
        pts = pts[~np.isnan(pts).any(axis=1)]
    if len(pts) == 0:
        return 0.0
    if len(ref) == 1:
        return max(float(ref[0] - pts[:, 0].min()), 0.0)
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
    >>> hypervolume_contributions([[1, 1], [2, 2], [2, 3]], [3, 3]).tolist()  # [2, 2] covers [1, 1]'s share
    [3.0, 0.0, 0.0]
    """
    import numpy as np

    pts, ref, _ = _inputs(points, reference, "hypervolume_contributions")
    if len(ref) > 1 and len(pts) and (pts < ref).all():  # a flat all(): by row is slow on narrow arrays
        return _contributions(pts, ref)
    below = np.ones(len(pts), dtype=bool)
    for j, bound in enumerate(ref):  # a loop over objectives, for the same reason
        below &= pts[:, j] < bound
    out = np.zeros(len(pts))
    inside = pts[below]
    if len(inside) == 0:
        return out
    if len(ref) == 1:
        best = inside[:, 0].argmin()
        if np.count_nonzero(inside[:, 0] == inside[best, 0]) == 1:
            second = np.partition(inside[:, 0], 1)[1] if len(inside) > 1 else ref[0]
            out[np.flatnonzero(below)[best]] = second - inside[best, 0]
        return out
    out[below] = _contributions(inside, ref)
    return out


def _inputs(points: ArrayLike, reference: ArrayLike, owner: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """The points as an (n, k) float array and the reference, checked; whether a point holds NaN."""
    import numpy as np

    ref = np.asarray(reference, dtype=float)
    if ref.ndim != 1 or len(ref) == 0 or not np.isfinite(ref).all():
        raise config_error("reference", owner, "a non-empty vector of finite numbers", reference,
                           "Pass one finite bound per objective, e.g. the worst score seen plus a margin.")
    pts = np.asarray(points, dtype=float)
    if pts.size == 0:
        return pts.reshape(0, len(ref)), ref, False
    if pts.ndim != 2 or pts.shape[1] != len(ref):
        raise config_error("points", owner, f"an array of shape (n, {len(ref)}) to match the reference",
                           f"shape {pts.shape}", "Pass one row per point and one column per objective.")
    lowest = pts.min()  # NaN when any value is NaN, which may hide a -inf
    nan = bool(lowest != lowest)
    if lowest == float("-inf") or (nan and np.isneginf(pts).any()):  # moocore would crash on it
        raise config_error("points", owner, "finite, +inf or NaN", float("-inf"),
                           "Drop or clip the rows holding -inf.")
    return pts, ref, nan


# Below how many points moocore's exact contributions (ignore_dominated=False) beat the schemes in
# _contributions, by objectives: the crossovers fell between 30 and 100 points in 3 and 5
# objectives and between 100 and 300 in 4; in 2 there is none (docs/decisions/hypervolume.md).
_MOOCORE_EXACT_BELOW = {2: float("inf"), 3: 64, 4: 200}
_MOOCORE_EXACT_BELOW_MORE = 64


def _contributions(pts: np.ndarray, ref: np.ndarray) -> np.ndarray:
    """Exact contributions of points all strictly below the reference, in 2+ objectives.

    moocore's exact contributions are the fastest up to a size (all sizes in 2D); above it:
    3 objectives: moocore's HVC3D (O(n log n)) ignores dominated points, so a front point f that
    is the only one dominating some point is recomputed as hv(all) - hv(all without f), since
    that point covers part of f's share once f is gone. 4 and more: the box of f less the
    hypervolume of every other point clipped to that box, which counts dominated points by itself.
    """
    import moocore
    import numpy as np

    n, k = pts.shape
    if n < _MOOCORE_EXACT_BELOW.get(k, _MOOCORE_EXACT_BELOW_MORE):
        exact = np.array(moocore.hv_contributions(pts, ref=ref, ignore_dominated=False), dtype=float)
        exact[exact < 0.0] = 0.0  # rounding can leave -1e-17 where a share is ~0
        return exact
    if k == 3:
        fast = np.array(moocore.hv_contributions(pts, ref=ref), dtype=float)
        if np.asarray(moocore.is_nondominated(pts)).all():  # no dominated or duplicated point: exact
            fast[fast < 0.0] = 0.0
            return fast
    _, inverse, counts = np.unique(pts, axis=0, return_inverse=True, return_counts=True)
    lone = np.asarray(moocore.is_nondominated(pts, keep_weakly=True)) & (counts[inverse.ravel()] == 1)
    out = np.zeros(n)
    if k == 3:
        out[lone] = fast[lone]
        front, others = pts[lone], pts[~lone]
        owners: list[np.ndarray] = []  # the front points that alone dominate some other point
        step = max(1, 2**22 // max(1, len(front) * k))  # blocks of others: a few MB of booleans
        for start in range(0, len(others), step):
            # covers[i, j]: front point j weakly dominates the point others[start + i]
            covers = np.all(front[None, :, :] <= others[start : start + step, None, :], axis=2)
            single = covers.sum(axis=1) == 1
            owners.append(covers[single].argmax(axis=1))
        if owners and sum(len(o) for o in owners):
            total = float(moocore.hypervolume(pts, ref=ref))
            for f in np.flatnonzero(lone)[np.unique(np.concatenate(owners))]:
                out[f] = total - float(moocore.hypervolume(np.delete(pts, f, axis=0), ref=ref))
    else:
        for f in np.flatnonzero(lone):
            clipped = np.maximum(pts[f], np.delete(pts, f, axis=0))
            if k > 4:  # dropping dominated ones first: 3.5x faster at 1000 points in 5D, slower in 4D
                clipped = clipped[np.asarray(moocore.is_nondominated(clipped))]
            out[f] = float((ref - pts[f]).prod()) - float(moocore.hypervolume(clipped, ref=ref))
    return np.maximum(out, 0.0)  # rounding can leave -1e-17 where a share is ~0
