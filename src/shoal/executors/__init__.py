"""How trials run: in this process, in local processes, or on a Ray cluster; and what each trial needs."""

from shoal.executors._processes import ProcessExecutor, SharedBudget, WorkerCrashed
from shoal.executors._protocol import Budget, EventHandler, Executor, WorkerContext, WorkerJob
from shoal.executors._ray import RayExecutor
from shoal.executors._resources import Resources, assign_gpus, visible_gpus
from shoal.executors._serial import LocalBudget, SerialExecutor

__all__ = [
    "Budget",
    "EventHandler",
    "Executor",
    "LocalBudget",
    "ProcessExecutor",
    "RayExecutor",
    "Resources",
    "SerialExecutor",
    "SharedBudget",
    "WorkerContext",
    "WorkerCrashed",
    "WorkerJob",
    "assign_gpus",
    "visible_gpus",
]
