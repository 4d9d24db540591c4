"""Hypervolume and contributions against hand-computed volumes and two brute-force references.

The references: inclusion-exclusion over every subset of points (any coordinates, n <= 8), and
counting the unit cells of an integer grid that some point dominates (integer coordinates). The
contributions are checked against their definition, hv(all) - hv(all without i), by brute force.
"""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import shoal
from shoal.exceptions import ConfigError
from shoal.trial import hypervolume, hypervolume_contributions

PROPERTY = settings(max_examples=120, deadline=None)
GRID = 6  # integer coordinates in [0, GRID), reference GRID in every objective


def inclusion_exclusion(points: np.ndarray, reference: np.ndarray) -> float:
    """Volume of the union of boxes [p, reference] as the alternating sum over subsets."""
    boxes = [p for p in points if np.all(p < reference)]
    total = 0.0
    for size in range(1, len(boxes) + 1):
        for subset in itertools.combinations(boxes, size):
            total += (-1) ** (size + 1) * float(np.prod(reference - np.max(subset, axis=0)))
    return total


def grid_count(points: np.ndarray, k: int) -> int:
    """How many unit cells of [0, GRID)^k some point dominates (the exact volume for integer points)."""
    cells = np.array(list(itertools.product(range(GRID), repeat=k)), dtype=float)
    if len(points) == 0:
        return 0
    covered = np.any(np.all(points[None, :, :] <= cells[:, None, :], axis=2), axis=1)
    return int(covered.sum())


def brute_contributions(points: np.ndarray, reference: np.ndarray) -> np.ndarray:
    total = inclusion_exclusion(points, reference)
    return np.array([total - inclusion_exclusion(np.delete(points, i, axis=0), reference)
                     for i in range(len(points))])


def integer_points(k: int, max_size: int = 8) -> st.SearchStrategy[np.ndarray]:
    row = st.lists(st.integers(0, GRID), min_size=k, max_size=k)  # GRID itself: on the reference
    return st.lists(row, min_size=0, max_size=max_size).map(lambda rows: np.array(rows, float).reshape(-1, k))


def float_points(k: int) -> st.SearchStrategy[np.ndarray]:
    value = st.floats(0.0, 1.2, allow_nan=False)  # some beyond the reference 1
    row = st.lists(value, min_size=k, max_size=k)
    return st.lists(row, min_size=0, max_size=7).map(lambda rows: np.array(rows, float).reshape(-1, k))


objectives = st.sampled_from([2, 3, 4])


# --- hand-computed --------------------------------------------------------------------------------

def test_a_2d_staircase() -> None:
    assert hypervolume([[1, 3], [2, 2], [3, 1]], [4, 4]) == 6.0
    assert hypervolume_contributions([[1, 3], [2, 2], [3, 1]], [4, 4]).tolist() == [1.0, 1.0, 1.0]
    # a step behind the staircase is dominated: no volume, no contribution, and it covers nothing alone
    assert hypervolume([[1, 3], [2, 2], [3, 1], [3, 3]], [4, 4]) == 6.0
    assert hypervolume_contributions([[1, 3], [2, 2], [3, 1], [3, 3]], [4, 4]).tolist() == [1, 1, 1, 0]


def test_3d_cubes() -> None:
    assert hypervolume([[0, 0, 0]], [1, 1, 1]) == 1.0
    # boxes 0.5 and 0.25 that share the cube [0.5, 1]^3 (0.125)
    assert hypervolume([[0, 0, 0.5], [0.5, 0.5, 0]], [1, 1, 1]) == pytest.approx(0.625)
    assert hypervolume_contributions([[0, 0, 0.5], [0.5, 0.5, 0]], [1, 1, 1]) == pytest.approx([0.375, 0.125])
    # three 2x1x1 slabs meeting in the unit cube [1, 2]^3: 6 - 3 + 1
    slabs = [[0, 1, 1], [1, 0, 1], [1, 1, 0]]
    assert hypervolume(slabs, [2, 2, 2]) == pytest.approx(4.0)
    assert hypervolume_contributions(slabs, [2, 2, 2]) == pytest.approx([1.0, 1.0, 1.0])


