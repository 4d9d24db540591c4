"""Run worker jobs as Ray tasks, on one machine or a cluster (Ray's public API only).

Each worker is one Ray task asking for `num_cpus` / `num_gpus` of the trial's `Resources`, and
runs the same worker job as a local process would (ask -> run -> tell, straight to storage). The
trial budget and the event channel live in one small actor, the hub, owned by this process:
workers claim trials from it and hand it their finished trials, which this process drains into
`on_event`. Ray is imported when a run starts, never by `import shoal`.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import math
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Mapping
from typing import Any

from shoal._validate import config_error, integer
from shoal.exceptions import ConfigError, ShoalError
from shoal.executors._processes import WorkerCrashed
from shoal.executors._protocol import Budget, EventHandler, WorkerContext, WorkerJob, while_stopping
from shoal.executors._resources import Resources

__all__ = ["RayExecutor"]

log = logging.getLogger("shoal")

#: Seconds between two reads of the hub's events (workers never wait for them).
_POLL = 0.1
#: Seconds a granted claim vouches that the budget is not stopped (see `_RayBudget`).
_FRESH = 0.1
#: Seconds interrupted workers have to record their running trials before they are killed.
_STOP_GRACE = 10.0
_ONE_CPU = Resources()  # frozen: one shared default is safe
#: The `address` each `ray.init` of this process was called with, to reuse that connection.
_connected: dict[str, str | None] = {}


def _ray() -> Any:
    """The `ray` module, or a ConfigError saying how to install it."""
    try:
        return importlib.import_module("ray")
    except ImportError as err:
        raise ConfigError(f"RayExecutor needs Ray: pip install 'shoal[ray]' ({err}).") from None


class _Hub:
    """The run's shared state, as a Ray actor: the trial budget, the finished trials on their way
    to the driver, and which workers are running (an interrupted run waits for them).

    The timeout starts when the first worker does: the seconds Ray takes to start worker
    processes (or a cluster's autoscaler to add nodes) are not taken from the trials.
    """

    def __init__(self, n_trials: int | None, timeout: float | None) -> None:
        self._left = n_trials
        self._timeout = timeout
        self._deadline: float | None = None  # the timeout counts from the first worker's start
        self._stop = False
        self._events: list[object] = []
        self._active: set[int] = set()
        self._entered: set[int] = set()
        self._starts = 0

    def claim(self) -> bool:
        if self.stopped():
            return False
        if self._left is not None:
            if self._left <= 0:
                return False
            self._left -= 1
        return True

    def release(self) -> None:
        if self._left is not None:
            self._left += 1

    def stop(self) -> None:
        self._stop = True

    def stopped(self) -> bool:
        return self._stop or (self._deadline is not None and time.time() >= self._deadline)

    def send(self, message: object) -> None:
        self._events.append(message)

    def enter(self, index: int) -> int:
        """A worker started (again, after a lost node: then its start count is above n_workers)."""
        if self._deadline is None and self._timeout is not None:
            self._deadline = time.time() + self._timeout
        self._active.add(index)
        self._entered.add(index)
        self._starts += 1
        return self._starts

    def leave(self, index: int) -> None:
        self._active.discard(index)

    def drain(self) -> tuple[list[object], int, set[int] | None]:
        """The events sent since the last drain, how many workers are running now, and, once the
        budget is stopped, the workers that ever started (the others need not start at all)."""
        events, self._events = self._events, []
        return events, len(self._active), set(self._entered) if self.stopped() else None


class _RayBudget:
    """A worker's view of the hub's budget (each call is one round trip to the actor).

    A granted claim also says the budget was not stopped then, so `stopped` asks again only
    `_FRESH` seconds later: a trivial trial costs one round trip, not two. Claims stay exact.
    """

    def __init__(self, hub: Any) -> None:
        self.hub = hub
        self._seen_stop = False  # a stopped budget stays stopped: ask no more
        self._running_at = -math.inf  # when the hub last said it was not stopped

    def claim(self) -> bool:
        if self._seen_stop:
            return False
        granted = bool(_ray().get(self.hub.claim.remote()))
        if granted:
            self._running_at = time.monotonic()
        return granted

    def release(self) -> None:
        _ray().get(self.hub.release.remote())

    def stop(self) -> None:
        self._seen_stop = True
        _ray().get(self.hub.stop.remote())

    @property
    def stopped(self) -> bool:
        if not self._seen_stop and time.monotonic() - self._running_at >= _FRESH:
            self._seen_stop = bool(_ray().get(self.hub.stopped.remote()))
            self._running_at = time.monotonic()
        return self._seen_stop

    def __getstate__(self) -> dict[str, Any]:
        return {"hub": self.hub}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(hub=state["hub"], _seen_stop=False, _running_at=-math.inf)


class _HubSender:
    """A worker's event channel: messages go to the hub in order (Ray runs one caller's actor
    calls in the order sent) without waiting; `flush` waits for all before the worker ends."""

    def __init__(self, hub: Any) -> None:
        self._hub = hub
        self._pending: list[Any] = []

    def __call__(self, message: object) -> None:
        ray = _ray()
        self._pending.append(self._hub.send.remote(message))
        _, self._pending = ray.wait(self._pending, num_returns=len(self._pending), timeout=0)

    def flush(self) -> None:
        _ray().get(self._pending)
        self._pending = []


def _vanish(signum: int, frame: object) -> None:
    """Ray ends the workers of a driver that died with SIGTERM, where Ray would raise SystemExit and
    fail the running trial for good. Exit at once instead: the trial stays RUNNING, its heartbeat
    stops, and the next worker to ask fails it and retries it as the study's RetryPolicy says."""
    os._exit(128 + signum)


