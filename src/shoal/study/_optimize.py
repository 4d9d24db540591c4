"""The worker loop behind Study.optimize (ask, run the objective, tell; repeat) and its parent side."""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

from shoal._validate import config_error, integer, number
from shoal.exceptions import (
    ConfigError,
    SearchSpaceExhausted,
    ShoalError,
    Terminated,
    TooManyFailures,
    TrialFailed,
    TrialOutcome,
    TrialPaused,
    TrialPruned,
    TrialTimedOut,
)
from shoal.executors import (
    REPLACE_WORKER_EXIT,
    Budget,
    Executor,
    ProcessExecutor,
    SerialExecutor,
    WorkerContext,
)
from shoal.storage import is_shareable
from shoal.study._export import RunningFront
from shoal.study._host import one_line as _one_line
from shoal.study._logs import mark_calling_process, release_descriptors, trial_logs
from shoal.study._timeout import TIMEOUT, TrialTimer
from shoal.trial import FrozenTrial, TrialState, best_trial, describe_counts

if TYPE_CHECKING:
    from shoal.study._study import Callback, Objective, Study
    from shoal.study._trial import Trial

__all__ = ["optimize", "run_trial", "stop"]

log = logging.getLogger("shoal")
INTERRUPTED = "interrupted"
#: The budget of the optimize call running for each study object in this process (by id), for
#: `Study.stop()`: in a worker, its own; in the parent, the one its callbacks run under.
_RUNNING: dict[int, Budget] = {}


def optimize(study: Study, objective: Objective, *, n_trials: int | None, timeout: float | None,
             n_jobs: int, catch: tuple[type[BaseException], ...], callbacks: tuple[Callback, ...],
             show_progress_bar: bool, executor: Executor | None,
             max_consecutive_failures: int | None, trial_timeout: float | None = None) -> None:
    n_trials = integer(n_trials, what="n_trials", owner="optimize", low=0, none=True)
    timeout = number(timeout, what="timeout", owner="optimize", low=0, low_open=True, none=True,
                     hint="Give seconds as a number, e.g. timeout=3600.")
    trial_timeout = number(trial_timeout, what="trial_timeout", owner="optimize", low=0, low_open=True,
                           none=True, hint="Give seconds per trial as a number, e.g. trial_timeout=600.")
    if isinstance(n_jobs, int) and not isinstance(n_jobs, bool) and n_jobs == -1:
        n_jobs = os.cpu_count() or 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise config_error("n_jobs", "optimize", "an integer >= 1, or -1 for every core", n_jobs)
    max_failures = integer(max_consecutive_failures, what="max_consecutive_failures", owner="optimize",
                           low=1, none=True, hint="None never stops for failures.")
    if n_jobs > 1 and not is_shareable(study.storage.url):
        raise ConfigError(f"storage of study {study.name!r} must be shareable between {n_jobs} worker "
                          "processes; in-memory storage is not. Use storage='sqlite:///shoal.db'.")
    if executor is None:
        executor = SerialExecutor() if n_jobs == 1 else ProcessExecutor()
    _show_log()
    mark_calling_process()  # trials run here keep their descriptors' output on the user's terminal
    job = functools.partial(run_worker, study, objective, catch, trial_timeout=trial_timeout)
    before = _RUNNING.get(id(study))
    run = _Run(study, callbacks, max_failures,
               _Progress(study.name, n_trials) if show_progress_bar else None)
    try:
        with _sigterm_as_interrupt():
            executor.run(job, n_workers=n_jobs, n_trials=n_trials, timeout=timeout, on_event=run.handle)
    finally:
        run.close()
        if before is None:
            _RUNNING.pop(id(study), None)
        else:
            _RUNNING[id(study)] = before
    if run.gave_up is not None:
        raise TooManyFailures(
            f"optimize of study {study.name!r} stopped: its last {len(run.gave_up)} trials failed in a "
            f"row (the last: {run.gave_up[-1].failure_reason}); {describe_counts(run.finished)} in "
            f"this call. See why with 'shoal trials {study.name} --state failed', fix the objective, "
            "or pass max_consecutive_failures=None.")


