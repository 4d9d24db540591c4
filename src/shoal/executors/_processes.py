"""Run worker jobs in local processes (not threads: training holds the GIL)."""

from __future__ import annotations

import contextlib
import ctypes
import logging
import math
import multiprocessing as mp
import os
import pickle
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable, Sequence
from multiprocessing.connection import Connection, wait
from typing import Any

from shoal._validate import config_error, integer
from shoal.exceptions import ConfigError, ShoalError
from shoal.executors._protocol import (
    REPLACE_WORKER_EXIT,
    EventHandler,
    WorkerContext,
    WorkerJob,
    while_stopping,
)
from shoal.executors._resources import Resources, assign_gpus, visible_gpus

__all__ = ["ProcessExecutor", "SharedBudget", "WorkerCrashed"]

log = logging.getLogger("shoal")

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
#: Seconds an orphaned worker has to record its running trial as interrupted before it exits.
_DEATH_GRACE = 10.0

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
        return bool(self._stop.is_set()) or (self._deadline is not None
                                             and time.time() >= self._deadline)


def _interrupt_once(signum: int, frame: object) -> None:
    # A terminal's Ctrl-C reaches every worker and the parent forwards it too; the parent's death
    # arrives both as a signal and as the end of the lifeline: act on the first.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    raise KeyboardInterrupt


class _PipeSender:
    """A worker's end of its event channel: messages go to the parent, tagged by kind."""

    def __init__(self, connection: Connection) -> None:
        self._connection = connection

    def __call__(self, message: object) -> None:
        self._connection.send(("event", message))

    def fail(self, index: int, err: BaseException, text: str) -> None:
        try:
            self._connection.send(("error", index, err, text))
        except Exception:  # the exception itself may not pickle
            self._connection.send(("error", index, None, text))


def _die_with_parent(parent_pid: int) -> None:
    """Ask Linux to send this worker SIGTERM when its parent dies (PR_SET_PDEATHSIG).

    Elsewhere, and for a forkserver's children (whose parent is the server), the lifeline
    watched by `_watch_lifeline` is the only signal; it works everywhere.
    """
    if not sys.platform.startswith("linux") or os.getppid() != parent_pid:
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):  # no prctl in this libc: the lifeline remains
        return
    if os.getppid() != parent_pid:  # the parent died before the request took effect
        os.kill(os.getpid(), signal.SIGTERM)


def _watch_lifeline(lifeline: Connection) -> None:
    """Interrupt this worker once its parent's end of the lifeline closes (the parent ended)."""
    with contextlib.suppress(EOFError, OSError):
        lifeline.recv_bytes()  # the parent never writes: this returns at its death
    if hasattr(signal, "pthread_kill"):  # to the main thread: a sleep there is cut short (EINTR)
        signal.pthread_kill(threading.main_thread().ident or 0, signal.SIGTERM)
    else:
        os.kill(os.getpid(), signal.SIGTERM)
    time.sleep(_DEATH_GRACE)  # time to record the running trial as interrupted, then end anyway
    os._exit(143)


def _child(job: WorkerJob, context: WorkerContext, sender: _PipeSender, lifeline: Connection,
           parent_end: Connection, parent_pid: int, cuda_devices: str | None = None) -> None:
    if cuda_devices is not None:  # before anything can initialise CUDA in this worker
        os.environ["CUDA_VISIBLE_DEVICES"] = cuda_devices
    signal.signal(signal.SIGINT, _interrupt_once)
    signal.signal(signal.SIGTERM, _interrupt_once)  # the parent's death, or `kill`: as Ctrl-C
    parent_end.close()  # a forked child inherits it; only the parent may hold it open
    _die_with_parent(parent_pid)
    threading.Thread(target=_watch_lifeline, args=(lifeline,), name="shoal-lifeline",
                     daemon=True).start()
    try:
        job(context)
    except KeyboardInterrupt:
        context.budget.stop()
        sys.exit(130)
    except BaseException as err:  # report anything else to the parent, then stop the others
        context.budget.stop()
        sender.fail(context.index, err, traceback.format_exc())
        sys.exit(1)