def test_points_outside_the_reference_add_nothing() -> None:
    assert hypervolume([[1, 1], [5, 0], [0, 4]], [4, 4]) == 9.0  # beyond it, and on it
    assert hypervolume_contributions([[1, 1], [5, 0], [0, 4]], [4, 4]).tolist() == [9.0, 0.0, 0.0]
    assert hypervolume([[5, 5, 5]], [4, 4, 4]) == 0.0
    assert hypervolume_contributions([[5, 5, 5], [1, 1, 1]], [4, 4, 4]).tolist() == [0.0, 27.0]


def test_empty_input() -> None:
    assert hypervolume([], [1, 1]) == 0.0
    assert hypervolume(np.zeros((0, 3)), [1, 1, 1]) == 0.0
    assert hypervolume_contributions([], [1, 1, 1]).shape == (0,)


def test_duplicates_count_once_and_contribute_nothing() -> None:
    assert hypervolume([[1, 1], [1, 1]], [2, 2]) == 1.0
    assert hypervolume_contributions([[1, 1], [1, 1]], [2, 2]).tolist() == [0.0, 0.0]
    pts = [[0, 1, 1], [0, 1, 1], [1, 0, 1]]
    assert hypervolume(pts, [2, 2, 2]) == pytest.approx(3.0)
    assert hypervolume_contributions(pts, [2, 2, 2]) == pytest.approx([0.0, 0.0, 1.0])


def test_one_point() -> None:
    assert hypervolume([[1, 2, 3]], [2, 4, 6]) == 6.0
    assert hypervolume_contributions([[1, 2, 3]], [2, 4, 6]).tolist() == [6.0]
    assert hypervolume([[2.0]], [5.0]) == 3.0
    assert hypervolume_contributions([[2.0], [3.0], [2.0]], [5.0]).tolist() == [0.0, 0.0, 0.0]
    assert hypervolume_contributions([[2.0], [3.0]], [5.0]).tolist() == [1.0, 0.0]


def test_a_point_dominated_by_one_point_only_takes_its_share_back() -> None:
    # removing [1, 1] leaves [2, 2] covering [2, 3]^2: the contribution is 4 - 1
    assert hypervolume_contributions([[1, 1], [2, 2]], [3, 3]).tolist() == [3.0, 0.0]
    assert hypervolume_contributions([[1, 1, 1], [2, 2, 2]], [3, 3, 3]).tolist() == [7.0, 0.0]


def test_nan_rows_add_nothing() -> None:
    assert hypervolume([[1, 1], [np.nan, 0]], [2, 2]) == 1.0
    assert hypervolume_contributions([[np.nan, 0], [1, 1]], [2, 2]).tolist() == [0.0, 1.0]