class _Fallback(logging.StreamHandler):  # type: ignore[type-arg]
    """Prints shoal's log to stderr, as Optuna's does, until the program configures logging
    itself (a handler on the root logger): then that handler alone shows shoal's records."""

    def emit(self, record: logging.LogRecord) -> None:
        if not logging.getLogger().handlers:
            super().emit(record)


def _show_log() -> None:
    """Show the INFO line per finished trial unless the program chose a level for "shoal"."""
    if any(isinstance(h, _Fallback) for h in log.handlers):
        return
    handler = _Fallback()
    handler.setFormatter(logging.Formatter("[%(levelname).1s %(asctime)s] %(message)s"))
    log.addHandler(handler)
    if log.level == logging.NOTSET:
        log.setLevel(logging.INFO)


def stop(study: Study) -> None:
    """Stop the optimize call running `study` in this process (see `Study.stop`)."""
    budget = _RUNNING.get(id(study))
    if budget is None:
        raise ShoalError(f"stop of study {study.name!r} must be called while its optimize runs: from "
                         "the objective or a callback. Nothing runs for it in this process.")
    budget.stop()


#: Seconds a worker waits before asking again when the scheduler says "wait" (a synchronous rung
#: that running trials have not filled yet).
WAIT_POLL = 0.5
#: After this many continuations in a row were taken by other workers, start a new trial instead.
_MAX_LOST = 8


def run_worker(study: Study, objective: Objective, catch: tuple[type[BaseException], ...],
               context: WorkerContext, *, trial_timeout: float | None = None) -> None:
    """One worker: take the scheduler's continuation (resume or fork a trial) if it offers one,
    else claim a slot of the budget and start a new trial; run it and send it to the parent;
    until the budget says stop and no continuation is left.

    Continuations do not use the budget: `n_trials` counts new configurations, and a paused
    trial promoted after the last new one started still runs.
    """
    before = _RUNNING.get(id(study))
    _RUNNING[id(study)] = context.budget
    lost = 0  # continuations another worker took first, in a row
    try:
        while not context.budget.stopped:
            trial: Trial | None = None
            try:
                with _interrupts_held():
                    job = study.next_job() if lost < _MAX_LOST else None
                    if job is not None and job.wait:
                        time.sleep(WAIT_POLL)
                        continue
                    if job is not None:
                        trial = study.start_job(job)
                        if trial is None:
                            lost += 1
                            continue  # another worker took it: ask again
                        lost = 0
                    elif not context.budget.claim():
                        return
                    else:
                        trial, lost = study.ask_new(), 0
            except SearchSpaceExhausted as err:
                log.info("%s", err)
                context.budget.release()
                context.budget.stop()
                return
            except KeyboardInterrupt:  # arrived while asking: the new trial is interrupted too
                if trial is not None:
                    context.send(study.tell(trial, state=TrialState.FAILED, reason=INTERRUPTED))
                raise
            run_trial(study, trial, objective, catch, finished=context.send,
                      timeout=trial_timeout, replaceable=context.replaceable)
    finally:
        if before is None:
            _RUNNING.pop(id(study), None)
        else:
            _RUNNING[id(study)] = before


