"""Run worker jobs in local processes (not threads: training holds the GIL)."""

from __future__ import annotations

import contextlib
import logging
import multiprocessing as mp
import os
import pickle
import signal
import sys
import time
import traceback
from typing import Any

from shoal.exceptions import ConfigError, ShoalError
from shoal.executors._protocol import WorkerContext, WorkerJob

__all__ = ["ProcessExecutor", "SharedBudget", "WorkerCrashed"]

log = logging.getLogger("shoal")

_CUDA_NO_FORK = (
    "CUDA is already in use in this process, so its worker processes cannot be forked (a forked "
    "child cannot use CUDA: PyTorch raises 'Cannot re-initialize CUDA in forked subprocess'), and "
    "they cannot be spawned either: {reason}. Do one of: define the objective in a module file "
    "(a script run under `if __name__ == \"__main__\":` will do); do no CUDA work in this process "
    "before optimize (build models inside the objective); run with n_jobs=1; or, if the objective "
    "never uses the GPU, pass executor=ProcessExecutor(start_method=\"fork\").")


class WorkerCrashed(ShoalError):
    """A worker process died without reporting an error (killed, out of memory, segfault)."""


class SharedBudget:
    """A trial budget shared by processes through a counter in shared memory."""

    def __init__(self, ctx: Any, *, n_trials: int | None, timeout: float | None) -> None:
        self._left = ctx.Value("q", -1 if n_trials is None else n_trials)
        self._limited = n_trials is not None
        self._deadline = None if timeout is None else time.time() + timeout  # shared wall clock
        self._stop = ctx.Event()

    def claim(self) -> bool:
        if self._stop.is_set() or (self._deadline is not None and time.time() >= self._deadline):
            return False
        if not self._limited:
            return True
        with self._left.get_lock():
            if int(self._left.value) <= 0:
                return False
            self._left.value -= 1
            return True

    def release(self) -> None:
        if self._limited:
            with self._left.get_lock():
                self._left.value += 1

    def stop(self) -> None:
        self._stop.set()

    @property
    def stopped(self) -> bool:
        return bool(self._stop.is_set())


def _interrupt_once(signum: int, frame: object) -> None:
    # A terminal's Ctrl-C reaches every worker and the parent forwards it too: act on the first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    raise KeyboardInterrupt


def _child(job: WorkerJob, context: WorkerContext, errors: Any) -> None:
    signal.signal(signal.SIGINT, _interrupt_once)
    try:
        job(context)
    except KeyboardInterrupt:
        context.budget.stop()
        sys.exit(130)
    except BaseException as err:  # report anything else to the parent, then stop the others
        context.budget.stop()
        try:
            errors.put((context.index, err, traceback.format_exc()))
        except Exception:  # the exception itself may not pickle
            errors.put((context.index, None, traceback.format_exc()))
        sys.exit(1)


class ProcessExecutor:
    """N worker processes on this machine, sharing the study through its storage.

    Args:
        start_method: "fork" (default on Linux: objectives defined anywhere, even lambdas, work),
            "spawn" or "forkserver" (the objective and study must pickle). By default, a process
            that has already used CUDA spawns its workers instead of forking them, since a forked
            child cannot use CUDA; the objective must then pickle (else a ConfigError says what
            to do).
    """

    def __init__(self, *, start_method: str | None = None) -> None:
        methods = mp.get_all_start_methods()
        self._auto = start_method is None
        if start_method is None:
            start_method = "fork" if "fork" in methods else "spawn"
        if start_method not in methods:
            raise ConfigError(f"start_method of ProcessExecutor must be one of {methods}. "
                              f"Got {start_method!r}.")
        self.start_method = start_method

    def run(self, job: WorkerJob, *, n_workers: int, n_trials: int | None,
            timeout: float | None) -> None:
        if n_workers < 1:
            raise ConfigError(f"n_workers of ProcessExecutor must be >= 1. Got {n_workers!r}.")
        ctx: Any = mp.get_context(self.start_method_for(job))  # typeshed's BaseContext lacks Process
        budget = SharedBudget(ctx, n_trials=n_trials, timeout=timeout)
        errors = ctx.SimpleQueue()
        procs = [ctx.Process(target=_child, args=(job, WorkerContext(i, n_workers, budget), errors),
                             name=f"shoal-worker-{i}", daemon=False) for i in range(n_workers)]
        for p in procs:
            p.start()
        try:
            while any(p.is_alive() for p in procs):
                for p in procs:
                    p.join(timeout=0.2)
        except KeyboardInterrupt:
            budget.stop()
            _interrupt(procs)
            raise
        failures = []
        while not errors.empty():
            failures.append(errors.get())
        if failures:
            index, err, text = min(failures, key=lambda f: f[0])
            if isinstance(err, BaseException):
                raise err
            raise ShoalError(f"worker {index} failed:\n{text}")
        crashed = [p for p in procs if p.exitcode not in (0, 130)]
        if crashed:
            codes = ", ".join(f"{p.name} exit code {p.exitcode}" for p in crashed)
            raise WorkerCrashed(f"worker processes died: {codes}. Their running trials are "
                                "marked FAILED once their heartbeat expires; completed trials are safe.")

    def start_method_for(self, job: WorkerJob) -> str:
        """The start method `run` uses for `job`: `start_method`, except "spawn" instead of the
        default "fork" once this process has used CUDA."""
        if not (self._auto and self.start_method == "fork" and _cuda_in_use()):
            return self.start_method
        try:
            payload = pickle.dumps(job)
        except Exception as err:
            reason = f"the objective or study does not pickle ({type(err).__name__}: {err})"
            raise ConfigError(_CUDA_NO_FORK.format(reason=reason)) from err
        # Objects of an interactive __main__ pickle by name, but a spawned child cannot import them.
        if b"__main__" in payload and not getattr(sys.modules.get("__main__"), "__file__", None):
            reason = ("the objective is defined interactively (a notebook or a REPL), where a spawned "
                      "worker cannot import it")
            raise ConfigError(_CUDA_NO_FORK.format(reason=reason))
        log.info("CUDA is in use in this process: spawning the worker processes instead of forking them")
        return "spawn"

    def __repr__(self) -> str:
        return f"ProcessExecutor(start_method={self.start_method!r})"


def _cuda_in_use() -> bool:
    """Whether this process has initialised CUDA through PyTorch (never imports torch itself)."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    return bool(cuda is not None and cuda.is_initialized())


def _interrupt(procs: list[Any]) -> None:
    """Forward Ctrl-C to workers that did not get it, and wait for them to record their trials."""
    for p in procs:
        if p.is_alive() and p.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGINT)
    deadline = time.time() + 10.0
    for p in procs:
        p.join(timeout=max(0.0, deadline - time.time()))
    for p in procs:
        if p.is_alive():
            p.terminate()
            p.join(timeout=2.0)
