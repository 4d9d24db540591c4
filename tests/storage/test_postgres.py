"""PostgreSQL storage: the conformance suite against a real server, plus URL handling."""

from __future__ import annotations

import gc
from collections.abc import Callable
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from shoal.clock import FakeClock
from shoal.exceptions import SchemaVersionError, StorageError, StudyExists
from shoal.storage import open_reader, open_storage
from shoal.storage._sql import SQLStorage
from shoal.testing import StorageSuite
from shoal.trial import Direction, TrialState


class TestPostgresStorage(StorageSuite):
    @pytest.fixture(autouse=True)
    def _database(self, fresh_postgres_url: str) -> None:
        self.url = fresh_postgres_url

    def make_storage(self, tmp_path: Path, clock: FakeClock) -> SQLStorage:
        return SQLStorage(self.url, clock=clock)


def _with_password(url: str) -> str:
    # The test server trusts 127.0.0.1, so any password is accepted and none is checked.
    return url.replace("postgresql://postgres@", "postgresql://postgres:hunter2@")


def test_url_is_kept_but_messages_hide_the_password(fresh_postgres_url: str) -> None:
    url = _with_password(fresh_postgres_url)
    storage = open_storage(url)
    assert isinstance(storage, SQLStorage)
    assert storage.url == url  # reopenable by another process, password included
    storage.create_study("s", [Direction.MINIMIZE])
    with pytest.raises(StudyExists, match=r"in postgresql://postgres:\*\*\*@127\.0\.0\.1") as info:
        storage.create_study("s", [Direction.MINIMIZE])
    assert "hunter2" not in str(info.value)
    assert "hunter2" not in repr(storage)
    storage.close()


def test_postgres_scheme_alias_and_reopen(fresh_postgres_url: str) -> None:
    first = SQLStorage(fresh_postgres_url)
    study = first.create_study("s", [Direction.MAXIMIZE])
    first.create_trial(study.study_id, params={"x": 1})
    first.close()
    alias = SQLStorage(fresh_postgres_url.replace("postgresql://", "postgres://", 1))
    assert alias.get_study("s").n_trials == 1
    assert alias.create_trial(study.study_id).number == 1
    alias.close()


def test_schema_version_mismatch_says_what_to_do(fresh_postgres_url: str) -> None:
    SQLStorage(fresh_postgres_url).close()
    with psycopg.connect(fresh_postgres_url) as conn:
        conn.execute("UPDATE shoal_meta SET value = '7' WHERE key = 'schema_version'")
    with pytest.raises(SchemaVersionError, match=r"was written with shoal schema v7; this shoal "
                                                 r"reads v3\. Upgrade shoal"):
        SQLStorage(fresh_postgres_url)


def test_heartbeat_of_a_failed_trial_writes_nothing(fresh_postgres_url: str) -> None:
    clock = FakeClock(start=0.0)
    storage = SQLStorage(fresh_postgres_url, clock=clock)
    other = SQLStorage(fresh_postgres_url, clock=clock)
    study = storage.create_study("s", [Direction.MINIMIZE])
    trial = storage.create_trial(study.study_id)
    clock.advance(100.0)
    [failed] = other.fail_stale_trials(study.study_id, grace_seconds=10.0)
    assert failed.trial_id == trial.trial_id
    version = storage.get_trials(study.study_id).version
    assert storage.update_trial(trial.trial_id, heartbeat=True) is False
    assert storage.finish_trial(trial.trial_id, state=TrialState.COMPLETE, values=[1.0]) is False
    assert storage.get_trials(study.study_id).version == version
    storage.close()
    other.close()


@pytest.mark.slow
def test_eight_processes_open_a_new_database_at_once(
        fresh_postgres_url: str, check_concurrent_ask_tell: Callable[[str, bool, int], None]) -> None:
    check_concurrent_ask_tell(fresh_postgres_url, False, 100)


@pytest.mark.slow
def test_eight_forked_processes_share_one_storage_object(
        fresh_postgres_url: str, check_concurrent_ask_tell: Callable[[str, bool, int], None]) -> None:
    check_concurrent_ask_tell(fresh_postgres_url, True, 100)


@pytest.mark.slow
def test_eight_processes_claim_each_waiting_trial_once(
        fresh_postgres_url: str, check_concurrent_claims: Callable[[str, int], None]) -> None:
    check_concurrent_claims(fresh_postgres_url, 200)


def test_eight_processes_resume_each_paused_trial_once(
        fresh_postgres_url: str, check_concurrent_resumes: Callable[[str, int], None]) -> None:
    check_concurrent_resumes(fresh_postgres_url, 40)


def test_a_dropped_storage_closes_its_connections(fresh_postgres_url: str) -> None:
    storage = SQLStorage(fresh_postgres_url)
    storage.create_study("s", [Direction.MINIMIZE])
    engine, pool = storage._engine, storage._engine.pool
    assert pool.checkedin() == 1
    del storage
    gc.collect()  # psycopg would warn (an error here) about a connection deleted while open
    assert engine.pool is not pool
    assert pool.checkedin() == 0


def _tables(url: str) -> list[str]:
    with psycopg.connect(url) as conn:
        return sorted(row[0] for row in conn.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()"))


def test_reader_on_an_empty_database_creates_nothing(fresh_postgres_url: str) -> None:
    with psycopg.connect(fresh_postgres_url) as conn:
        conn.execute("CREATE TABLE orders (id integer)")
    with pytest.raises(StorageError, match=r"^database of storage postgresql://.* must be a shoal "
                                           r"database, but it has no shoal tables \(it holds "
                                           r"orders\); shoal left it as it is\."):
        open_reader(fresh_postgres_url)
    assert _tables(fresh_postgres_url) == ["orders"]


def test_reader_reads_in_read_only_sessions(fresh_postgres_url: str) -> None:
    clock = FakeClock(start=10.0)
    storage = SQLStorage(fresh_postgres_url, clock=clock)
    study = storage.create_study("s", [Direction.MINIMIZE])
    trial = storage.create_trial(study.study_id, worker="host:1")
    clock.advance(4.0)
    storage.update_trial(trial.trial_id, heartbeat=True)
    reader = open_reader(fresh_postgres_url)
    assert [s.name for s in reader.list_studies()] == ["s"]
    [running] = reader.get_trials(study.study_id).trials
    assert (running.state, running.last_heartbeat) == (TrialState.RUNNING, 14.0)
    with pytest.raises(sa.exc.InternalError, match="read-only transaction"), \
            reader._engine.connect() as conn:  # type: ignore[attr-defined]
        conn.exec_driver_sql("CREATE TABLE intruder (a integer)")
    reader.close()
    storage.close()
    assert "intruder" not in _tables(fresh_postgres_url)


def test_reader_on_a_database_without_tables_says_how_to_start(fresh_postgres_url: str) -> None:
    with pytest.raises(StorageError, match=r"^database of storage postgresql://.* holds no shoal "
                                           r"study yet: it has no tables\. Create one there with "
                                           r"'shoal tune CONFIG\.yaml --storage postgresql://"):
        open_reader(fresh_postgres_url)
    assert _tables(fresh_postgres_url) == []
