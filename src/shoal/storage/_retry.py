"""Riding out a database restart: SQL storage retries transient connection errors, writing once.

A PostgreSQL server that restarts, fails over or drops a connection makes every call in flight
fail with a connection error. `SQLStorage` runs each of its calls through `Retrier.call`: a
transient error (`is_transient`) is retried with exponential back-off (0.05 s doubling to 2 s)
for at most `retry_seconds` (the storage URL option `?retry_seconds=`, default `RETRY_SECONDS`;
0 turns retrying off), logged once per outage, with one more line when the database answers
again; past the limit the call raises one StorageError saying what to do.

A write whose connection broke may have committed or not: the client cannot know. A retry must
not do it twice, so each write is idempotent or checks first, without a schema change:

- `create_trial` and `fail_stale_trials` store a token made for the call in the trial's system
  attributes (`WRITE_TOKEN`, hidden on read); before writing again the retry looks for it, and
  returns the trials it finds (a created trial; the trials a reaping changed).
- `claim_waiting_trial` and `resume_trial` look for the trial their first try would have given
  this worker (RUNNING, this worker's name, started since the call began, not yet beaten).
- `finish_trial` is True when the trial already holds this ending; `update_trial` and
  `set_study_attrs` merge, so writing the same values twice changes nothing.
- `create_study` returns the study if one of that name with these directions and attributes
  exists, `delete_study` accepts that the study is already gone.

Reads are retried as they are. Only PostgreSQL retries: SQLite has no connection to lose (a busy
file waits under its own busy timeout).
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import logging
import math
import sqlite3
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import sqlalchemy as sa

from shoal._validate import config_error
from shoal.exceptions import StorageError, StorageURLError
from shoal.storage import _schema as q
from shoal.storage._codec import TRIAL_COLUMNS, WRITE_TOKEN, loads
from shoal.trial import Direction, FrozenTrial, TrialState

__all__ = ["RETRY_SECONDS", "Retrier", "is_transient", "retried", "split_retry_option"]

log = logging.getLogger("shoal")

#: Seconds a call keeps retrying while the database cannot be reached (URL option `retry_seconds`).
RETRY_SECONDS = 60.0
FIRST_DELAY, MAX_DELAY = 0.05, 2.0
#: PostgreSQL's SQLSTATEs of a server going away: class 08 (connection exception), and
#: admin_shutdown, crash_shutdown, cannot_connect_now (starting up or shutting down).
_GONE = ("57P01", "57P02", "57P03")
_NOTHING = object()  # a recovery found no trace of the earlier try

F = TypeVar("F", bound=Callable[..., Any])


def split_retry_option(url: sa.URL, display: str) -> tuple[sa.URL, float]:
    """The URL without shoal's `retry_seconds` option (the driver would refuse it), and its value."""
    given = url.query.get("retry_seconds")
    if given is None:
        return url, RETRY_SECONDS
    text = given if isinstance(given, str) else given[-1]
    try:
        seconds = float(text)
    except ValueError:
        seconds = math.nan
    if not (math.isfinite(seconds) and seconds >= 0):
        raise config_error("retry_seconds", f"storage URL {display}", "a number of seconds >= 0", text,
                           "Give how long to retry while the database cannot be reached, e.g. "
                           "?retry_seconds=60, or 0 to fail at once.", error=StorageURLError)
    return url.difference_update_query(["retry_seconds"]), seconds


def is_transient(err: BaseException) -> bool:
    """Whether `err` is a lost or refused connection to a database server (worth retrying)."""
    if not isinstance(err, sa.exc.DBAPIError) or isinstance(err.orig, sqlite3.Error):
        return False  # SQLite: no connection to lose ("database is locked" has its busy timeout)
    if err.connection_invalidated:
        return True
    sqlstate = getattr(err.orig, "sqlstate", None)
    if sqlstate:
        return str(sqlstate).startswith("08") or sqlstate in _GONE
    # Refused or reset connections carry no SQLSTATE: psycopg raises them as OperationalError.
    return isinstance(err, (sa.exc.OperationalError, sa.exc.InterfaceError))


