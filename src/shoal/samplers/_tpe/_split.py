"""The good/bad split of TPE, for one objective or several, feasible trials first.

With one objective the good group is the best scores; with several (MOTPE: Ozaki et al. 2020,
2022) it is filled front by front (non-dominated rank), the last front that does not fit whole
chosen by greedy hypervolume subset selection, and its kernels are weighted by each point's
hypervolume contribution. Feasible trials always come first: an infeasible one joins the good
group only when there are too few feasible ones, in order of violation. Pure numpy functions
over sign-normalised scores (lower is better); non-finite rows (failed, running, pruned without
values) are never good.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from shoal.samplers._tpe._parzen import trial_weights
from shoal.trial import hypervolume, hypervolume_contributions, normalise, pareto_mask

__all__ = ["REFERENCE", "WEIGHT_FLOOR", "Split", "contribution_weights", "greedy_subset",
           "split"]

REFERENCE = 1.1  # the hypervolume reference in normalised space: 10 % beyond the worst point
# The least weight of a good kernel, and that of a point adding no hypervolume (dominated,
# infeasible). At 0.1 the front's ends (thin boxes) kept little mass; 0.5 gave a larger mean
# hypervolume on ZDT1, ZDT2, DTLZ2 (100 evaluations, 5 seeds; within noise on ZDT3).
WEIGHT_FLOOR = 0.5


@dataclass(frozen=True)
class Split:
    """Row indices of the good (`below`) and bad (`above`) groups, each in trial order, and the
    kernel weights of the good group's rows."""

    below: np.ndarray
    above: np.ndarray
    weights: np.ndarray


def split(scores: np.ndarray, violations: np.ndarray, n_good: int) -> Split:
    """The good group: up to `n_good` rows with finite scores, feasible ones (violation 0) first.

    `scores` has one column per objective. One objective: feasible rows by score, then
    infeasible ones by violation (ties keep trial order); weights are `trial_weights`. Several:
    feasible rows by non-dominated rank, the last partial front by `greedy_subset`, then
    infeasible ones by violation; weights are `contribution_weights`.

    >>> s = split(np.array([[3.0], [1.0], [np.inf], [2.0]]), np.zeros(4), 2)
    >>> s.below.tolist(), s.above.tolist()
    ([1, 3], [0, 2])
    """
    finite = np.isfinite(scores).all(axis=1)
    n_good = min(n_good, int(finite.sum()))
    feasible = finite & (violations <= 0.0)
    if scores.shape[1] == 1:
        # By class (0 feasible, 1 infeasible, 2 not finite), then score or violation; lexsort is
        # stable, so without constraints this is the argsort of the score TPE always used.
        cls = np.where(feasible, 0, np.where(finite, 1, 2))
        key = np.where(feasible, scores[:, 0], np.where(finite, violations, np.inf))
        order = np.lexsort((key, cls))
        below = np.sort(order[:n_good])
        return Split(below, np.sort(order[n_good:]), trial_weights(len(below)))
    good = _by_rank(scores, np.flatnonzero(feasible), n_good)
    n_feasible = len(good)
    if n_feasible < n_good:
        infeasible = np.flatnonzero(finite & ~feasible)
        order = infeasible[np.argsort(violations[infeasible], kind="stable")]
        good = np.concatenate([good, order[:n_good - n_feasible]]).astype(int)
    weights = np.full(len(good), WEIGHT_FLOOR)
    weights[:n_feasible] = contribution_weights(scores[good[:n_feasible]])
    order = np.argsort(good, kind="stable")
    below = good[order]
    above = np.setdiff1d(np.arange(len(scores)), below)
    return Split(below, above, weights[order])


def _by_rank(scores: np.ndarray, rows: np.ndarray, n_good: int) -> np.ndarray:
    """Up to `n_good` of `rows`, front by front; the front that overflows by `greedy_subset`."""
    chosen: list[np.ndarray] = []
    n_chosen, left = 0, rows
    while n_chosen < n_good and len(left):
        mask = pareto_mask(scores[left])
        front = left[mask]
        if n_chosen + len(front) > n_good:
            front = front[greedy_subset(scores[front], n_good - n_chosen)]
        chosen.append(front)
        n_chosen += len(front)
        left = left[~mask]
    return np.concatenate(chosen).astype(int) if chosen else np.empty(0, dtype=int)


def greedy_subset(points: np.ndarray, size: int) -> np.ndarray:
    """Indices of `size` points chosen greedily for hypervolume (a 1 - 1/e approximation).

    The points are normalised to [0, 1] per objective, the reference is `REFERENCE` in every
    objective. Each step takes the point that adds the most to what is already chosen. By
    submodularity a point's gain can only shrink, and is at most what it adds beside the last
    point chosen alone (two boxes: a closed form for all points at once), so only the points
    whose bound could still win are recomputed (lazy greedy, as Optuna's HSSP). Ties go to the
    earlier point.

    >>> greedy_subset(np.array([[0.0, 1.0], [0.3, 0.5], [1.0, 0.0]]), 2).tolist()
    [1, 2]
    """
    pts = normalise(points)
    ref = np.full(pts.shape[1], REFERENCE)
    box = np.prod(ref - pts, axis=1)
    gain = box.copy()  # each alone: exact now, an upper bound later
    exact = np.ones(len(pts), dtype=bool)
    free = np.ones(len(pts), dtype=bool)
    chosen: list[int] = []
    volume = 0.0
    while len(chosen) < size:
        while True:
            best = int(np.argmax(np.where(free, gain, -np.inf)))
            if exact[best]:
                break
            gain[best] = hypervolume(pts[[*chosen, best]], ref) - volume
            exact[best] = True
        chosen.append(best)
        free[best] = False
        volume += float(gain[best])
        exact[:] = False
        beside = box - np.prod(ref - np.maximum(pts, pts[best]), axis=1)
        np.minimum(gain, beside, out=gain)
    return np.array(chosen, dtype=int)


def contribution_weights(points: np.ndarray) -> np.ndarray:
    """Kernel weights of good points: their hypervolume contributions over the largest one.

    Contributions are exclusive (what each point alone adds to the group's hypervolume), in the
    group normalised to [0, 1] per objective with the reference at `REFERENCE`, so no objective's
    units dominate; no weight is below `WEIGHT_FLOOR`, the weight of points that add nothing
    (dominated by or equal to another), so a front's ends and its second rank still count.

    >>> w = contribution_weights(np.array([[0.0, 1.0], [0.2, 0.4], [0.5, 0.1], [1.0, 0.0],
    ...                                    [1.0, 1.0]]))
    >>> np.round(w, 9).tolist()
    [0.5, 1.0, 0.833333333, 0.5, 0.5]
    """
    if len(points) <= 1:
        return np.ones(len(points))
    pts = normalise(points)
    contributions = hypervolume_contributions(pts, np.full(pts.shape[1], REFERENCE))
    top = float(contributions.max())
    if not top > 0.0:
        return np.ones(len(points))
    return np.asarray(np.maximum(contributions / top, WEIGHT_FLOOR))
