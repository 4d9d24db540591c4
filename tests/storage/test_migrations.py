"""Schema migrations: a database written by schema v1 (the committed fixture) opens with nothing lost.

`fixtures/schema_v1.sql` was dumped from a database written by the shoal of schema v1, and
`fixtures/schema_v1_read.json` is what that shoal read back from it; both were made by
`fixtures/make_schema_v1.py` before any migration existed.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sqlite3
import threading
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from shoal.exceptions import StorageError
from shoal.storage import StorageReader, open_reader
from shoal.storage import _migrations as migrations
from shoal.storage._schema import SCHEMA_VERSION, param_dict
from shoal.storage._sql import SQLStorage
from shoal.trial import TrialState

FIXTURES = Path(__file__).parent / "fixtures"
V1_DUMP = (FIXTURES / "schema_v1.sql").read_text(encoding="utf-8")
V1_READ: list[dict[str, Any]] = json.loads((FIXTURES / "schema_v1_read.json").read_text("utf-8"))


def read_everything(reader: StorageReader) -> list[dict[str, Any]]:
    """Every study and trial, in the form `make_schema_v1.read_back` wrote the expected JSON."""
    out = []
    for record in reader.list_studies():
        trials = []
        for trial in reader.get_trials(record.study_id).trials:
            row = dataclasses.asdict(trial)
            row["state"] = trial.state.value
            row["distributions"] = {k: param_dict(p) for k, p in trial.distributions.items()}
            row["intermediate"] = {str(k): v for k, v in trial.intermediate.items()}
            row["values"] = None if trial.values is None else list(trial.values)
            row["sign"] = trial.sign  # a field when the fixture was written; now signs[0]
            trials.append(row)
        out.append({"study_id": record.study_id, "name": record.name,
                    "directions": [d.value for d in record.directions],
                    "user_attrs": dict(record.user_attrs),
                    "system_attrs": dict(record.system_attrs), "created": record.created,
                    "n_trials": record.n_trials, "trials": trials})
    return json.loads(json.dumps(out))  # tuples to lists, as the fixture holds them


def assert_intact(reader: StorageReader) -> None:
    """Every study, trial, value, intermediate value, attribute and timestamp as v1 read them."""
    got = read_everything(reader)
    assert [s["name"] for s in got] == [s["name"] for s in V1_READ]
    for study, expected in zip(got, V1_READ, strict=True):
        assert {k: v for k, v in study.items() if k != "trials"} == {
            k: v for k, v in expected.items() if k != "trials"}
        assert len(study["trials"]) == len(expected["trials"]) == expected["n_trials"]
        for trial, old in zip(study["trials"], expected["trials"], strict=True):
            assert {k: trial[k] for k in old} == old  # fields added later may come in addition


def _load_sqlite(path: Path) -> None:
    with sqlite3.connect(path) as conn:
        conn.executescript(V1_DUMP)
    conn.close()


def _version(path: Path) -> str:
    with sqlite3.connect(path) as conn:
        value = conn.execute("SELECT value FROM shoal_meta WHERE key = 'schema_version'").fetchone()
    conn.close()
    return str(value[0])


def _schema(engine: sa.Engine) -> dict[str, Any]:
    """Tables, columns (type, nullability, default), keys and indexes, comparable across files."""
    inspector = sa.inspect(engine)
    out: dict[str, Any] = {}
    for table in sorted(inspector.get_table_names()):
        out[table] = {
            "columns": sorted((c["name"], str(c["type"]), c["nullable"],
                               str(c.get("default")).strip("'") if c.get("default") else None)
                              for c in inspector.get_columns(table)),
            "pk": inspector.get_pk_constraint(table)["constrained_columns"],
            "fks": sorted((tuple(f["constrained_columns"]), f["referred_table"],
                           f["options"].get("ondelete")) for f in inspector.get_foreign_keys(table)),
            "indexes": sorted((i["name"], tuple(i["column_names"]), bool(i["unique"]))
                              for i in inspector.get_indexes(table)),
            "unique": sorted(tuple(u["column_names"]) for u in inspector.get_unique_constraints(table)),
        }
    return out


def test_fixture_is_schema_v1_with_every_kind_of_record() -> None:
    assert "INSERT INTO \"shoal_meta\" VALUES('schema_version','1');" in V1_DUMP
    single, = (s for s in V1_READ if s["name"] == "single")
    states = [t["state"] for t in single["trials"]]
    assert sorted(set(states)) == ["COMPLETE", "FAILED", "PRUNED", "RUNNING", "WAITING"]
    assert any(t["intermediate"] for t in single["trials"])
    assert any("curves" in t["system_attrs"] for t in single["trials"])
    assert any(t["user_attrs"] for t in single["trials"])
    assert {d["type"] for t in single["trials"] for d in t["distributions"].values()} == {
        "float", "int", "categorical", "fixed"}
    pareto, = (s for s in V1_READ if s["name"] == "pareto")
    assert len(pareto["directions"]) == 2


def test_reader_reads_a_v1_database_without_migrating_it(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    _load_sqlite(path)
    before = hashlib.sha256(path.read_bytes()).hexdigest()
    reader = open_reader(f"sqlite:///{path}")
    assert_intact(reader)
    reader.close()
    assert hashlib.sha256(path.read_bytes()).hexdigest() == before
    assert _version(path) == "1"


def test_opening_a_v1_sqlite_database_migrates_it_with_nothing_lost(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    _load_sqlite(path)
    url = f"sqlite:///{path}"
    storage = SQLStorage(url)
    assert _version(path) == str(SCHEMA_VERSION)
    assert_intact(storage)
    # The migrated database is the same as a new one, and keeps working: numbers and ids go on.
    fresh = SQLStorage(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert _schema(storage._engine) == _schema(fresh._engine)
    fresh.close()
    study = storage.get_study("single")
    trial = storage.create_trial(study.study_id)
    assert (trial.number, trial.trial_id) == (8, 11)
    assert storage.finish_trial(trial.trial_id, state=TrialState.COMPLETE, values=[0.9])
    claimed = storage.claim_waiting_trial(study.study_id, worker="w")
    assert claimed is not None
    assert claimed.number == 5
    with storage._engine.connect() as conn:
        assert set(conn.exec_driver_sql("SELECT lineage FROM shoal_trials").scalars()) == {"[]"}
    storage.close()
    again = SQLStorage(url)  # opening a migrated database again changes nothing
    assert _version(path) == str(SCHEMA_VERSION)
    assert again.get_study("single").n_trials == 9
    again.close()


def test_a_failed_migration_step_leaves_the_database_at_its_version(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "v1.db"
    _load_sqlite(path)

    def half_done(conn: sa.Connection) -> None:
        conn.execute(sa.text("ALTER TABLE shoal_trials ADD COLUMN lineage TEXT"))
        raise sa.exc.OperationalError("ALTER TABLE", {}, Exception("disk I/O error"))

    monkeypatch.setattr(migrations, "STEPS", (half_done,))
    with pytest.raises(StorageError, match="disk I/O error"):
        SQLStorage(f"sqlite:///{path}")
    assert _version(path) == "1"
    with sqlite3.connect(path) as conn:
        columns = [row[1] for row in conn.execute("PRAGMA table_info(shoal_trials)")]
    conn.close()
    assert "lineage" not in columns  # the step's transaction was rolled back whole
    monkeypatch.undo()
    storage = SQLStorage(f"sqlite:///{path}")
    assert_intact(storage)
    storage.close()


def _open_at_once(url: str, n: int = 4) -> None:
    """Open (and so migrate) one database from n threads at the same moment; none may fail."""
    errors: list[BaseException] = []
    barrier = threading.Barrier(n)

    def open_it() -> None:
        try:
            barrier.wait()
            SQLStorage(url).close()
        except BaseException as err:
            errors.append(err)

    threads = [threading.Thread(target=open_it) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []


def test_threads_opening_a_v1_database_at_once_migrate_it_once(tmp_path: Path) -> None:
    path = tmp_path / "v1.db"
    _load_sqlite(path)
    _open_at_once(f"sqlite:///{path}")
    assert _version(path) == str(SCHEMA_VERSION)
    reader = open_reader(f"sqlite:///{path}")
    assert_intact(reader)
    reader.close()


def _load_postgres(url: str) -> None:
    """The v1 tables as the v1 metadata compiled them for PostgreSQL, then the dump's rows."""
    rows = [line for line in V1_DUMP.splitlines()
            if line.startswith("INSERT INTO \"shoal_") and "sqlite_sequence" not in line]
    with psycopg.connect(url) as conn:
        conn.execute((FIXTURES / "schema_v1_postgres.sql").read_text(encoding="utf-8"))
        for row in rows:
            conn.execute(row)
        for table, key in (("shoal_studies", "study_id"), ("shoal_trials", "trial_id")):
            conn.execute(f"SELECT setval(pg_get_serial_sequence('{table}', '{key}'), "
                         f"(SELECT max({key}) FROM {table}))")  # as pg_dump would


