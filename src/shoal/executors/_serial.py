"""Run the worker job in this process."""

from __future__ import annotations

from shoal.clock import Clock, SystemClock
from shoal.exceptions import ConfigError
from shoal.executors._protocol import EventHandler, WorkerContext, WorkerJob

__all__ = ["LocalBudget", "SerialExecutor"]


class LocalBudget:
    """A trial budget for workers in one process.

    >>> budget = LocalBudget(n_trials=1, timeout=None)
    >>> budget.claim(), budget.claim()
    (True, False)
    """

    def __init__(self, *, n_trials: int | None, timeout: float | None,
                 clock: Clock | None = None) -> None:
        self._clock = clock or SystemClock()
        self._left = n_trials
        self._deadline = None if timeout is None else self._clock.now() + timeout
        self._stopped = False

    def claim(self) -> bool:
        if self._stopped or (self._deadline is not None and self._clock.now() >= self._deadline):
            return False
        if self._left is not None:
            if self._left <= 0:
                return False
            self._left -= 1
        return True

    def release(self) -> None:
        if self._left is not None:
            self._left += 1

    def stop(self) -> None:
        self._stopped = True

    @property
    def stopped(self) -> bool:
        return self._stopped or (self._deadline is not None and self._clock.now() >= self._deadline)


class SerialExecutor:
    """One worker, in this process: the simplest way to run trials, and the easiest to debug."""

    def __init__(self, *, clock: Clock | None = None) -> None:
        self._clock = clock

    def run(self, job: WorkerJob, *, n_workers: int = 1, n_trials: int | None,
            timeout: float | None, on_event: EventHandler | None = None) -> None:
        if n_workers != 1:
            raise ConfigError(f"n_workers of SerialExecutor must be 1. Got {n_workers!r}. "
                              "Use ProcessExecutor for parallel workers.")
        budget = LocalBudget(n_trials=n_trials, timeout=timeout, clock=self._clock)
        if on_event is None:
            job(WorkerContext(0, 1, budget))
            return
        handler = on_event

        def send(message: object) -> None:  # the event channel is a direct call here
            handler(message, budget)

        job(WorkerContext(0, 1, budget, send))

    def __repr__(self) -> str:
        return "SerialExecutor()"
