"""Hyperband: the bracket table of Li et al. 2018 (Table 1, R=81, eta=3), the bracket of each
trial by hand, and decisions that rank a trial within its own bracket only."""

from __future__ import annotations

import collections
import re
from typing import Any

import pytest

from shoal.exceptions import ConfigError
from shoal.schedulers import Decision, Hyperband, Suggestion
from shoal.testing import SchedulerSuite
from shoal.trial import FrozenTrial, TrialState

#: Li et al. 2018, Table 1: bracket s -> its rounds (n_i, r_i).
LI_TABLE = {
    4: ((81, 1), (27, 3), (9, 9), (3, 27), (1, 81)),
    3: ((34, 3), (11, 9), (3, 27), (1, 81)),
    2: ((15, 9), (5, 27), (1, 81)),
    1: ((8, 27), (2, 81)),
    0: ((5, 81),),
}


def test_brackets_are_li_et_al_table_1() -> None:
    hb = Hyperband(max_resource=81, reduction_factor=3)
    assert hb.s_max == 4
    assert dict(enumerate(hb.brackets())) == LI_TABLE
    assert hb.rungs == ((), (27,), (9, 27), (3, 9, 27), (1, 3, 9, 27))
    assert hb.rung_steps == frozenset({1, 3, 9, 27})


def test_brackets_for_other_resources() -> None:
    # max_resource=100 is no power of 3: rungs are 100 / 3**k rounded, every bracket ends at 100.
    hb = Hyperband(max_resource=100)
    assert hb.rungs == ((), (33,), (11, 33), (4, 11, 33), (1, 4, 11, 33))
    assert hb.brackets()[4] == ((81, 1), (27, 4), (9, 11), (3, 33), (1, 100))
    # min_resource=2, eta=2, R=16: s_max=3, sizes ceil(4/(s+1) * 2**s) = 4, 4, 6, 8.
    hb = Hyperband(min_resource=2, max_resource=16, reduction_factor=2)
    assert hb.brackets() == (((4, 16),), ((4, 8), (2, 16)), ((6, 4), (3, 8), (1, 16)),
                             ((8, 2), (4, 4), (2, 8), (1, 16)))


def test_bracket_of_each_trial() -> None:
    hb = Hyperband(max_resource=81)
    # u = frac((n + 1) * 0.618...); shares from s=4: [0, 81/143), [.566, 115/143), [.804, 130/143),
    # [.909, 138/143), [.965, 1). E.g. n=0: .618 -> 3; n=8: .5623 -> 4; n=20: .979 -> 0.
    assert [hb.bracket_of(n) for n in range(21)] == [3, 4, 2, 4, 4, 3, 4, 1, 4, 4, 3, 4, 4, 3, 4, 2,
                                                     4, 4, 3, 4, 0]
    counts = collections.Counter(hb.bracket_of(n) for n in range(1430))
    for s, expected in {4: 810, 3: 340, 2: 150, 1: 80, 0: 50}.items():
        assert abs(counts[s] - expected) <= 5, (s, counts[s], expected)


def t(number: int, curve: dict[int, float], state: TrialState = TrialState.RUNNING) -> FrozenTrial:
    return FrozenTrial(number, number, state, intermediate=curve)


def test_a_trial_is_ranked_within_its_bracket() -> None:
    hb = Hyperband(max_resource=81)
    other_bracket = t(0, {1: 0.1, 3: 0.1}, TrialState.COMPLETE)  # bracket 3: no rung at 1
    same_bracket = t(3, {1: 0.1}, TrialState.COMPLETE)  # bracket 4
    late = t(1, {1: 0.9})  # bracket 4
    assert hb.decide(late, [other_bracket, same_bracket, late]) is Decision.STOP  # 1 of 2 better
    assert hb.decide(late, [other_bracket, late]) is Decision.CONTINUE  # alone in its rung
    assert hb.decide(t(0, {1: 9.0}), [same_bracket]) is Decision.CONTINUE  # no rung at 1 in s=3
    assert hb.decide(t(5, {3: 9.0}), [other_bracket]) is Decision.STOP  # s=3, rung 3: 1 of 2
    assert hb.decide(t(20, {27: 9.0}), [other_bracket]) is Decision.CONTINUE  # s=0 never stops
    promo = Hyperband(max_resource=81, mode="promotion")
    assert promo.decide(late, [late]) is Decision.PAUSE
    assert promo.decide(t(0, {1: 9.0}), []) is Decision.CONTINUE
    assert promo.decide(t(0, {1: 9.0, 3: 9.0}), []) is Decision.PAUSE


def test_promotion_takes_the_highest_rung_of_any_bracket() -> None:
    hb = Hyperband(max_resource=81, mode="promotion")
    # Bracket 4 (1, 3, 4): three at rung 1 -> 1 is promotable. Bracket 3 (0, 5, 10): three
    # at rung 3 -> the best of them, which goes first (rung 3 > rung 1).
    four = [t(n, {1: 0.1 * n}, TrialState.PAUSED) for n in (1, 3, 4)]
    three = [t(n, {3: 0.1 * n}, TrialState.PAUSED) for n in (0, 5, 10)]
    assert hb.next_job(four) == Suggestion(resume=1)
    assert hb.next_job([*four, *three]) == Suggestion(resume=0)
    assert hb.next_job(three[:2] + four[:2]) is None  # no rung has eta trials in one bracket
    assert Hyperband(max_resource=81).next_job([*four, *three]) is None  # stopping form


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_resource": 0}, "max_resource of Hyperband must be an integer >= 2. Got 0. Pass the "
                          "resource a full trial reaches (its last step)."),
    ({"max_resource": 10, "min_resource": 4},
     "max_resource of Hyperband must be >= min_resource * reduction_factor (12) for a second "
     "bracket. Got 10. Lower min_resource or reduction_factor, or use ASHA."),
    ({"max_resource": 81, "reduction_factor": 1},
     "reduction_factor of Hyperband must be an integer >= 2. Got 1."),
    ({"max_resource": 81, "mode": "sync"},
     "mode of Hyperband must be one of ['promotion', 'stopping']. Got 'sync'."),
])
def test_bad_arguments_are_one_sentence(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        Hyperband(**kwargs)


def test_repr() -> None:
    assert repr(Hyperband(max_resource=81)) == (
        "Hyperband(min_resource=1, max_resource=81, reduction_factor=3, mode='stopping')")


class TestHyperbandStoppingSuite(SchedulerSuite):
    """The stopping form (tests/test_common.py runs the promotion form)."""

    def make_scheduler(self) -> Hyperband:
        return Hyperband(max_resource=9)