def _work(payload: bytes, index: int, n_workers: int, budget: _RayBudget) -> tuple[Any, ...]:
    """One worker, run as a Ray task: the job, with its outcome returned rather than raised (an
    error of the job must not make Ray retry the task: only a lost worker or node does)."""
    ray = _ray()
    if threading.current_thread() is threading.main_thread():
        signal.signal(signal.SIGTERM, _vanish)
    job = ray.cloudpickle.loads(payload)
    ray.get(budget.hub.enter.remote(index))
    sender = _HubSender(budget.hub)
    try:
        job(WorkerContext(index, n_workers, budget, sender))
    except KeyboardInterrupt:  # ray.cancel: the running trial is already recorded as interrupted
        with contextlib.suppress(Exception):
            budget.stop()
        return ("interrupted", index)
    except BaseException as err:
        text = traceback.format_exc()
        with contextlib.suppress(Exception):
            budget.stop()
        try:
            blob = ray.cloudpickle.dumps(err)
        except Exception:  # the exception itself may not pickle
            blob = None
        return ("error", index, blob, text)
    finally:
        with contextlib.suppress(Exception):
            sender.flush()  # every event is in the hub before the worker says it left
            ray.get(budget.hub.leave.remote(index))
    return ("done", index)


class RayExecutor:
    """Workers as Ray tasks, on this machine or a Ray cluster; trials go straight to storage.

    Every worker asks Ray for the trial's `Resources` (`num_cpus`, `num_gpus`; Ray then sets
    `CUDA_VISIBLE_DEVICES` for it, fractions sharing a GPU) and loops ask -> run -> tell against
    the study's storage, which every node must reach: PostgreSQL for a cluster, SQLite only when
    every node shares the file (one machine). In-memory storage is refused.

    Faults: killing this process (the driver) loses no finished trial; Ray ends its workers, their
    running trials are failed once their heartbeat expires and retried by the study's
    `RetryPolicy` when a new driver resumes the study. A worker lost with its node is re-run by
    Ray on another node, at most `max_node_failures` times; its trial is failed by heartbeat and
    retried. Ctrl-C (or SIGTERM) cancels the workers: each marks its running trial
    FAILED("interrupted"), as local workers do, before `run` re-raises.

    Args:
        address: The cluster to join (`"HOST:PORT"` of the head, `"auto"`, `"ray://..."`); None
            joins the cluster this process already joined or `RAY_ADDRESS` names, else starts
            Ray on this machine (as `ray.init()` does).
        resources: What each worker (one trial at a time) asks Ray for.
        runtime_env: Ray's runtime environment for the workers (e.g. `{"pip": [...]}`); shoal
            itself must be importable on every node.
        max_node_failures: How many times Ray may re-run a worker whose process or node died.

    >>> RayExecutor(resources=Resources(cpus=1, gpus=0.5))
    RayExecutor(address=None, resources=Resources(cpus=1.0, gpus=0.5), max_node_failures=3)
    """

    def __init__(self, *, address: str | None = None, resources: Resources = _ONE_CPU,
                 runtime_env: Mapping[str, Any] | None = None, max_node_failures: int = 3) -> None:
        if address is not None and (not isinstance(address, str) or not address.strip()):
            raise config_error("address", "RayExecutor", "'HOST:PORT', 'auto' or None", address,
                               hint="e.g. address='10.0.0.5:6379', the head node's `ray start --head` port.")
        if not isinstance(resources, Resources):
            raise config_error("resources", "RayExecutor", "a shoal.Resources", resources,
                               hint="e.g. resources=shoal.Resources(cpus=1, gpus=0.5).")
        if runtime_env is not None and not isinstance(runtime_env, Mapping):
            raise config_error("runtime_env", "RayExecutor", "a mapping or None", runtime_env,
                               hint='e.g. runtime_env={"pip": ["torch"]}.')
        self.address = address.strip() if address is not None else None
        self.resources = resources
        self.runtime_env = dict(runtime_env) if runtime_env is not None else None
        self.max_node_failures = integer(max_node_failures, what="max_node_failures",
                                         owner="RayExecutor", low=0)

    def run(self, job: WorkerJob, *, n_workers: int, n_trials: int | None,
            timeout: float | None, on_event: EventHandler | None = None) -> None:
        n_workers = integer(n_workers, what="n_workers", owner="RayExecutor", low=1)
        ray = _ray()
        payload = _pickled(ray, job)  # before connecting: an in-memory study fails at once
        self._connect(ray)
        # On this process's node: a lost node must not take the run's budget and events with it.
        here = importlib.import_module("ray.util.scheduling_strategies").NodeAffinitySchedulingStrategy(
            node_id=ray.get_runtime_context().get_node_id(), soft=False)
        options: dict[str, Any] = {"num_cpus": 0, "scheduling_strategy": here}
        if self.runtime_env is not None:
            options["runtime_env"] = self.runtime_env
        hub = ray.remote(_Hub).options(**options).remote(n_trials, timeout)
        budget = _RayBudget(hub)
        # max_calls=1: a fresh process per run, so no state, GPU memory or thread outlives it
        worker = ray.remote(max_calls=1)(_work).options(
            num_cpus=self.resources.cpus, num_gpus=self.resources.gpus,
            max_retries=self.max_node_failures, retry_exceptions=False,
            **({"runtime_env": self.runtime_env} if self.runtime_env is not None else {}))
        job_ref = ray.put(payload)
        refs = [worker.remote(job_ref, i, n_workers, budget) for i in range(n_workers)]
        try:
            outcomes = _serve(ray, refs, hub, budget, on_event)
        except BaseException:  # Ctrl-C, SIGTERM, or an error in the event handler
            _interrupt(ray, refs, hub, budget, on_event)
            raise
        finally:
            with contextlib.suppress(Exception):
                ray.kill(hub)
        _raise_failures(outcomes)

    def _connect(self, ray: Any) -> None:
        """Join the cluster `address` names, reusing this process's connection when it is that."""
        if ray.is_initialized():
            if self.address in (None, _connected.get("address", ""),
                                ray.get_runtime_context().gcs_address):
                return
            ray.shutdown()
        _check_reachable(self.address)
        try:
            ray.init(address=self.address)
        except ConnectionError as err:
            raise ConfigError(f"address of RayExecutor must be a running Ray cluster. Got "
                              f"{self.address!r} ({err}). Start one with `ray start --head`, or pass "
                              "address=None to start Ray on this machine.") from None
        _connected["address"] = self.address

    def __repr__(self) -> str:
        return (f"RayExecutor(address={self.address!r}, resources={self.resources!r}, "
                f"max_node_failures={self.max_node_failures})")


