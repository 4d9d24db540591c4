"""The SQL schema of shoal's storage in SQLAlchemy Core: tables and statements.

Schema version 3 (`_migrations` turns older databases into it). Five tables, prefixed `shoal_` so
they can share a PostgreSQL database:

- `shoal_meta`: key/value facts about the storage itself, among them `schema_version`.
- `shoal_studies`: one row per study. `version` is a per-study counter bumped by every write to a
  trial of the study, in the same transaction; the trial row is stamped with the new value, so
  "what changed since version v" is one indexed query.
- `shoal_trials`: one row per trial on purpose (params, values, intermediates and attributes are
  JSON text columns), so an incremental read is one query and a write touches one row. `lineage`
  (v2) holds what happens to a trial after it starts, a JSON list of events oldest first ("forked",
  "paused", "resumed"; see `FrozenTrial.lineage`); storage appends to it in the write that makes
  the change, so a pause or resume is one version bump that incremental reads see.
- `shoal_commands` (v2): requests (pause, resume, nudge, stop) for a trial's worker to pick up at
  its next step boundary.
- `shoal_budgets` (v3): a study's budget shared by every worker on every machine (`n_trials`,
  `deadline`) and the slots claimed so far (`used`), taken by one conditional UPDATE each.

JSON is kept in TEXT columns and encoded by shoal, not by the database: PostgreSQL's `json` type
rejects NaN and infinities, which user attributes and intermediate values may hold, and one codec
for both back ends keeps SQLite and PostgreSQL round-trips identical. The codec, the order rows are
read in and their decoding live in `_codec`, which imports no SQLAlchemy, so the standard-library
SQLite reader (`_sqlite_reader`) decodes with the same code; they are re-exported here.

The statements `SQLStorage` runs are built once, here, with bind parameters: executing a prebuilt
statement skips construction and goes straight to SQLAlchemy's compiled-statement cache.
"""

from __future__ import annotations

import sqlalchemy as sa

from shoal.storage._codec import (
    SCHEMA_VERSION,
    STUDY_COLUMNS,
    TRIAL_COLUMNS,
    V1_LINEAGE,
    dump_distributions,
    dump_lineage,
    dumps,
    load_distributions,
    loads,
    merge_distributions,
    param_dict,
    trial_from_row,
)
from shoal.trial import TrialState

__all__ = [
    "JSON_COLUMNS",
    "SCHEMA_VERSION",
    "budgets",
    "commands",
    "dump_distributions",
    "dump_lineage",
    "dumps",
    "load_distributions",
    "loads",
    "merge_distributions",
    "meta",
    "metadata",
    "param_dict",
    "studies",
    "trial_from_row",
    "trials",
]

metadata = sa.MetaData()

