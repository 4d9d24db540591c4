"""Executors: trial budgets shared by workers, error propagation, crashed workers."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from shoal.clock import FakeClock
from shoal.exceptions import ConfigError
from shoal.executors import LocalBudget, ProcessExecutor, SerialExecutor, WorkerContext, WorkerCrashed


def test_local_budget_counts_trials_and_deadline() -> None:
    clock = FakeClock(0.0)
    budget = LocalBudget(n_trials=3, timeout=10.0, clock=clock)
    assert [budget.claim() for _ in range(4)] == [True, True, True, False]
    budget.release()
    assert budget.claim()
    unlimited = LocalBudget(n_trials=None, timeout=10.0, clock=clock)
    assert unlimited.claim()
    clock.advance(10.0)
    assert not unlimited.claim()


def test_budget_stop() -> None:
    budget = LocalBudget(n_trials=None, timeout=None)
    budget.stop()
    assert budget.stopped
    assert not budget.claim()


def _write_claims(folder: Path, context: WorkerContext) -> None:
    while context.budget.claim():
        with open(folder / f"worker-{context.index}", "a") as f:
            f.write("x")


def test_process_executor_shares_the_budget(tmp_path: Path) -> None:
    ProcessExecutor().run(lambda ctx: _write_claims(tmp_path, ctx), n_workers=3, n_trials=50,
                          timeout=None)
    counts = [len((tmp_path / f"worker-{i}").read_text()) for i in range(3)
              if (tmp_path / f"worker-{i}").exists()]
    assert sum(counts) == 50


def _fail_in_worker_one(context: WorkerContext) -> None:
    if context.index == 1:
        raise ValueError("worker one is broken")
    while context.budget.claim():  # the others stop once worker 1 stops the budget
        pass


def test_process_executor_reraises_the_first_error() -> None:
    with pytest.raises(ValueError, match="worker one is broken"):
        ProcessExecutor().run(_fail_in_worker_one, n_workers=2, n_trials=None, timeout=None)


def _die(context: WorkerContext) -> None:
    os._exit(9)


def test_process_executor_reports_crashed_workers() -> None:
    with pytest.raises(WorkerCrashed, match="exit code 9"):
        ProcessExecutor().run(_die, n_workers=1, n_trials=1, timeout=None)


def test_serial_executor_runs_in_process() -> None:
    seen: list[int] = []
    SerialExecutor().run(lambda ctx: seen.append(ctx.index), n_trials=1, timeout=None)
    assert seen == [0]
    with pytest.raises(ConfigError, match="n_workers of SerialExecutor must be 1"):
        SerialExecutor().run(lambda ctx: None, n_workers=2, n_trials=1, timeout=None)


def test_bad_start_method() -> None:
    with pytest.raises(ConfigError, match="start_method of ProcessExecutor must be one of"):
        ProcessExecutor(start_method="teleport")
