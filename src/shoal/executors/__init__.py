"""How trials run: in this process, in local processes, and later on a Ray cluster."""

from shoal.executors._processes import ProcessExecutor, SharedBudget, WorkerCrashed
from shoal.executors._protocol import Budget, Executor, WorkerContext, WorkerJob
from shoal.executors._serial import LocalBudget, SerialExecutor

__all__ = [
    "Budget",
    "Executor",
    "LocalBudget",
    "ProcessExecutor",
    "SerialExecutor",
    "SharedBudget",
    "WorkerContext",
    "WorkerCrashed",
    "WorkerJob",
]
