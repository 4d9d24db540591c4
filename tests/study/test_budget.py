"""A study's stored budget: what counts, how workers share it, and that no race oversteps it."""

from __future__ import annotations

import multiprocessing as mp
import shutil
import tempfile
from collections.abc import Sequence
from typing import Any

import pytest

import shoal
from shoal.clock import FakeClock
from shoal.exceptions import ConfigError
from shoal.executors import Executor, LocalBudget, ProcessExecutor
from shoal.samplers import GridSampler, RandomSampler
from shoal.schedulers import Decision, Suggestion
from shoal.storage import BudgetRecord, InMemoryStorage, open_storage
from shoal.study._budget import StudyBudget, StudyBudgetExecutor, counted_trials
from shoal.testing import ExecutorSuite
from shoal.trial import FrozenTrial, TrialState


def quadratic(trial: shoal.Trial) -> float:
    x = trial.suggest_float("x", -1.0, 1.0)
    return x * x


def test_counted_trials_are_the_started_ones_but_forks() -> None:
    def made(number: int, state: TrialState, *events: str) -> FrozenTrial:
        return FrozenTrial(number=number, trial_id=number + 1, state=state,
                           lineage=tuple({"event": e} for e in events))

    trials = [made(0, TrialState.COMPLETE), made(1, TrialState.FAILED), made(2, TrialState.RUNNING),
              made(3, TrialState.PAUSED, "paused"), made(4, TrialState.COMPLETE, "paused", "resumed"),
              made(5, TrialState.WAITING), made(6, TrialState.COMPLETE, "forked"),
              made(7, TrialState.WAITING, "forked")]
    assert counted_trials(trials) == 5  # 0-4: a pause, a resume and a retry start nothing new


def test_set_budget_counts_what_the_study_already_started() -> None:
    clock = FakeClock(start=100.0)
    study = shoal.create_study(clock=clock)
    study.optimize(quadratic, n_trials=3)
    study.enqueue({"x": 0.5})
    assert study.set_budget(n_trials=10, timeout=60.0) == BudgetRecord(10, 160.0, 3)
    assert study.storage.get_budget(study.study_id) == BudgetRecord(10, 160.0, 3)
    assert study.set_budget() == BudgetRecord(None, None, 3)  # no limit, no deadline


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_trials": -1}, "n_trials of set_budget must be an integer >= 0 or None. Got -1."),
    ({"n_trials": 2.5}, "n_trials of set_budget must be an integer >= 0 or None. Got 2.5."),
    ({"timeout": 0}, "timeout of set_budget must be a finite number > 0 or None. Got 0."),
])
def test_set_budget_refuses_mistakes_in_one_sentence(kwargs: dict[str, Any], message: str) -> None:
    study = shoal.create_study()
    with pytest.raises(ConfigError) as info:
        study.set_budget(**kwargs)
    assert str(info.value).startswith(message)
    assert study.storage.get_budget(study.study_id) is None


def test_optimize_under_the_study_budget_stops_when_it_is_spent() -> None:
    study = shoal.create_study(sampler=RandomSampler(seed=0))
    study.set_budget(n_trials=5)
    study.optimize(quadratic, executor=StudyBudgetExecutor(study))  # no n_trials of its own
    assert len(study.trials) == 5
    study.optimize(quadratic, executor=StudyBudgetExecutor(study))
    assert len(study.trials) == 5  # spent: a later worker starts nothing
    assert study.storage.get_budget(study.study_id) == BudgetRecord(5, None, 5)


def test_a_worker_s_own_n_trials_caps_it_within_the_study_budget() -> None:
    study = shoal.create_study(sampler=RandomSampler(seed=0))
    study.set_budget(n_trials=10)
    study.optimize(quadratic, n_trials=3, executor=StudyBudgetExecutor(study))
    assert len(study.trials) == 3
    assert study.storage.get_budget(study.study_id) == BudgetRecord(10, None, 3)
    study.optimize(quadratic, n_trials=30, executor=StudyBudgetExecutor(study))
    assert len(study.trials) == 10


def test_an_exhausted_search_space_gives_its_slot_back() -> None:
    study = shoal.create_study(sampler=GridSampler({"c": ["a", "b"]}))
    study.set_budget(n_trials=5)
    study.optimize(lambda t: float(t.suggest_categorical("c", ["a", "b"]) == "a"),
                   executor=StudyBudgetExecutor(study))
    assert sum(t.state is TrialState.COMPLETE for t in study.trials) == 2
    assert study.storage.get_budget(study.study_id) == BudgetRecord(5, None, 2)


class PauseAtTwo:
    """Pause every trial at step 2 once; resume the paused ones in number order."""

    rung_steps = frozenset({2})

    def decide(self, trial: FrozenTrial, history: Sequence[FrozenTrial]) -> Decision:
        return Decision.PAUSE if trial.last_step == 2 and not trial.resumes else Decision.CONTINUE

    def next_job(self, history: Sequence[FrozenTrial]) -> Suggestion | None:
        paused = [t for t in history if t.state is TrialState.PAUSED]
        return Suggestion(resume=paused[0].number) if paused else None