def _check_reachable(address: str | None) -> None:
    """Fail in seconds, not minutes (`ray.init` retries for long), when no head listens at HOST:PORT."""
    if address is None or "://" in address:  # None, or "ray://...": Ray's own way to connect
        return
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():  # "auto", "local"
        return
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=10).close()
    except OSError as err:
        raise ConfigError(f"address of RayExecutor must be a running Ray cluster's head. Got {address!r} "
                          f"({err.strerror or err}). Start one with `ray start --head --port {port}`, or "
                          "pass address=None to start Ray on this machine.") from None


def _pickled(ray: Any, job: WorkerJob) -> bytes:
    """The job as Ray's cloudpickle writes it; a job that cannot travel is a one-line ConfigError."""
    try:
        payload: bytes = ray.cloudpickle.dumps(job)
    except ShoalError:  # e.g. an in-memory study, which says so itself
        raise
    except Exception as err:
        raise ConfigError(f"objective of a RayExecutor run must pickle to reach Ray's workers. Got "
                          f"{type(err).__name__}: {err}. Define it at module level, or build what "
                          "it uses (models, data) inside it.") from None
    return payload


Outcome = tuple[Any, ...]


def _deliver(hub: Any, ray: Any, budget: Budget, on_event: EventHandler | None,
             ) -> tuple[int, set[int] | None]:
    """Hand the hub's new events to `on_event`; returns how many workers are running and, once the
    budget is stopped, which ever started."""
    events, active, entered = ray.get(hub.drain.remote())
    if on_event is not None:
        for message in events:
            on_event(message, budget)
    return int(active), entered


