"""The conformance suite every executor must pass: subclass `ExecutorSuite` and name the factory."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import pytest

from shoal.exceptions import ConfigError
from shoal.executors import Executor, WorkerContext

__all__ = ["ExecutorSuite", "JobFailed"]


class JobFailed(Exception):
    """The error the suite's failing job raises (module-level, so it pickles across processes)."""


class ExecutorSuite:
    """Conformance tests for an executor: subclass it in a test file and define `make_executor`.

    The suite runs small worker jobs (picklable objects that write what they did into files
    under `tmp_path`, so it works for processes as well as threads) through the `Executor`
    protocol only, and checks that `run(job, n_workers=, n_trials=, timeout=)`:

    - starts every worker once, with its index and the number of workers, and together they
      run exactly `n_trials` trials (a released claim is handed out again), with 1 and with
      `n_workers` workers;
    - returns once `timeout` has passed, after the trials running then;
    - returns when a job stops the budget, every other worker stopping before its next trial;
    - re-raises the first exception of a job, and the others stop;
    - leaves no worker process behind, after success and after a failure.

    Set `parallel = False` for an executor that runs one worker only: asking it for more must
    then be a `ConfigError`, not a silent single worker.

    Example (a whole test file; pytest collects it through the `Test` prefix):

    >>> from shoal.executors import SerialExecutor
    >>> class TestSerialExecutor(ExecutorSuite):
    ...     parallel = False
    ...     def make_executor(self):
    ...         return SerialExecutor()
    >>> TestSerialExecutor().make_executor()
    SerialExecutor()
    """

    #: Whether the executor runs several workers at once.
    parallel: ClassVar[bool] = True
    #: Workers of the parallel tests.
    n_workers: ClassVar[int] = 3
    #: Seconds the timeout test allows beyond its timeout (process start-up, a trial finishing).
    slack: ClassVar[float] = 3.0

    def make_executor(self) -> Executor:
        """Return a new executor."""
        raise NotImplementedError(f"{type(self).__name__} must define make_executor(self) "
                                  "returning a new executor.")

    def worker_counts(self) -> list[int]:
        return [1, self.n_workers] if self.parallel else [1]

    # Tests ------------------------------------------------------------------------------------
    def test_is_an_executor(self) -> None:
        assert isinstance(self.make_executor(), Executor)

    def test_runs_exactly_the_budget(self, tmp_path: Path) -> None:
        for n in self.worker_counts():
            folder = tmp_path / f"n{n}"
            folder.mkdir()
            self.make_executor().run(_Trials(str(folder), pause=0.002), n_workers=n, n_trials=20,
                                     timeout=None)
            log = _read(folder)
            assert sorted(log.starts) == [(i, n) for i in range(n)], (
                f"every worker must start once with (index, n_workers); got {log.starts}")
            assert log.trials == 20, f"{n} worker(s) ran {log.trials} trials of a budget of 20"
            assert _alive(log.pids) == [], "worker processes outlived run()"

    def test_released_claims_are_handed_out_again(self, tmp_path: Path) -> None:
        n = self.worker_counts()[-1]
        self.make_executor().run(_Trials(str(tmp_path), release_first=True), n_workers=n,
                                 n_trials=7, timeout=None)
        assert _read(tmp_path).trials == 7

    def test_zero_trials_runs_none(self, tmp_path: Path) -> None:
        self.make_executor().run(_Trials(str(tmp_path)), n_workers=self.worker_counts()[-1],
                                 n_trials=0, timeout=None)
        assert _read(tmp_path).trials == 0

    def test_honours_the_timeout(self, tmp_path: Path) -> None:
        n = self.worker_counts()[-1]
        start = time.monotonic()
        self.make_executor().run(_Trials(str(tmp_path), pause=0.05), n_workers=n, n_trials=None,
                                 timeout=0.5)
        took = time.monotonic() - start
        log = _read(tmp_path)
        assert 0.5 - 0.05 <= took <= 0.5 + self.slack, f"run() took {took:.2f} s for timeout=0.5"
        assert 1 <= log.trials <= n * (0.5 + self.slack) / 0.05
        assert _alive(log.pids) == []

    def test_stops_when_the_budget_is_stopped(self, tmp_path: Path) -> None:
        n = self.worker_counts()[-1]
        start = time.monotonic()
        self.make_executor().run(_Trials(str(tmp_path), pause=0.01, stop_after=3), n_workers=n,
                                 n_trials=None, timeout=60.0)
        log = _read(tmp_path)
        assert time.monotonic() - start < 30.0, "run() went on after the budget was stopped"
        assert log.trials >= 3
        assert log.late == 0, f"{log.late} trial(s) were claimed after the budget was stopped"
        assert log.saw_stop, "a worker found budget.stopped False after stop()"
        assert _alive(log.pids) == []

    def test_reraises_a_job_error(self, tmp_path: Path) -> None:
        for n in self.worker_counts():
            folder = tmp_path / f"n{n}"
            folder.mkdir()
            with pytest.raises(JobFailed, match=f"worker {n - 1} is broken"):
                self.make_executor().run(_Trials(str(folder), pause=0.01, fail_worker=n - 1),
                                         n_workers=n, n_trials=None, timeout=60.0)
            assert _alive(_read(folder).pids) == [], "worker processes outlived a failed run()"

    def test_more_workers_than_it_has(self, tmp_path: Path) -> None:
        if self.parallel:
            pytest.skip("a parallel executor")
        with pytest.raises(ConfigError, match="n_workers of"):
            self.make_executor().run(_Trials(str(tmp_path)), n_workers=2, n_trials=1,
                                     timeout=None)


