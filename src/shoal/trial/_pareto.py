"""Pure functions for several objectives: dominance, the Pareto front, ranks, crowding, scalarising.

Everything here works on sign-normalised scores (lower is better in every objective), so no
function takes a direction. Points are arrays of shape (n, k); numpy is imported where used, so
`import shoal` stays light.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shoal.trial._records import FrozenTrial, TrialState

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import ArrayLike

__all__ = ["chebyshev", "crowding_distance", "dominates", "feasible_first_ranks", "non_dominated_ranks",
           "normalise", "pareto_front", "pareto_mask"]


def dominates(a: Sequence[float], b: Sequence[float]) -> bool:
    """True when `a` is no worse than `b` in every objective and better in one (lower is better).

    >>> dominates((1.0, 2.0), (1.0, 3.0)), dominates((1.0, 2.0), (1.0, 2.0))
    (True, False)
    """
    return all(x <= y for x, y in zip(a, b, strict=True)) and any(x < y for x, y in zip(a, b, strict=True))


def _points(points: ArrayLike) -> np.ndarray:
    import numpy as np

    arr = np.asarray(points, dtype=float)
    if arr.ndim == 1:  # one objective, or no points at all
        return arr[:, None]
    return arr


def pareto_mask(points: ArrayLike) -> np.ndarray:
    """Which points no other point dominates (equal points are all kept).

    >>> pareto_mask([[1, 3], [2, 2], [2, 3], [3, 1]]).tolist()
    [True, True, False, True]
    """
    import numpy as np

    pts = _points(points)
    if len(pts) == 0:
        return np.zeros(0, dtype=bool)
    if pts.shape[1] == 2:  # sort and sweep: O(n log n) for the common case
        order = np.lexsort((pts[:, 1], pts[:, 0]))
        mask = np.zeros(len(pts), dtype=bool)
        best = np.inf
        i = 0
        while i < len(order):  # a run of equal first coordinates: its lowest second ones survive
            j = i
            while j < len(order) and pts[order[j], 0] == pts[order[i], 0]:
                j += 1
            low = pts[order[i], 1]
            if low < best:
                for m in order[i:j]:
                    mask[m] = pts[m, 1] == low
                best = low
            i = j
        return mask
    return np.asarray(~_dominators_of(pts, pts).any(axis=1))


def non_dominated_ranks(points: ArrayLike) -> np.ndarray:
    """The non-dominated rank of each point: 0 for the front, 1 for the front once it is removed...

    Deb's fast non-dominated sort: who dominates whom is computed once (O(n^2 k), in blocks),
    then fronts are peeled by counting the dominators left.

    >>> non_dominated_ranks([[1, 3], [2, 2], [2, 3], [3, 3], [3, 1]]).tolist()
    [0, 0, 1, 2, 0]
    """
    import numpy as np

    pts = _points(points)
    n = len(pts)
    ranks = np.full(n, -1, dtype=int)
    if n == 0:
        return ranks
    dominated_by = np.zeros((n, n), dtype=bool)  # [i, j]: j dominates i
    block = max(1, 2**22 // max(1, n * pts.shape[1]))  # bound the (block, n, k) temporaries
    for start in range(0, n, block):
        dominated_by[start:start + block] = _dominators_of(pts[start:start + block], pts)
    left = dominated_by.sum(axis=1)
    front = np.flatnonzero(left == 0)
    rank = 0
    while len(front):
        ranks[front] = rank
        left[front] = -1  # placed
        left -= dominated_by[:, front].sum(axis=1)
        front = np.flatnonzero(left == 0)
        rank += 1
    return ranks


def _dominators_of(rows: np.ndarray, pts: np.ndarray) -> np.ndarray:
    """Matrix D with D[i, j] True when pts[j] dominates rows[i]."""
    import numpy as np

    leq = np.ones((len(rows), len(pts)), dtype=bool)
    lt = np.zeros((len(rows), len(pts)), dtype=bool)
    for j in range(pts.shape[1]):  # one objective at a time: 20x faster than all/any on axis 2
        column, row = pts[None, :, j], rows[:, None, j]
        leq &= column <= row
        lt |= column < row
    return leq & lt


def crowding_distance(points: ArrayLike) -> np.ndarray:
    """NSGA-II's crowding distance within one front: larger is lonelier; the extremes are infinite.

    >>> crowding_distance([[0, 4], [1, 2], [2, 1], [4, 0]]).tolist()
    [inf, 1.25, 1.25, inf]
    """
    import numpy as np

    pts = _points(points)
    n, k = pts.shape
    distance = np.zeros(n)
    if n <= 2:
        return np.full(n, np.inf)
    for j in range(k):
        order = np.argsort(pts[:, j], kind="stable")
        col = pts[order, j]
        span = col[-1] - col[0]
        distance[order[0]] = distance[order[-1]] = np.inf
        if span > 0:
            distance[order[1:-1]] += (col[2:] - col[:-2]) / span
    return distance


def normalise(points: ArrayLike, *, ideal: ArrayLike | None = None,
              nadir: ArrayLike | None = None) -> np.ndarray:
    """Scale each objective to [0, 1] between `ideal` and `nadir` (default: the points' min and max).

    An objective whose points are all equal maps to 0.

    >>> normalise([[1, 10], [3, 20]]).tolist()
    [[0.0, 0.0], [1.0, 1.0]]
    """
    import numpy as np

    pts = _points(points)
    lo = pts.min(axis=0) if ideal is None else np.asarray(ideal, dtype=float)
    hi = pts.max(axis=0) if nadir is None else np.asarray(nadir, dtype=float)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    return np.asarray((pts - lo) / span)


def chebyshev(points: ArrayLike, weights: ArrayLike, *, rho: float = 0.05) -> np.ndarray:
    """ParEGO's augmented Chebyshev scalarisation: max_j w_j f_j + rho * sum_j w_j f_j.

    Apply it to normalised points; every Pareto-optimal point minimises it for some weights.

    >>> chebyshev([[0.2, 0.8], [0.5, 0.5]], [0.5, 0.5], rho=0.0).tolist()
    [0.4, 0.25]
    """
    import numpy as np

    pts = _points(points)
    w = np.asarray(weights, dtype=float)
    weighted = pts * w
    return np.asarray(weighted.max(axis=1) + rho * weighted.sum(axis=1))


def feasible_first_ranks(trials: Sequence[FrozenTrial]) -> list[int]:
    """A rank per trial (lower is better): feasible trials by non-dominated rank, then the others.

    Trials must have scores (`is_usable()`); those violating their constraints rank after every
    feasible one, in order of violation (equal violations share a rank). With one objective the
    non-dominated rank is the rank of the score.
    """
    import numpy as np

    ranks = [0] * len(trials)
    feasible = [i for i, t in enumerate(trials) if t.is_feasible]
    worst = -1
    if feasible:
        scores = np.array([_scores(trials[i]) for i in feasible], dtype=float)
        for i, r in zip(feasible, non_dominated_ranks(scores).tolist(), strict=True):
            ranks[i] = int(r)
            worst = max(worst, int(r))
    others = sorted({trials[i].violation for i in range(len(trials)) if not trials[i].is_feasible})
    place = {v: worst + 1 + n for n, v in enumerate(others)}
    for i, t in enumerate(trials):
        if not t.is_feasible:
            ranks[i] = place[t.violation]
    return ranks


def pareto_front(trials: Sequence[FrozenTrial]) -> list[FrozenTrial]:
    """The completed trials no other dominates, by number: a study's best trials.

    Only feasible trials count when constraints were recorded; a study whose every completed
    trial violates a constraint has an empty front. With one objective the front is the trials
    that share the best score.

    >>> a = FrozenTrial(0, 0, TrialState.COMPLETE, values=(0.9, 5.0), signs=(-1.0, 1.0))
    >>> b = FrozenTrial(1, 1, TrialState.COMPLETE, values=(0.8, 1.0), signs=(-1.0, 1.0))
    >>> c = FrozenTrial(2, 2, TrialState.COMPLETE, values=(0.7, 2.0), signs=(-1.0, 1.0))
    >>> [t.number for t in pareto_front([a, b, c])]
    [0, 1]
    """
    done = [t for t in trials if t.state is TrialState.COMPLETE and t.is_usable() and t.is_feasible]
    if not done:
        return []
    mask = pareto_mask([_scores(t) for t in done])
    return sorted((t for t, keep in zip(done, mask.tolist(), strict=True) if keep), key=lambda t: t.number)


def _scores(trial: FrozenTrial) -> Any:
    scores = trial.scores
    assert scores is not None  # callers pass usable trials
    return scores
