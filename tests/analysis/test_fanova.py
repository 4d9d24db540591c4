"""The exact fANOVA of one tree, against a brute-force sum over every cell and against Optuna's."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from sklearn.tree import DecisionTreeRegressor

from shoal.analysis._fanova import TreeFunction, decompose, leaf_boxes


def _tree(seed: int, n_features: int = 3) -> DecisionTreeRegressor:
    rng = np.random.default_rng(seed)
    x = rng.random((300, n_features))
    y = np.sin(4 * x[:, 0]) + x[:, 1] * x[:, 2 % n_features] + 0.3 * rng.standard_normal(300)
    return DecisionTreeRegressor(min_samples_leaf=5, random_state=seed).fit(x, y)


def _boxes(fitted: DecisionTreeRegressor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    tree = fitted.tree_
    return leaf_boxes(left=tree.children_left, right=tree.children_right, feature=tree.feature,
                      threshold=tree.threshold, value=tree.value[:, 0, 0], n_features=tree.n_features)


def _brute_force(fitted: DecisionTreeRegressor) -> tuple[float, np.ndarray, dict[tuple[int, int], float]]:
    """Predict at the midpoint of every cell of the full grid of thresholds; marginals by summing axes."""
    tree, d = fitted.tree_, fitted.tree_.n_features
    edges = [np.unique(np.concatenate([[0.0, 1.0], tree.threshold[tree.feature == j]])) for j in range(d)]
    widths = [np.diff(e) for e in edges]
    mids = np.array(list(itertools.product(*[(e[1:] + e[:-1]) / 2 for e in edges])))
    f = fitted.predict(mids).reshape([w.size for w in widths])
    weight = np.ones(f.shape)
    for j, w in enumerate(widths):
        weight = weight * w.reshape([-1 if k == j else 1 for k in range(d)])
    mean = float((weight * f).sum())
    total = float((weight * (f - mean) ** 2).sum())

    def marginal_variance(keep: tuple[int, ...]) -> float:
        drop = tuple(k for k in range(d) if k not in keep)
        m = (weight * f).sum(axis=drop) / weight.sum(axis=drop)
        return float((weight.sum(axis=drop) * (m - mean) ** 2).sum())

    main = np.array([marginal_variance((j,)) for j in range(d)])
    pairs = {(j, i): marginal_variance((j, i)) - main[j] - main[i]
             for j, i in itertools.combinations(range(d), 2)}
    return total, main, pairs


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_exact_decomposition_equals_the_sum_over_every_cell(seed: int) -> None:
    fitted = _tree(seed)
    total, main, pairs = _brute_force(fitted)
    got = decompose(*_boxes(fitted), pairs=list(pairs))
    assert got.total == pytest.approx(total, rel=1e-9)
    assert got.main == pytest.approx(main, rel=1e-9, abs=1e-12)
    assert got.pairs == pytest.approx(pairs, rel=1e-8, abs=1e-12)
    assert got.main.sum() + sum(got.pairs.values()) <= got.total * (1 + 1e-9)


def test_two_features_decompose_into_mains_and_their_pair_exactly() -> None:
    fitted = _tree(3, n_features=2)
    got = decompose(*_boxes(fitted), pairs=[(0, 1)])
    assert got.main.sum() + got.pairs[(0, 1)] == pytest.approx(got.total, rel=1e-9)


@pytest.mark.parametrize("seed", [4, 5])
def test_agrees_with_optunas_fanova_tree(seed: int) -> None:
    from optuna.importance._fanova._tree import _FanovaTree

    fitted = _tree(seed)
    theirs = _FanovaTree(fitted.tree_, np.array([[0.0, 1.0]] * 3))
    mine = TreeFunction(*_boxes(fitted))
    assert mine.total == pytest.approx(theirs.variance, rel=1e-9)
    for j in range(3):
        assert mine.main_effects()[j] == pytest.approx(theirs.get_marginal_variance(np.array([j])), rel=1e-9)
    joint = theirs.get_marginal_variance(np.array([0, 2]))
    main = mine.main_effects()
    assert mine.interaction(0, 2) == pytest.approx(joint - main[0] - main[2], rel=1e-8, abs=1e-12)


def test_boxes_tile_the_unit_cube() -> None:
    lo, hi, values = _boxes(_tree(6))
    assert np.prod(hi - lo, axis=1).sum() == pytest.approx(1.0)
    assert values.shape == (lo.shape[0],)
    assert (hi >= lo).all()


def test_a_constant_tree_has_no_variance() -> None:
    got = decompose(np.zeros((1, 2)), np.ones((1, 2)), np.array([0.7]), pairs=[(0, 1)])
    assert (got.total, got.main.tolist(), got.pairs) == (0.0, [0.0, 0.0], {(0, 1): 0.0})