def test_a_v1_postgres_database_is_read_then_migrated_with_nothing_lost(
        fresh_postgres_url: str, postgres_url: str) -> None:
    _load_postgres(fresh_postgres_url)
    reader = open_reader(fresh_postgres_url)
    assert_intact(reader)
    reader.close()
    storage = SQLStorage(fresh_postgres_url)
    assert_intact(storage)
    with storage._engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT value FROM shoal_meta").scalar() == str(SCHEMA_VERSION)
    study = storage.get_study("single")
    trial = storage.create_trial(study.study_id)
    assert (trial.number, trial.trial_id) == (8, 11)
    storage.close()
    fresh_url = fresh_postgres_url.rsplit("%3D", 1)[0] + "%3Dfresh_v2"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute('CREATE SCHEMA "fresh_v2"')
    fresh = SQLStorage(fresh_url)
    migrated = SQLStorage(fresh_postgres_url)
    assert _schema(migrated._engine) == _schema(fresh._engine)
    fresh.close()
    migrated.close()


def test_threads_opening_a_v1_postgres_database_at_once_migrate_it_once(
        fresh_postgres_url: str) -> None:
    _load_postgres(fresh_postgres_url)
    _open_at_once(fresh_postgres_url)
    reader = open_reader(fresh_postgres_url)
    assert_intact(reader)
    reader.close()
    with psycopg.connect(fresh_postgres_url) as conn:
        assert conn.execute("SELECT value FROM shoal_meta").fetchall() == [(str(SCHEMA_VERSION),)]


