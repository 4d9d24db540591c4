"""Every sampler, scheduler, storage and executor shoal ships passes its conformance suite.

As scikit-learn's test_common.py: the classes are enumerated from the packages' `__all__`, so a
new class is covered by its suite without anyone remembering to add a test file, and the defaults
users get (`AutoSampler`, `MedianStopping`) are tested as they are. A class that cannot be built
with its defaults must be registered in the table of its extension point below, else
`test_every_class_is_covered` fails saying so. PostgreSQL runs the storage suite in
`tests/storage/test_postgres.py` (it needs a server).

The second half runs SamplerSuite against deliberately broken samplers and checks that it fails
them: a suite that passes a sampler which always raises proves nothing.
"""

from __future__ import annotations

import contextlib
import inspect
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import shoal.executors
import shoal.samplers
import shoal.schedulers
import shoal.storage
from shoal.clock import FakeClock
from shoal.exceptions import SearchSpaceExhausted
from shoal.executors import Executor, ProcessExecutor, RayExecutor, Resources, SerialExecutor
from shoal.samplers import GridSampler, History, RandomSampler, Sampler
from shoal.samplers._streams import space_rng
from shoal.schedulers import (
    ASHA,
    PB2,
    PBT,
    Decision,
    Hyperband,
    MedianStopping,
    Scheduler,
    SuccessiveHalving,
    Suggestion,
)
from shoal.space import Float, Space
from shoal.storage import InMemoryStorage, Storage
from shoal.storage._sql import SQLStorage
from shoal.testing import ExecutorSuite, SamplerSuite, SchedulerSuite, StorageSuite
from shoal.trial import FrozenTrial, TrialState

# The tables: how to build a class for its suite when its defaults are not enough. ---------------


def _grid_for(space: Space, seed: int | None) -> Sampler:
    # Continuous parameters need explicit points; shuffled, so the seed matters.
    grid = {name: [p.decode(u) for u in (0.0, 0.5, 1.0)]
            for name, p in space.items() if isinstance(p, Float)}
    return GridSampler(grid or None, seed=seed, shuffle=True)


#: Sampler name -> (make_sampler(seed), make_sampler_for(space, seed) or None).
SAMPLERS: dict[str, tuple[Callable[[Any], Sampler], Callable[[Space, Any], Sampler] | None]] = {
    "GridSampler": (lambda seed: GridSampler(seed=seed, shuffle=True), _grid_for),
}


def _r(number: int, curve: dict[int, float], state: TrialState = TrialState.COMPLETE,
       sign: float = 1.0) -> FrozenTrial:
    values = (curve[max(curve)],) if curve and state is TrialState.COMPLETE else None
    return FrozenTrial(number, number, state, intermediate=curve, values=values, signs=(sign,))


def _median_oracle() -> list[tuple[FrozenTrial, Sequence[FrozenTrial], Decision]]:
    """MedianStopping's defaults (min_trials=5, no warm-up) by hand: running averages at step 1
    of five completed curves {0: 1.0, 1: 0.5} are 0.75, so the median is 0.75."""
    done = [_r(i, {0: 1.0, 1: 0.5}) for i in range(5)]
    worse, better = _r(5, {0: 2.0, 1: 1.5}, TrialState.RUNNING), _r(5, {0: 0.4, 1: 2.0},
                                                                    TrialState.RUNNING)
    maximised = [_r(i, {0: -1.0, 1: -0.5}, sign=-1.0) for i in range(5)]
    return [
        (worse, done, Decision.STOP),  # best 1.5 > 0.75
        (better, done, Decision.CONTINUE),  # best 0.4 <= 0.75
        (worse, done[:4], Decision.CONTINUE),  # 4 < min_trials
        (_r(5, {}, TrialState.RUNNING), done, Decision.CONTINUE),  # nothing reported yet
        (_r(5, {2: 9.0}, TrialState.RUNNING), done, Decision.CONTINUE),  # nobody reached step 2
        (_r(5, {0: -2.0, 1: -1.5}, TrialState.RUNNING, sign=-1.0), maximised, Decision.STOP),
        (worse, [_r(i, {0: 1.0, 1: 0.5}, TrialState.PRUNED) for i in range(5)],
         Decision.CONTINUE),  # pruned trials do not count
        (_r(5, {0: 0.75, 1: 0.75}, TrialState.RUNNING), done, Decision.CONTINUE),  # a tie goes on
    ]