class ProcessExecutor:
    """N worker processes on this machine, sharing the study through its storage.

    Each worker sends its messages (finished trials, errors) to this process through a pipe of
    its own, and dies with this process: Linux sends it SIGTERM when its parent dies
    (`PR_SET_PDEATHSIG`), and on every platform it watches a lifeline pipe whose only writer is
    this process. Either way the worker records its running trial as FAILED("interrupted") and
    exits (after `_DEATH_GRACE` seconds it exits regardless, and the heartbeat reaps the trial).

    Args:
        start_method: "fork" (default on Linux: objectives defined anywhere, even lambdas, work),
            "spawn" or "forkserver" (the objective and study must pickle). By default, a process
            that has already used CUDA spawns its workers instead of forking them, since a forked
            child cannot use CUDA; the objective must then pickle (else a ConfigError says what
            to do).
        resources: What each worker's trial needs. With `gpus > 0`, worker i sees only its share
            of the GPUs through `CUDA_VISIBLE_DEVICES` (`assign_gpus`: a fraction packs several
            workers on one GPU); this process's environment is left alone.
        gpus: The GPUs to share out, as `CUDA_VISIBLE_DEVICES` names them (e.g. ["0", "1"]);
            None: every visible GPU (`visible_gpus()`).
    """

    def __init__(self, *, start_method: str | None = None, resources: Resources | None = None,
                 gpus: Sequence[str | int] | None = None) -> None:
        if resources is not None and not isinstance(resources, Resources):
            raise config_error("resources", "ProcessExecutor", "a shoal.Resources", resources,
                               hint="E.g. resources=shoal.Resources(gpus=0.5).")
        if gpus is not None and (isinstance(gpus, str) or not isinstance(gpus, Sequence) or not all(
                isinstance(g, (str, int)) and not isinstance(g, bool) and str(g).strip() for g in gpus)):
            raise config_error("gpus", "ProcessExecutor", "a list of GPU names or None", gpus,
                               hint='E.g. gpus=["0", "1"], as CUDA_VISIBLE_DEVICES names them.')
        self.resources = resources if resources is not None else Resources()
        self.gpus = None if gpus is None else [str(g).strip() for g in gpus]
        methods = mp.get_all_start_methods()
        self._auto = start_method is None
        if start_method is None:
            start_method = "fork" if "fork" in methods else "spawn"
        if start_method not in methods:
            raise ConfigError(f"start_method of ProcessExecutor must be one of {methods}. "
                              f"Got {start_method!r}.")
        self.start_method = start_method

    def run(self, job: WorkerJob, *, n_workers: int, n_trials: int | None,
            timeout: float | None, on_event: EventHandler | None = None) -> None:
        n_workers = integer(n_workers, what="n_workers", owner="ProcessExecutor", low=1)
        devices = self.cuda_devices(n_workers)
        ctx: Any = mp.get_context(self.start_method_for(job))  # typeshed's BaseContext lacks Process
        budget = SharedBudget(ctx, n_trials=n_trials, timeout=timeout)
        lifeline, parent_end = ctx.Pipe(duplex=False)
        workers: list[tuple[Any, Connection]] = []

        def start(i: int) -> tuple[Any, Connection]:
            reader, writer = ctx.Pipe(duplex=False)
            sender = _PipeSender(writer)
            context = WorkerContext(i, n_workers, budget, sender, replaceable=True)
            proc = ctx.Process(target=_child, name=f"shoal-worker-{i}", daemon=False,
                               args=(job, context, sender, lifeline, parent_end, os.getpid(),
                                     None if devices is None else devices[i]))
            proc.start()
            writer.close()  # the worker holds its own copy
            return proc, reader

        try:
            for i in range(n_workers):
                workers.append(start(i))
            failures = _serve(workers, budget, on_event, start)
        except BaseException:  # Ctrl-C, SIGTERM, or an error in the event handler
            budget.stop()
            _interrupt(workers, budget, on_event)
            raise
        finally:
            parent_end.close()  # any worker still alive now stops
            lifeline.close()  # kept open until now: a replacement worker is handed it
        if failures:
            index, err, text = min(failures, key=lambda f: f[0])
            if isinstance(err, BaseException):
                raise err
            raise ShoalError(f"worker {index} failed:\n{text}")
        crashed = [p for p, _ in workers if p.exitcode not in (0, 130, REPLACE_WORKER_EXIT)]
        if crashed:
            codes = ", ".join(f"{p.name} exit code {p.exitcode}" for p in crashed)
            raise WorkerCrashed(f"worker processes died: {codes}. Their running trials are "
                                "marked FAILED once their heartbeat expires; completed trials are safe.")

    def cuda_devices(self, n_workers: int) -> list[str] | None:
        """Each worker's `CUDA_VISIBLE_DEVICES` when trials need GPUs; None (environment unchanged)
        when they do not.

        Raises:
            ConfigError: more workers than the GPUs hold at `resources.gpus` each.
        """
        if self.resources.gpus == 0:
            return None
        return assign_gpus(n_workers, self.resources.gpus, self.gpus or visible_gpus())

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
        extra = f", resources={self.resources!r}" if self.resources != Resources() else ""
        extra += f", gpus={self.gpus!r}" if self.gpus is not None else ""
        return f"ProcessExecutor(start_method={self.start_method!r}{extra})"


