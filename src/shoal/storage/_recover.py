"""Copying what a damaged SQLite study database still holds into a new one: `shoal recover`.

The damaged file is opened in SQLite's read-only URI mode (`file:...?mode=ro`), so nothing is ever
written to it. The copy is a new shoal database at today's schema, made by `SQLStorage` itself;
each shoal table is then read in rowid ranges, and a range whose read raises is halved until the
unreadable rows stand alone, so a damaged page costs only the rows on it. A row that reads but
cannot be used (its JSON text is damaged, or the study it belongs to was lost) is skipped. The
copy is built in a temporary file beside the target and moved into place only when complete, and
the target is never overwritten.

Only the standard library is imported here: `shoal.storage` re-exports `recover_sqlite`, and
`import shoal` stays light (SQLAlchemy is imported when a recovery runs).
"""

from __future__ import annotations

import json
import os
import sqlite3
import stat
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

from shoal.exceptions import SchemaVersionError, StorageError

__all__ = ["RecoveryReport", "TableReport", "recover_sqlite"]

_CHUNK = 256  # rows per read; a read that fails is halved down to single rows
_MAX_SPAN = 10_000_000  # rowids tried in a table with no id counter, should its max be damaged


@dataclass(frozen=True)
class TableReport:
    """What `recover_sqlite` did with one table.

    Attributes:
        table: The table's name.
        copied: Rows copied into the new database.
        unreadable: Rowids whose reads failed (each may or may not have held a row); None when
            not even the table's extent could be read, so none of it was copied.
        skipped: Rows read but not copied: damaged JSON text, a value a column forbids, or the
            study (or trial) they belong to was lost.
    """

    table: str
    copied: int
    unreadable: int | None
    skipped: int


@dataclass(frozen=True)
class RecoveryReport:
    """The outcome of `recover_sqlite`: the two files and one `TableReport` per shoal table."""

    source: Path
    target: Path
    tables: tuple[TableReport, ...]

    @property
    def url(self) -> str:
        """The storage URL of the new database."""
        return f"sqlite:///{self.target}"

    @property
    def complete(self) -> bool:
        """Whether every row was read and copied."""
        return all(t.unreadable == 0 and t.skipped == 0 for t in self.tables)


def recover_sqlite(src: Path | str, dst: Path | str) -> RecoveryReport:
    """Copy every row still readable from a damaged shoal SQLite file into a new shoal database.

    Args:
        src: The damaged database file; opened read-only, never changed.
        dst: Where the new database goes; must not exist.

    Returns:
        How many rows of each table were copied, unreadable and skipped.

    Raises:
        StorageError: `dst` exists or its folder does not; `src` is missing, or no shoal table of
            it can be read (it is not a shoal database, or its schema is lost).
        SchemaVersionError: A newer shoal wrote `src`.

    >>> import tempfile
    >>> from shoal.storage._sql import SQLStorage
    >>> from shoal.trial import Direction
    >>> folder = Path(tempfile.mkdtemp())
    >>> storage = SQLStorage(f"sqlite:///{folder / 'old.db'}")
    >>> _ = storage.create_study("demo", [Direction.MINIMIZE]); storage.close()
    >>> report = recover_sqlite(folder / "old.db", folder / "new.db")
    >>> [(t.table, t.copied, t.unreadable) for t in report.tables][1]
    ('shoal_studies', 1, 0)
    """
    src, dst = Path(src).absolute(), Path(dst).absolute()
    _check_paths(src, dst)
    from shoal.storage import _schema as q  # SQLAlchemy costs ~100 ms to import
    from shoal.storage._sql import SQLStorage

    reader = sqlite3.connect(_read_only_uri(src), uri=True)
    try:
        reader.execute("PRAGMA cell_size_check = ON")  # notice more damage instead of reading it
        found = _shoal_tables(reader, src, [t.name for t in q.metadata.sorted_tables])
        version = _read_or_none(reader, "SELECT value FROM shoal_meta WHERE key = 'schema_version'")
        if version is not None and str(version[0]).isdigit() and int(version[0]) > q.SCHEMA_VERSION:
            raise SchemaVersionError(
                f"file {src} was written with shoal schema v{version[0]}; this shoal recovers up to "
                f"v{q.SCHEMA_VERSION}. Upgrade shoal (pip install -U shoal) and run shoal recover "
                "again; the file was left as it is.")
        fd, name = tempfile.mkstemp(prefix=f".{dst.name}.", suffix=".recovering", dir=dst.parent)
        os.close(fd)
        partial = Path(name)
        try:
            SQLStorage(f"sqlite:///{partial}").close()  # today's schema, made the usual way
            writer = sqlite3.connect(partial, isolation_level=None)
            try:
                writer.execute("PRAGMA foreign_keys = ON")  # a trial of a lost study is skipped
                writer.execute("BEGIN IMMEDIATE")
                reports = tuple(
                    _copy_table(reader, writer, table.name, [c.name for c in table.columns],
                                q.JSON_COLUMNS.get(table.name, ()),
                                autoincrement=bool(table.kwargs.get("sqlite_autoincrement")),
                                keep_existing=table.name == q.meta.name)
                    if table.name in found else TableReport(table.name, 0, 0, 0)
                    for table in q.metadata.sorted_tables)
                writer.execute("COMMIT")
            finally:
                writer.close()
            # mkstemp made it private (0600): give the copy the original's permissions, writable
            os.chmod(partial, stat.S_IMODE(src.stat().st_mode) | stat.S_IWUSR)
            _move_into_place(partial, dst)
        finally:
            for leftover in (partial, Path(f"{partial}-wal"), Path(f"{partial}-shm")):
                leftover.unlink(missing_ok=True)
    finally:
        reader.close()
    return RecoveryReport(src, dst, reports)


