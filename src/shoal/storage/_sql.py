"""Storage in a SQL database through SQLAlchemy Core: SQLite on one machine, PostgreSQL across many.

One code path serves both back ends. Transactions are short and each method is one of them:

- Every write transaction first bumps the study's `version` (an UPDATE of the study row). That row
  lock serialises the writes of a study on PostgreSQL (READ COMMITTED): trial numbers are assigned
  under it, versions are handed out in commit order, and a read-merge-write of a trial cannot lose
  a concurrent update. Rows are always locked study first, then trials, so writers cannot deadlock.
- On SQLite the pysqlite driver's own transaction handling is switched off and shoal emits
  `BEGIN IMMEDIATE` for every write transaction (plain `BEGIN` for reads), so a writer takes the
  file's write lock up front and waits under the busy timeout instead of failing with
  "database is locked" when it would upgrade a read lock. WAL mode lets readers run meanwhile.
- Calls that usually find nothing to do (claiming a WAITING trial, failing stale trials) first
  look in a read transaction and only then take the write lock.
"""

from __future__ import annotations

import os
import sqlite3
import time
import weakref
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import replace
from typing import Any

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import Connection, Engine
from sqlalchemy.pool import Pool, StaticPool

from shoal.clock import Clock, SystemClock
from shoal.exceptions import StorageURLError, StudyExists, StudyNotFound
from shoal.space import Param
from shoal.storage import _retry as r
from shoal.storage import _schema as q
from shoal.storage._attrs import plain_attrs
from shoal.storage._budget_sql import SQLBudgets
from shoal.storage._codec import BUSY_TIMEOUT_S, dump_distributions, dump_lineage, dumps, loads
from shoal.storage._migrations import ensure_schema
from shoal.storage._protocol import StudyRecord
from shoal.storage._reader import _SQLReads, create_engine, translate_errors
from shoal.storage._url import URL_EXAMPLES, StorageURL, parse_url
from shoal.trial import Direction, FrozenTrial, TrialState

__all__ = ["SQLStorage"]