def _cuda_in_use() -> bool:
    """Whether this process has initialised CUDA through PyTorch (never imports torch itself)."""
    torch = sys.modules.get("torch")
    cuda = getattr(torch, "cuda", None)
    return bool(cuda is not None and cuda.is_initialized())


Failure = tuple[int, "BaseException | None", str]


def _receive(reader: Connection, open_readers: set[Connection], budget: SharedBudget,
             on_event: EventHandler | None, failures: list[Failure]) -> None:
    """Take one message from a worker's pipe and hand it on; forget the pipe at its end."""
    try:
        message = reader.recv()
    except (EOFError, OSError):
        open_readers.discard(reader)
        return
    if message[0] == "error":
        failures.append((message[1], message[2], message[3]))
    elif on_event is not None:
        on_event(message[1], budget)


Start = Callable[[int], tuple[Any, Connection]]


def _pump(workers: list[tuple[Any, Connection]], open_readers: set[Connection], budget: SharedBudget,
          on_event: EventHandler | None, failures: list[Failure], *, until: float,
          start: Start | None = None) -> None:
    """Hand on the workers' messages until every worker has exited (or `until`), then the rest;
    with `start`, replace each worker that exits asking for it (`REPLACE_WORKER_EXIT`)."""
    while time.time() < until:
        alive = any(p.is_alive() for p, _ in workers)  # before replacing: one may exit in between
        if start is not None and _replace_workers(workers, open_readers, budget, start):
            continue
        if not alive:
            break
        sentinels = [p.sentinel for p, _ in workers if p.is_alive()]
        for ready in wait([*open_readers, *sentinels], timeout=min(0.5, max(0.0, until - time.time()))):
            if ready in open_readers:  # else a sentinel: a worker exited
                assert isinstance(ready, Connection)
                _receive(ready, open_readers, budget, on_event, failures)
    # What the workers sent before exiting. Not `recv` until the end of each pipe: a process the
    # objective started may hold a copy of the worker's end open.
    for reader in list(open_readers):
        while reader in open_readers and reader.poll(0):
            _receive(reader, open_readers, budget, on_event, failures)


def _replace_workers(workers: list[tuple[Any, Connection]], open_readers: set[Connection],
                     budget: SharedBudget, start: Start) -> bool:
    """Start a fresh worker in the place of each one that ended itself to be replaced (its trial,
    stuck past its timeout, was recorded first), unless the run is stopping; True if any was."""
    replaced = False
    for index, (proc, _) in enumerate(workers):
        if proc.exitcode == REPLACE_WORKER_EXIT and not budget.stopped:
            log.info("worker %d ended a trial stuck past its timeout: starting a fresh worker", index)
            workers[index] = start(index)
            open_readers.add(workers[index][1])  # the old pipe stays until its last message is read
            replaced = True
    return replaced


def _serve(workers: list[tuple[Any, Connection]], budget: SharedBudget,
           on_event: EventHandler | None, start: Start | None = None) -> list[Failure]:
    """Run the event channel until every worker has exited; returns the errors they reported."""
    failures: list[Failure] = []
    _pump(workers, {r for _, r in workers}, budget, on_event, failures, until=math.inf, start=start)
    return failures


def _interrupt(workers: list[tuple[Any, Connection]], budget: SharedBudget,
               on_event: EventHandler | None) -> None:
    """Forward Ctrl-C to workers that did not get it, and wait for them to record their trials
    (their messages still reach `on_event`, so the interrupted trials are counted)."""
    for p, _ in workers:
        if p.is_alive() and p.pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(p.pid, signal.SIGINT)

    quietly = while_stopping(on_event)

    _pump(workers, {r for _, r in workers if not r.closed}, budget, quietly, [],
          until=time.time() + 10.0)
    for p, _ in workers:
        if p.is_alive():
            p.kill()  # it ignores further interrupts: it is busy recording, or stuck
            p.join(timeout=2.0)