def _pbt_oracle() -> list[tuple[FrozenTrial, Sequence[FrozenTrial], Decision]]:
    """PBT's defaults (population 8, interval 4, quantile 0.25) by hand: eight members report a
    constant curve over steps 0..3; ranked, k = ceil(8 * 0.25) = 2 at each end."""
    scores = [0.5, 0.2, 0.9, 0.4, 0.1, 0.7, 0.3, 0.8]  # worst two: 2 (0.9) and 7 (0.8)
    members = [_r(i, {s: v for s in range(4)}, TrialState.RUNNING) for i, v in enumerate(scores)]
    paused = [*members[:7], _r(7, {s: 0.8 for s in range(2)}, TrialState.PAUSED)]
    return [
        *((m, members, Decision.STOP if m.number in (2, 7) else Decision.CONTINUE) for m in members),
        (_r(2, {s: 0.9 for s in range(3)}, TrialState.RUNNING), members, Decision.CONTINUE),  # step 2
        (members[0], paused, Decision.PAUSE),  # member 7 paused behind, at step 1
        (members[0], members[:4], Decision.PAUSE),  # four founders not started yet
        (_r(8, {s: 9.0 for s in range(4)}, TrialState.RUNNING), members, Decision.CONTINUE),  # no member
    ]


def _asha_oracle() -> list[tuple[FrozenTrial, Sequence[FrozenTrial], Decision]]:
    """ASHA(max_resource=9) by hand: rungs 1 and 3; at a rung a trial goes on when at most 1/3 of
    the trials there (itself included) are strictly better."""
    done = [_r(i, {1: 0.1 * (i + 1), 3: 0.1 * (i + 1)}) for i in range(5)]  # 0.1 .. 0.5
    return [
        (_r(5, {1: 0.35}, TrialState.RUNNING), done, Decision.STOP),  # 3 better of 6
        (_r(5, {1: 0.25}, TrialState.RUNNING), done, Decision.CONTINUE),  # 2 of 6: 1/3 goes on
        (_r(5, {1: 0.25, 2: 9.0}, TrialState.RUNNING), done, Decision.CONTINUE),  # between rungs
        (_r(5, {0: 0.25}, TrialState.RUNNING), done, Decision.CONTINUE),  # before the first rung
        (_r(5, {9: 9.0}, TrialState.RUNNING), done, Decision.CONTINUE),  # at max_resource
        (_r(5, {1: 0.5}, TrialState.RUNNING), done[:1], Decision.STOP),  # 1 better of 2
        (_r(5, {1: 0.5}, TrialState.RUNNING), [], Decision.CONTINUE),  # first at its rung
    ]


def _percentile_oracle() -> list[tuple[FrozenTrial, Sequence[FrozenTrial], Decision]]:
    """PercentileStopping's defaults (25th percentile, min_trials=5) by hand: five completed
    trials reported 1..5 at step 1, whose 25th percentile is 2.0."""
    done = [_r(i, {0: 9.0, 1: 1.0 + i}) for i in range(5)]
    return [
        (_r(5, {0: 9.0, 1: 2.5}, TrialState.RUNNING), done, Decision.STOP),  # 2.5 > 2.0
        (_r(5, {0: 1.5, 1: 2.5}, TrialState.RUNNING), done, Decision.CONTINUE),  # best so far 1.5
        (_r(5, {0: 9.0, 1: 2.5}, TrialState.RUNNING), done[:4], Decision.CONTINUE),  # 4 < 5
    ]


