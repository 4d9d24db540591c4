"""The conformance suite every scheduler must pass: subclass `SchedulerSuite` and name the factory."""

from __future__ import annotations

import copy
import dataclasses
import math
import pickle
import random
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import pytest

from shoal.clock import Clock, FakeClock
from shoal.schedulers import Decision, Scheduler, Suggestion, SuggestsJobs
from shoal.trial import FrozenTrial, TrialState

__all__ = ["SCHEDULER_CASES", "SchedulerSuite", "Simulation", "check_suggestion", "random_curves",
           "simulate"]

#: One oracle case: the trial, the history it is decided against, and the expected decision.
Case = tuple[FrozenTrial, Sequence[FrozenTrial], Decision]
_CASE_NAMES = ("empty", "no_reports", "one_report", "curves", "neighbours", "maximised",
               "non_finite", "many_objectives", "late_steps", "paused")


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

    A scheduler that declares `multi_objective = True` also decides (and offers jobs for) trials
    with two objectives, the second read per step from the curve "objective_1".

    For a scheduler with `next_job` (the `SuggestsJobs` protocol) it also checks that `next_job`
    is pure and pickles like `decide`, answers only with a `Suggestion` or None, resumes only
    PAUSED trials and forks only trials it was shown, and, in a simulated run of 300 trials
    with random curves on 4 workers (`simulate`, no clock, sub-second), never resumes a trial
    that is not PAUSED, never resumes a trial twice from the same step, never asks to wait
    when nothing runs, and ends.

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

    @pytest.mark.parametrize("case", _CASE_NAMES)
    def test_next_job_answers_every_history(self, case: str) -> None:
        scheduler = self.make_scheduler()
        if not isinstance(scheduler, SuggestsJobs):
            pytest.skip("the scheduler has no next_job")
        for _, history in SCHEDULER_CASES[case]():
            check_suggestion(scheduler.next_job(history), history, scheduler)

    def test_next_job_is_pure_and_pickles(self) -> None:
        scheduler = self.make_scheduler()
        if not isinstance(scheduler, SuggestsJobs):
            pytest.skip("the scheduler has no next_job")
        histories = [h for _, h in _all_cases()]
        before = copy.deepcopy(histories)
        first = [scheduler.next_job(h) for h in histories]
        again = [scheduler.next_job(h) for h in reversed(histories)][::-1]
        fresh, copied = self.make_scheduler(), pickle.loads(pickle.dumps(scheduler))
        assert isinstance(fresh, SuggestsJobs)
        assert first == again == [fresh.next_job(h) for h in histories] == [
            copied.next_job(h) for h in histories]
        assert histories == before, "next_job() mutated its history"
        with _real_clock_forbidden():
            for history in histories:
                scheduler.next_job(history)

    def test_simulated_run_keeps_the_invariants(self) -> None:
        scheduler = self.make_scheduler()
        if not isinstance(scheduler, SuggestsJobs):
            pytest.skip("the scheduler has no next_job")
        run = simulate(scheduler, random_curves(seed=0), n_trials=300, n_workers=4, max_step=30)
        assert sum(1 for kind, _ in run.jobs if kind == "new") == 300
        assert all(t.state is not TrialState.RUNNING for t in run.trials.values()), "run did not end"
        for trial in run.trials.values():
            resumed = [e["step"] for e in trial.lineage if e["event"] == "resumed"]
            assert len(resumed) == len(set(resumed)), f"trial {trial.number} resumed twice: {resumed}"

    def test_several_objectives(self) -> None:
        scheduler = self.make_scheduler()
        if getattr(scheduler, "multi_objective", False) is not True:
            pytest.skip(f"{type(scheduler).__name__} does not declare multi_objective = True")
        for trial, history in _cases_several_objectives():
            decision = scheduler.decide(trial, history)
            assert isinstance(decision, Decision), f"{scheduler!r}.decide returned {decision!r}"
            if isinstance(scheduler, SuggestsJobs):
                check_suggestion(scheduler.next_job(history), history, scheduler)

    def test_oracle(self) -> None:
        cases = list(self.oracle_cases())
        if not cases:
            pytest.skip("no oracle_cases for this scheduler")
        scheduler = self.make_scheduler()
        for i, (trial, history, expected) in enumerate(cases):
            got = scheduler.decide(trial, history)
            assert got == expected, f"oracle case {i} (trial {trial.number}): {got!r} != {expected!r}"


def check_suggestion(job: Any, history: Sequence[FrozenTrial], scheduler: Any) -> None:
    """Fail unless `job` is None or a Suggestion that refers to trials of `history` rightly."""
    if job is None:
        return
    assert isinstance(job, Suggestion), f"{scheduler!r}.next_job returned {job!r}, not a Suggestion"
    known = {t.number: t for t in history}
    if job.resume is not None:
        assert job.resume in known, f"{scheduler!r} resumed unknown trial {job.resume}"
        state = known[job.resume].state
        assert state is TrialState.PAUSED, f"{scheduler!r} resumed trial {job.resume}, {state.name}"
    for number in (job.fork, job.replaces):
        assert number is None or number in known, f"{scheduler!r} named unknown trial {number}"


