"""The executor protocol: run N copies of a worker job that share one trial budget."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["Budget", "Executor", "WorkerContext", "WorkerJob"]


class Budget(Protocol):
    """How many trials may still start, shared by every worker of one run."""

    def claim(self) -> bool:
        """Reserve one trial; False once the trial count or the deadline is reached, or on stop."""
        ...

    def release(self) -> None:
        """Give back a claimed trial that did not start (e.g. the search space was exhausted)."""
        ...

    def stop(self) -> None:
        """Ask every worker to stop before its next trial."""
        ...

    @property
    def stopped(self) -> bool: ...


@dataclass(frozen=True)
class WorkerContext:
    """What one worker knows about the run it belongs to."""

    index: int
    n_workers: int
    budget: Budget


WorkerJob = Callable[[WorkerContext], None]


@runtime_checkable
class Executor(Protocol):
    """Runs `n_workers` copies of `job` until the budget is spent, then returns.

    The first exception raised by a job (other than a KeyboardInterrupt) stops the other
    workers and is re-raised by `run`. A KeyboardInterrupt lets every worker mark its trial
    interrupted, then is re-raised.
    """

    def run(self, job: WorkerJob, *, n_workers: int, n_trials: int | None,
            timeout: float | None) -> None: ...