def run_trial(study: Study, trial: Trial, objective: Objective,
              catch: tuple[type[BaseException], ...],
              finished: Callable[[FrozenTrial], None] | None = None, *,
              timeout: float | None = None, replaceable: bool = False) -> FrozenTrial:
    """Run the objective on one trial and record how it ended; re-raise what must stop the run.

    `finished` receives the recorded trial, also when the run stops with it (Ctrl-C, an error).
    Past `timeout` seconds the trial is stopped and ends FAILED("timeout") (`study/_timeout.py`);
    `replaceable` lets a stuck one end this process (its executor starts a fresh worker).
    """
    tell = finished or _ignore
    timer = None if timeout is None else TrialTimer(
        seconds=timeout, number=trial.number,
        hard_stop=functools.partial(_hard_stop, study, trial, tell) if replaceable else None)
    try:
        with trial_logs(study, trial.number):  # its stdout/stderr, into trial-<n>/logs (study/_logs.py)
            result = objective(trial) if timer is None else timer.run(objective, trial)
    except TrialTimedOut:
        frozen = study.tell(trial, state=TrialState.FAILED, reason=TIMEOUT)
        log.warning("trial %d failed: it ran past its timeout of %g s", trial.number, timeout)
    except TrialPruned:
        frozen = study.tell(trial, state=TrialState.PRUNED)
    except TrialPaused:
        frozen = study.tell(trial, state=TrialState.PAUSED)
    except TrialFailed as err:
        frozen = study.tell(trial, state=TrialState.FAILED, reason=str(err) or "TrialFailed")
    except KeyboardInterrupt:
        tell(study.tell(trial, state=TrialState.FAILED, reason=INTERRUPTED))
        raise
    except BaseException as err:
        # A sampler error inside a suggest has already ended the trial, with its reason.
        frozen = trial.result if trial.result is not None else trial.finish(
            state=TrialState.FAILED, reason=_one_line(err),
            system_attrs={"traceback": traceback.format_exc()})
        own_mistake = isinstance(err, ShoalError) and not isinstance(err, TrialOutcome)
        if own_mistake or not isinstance(err, catch):
            tell(frozen)
            raise
        log.warning("trial %d failed: %s (traceback stored; 'shoal trials %s --number %d' shows it)",
                    trial.number, _one_line(err), study.name, trial.number)
    else:
        frozen = study.tell(trial, result)
        if frozen.state is TrialState.FAILED:
            log.warning("trial %d failed: %s", trial.number, frozen.failure_reason)
    tell(frozen)
    return frozen


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM while a trial is asked for, then act on them: an interruption in
    the middle of `ask` would leave a RUNNING trial that nobody tells (until its heartbeat expires)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    held: list[int] = []
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    if any(handler is None for handler in before.values()):  # set outside Python: not ours to swap
        yield
        return
    for sig in before:
        signal.signal(sig, lambda signum, frame: held.append(signum))
    try:
        yield
    finally:
        for sig, handler in before.items():
            signal.signal(sig, handler)
        for signum in held[:1]:  # the first is enough: each handler ends the run
            first = before[signal.Signals(signum)]
            if callable(first):
                first(signum, None)
            elif first == signal.SIG_DFL:
                signal.raise_signal(signum)


def _ignore(trial: FrozenTrial) -> None:
    """Where a finished trial goes when nobody listens."""


def _hard_stop(study: Study, trial: Trial, tell: Callable[[FrozenTrial], None]) -> None:
    """Record a trial stuck past its timeout as FAILED("timeout") and end this worker process;
    its executor starts a fresh one. Runs in the timer's watchdog thread."""
    try:
        tell(study.tell(trial, state=TrialState.FAILED, reason=TIMEOUT))
    finally:
        logging.shutdown()  # flush what the worker logged
        release_descriptors()  # what the trial printed reaches its log and the terminal first
        os._exit(REPLACE_WORKER_EXIT)


