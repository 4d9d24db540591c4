"""Trial timeouts: stop an objective that runs past its time, softly, then (in a worker) hard.

A `TrialTimer` guards one run of an objective:

1. **Soft stop, at the deadline.** `TrialTimedOut` is raised in the thread running the objective,
   between two bytecodes. In the main thread it comes from a SIGALRM that a watchdog thread sends
   to that thread only (`signal.pthread_kill`), so it also cuts a `time.sleep`, a `select` or a
   blocking read short; a PyTorch loop returns to Python every batch, so it stops within one.
   No interval timer is armed, so a program's own `setitimer` (pytest-timeout's, say) keeps
   running, and its SIGALRMs still reach its handler. In another thread, where Python cannot
   install signal handlers, the exception is set asynchronously (`PyThreadState_SetAsyncExc`),
   which stops Python code but not a blocking call.
2. **Hard stop, `grace_for(seconds)` later.** If the objective still runs (stuck in C code with
   the signal blocked, or it swallowed the exception), the watchdog calls `hard_stop`: in a worker
   process that its executor replaces (`WorkerContext.replaceable`), it records the trial
   FAILED("timeout") and ends the process with `REPLACE_WORKER_EXIT`; the executor starts a fresh
   worker in its place. In the calling process nothing may be killed: the watchdog logs a warning
   and the trial is recorded FAILED("timeout") whenever the objective returns.

A C loop that never releases the GIL cannot be stopped by any thread of its own process; such a
worker is left to its heartbeat (its trial turns FAILED once `Heartbeat.grace` passes after the
process is killed by hand).
"""

from __future__ import annotations

import ctypes
import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType, TracebackType
from typing import Any

from shoal.exceptions import TrialTimedOut

__all__ = ["TIMEOUT", "TrialTimer", "grace_for"]

log = logging.getLogger("shoal")
#: The failure reason of a trial stopped by its timeout.
TIMEOUT = "timeout"


def grace_for(seconds: float) -> float:
    """Seconds between the soft and the hard stop: a tenth of the timeout, within [1, 30].

    >>> grace_for(5.0), grace_for(60.0), grace_for(3600.0)
    (1.0, 6.0, 30.0)
    """
    return min(30.0, max(1.0, 0.1 * seconds))


class TrialTimer:
    """Stop the code run inside `with TrialTimer(...)` once `seconds` have passed (see module doc).

    Args:
        seconds: The time the objective may take.
        hard_stop: Called by the watchdog thread when the objective is still running
            `grace_for(seconds)` after the soft stop; it should not return (it ends the process).
            None: only warn (the calling process must not be killed).
        number: The trial's number, for the warning.

    After the block, `expired` says whether the deadline passed while it ran (then the trial is
    recorded FAILED("timeout"), whatever the objective returned).

    >>> with TrialTimer(seconds=5.0, hard_stop=None, number=0) as timer:
    ...     pass
    >>> timer.expired
    False
    """

    def __init__(self, *, seconds: float, hard_stop: Callable[[], None] | None, number: int) -> None:
        self.seconds = seconds
        self.grace = grace_for(seconds)
        self.expired = False
        self._hard_stop = hard_stop
        self._number = number
        self._lock = threading.Lock()
        self._done = threading.Event()
        self._raise = False  # set at the deadline; the handler raises only while the block runs
        self._sent = False  # a SIGALRM of ours is on its way: not another program's alarm
        self._target = threading.current_thread()
        self._old_handler: Any = None
        self._installed = False
        self._watchdog = threading.Thread(target=self._watch, name="shoal-trial-timeout", daemon=True)

    def run(self, objective: Callable[[Any], Any], trial: Any) -> Any:
        """`objective(trial)` under this timer; TrialTimedOut once its deadline passed, also when
        the objective swallowed the stop, returned late or raised something else because of it."""
        with self:
            try:
                result = objective(trial)
            except BaseException as err:
                if self.expired and not isinstance(err, (KeyboardInterrupt, TrialTimedOut)):
                    raise TrialTimedOut(f"trial {self._number} ran past its timeout") from err
                raise
        if self.expired:
            raise TrialTimedOut(f"trial {self._number} ran past its timeout")
        return result

    def __enter__(self) -> TrialTimer:
        self._target = threading.current_thread()
        if self._target is threading.main_thread():
            old = signal.getsignal(signal.SIGALRM)
            if old is not None:  # None: installed outside Python, not ours to replace
                self._old_handler = old
                signal.signal(signal.SIGALRM, self._on_alarm)
                self._installed = True
        self._deadline = time.monotonic() + self.seconds
        self._watchdog.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, err: BaseException | None,
                 tb: TracebackType | None) -> None:
        with self._lock:  # a hard stop in progress holds the lock until the process ends
            self._raise = False
            self._done.set()
            ident = self._target.ident
            if self.expired and not self._installed and ident is not None:  # not raised yet: drop it
                ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)
        if self._installed:
            # Our alarm, still pending where the objective blocked SIGALRM: consume it, so that
            # the restored handler (or the default action, which ends the process) never sees it.
            if self._sent and signal.SIGALRM in signal.sigpending():
                signal.sigtimedwait([signal.SIGALRM], 0)
            signal.signal(signal.SIGALRM, self._old_handler)

    def _on_alarm(self, signum: int, frame: FrameType | None) -> None:
        if self._sent:
            self._sent = False
            if self._raise:
                self._raise = False  # once: the objective's clean-up must not be cut short again
                raise TrialTimedOut(f"trial {self._number} ran past its timeout of {self.seconds:g} s")
            return
        if callable(self._old_handler):  # someone else's alarm (e.g. pytest-timeout's)
            self._old_handler(signum, frame)

    def _watch(self) -> None:
        if self._done.wait(max(0.0, self._deadline - time.monotonic())):
            return
        with self._lock:
            if self._done.is_set():
                return
            self.expired = self._raise = True
            self._soft_stop()
        if self._done.wait(self.grace):
            return
        with self._lock:
            if self._done.is_set():
                return
            if self._hard_stop is not None:
                log.warning("trial %d did not stop %g s after its timeout (stuck in C code?): "
                            "ending its worker process; a fresh one takes its place.",
                            self._number, self.grace)
                self._hard_stop()  # ends the process; the lock is never released
                return
        log.warning("trial %d did not stop %g s after its timeout (stuck in C code?); it is recorded "
                    "FAILED('timeout') when its objective returns.", self._number, self.grace)

    def _soft_stop(self) -> None:
        ident = self._target.ident
        if ident is None:
            return
        if self._installed:
            self._sent = True
            signal.pthread_kill(ident, signal.SIGALRM)  # cuts a sleep or a blocking read short
            return
        # Another thread: an asynchronous exception, raised at its next bytecode.
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), ctypes.py_object(TrialTimedOut))