@pytest.mark.parametrize(("points", "reference", "message"), [
    ([[1, 1]], [2, np.inf], "reference of hypervolume must be a non-empty vector of finite numbers. Got "),
    ([[1, 1]], [], "reference of hypervolume must be a non-empty vector of finite numbers. Got []."),
    ([[1, 1, 1]], [2, 2], "points of hypervolume must be an array of shape (n, 2) to match the reference. "
                          "Got 'shape (1, 3)'."),
    ([[-np.inf, 1], [np.nan, 0]], [2, 2], "points of hypervolume must be finite, +inf or NaN. Got -inf."),
])
def test_bad_input_is_refused_with_what_to_do(points: list[list[float]], reference: list[float],
                                              message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        hypervolume(points, reference)
    assert str(caught.value).startswith(message)
    with pytest.raises(ConfigError, match="of hypervolume_contributions must be"):
        hypervolume_contributions(points, reference)


# --- against brute force --------------------------------------------------------------------------

@PROPERTY
@given(objectives.flatmap(lambda k: integer_points(k)))
def test_integer_points_match_counting_grid_cells(points: np.ndarray) -> None:
    k = points.shape[1]
    assert hypervolume(points, np.full(k, GRID)) == grid_count(points, k)


@PROPERTY
@given(objectives.flatmap(float_points))
def test_float_points_match_inclusion_exclusion(points: np.ndarray) -> None:
    reference = np.ones(points.shape[1])
    assert hypervolume(points, reference) == pytest.approx(inclusion_exclusion(points, reference),
                                                           rel=1e-9, abs=1e-12)


@PROPERTY
@given(objectives.flatmap(lambda k: st.one_of(integer_points(k), float_points(k))))
def test_contributions_are_hv_of_all_less_hv_without_each(points: np.ndarray) -> None:
    reference = np.full(points.shape[1], GRID if points.max(initial=0) > 1.2 else 1.0)
    got = hypervolume_contributions(points, reference)
    assert got.shape == (len(points),)
    assert got == pytest.approx(brute_contributions(points, reference), rel=1e-9, abs=1e-12)


@pytest.mark.parametrize(("k", "n"), [(3, 100), (4, 220), (5, 80)])
def test_contributions_of_large_fronts_with_dominated_points(k: int, n: int) -> None:
    """Sizes past the point where shoal leaves moocore's exact contributions for its own counting."""
    rng = np.random.default_rng(k)
    front = np.abs(rng.normal(size=(n, k)))
    front /= np.linalg.norm(front, axis=1, keepdims=True)
    # dominated copies, most of them dominated by one front point only; and some duplicates
    pts = np.vstack([front, front[: n // 5] + rng.uniform(0, 0.05, size=(n // 5, k)), front[-3:]])
    reference = np.full(k, 1.1)
    total = hypervolume(pts, reference)
    expected = np.array([total - hypervolume(np.delete(pts, i, axis=0), reference) for i in range(len(pts))])
    got = hypervolume_contributions(pts, reference)
    assert got == pytest.approx(expected, rel=1e-9, abs=1e-12)
    assert np.count_nonzero(got[n - 3 : n]) == 0  # duplicated
    assert np.count_nonzero(got[n:]) == 0  # dominated


# --- invariants -----------------------------------------------------------------------------------

@PROPERTY
@given(objectives.flatmap(lambda k: integer_points(k, max_size=20)), st.data())
def test_adding_a_dominated_point_changes_nothing(points: np.ndarray, data: st.DataObject) -> None:
    assume(len(points) > 0)
    k = points.shape[1]
    base = points[data.draw(st.integers(0, len(points) - 1))]
    worse = base + np.array(data.draw(st.lists(st.integers(0, 3), min_size=k, max_size=k)))
    reference = np.full(k, GRID)
    assert hypervolume(np.vstack([points, worse]), reference) == hypervolume(points, reference)


@PROPERTY
@given(objectives.flatmap(lambda k: integer_points(k, max_size=20)), st.data())
def test_scaling_one_axis_by_c_scales_the_volume_by_c(points: np.ndarray, data: st.DataObject) -> None:
    k = points.shape[1]
    axis = data.draw(st.integers(0, k - 1))
    c = data.draw(st.floats(0.01, 100.0))
    scale = np.ones(k)
    scale[axis] = c
    reference = np.full(k, GRID)
    assert hypervolume(points * scale, reference * scale) == pytest.approx(
        c * hypervolume(points, reference), rel=1e-9)
    assert hypervolume_contributions(points * scale, reference * scale) == pytest.approx(
        c * hypervolume_contributions(points, reference), rel=1e-9, abs=1e-9)


def test_import_shoal_does_not_load_moocore() -> None:
    src = str(Path(shoal.__file__).resolve().parents[1])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    probe = "import shoal, shoal.trial, sys, json; print(json.dumps('moocore' in sys.modules))"
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          env=env, timeout=60)
    assert json.loads(done.stdout.strip().splitlines()[-1]) is False