def _check_paths(src: Path, dst: Path) -> None:
    if dst.exists() or dst.is_symlink():
        raise StorageError(
            f"target {dst} of shoal recover must be a new file, but it exists; nothing was "
            f"written. Give a path that does not exist yet, e.g. "
            f"{dst.with_name(f'{dst.stem}-2{dst.suffix}')}.")
    if not dst.parent.is_dir():
        raise StorageError(f"folder {dst.parent} of the recovery target must exist. Create it "
                           f"(mkdir -p {dst.parent}) or give a path in an existing folder.")
    if not src.is_file():
        raise StorageError(f"file {src} to recover must exist and be a file. Check the path.")
    if src.stat().st_size == 0:
        raise StorageError(f"file {src} to recover is empty (0 bytes): it holds nothing to copy. "
                           "Check the path; the file was left as it is.")


def _read_only_uri(src: Path) -> str:
    """Read-only; and immutable unless a -wal file holds transactions not yet in the file itself,
    so SQLite creates no -wal/-shm files beside it either (a read-only open of a WAL file would)."""
    wal = Path(f"{src}-wal")
    pending = wal.exists() and wal.stat().st_size > 0
    return f"file:{quote(str(src))}?mode=ro" + ("" if pending else "&immutable=1")


def _read_or_none(conn: sqlite3.Connection, sql: str) -> tuple[Any, ...] | None:
    try:
        row: tuple[Any, ...] | None = conn.execute(sql).fetchone()
    except sqlite3.DatabaseError:
        return None
    return row


def _shoal_tables(reader: sqlite3.Connection, src: Path, names: Sequence[str]) -> set[str]:
    """The shoal tables `src` lists; StorageError if it lists none, or its list is unreadable."""
    try:
        tables = [r[0] for r in reader.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")]
    except sqlite3.DatabaseError as err:
        raise StorageError(
            f"file {src} must be a shoal database to be recovered, but SQLite cannot read its list "
            f"of tables ({err}); the file was left as it is. Check the path; if it is a shoal "
            "database, too little of it is left to recover.") from None
    found = set(names) & set(tables)
    if not found:
        listed = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "") or "no tables"
        raise StorageError(
            f"file {src} must be a shoal database to be recovered, but it has no shoal tables (it "
            f"holds {listed}); the file was left as it is. Check the path.")
    return found


