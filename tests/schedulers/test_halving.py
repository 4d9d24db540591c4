"""SuccessiveHalving: synchronous brackets by hand, with one worker and with two.

Trial i reports v(i) = (10 * i) % 27 at every step: 0 10 20 3 13 23 6 16 26 | 9 19 2 12 22 5 15 25 8.
"""

from __future__ import annotations

import re
from typing import Any

import pytest

from shoal.exceptions import ConfigError
from shoal.schedulers import Decision, SuccessiveHalving, Suggestion
from shoal.testing._scheduler_suite import simulate
from shoal.trial import FrozenTrial, TrialState


def v(number: int, step: int = 0) -> float:
    return float((10 * number) % 27)


def new(numbers: range) -> list[tuple[str, int]]:
    return [("new", n) for n in numbers]


def test_two_brackets_of_nine_on_one_worker() -> None:
    sh = SuccessiveHalving(max_resource=9, reduction_factor=3, n_configs=9)
    assert sh.rung_steps == frozenset({1, 3})
    run = simulate(sh, v, n_trials=18, max_step=9)
    assert run.jobs == [
        *new(range(9)),  # all pause at rung 1; the top 3 of 9 are 0 (v=0), 3 (3), 6 (6)
        ("resume", 0), ("resume", 3),  # to rung 3, where they pause: the rung is not full
        ("resume", 6),  # fills rung 3: its top 1 of 3 is 0
        ("resume", 0),  # runs to 9 and completes
        *new(range(9, 18)),  # bracket 1: top 3 of rung 1 are 11 (v=2), 14 (5), 17 (8)
        ("resume", 11), ("resume", 14),  # 17 went straight on: it filled rung 1 and was chosen
        ("resume", 11),  # top 1 of rung 3 (11, 14, 17)
    ]
    decided = {(n, s): d for n, s, d in run.decisions}
    assert decided[8, 1] is Decision.PAUSE  # filled rung 1 but was not chosen: stays PAUSED
    assert decided[17, 1] is Decision.CONTINUE
    assert decided[17, 3] is Decision.PAUSE
    assert decided[14, 3] is Decision.PAUSE  # filled rung 3, not chosen
    complete = sorted(n for n, t in run.trials.items() if t.state is TrialState.COMPLETE)
    assert complete == [0, 11]
    assert all(t.state is TrialState.PAUSED for n, t in run.trials.items() if n not in complete)
    for bracket in (range(9), range(9, 18)):  # rung sizes 9, 3, 1
        reached = [sum(1 for n in bracket if max(run.trials[n].intermediate) >= r) for r in (1, 3, 9)]
        assert reached == [9, 3, 1]


def test_a_second_worker_waits_for_the_rung() -> None:
    sh = SuccessiveHalving(max_resource=9, n_configs=3)
    run = simulate(sh, v, n_trials=3, n_workers=2, max_step=9)
    # Tick 3: worker 0 starts 2, worker 1 waits (2 can still fill rung 1). Tick 4: 2 fills it
    # (top 1 of 3: 0), worker 1 resumes 0. Ticks 5-6: worker 0 waits while 0 runs to rung 3,
    # which 0 fills alone and goes on. Then no work is left for worker 0.
    assert run.jobs == [("new", 0), ("new", 1), ("new", 2), ("wait", -1), ("resume", 0),
                        ("wait", -1), ("wait", -1)]
    assert {n: t.state for n, t in run.trials.items()} == {
        0: TrialState.COMPLETE, 1: TrialState.PAUSED, 2: TrialState.PAUSED}


def t(number: int, steps: list[int], state: TrialState, **kwargs: Any) -> FrozenTrial:
    return FrozenTrial(number, number, state, intermediate={s: v(number) for s in steps}, **kwargs)


def test_a_trial_not_chosen_is_stopped_if_it_runs_on() -> None:
    sh = SuccessiveHalving(max_resource=9, n_configs=3)
    rung = [t(n, [1], TrialState.PAUSED) for n in range(3)]  # top of rung 1: 0
    resumed = t(2, [1, 2], TrialState.RUNNING)  # a person resumed 2 anyway
    assert sh.decide(resumed, [*rung[:2], resumed]) is Decision.STOP
    chosen = t(0, [1, 2], TrialState.RUNNING)
    assert sh.decide(chosen, [chosen, *rung[1:]]) is Decision.CONTINUE
    # An objective that ignores should_pause() runs on: not judged before the rung is full.
    early = t(1, [1, 2], TrialState.RUNNING)
    assert sh.decide(early, [rung[0], early, t(2, [0], TrialState.RUNNING)]) is Decision.CONTINUE
    assert sh.decide(early, [rung[0], early, rung[2]]) is Decision.STOP  # now it is full


def test_next_job_cases() -> None:
    sh = SuccessiveHalving(max_resource=9, n_configs=3)
    paused = [t(n, [1], TrialState.PAUSED) for n in range(3)]
    assert sh.next_job([]) is None
    assert sh.next_job(paused[:2]) is None  # the bracket needs a third trial
    assert sh.next_job(paused) == Suggestion(resume=0)
    # A member failed before the rung: the rung is full with 2 (top max(1, 2 // 3) = 1).
    failed = t(0, [0], TrialState.FAILED)
    assert sh.next_job([failed, *paused[1:]]) == Suggestion(resume=1)
    # A member paused by a person before the rung cannot fill it: no wait, a new bracket.
    stuck = t(0, [0], TrialState.PAUSED)
    assert sh.next_job([stuck, *paused[1:]]) is None
    assert sh.next_job([t(0, [0], TrialState.RUNNING), *paused[1:]]) == Suggestion(wait=True)
    # 0 was resumed already: it is running to rung 3, which it alone must fill.
    resumed = t(0, [1], TrialState.RUNNING, lineage=({"event": "paused", "step": 1},
                                                     {"event": "resumed", "step": 1}))
    assert sh.next_job([resumed, *paused[1:]]) == Suggestion(wait=True)
    done = t(0, [1, 3, 9], TrialState.COMPLETE)
    assert sh.next_job([done, *paused[1:]]) is None  # the bracket is over: start the next


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_resource": 9}, "SuccessiveHalving.__init__() missing 1 required keyword-only "
                          "argument: 'n_configs'"),
    ({"max_resource": 9, "n_configs": 0},
     "n_configs of SuccessiveHalving must be an integer >= 1. Got 0."),
    ({"max_resource": 9, "n_configs": 9, "min_resource": 9},
     "max_resource of SuccessiveHalving must be an integer >= 10. Got 9. Pass the resource a "
     "full trial reaches (its last step)."),
])
def test_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    error = TypeError if "missing" in message else ConfigError
    with pytest.raises(error, match=f"^{re.escape(message)}$"):
        SuccessiveHalving(**kwargs)


def test_repr() -> None:
    assert repr(SuccessiveHalving(max_resource=27, n_configs=27)) == (
        "SuccessiveHalving(min_resource=1, max_resource=27, reduction_factor=3, n_configs=27)")