#: Scheduler name -> (make_scheduler(), oracle cases or None).
SCHEDULERS: dict[str, tuple[Callable[[], Scheduler] | None, Callable[[], list[Any]] | None]] = {
    "ASHA": (lambda: ASHA(max_resource=9), _asha_oracle),
    "Hyperband": (lambda: Hyperband(max_resource=9, mode="promotion"), None),
    "SuccessiveHalving": (lambda: SuccessiveHalving(max_resource=9, n_configs=9), None),
    "MedianStopping": (None, _median_oracle),
    # Seeded: with seed=None each instance draws its own entropy (pickled copies agree), so a
    # fresh instance forks differently, and the suite compares fresh instances.
    "PB2": (lambda: PB2(seed=0), _pbt_oracle),  # PBT's decisions; only the explore differs
    "PBT": (lambda: PBT(seed=0), _pbt_oracle),
    "PercentileStopping": (None, _percentile_oracle),
    "NoStopping": (None, lambda: [(_r(5, {0: 99.0}, TrialState.RUNNING),
                                   [_r(i, {0: 1.0}) for i in range(9)], Decision.CONTINUE)]),
}

#: Storage -> make_storage(tmp_path, clock); SQLStorage is reached through sqlite:/// URLs.
STORAGES: dict[str, Callable[[Path, FakeClock], Storage]] = {
    "InMemoryStorage": lambda tmp_path, clock: InMemoryStorage(clock=clock),
    "SQLStorage": lambda tmp_path, clock: SQLStorage(f"sqlite:///{tmp_path / 'common.db'}",
                                                     clock=clock),
}

#: Executor name -> (make_executor(), parallel).
EXECUTORS: dict[str, tuple[Callable[[], Executor], bool]] = {
    "ProcessExecutor": (ProcessExecutor, True),
    # Ray started in this process, not a cluster found on the machine; half a CPU each: 3 at once.
    "RayExecutor": (lambda: RayExecutor(address="local", resources=Resources(cpus=0.5)), True),
    "SerialExecutor": (SerialExecutor, False),
}

#: Seconds of slack for the timeout test where workers start slower than a fork (a fresh Ray
#: worker process imports Ray and shoal: seconds on a loaded 2-core machine).
EXECUTOR_SLACK = {"RayExecutor": 15.0}


# Enumeration -------------------------------------------------------------------------------------
def _classes(module: ModuleType, method: str) -> list[type]:
    """The concrete classes `module` exports that have `method` (protocols left out)."""
    out = []
    for name in module.__all__:
        obj = getattr(module, name)
        if inspect.isclass(obj) and callable(getattr(obj, method, None)) \
                and not getattr(obj, "_is_protocol", False):
            out.append(obj)
    return out


SAMPLER_CLASSES = _classes(shoal.samplers, "suggest")
SCHEDULER_CLASSES = _classes(shoal.schedulers, "decide")
EXECUTOR_CLASSES = _classes(shoal.executors, "run")
STORAGE_CLASSES = [*_classes(shoal.storage, "create_trial"), SQLStorage]


def _multi_objective_pending(cls: type) -> str:
    """Why a sampler's multi-objective cases wait, or "" when they run.

    AutoSampler declares the capability on behalf of GPSampler and TPESampler, whose
    multi-objective paths land on their own branches; its cases run once both declare it.
    """
    if cls is not shoal.samplers.AutoSampler:
        return ""
    missing = [c.__name__ for c in (shoal.samplers.GPSampler, shoal.samplers.TPESampler)
               if getattr(c, "multi_objective", False) is not True]
    return (f"it delegates to {' and '.join(missing)}, which do not declare "
            "multi_objective = True yet") if missing else ""


def _sampler_suite(cls: type) -> type:
    make, make_for = SAMPLERS.get(cls.__name__, (lambda seed: cls(seed=seed), None))
    body: dict[str, Any] = {"make_sampler": lambda self, seed: make(seed),
                            "multi_objective_pending": _multi_objective_pending(cls)}
    if make_for is not None:
        body["make_sampler_for"] = lambda self, space, seed: make_for(space, seed)
    return type(f"Test{cls.__name__}Suite", (SamplerSuite,), body)


def _scheduler_suite(cls: type) -> type:
    make, oracle = SCHEDULERS.get(cls.__name__, (None, None))
    body: dict[str, Any] = {"make_scheduler": lambda self: (make or cls)()}
    if oracle is not None:
        body["oracle_cases"] = lambda self: oracle()
    return type(f"Test{cls.__name__}Suite", (SchedulerSuite,), body)


def _storage_suite(cls: type) -> type:
    make = STORAGES.get(cls.__name__, lambda tmp_path, clock: cls(clock=clock))
    return type(f"Test{cls.__name__}Suite", (StorageSuite,),
                {"make_storage": lambda self, tmp_path, clock: make(tmp_path, clock)})


