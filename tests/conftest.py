"""Shared pytest fixtures."""

from __future__ import annotations

# --- PostgreSQL -----------------------------------------------------------------------------------
# A real, throwaway PostgreSQL server for the session: initdb into a temporary folder, start it on
# 127.0.0.1 at a free port (trust auth), stop it and delete the folder at the end. Missing server
# binaries fail the tests that need it (never skip): `make test` installs them.
import glob
import itertools
import os
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

_PG_INSTALL_HINT = ("Run `make test` (it installs PostgreSQL through scripts/ensure-postgres.sh), "
                    "or `apt-get install -y postgresql`.")
_pg_schemas = itertools.count()


def _pg_bin_dir() -> Path | None:
    """The folder holding initdb and pg_ctl: from PATH, else the newest /usr/lib/postgresql/*/bin."""
    found = shutil.which("initdb")
    candidates = [Path(found).resolve().parent, Path(found).parent] if found else []
    candidates += sorted((Path(p).parent for p in glob.glob("/usr/lib/postgresql/*/bin/initdb")),
                         key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0,
                         reverse=True)
    for folder in candidates:
        if (folder / "initdb").exists() and (folder / "pg_ctl").exists():
            return folder
    return None


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _pg_run(argv: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    # PostgreSQL refuses to run as root: run it as the `postgres` OS user when we are root.
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return subprocess.run(prefix + argv, cwd=cwd, capture_output=True, text=True, timeout=120,
                          check=False)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """URL of database `shoal_test` on a PostgreSQL server started for this test session."""
    bin_dir = _pg_bin_dir()
    if bin_dir is None:
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) were not found in PATH or "
                    f"/usr/lib/postgresql/*/bin. {_PG_INSTALL_HINT}", pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="shoal-pg-"))
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    data, log = root / "data", root / "server.log"
    port = _free_port()
    started = False
    try:
        init = _pg_run([str(bin_dir / "initdb"), "-D", str(data), "-U", "postgres", "-A", "trust",
                        "-E", "UTF8", "--no-locale", "--no-sync"], cwd=root)
        if init.returncode != 0:
            pytest.fail(f"initdb failed:\n{init.stdout}\n{init.stderr}", pytrace=False)
        options = (f"-h 127.0.0.1 -p {port} -k {root} -F -c max_connections=300 "
                   "-c synchronous_commit=off -c full_page_writes=off")
        start = _pg_run([str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-w",
                         "-t", "60", "-o", options, "start"], cwd=root)
        started = start.returncode == 0
        if not started:
            text = log.read_text() if log.exists() else ""
            pytest.fail(f"pg_ctl start failed:\n{start.stdout}\n{start.stderr}\n{text}",
                        pytrace=False)
        _pg_admin(f"postgresql://postgres@127.0.0.1:{port}/postgres", "shoal_test")
        yield f"postgresql://postgres@127.0.0.1:{port}/shoal_test"
    finally:
        if started:
            _pg_run([str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                    cwd=root)
        shutil.rmtree(root, ignore_errors=True)


def _pg_admin(admin_url: str, database: str) -> None:
    import psycopg

    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{database}"')


@pytest.fixture
def fresh_postgres_url(postgres_url: str) -> str:
    """URL of a new, empty namespace on the session's PostgreSQL server, for one test.

    Each test gets its own schema (set as the connection's search_path through the URL): as
    isolated as a new database for shoal's tables, and ten times faster to make.
    """
    import psycopg

    schema = f"t{next(_pg_schemas)}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    return f"{postgres_url}?options=-csearch_path%3D{schema}"


class RestartablePostgres:
    """A PostgreSQL server of one test's own, which the test may stop and start again (same port)."""

    def __init__(self, bin_dir: Path, root: Path, port: int) -> None:
        self.bin_dir, self.root, self.port = bin_dir, root, port
        self.data, self.log = root / "data", root / "server.log"
        self.url = f"postgresql://postgres@127.0.0.1:{port}/shoal_test"
        self.running = False

    def start(self) -> None:
        # Commits are synchronous here (unlike the session server): a stop must lose none of them.
        options = f"-h 127.0.0.1 -p {self.port} -k {self.root} -F -c max_connections=100"
        start = _pg_run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-l", str(self.log), "-w",
                         "-t", "60", "-o", options, "start"], cwd=self.root)
        if start.returncode != 0:
            text = self.log.read_text() if self.log.exists() else ""
            pytest.fail(f"pg_ctl start failed:\n{start.stdout}\n{start.stderr}\n{text}", pytrace=False)
        self.running = True

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: "fast" ends every connection (a restart), "immediate" as a crash would."""
        stop = _pg_run([str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", mode, "-w", "stop"],
                       cwd=self.root)
        if stop.returncode != 0:
            pytest.fail(f"pg_ctl stop failed:\n{stop.stdout}\n{stop.stderr}", pytrace=False)
        self.running = False


@pytest.fixture
def restartable_postgres() -> Iterator[RestartablePostgres]:
    """A PostgreSQL server (database `shoal_test`) for one test, which it may stop and start; it
    is stopped and deleted after the test."""
    bin_dir = _pg_bin_dir()
    if bin_dir is None:
        pytest.fail("PostgreSQL server binaries (initdb, pg_ctl) were not found in PATH or "
                    f"/usr/lib/postgresql/*/bin. {_PG_INSTALL_HINT}", pytrace=False)
    root = Path(tempfile.mkdtemp(prefix="shoal-pg-restart-"))
    if os.geteuid() == 0:
        import pwd

        user = pwd.getpwnam("postgres")
        os.chown(root, user.pw_uid, user.pw_gid)
    server = RestartablePostgres(bin_dir, root, _free_port())
    try:
        init = _pg_run([str(bin_dir / "initdb"), "-D", str(server.data), "-U", "postgres", "-A",
                        "trust", "-E", "UTF8", "--no-locale", "--no-sync"], cwd=root)
        if init.returncode != 0:
            pytest.fail(f"initdb failed:\n{init.stdout}\n{init.stderr}", pytrace=False)
        server.start()
        _pg_admin(f"postgresql://postgres@127.0.0.1:{server.port}/postgres", "shoal_test")
        yield server
    finally:
        if (server.data / "postmaster.pid").exists():
            server.stop()
        shutil.rmtree(root, ignore_errors=True)
# --- end PostgreSQL -------------------------------------------------------------------------------
