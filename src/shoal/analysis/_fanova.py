"""The exact functional ANOVA of a regression tree (Hutter, Hoos and Leyton-Brown, ICML 2014).

A fitted tree cuts the unit box [0, 1]^d into axis-aligned leaf boxes, each predicting one value,
so every marginal of the tree's function is a step function whose steps lie on the tree's own
thresholds, and its variance is a finite weighted sum: no sampling, no grid. For a set S of
features, the marginal at x_S averages the tree over every other feature:

    f_S(x_S) = sum over leaves l with x_S in box_l of  value_l * prod_{i not in S} width_l[i]

We compute it for one feature (a 1-D difference array over that feature's thresholds) and for a
pair (a 2-D one), both in O(leaves + cells), and the variance of f_S under the uniform measure of
the box. fANOVA's main effect of j is Var(f_j); the interaction of (j, i) is what the pair explains
beyond both main effects, Var(f_ji) - Var(f_j) - Var(f_i). Divided by the tree's total variance,
these are the fractions of the decomposition (main effects, pairs and higher-order terms sum to 1).

The tree is given as arrays (scikit-learn's `tree_` layout) with thresholds already mapped into the
coordinates of the measure (`_importances` does that: log scales, categories, inactive values).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np

__all__ = ["TreeDecomposition", "TreeFunction", "decompose", "leaf_boxes"]


def leaf_boxes(*, left: np.ndarray, right: np.ndarray, feature: np.ndarray, threshold: np.ndarray,
               value: np.ndarray, n_features: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The box and value of every leaf of a binary tree over [0, 1]^d, one level at a time.

    Args:
        left, right: Child node indices (-1 for a leaf), node 0 the root.
        feature: Split feature per node (< 0 for a leaf).
        threshold: Split point per node, in measure coordinates (left child: x <= threshold).
        value: Prediction per node (only leaves' are read).
        n_features: d.

    Returns:
        (lo, hi, values): lower and upper corners (leaves x d) and each leaf's value.

    >>> import numpy as np
    >>> lo, hi, v = leaf_boxes(left=np.array([1, -1, -1]), right=np.array([2, -1, -1]),
    ...                        feature=np.array([0, -2, -2]), threshold=np.array([0.25, 0.0, 0.0]),
    ...                        value=np.array([0.0, 1.0, 3.0]), n_features=2)
    >>> lo.tolist(), hi.tolist(), v.tolist()
    ([[0.0, 0.0], [0.25, 0.0]], [[0.25, 1.0], [1.0, 1.0]], [1.0, 3.0])
    """
    import numpy as np

    nodes = np.zeros(1, dtype=np.intp)
    lo, hi = np.zeros((1, n_features)), np.ones((1, n_features))
    out_nodes: list[np.ndarray] = []
    out_lo: list[np.ndarray] = []
    out_hi: list[np.ndarray] = []
    while nodes.size:  # breadth-first, each level in a few vectorised steps
        split = feature[nodes]
        leaf = split < 0
        out_nodes.append(nodes[leaf])
        out_lo.append(lo[leaf])
        out_hi.append(hi[leaf])
        inner = ~leaf
        nodes, lo, hi, split = nodes[inner], lo[inner], hi[inner], split[inner]
        rows = np.arange(nodes.size)
        cut = threshold[nodes]
        left_hi, right_lo = hi.copy(), lo.copy()
        # min/max keep a snapped threshold inside its parent's box (a mapping may merge thresholds)
        left_hi[rows, split] = np.clip(cut, lo[rows, split], hi[rows, split])
        right_lo[rows, split] = left_hi[rows, split]
        nodes = np.concatenate([left[nodes], right[nodes]])
        lo = np.concatenate([lo, right_lo])
        hi = np.concatenate([left_hi, hi])
    leaves = np.concatenate(out_nodes)
    return np.concatenate(out_lo), np.concatenate(out_hi), np.asarray(value, dtype=float)[leaves]


@dataclass(frozen=True)
class TreeDecomposition:
    """Variances of one tree's function: total, each feature's main effect, each pair's interaction.

    Attributes:
        total: Variance of the tree's prediction over the unit box.
        main: Variance of each feature's marginal (one per feature).
        pairs: (j, i) -> variance of the pair's marginal beyond both main effects (clipped at 0).
    """

    total: float
    main: np.ndarray
    pairs: dict[tuple[int, int], float]