@dataclasses.dataclass
class Simulation:
    """What `simulate` saw: the final records, the jobs in order, each decision."""

    trials: dict[int, FrozenTrial]
    jobs: list[tuple[str, int]]  # ("new" | "resume" | "fork" | "wait", trial number or -1)
    decisions: list[tuple[int, int, Decision]]  # (trial, step, decision)


def random_curves(*, seed: int) -> Callable[[int, int], float]:
    """Learning curves a + b / (step + 1) with noise, fixed per (trial, step) by `seed`."""
    def curve(number: int, step: int) -> float:
        rng = random.Random(seed * 1_000_003 + number)
        a, b = rng.random(), rng.random()
        noise = random.Random(f"{seed}-{number}-{step}").gauss(0.0, 0.02)
        return a + b / (step + 1) + noise
    return curve


def simulate(scheduler: Any, curve: Callable[[int, int], float], *, n_trials: int,
             n_workers: int = 1, max_step: int, first_step: int = 1,
             observe: Callable[[Any, FrozenTrial | None, list[FrozenTrial]], None] | None = None,
             ) -> Simulation:
    """Run a study's ask/report/tell loop for `scheduler` with no study, storage or clock.

    Each of `n_workers` workers takes a job when idle (`next_job` first, if the scheduler has
    it; None starts a new trial while fewer than `n_trials` were started; a fork is a new trial
    that reports from the step after its parent's) and otherwise reports
    one step per tick: `curve(number, step)` from `first_step` to `max_step`, then COMPLETE.
    STOP prunes, PAUSE pauses (lineage events as storage appends them). Fails on a suggestion
    that `check_suggestion` refuses, and on waiting while no trial runs (a deadlock).
    `observe(answer, trial, history)` sees every answer with what it was given: a job (trial
    None) or a decision for `trial`.
    """
    trials: dict[int, FrozenTrial] = {}
    jobs: list[tuple[str, int]] = []
    decisions: list[tuple[int, int, Decision]] = []
    workers: list[int | None] = [None] * n_workers
    started = 0
    asks_jobs = isinstance(scheduler, SuggestsJobs)
    while True:
        progressed = False
        for w in range(n_workers):
            number = workers[w]
            if number is None:
                history = list(trials.values())
                job = scheduler.next_job(history) if asks_jobs else None
                check_suggestion(job, history, scheduler)
                if observe is not None:
                    observe(job, None, history)
                if job is not None and job.resume is not None:
                    trial = trials[job.resume]
                    trials[job.resume] = dataclasses.replace(trial, state=TrialState.RUNNING,
                        lineage=(*trial.lineage, {"event": "resumed", "step": trial.last_step}))
                    workers[w], progressed = job.resume, True
                    jobs.append(("resume", job.resume))
                elif job is not None and job.fork is not None:  # a new trial from the parent's step
                    parent, new = trials[job.fork], len(trials)
                    trials[new] = FrozenTrial(new, new, TrialState.RUNNING,
                                              params={**parent.params, **job.params}, lineage=({
                                                  "event": "forked", "parent": job.fork,
                                                  "step": job.step, "changed": {},
                                                  "replaces": job.replaces},))
                    workers[w], progressed = new, True
                    jobs.append(("fork", new))
                elif job is not None:
                    assert job.wait, f"{scheduler!r} asked {job!r}"
                    assert any(n is not None for n in workers), f"{scheduler!r} waits with nothing running"
                    jobs.append(("wait", -1))
                elif started < n_trials:
                    new = len(trials)
                    trials[new] = FrozenTrial(new, new, TrialState.RUNNING)
                    jobs.append(("new", new))
                    workers[w], started, progressed = new, started + 1, True
                continue
            trial = trials[number]
            if trial.last_step is not None:
                step = trial.last_step + 1
            else:
                step = trial.start_step if trial.forked_from is not None else first_step
            trial = dataclasses.replace(trial, intermediate={**trial.intermediate,
                                                             step: curve(number, step)})
            trials[number] = trial
            history = list(trials.values())
            decision = scheduler.decide(trial, history)
            if observe is not None:
                observe(decision, trial, history)
            decisions.append((number, step, decision))
            progressed = True
            if decision is Decision.STOP:
                trials[number], workers[w] = dataclasses.replace(trial, state=TrialState.PRUNED), None
            elif decision is Decision.PAUSE:
                trials[number] = dataclasses.replace(trial, state=TrialState.PAUSED, lineage=(
                    *trial.lineage, {"event": "paused", "step": step}))
                workers[w] = None
            elif step >= max_step:
                trials[number] = dataclasses.replace(trial, state=TrialState.COMPLETE,
                                                     values=(trial.intermediate[step],))
                workers[w] = None
        if not progressed and all(n is None for n in workers):
            return Simulation(trials, jobs, decisions)