def _executor_suite(cls: type) -> type:
    make, parallel = EXECUTORS.get(cls.__name__, (cls, True))
    return type(f"Test{cls.__name__}Suite", (ExecutorSuite,),
                {"make_executor": lambda self: make(), "parallel": parallel,
                 "slack": EXECUTOR_SLACK.get(cls.__name__, ExecutorSuite.slack)})


SUITES: dict[type, type] = {}
for _cls in SAMPLER_CLASSES:
    SUITES[_cls] = _sampler_suite(_cls)
for _cls in SCHEDULER_CLASSES:
    SUITES[_cls] = _scheduler_suite(_cls)
for _cls in STORAGE_CLASSES:
    SUITES[_cls] = _storage_suite(_cls)
for _cls in EXECUTOR_CLASSES:
    SUITES[_cls] = _executor_suite(_cls)
for _suite in SUITES.values():  # pytest collects the Test* classes of this module
    globals()[_suite.__name__] = _suite


def _builds_with_defaults(cls: type, kind: str) -> bool:
    try:
        if kind == "sampler":
            cls(seed=0)
        elif kind == "storage":
            return False  # a storage needs a place: always registered
        else:
            cls()
    except TypeError:
        return False
    return True


@pytest.mark.parametrize(("kind", "classes", "table"), [
    ("sampler", SAMPLER_CLASSES, SAMPLERS), ("scheduler", SCHEDULER_CLASSES, SCHEDULERS),
    ("storage", STORAGE_CLASSES, STORAGES), ("executor", EXECUTOR_CLASSES, EXECUTORS),
])
def test_every_class_is_covered(kind: str, classes: list[type], table: dict[str, Any]) -> None:
    assert classes, f"no {kind} classes found"
    for cls in classes:
        assert globals().get(f"Test{cls.__name__}Suite") is SUITES[cls]
        if cls.__name__ not in table:
            assert _builds_with_defaults(cls, kind), (
                f"{cls.__name__} cannot be built with its defaults: register it in the "
                f"{kind.upper()}S table of tests/test_common.py so its suite can run.")
    stale = set(table) - {cls.__name__ for cls in classes}
    assert not stale, f"{sorted(stale)} in the {kind.upper()}S table are no {kind}s of shoal"


def test_the_defaults_users_get_are_covered() -> None:
    assert shoal.samplers.AutoSampler in SUITES
    assert MedianStopping in SUITES
    assert {InMemoryStorage, SQLStorage, ProcessExecutor, SerialExecutor} <= set(SUITES)


# The suite fails broken samplers -------------------------------------------------------------
class _Base:
    def __init__(self, *, seed: Any = None) -> None:
        self.seed = seed

    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        raise NotImplementedError


class AlwaysExhausted(_Base):
    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        raise SearchSpaceExhausted("nothing left")


class AlwaysRaises(_Base):
    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        raise RuntimeError("broken")


class OutOfRange(_Base):
    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        params = space.sample(rng)
        return {k: (v + 1e6 if isinstance(v, float) else v) for k, v in params.items()}


class IgnoresTheRng(_Base):
    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        return space.sample(np.random.default_rng())  # fresh entropy: not reproducible


class Constant(_Base):
    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        return space.decode(np.full(len(space), 0.5))


class OneStreamForAll(_Base):  # main's RandomSampler: a = b for parameters asked alone
    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        return space.sample(rng)


class AcceptsAnySeed(OneStreamForAll):
    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        return shoal.samplers.RandomSampler().suggest(space, history, rng)


class CollapsesOnAFront(_Base):  # the GP: it optimises the first objective only
    multi_objective = True

    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        done = [t for t in history.usable() if t.scores is not None]
        if len(done) < 5:
            return shoal.samplers.RandomSampler().suggest(space, history, rng)
        return dict(min(done, key=lambda t: (t.scores or (0.0,))[0]).params)


class HugsOneEnd(_Base):  # softer: uniform, but in the first 30 % of every range
    multi_objective = True

    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        if len(history.usable()) < 5:
            return shoal.samplers.RandomSampler().suggest(space, history, rng)
        return space.decode(0.3 * space_rng(rng, space).random(len(space)))


