"""Executors: trial budgets shared by workers, error propagation, crashed workers."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shoal.clock import FakeClock
from shoal.exceptions import ConfigError
from shoal.executors import (
    Budget,
    Executor,
    LocalBudget,
    ProcessExecutor,
    SerialExecutor,
    WorkerContext,
    WorkerCrashed,
)


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


def _send_three(context: WorkerContext) -> None:
    while context.budget.claim():
        context.send((context.index, os.getpid()))
        time.sleep(0.02)  # the handler runs while the worker goes on; give it time to stop us


@pytest.mark.parametrize("executor", [SerialExecutor(), ProcessExecutor()], ids=repr)
def test_worker_messages_reach_the_handler_in_the_calling_process(executor: Executor) -> None:
    seen: list[tuple[object, int]] = []

    def handler(message: object, budget: Budget) -> None:
        seen.append((message, os.getpid()))
        if len(seen) == 3:
            budget.stop()  # the caller can end the run from its handler

    executor.run(_send_three, n_workers=1, n_trials=100, timeout=None, on_event=handler)
    assert 3 <= len(seen) < 20
    assert {pid for _, pid in seen} == {os.getpid()}
    worker_pids = {message[1] for message, _ in seen}  # type: ignore[index]
    assert (worker_pids == {os.getpid()}) == isinstance(executor, SerialExecutor)


def _raise_in_handler(message: object, budget: Budget) -> None:
    raise RuntimeError("the handler broke")


def test_an_error_in_the_handler_stops_the_workers_and_is_raised() -> None:
    with pytest.raises(RuntimeError, match="the handler broke"):
        ProcessExecutor().run(_send_three, n_workers=2, n_trials=None, timeout=None,
                              on_event=_raise_in_handler)


ORPHAN_PARENT = """
import os, sys, time
from shoal.executors import ProcessExecutor, _processes

def job(context):
    with open(os.path.join(sys.argv[1], f"worker-{os.getpid()}"), "w"):
        pass
    while context.budget.claim():
        with open(os.path.join(sys.argv[1], f"claim-{os.getpid()}-{time.time()}"), "w"):
            pass
        time.sleep(0.2)

if __name__ == "__main__":
    if sys.argv[3] == "lifeline-only":
        _processes._die_with_parent = lambda parent_pid: None
    ProcessExecutor(start_method=sys.argv[2]).run(job, n_workers=2, n_trials=None, timeout=None)
"""


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as stat:  # a zombie is dead, only not yet reaped
        return stat.read().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
@pytest.mark.parametrize(("start_method", "mode"), [
    ("fork", "both"), ("spawn", "both"), ("fork", "lifeline-only")])
def test_workers_die_with_their_parent(tmp_path: Path, start_method: str, mode: str) -> None:
    script = tmp_path / "parent.py"
    script.write_text(ORPHAN_PARENT)
    parent = subprocess.Popen([sys.executable, str(script), str(tmp_path), start_method, mode],
                              stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 30
    while len(list(tmp_path.glob("worker-*"))) < 2:
        assert time.time() < deadline, parent.stderr
        assert parent.poll() is None, parent.stderr
        time.sleep(0.05)
    pids = [int(p.name.split("-")[1]) for p in tmp_path.glob("worker-*")]
    parent.kill()
    parent.communicate(timeout=10)
    deadline = time.time() + 5
    while any(_alive(pid) for pid in pids):
        assert time.time() < deadline, f"workers {pids} outlived their parent"
        time.sleep(0.05)
    claims = len(list(tmp_path.glob("claim-*")))
    time.sleep(0.5)
    assert len(list(tmp_path.glob("claim-*"))) == claims
