"""Fault tolerance: heartbeats that reveal dead workers, and retries of the trials they held."""

from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass

from shoal.exceptions import ConfigError
from shoal.storage import Storage

__all__ = ["Heartbeat", "HeartbeatThread", "RetryPolicy"]

log = logging.getLogger("shoal")


@dataclass(frozen=True)
class Heartbeat:
    """How often a worker proves its trials are alive, and how long silence means death.

    Args:
        interval: Seconds between heartbeats of a running trial.
        grace: A RUNNING trial whose last heartbeat is older than this is marked FAILED by the
            next worker that asks for a trial.
    """

    interval: float = 15.0
    grace: float = 120.0

    def __post_init__(self) -> None:
        if not self.interval > 0:
            raise ConfigError(f"interval of Heartbeat must be > 0. Got {self.interval!r}.")
        if not self.grace > self.interval:
            raise ConfigError(f"grace of Heartbeat must be > interval ({self.interval!r}); a few "
                              f"intervals is typical. Got {self.grace!r}.")


@dataclass(frozen=True)
class RetryPolicy:
    """Re-run the parameters of trials whose worker died (and, optionally, of failed trials).

    Args:
        max_retries: How many times one configuration is retried; 0 turns retries off.
        retry_failed: Also retry trials whose objective raised an exception.
    """

    max_retries: int = 0
    retry_failed: bool = False

    def __post_init__(self) -> None:
        if self.max_retries < 0:
            raise ConfigError(f"max_retries of RetryPolicy must be >= 0. Got {self.max_retries!r}.")


#: Seconds an idle heartbeat thread waits for the next trial before ending: an ask/tell loop
#: then reuses one thread instead of starting one per trial (about 0.1-1 ms of wall time each).
LINGER = 0.25


class HeartbeatThread:
    """One daemon thread per process that beats for every trial this process is running.

    The thread lives only while there are trials to beat for (and `LINGER` seconds after): it
    holds the storage (and its connections), so a thread left running would keep every dropped
    study alive.
    """

    def __init__(self, storage: Storage, interval: float) -> None:
        self._storage = storage
        self._interval = interval
        self._trials: set[int] = set()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = os.getpid()

    def add(self, trial_id: int) -> None:
        with self._lock:
            self._trials.add(trial_id)
            # A forked worker inherits the object but not the thread: start its own.
            if self._thread is None or self._pid != os.getpid() or not self._thread.is_alive():
                self._pid = os.getpid()
                self._wake = threading.Event()
                self._thread = threading.Thread(target=self._loop, args=(self._wake,),
                                                name="shoal-heartbeat", daemon=True)
                self._thread.start()

    def discard(self, trial_id: int) -> None:
        with self._lock:
            self._trials.discard(trial_id)
            if not self._trials:
                self._wake.set()  # end the thread now rather than at its next beat

    @property
    def running(self) -> bool:
        """Whether this process has a heartbeat thread alive (for tests and diagnostics)."""
        thread = self._thread
        return thread is not None and thread.is_alive() and self._pid == os.getpid()

    def _loop(self, wake: threading.Event) -> None:
        while True:
            woken = wake.wait(self._interval)
            with self._lock:
                wake.clear()
                trials = list(self._trials)
            if not trials:
                # Not a wait on `wake`: the end of the next trial would cut it short.
                time.sleep(LINGER)
                with self._lock:
                    if not self._trials:
                        if self._thread is threading.current_thread():
                            self._thread = None
                        return
                continue  # a trial came during the wait: keep beating
            if woken:
                continue
            for trial_id in trials:
                try:
                    if not self._storage.update_trial(trial_id, heartbeat=True):
                        self.discard(trial_id)  # finished or declared dead elsewhere
                except Exception as err:  # a transient storage error must not kill the thread
                    log.warning("heartbeat for trial id %s failed: %s", trial_id, err)

    def __getstate__(self) -> dict[str, object]:
        # Threads and locks do not pickle: a spawned worker starts with an empty heartbeat.
        return {"_storage": self._storage, "_interval": self._interval}

    def __setstate__(self, state: dict[str, object]) -> None:
        storage, interval = state["_storage"], state["_interval"]
        assert isinstance(interval, float)
        self.__init__(storage, interval)  # type: ignore[misc]