class SQLStorage(SQLBudgets, _SQLReads):
    """Storage in SQLite (one machine, WAL mode) or PostgreSQL (many machines), shared by workers.

    Args:
        url: A SQLAlchemy URL: `sqlite:///shoal.db` (a file in the current folder),
            `sqlite:////abs/path.db`, or `postgresql://user:password@host/dbname` (psycopg 3).
            Kept as given in `url`, so another process can reopen it with `open_storage(url)`.
        clock: Where timestamps come from; the system clock by default.

    Raises:
        StorageURLError: The URL is malformed, its driver is missing, or the SQLite folder is absent.
        SchemaVersionError: The database was written by a newer shoal (an older one is migrated).
        StorageError: The database cannot be opened or reached.

    The object is safe to use from threads and across `os.fork()` (the child drops the inherited
    connections and opens its own), and pickles as its URL and clock.

    >>> import tempfile
    >>> with tempfile.TemporaryDirectory() as folder:
    ...     storage = SQLStorage(f"sqlite:///{folder}/demo.db")
    ...     study = storage.create_study("demo", [Direction.MINIMIZE])
    ...     print(storage.create_trial(study.study_id).number)
    ...     storage.close()
    0
    """

    def __init__(self, url: str, *, clock: Clock | None = None) -> None:
        self.url = url
        self._given_clock = clock
        self._clock: Clock = clock or SystemClock()
        location = parse_url(url)
        self._display = location.display
        sa_url, seconds = _sqlalchemy_url(location)
        self._retry = r.Retrier(self._display, seconds)  # rides out a database restart (_retry.py)
        self._engine = _create_engine(sa_url, self._display)
        translate_errors(self._engine, location)
        self._write_engine = self._engine.execution_options(shoal_write=True)
        self._signs: dict[int, tuple[float, ...]] = {}  # study_id -> signs; directions never change
        # Close pooled connections when this object is dropped or the program exits, not when
        # the garbage collector happens to reach them (psycopg warns about that).
        self._finalizer = weakref.finalize(self, self._engine.dispose)
        _LIVE.add(self)
        try:
            ensure_schema(self._engine, self._write_engine, display=self._display)
        except BaseException:
            self.close()
            raise

    def __reduce__(self) -> tuple[Any, ...]:
        # The engine holds sockets and file handles: a copy reopens the storage from its URL.
        return (_reopen, (self.url, self._given_clock))

    def close(self) -> None:
        """Close this object's pooled connections; the data stays in the database."""
        _LIVE.discard(self)
        super().close()

    # Plumbing ---------------------------------------------------------------------------------
    @contextmanager
    def _writing(self) -> Iterator[Connection]:
        """One write transaction (BEGIN IMMEDIATE on SQLite); `conn.rollback()` inside aborts it."""
        with self._write_engine.connect() as conn:
            conn.begin()
            try:
                yield conn
            except BaseException:
                if conn.in_transaction():
                    conn.rollback()
                raise
            if conn.in_transaction():
                conn.commit()

    def _forget_inherited_connections(self) -> None:
        # In a forked child the pooled connections belong to the parent: never use or close them
        # here (closing a SQLite handle or a socket the parent still uses can corrupt its state).
        _FORK_ORPHANS.append(self._engine.pool)
        self._engine.dispose(close=False)

    def _study_signs(self, conn: Connection, study_id: int) -> tuple[float, ...]:
        signs = self._signs.get(study_id)
        if signs is None:
            text = conn.execute(q.DIRECTIONS, {"b_sid": study_id}).scalar()
            if text is None:
                raise StudyNotFound(f"no study with id {study_id} in {self._display}.")
            signs = self._signs[study_id] = tuple(Direction.parse(d).sign for d in loads(text))
        return signs

    # Reads, retried while the database restarts (the writes below name their recovery)
    get_study = r.retried()(_SQLReads.get_study)
    list_studies = r.retried()(_SQLReads.list_studies)
    get_trials = r.retried()(_SQLReads.get_trials)

    # Studies ----------------------------------------------------------------------------------
    @r.retried(r.existing_study)
    def create_study(self, name: str, directions: Sequence[Direction], *,
                     user_attrs: Mapping[str, Any] | None = None,
                     system_attrs: Mapping[str, Any] | None = None) -> StudyRecord:
        """Create a study. Raises StudyExists if the name is taken."""
        dirs = tuple(Direction.parse(d) for d in directions)
        now = self._clock.now()
        owner = f"study {name!r}"
        user = plain_attrs(user_attrs, kind="user attribute", owner=owner)
        system = plain_attrs(system_attrs, kind="system attribute", owner=owner)
        row = {"name": name, "directions": dumps([d.value for d in dirs]), "user_attrs": dumps(user),
               "system_attrs": dumps(system), "created": now, "version": 0}
        try:
            with self._writing() as conn:
                study_id = conn.execute(q.INSERT_STUDY, row).scalar_one()
        except sa.exc.IntegrityError:  # the unique name
            raise StudyExists(f"Study {name!r} already exists in {self._display}. "
                              f"Use load_study({name!r}) or pass load_if_exists=True.") from None
        self._signs[study_id] = tuple(d.sign for d in dirs)
        return StudyRecord(study_id, name, dirs, user, system, now)

    @r.retried(r.deleted_study)
    def delete_study(self, name: str) -> None:
        """Delete a study and all its trials. Raises StudyNotFound."""
        with self._writing() as conn:
            study_id = conn.execute(q.STUDY_ID_FOR_UPDATE, {"b_name": name}).scalar()
            if study_id is None:
                raise self._not_found(conn, name)
            conn.execute(q.DELETE_TRIALS, {"b_sid": study_id})  # also cascades; explicit is clear
            conn.execute(q.DELETE_STUDY, {"b_sid": study_id})
        self._signs.pop(study_id, None)

    @r.retried()
    def set_study_attrs(self, study_id: int, *, user: Mapping[str, Any] | None = None,
                        system: Mapping[str, Any] | None = None) -> None:
        """Merge attributes into a study's user and system attributes."""
        user = plain_attrs(user, kind="user attribute", owner="a study")
        system = plain_attrs(system, kind="system attribute", owner="a study")
        with self._writing() as conn:
            row = conn.execute(q.STUDY_ATTRS_FOR_UPDATE, {"b_sid": study_id}).first()
            if row is None:
                raise StudyNotFound(f"no study with id {study_id} in {self._display}.")
            conn.execute(q.SET_STUDY_ATTRS, {
                "b_sid": study_id, "b_user": dumps({**loads(row[0]), **(user or {})}),
                "b_sys": dumps({**loads(row[1]), **(system or {})})})

    # Trials -----------------------------------------------------------------------------------
    @r.retried(r.created_trial, token=True)
    def create_trial(self, study_id: int, *, state: TrialState = TrialState.RUNNING,
                     params: Mapping[str, Any] | None = None,
                     distributions: Mapping[str, Param] | None = None,
                     user_attrs: Mapping[str, Any] | None = None,
                     system_attrs: Mapping[str, Any] | None = None,
                     parent: int | None = None, checkpoint: str | None = None,
                     worker: str | None = None,
                     lineage: Sequence[Mapping[str, Any]] = ()) -> FrozenTrial:
        """Create a RUNNING or WAITING trial with the next free number of the study, atomically.

        `lineage` is the trial's first events (a fork's "forked" event), stored as given.
        """
        now = self._clock.now()
        running = state is TrialState.RUNNING
        params, distributions = dict(params or {}), dict(distributions or {})
        user_attrs = plain_attrs(user_attrs, kind="user attribute", owner="a trial")
        events = tuple(plain_attrs(dict(e), kind="lineage field", owner="a trial") for e in lineage)
        system_attrs = plain_attrs(system_attrs, kind="system attribute", owner="a trial")
        start = now if running else None
        worker = worker if running else None
        row = {"study_id": study_id, "state": state.value, "params": dumps(params),
               "distributions": dump_distributions(distributions), "values": None,
               "intermediate": "{}", "user_attrs": dumps(user_attrs),
               "system_attrs": dumps({**system_attrs, **self._retry.token_attrs()}), "datetime_start": start,
               "datetime_complete": None, "last_heartbeat": start, "worker": worker,
               "parent": parent, "checkpoint": checkpoint,
               "lineage": dump_lineage(events)}  # encoded before taking the lock
        with self._writing() as conn:
            version = conn.execute(q.BUMP, {"b_sid": study_id}).scalar()  # locks the study row
            if version is None:
                raise StudyNotFound(f"no study with id {study_id} in {self._display}.")
            signs = self._study_signs(conn, study_id)
            number = conn.execute(q.NEXT_NUMBER, {"b_sid": study_id}).scalar_one()
            trial_id = conn.execute(q.INSERT_TRIAL,
                                    {**row, "number": number, "version": version}).scalar_one()
        return FrozenTrial(
            number=number, trial_id=trial_id, state=state, params=params,
            distributions=distributions, user_attrs=user_attrs, system_attrs=system_attrs,
            signs=signs, datetime_start=start, last_heartbeat=start, worker=worker, parent=parent,
            checkpoint=checkpoint, lineage=events)

    @r.retried(r.claimed_trial)
    def claim_waiting_trial(self, study_id: int, *, worker: str) -> FrozenTrial | None:
        """Atomically move the oldest WAITING trial to RUNNING for `worker`; None if there is none."""
        with self._engine.connect() as conn:  # the usual answer is "none": don't take the lock
            if conn.execute(q.ANY_WAITING, {"b_sid": study_id}).first() is None:
                return None
        with self._writing() as conn:
            version = conn.execute(q.BUMP, {"b_sid": study_id}).scalar()
            if version is None:
                raise StudyNotFound(f"no study with id {study_id} in {self._display}.")
            row = conn.execute(q.OLDEST_WAITING, {"b_sid": study_id}).first()
            if row is None:  # another worker claimed it meanwhile
                conn.rollback()
                return None
            now = self._clock.now()
            conn.execute(q.CLAIM, {"b_tid": row[0], "b_now": now, "b_worker": worker,
                                  "b_version": version})
            signs = self._study_signs(conn, study_id)
        return replace(q.trial_from_row(row, signs), state=TrialState.RUNNING, datetime_start=now,
                       last_heartbeat=now, worker=worker)

    @r.retried()  # a merge: writing it twice changes nothing
    def update_trial(self, trial_id: int, *, params: Mapping[str, Any] | None = None,
                     distributions: Mapping[str, Param] | None = None,
                     intermediate: Mapping[int, float] | None = None,
                     user_attrs: Mapping[str, Any] | None = None,
                     system_attrs: Mapping[str, Any] | None = None,
                     heartbeat: bool = False) -> bool:
        """Merge the given fields into a RUNNING trial.

        Returns False, writing nothing, if the trial is not RUNNING (or does not exist).
        """
        user_attrs = plain_attrs(user_attrs, kind="user attribute", owner="a trial")
        system_attrs = plain_attrs(system_attrs, kind="system attribute", owner="a trial")
        now = self._clock.now() if heartbeat else None
        with self._writing() as conn:
            bumped = conn.execute(q.BUMP_FOR_TRIAL, {"b_tid": trial_id}).first()
            if bumped is None:
                return False
            version = bumped[1]
            merging = params or distributions or intermediate or user_attrs or system_attrs
            if heartbeat and not merging:  # the common heartbeat: one conditional UPDATE, no read
                changed = conn.execute(q.HEARTBEAT, {"b_tid": trial_id, "b_hb": now,
                                                    "b_version": version}).rowcount
                if changed != 1:
                    conn.rollback()
                return bool(changed == 1)
            row = conn.execute(q.TRIAL_TO_MERGE, {"b_tid": trial_id}).first()
            if row is None or row[0] != q.RUNNING:
                conn.rollback()
                return False
            _, p, d, i, u, s, hb = row
            conn.execute(q.UPDATE_TRIAL, {
                "b_tid": trial_id, "b_version": version,
                "b_params": dumps({**loads(p), **params}) if params else p,
                "b_dists": q.merge_distributions(d, distributions) if distributions else d,
                "b_inter": (dumps({**loads(i), **{str(int(k)): v for k, v in intermediate.items()}})
                            if intermediate else i),
                "b_user": dumps({**loads(u), **user_attrs}) if user_attrs else u,
                "b_sys": dumps({**loads(s), **system_attrs}) if system_attrs else s,
                "b_hb": now if heartbeat else hb})
        return True

    @r.retried(r.finished_trial)
    def finish_trial(self, trial_id: int, *, state: TrialState,
                     values: Sequence[float] | None = None,
                     system_attrs: Mapping[str, Any] | None = None) -> bool:
        """Move a RUNNING trial to COMPLETE, PRUNED, FAILED or PAUSED. Returns False if it was
        not RUNNING.

        PAUSED appends {"event": "paused", "step": the last reported step (None without
        reports), "at": now} to the trial's lineage, in the same write.
        """
        system_attrs = plain_attrs(system_attrs, kind="system attribute", owner="a trial")
        now = self._clock.now()
        with self._writing() as conn:
            bumped = conn.execute(q.BUMP_FOR_TRIAL, {"b_tid": trial_id}).first()
            if bumped is None:
                return False
            row = conn.execute(q.TRIAL_TO_FINISH, {"b_tid": trial_id}).first()
            if row is None or row[0] != q.RUNNING:
                conn.rollback()
                return False
            _, inter, sys_text, lineage = row
            if system_attrs:
                sys_text = dumps({**loads(sys_text), **system_attrs})
            if state is TrialState.PAUSED:
                event = {"event": "paused", "step": _last_step(inter), "at": now}
                lineage = dumps([*loads(lineage), event])
            conn.execute(q.FINISH_TRIAL, {
                "b_tid": trial_id, "b_state": state.value, "b_sys": sys_text, "b_now": now,
                "b_values": None if values is None else dumps(list(values)),
                "b_lineage": lineage, "b_version": bumped[1]})
        return True

    @r.retried(r.resumed_trial)
    def resume_trial(self, trial_id: int, *, worker: str) -> FrozenTrial | None:
        """Atomically move a PAUSED trial to RUNNING for `worker`; None if it is not PAUSED (e.g.
        another worker resumed it first, or there is no such trial).

        Appends {"event": "resumed", "step": the last reported step, "worker": worker, "at":
        now} to its lineage, starts its heartbeat and clears `datetime_complete`; `datetime_start`
        stays the trial's first start. The study row's lock orders racing resumes, and the
        UPDATE moves only a PAUSED row, so exactly one of them wins.
        """
        now = self._clock.now()
        with self._writing() as conn:
            bumped = conn.execute(q.BUMP_FOR_TRIAL, {"b_tid": trial_id}).first()
            if bumped is None:
                return None
            study_id, version = bumped
            row = conn.execute(q.TRIAL_BY_ID, {"b_tid": trial_id}).first()
            if row is None or row[2] != q.PAUSED:
                conn.rollback()
                return None
            trial = q.trial_from_row(row, self._study_signs(conn, study_id))
            event = {"event": "resumed", "step": trial.last_step, "worker": worker, "at": now}
            lineage = (*trial.lineage, event)
            changed = conn.execute(q.RESUME, {
                "b_tid": trial_id, "b_now": now, "b_worker": worker,
                "b_lineage": dump_lineage(lineage), "b_version": version}).rowcount
            if changed != 1:  # cannot happen under the study lock; never report a lost race as won
                conn.rollback()
                return None
        return replace(trial, state=TrialState.RUNNING, last_heartbeat=now, worker=worker,
                       datetime_complete=None, lineage=lineage)

    @r.retried(r.reaped_trials, token=True)
    def fail_stale_trials(self, study_id: int, *, grace_seconds: float) -> list[FrozenTrial]:
        """Mark FAILED every RUNNING trial whose heartbeat is older than the grace period.

        Returns exactly the trials this call changed, so only one worker acts on each. The grace
        grows by the length of a database outage this object saw end less than a grace ago:
        nobody could beat meanwhile (README, "Fault tolerance").
        """
        grace_seconds += self._retry.outage_allowance(grace_seconds)
        now = self._clock.now()
        where = {"b_sid": study_id, "b_cutoff": now - grace_seconds}
        with self._engine.connect() as conn:  # usually there is none: don't take the lock
            if conn.execute(q.ANY_STALE, where).first() is None:
                return []
        with self._writing() as conn:
            version = conn.execute(q.BUMP, {"b_sid": study_id}).scalar()
            rows = conn.execute(q.STALE, where).all() if version is not None else []
            if not rows:  # another worker failed them first
                conn.rollback()
                return []
            signs = self._study_signs(conn, study_id)
            failed, updates = [], []
            for row in rows:
                trial = q.trial_from_row(row, signs)
                reason = f"heartbeat lost: none for {now - (trial.last_heartbeat or 0.0):.0f} s"
                system = {**trial.system_attrs, "fail_reason": reason}
                ended = trial.last_heartbeat or trial.datetime_start or now  # last seen running
                updates.append({"b_tid": trial.trial_id, "b_now": ended,
                                "b_sys": dumps({**system, **self._retry.token_attrs()}),
                                "b_version": version})
                failed.append(replace(trial, state=TrialState.FAILED, datetime_complete=ended,
                                      system_attrs=system))
            conn.execute(q.FAIL, updates)
        return failed