def _copy_table(reader: sqlite3.Connection, writer: sqlite3.Connection, table: str,
                columns: Sequence[str], json_columns: Sequence[str], *, autoincrement: bool,
                keep_existing: bool) -> TableReport:
    """Copy the readable rows of one table, `_CHUNK` rowids at a time."""
    try:
        present = {r[1] for r in reader.execute(f'PRAGMA table_info("{table}")')}
    except sqlite3.DatabaseError:
        return TableReport(table, 0, None, 0)
    extent = _extent(reader, table, autoincrement=autoincrement)
    if extent is None:
        return TableReport(table, 0, None, 0)
    cols = [c for c in columns if c in present]  # an older schema lacks newer columns: defaults
    listed = ", ".join(f'"{c}"' for c in cols)
    select = f'SELECT rowid, {listed} FROM "{table}" WHERE rowid BETWEEN ? AND ? ORDER BY rowid'
    insert = f'INSERT INTO "{table}" ({listed}) VALUES ({", ".join("?" * len(cols))})'
    checked = [i for i, c in enumerate(cols) if c in json_columns]
    key = cols[0]  # with keep_existing (shoal_meta): the primary key, first
    existing = ({r[0] for r in writer.execute(f'SELECT "{key}" FROM "{table}"')}
                if keep_existing else set())
    copied = skipped = 0
    lost: list[int] = []
    lo, hi = extent
    for start in range(lo, hi + 1, _CHUNK):
        end = min(start + _CHUNK - 1, hi)
        rows: list[tuple[Any, ...]] = []
        _read_range(reader, select, start, end, rows, lost)
        if len(rows) < end - start + 1:  # a damaged tree can end a range read early, silently
            seen = {row[0] for row in rows}.union(lost)
            for rowid in range(start, end + 1):
                if rowid not in seen:
                    _read_range(reader, select, rowid, rowid, rows, lost)
            rows.sort(key=lambda row: int(row[0]))
        for row in rows:
            values = row[1:]
            if keep_existing and values[0] in existing:
                continue  # the new database's own (schema_version): today's value stays
            if not _json_ok(values, checked):
                skipped += 1
                continue
            try:
                writer.execute(insert, values)
            except sqlite3.IntegrityError:  # a NULL where none may be, or its study was lost
                skipped += 1
                continue
            copied += 1
    if autoincrement and hi >= lo:
        _keep_ids_unused(reader, writer, table, hi)
    return TableReport(table, copied, len(lost), skipped)


def _extent(reader: sqlite3.Connection, table: str, *, autoincrement: bool
            ) -> tuple[int, int] | None:
    """The rowids to try: every id an AUTOINCREMENT table ever handed out (a damaged tree can
    misstate its own min and max), else min..max; None if neither can be read."""
    issued = _issued(reader, table) if autoincrement else None
    if issued is not None:
        return 1, issued
    try:
        lo, hi = reader.execute(f'SELECT min(rowid), max(rowid) FROM "{table}"').fetchone()
    except sqlite3.DatabaseError:
        return None
    if lo is None or hi is None:
        return 1, 0  # empty
    return int(lo), min(int(hi), int(lo) + _MAX_SPAN)


def _read_range(reader: sqlite3.Connection, select: str, lo: int, hi: int,
                out: list[tuple[Any, ...]], lost: list[int]) -> None:
    """Read rows lo..hi; if that fails, read each half, down to single unreadable rowids."""
    try:
        rows = reader.execute(select, (lo, hi)).fetchall()
    except sqlite3.DatabaseError:
        if lo == hi:
            lost.append(lo)
            return
        mid = (lo + hi) // 2
        _read_range(reader, select, lo, mid, out, lost)
        _read_range(reader, select, mid + 1, hi, out, lost)
        return
    out.extend(row for row in rows if lo <= row[0] <= hi)  # damage can misplace a row


def _json_ok(values: Sequence[Any], checked: Sequence[int]) -> bool:
    for i in checked:
        if values[i] is None:
            continue
        try:
            json.loads(values[i])
        except (TypeError, ValueError):
            return False
    return True


def _issued(reader: sqlite3.Connection, table: str) -> int | None:
    """The highest id an AUTOINCREMENT table ever handed out, if it can be read."""
    try:
        row = reader.execute("SELECT seq FROM sqlite_sequence WHERE name = ?", (table,)).fetchone()
    except sqlite3.DatabaseError:
        return None
    return int(row[0]) if row is not None and row[0] is not None else None


def _keep_ids_unused(reader: sqlite3.Connection, writer: sqlite3.Connection, table: str,
                     highest: int) -> None:
    """Never hand out again an id the damaged file used (a lost study's id would adopt its
    orphaned rows in caches): the new counter starts past every id seen or ever issued."""
    value = max(highest, _issued(reader, table) or 0)
    updated = writer.execute("UPDATE sqlite_sequence SET seq = max(seq, ?) WHERE name = ?",
                             (value, table)).rowcount
    if not updated:
        writer.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (?, ?)", (table, value))


def _move_into_place(partial: Path, dst: Path) -> None:
    """Give the finished copy its name, never replacing a file that appeared meanwhile."""
    try:
        os.link(partial, dst)
    except FileExistsError:
        raise StorageError(f"target {dst} of shoal recover must be a new file, but one appeared "
                           "while recovering; nothing was written. Give another path.") from None
    except OSError:  # no hard links on this file system
        if dst.exists():
            raise StorageError(f"target {dst} of shoal recover must be a new file, but one "
                               "appeared while recovering; nothing was written. Give another "
                               "path.") from None
        os.replace(partial, dst)