class Retrier:
    """Runs storage calls again while the database is unreachable; one per storage object.

    Args:
        display: The storage URL for messages (password hidden).
        seconds: How long one call may keep retrying; 0: never retry.
    """

    def __init__(self, display: str, seconds: float) -> None:
        self.display = display
        self.seconds = seconds
        self._lock = threading.Lock()
        self._down_since: float | None = None  # monotonic time the current outage was first seen
        self._last_outage: tuple[float, float] | None = None  # (monotonic end, length)
        self._local = threading.local()

    def token_attrs(self) -> dict[str, str]:
        """The system attribute that marks the current call's write ({} when nothing retries)."""
        token = getattr(self._local, "token", None)
        return {WRITE_TOKEN: token} if token else {}

    @contextlib.contextmanager
    def _token(self) -> Iterator[str]:
        self._local.token = token = uuid.uuid4().hex
        try:
            yield token
        finally:
            self._local.token = None

    def outage_allowance(self, grace: float) -> float:
        """Seconds to add to a heartbeat grace period just after an outage this object saw: its
        length, when no worker could beat, and `MAX_DELAY`, the most a worker's retrying
        heartbeat lags behind the database's return. Added until every live worker has beaten
        since (`grace` plus that much after the outage's end); 0 otherwise."""
        with self._lock:
            last = self._last_outage
        if last is None:
            return 0.0
        end, length = last
        allowance = length + MAX_DELAY
        return allowance if time.monotonic() - end < grace + allowance else 0.0

    def call(self, attempt: Callable[[], Any], recover: Callable[[], Any] | None = None) -> Any:
        """`attempt()` until it does not fail transiently; before each retry, `recover()` (if
        given) looks for the effect of an earlier try and its answer, unless `_NOTHING`, is
        returned instead."""
        if self.seconds <= 0:
            return attempt()
        deadline: float | None = None
        delay = FIRST_DELAY
        while True:
            try:
                found = _NOTHING if deadline is None or recover is None else recover()
                result = attempt() if found is _NOTHING else found
            except sa.exc.DBAPIError as err:
                if not is_transient(err):
                    raise
                now = time.monotonic()
                if deadline is None:
                    deadline = now + self.seconds
                    self._down(err)
                if now >= deadline:
                    raise self._gave_up(err) from err
                time.sleep(min(delay, deadline - now))
                delay = min(2.0 * delay, MAX_DELAY)
                continue
            if deadline is not None or self._down_since is not None:  # (another call gave up)
                self._back()
            return result

    def _down(self, err: sa.exc.DBAPIError) -> None:
        with self._lock:
            if self._down_since is not None:
                return  # another thread of this process saw the outage first and said so
            self._down_since = time.monotonic()
        log.warning("storage %s cannot be reached (%s); retrying for up to %g s", self.display,
                    _one_line(err), self.seconds)

    def _back(self) -> None:
        with self._lock:
            since, self._down_since = self._down_since, None
            if since is None:
                return
            now = time.monotonic()
            self._last_outage = (now, now - since)
        log.warning("storage %s answers again after %.1f s", self.display, now - since)

    def _gave_up(self, err: sa.exc.DBAPIError) -> StorageError:
        return StorageError(
            f"storage {self.display} must answer within retry_seconds={self.seconds:g}. Got no "
            f"connection for that long ({_one_line(err)}). Check that the database server runs; "
            "completed trials are stored, and running the same command again resumes the study. "
            "Allow longer outages with ?retry_seconds=300 in the storage URL.")


def _one_line(err: sa.exc.DBAPIError) -> str:
    text = str(err.orig if err.orig is not None else err).strip()
    return text.splitlines()[0] if text else type(err).__name__


def retried(recover: Callable[..., Any] | None = None, *, token: bool = False) -> Callable[[F], F]:
    """Run a storage method through its object's `Retrier` (`self._retry`).

    `recover(self, since=..., token=..., **arguments)` is asked before each retry, with the
    method's arguments by name, what `time` the call began on the storage's clock and the call's
    token; it returns what the method would have, or `_NOTHING`. `token`: mark the write with one.
    """

    def decorate(method: F) -> F:
        signature = inspect.signature(method)

        @functools.wraps(method)
        def call(self: Any, *args: Any, **kwargs: Any) -> Any:
            retrier: Retrier = self._retry
            if retrier.seconds <= 0:
                return method(self, *args, **kwargs)
            since = self._clock.now()
            with retrier._token() if token else contextlib.nullcontext("") as mark:
                attempt = functools.partial(method, self, *args, **kwargs)
                if recover is None:
                    return retrier.call(attempt)
                bound = signature.bind(self, *args, **kwargs)
                bound.apply_defaults()
                named = {k: v for k, v in bound.arguments.items() if k != "self"}
                return retrier.call(attempt, functools.partial(recover, self, since=since,
                                                               token=mark, **named))

        return call  # type: ignore[return-value]

    return decorate


# Recoveries: what an earlier try of a write left, looked up before trying again ------------------
_TRIAL = tuple(q.trials.c[name] for name in TRIAL_COLUMNS)
_T = q.trials.c