# Helpers ------------------------------------------------------------------------------------------
def _last_step(intermediate: str) -> int | None:
    """The last reported step of a trial, from its stored `intermediate` text."""
    steps = [int(step) for step in loads(intermediate)]
    return max(steps) if steps else None


def _reopen(url: str, clock: Clock | None) -> SQLStorage:
    return SQLStorage(url, clock=clock)


# Opening ------------------------------------------------------------------------------------------
def _sqlalchemy_url(location: StorageURL) -> tuple[sa.URL, float]:
    """The URL SQLAlchemy should open (the driver chosen, a SQLite path made absolute, and the
    SQLite file's folder checked), and how long to retry a lost connection (PostgreSQL only)."""
    display = location.display
    if location.backend == "memory":
        raise StorageURLError(f"storage URL of SQLStorage must name a database. Got {display!r}. "
                              f"{URL_EXAMPLES}")
    try:
        sa_url = sa.make_url(location.url)
    except (sa.exc.ArgumentError, ValueError, TypeError):
        raise StorageURLError(
            f"storage URL must be a SQLAlchemy URL such as 'sqlite:///shoal.db'. Got "
            f"{display!r}. {URL_EXAMPLES}") from None
    if location.backend == "postgresql":
        # One driver for PostgreSQL: psycopg 3, unless the URL names another explicitly.
        return r.split_retry_option(sa_url.set(drivername=f"postgresql+{location.driver or 'psycopg'}"),
                                    display)
    path = location.path
    if path is None:
        return sa_url, 0.0  # in memory (this process only) or a SQLite URI: leave as is
    if not path.parent.is_dir():
        raise StorageURLError(
            f"folder {str(path.parent)!r} of SQLite storage {display} must exist. Create it "
            f"(mkdir -p {path.parent}) or give a path in an existing folder, e.g. "
            "'sqlite:///shoal.db'.")
    if path.is_dir():
        raise StorageURLError(
            f"path of SQLite storage {display} must be a file, not a folder. Got {str(path)!r}. "
            f"Use e.g. 'sqlite:///{path / 'shoal.db'}'.")
    return sa_url.set(database=str(path)), 0.0


