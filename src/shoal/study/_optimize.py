"""The worker loop behind Study.optimize: ask, run the objective, tell; repeat."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import threading
import traceback
from typing import TYPE_CHECKING

from shoal.exceptions import (
    ConfigError,
    SearchSpaceExhausted,
    ShoalError,
    TrialFailed,
    TrialOutcome,
    TrialPruned,
)
from shoal.executors import Executor, ProcessExecutor, SerialExecutor, WorkerContext
from shoal.study._host import one_line as _one_line
from shoal.trial import FrozenTrial, TrialState, best_trial

if TYPE_CHECKING:
    from shoal.study._study import Callback, Objective, Study
    from shoal.study._trial import Trial

__all__ = ["optimize", "run_trial"]

log = logging.getLogger("shoal")


def optimize(study: Study, objective: Objective, *, n_trials: int | None, timeout: float | None,
             n_jobs: int, catch: tuple[type[BaseException], ...], callbacks: tuple[Callback, ...],
             show_progress_bar: bool, executor: Executor | None) -> None:
    if n_trials is not None and (isinstance(n_trials, bool) or not isinstance(n_trials, int) or n_trials < 0):
        raise ConfigError(f"n_trials of optimize must be an integer >= 0 or None. Got {n_trials!r}.")
    if timeout is not None and not timeout > 0:
        raise ConfigError(f"timeout of optimize must be > 0 seconds or None. Got {timeout!r}.")
    if n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ConfigError(f"n_jobs of optimize must be >= 1, or -1 for every core. Got {n_jobs!r}.")
    if n_jobs > 1 and study.storage.url == "memory":
        raise ConfigError(f"storage of study {study.name!r} must be shareable between {n_jobs} worker "
                          "processes; in-memory storage is not. Use storage='sqlite:///shoal.db'.")
    if executor is None:
        executor = SerialExecutor() if n_jobs == 1 else ProcessExecutor()
    job = functools.partial(run_worker, study, objective, catch, callbacks)
    progress = _Progress(study, n_trials, timeout) if show_progress_bar else None
    try:
        executor.run(job, n_workers=n_jobs, n_trials=n_trials, timeout=timeout)
    finally:
        if progress is not None:
            progress.close()


def run_worker(study: Study, objective: Objective, catch: tuple[type[BaseException], ...],
               callbacks: tuple[Callback, ...], context: WorkerContext) -> None:
    """One worker: claim a slot of the budget, run one trial, until the budget says stop."""
    while context.budget.claim():
        try:
            trial = study.ask()
        except SearchSpaceExhausted as err:
            log.info("%s", err)
            context.budget.release()
            context.budget.stop()
            return
        frozen = run_trial(study, trial, objective, catch)
        for callback in callbacks:
            callback(study, frozen)


def run_trial(study: Study, trial: Trial, objective: Objective,
              catch: tuple[type[BaseException], ...]) -> FrozenTrial:
    """Run the objective on one trial and record how it ended; re-raise what must stop the run."""
    try:
        result = objective(trial)
    except TrialPruned:
        return study.tell(trial, state=TrialState.PRUNED)
    except TrialFailed as err:
        return study.tell(trial, state=TrialState.FAILED, reason=str(err) or "TrialFailed")
    except KeyboardInterrupt:
        study.tell(trial, state=TrialState.FAILED, reason="interrupted")
        raise
    except BaseException as err:
        # A sampler error inside a suggest has already ended the trial, with its reason.
        frozen = trial.result if trial.result is not None else trial.finish(
            state=TrialState.FAILED, reason=_one_line(err),
            system_attrs={"traceback": traceback.format_exc()})
        own_mistake = isinstance(err, ShoalError) and not isinstance(err, TrialOutcome)
        stops = own_mistake or not isinstance(err, catch)
        if stops:
            raise
        log.warning("trial %d failed: %s (traceback stored; 'shoal trials %s --number %d' shows it)",
                    trial.number, _one_line(err), study.name, trial.number)
        return frozen
    frozen = study.tell(trial, result)
    if frozen.state is TrialState.FAILED:
        log.warning("trial %d failed: %s", trial.number, frozen.failure_reason)
    return frozen


class _Progress:
    """A progress bar in the parent, fed by polling storage (workers may be other processes)."""

    def __init__(self, study: Study, n_trials: int | None, timeout: float | None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._study = study
        self._start = len(study.get_trials((TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)))
        self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), TextColumn("{task.fields[best]}"), transient=False)
        self._task = self._bar.add_task(study.name, total=n_trials, best="")
        self._stop = threading.Event()
        self._bar.start()
        self._thread = threading.Thread(target=self._loop, name="shoal-progress", daemon=True)
        self._thread.start()

    def _refresh(self) -> None:
        trials = self._study.trials
        finished = [t for t in trials if t.state.is_finished]
        top = best_trial(trials) if len(self._study.directions) == 1 else None
        best = f"best {top.value:.6g} (trial {top.number})" if top is not None else ""
        self._bar.update(self._task, completed=len(finished) - self._start, best=best)

    def _loop(self) -> None:
        while not self._stop.wait(0.5):
            with contextlib.suppress(Exception):  # drawing must never break a run
                self._refresh()

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=2.0)
        try:
            self._refresh()
        finally:
            self._bar.stop()
