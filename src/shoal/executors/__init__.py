"""How trials run: in this process, in local processes, and later on a Ray cluster."""

from shoal.executors._processes import ProcessExecutor, SharedBudget, WorkerCrashed
from shoal.executors._protocol import Budget, EventHandler, Executor, WorkerContext, WorkerJob
from shoal.executors._serial import LocalBudget, SerialExecutor

__all__ = [
    "Budget",
    "EventHandler",
    "Executor",
    "LocalBudget",
    "ProcessExecutor",
    "SerialExecutor",
    "SharedBudget",
    "WorkerContext",
    "WorkerCrashed",
    "WorkerJob",
]
