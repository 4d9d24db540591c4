"""ASHA against hand-written tables: eta=3 over 27 trials, rungs 1, 3, 9 and the top at 27.

Every trial i reports the same value v(i) = (10 * i) % 27 at every step (a permutation of 0..26,
so the order is never a tie). The decisions below were worked out by hand from the rules in the
docstring of `shoal.schedulers.ASHA`; the comments give the counts they rest on.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Sequence
from typing import Any

import pytest

from shoal.exceptions import ConfigError
from shoal.schedulers import ASHA, Decision, Hyperband, SuccessiveHalving, Suggestion
from shoal.testing import SchedulerSuite
from shoal.trial import FrozenTrial, TrialState


def v(number: int) -> float:
    return float((10 * number) % 27)


def record(number: int, steps: list[int], state: TrialState = TrialState.RUNNING,
           **kwargs: Any) -> FrozenTrial:
    return FrozenTrial(number, number, state, intermediate={s: v(number) for s in steps}, **kwargs)


# Stopping form ---------------------------------------------------------------------------------
#: Rung -> trials stopped there. Arrivals: all 27 at rung 1 in number order, then the survivors
#: at rung 3 in number order, then at rung 9. A trial goes on when (strictly better ones) * 3 <= n.
STOPPED_AT = {
    # rung 1 goes on: 0 (first), 3 (1 better of 4), 6 (2/7), 9 (3/10), 11 (1/12), 14 (3/15),
    # 17 (5/18), 19 (1/20), 22 (4/23), 25 (7/26); e.g. 1 stops (1 better of 2), 26 (17/27).
    1: [1, 2, 4, 5, 7, 8, 10, 12, 13, 15, 16, 18, 20, 21, 23, 24, 26],
    # rung 3 (values 0 3 6 9 2 5 8 1 4 7 in arrival order): 0 (first), 11 (1/5), 19 (1/8) go on.
    3: [3, 6, 9, 14, 17, 22, 25],
    # rung 9 (values 0, 2, 1): 11 has 1 better of 2 and stops; 19 has 1 better of 3 and goes on.
    9: [11],
}
COMPLETE = [0, 19]


def test_stopping_table() -> None:
    asha = ASHA(max_resource=27, reduction_factor=3)
    assert asha.rung_steps == frozenset({1, 3, 9})
    trials: dict[int, FrozenTrial] = {}
    got: dict[int, list[int]] = {}
    for rung in (1, 3, 9):
        arriving = sorted(n for n in range(27) if n not in trials or trials[n].state is TrialState.RUNNING)
        for number in arriving:
            steps = sorted({*trials[number].intermediate, rung} if number in trials else {rung})
            trials[number] = record(number, steps)
            decision = asha.decide(trials[number], list(trials.values()))
            if decision is Decision.STOP:
                trials[number] = dataclasses.replace(trials[number], state=TrialState.PRUNED)
                got.setdefault(rung, []).append(number)
            else:
                assert decision is Decision.CONTINUE
                # Between rungs it goes on, whatever the others did.
                trials[number] = record(number, [*steps, rung + 1])
                assert asha.decide(trials[number], list(trials.values())) is Decision.CONTINUE
    assert got == STOPPED_AT
    finishing = sorted(n for n, t in trials.items() if t.state is TrialState.RUNNING)
    assert finishing == COMPLETE
    for number in finishing:  # at max_resource a trial goes on: it ends by itself
        top = record(number, [*trials[number].intermediate, 27])
        assert asha.decide(top, list(trials.values())) is Decision.CONTINUE


# Promotion form --------------------------------------------------------------------------------
#: What next_job returns to one serial worker, in order; None starts the next new trial
#: (0, 1, 2, ...). Worked out by hand: rung r promotes the top floor(n/3) of its n trials, highest
#: rung first; "1->3" says where the resumed trial goes.
JOBS: list[tuple[int | None, str]] = [
    (None, "new 0"), (None, "new 1"), (None, "new 2"),
    (0, "1->3: top 1 of 3 at rung 1"),
    (None, "new 3"), (None, "new 4"), (None, "new 5"),
    (3, "1->3: top 2 of 6 = 0, 3"),
    (None, "new 6"), (None, "new 7"), (None, "new 8"),
    (6, "1->3: top 3 of 9 = 0, 3, 6"),
    (0, "3->9: top 1 of 3 at rung 3; the higher rung goes first"),
    (None, "new 9"), (None, "new 10"), (None, "new 11"),
    (11, "1->3: v=2, top 4 of 12"),
    (None, "new 12"), (None, "new 13"), (None, "new 14"),
    (14, "1->3: v=5, top 5 of 15"),
    (None, "new 15"), (None, "new 16"), (None, "new 17"),
    (17, "1->3: v=8, top 6 of 18"),
    (11, "3->9: top 2 of 6 at rung 3 = 0, 11"),
    (None, "new 18"), (None, "new 19"),
    (19, "1->3: v=1, top 6 of 20"),
    (19, "3->9: top 2 of 7 at rung 3 = 0, 19"),
    (0, "9->27: top 1 of 3 at rung 9; trial 0 completes"),
    (None, "new 20"), (None, "new 21"), (None, "new 22"),
    (22, "1->3: v=4, top 7 of 23"),
    (None, "new 23"), (None, "new 24"), (None, "new 25"),
    (25, "1->3: v=7, top 8 of 26"),
    (None, "new 26"),
    (None, "nothing left: top 9 of 27, 3 of 9, 1 of 3 all promoted"),
]


class SerialRun:
    """One worker against ASHA: records as a storage would keep them (lineage included)."""

    def __init__(self, asha: ASHA) -> None:
        self.asha, self.trials = asha, {}  # type: dict[int, FrozenTrial]

    def run(self, number: int) -> Decision:
        """Run trial `number` on from its last step, one report per step, until ASHA says no."""
        trial = self.trials[number]
        step = (trial.last_step or 0) + 1
        while True:
            trial = dataclasses.replace(trial, intermediate={**trial.intermediate, step: v(number)})
            self.trials[number] = trial
            decision = self.asha.decide(trial, list(self.trials.values()))
            if decision is Decision.PAUSE:
                assert step in self.asha.rung_steps
                self.trials[number] = dataclasses.replace(
                    trial, state=TrialState.PAUSED,
                    lineage=(*trial.lineage, {"event": "paused", "step": step}))
                return decision
            assert decision is Decision.CONTINUE
            if step == self.asha.max_resource:
                self.trials[number] = dataclasses.replace(trial, state=TrialState.COMPLETE,
                                                          values=(v(number),))
                return decision
            step += 1

    def resume(self, number: int) -> Decision:
        trial = self.trials[number]
        assert trial.state is TrialState.PAUSED, f"resumed trial {number} is {trial.state.name}"
        self.trials[number] = dataclasses.replace(
            trial, state=TrialState.RUNNING,
            lineage=(*trial.lineage, {"event": "resumed", "step": trial.last_step}))
        return self.run(number)

    def new(self) -> Decision:
        number = len(self.trials)
        self.trials[number] = FrozenTrial(number, number, TrialState.RUNNING)
        return self.run(number)


def test_promotion_table() -> None:
    sim = SerialRun(ASHA(max_resource=27, mode="promotion"))
    for i, (expected, why) in enumerate(JOBS):
        job = sim.asha.next_job(list(sim.trials.values()))
        assert (None if job is None else job.resume) == expected, f"job {i} ({why}): got {job}"
        if job is None and len(sim.trials) < 27:
            sim.new()
        elif job is not None:
            sim.resume(expected)
    states = {n: t.state for n, t in sim.trials.items()}
    assert [n for n, s in states.items() if s is TrialState.COMPLETE] == [0]
    assert all(s is TrialState.PAUSED for n, s in states.items() if n != 0)
    reached = {r: sorted(n for n, t in sim.trials.items() if max(t.intermediate) >= r)
               for r in (1, 3, 9, 27)}
    assert {r: len(ns) for r, ns in reached.items()} == {1: 27, 3: 9, 9: 3, 27: 1}
    assert reached[9] == [0, 11, 19]
    assert reached[3] == [0, 3, 6, 11, 14, 17, 19, 22, 25]


def test_promotion_pauses_at_every_rung_and_continues_between() -> None:
    asha = ASHA(min_resource=2, max_resource=20, reduction_factor=3, mode="promotion")
    assert asha.rungs == (2, 6, 18)
    decisions = [asha.decide(record(0, list(range(s + 1))), []) for s in range(21)]
    paused = [s for s, d in enumerate(decisions) if d is Decision.PAUSE]
    assert paused == [2, 6, 18]
    assert all(d is Decision.CONTINUE for s, d in enumerate(decisions) if s not in paused)


def test_a_trial_resumed_at_a_rung_is_not_paused_there_again() -> None:
    # The PyTorch harness reports restored steps again after a resume: step 1 once more.
    asha = ASHA(max_resource=27, mode="promotion")
    events = ({"event": "paused", "step": 1}, {"event": "resumed", "step": 1})
    resumed = record(0, [0, 1], lineage=events)
    assert asha.decide(resumed, [resumed]) is Decision.CONTINUE
    assert asha.decide(record(0, [0, 1]), []) is Decision.PAUSE  # never resumed: pauses
    assert asha.decide(record(0, [0, 1, 2, 3], lineage=events), []) is Decision.PAUSE  # next rung


def test_a_report_that_jumps_over_a_rung_is_judged_there() -> None:
    # Reports every 4 steps: rung 3 is reached at step 4, rung 9 at step 12, with those values.
    asha = ASHA(max_resource=27)
    good = FrozenTrial(0, 0, TrialState.COMPLETE, intermediate={4: 0.1, 12: 0.1})
    bad = FrozenTrial(1, 1, TrialState.RUNNING, intermediate={0: 0.5, 4: 0.9})
    assert asha.decide(bad, [good]) is Decision.STOP  # 1 better of 2 at rung 3
    assert asha.decide(dataclasses.replace(bad, intermediate={0: 0.5}), [good]) is Decision.CONTINUE
    jump = FrozenTrial(1, 1, TrialState.RUNNING, intermediate={0: 0.5, 12: 0.9})
    assert asha.decide(jump, [good]) is Decision.STOP  # judged at rungs 1, 3 and 9 at once


def test_paused_trials_are_resumed_only_when_paused() -> None:
    asha = ASHA(max_resource=27, mode="promotion")
    peers = [record(n, [1], TrialState.PAUSED) for n in (1, 2)]
    best = record(0, [1], TrialState.RUNNING)  # top of its rung but still running: not resumable
    assert asha.next_job([best, *peers]) is None
    assert asha.next_job([dataclasses.replace(best, state=TrialState.PAUSED), *peers]) == Suggestion(
        resume=0)
    done = record(0, [1], TrialState.PRUNED)  # a pruned trial keeps its place in the rung
    assert asha.next_job([done, *peers]) is None
    assert ASHA(max_resource=27).next_job([dataclasses.replace(best, state=TrialState.PAUSED),
                                           *peers]) is None  # the stopping form never resumes


def test_several_objectives_rank_by_fronts_and_crowding() -> None:
    asha = ASHA(max_resource=9, mode="promotion")

    def mo(number: int, first: float, second: float) -> FrozenTrial:
        # Objective 2 is maximised: its curve is made lower-is-better by its sign.
        return FrozenTrial(number, number, TrialState.PAUSED, intermediate={1: first},
                           signs=(1.0, -1.0), system_attrs={"curves": {"objective_1": {"1": second}}})

    # Scores (first, -second): 0 (1, -1), 1 (2, -3), 2 (3, -2), 3 (0.5, 0), 4 and 5 (5, 5).
    # The front is {0, 1, 3} (1 dominates 2); its extremes 1 and 3 have infinite crowding, 0 has 2.
    trials = [mo(0, 1.0, 1.0), mo(1, 2.0, 3.0), mo(2, 3.0, 2.0), mo(3, 0.5, 0.0),
              *(mo(n, 5.0, -5.0) for n in range(4, 6))]
    assert asha.next_job(trials) == Suggestion(resume=1)  # top 2 of 6: 1 and 3, both infinite
    # Without 1: the front is {0, 2, 3}, top 1 of 5; the extremes 2 and 3 beat 0, 2 by number.
    assert asha.next_job([*trials[:1], *trials[2:]]) == Suggestion(resume=2)
    missing = FrozenTrial(6, 6, TrialState.RUNNING, intermediate={1: 0.0}, signs=(1.0, -1.0))
    with pytest.raises(ConfigError, match=re.escape(
            "curve 'objective_1' of trial 6 must be reported at step 1 when a scheduler ranks 2 "
            "objectives. Got none.")):
        ASHA(max_resource=9).decide(missing, trials)


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"max_resource": 1}, "max_resource of ASHA must be an integer >= 2. Got 1. Pass the resource "
                          "a full trial reaches (its last step)."),
    ({"max_resource": 9, "min_resource": 0}, "min_resource of ASHA must be an integer >= 1. Got 0."),
    ({"max_resource": 9, "reduction_factor": 1.5},
     "reduction_factor of ASHA must be an integer >= 2. Got 1.5."),
    ({"max_resource": 9, "mode": "async"},
     "mode of ASHA must be one of ['promotion', 'stopping']. Got 'async'."),
])
def test_bad_arguments_are_one_sentence(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        ASHA(**kwargs)


def test_repr() -> None:
    assert repr(ASHA(max_resource=81, mode="promotion")) == (
        "ASHA(min_resource=1, max_resource=81, reduction_factor=3, mode='promotion')")


class TestASHAPromotionSuite(SchedulerSuite):
    """The promotion form (tests/test_common.py runs the stopping form with its oracle)."""

    def make_scheduler(self) -> ASHA:
        return ASHA(max_resource=9, mode="promotion")


class Untouchable(Sequence[FrozenTrial]):
    """A history that fails when read: a study reads storage for it only if a scheduler looks."""

    def __getitem__(self, index: Any) -> Any:
        raise AssertionError("the history was read")

    def __len__(self) -> int:
        raise AssertionError("the history was read")


@pytest.mark.parametrize("scheduler", [
    ASHA(max_resource=27), ASHA(max_resource=27, mode="promotion"),
    Hyperband(max_resource=27), SuccessiveHalving(max_resource=27, n_configs=9)])
def test_the_history_is_read_only_where_needed(scheduler: Any) -> None:
    for steps in ([0], [0, 27]):  # before the first rung; at the full resource
        assert scheduler.decide(record(0, steps), Untouchable()) is Decision.CONTINUE
    if isinstance(scheduler, ASHA):  # between rungs, and at a rung when promoting
        assert scheduler.decide(record(0, [0, 1, 2]), Untouchable()) is Decision.CONTINUE
        if scheduler.mode == "promotion":
            assert scheduler.decide(record(0, [0, 1]), Untouchable()) is Decision.PAUSE