class _Run:
    """The parent's side of one optimize call, fed by the workers' event channel: the trials this
    call ran, the user's callbacks, the log line per trial, the progress bar, and the stop rules."""

    def __init__(self, study: Study, callbacks: tuple[Callback, ...], max_failures: int | None,
                 progress: _Progress | None) -> None:
        self._study = study
        self._callbacks = callbacks
        self._max_failures = max_failures
        self._progress = progress
        self._single = len(study.directions) == 1
        history = study.trials  # one read, at the start
        self._best = best_trial(history) if self._single else None
        self._front: RunningFront | None = None
        if not self._single:
            self._front = RunningFront()
            for t in history:
                self._front.add(t)
        self._in_a_row: list[FrozenTrial] = []
        self.finished: list[FrozenTrial] = []
        self._seen: set[int] = set()
        self.gave_up: list[FrozenTrial] | None = None

    def handle(self, message: object, budget: Budget) -> None:
        """One finished trial, sent by a worker; runs in the process that called optimize."""
        assert isinstance(message, FrozenTrial), message
        trial = message
        _RUNNING[id(self._study)] = budget  # so that a callback may call study.stop()
        self.finished.append(trial)
        if self._single:
            self._best = best_trial([t for t in (self._best, trial) if t is not None])
        elif self._front is not None:
            self._front.add(trial)
        self._log(trial)
        self._seen.add(trial.number)
        if trial.state is TrialState.PAUSED:
            log.debug("Trial %d paused at step %s.", trial.number, trial.last_step)
        if self._progress is not None:  # a trial paused and resumed counts once
            self._progress.update(len(self._seen), self._best, self._front)
        interrupted = trial.state is TrialState.FAILED and trial.failure_reason == INTERRUPTED
        if trial.state is TrialState.FAILED and not interrupted:
            self._in_a_row.append(trial)
        elif not interrupted:
            self._in_a_row = []
        if (self._max_failures is not None and len(self._in_a_row) >= self._max_failures
                and self.gave_up is None):
            self.gave_up = list(self._in_a_row)
            budget.stop()  # running trials finish; no new one starts
        for callback in self._callbacks:
            callback(self._study, trial)

    def _log(self, trial: FrozenTrial) -> None:
        extra = {"shoal_trial": trial.number}  # lets `shoal tune` leave these to its progress bar
        if trial.state is TrialState.PRUNED:
            log.info("Trial %d pruned.", trial.number, extra=extra)
        if trial.state is not TrialState.COMPLETE:
            return  # a failure is logged as a warning where it happened
        if not self._single:
            violating = "" if trial.is_feasible else \
                f", violating its constraints {list(trial.constraints or ())} (so not on the front)"
            log.info("Trial %d finished with values %s and parameters %s%s.", trial.number,
                     list(trial.values or ()), dict(trial.params), violating, extra=extra)
            return
        best = self._best
        if best is None:  # complete, yet no trial satisfies the constraints
            log.info("Trial %d finished with value %s and parameters %s, violating its constraints "
                     "%s. No trial is feasible yet.", trial.number, trial.value, dict(trial.params),
                     list(trial.constraints or ()), extra=extra)
            return
        log.info("Trial %d finished with value %s and parameters %s. Best is trial %d with value %s.",
                 trial.number, trial.value, dict(trial.params), best.number, best.value, extra=extra)

    def close(self) -> None:
        if self._progress is not None:
            self._progress.close()


class _Progress:
    """A progress bar of the trials this optimize call finished (not other processes' trials).

    With several objectives it shows the study's front size and a hypervolume that only grows
    in this run: objectives are scaled by a box fixed once (`RunningFront`), so it can exceed the
    bounded figure `shoal best` prints, which rescales to every trial.
    """

    def __init__(self, name: str, n_trials: int | None) -> None:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        self._bar = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                             TimeElapsedColumn(), TextColumn("{task.fields[best]}"), transient=False)
        self._task = self._bar.add_task(name, total=n_trials, best="")
        self._slow = False
        self._bar.start()

    def update(self, done: int, top: FrozenTrial | None, front: RunningFront | None = None) -> None:
        """Show `done` trials, and the best (one objective) or the front's size and hypervolume."""
        with contextlib.suppress(Exception):  # drawing must never break a run
            best = ""
            if front is not None and front.size:
                best = f"front of {front.size}"
                if not self._slow:  # a big front in many objectives: the size alone, not a slow bar
                    started = time.perf_counter()
                    volume = front.hypervolume
                    self._slow = time.perf_counter() - started > 0.05
                    if volume:
                        best += f", hypervolume {volume:.4g} (box fixed at trial {front.fixed_at})"
            elif top is not None and top.value is not None:
                best = f"best {top.value:.6g} (trial {top.number})"
            self._bar.update(self._task, completed=done, best=best)

    def close(self) -> None:
        self._bar.stop()


@contextlib.contextmanager
def _sigterm_as_interrupt() -> Iterator[None]:
    """While optimize runs, SIGTERM raises `Terminated` (a KeyboardInterrupt): handled as Ctrl-C.

    Only in the main thread, and only where SIGTERM still has its default action: a handler the
    program installed itself stays in charge.
    """
    if (threading.current_thread() is not threading.main_thread()
            or signal.getsignal(signal.SIGTERM) is not signal.SIG_DFL):
        yield
        return

    def terminate(signum: int, frame: Any) -> None:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # once: the clean-up must not be cut short
        raise Terminated("SIGTERM: the running trials were marked FAILED('interrupted')")

    signal.signal(signal.SIGTERM, terminate)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