class ReadsTheScore(_Base):  # a single-objective sampler that declares the capability anyway
    multi_objective = True

    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        done = history.usable()
        if done:
            best = min(done, key=lambda t: t.score or 0.0)
            return dict(best.params) if rng.random() < 0.5 else space.sample(space_rng(rng, space))
        return space.sample(space_rng(rng, space))


class Undeclared(_Base):  # random search without `multi_objective`: refused, its cases skipped
    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        return shoal.samplers.RandomSampler().suggest(space, history, rng)


_SLOW = {"test_reproducible_in_a_fresh_process"}  # a subprocess each; covered by the others


def _suite_failures(sampler_cls: type) -> set[str]:
    """Names of the SamplerSuite tests that fail for `sampler_cls` (skips do not count)."""
    return _failures(type("Broken", (SamplerSuite,),
                          {"make_sampler": lambda self, seed: sampler_cls(seed=seed)})())


def _failures(suite: Any, tmp_path: Path | None = None) -> set[str]:
    """Names of the suite's tests that fail when called directly (skips do not count)."""
    failed = set()
    for name in dir(suite):
        if not name.startswith("test_") or name in _SLOW:
            continue
        method = getattr(suite, name)
        marks = [m for m in getattr(method, "pytestmark", []) if m.name == "parametrize"]
        calls = [{}] if not marks else [{marks[0].args[0]: v} for v in marks[0].args[1]]
        if "tmp_path" in inspect.signature(method).parameters:
            assert tmp_path is not None
            calls = [{**c, "tmp_path": tmp_path / f"{name}-{i}"} for i, c in enumerate(calls)]
            for c in calls:
                c["tmp_path"].mkdir()
        for kwargs in calls:
            try:
                method(**kwargs)
            except pytest.skip.Exception:
                pass
            except (Exception, pytest.fail.Exception):  # an assertion, or the sampler's error
                failed.add(name)
    return failed


_SUGGESTING = {"test_suggestions_are_valid", "test_unusual_histories",
               "test_same_inputs_same_suggestion", "test_pickles", "test_whole_study_is_reproducible",
               "test_does_not_repeat_itself", "test_parameters_asked_alone_draw_independently"}


@pytest.mark.parametrize(("sampler_cls", "must_fail"), [
    # Exhausted from the first trial: these passed on None == None before (issue 15).
    (AlwaysExhausted, _SUGGESTING),
    (AlwaysRaises, _SUGGESTING),
    (OutOfRange, {"test_suggestions_are_valid", "test_unusual_histories",
                  "test_same_inputs_same_suggestion", "test_pickles"}),
    (IgnoresTheRng, {"test_same_inputs_same_suggestion", "test_whole_study_is_reproducible",
                     "test_pickles"}),
    (Constant, {"test_does_not_repeat_itself", "test_seed_changes_the_study",
                "test_parameters_asked_alone_draw_independently"}),
    (OneStreamForAll, {"test_parameters_asked_alone_draw_independently",
                       "test_refuses_a_bad_seed"}),
    (AcceptsAnySeed, {"test_refuses_a_bad_seed"}),
])
def test_the_sampler_suite_fails_broken_samplers(sampler_cls: type, must_fail: set[str]) -> None:
    failed = _suite_failures(sampler_cls)
    assert must_fail <= failed, f"the suite passed {sampler_cls.__name__} in {sorted(must_fail - failed)}"


_MULTI_OBJECTIVE = {"test_several_objectives_valid", "test_several_objectives_unusual_histories",
                    "test_several_objectives_reproducible", "test_several_objectives_do_not_collapse",
                    "test_refused_unless_multi_objective"}


@pytest.mark.parametrize(("sampler_cls", "must_fail"), [
    (CollapsesOnAFront, {"test_several_objectives_do_not_collapse"}),
    (HugsOneEnd, {"test_several_objectives_do_not_collapse"}),
    (ReadsTheScore, _MULTI_OBJECTIVE - {"test_several_objectives_do_not_collapse"}),
])
def test_the_multi_objective_cases_fail_broken_samplers(sampler_cls: type,
                                                        must_fail: set[str]) -> None:
    failed = _suite_failures(sampler_cls) & _MULTI_OBJECTIVE
    assert must_fail <= failed, f"the suite passed {sampler_cls.__name__} in {sorted(must_fail - failed)}"