def _marked(storage: Any, study_id: int, token: str) -> list[FrozenTrial]:
    query = sa.select(*_TRIAL).where(_T.study_id == study_id,
                                     _T.system_attrs.like(f'%"{token}"%')).order_by(_T.number)
    with storage._engine.connect() as conn:
        rows = conn.execute(query).all()
        signs = storage._study_signs(conn, study_id) if rows else ()
    return [q.trial_from_row(row, signs) for row in rows]


def created_trial(storage: Any, *, since: float, token: str, study_id: int, **_: Any) -> Any:
    """The trial an earlier try of `create_trial` created, found by its token."""
    found = _marked(storage, study_id, token)
    return found[0] if found else _NOTHING


def reaped_trials(storage: Any, *, since: float, token: str, study_id: int, **_: Any) -> Any:
    """The trials an earlier try of `fail_stale_trials` marked FAILED, found by its token."""
    found = [t for t in _marked(storage, study_id, token) if t.state is TrialState.FAILED]
    return found if found else _NOTHING


def claimed_trial(storage: Any, *, since: float, token: str, study_id: int, worker: str,
                  **_: Any) -> Any:
    """The WAITING trial an earlier try of `claim_waiting_trial` moved to RUNNING for `worker`:
    started since the call began and never beaten since."""
    query = sa.select(*_TRIAL).where(
        _T.study_id == study_id, _T.state == q.RUNNING, _T.worker == worker,
        _T.datetime_start >= since, _T.last_heartbeat == _T.datetime_start).order_by(_T.number)
    with storage._engine.connect() as conn:
        row = conn.execute(query).first()
        if row is None:
            return _NOTHING
        return q.trial_from_row(row, storage._study_signs(conn, study_id))


def resumed_trial(storage: Any, *, since: float, token: str, trial_id: int, worker: str,
                  **_: Any) -> Any:
    """The trial an earlier try of `resume_trial` resumed for `worker` (its last lineage event)."""
    with storage._engine.connect() as conn:
        row = conn.execute(q.TRIAL_BY_ID, {"b_tid": trial_id}).first()
        if row is None or row[2] != q.RUNNING:
            return _NOTHING
        study_id = conn.execute(sa.select(_T.study_id).where(_T.trial_id == trial_id)).scalar_one()
        trial = q.trial_from_row(row, storage._study_signs(conn, study_id))
    last = trial.lineage[-1] if trial.lineage else {}
    ours = (trial.worker == worker and last.get("event") == "resumed"
            and last.get("worker") == worker and float(last.get("at") or 0.0) >= since)
    return trial if ours else _NOTHING


def finished_trial(storage: Any, *, since: float, token: str, trial_id: int, state: TrialState,
                   values: Any = None, system_attrs: Any = None, **_: Any) -> Any:
    """True when the trial already holds this ending (an earlier try of `finish_trial` committed).

    A pause is found by its lineage event instead: another worker may have resumed the trial
    since, and trying again would end that worker's run.
    """
    with storage._engine.connect() as conn:
        row = conn.execute(sa.select(_T.state, _T["values"], _T.system_attrs, _T.lineage)
                           .where(_T.trial_id == trial_id)).first()
    if row is not None and state is TrialState.PAUSED:
        paused = [e for e in loads(row[3]) if e.get("event") == "paused"]
        return True if paused and float(paused[-1].get("at") or 0.0) >= since else _NOTHING
    if row is None or row[0] != state.value:
        return _NOTHING
    stored_values = None if row[1] is None else list(loads(row[1]))
    wanted = None if values is None else [float(v) for v in values]
    stored = loads(row[2])
    same_attrs = all(stored.get(k) == v for k, v in dict(system_attrs or {}).items())
    return True if stored_values == wanted and same_attrs else _NOTHING


def existing_study(storage: Any, *, since: float, token: str, name: str, directions: Any,
                   user_attrs: Any = None, system_attrs: Any = None, **_: Any) -> Any:
    """The study an earlier try of `create_study` created: same name, directions and attributes."""
    with storage._engine.connect() as conn:
        row = conn.execute(q.GET_STUDY, {"b_name": name}).first()
    if row is None:
        return _NOTHING
    record = storage._record(row)
    same = (record.directions == tuple(Direction.parse(d) for d in directions)
            and record.user_attrs == dict(user_attrs or {})
            and record.system_attrs == dict(system_attrs or {}))
    return record if same else _NOTHING


def deleted_study(storage: Any, *, since: float, token: str, name: str, **_: Any) -> Any:
    """None when the study is gone (an earlier try of `delete_study` committed)."""
    with storage._engine.connect() as conn:
        row = conn.execute(q.GET_STUDY, {"b_name": name}).first()
    return None if row is None else _NOTHING

