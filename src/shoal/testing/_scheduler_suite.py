"""The conformance suite every scheduler must pass: subclass `SchedulerSuite` and name the factory."""

from __future__ import annotations

import copy
import math
import pickle
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from shoal.clock import Clock, FakeClock
from shoal.schedulers import Decision, Scheduler
from shoal.trial import FrozenTrial, TrialState

__all__ = ["SCHEDULER_CASES", "SchedulerSuite"]

#: One oracle case: the trial, the history it is decided against, and the expected decision.
Case = tuple[FrozenTrial, Sequence[FrozenTrial], Decision]
_CASE_NAMES = ("empty", "no_reports", "one_report", "curves", "neighbours", "maximised",
               "non_finite", "many_objectives", "late_steps")


class SchedulerSuite:
    """Conformance tests for a scheduler: subclass it in a test file and define `make_scheduler`.

    The suite builds trials and histories from `FrozenTrial` records directly (no study, no
    storage) and checks that `decide(trial, history)`:

    - returns a `Decision` for every kind of trial and history: an empty history, a trial with
      no reports, reports at one step or many (gaps, step 0, large steps), pruned, failed,
      running and waiting neighbours, maximised objectives, NaN and infinite neighbours' values,
      several objectives;
    - is pure: the same inputs give the same decision, in any order, from a fresh scheduler and
      from an unpickled copy, and the inputs are not mutated;
    - never reads the real clock (`time.time`, `time.monotonic`): a scheduler
      that needs time takes a `Clock` (`make_scheduler_with_clock`), so a long study is a
      sub-second test;
    - gives the decisions of a hand-written table (`oracle_cases`), when the subclass has one.

    Example (a whole test file; pytest collects it through the `Test` prefix):

    >>> from shoal.schedulers import NoStopping
    >>> class TestNoStopping(SchedulerSuite):
    ...     def make_scheduler(self):
    ...         return NoStopping()
    >>> TestNoStopping().make_scheduler()
    NoStopping()
    """

    def make_scheduler(self) -> Scheduler:
        """Return a new scheduler."""
        raise NotImplementedError(f"{type(self).__name__} must define make_scheduler(self) "
                                  "returning a new scheduler.")

    def make_scheduler_with_clock(self, clock: Clock) -> Scheduler | None:
        """Return a scheduler that reads time from `clock`; None (the default) if it uses no time."""
        return None

    def oracle_cases(self) -> Sequence[Case]:
        """Hand-computed (trial, history, expected decision) rows; none by default."""
        return ()

    # Tests ------------------------------------------------------------------------------------
    def test_is_a_scheduler(self) -> None:
        assert isinstance(self.make_scheduler(), Scheduler)

    @pytest.mark.parametrize("case", _CASE_NAMES)
    def test_decides_every_kind_of_trial(self, case: str) -> None:
        scheduler = self.make_scheduler()
        for trial, history in SCHEDULER_CASES[case]():
            decision = scheduler.decide(trial, history)
            assert isinstance(decision, Decision), (
                f"{scheduler!r}.decide returned {decision!r} for case {case!r}, not a Decision")

    def test_is_pure(self) -> None:
        scheduler = self.make_scheduler()
        cases = list(_all_cases())
        before = [copy.deepcopy(c) for c in cases]
        first = [scheduler.decide(t, h) for t, h in cases]
        again = [scheduler.decide(t, h) for t, h in reversed(cases)][::-1]  # no hidden state
        fresh = [self.make_scheduler().decide(t, h) for t, h in cases]
        assert first == again == fresh
        assert cases == before, "decide() mutated its trial or history"

    def test_pickles(self) -> None:
        scheduler = self.make_scheduler()
        copied = pickle.loads(pickle.dumps(scheduler))
        cases = list(_all_cases())
        assert [copied.decide(t, h) for t, h in cases] == [scheduler.decide(t, h) for t, h in cases]

    def test_never_reads_the_real_clock(self) -> None:
        scheduler = self.make_scheduler()
        with _real_clock_forbidden():
            for trial, history in _all_cases():
                scheduler.decide(trial, history)

    def test_follows_the_injected_clock(self) -> None:
        clock = FakeClock(start=1000.0)
        scheduler = self.make_scheduler_with_clock(clock)
        if scheduler is None:
            pytest.skip("the scheduler uses no time")
        cases = list(_all_cases())
        with _real_clock_forbidden():
            now = [scheduler.decide(t, h) for t, h in cases]
            assert [scheduler.decide(t, h) for t, h in cases] == now  # frozen time: same answer
            clock.advance(10 * 365 * 86400.0)
            for t, h in cases:
                assert isinstance(scheduler.decide(t, h), Decision)

    def test_oracle(self) -> None:
        cases = list(self.oracle_cases())
        if not cases:
            pytest.skip("no oracle_cases for this scheduler")
        scheduler = self.make_scheduler()
        for i, (trial, history, expected) in enumerate(cases):
            got = scheduler.decide(trial, history)
            assert got == expected, f"oracle case {i} (trial {trial.number}): {got!r} != {expected!r}"


@contextmanager
def _real_clock_forbidden() -> Iterator[None]:
    """`time.time` and `time.monotonic` raise while inside."""
    def forbidden() -> float:
        raise AssertionError("decide() read the real clock; take a shoal.clock.Clock instead")

    saved = time.time, time.monotonic
    time.time = time.monotonic = forbidden
    try:
        yield
    finally:
        time.time, time.monotonic = saved


def _curve(n: int, *, start: float = 1.0, slope: float = -0.1, every: int = 1) -> dict[int, float]:
    return {s: start + slope * s for s in range(0, n * every, every)}