class TreeFunction:
    """A piecewise-constant function given by disjoint boxes covering [0, 1]^d, and its fANOVA.

    Each feature's cells are computed once, so the main effects and then the pairs among the
    largest of them cost one pass each.
    """

    def __init__(self, lo: np.ndarray, hi: np.ndarray, values: np.ndarray) -> None:
        import numpy as np

        self._values = values
        self._width = hi - lo
        volume = np.prod(self._width, axis=1)
        self.mean = float(volume @ values)
        total = float(volume @ (values - self.mean) ** 2)
        # a constant tree whose volumes sum to 1 only up to rounding: its variance is 0, not noise
        self.total = total if total > 1e-12 * float(np.abs(values).max(initial=0.0)) ** 2 else 0.0
        self._cells = [_cells(lo[:, j], hi[:, j]) for j in range(lo.shape[1])]
        self._main: np.ndarray | None = None

    def main_effects(self) -> np.ndarray:
        """Variance of each feature's marginal."""
        import numpy as np

        if self._main is None:
            main = np.zeros(len(self._cells))
            for j, (bounds, first, stop) in enumerate(self._cells):
                weight = self._values * _other_widths(self._width, (j,))
                k = bounds.size - 1
                marginal = np.cumsum(np.bincount(first, weight, k + 1) - np.bincount(stop, weight, k + 1))[:k]
                main[j] = float(np.diff(bounds) @ (marginal - self.mean) ** 2)
            self._main = main
        return self._main

    def interaction(self, j: int, i: int) -> float:
        """Variance of the (j, i) marginal beyond both main effects (clipped at 0 against rounding)."""
        import numpy as np

        (bj, aj, sj), (bi, ai, si) = self._cells[j], self._cells[i]
        kj, ki = bj.size - 1, bi.size - 1
        weight = self._values * _other_widths(self._width, (j, i))
        corners = np.zeros((kj + 1) * (ki + 1))  # a 2-D difference array: +/- at each box's corners
        for rows, cols, sign in ((aj, ai, 1.0), (sj, ai, -1.0), (aj, si, -1.0), (sj, si, 1.0)):
            corners += sign * np.bincount(rows * (ki + 1) + cols, weight, corners.size)
        marginal = corners.reshape(kj + 1, ki + 1).cumsum(axis=0).cumsum(axis=1)[:kj, :ki]
        joint = float(np.diff(bj) @ (marginal - self.mean) ** 2 @ np.diff(bi))
        main = self.main_effects()
        return max(0.0, joint - float(main[j]) - float(main[i]))


def decompose(lo: np.ndarray, hi: np.ndarray, values: np.ndarray, *,
              pairs: Sequence[tuple[int, int]] = ()) -> TreeDecomposition:
    """fANOVA variances of a piecewise-constant function given by disjoint boxes covering [0, 1]^d.

    >>> import numpy as np
    >>> lo = np.array([[0.0, 0.0], [0.5, 0.0], [0.0, 0.5], [0.5, 0.5]])
    >>> d = decompose(lo, lo + 0.5, np.array([1.0, -1.0, -1.0, 1.0]), pairs=[(0, 1)])
    >>> d.total, d.main.tolist(), d.pairs   # a checkerboard: a pure interaction
    (1.0, [0.0, 0.0], {(0, 1): 1.0})
    """
    tree = TreeFunction(lo, hi, values)
    return TreeDecomposition(total=tree.total, main=tree.main_effects(),
                             pairs={(j, i): tree.interaction(j, i) for j, i in pairs})


def _cells(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One feature's cell boundaries (every leaf edge) and each leaf's first and past-last cell."""
    import numpy as np

    bounds = np.unique(np.concatenate([lo, hi, [0.0, 1.0]]))
    return bounds, np.searchsorted(bounds, lo), np.searchsorted(bounds, hi)


def _other_widths(width: np.ndarray, features: tuple[int, ...]) -> np.ndarray:
    """Product of each leaf's widths over every feature not in `features` (no division: widths may be 0)."""
    import numpy as np

    keep = np.ones(width.shape[1], dtype=bool)
    keep[list(features)] = False
    return np.asarray(np.prod(width[:, keep], axis=1), dtype=float)