@contextmanager
def _real_clock_forbidden() -> Iterator[None]:
    """`time.time` and `time.monotonic` raise while inside, in this thread only: a thread left
    running by other code (a heartbeat, a storage retry, logging) still reads the real clock."""
    saved = time.time, time.monotonic
    owner = threading.get_ident()

    def guarded(real: Callable[[], float]) -> Callable[[], float]:
        def read() -> float:
            if threading.get_ident() == owner:
                raise AssertionError("decide() read the real clock; take a shoal.clock.Clock instead")
            return real()
        return read

    time.time, time.monotonic = guarded(saved[0]), guarded(saved[1])
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


def _cases_paused() -> Iterator[tuple[FrozenTrial, Sequence[FrozenTrial]]]:
    """PAUSED trials (at steps 1, 3, 9 and elsewhere, some resumed before) among finished ones."""
    def paused(number: int, last: int, value: float, resumed: int | None = None) -> FrozenTrial:
        events: list[dict[str, Any]] = [{"event": "paused", "step": last}]
        if resumed is not None:
            events = [{"event": "paused", "step": resumed}, {"event": "resumed", "step": resumed},
                      *events]
        return FrozenTrial(number, 100 + number, TrialState.PAUSED, lineage=tuple(events),
                           intermediate={s: value + 1.0 / (s + 1) for s in range(last + 1)})

    many = [paused(i, 1, 0.1 * i) for i in range(9)]
    many += [paused(9 + i, 3, 0.1 * i, resumed=1) for i in range(3)]
    many += [paused(12, 9, 0.0, resumed=3), paused(13, 5, 0.2), paused(14, 0, 0.3)]
    done = [_done(15 + i, _curve(10, start=0.5 + 0.1 * i)) for i in range(3)]
    for trial in (_running(18, {0: 1.0, 1: 0.9}), _running(18, {0: 0.1, 1: 0.05, 2: 0.04, 3: 0.03})):
        yield trial, [*many, *done, trial]
        yield trial, [*many[:3], trial]
    yield many[0], many  # a paused trial decided again (a person resumed it)
    yield _running(0, {}), [paused(0, 1, 0.5)]


def _cases_late_steps() -> Iterator[tuple[FrozenTrial, Sequence[FrozenTrial]]]:
    done = [_done(i, {10_000 * s: 1.0 / (s + 1) for s in range(5)}) for i in range(6)]
    for step in (0, 10_000, 39_999, 40_000, 10**9):
        trial = _running(6, {step: 2.0})
        yield trial, [*done, trial]


def _cases_several_objectives() -> Iterator[tuple[FrozenTrial, Sequence[FrozenTrial]]]:
    """Two objectives (the second maximised), reported per step as the value and the curve
    "objective_1", for a scheduler that declares `multi_objective = True`."""
    def two(number: int, state: TrialState, last: int, a: float, b: float) -> FrozenTrial:
        steps = range(last + 1)
        return FrozenTrial(number, 100 + number, state, signs=(1.0, -1.0),
                           intermediate={s: a + 1.0 / (s + 1) for s in steps},
                           system_attrs={"curves": {"objective_1": {str(s): b for s in steps}}},
                           values=(a, b) if state is TrialState.COMPLETE else None)

    front = [two(i, TrialState.COMPLETE, 9, 0.1 * i, 0.1 * i) for i in range(6)]
    paused = [two(6 + i, TrialState.PAUSED, 1 if i < 4 else 3, 0.2 * i, 1.0 - 0.2 * i)
              for i in range(6)]
    for last in (0, 1, 3, 5):
        trial = two(12, TrialState.RUNNING, last, 0.35, 0.45)
        yield trial, [*front, *paused, trial]
        yield trial, [*paused[:3], trial]


#: The kinds of (trial, history) pairs the suite decides, by name.
SCHEDULER_CASES: dict[str, Callable[[], Iterator[tuple[FrozenTrial, Sequence[FrozenTrial]]]]] = {
    "empty": _cases_empty, "no_reports": _cases_no_reports, "one_report": _cases_one_report,
    "curves": _cases_curves, "neighbours": _cases_neighbours, "maximised": _cases_maximised,
    "non_finite": _cases_non_finite, "many_objectives": _cases_many_objectives,
    "late_steps": _cases_late_steps, "paused": _cases_paused,
}


def _all_cases() -> Iterator[tuple[FrozenTrial, Sequence[FrozenTrial]]]:
    for make in SCHEDULER_CASES.values():
        yield from make()