def stepping(trial: shoal.Trial) -> float:
    x = trial.suggest_float("x", 0.0, 1.0)
    start = 0 if trial.resume_step is None else trial.resume_step + 1
    for step in range(start, 4):
        trial.report(x + step, step)
        with trial.checkpoint(step) as folder:
            (folder / "x").write_text(str(x))
        if trial.should_pause():
            raise shoal.TrialPaused()
    return x


def test_resuming_paused_trials_uses_no_budget(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_ARTIFACTS", str(tmp_path))
    study = shoal.create_study(scheduler=PauseAtTwo(), sampler=RandomSampler(seed=0))
    study.set_budget(n_trials=3)
    study.optimize(stepping, executor=StudyBudgetExecutor(study))
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3  # resumed after the last new one
    assert [t.resumes for t in trials] == [1, 1, 1]
    assert study.storage.get_budget(study.study_id) == BudgetRecord(3, None, 3)


def test_claims_take_both_budgets_or_neither() -> None:
    storage = InMemoryStorage()
    study_id = storage.create_study("s", [shoal.Direction.MINIMIZE]).study_id
    storage.set_budget(study_id, n_trials=1, deadline=None)
    inner = LocalBudget(n_trials=1, timeout=None)
    budget = StudyBudget(storage=storage, study_id=study_id, inner=inner, deadline=None)
    assert budget.claim()
    assert not budget.claim()  # both spent
    budget.release()
    assert storage.get_budget(study_id) == BudgetRecord(1, None, 0)
    storage.set_budget(study_id, n_trials=0, deadline=None)  # the study's is spent, the call's not
    assert not budget.claim()
    assert inner.claim()  # the call's slot was given back


def test_the_stored_deadline_stops_the_worker() -> None:
    clock = FakeClock(start=50.0)
    storage = InMemoryStorage(clock=clock)
    study_id = storage.create_study("s", [shoal.Direction.MINIMIZE]).study_id
    storage.set_budget(study_id, n_trials=None, deadline=60.0)
    budget = StudyBudget(storage=storage, study_id=study_id, deadline=60.0, clock=clock,
                         inner=LocalBudget(n_trials=None, timeout=None, clock=clock))
    assert budget.claim()
    assert not budget.stopped
    storage.set_budget(study_id, n_trials=None, deadline=70.0)  # moved later while it runs
    clock.advance(10.0)
    assert not budget.stopped  # read again at its old deadline
    assert budget.claim()
    clock.advance(10.0)
    assert budget.stopped
    assert not budget.claim()
    storage.set_budget(study_id, n_trials=None, deadline=None)
    assert budget.stopped  # once passed, it stays passed: no read per loop


def test_stop_reaches_the_call_s_own_budget() -> None:
    storage = InMemoryStorage()
    study_id = storage.create_study("s", [shoal.Direction.MINIMIZE]).study_id
    inner = LocalBudget(n_trials=None, timeout=None)
    budget = StudyBudget(storage=storage, study_id=study_id, deadline=None, inner=inner)
    budget.stop()
    assert inner.stopped
    assert budget.stopped
    assert not budget.claim()


def _claim_all(url: str, study_id: int, start: Any, results: Any) -> None:
    storage = open_storage(url)
    start.wait()
    won = 0
    while storage.claim_budget(study_id):
        won += 1
    storage.close()
    results.put(won)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_processes_claiming_at_once_never_exceed_the_limit(
        backend: str, tmp_path: Any, request: pytest.FixtureRequest) -> None:
    url = f"sqlite:///{tmp_path}/b.db" if backend == "sqlite" else request.getfixturevalue(
        "fresh_postgres_url")
    study = shoal.create_study("race", storage=url)
    study.set_budget(n_trials=37)
    ctx = mp.get_context("fork")
    start, results = ctx.Event(), ctx.Queue()
    workers = [ctx.Process(target=_claim_all, args=(url, study.study_id, start, results))
               for _ in range(4)]
    for worker in workers:
        worker.start()
    start.set()
    won = [results.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(30)
        assert worker.exitcode == 0
    assert sum(won) == 37
    assert study.storage.get_budget(study.study_id) == BudgetRecord(37, None, 37)


class TestStudyBudgetExecutor(ExecutorSuite):
    """Under a study budget larger than any run of the suite, the wrapper is the executor it wraps:
    every claim also goes through the SQLite budget row, from every worker process."""

    _folders: list[str] = []

    def make_executor(self) -> Executor:
        folder = tempfile.mkdtemp(prefix="shoal-budget-suite-")
        self._folders.append(folder)
        study = shoal.create_study("suite", storage=f"sqlite:///{folder}/s.db")
        study.set_budget(n_trials=100_000)
        return StudyBudgetExecutor(study, executor=ProcessExecutor())

    def teardown_method(self) -> None:
        while self._folders:
            shutil.rmtree(self._folders.pop(), ignore_errors=True)
