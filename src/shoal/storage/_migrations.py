"""Schema versions and migrations: a database written by any earlier shoal opens, nothing lost.

`shoal_meta.schema_version` records the version of a database. `STEPS[v - 1]` turns version v into
v + 1; each step runs in its own write transaction together with the version bump, so a database
is always at exactly one version, whatever interrupts a migration. Read-write storage
(`SQLStorage`) migrates an older database when it opens it; concurrent openers are serialised by
SQLite's `BEGIN IMMEDIATE` or a PostgreSQL advisory lock, and each re-reads the version inside the
lock, so a step never runs twice. A read-only view (`SQLReader`, `SQLiteReader`) never migrates: it
reads any version from `MIN_READABLE_VERSION` up (the columns it selects exist there), and for
anything older it says to open the database read-write once (`check_readable`; both live in
`_codec`, which the SQLAlchemy-free SQLite reader can import). A database from a newer shoal is
refused by both.

Steps are frozen DDL, written out in full, never derived from the current table definitions: the
tables in `_schema` change with later versions, while a step must do exactly what it did when it
was written. A test migrates a database written by schema v1 (`tests/storage/fixtures`) and
compares it with a new one.

Adding a version: append a step here, bump `SCHEMA_VERSION` (in `_codec`) and change the tables in
`_schema`, and raise `MIN_READABLE_VERSION` (in `_codec`) if the reads now select something older
databases lack.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from shoal.exceptions import SchemaVersionError
from shoal.storage._codec import MIN_READABLE_VERSION, check_readable, open_failed, parse_version
from shoal.storage._schema import READ_SCHEMA_VERSION, SCHEMA_VERSION, meta, metadata

__all__ = ["MIN_READABLE_VERSION", "STEPS", "check_readable", "ensure_schema"]

_SCHEMA_LOCK_KEY = 0x73686F616C  # "shoal": PostgreSQL advisory lock serialising schema changes


def _v1_to_v2(conn: Connection) -> None:
    """Lineage and commands, for pause/resume, forks and nudges (DESIGN.md, the trial lifecycle).

    - `shoal_trials.lineage`: a JSON list of the changes a trial went through after it started
      (a fork's source and step, a nudged learning rate at a step), so `params` stays what the
      trial started with and the record never lies.
    - `shoal_commands`: pause/resume/nudge/stop requests for a trial, which its worker reads at its
      next step boundary; through storage, so control works across machines with no server.
    """
    conn.execute(sa.text("ALTER TABLE shoal_trials ADD COLUMN lineage TEXT NOT NULL DEFAULT '[]'"))
    frozen = sa.MetaData()
    sa.Table("shoal_studies", frozen, sa.Column("study_id", sa.Integer, primary_key=True))
    sa.Table("shoal_trials", frozen, sa.Column("trial_id", sa.Integer, primary_key=True))
    commands = sa.Table(
        "shoal_commands", frozen,
        sa.Column("command_id", sa.Integer, primary_key=True),
        sa.Column("study_id", sa.Integer,
                  sa.ForeignKey("shoal_studies.study_id", ondelete="CASCADE"), nullable=False),
        sa.Column("trial_id", sa.Integer,
                  sa.ForeignKey("shoal_trials.trial_id", ondelete="CASCADE"), nullable=True),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
        sa.Column("created", sa.Double, nullable=False),
        sa.Column("done", sa.Double, nullable=True),
        sa.Index("ix_shoal_commands_trial_done", "trial_id", "done"),
        sqlite_autoincrement=True,
    )
    commands.create(conn)


def _v2_to_v3(conn: Connection) -> None:
    """`shoal_budgets`: a study's budget (how many new trials in all, until when) and the slots
    workers have claimed, so workers on many machines share one budget (`shoal worker`)."""
    frozen = sa.MetaData()
    sa.Table("shoal_studies", frozen, sa.Column("study_id", sa.Integer, primary_key=True))
    budgets = sa.Table(
        "shoal_budgets", frozen,
        sa.Column("study_id", sa.Integer,
                  sa.ForeignKey("shoal_studies.study_id", ondelete="CASCADE"), primary_key=True,
                  autoincrement=False),
        sa.Column("n_trials", sa.Integer, nullable=True),
        sa.Column("deadline", sa.Double, nullable=True),
        sa.Column("used", sa.Integer, nullable=False),
    )
    budgets.create(conn)


STEPS: tuple[Callable[[Connection], None], ...] = (_v1_to_v2, _v2_to_v3)
assert len(STEPS) == SCHEMA_VERSION - 1, "one migration step per schema version after the first"


def _read_version(conn: Connection) -> int | str | None:
    if not sa.inspect(conn).has_table(meta.name):
        return None
    value = conn.execute(READ_SCHEMA_VERSION).scalar()
    return None if value is None else parse_version(value)


def _lock(conn: Connection) -> None:
    if conn.dialect.name == "postgresql":  # SQLite's BEGIN IMMEDIATE already serialises
        conn.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _SCHEMA_LOCK_KEY})


def _create(write_engine: Engine) -> int | str | None:
    with write_engine.begin() as conn:
        _lock(conn)
        metadata.create_all(conn, checkfirst=True)
        value = conn.execute(READ_SCHEMA_VERSION).scalar()
        if value is None:
            conn.execute(sa.insert(meta).values(key="schema_version", value=str(SCHEMA_VERSION)))
            return SCHEMA_VERSION
    return parse_version(value)


def _migrate(write_engine: Engine) -> int | str | None:
    """Run the steps from the database's version up to SCHEMA_VERSION, one transaction each."""
    while True:
        with write_engine.begin() as conn:
            _lock(conn)
            version = _read_version(conn)  # again, under the lock: another process may have won
            if not isinstance(version, int) or not 1 <= version < SCHEMA_VERSION:
                return version
            STEPS[version - 1](conn)
            conn.execute(sa.update(meta).where(meta.c.key == "schema_version")
                         .values(value=str(version + 1)))


def ensure_schema(engine: Engine, write_engine: Engine, *, display: str) -> None:
    """Create the tables if the database has none, migrate an older one, refuse a newer one.

    Safe when many processes open a database at once: creation and each migration step run in
    one write transaction, serialised by SQLite's BEGIN IMMEDIATE (`write_engine`) or a
    PostgreSQL advisory lock, and a process that still loses a race reads what the winner wrote.
    Never drops anything.

    Raises:
        SchemaVersionError: A newer shoal wrote the database (or its version is unreadable).
        StorageError: The database cannot be opened or reached.
    """
    try:
        with engine.connect() as conn:
            version = _read_version(conn)
        for attempt in range(3):
            if version is not None:
                break
            try:
                version = _create(write_engine)
            except (sa.exc.IntegrityError, sa.exc.ProgrammingError, sa.exc.OperationalError):
                if attempt == 2:  # another process created the tables between our look and write
                    raise
                with engine.connect() as conn:
                    version = _read_version(conn)
        if isinstance(version, int) and version < SCHEMA_VERSION:
            version = _migrate(write_engine)
    except sa.exc.DBAPIError as err:
        raise open_failed(display, str(err.orig if err.orig is not None else err)) from None
    if version != SCHEMA_VERSION:
        raise SchemaVersionError(f"storage {display} was written with shoal schema v{version}; "
                                 f"this shoal reads v{SCHEMA_VERSION}. Upgrade shoal (pip install "
                                 "-U shoal), or point --storage at a new file.")
