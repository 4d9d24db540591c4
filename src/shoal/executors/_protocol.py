"""The executor protocol: run N copies of a worker job that share one trial budget."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

__all__ = ["REPLACE_WORKER_EXIT", "Budget", "EventHandler", "Executor", "WorkerContext", "WorkerJob"]

#: The exit status of a worker process that asks its executor for a fresh worker in its place
#: (a trial stuck past its timeout was recorded and the process ended); EX_TEMPFAIL.
REPLACE_WORKER_EXIT = 75


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
    def stopped(self) -> bool:
        """True after `stop()` or once the deadline passed: no work of any kind may start.

        Until then a worker may still run *continuations* after the trial count is spent (a
        scheduler resuming a paused trial, or forking one), which `claim` does not count.
        """
        ...


def _nowhere(message: object) -> None:
    """The event channel of a worker whose executor was given no handler: drop the message."""


@dataclass(frozen=True)
class WorkerContext:
    """What one worker knows about the run it belongs to.

    `send(message)` hands a picklable message to the process that called `Executor.run` (directly
    in a SerialExecutor, through a pipe from a worker process), where the run's event handler
    receives it in order; a worker never waits for the handler to finish.

    `replaceable`: the worker runs in a process of its own that the executor replaces with a fresh
    one when it exits with `REPLACE_WORKER_EXIT`, so the job may end it (a trial stuck past its
    timeout); False in the calling process, which must never be ended.
    """

    index: int
    n_workers: int
    budget: Budget
    send: Callable[[object], None] = _nowhere
    replaceable: bool = False


WorkerJob = Callable[[WorkerContext], None]
#: Called in the process that called `Executor.run`, once per message a worker sent, with the run's
#: budget (so the caller can stop the run, e.g. from a user's callback).
EventHandler = Callable[[object, Budget], None]


@runtime_checkable
class Executor(Protocol):
    """Runs `n_workers` copies of `job` until the budget is spent, then returns.

    The first exception raised by a job (other than a KeyboardInterrupt) stops the other
    workers and is re-raised by `run`. A KeyboardInterrupt lets every worker mark its trial
    interrupted, then is re-raised. Each message a worker sends reaches `on_event` in the
    calling process, including those sent while an interruption is being handled. Workers
    stop, and end their running trials, when the calling process dies.
    """

    def run(self, job: WorkerJob, *, n_workers: int, n_trials: int | None,
            timeout: float | None, on_event: EventHandler | None = None) -> None: ...


def while_stopping(on_event: EventHandler | None) -> EventHandler:
    """`on_event` for the messages that arrive while a run stops: a handler that fails (a user's
    callback) is logged, not raised, so it cannot cut the cleanup short."""
    def quietly(message: object, budget: Budget) -> None:
        try:
            if on_event is not None:
                on_event(message, budget)
        except Exception as err:
            logging.getLogger("shoal").warning(
                "while stopping the workers, handling a finished trial failed: %s", err)
    return quietly
