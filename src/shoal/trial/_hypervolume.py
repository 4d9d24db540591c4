"""Hypervolume: the volume a set of points dominates below a reference point (lower is better)."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike

__all__ = ["hypervolume", "hypervolume_contributions"]


def hypervolume(points: ArrayLike, reference: ArrayLike) -> float:
    """The volume dominated by `points` and bounded by `reference`; points beyond it add nothing.

    >>> hypervolume([[1, 3], [2, 2], [3, 1]], [4, 4])
    6.0
    """
    import numpy as np

    pts = np.asarray(points, dtype=float).reshape(-1, len(np.atleast_1d(reference)))
    ref = np.asarray(reference, dtype=float)
    pts = pts[np.all(pts < ref, axis=1)]
    if len(pts) == 0:
        return 0.0
    return float(_volume(pts, ref))


def hypervolume_contributions(points: ArrayLike, reference: ArrayLike) -> np.ndarray:
    """What each point alone adds: hypervolume of all minus hypervolume without it.

    >>> hypervolume_contributions([[1, 3], [2, 2], [3, 1]], [4, 4]).tolist()
    [1.0, 1.0, 1.0]
    """
    import numpy as np

    pts = np.asarray(points, dtype=float).reshape(-1, len(np.atleast_1d(reference)))
    total = hypervolume(pts, reference)
    return np.array([total - hypervolume(np.delete(pts, i, axis=0), reference) for i in range(len(pts))])


def _volume(pts: np.ndarray, ref: np.ndarray) -> float:
    import numpy as np

    k = pts.shape[1]
    if k == 1:
        return float(ref[0] - pts[:, 0].min())
    if k == 2:
        order = np.argsort(pts[:, 0], kind="stable")
        volume, best = 0.0, ref[1]
        for x, y in pts[order]:
            if y < best:
                volume += (ref[0] - x) * (best - y)
                best = y
        return float(volume)
    # Slice along the last objective: between consecutive levels the dominated region is the
    # (k-1)-dimensional volume of the points at or below the level.
    order = np.argsort(pts[:, -1], kind="stable")
    pts = pts[order]
    volume = 0.0
    for i in range(len(pts)):
        upper = pts[i + 1, -1] if i + 1 < len(pts) else ref[-1]
        height = upper - pts[i, -1]
        if height > 0:
            volume += height * _volume(pts[: i + 1, :-1], ref[:-1])
    return float(volume)