def _done(number: int, curve: dict[int, float], **kwargs: Any) -> FrozenTrial:
    last = curve[max(curve)] if curve else 0.0
    return FrozenTrial(number, 100 + number, TrialState.COMPLETE, intermediate=curve,
                       values=kwargs.pop("values", (last,)), **kwargs)


def _running(number: int, curve: dict[int, float], **kwargs: Any) -> FrozenTrial:
    return FrozenTrial(number, 100 + number, TrialState.RUNNING, intermediate=curve, **kwargs)


def _neighbours() -> list[FrozenTrial]:
    """Finished and live trials of every state, with good and bad curves."""
    out = [_done(i, _curve(10, start=1.0 + 0.1 * i)) for i in range(6)]
    out += [
        FrozenTrial(6, 106, TrialState.PRUNED, intermediate=_curve(3, start=5.0)),
        FrozenTrial(7, 107, TrialState.PRUNED),  # pruned before reporting
        FrozenTrial(8, 108, TrialState.FAILED, intermediate=_curve(2),
                    system_attrs={"fail_reason": "CUDA out of memory"}),
        FrozenTrial(9, 109, TrialState.FAILED),
        _running(10, _curve(4, start=0.5)),
        FrozenTrial(11, 111, TrialState.WAITING),
        _done(12, {}, values=(0.3,)),  # completed without reports
    ]
    return out


def _cases_empty() -> Iterator[tuple[FrozenTrial, Sequence[FrozenTrial]]]:
    for curve in ({}, {0: 1.0}, _curve(5)):
        trial = _running(0, curve)
        yield trial, []
        yield trial, [trial]  # the trial itself is in the history, as a study passes it


def _cases_no_reports() -> Iterator[tuple[FrozenTrial, Sequence[FrozenTrial]]]:
    trial = _running(20, {})
    yield trial, _neighbours()
    yield trial, [*_neighbours(), trial]


def _cases_one_report() -> Iterator[tuple[FrozenTrial, Sequence[FrozenTrial]]]:
    for step, value in ((0, 0.0), (0, 100.0), (3, 1.0), (9, -5.0)):
        trial = _running(20, {step: value})
        yield trial, [*_neighbours(), trial]


def _cases_curves() -> Iterator[tuple[FrozenTrial, Sequence[FrozenTrial]]]:
    for start, slope in ((0.0, -0.1), (9.0, 0.5), (1.25, -0.1), (1.0, 0.0)):
        for n in (1, 2, 5, 10, 12):
            trial = _running(20, _curve(n, start=start, slope=slope))
            yield trial, [*_neighbours(), trial]
    gappy = _running(20, {0: 2.0, 4: 1.5, 9: 1.4})
    yield gappy, [*_neighbours(), gappy]


def _cases_neighbours() -> Iterator[tuple[FrozenTrial, Sequence[FrozenTrial]]]:
    many = [_done(i, _curve(20, start=float(i % 7), every=2)) for i in range(40)]
    for start in (0.0, 3.0, 10.0):
        trial = _running(40, _curve(8, start=start, every=2))
        yield trial, [*many, trial]
    pruned_only = [FrozenTrial(i, i, TrialState.PRUNED, intermediate=_curve(2)) for i in range(5)]
    failed_only = [FrozenTrial(i, i, TrialState.FAILED) for i in range(5)]
    for history in (pruned_only, failed_only):
        trial = _running(5, _curve(3, start=4.0))
        yield trial, [*history, trial]


def _cases_maximised() -> Iterator[tuple[FrozenTrial, Sequence[FrozenTrial]]]:
    done = [_done(i, _curve(6, start=0.5, slope=0.05), signs=(-1.0,)) for i in range(6)]
    for start in (0.0, 0.5, 1.0):
        trial = _running(6, _curve(4, start=start, slope=0.05), signs=(-1.0,))
        yield trial, [*done, trial]


def _cases_non_finite() -> Iterator[tuple[FrozenTrial, Sequence[FrozenTrial]]]:
    weird = [_done(0, _curve(5), values=(math.nan,)), _done(1, _curve(5), values=(math.inf,)),
             _done(2, {0: 1.0, 1: math.nan, 2: math.inf}, values=(-math.inf,)),
             *(_done(i, _curve(5)) for i in range(3, 8))]
    trial = _running(8, _curve(3, start=2.0))
    yield trial, [*weird, trial]
    odd = _running(8, {0: math.nan, 1: 1.0})
    yield odd, [*weird, odd]


def _cases_many_objectives() -> Iterator[tuple[FrozenTrial, Sequence[FrozenTrial]]]:
    done = [_done(i, _curve(5, start=1.0 + i), values=(float(i), 10.0 - i)) for i in range(6)]
    trial = _running(6, _curve(3, start=4.0))
    yield trial, [*done, trial]


def _cases_late_steps() -> Iterator[tuple[FrozenTrial, Sequence[FrozenTrial]]]:
    done = [_done(i, {10_000 * s: 1.0 / (s + 1) for s in range(5)}) for i in range(6)]
    for step in (0, 10_000, 39_999, 40_000, 10**9):
        trial = _running(6, {step: 2.0})
        yield trial, [*done, trial]


#: The kinds of (trial, history) pairs the suite decides, by name.
SCHEDULER_CASES: dict[str, Callable[[], Iterator[tuple[FrozenTrial, Sequence[FrozenTrial]]]]] = {
    "empty": _cases_empty, "no_reports": _cases_no_reports, "one_report": _cases_one_report,
    "curves": _cases_curves, "neighbours": _cases_neighbours, "maximised": _cases_maximised,
    "non_finite": _cases_non_finite, "many_objectives": _cases_many_objectives,
    "late_steps": _cases_late_steps,
}


def _all_cases() -> Iterator[tuple[FrozenTrial, Sequence[FrozenTrial]]]:
    for make in SCHEDULER_CASES.values():
        yield from make()