def _to_v2(url: str) -> None:
    """Turn a loaded v1 database into what schema v2's shoal wrote: its step, then version 2."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"))
    with engine.begin() as conn:
        migrations.STEPS[0](conn)
        conn.execute(sa.text("UPDATE shoal_meta SET value = '2' WHERE key = 'schema_version'"))
    engine.dispose()


def _check_v2_migrated(url: str, fresh_url: str) -> None:
    """Open a v2 database read-write: it becomes v3 with every record intact and budgets working."""
    reader = open_reader(url)  # the reader reads v2 as it is
    assert_intact(reader)
    reader.close()
    storage = SQLStorage(url)
    assert_intact(storage)
    with storage._engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT value FROM shoal_meta").scalar() == str(SCHEMA_VERSION) == "3"
        assert conn.exec_driver_sql("SELECT count(*) FROM shoal_budgets").scalar() == 0
    fresh = SQLStorage(fresh_url)
    assert _schema(storage._engine) == _schema(fresh._engine)
    fresh.close()
    study = storage.get_study("single")
    assert storage.get_budget(study.study_id) is None
    storage.set_budget(study.study_id, n_trials=study.n_trials + 1, deadline=None,
                       used_at_least=study.n_trials)
    assert storage.claim_budget(study.study_id)
    assert not storage.claim_budget(study.study_id)
    storage.close()


def test_a_v2_sqlite_database_migrates_to_v3_with_nothing_lost(tmp_path: Path) -> None:
    path = tmp_path / "v2.db"
    _load_sqlite(path)
    _to_v2(f"sqlite:///{path}")
    assert _version(path) == "2"
    _check_v2_migrated(f"sqlite:///{path}", f"sqlite:///{tmp_path / 'fresh.db'}")
    assert _version(path) == "3"


def test_a_v2_postgres_database_migrates_to_v3_with_nothing_lost(
        fresh_postgres_url: str, postgres_url: str) -> None:
    _load_postgres(fresh_postgres_url)
    _to_v2(fresh_postgres_url)
    fresh_url = fresh_postgres_url.rsplit("%3D", 1)[0] + "%3Dfresh_v3"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute('CREATE SCHEMA "fresh_v3"')
    _check_v2_migrated(fresh_postgres_url, fresh_url)