def test_the_collapse_check_is_calibrated() -> None:
    # Random search spreads its last 10 proposals over 6-7 of 10 bins; the broken ones 1 and 3.
    from shoal.testing._mo_cases import SPREAD_BINS, SPREAD_MIN, spread_of_proposals

    space = Space({"x": Float(0.0, 1.0)})
    bins = {}
    for cls in (shoal.samplers.RandomSampler, CollapsesOnAFront, HugsOneEnd):
        xs, last = spread_of_proposals(cls(seed=7), space)
        bins[cls.__name__] = len({min(int(x * SPREAD_BINS), SPREAD_BINS - 1) for x in xs[-last:]})
    assert bins["RandomSampler"] >= SPREAD_MIN + 2
    assert bins["CollapsesOnAFront"] == 1
    assert bins["HugsOneEnd"] == 3 < SPREAD_MIN


def test_the_multi_objective_cases_skip_a_sampler_that_does_not_declare_them() -> None:
    suite = type("Undeclared", (SamplerSuite,),
                 {"make_sampler": lambda self, seed: Undeclared(seed=seed)})()
    assert not _suite_failures(Undeclared) & _MULTI_OBJECTIVE  # refusal checked, the rest skipped
    with pytest.raises(pytest.skip.Exception, match="Undeclared does not declare multi_objective"):
        suite.test_several_objectives_valid(n_objectives=2)
    pending = type("Pending", (SamplerSuite,), {"make_sampler": lambda self, seed: RandomSampler(
        seed=seed), "multi_objective_pending": "waits for its model"})()
    with pytest.raises(pytest.skip.Exception, match="RandomSampler: waits for its model"):
        pending.test_several_objectives_do_not_collapse()


def test_the_sampler_suite_passes_a_correct_sampler() -> None:
    assert _suite_failures(shoal.samplers.RandomSampler) == set()


def test_a_class_that_needs_arguments_must_be_registered() -> None:
    class NeedsGrid:
        def __init__(self, grid: dict[str, Any], *, seed: int | None = None) -> None:
            self.grid, self.seed = grid, seed

    assert not _builds_with_defaults(NeedsGrid, "sampler")
    assert _builds_with_defaults(shoal.samplers.RandomSampler, "sampler")


# The scheduler and executor suites fail broken ones -------------------------------------------
class ReturnsAString:
    def decide(self, trial: FrozenTrial, history: Sequence[FrozenTrial]) -> Any:
        return "STOP"


class Remembers:  # hidden state: the answer depends on how often it was asked
    def __init__(self) -> None:
        self.calls = 0

    def decide(self, trial: FrozenTrial, history: Sequence[FrozenTrial]) -> Decision:
        self.calls += 1
        return Decision.STOP if self.calls % 3 == 0 else Decision.CONTINUE


class Mutates:
    def decide(self, trial: FrozenTrial, history: Sequence[FrozenTrial]) -> Decision:
        if isinstance(history, list) and history:
            history.sort(key=lambda t: -t.number)
        return Decision.CONTINUE


class ReadsTheClock:
    def decide(self, trial: FrozenTrial, history: Sequence[FrozenTrial]) -> Decision:
        import time
        return Decision.STOP if time.time() < 0 else Decision.CONTINUE


class _Jobs:  # pauses at step 1 and offers jobs: the base of the broken next_job schedulers
    def decide(self, trial: FrozenTrial, history: Sequence[FrozenTrial]) -> Decision:
        return Decision.PAUSE if trial.last_step == 1 else Decision.CONTINUE

    def next_job(self, history: Sequence[FrozenTrial]) -> Suggestion | None:
        paused = [t for t in history if t.state is TrialState.PAUSED]
        return Suggestion(resume=paused[0].number) if paused else None


class ResumesAnyState(_Jobs):  # resumes whatever trial reported last, running or finished
    def next_job(self, history: Sequence[FrozenTrial]) -> Suggestion | None:
        reported = [t for t in history if t.intermediate]
        return Suggestion(resume=reported[-1].number) if reported else None


