"""A study's budget stored with it, shared by every worker on every machine (`shoal worker`).

`Study.set_budget(n_trials=, timeout=)` stores how many new trials the study may start in all and
the wall-clock deadline after which none starts (`Storage.set_budget`). `StudyBudget` is the
executors' `Budget` over it: a worker takes a slot of its own call's budget (`optimize(n_trials=)`,
a worker's `--n-trials`) *and* one of the study's, the latter atomically in storage, so workers
started anywhere, at any time, together start at most `n_trials`. `StudyBudgetExecutor` runs any
executor's workers under it; `Study.optimize` and its worker loop (`run_worker`) are unchanged.

What counts is what `run_worker` claims a slot for: each trial `ask_new` starts (a new
configuration, an enqueued one, or a retry of a dead trial). Resuming a paused trial and forking
one are continuations and use no slot, so a study whose budget is spent still finishes them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shoal._validate import integer, number
from shoal.clock import Clock, SystemClock
from shoal.executors import (
    Budget,
    EventHandler,
    Executor,
    ProcessExecutor,
    SerialExecutor,
    WorkerContext,
    WorkerJob,
)
from shoal.storage import BudgetRecord, Storage
from shoal.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from shoal.study._study import Study

__all__ = ["StudyBudget", "StudyBudgetExecutor", "counted_trials", "set_budget"]


def counted_trials(trials: Sequence[FrozenTrial]) -> int:
    """How many of `trials` used a slot of the budget: every started trial but forks.

    A WAITING trial (enqueued, or a retry not yet taken) has not started; a fork's first lineage
    event is "forked".

    >>> from shoal.trial import FrozenTrial
    >>> counted_trials([FrozenTrial(number=0, trial_id=1, state=TrialState.COMPLETE),
    ...                 FrozenTrial(number=1, trial_id=2, state=TrialState.WAITING)])
    1
    """
    return sum(1 for t in trials if t.state is not TrialState.WAITING
               and not (t.lineage and t.lineage[0].get("event") == "forked"))


def set_budget(study: Study, *, n_trials: int | None, timeout: float | None,
               clock: Clock | None = None) -> BudgetRecord:
    """Store `study`'s budget: `n_trials` trials in all (those already started count), none
    started more than `timeout` seconds from now. See `Study.set_budget`."""
    n_trials = integer(n_trials, what="n_trials", owner="set_budget", low=0, none=True,
                       hint="It counts every trial the study has started; None: no limit.")
    timeout = number(timeout, what="timeout", owner="set_budget", low=0, low_open=True, none=True,
                     hint="Give seconds from now as a number, e.g. timeout=3600.")
    now = (clock or SystemClock()).now()
    return study.storage.set_budget(study.study_id, n_trials=n_trials,
                                    deadline=None if timeout is None else now + timeout,
                                    used_at_least=counted_trials(study.trials))


class StudyBudget:
    """The `Budget` of one worker: its own call's budget and the study's stored one, both.

    Args:
        storage: The study's storage (every worker's own object on the same data).
        study_id: The study.
        inner: The budget of this worker's call (the executor's), which also says stop.
        deadline: The stored wall-clock deadline (None: none), read when the worker starts.
        clock: What tells the time against the deadline.
    """

    def __init__(self, *, storage: Storage, study_id: int, inner: Budget, deadline: float | None,
                 clock: Clock | None = None) -> None:
        self._storage = storage
        self._study_id = study_id
        self._inner = inner
        self._deadline = deadline
        self._confirmed = False  # the stored deadline was read again and has passed
        self._clock = clock or SystemClock()

    def claim(self) -> bool:
        """A slot of both budgets, or of neither; False once either is spent or on stop."""
        if self.stopped or not self._inner.claim():
            return False
        if not self._storage.claim_budget(self._study_id):
            self._inner.release()
            return False
        return True

    def release(self) -> None:
        """Give back a slot of both budgets."""
        self._storage.release_budget(self._study_id)
        self._inner.release()

    def stop(self) -> None:
        """Stop this call's workers (the study's other workers go on)."""
        self._inner.stop()

    @property
    def stopped(self) -> bool:
        """After `stop()`, once this call's deadline or the study's has passed.

        The study's deadline is read again from storage once it seems to have passed, so a
        deadline moved later meanwhile (`set_budget`, `shoal tune` run again) keeps the worker on.
        """
        if self._inner.stopped:
            return True
        if self._deadline is None or self._clock.now() < self._deadline:
            return False
        if not self._confirmed:
            stored = self._storage.get_budget(self._study_id)
            self._deadline = None if stored is None else stored.deadline
            self._confirmed = self._deadline is not None and self._clock.now() >= self._deadline
        return self._confirmed


@dataclass(frozen=True)
class _UnderStudyBudget:
    """A worker job run under the study's budget (picklable when `job` is, for spawned workers)."""

    job: WorkerJob
    storage: Storage
    study_id: int
    clock: Clock
    devices: tuple[str, ...] | None  # CUDA_VISIBLE_DEVICES of each worker, by index

    def __call__(self, context: WorkerContext) -> None:
        if self.devices is not None:  # before the objective can touch CUDA
            os.environ["CUDA_VISIBLE_DEVICES"] = self.devices[context.index]
        stored = self.storage.get_budget(self.study_id)
        budget = StudyBudget(storage=self.storage, study_id=self.study_id, inner=context.budget,
                             deadline=None if stored is None else stored.deadline, clock=self.clock)
        self.job(dataclasses.replace(context, budget=budget))


class StudyBudgetExecutor:
    """Runs another executor's workers under the study's stored budget as well as their own.

    Pass it to `Study.optimize(executor=...)`: `n_trials` and `timeout` still bound that call,
    and the study's budget (`Study.set_budget`) bounds every call of every worker together.

    Args:
        study: The study whose stored budget the workers share.
        executor: How the workers run; by default this process for one, local processes for more.
        devices: The `CUDA_VISIBLE_DEVICES` value of each worker, by index (`assign_gpus`);
            None leaves the environment alone.
        clock: What tells the time against the stored deadline.
    """

    def __init__(self, study: Study, *, executor: Executor | None = None,
                 devices: Sequence[str] | None = None, clock: Clock | None = None) -> None:
        self._storage = study.storage
        self._study_id = study.study_id
        self._executor = executor
        self._devices = None if devices is None else tuple(devices)
        self._clock = clock or SystemClock()

    def run(self, job: WorkerJob, *, n_workers: int, n_trials: int | None,
            timeout: float | None, on_event: EventHandler | None = None) -> None:
        """Run `n_workers` copies of `job`, each under its own slot of both budgets."""
        executor = self._executor or (SerialExecutor() if n_workers == 1 else ProcessExecutor())
        wrapped = _UnderStudyBudget(job, self._storage, self._study_id, self._clock, self._devices)
        executor.run(wrapped, n_workers=n_workers, n_trials=n_trials, timeout=timeout,
                     on_event=on_event)

    def __repr__(self) -> str:
        return f"StudyBudgetExecutor(executor={self._executor!r})"