@dataclass(frozen=True)
class _Trials:
    """A worker job that claims trials until the budget says no, logging to files in `folder`."""

    folder: str
    pause: float = 0.0
    release_first: bool = False
    stop_after: int | None = None
    fail_worker: int | None = None

    def __call__(self, ctx: WorkerContext) -> None:
        folder = Path(self.folder)
        name = f"{ctx.index}-{os.getpid()}"
        _append(folder / f"start-{name}", f"{ctx.index} {ctx.n_workers} {os.getpid()}\n")
        if ctx.index == self.fail_worker:
            time.sleep(self.pause)
            raise JobFailed(f"worker {ctx.index} is broken")
        released = not self.release_first
        done = 0
        while True:
            # A claim that succeeds after another worker's stop() returned is a late trial.
            stopped = self.stop_after is not None and any(folder.glob("stopped-*"))
            if not ctx.budget.claim():
                return
            if stopped:
                _append(folder / f"late-{name}", "x")
            if not released:
                ctx.budget.release()
                released = True
                continue
            time.sleep(self.pause)
            _append(folder / f"trials-{name}", "x")
            done += 1
            if self.stop_after is not None and done == self.stop_after:
                ctx.budget.stop()
                _append(folder / f"stopped-{name}", "1" if ctx.budget.stopped else "0")
                return


@dataclass
class _Log:
    starts: list[tuple[int, int]]
    pids: list[int]
    trials: int
    saw_stop: bool
    late: int


def _append(path: Path, text: str) -> None:
    with open(path, "a") as f:
        f.write(text)


def _read(folder: Path) -> _Log:
    starts, pids = [], []
    for path in sorted(folder.glob("start-*")):
        for line in path.read_text().splitlines():
            index, n, pid = map(int, line.split())
            starts.append((index, n))
            pids.append(pid)
    trials = sum(len(p.read_text()) for p in folder.glob("trials-*"))
    stops = [p.read_text() for p in folder.glob("stopped-*")]
    late = sum(len(p.read_text()) for p in folder.glob("late-*"))
    return _Log(starts, pids, trials, bool(stops) and all(s == "1" for s in stops), late)


def _alive(pids: list[int], *, grace: float = 5.0) -> list[int]:
    """The worker processes (other than this one) still running after `grace` seconds."""
    deadline = time.monotonic() + grace
    while True:
        left = [pid for pid in set(pids) if pid != os.getpid() and _running(pid)]
        if not left or time.monotonic() >= deadline:
            return left
        time.sleep(0.05)


def _running(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie has exited; its parent has not yet collected it
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True