class ResumesUnknown(_Jobs):
    def next_job(self, history: Sequence[FrozenTrial]) -> Suggestion | None:
        return Suggestion(resume=10**6) if history else None


class RemembersJobs(_Jobs):
    def __init__(self) -> None:
        self.asked = 0

    def next_job(self, history: Sequence[FrozenTrial]) -> Suggestion | None:
        self.asked += 1
        return super().next_job(history) if self.asked % 2 else None


class WaitsForever(_Jobs):
    def next_job(self, history: Sequence[FrozenTrial]) -> Suggestion | None:
        return Suggestion(wait=True)


@pytest.mark.parametrize(("scheduler_cls", "must_fail"), [
    (ReturnsAString, {"test_decides_every_kind_of_trial"}),
    (ResumesAnyState, {"test_next_job_answers_every_history", "test_simulated_run_keeps_the_invariants"}),
    (ResumesUnknown, {"test_next_job_answers_every_history", "test_simulated_run_keeps_the_invariants"}),
    (RemembersJobs, {"test_next_job_is_pure_and_pickles"}),
    (WaitsForever, {"test_simulated_run_keeps_the_invariants"}),
    (Remembers, {"test_is_pure"}),
    (Mutates, {"test_is_pure"}),
    (ReadsTheClock, {"test_never_reads_the_real_clock"}),
    (lambda: MedianStopping(min_trials=1), {"test_oracle"}),  # not the defaults of the table
])
def test_the_scheduler_suite_fails_broken_schedulers(scheduler_cls: Any,
                                                     must_fail: set[str]) -> None:
    oracle = {"oracle_cases": lambda self: _median_oracle()} if must_fail == {"test_oracle"} else {}
    suite = type("Broken", (SchedulerSuite,), {"make_scheduler": lambda self: scheduler_cls(),
                                               **oracle})()
    failed = _failures(suite)
    assert must_fail <= failed, f"the suite passed {scheduler_cls} in {sorted(must_fail - failed)}"


def test_the_scheduler_suite_passes_a_correct_job_scheduler() -> None:
    # The base of the broken ones above: they fail for what they break, not for what they share.
    suite = type("Correct", (SchedulerSuite,), {"make_scheduler": lambda self: _Jobs()})()
    assert _failures(suite) == set()


class OneTrialTooMany(SerialExecutor):
    def run(self, job: Any, *, n_workers: int = 1, n_trials: int | None,
            timeout: float | None) -> None:
        super().run(job, n_workers=n_workers, n_trials=None if n_trials is None else n_trials + 1,
                    timeout=timeout)


class SwallowsErrors(SerialExecutor):
    def run(self, job: Any, *, n_workers: int = 1, n_trials: int | None,
            timeout: float | None) -> None:
        with contextlib.suppress(Exception):
            super().run(job, n_workers=n_workers, n_trials=n_trials, timeout=timeout)


class IgnoresTimeout(SerialExecutor):
    def run(self, job: Any, *, n_workers: int = 1, n_trials: int | None,
            timeout: float | None) -> None:
        super().run(job, n_workers=n_workers, n_trials=n_trials,
                    timeout=None if timeout is None else 10 * timeout)


class OneWorkerAnyway(SerialExecutor):
    def run(self, job: Any, *, n_workers: int = 1, n_trials: int | None,
            timeout: float | None) -> None:
        super().run(job, n_workers=1, n_trials=n_trials, timeout=timeout)


@pytest.mark.parametrize(("executor_cls", "must_fail"), [
    (OneTrialTooMany, {"test_runs_exactly_the_budget", "test_zero_trials_runs_none"}),
    (SwallowsErrors, {"test_reraises_a_job_error"}),
    (IgnoresTimeout, {"test_honours_the_timeout"}),
    (OneWorkerAnyway, {"test_more_workers_than_it_has"}),
])
def test_the_executor_suite_fails_broken_executors(executor_cls: type, must_fail: set[str],
                                                   tmp_path: Path) -> None:
    suite = type("Broken", (ExecutorSuite,), {"make_executor": lambda self: executor_cls(),
                                              "parallel": False})()
    failed = _failures(suite, tmp_path)
    assert must_fail <= failed, f"the suite passed {executor_cls.__name__} in {sorted(must_fail - failed)}"