def _serve(ray: Any, refs: list[Any], hub: Any, budget: Budget,
           on_event: EventHandler | None) -> list[Outcome]:
    """Pass events on until every worker task has ended; returns their outcomes."""
    outcomes: list[Outcome] = []
    pending = list(refs)
    unneeded: set[int] = set()  # workers still queued for resources once the budget stopped
    while pending:
        done, pending = ray.wait(pending, num_returns=len(pending), timeout=_POLL)
        for ref in done:
            index = refs.index(ref)
            try:
                outcomes.append(tuple(ray.get(ref)))
            except ray.exceptions.TaskCancelledError:
                if index not in unneeded:
                    raise
            except ray.exceptions.RayError as err:  # its process or node died, retries spent
                outcomes.append(("crashed", index, None, f"{type(err).__name__}: {err}"))
        _, entered = _deliver(hub, ray, budget, on_event)
        if entered is not None:  # a worker that starts now would only find the budget spent
            for ref in pending:
                index = refs.index(ref)
                if index not in entered and index not in unneeded:
                    unneeded.add(index)
                    ray.cancel(ref, force=False)
    _deliver(hub, ray, budget, on_event)
    return outcomes


def _interrupt(ray: Any, refs: list[Any], hub: Any, budget: Budget,
               on_event: EventHandler | None) -> None:
    """Stop the workers: cancel their tasks (a KeyboardInterrupt in each, which marks its trial
    interrupted), pass on what they send meanwhile, and kill those that do not end in time."""
    with contextlib.suppress(Exception):
        budget.stop()
    for ref in refs:
        with contextlib.suppress(Exception):
            ray.cancel(ref, force=False)

    quietly = while_stopping(on_event)

    until = time.time() + _STOP_GRACE
    pending = list(refs)
    while time.time() < until:
        with contextlib.suppress(Exception):
            _, pending = ray.wait(pending, num_returns=len(pending), timeout=_POLL)
        try:
            active, _ = _deliver(hub, ray, budget, quietly)
        except Exception:
            break
        if not pending and active == 0:
            return
    for ref in pending:  # stuck in C code, or ignoring the interrupt: the heartbeat reaps its trial
        with contextlib.suppress(Exception):
            ray.cancel(ref, force=True)


def _raise_failures(outcomes: list[Outcome]) -> None:
    """Re-raise the first worker's error; then report workers Ray could not keep alive."""
    errors = sorted((o for o in outcomes if o[0] == "error"), key=lambda o: int(o[1]))
    if errors:
        _, index, blob, text = errors[0]
        if blob is not None:
            err = _ray().cloudpickle.loads(blob)
            if isinstance(err, BaseException):
                raise err
        raise ShoalError(f"worker {index} failed:\n{text}")
    crashed = [o for o in outcomes if o[0] == "crashed"]
    if crashed:
        what = "; ".join(f"worker {o[1]}: {o[3].splitlines()[0]}" for o in crashed)
        raise WorkerCrashed(f"Ray workers died more often than max_node_failures allows ({what}). Their "
                            "running trials are marked FAILED once their heartbeat expires; completed "
                            "trials are safe.")