def _create_engine(sa_url: sa.URL, display: str) -> Engine:
    sqlite = sa_url.get_backend_name() == "sqlite"
    kwargs: dict[str, Any] = {}
    if sqlite:
        kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_S, "check_same_thread": False}
        if (sa_url.database or ":memory:") == ":memory:":
            kwargs["poolclass"] = StaticPool  # one connection, else each would see its own db
    else:
        kwargs["pool_pre_ping"] = True  # long-lived workers outlive idle connections
    engine = create_engine(sa_url, display, **kwargs)
    if sqlite:
        event.listen(engine, "connect", _sqlite_connect)
        event.listen(engine, "begin", _sqlite_begin)
    return engine


def _sqlite_connect(dbapi_connection: Any, connection_record: Any) -> None:
    # The SQLAlchemy-documented recipe: the driver emits no BEGIN of its own; _sqlite_begin does.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    try:
        # Also set by the driver's `timeout`; stated here so the file's settings read in one place.
        cursor.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_S * 1000)}")
        _switch_to_wal(cursor)
        cursor.execute("PRAGMA synchronous = NORMAL")  # safe with WAL; no fsync per commit
        cursor.execute("PRAGMA foreign_keys = ON")
    finally:
        cursor.close()


def _switch_to_wal(cursor: Any) -> None:
    """PRAGMA journal_mode = WAL (persistent; a no-op once the file is WAL), retried while locked.

    When several processes open a brand-new file at once, each switch holds a shared lock and
    wants an exclusive one; SQLite fails all but one at once with "database is locked" instead of
    waiting (waiting could deadlock), so the busy timeout does not apply. One of them wins and
    switches in milliseconds, after which the pragma is a no-op for the others: retry with
    backoff, within the busy timeout.
    """
    deadline = time.monotonic() + BUSY_TIMEOUT_S
    delay = 0.001
    while True:
        try:
            cursor.execute("PRAGMA journal_mode = WAL")
            return
        except sqlite3.OperationalError as err:
            if "database is locked" not in str(err) or time.monotonic() > deadline:
                raise
        time.sleep(delay)
        delay = min(2.0 * delay, 0.1)


def _sqlite_begin(conn: Connection) -> None:
    # Writers take the write lock up front, so they wait (busy timeout) rather than fail on
    # upgrading a read lock; readers start a deferred transaction for a consistent snapshot.
    write = conn.get_execution_options().get("shoal_write", False)
    conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


# Fork safety --------------------------------------------------------------------------------------
_LIVE: weakref.WeakSet[SQLStorage] = weakref.WeakSet()
_FORK_ORPHANS: list[Pool] = []  # inherited pools, kept referenced so the child never closes them


def _after_fork_in_child() -> None:
    for storage in list(_LIVE):
        storage._forget_inherited_connections()


os.register_at_fork(after_in_child=_after_fork_in_child)