meta = sa.Table(
    "shoal_meta", metadata,
    sa.Column("key", sa.String(64), primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

studies = sa.Table(
    "shoal_studies", metadata,
    sa.Column("study_id", sa.Integer, primary_key=True),
    sa.Column("name", sa.String(512), nullable=False, unique=True),
    sa.Column("directions", sa.Text, nullable=False),
    sa.Column("user_attrs", sa.Text, nullable=False),
    sa.Column("system_attrs", sa.Text, nullable=False),
    sa.Column("created", sa.Double, nullable=False),
    sa.Column("version", sa.BigInteger, nullable=False),
    sqlite_autoincrement=True,  # never reuse the id of a deleted study: caches key on it
)

trials = sa.Table(
    "shoal_trials", metadata,
    sa.Column("trial_id", sa.Integer, primary_key=True),
    sa.Column("study_id", sa.Integer,
              sa.ForeignKey("shoal_studies.study_id", ondelete="CASCADE"), nullable=False),
    sa.Column("number", sa.Integer, nullable=False),
    sa.Column("state", sa.String(16), nullable=False),
    sa.Column("params", sa.Text, nullable=False),
    sa.Column("distributions", sa.Text, nullable=False),
    sa.Column("values", sa.Text, nullable=True),
    sa.Column("intermediate", sa.Text, nullable=False),
    sa.Column("user_attrs", sa.Text, nullable=False),
    sa.Column("system_attrs", sa.Text, nullable=False),
    sa.Column("datetime_start", sa.Double, nullable=True),
    sa.Column("datetime_complete", sa.Double, nullable=True),
    sa.Column("last_heartbeat", sa.Double, nullable=True),
    sa.Column("worker", sa.String(256), nullable=True),
    sa.Column("parent", sa.Integer, nullable=True),
    sa.Column("checkpoint", sa.Text, nullable=True),
    sa.Column("version", sa.BigInteger, nullable=False),
    sa.Column("lineage", sa.Text, nullable=False, server_default="[]"),  # v2
    sa.UniqueConstraint("study_id", "number", name="uq_shoal_trials_study_number"),
    sa.Index("ix_shoal_trials_study_version", "study_id", "version"),
    sa.Index("ix_shoal_trials_study_state", "study_id", "state"),
    # A stale worker must never write into a trial of a newer study that reused a deleted id.
    sqlite_autoincrement=True,
)

commands = sa.Table(  # v2
    "shoal_commands", metadata,
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

budgets = sa.Table(  # v3
    "shoal_budgets", metadata,
    sa.Column("study_id", sa.Integer,
              sa.ForeignKey("shoal_studies.study_id", ondelete="CASCADE"), primary_key=True,
              autoincrement=False),
    sa.Column("n_trials", sa.Integer, nullable=True),
    sa.Column("deadline", sa.Double, nullable=True),
    sa.Column("used", sa.Integer, nullable=False),
)

# The columns that hold JSON text (`dumps`), by table: what `shoal recover` checks in each row it copies.
JSON_COLUMNS: dict[str, tuple[str, ...]] = {
    meta.name: (),
    studies.name: ("directions", "user_attrs", "system_attrs"),
    trials.name: ("params", "distributions", "values", "intermediate", "user_attrs", "system_attrs",
                  "lineage"),
    commands.name: (),  # no writer fixes the payload's format yet
    budgets.name: (),
}


# Statements ---------------------------------------------------------------------------------------
RUNNING, WAITING = TrialState.RUNNING.value, TrialState.WAITING.value
PAUSED = TrialState.PAUSED.value
_S, _T = studies.c, trials.c
_SID: sa.BindParameter[int] = sa.bindparam("b_sid", type_=sa.Integer)
_TID: sa.BindParameter[int] = sa.bindparam("b_tid", type_=sa.Integer)

_TRIAL = tuple(_T[name] for name in TRIAL_COLUMNS)  # the order trial_from_row decodes
# The same from a v1 database (read-only views read it as it is): no lineage column, no events.
_TRIAL_V1 = tuple(sa.literal_column(V1_LINEAGE).label(name) if name == "lineage" else _T[name]
                  for name in TRIAL_COLUMNS)
# Numbers are gap-free from 0, so max + 1 is the count, read from the (study_id, number) index.
_N_TRIALS = (sa.select(sa.func.coalesce(sa.func.max(_T.number) + 1, 0))
             .where(_T.study_id == _S.study_id).scalar_subquery())
_STUDY = (*(_S[name] for name in STUDY_COLUMNS), _N_TRIALS)  # the order study_from_row decodes

READ_SCHEMA_VERSION = sa.select(meta.c.value).where(meta.c.key == "schema_version")
GET_STUDY = sa.select(*_STUDY).where(_S.name == sa.bindparam("b_name"))
LIST_STUDIES = sa.select(*_STUDY).order_by(_S.name)
STUDY_NAMES = sa.select(_S.name)
STUDY_ID_FOR_UPDATE = (sa.select(_S.study_id).where(_S.name == sa.bindparam("b_name"))
                       .with_for_update())
STUDY_ATTRS_FOR_UPDATE = (sa.select(_S.user_attrs, _S.system_attrs).where(_S.study_id == _SID)
                          .with_for_update())
DIRECTIONS = sa.select(_S.directions).where(_S.study_id == _SID)
STUDY_VERSION = sa.select(_S.version, _S.directions).where(_S.study_id == _SID)
INSERT_STUDY = sa.insert(studies).returning(_S.study_id)
SET_STUDY_ATTRS = (sa.update(studies).where(_S.study_id == _SID)
                   .values(user_attrs=sa.bindparam("b_user"), system_attrs=sa.bindparam("b_sys")))
DELETE_TRIALS = sa.delete(trials).where(_T.study_id == _SID)
DELETE_STUDY = sa.delete(studies).where(_S.study_id == _SID)

# Every write transaction starts with one of these two: it locks the study row (PostgreSQL) and
# hands out the version that the transaction stamps on the trials it writes.
BUMP = (sa.update(studies).where(_S.study_id == _SID)
        .values(version=_S.version + 1).returning(_S.version))
BUMP_FOR_TRIAL = (sa.update(studies)
                  .where(_S.study_id == sa.select(_T.study_id).where(_T.trial_id == _TID)
                         .scalar_subquery())
                  .values(version=_S.version + 1).returning(_S.study_id, _S.version))

NEXT_NUMBER = (sa.select(sa.func.coalesce(sa.func.max(_T.number) + 1, 0))
               .where(_T.study_id == _SID))
INSERT_TRIAL = sa.insert(trials).returning(_T.trial_id)
TRIAL_TO_MERGE = sa.select(_T.state, _T.params, _T.distributions, _T.intermediate,
                             _T.user_attrs, _T.system_attrs, _T.last_heartbeat
                             ).where(_T.trial_id == _TID)
UPDATE_TRIAL = sa.update(trials).where(_T.trial_id == _TID).values(
    params=sa.bindparam("b_params"), distributions=sa.bindparam("b_dists"),
    intermediate=sa.bindparam("b_inter"), user_attrs=sa.bindparam("b_user"),
    system_attrs=sa.bindparam("b_sys"), last_heartbeat=sa.bindparam("b_hb"),
    version=sa.bindparam("b_version"))
HEARTBEAT = (sa.update(trials).where(_T.trial_id == _TID, _T.state == RUNNING)
             .values(last_heartbeat=sa.bindparam("b_hb"), version=sa.bindparam("b_version")))
TRIAL_TO_FINISH = sa.select(_T.state, _T.intermediate, _T.system_attrs, _T.lineage
                            ).where(_T.trial_id == _TID)
FINISH_TRIAL = sa.update(trials).where(_T.trial_id == _TID).values(
    state=sa.bindparam("b_state"), values=sa.bindparam("b_values"),
    system_attrs=sa.bindparam("b_sys"), datetime_complete=sa.bindparam("b_now"),
    lineage=sa.bindparam("b_lineage"), version=sa.bindparam("b_version"))

TRIAL_BY_ID = sa.select(*_TRIAL).where(_T.trial_id == _TID)
# Only a PAUSED trial moves: of two workers resuming it, the second changes no row.
RESUME = (sa.update(trials).where(_T.trial_id == _TID, _T.state == PAUSED)
          .values(state=RUNNING, last_heartbeat=sa.bindparam("b_now"),
                  worker=sa.bindparam("b_worker"), datetime_complete=None,
                  lineage=sa.bindparam("b_lineage"), version=sa.bindparam("b_version")))

ANY_WAITING = sa.select(_T.trial_id).where(_T.study_id == _SID, _T.state == WAITING).limit(1)
OLDEST_WAITING = (sa.select(*_TRIAL).where(_T.study_id == _SID, _T.state == WAITING)
                  .order_by(_T.number).limit(1).with_for_update(skip_locked=True))
CLAIM = sa.update(trials).where(_T.trial_id == _TID).values(
    state=RUNNING, datetime_start=sa.bindparam("b_now"), last_heartbeat=sa.bindparam("b_now"),
    worker=sa.bindparam("b_worker"), version=sa.bindparam("b_version"))

_STALE_WHERE = (_T.study_id == _SID, _T.state == RUNNING,
                sa.func.coalesce(_T.last_heartbeat, 0.0) < sa.bindparam("b_cutoff"))
ANY_STALE = sa.select(_T.trial_id).where(*_STALE_WHERE).limit(1)
STALE = sa.select(*_TRIAL).where(*_STALE_WHERE).order_by(_T.number)
FAIL = sa.update(trials).where(_T.trial_id == _TID).values(
    state=TrialState.FAILED.value, datetime_complete=sa.bindparam("b_now"),
    system_attrs=sa.bindparam("b_sys"), version=sa.bindparam("b_version"))

TRIALS_SINCE = (sa.select(*_TRIAL)
                .where(_T.study_id == _SID, _T.version > sa.bindparam("b_since"))
                .order_by(_T.number))
TRIALS_SINCE_V1 = (sa.select(*_TRIAL_V1)
                   .where(_T.study_id == _SID, _T.version > sa.bindparam("b_since"))
                   .order_by(_T.number))
