"""The Pareto front, non-dominated ranks, crowding and scalarising, against brute force and by hand."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.exceptions import ConfigError
from shoal.trial import (
    FrozenTrial,
    TrialState,
    chebyshev,
    crowding_distance,
    dominates,
    feasible_first_ranks,
    non_dominated_ranks,
    normalise,
    pareto_front,
    pareto_mask,
)

COMPLETE = TrialState.COMPLETE


def points(k: int) -> st.SearchStrategy[list[tuple[int, ...]]]:
    """Small integer points, so ties and duplicates are common."""
    return st.lists(st.tuples(*[st.integers(0, 6)] * k), min_size=0, max_size=25)


def brute_mask(pts: list[tuple[int, ...]]) -> list[bool]:
    return [not any(dominates(q, p) for q in pts) for p in pts]


def brute_ranks(pts: list[tuple[int, ...]]) -> list[int]:
    """Peel fronts one at a time with nothing but `dominates`."""
    ranks = [-1] * len(pts)
    left = set(range(len(pts)))
    rank = 0
    while left:
        front = {i for i in left if not any(dominates(pts[j], pts[i]) for j in left)}
        for i in front:
            ranks[i] = rank
        left -= front
        rank += 1
    return ranks


@pytest.mark.parametrize("k", [1, 2, 3, 4])
def test_pareto_mask_matches_brute_force(k: int) -> None:
    @settings(max_examples=150, deadline=None)
    @given(points(k))
    def check(pts: list[tuple[int, ...]]) -> None:
        got = pareto_mask(np.array(pts, dtype=float).reshape(len(pts), k)).tolist()
        assert got == brute_mask(pts)

    check()


@pytest.mark.parametrize("k", [2, 3])
def test_non_dominated_ranks_match_brute_force_peeling(k: int) -> None:
    @settings(max_examples=100, deadline=None)
    @given(points(k))
    def check(pts: list[tuple[int, ...]]) -> None:
        got = non_dominated_ranks(np.array(pts, dtype=float).reshape(len(pts), k)).tolist()
        assert got == brute_ranks(pts)

    check()


def test_dominance_by_hand() -> None:
    assert dominates((1, 2), (2, 2))
    assert not dominates((1, 2), (1, 2))  # equal points do not dominate each other
    assert not dominates((1, 3), (2, 2))  # a trade-off
    assert pareto_mask([[1, 1], [1, 1], [2, 0]]).tolist() == [True, True, True]
    assert pareto_mask(np.zeros((0, 2))).tolist() == []


def test_crowding_distance_by_hand() -> None:
    # Two objectives, span 4 each: the inner points get (next - previous) / span per objective.
    got = crowding_distance([[0, 4], [1, 2], [2, 1], [4, 0]])
    assert got.tolist() == [np.inf, (2 - 0) / 4 + (4 - 1) / 4, (4 - 1) / 4 + (2 - 0) / 4, np.inf]
    assert crowding_distance([[0, 1], [1, 0]]).tolist() == [np.inf, np.inf]
    assert crowding_distance([[1, 1], [1, 1], [1, 1]]).tolist() == [np.inf, 0.0, np.inf]  # no span


def test_normalise_and_chebyshev_by_hand() -> None:
    unit = normalise([[1, 10], [3, 20], [2, 20]])
    assert unit.tolist() == [[0.0, 0.0], [1.0, 1.0], [0.5, 1.0]]
    assert normalise([[5, 1], [5, 2]])[:, 0].tolist() == [0.0, 0.0]  # a constant objective maps to 0
    assert normalise([[2, 2]], ideal=[0, 0], nadir=[4, 8]).tolist() == [[0.5, 0.25]]
    got = chebyshev([[0.2, 0.8], [0.5, 0.5]], [0.25, 0.75], rho=0.1)
    assert got.tolist() == pytest.approx([0.6 + 0.1 * 0.65, 0.375 + 0.1 * 0.5])


def test_every_pareto_optimal_point_minimises_chebyshev_for_some_weights() -> None:
    front = np.array([[0.0, 1.0], [0.1, 0.5], [0.4, 0.2], [1.0, 0.0]])
    dominated = np.array([[0.5, 0.6], [0.9, 0.9]])
    pts = np.vstack([front, dominated])
    winners = set()
    for w in np.linspace(0.01, 0.99, 99):
        winners.add(int(np.argmin(chebyshev(pts, [w, 1 - w], rho=0.01))))
    assert winners == {0, 1, 2, 3}


def trial(number: int, values: tuple[float, ...] | None, *, signs: tuple[float, ...] = (-1.0, 1.0),
          state: TrialState = COMPLETE, constraints: list[float] | None = None) -> FrozenTrial:
    system = {"constraints": constraints} if constraints is not None else {}
    return FrozenTrial(number, number, state, values=values, signs=signs, system_attrs=system)


def test_scores_are_sign_normalised_per_objective() -> None:
    t = trial(0, (0.9, 12.0))
    assert t.scores == (-0.9, 12.0)
    assert t.n_objectives == 2
    assert t.sign == -1.0
    with pytest.raises(ConfigError, match=r"^score of trial 0 must be single; the study has 2 objectives"):
        _ = t.score
    pruned = FrozenTrial(1, 1, TrialState.PRUNED, intermediate={3: 0.4}, signs=(-1.0,))
    assert pruned.scores == (-0.4,)  # one objective: a pruned trial that reported has a score
    assert trial(2, None, state=TrialState.PRUNED).scores is None
    assert not trial(3, (float("nan"), 1.0)).is_usable()


def test_constraints_feasibility_and_violation() -> None:
    assert trial(0, (1.0, 1.0)).constraints is None
    assert trial(0, (1.0, 1.0)).is_feasible
    t = trial(1, (1.0, 1.0), constraints=[-1.0, 0.5, 2.0])
    assert (t.constraints, t.violation, t.is_feasible) == ((-1.0, 0.5, 2.0), 2.5, False)
    assert trial(2, (1.0, 1.0), constraints=[0.0, -3.0]).is_feasible  # 0 counts as satisfied


def test_pareto_front_keeps_complete_feasible_non_dominated_trials() -> None:
    trials = [
        trial(0, (0.9, 5.0)),                                  # front: most accurate
        trial(1, (0.8, 1.0)),                                  # front: cheapest
        trial(2, (0.7, 2.0)),                                  # dominated by 1
        trial(3, (0.95, 0.5), constraints=[1.0]),              # would dominate all, but infeasible
        trial(4, (0.85, 3.0), constraints=[-1.0]),             # front, feasible
        trial(5, None, state=TrialState.FAILED),
        trial(6, (0.99, 0.1), state=TrialState.RUNNING),
        trial(7, (0.9, 5.0)),                                  # equal to 0: both stay
    ]
    assert [t.number for t in pareto_front(trials)] == [0, 1, 4, 7]
    assert pareto_front([trial(0, (1.0, 1.0), constraints=[0.1])]) == []
    assert pareto_front([]) == []


def test_pareto_front_of_one_objective_is_the_trials_sharing_the_best_score() -> None:
    trials = [trial(i, (v,), signs=(1.0,)) for i, v in enumerate([3.0, 1.0, 2.0, 1.0])]
    assert [t.number for t in pareto_front(trials)] == [1, 3]


def test_feasible_first_ranks_put_every_violation_after_every_feasible_trial() -> None:
    trials = [
        trial(0, (0.9, 5.0)),                       # rank 0
        trial(1, (0.7, 6.0)),                       # dominated by 0: rank 1
        trial(2, (0.99, 0.1), constraints=[0.5]),   # infeasible, violation 0.5: after rank 1
        trial(3, (0.99, 0.1), constraints=[2.0]),   # infeasible, more violation
        trial(4, (0.8, 1.0), constraints=[-1.0]),   # feasible front
        trial(5, (0.5, 9.0), constraints=[0.5]),    # same violation as 2: same rank
    ]
    assert feasible_first_ranks(trials) == [0, 1, 2, 3, 0, 2]
    only_bad = [trial(0, (1.0, 1.0), constraints=[3.0]), trial(1, (1.0, 1.0), constraints=[1.0])]
    assert feasible_first_ranks(only_bad) == [1, 0]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.integers(0, 5), st.integers(-2, 2)), min_size=1, max_size=15))
def test_feasible_first_ranks_order_is_consistent(rows: list[tuple[int, int, int]]) -> None:
    trials = [trial(i, (float(a), float(b)), signs=(1.0, 1.0), constraints=[float(c)])
              for i, (a, b, c) in enumerate(rows)]
    ranks = feasible_first_ranks(trials)
    for (i, a), (j, b) in itertools.permutations(enumerate(trials), 2):
        if a.is_feasible and not b.is_feasible:
            assert ranks[i] < ranks[j]
        if a.is_feasible and b.is_feasible and dominates(a.scores or (), b.scores or ()):
            assert ranks[i] < ranks[j]
        if not a.is_feasible and not b.is_feasible and a.violation < b.violation:
            assert ranks[i] < ranks[j]
