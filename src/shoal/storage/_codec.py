"""What shoal's SQL storage holds, decoded, and whether a database is one shoal can read: no SQLAlchemy.

One owner for the rules every SQL way in shares: `SQLStorage` and `SQLReader` (SQLAlchemy Core,
through `_schema`'s statements) and `SQLiteReader` (the standard library's `sqlite3`, so that
`shoal studies` does not pay ~0.17 s for importing SQLAlchemy) all decode rows here and refuse
a database here:

- the JSON codec of the TEXT columns (`dumps`, `loads`), parameters in their stored form;
- the order of the columns a study or trial row is read in (`STUDY_COLUMNS`, `TRIAL_COLUMNS`)
  and the decoding of such a row (`study_from_row`, `trial_from_row`);
- the schema version this shoal writes and the oldest one it reads without migrating;
- the checks before reading: the SQLite file (missing, a folder, 0 bytes), the tables found
  (none, or another program's), the version, and which SQLite errors mean a damaged file.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from functools import lru_cache
from pathlib import Path
from typing import Any

from shoal.exceptions import ConfigError, SchemaVersionError, StorageError, StorageURLError
from shoal.space import Param, param_from_dict
from shoal.storage._protocol import StudyRecord
from shoal.storage._url import StorageURL
from shoal.trial import Direction, FrozenTrial, TrialState

__all__ = [
    "BUSY_TIMEOUT_S",
    "LINEAGE_SINCE_VERSION",
    "MIN_READABLE_VERSION",
    "SCHEMA_VERSION",
    "SQLITE_CORRUPT",
    "STUDY_COLUMNS",
    "TRIAL_COLUMNS",
    "V1_LINEAGE",
    "check_readable",
    "check_shoal_tables",
    "dump_distributions",
    "dump_lineage",
    "dumps",
    "has_lineage",
    "load_distributions",
    "loads",
    "merge_distributions",
    "open_failed",
    "param_dict",
    "parse_version",
    "readable_sqlite_file",
    "signs_of",
    "study_from_row",
    "trial_from_row",
]

SCHEMA_VERSION = 3  # the steps from each earlier version are in _migrations
# The reads select only columns that exist from this version on (v1 has no `lineage`: the readers
# select `V1_LINEAGE` in its place); raise it when they no longer do.
MIN_READABLE_VERSION = 1
LINEAGE_SINCE_VERSION = 2  # the first schema version with `shoal_trials.lineage`
V1_LINEAGE = "'[]'"  # SQL text read in place of the lineage column of an older database: no events
#: A trial's system attribute that marks the write that made it, so that a write retried after a
#: lost connection finds it instead of writing twice (`storage/_retry.py`); never read back.
WRITE_TOKEN = "_shoal_write_token"
BUSY_TIMEOUT_S = 30.0  # how long a read or write waits for another process's lock
# What SQLite says about a file that is not a database, or one whose pages are damaged.
SQLITE_CORRUPT = ("file is not a database", "database disk image is malformed")

# The order the readers select a study's and a trial's columns in, and the row decoders read them.
STUDY_COLUMNS = ("study_id", "name", "directions", "user_attrs", "system_attrs", "created")
TRIAL_COLUMNS = ("trial_id", "number", "state", "params", "distributions", "values",
                 "intermediate", "user_attrs", "system_attrs", "datetime_start",
                 "datetime_complete", "last_heartbeat", "worker", "parent", "checkpoint", "lineage")


# JSON and parameters -----------------------------------------------------------------------------
def _plain(value: Any) -> Any:
    tolist = getattr(value, "tolist", None)  # NumPy scalars and arrays
    if callable(tolist):
        return tolist()
    raise ConfigError(f"each stored value (param, attribute, value) must be JSON-serialisable: "
                      f"str, int, float, bool, None, list or dict. Got {value!r}.")


def dumps(value: Any) -> str:
    """Encode a JSON value compactly; floats keep their exact repr, NaN and inf included."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_plain)


def loads(text: str) -> Any:
    """Decode what `dumps` wrote."""
    return json.loads(text)


def param_dict(param: Param) -> dict[str, Any]:
    """The stored form of a parameter: its dict form, plus its own name if it has one."""
    return {**param.to_dict(), "name": param.name} if param.name else param.to_dict()


def dump_distributions(distributions: Mapping[str, Param]) -> str:
    """Encode parameters by name in their stored form."""
    return dumps({key: param_dict(p) for key, p in distributions.items()})


@lru_cache(maxsize=512)
def _parse_distributions(text: str) -> tuple[tuple[str, Param], ...]:
    # Trials of one study mostly share one space: parse each distinct text once (Params are frozen).
    out = []
    for key, data in loads(text).items():
        name = data.pop("name", "")
        out.append((key, param_from_dict(data, name=name)))
    return tuple(out)


def load_distributions(text: str) -> dict[str, Param]:
    """Decode what `dump_distributions` wrote into equal Param objects."""
    return dict(_parse_distributions(text)) if text != "{}" else {}


def merge_distributions(text: str, new: Mapping[str, Param]) -> str:
    """Merge parameters into stored distributions, without decoding the stored ones."""
    return dumps({**loads(text), **{key: param_dict(p) for key, p in new.items()}})


def dump_lineage(events: Sequence[Mapping[str, Any]]) -> str:
    """Encode a trial's lineage events, oldest first, as a JSON list."""
    return dumps([dict(event) for event in events])


def has_lineage(version: Any) -> bool:
    """Whether a database at stored `schema_version` has the `lineage` column (v2 on)."""
    parsed = parse_version(version)
    return not isinstance(parsed, int) or parsed >= LINEAGE_SINCE_VERSION


# Rows --------------------------------------------------------------------------------------------
_STATES = {s.value: s for s in TrialState}


def study_from_row(row: Sequence[Any]) -> StudyRecord:
    """Decode a row of `STUDY_COLUMNS` followed by the study's number of trials."""
    study_id, name, directions, user_attrs, system_attrs, created, n_trials = row
    return StudyRecord(study_id, name, tuple(Direction.parse(d) for d in loads(directions)),
                       loads(user_attrs), loads(system_attrs), created, n_trials)


def signs_of(directions: str) -> tuple[float, ...]:
    """The sign of each of a study's directions, from its stored `directions` text."""
    return tuple(Direction.parse(d).sign for d in loads(directions))


def trial_from_row(row: Sequence[Any], signs: tuple[float, ...]) -> FrozenTrial:
    """Decode a row of `TRIAL_COLUMNS` into a FrozenTrial."""
    (trial_id, number, state, params, dists, values, inter, user, system, start, complete,
     heartbeat, worker, parent, checkpoint, lineage) = row
    return FrozenTrial(
        number=number, trial_id=trial_id, state=_STATES[state], params=loads(params),
        distributions=load_distributions(dists),
        values=None if values is None else tuple(loads(values)),
        intermediate={int(k): v for k, v in loads(inter).items()},
        user_attrs=loads(user), system_attrs=_without_token(loads(system)), signs=signs,
        datetime_start=start,
        datetime_complete=complete, last_heartbeat=heartbeat, worker=worker, parent=parent,
        checkpoint=checkpoint, lineage=tuple(loads(lineage)))


# Checks before reading -----------------------------------------------------------------------------
def _without_token(attrs: dict[str, Any]) -> dict[str, Any]:
    attrs.pop(WRITE_TOKEN, None)
    return attrs


def parse_version(value: Any) -> int | str:
    """A stored `schema_version`: an int when it is one, else the text as found."""
    return int(value) if str(value).isdigit() else str(value)


def check_readable(version: Any, *, display: str) -> None:
    """Raise SchemaVersionError unless a read-only view can read a database at `version`.

    >>> check_readable("1", display="sqlite:///shoal.db")
    """
    parsed = parse_version(version)
    if isinstance(parsed, int) and MIN_READABLE_VERSION <= parsed <= SCHEMA_VERSION:
        return
    if isinstance(parsed, int) and parsed < MIN_READABLE_VERSION:
        raise SchemaVersionError(
            f"storage {display} was written with shoal schema v{parsed}; reading it needs "
            f"v{MIN_READABLE_VERSION} or later. Open it read-write once with this shoal (e.g. "
            "shoal.load_study(NAME, storage=URL)) to migrate it, then read it again.")
    raise SchemaVersionError(f"storage {display} was written with shoal schema v{parsed}; this "
                             f"shoal reads up to v{SCHEMA_VERSION}. Upgrade shoal (pip install -U "
                             "shoal) to read it.")


def open_failed(display: str, detail: str) -> StorageError:
    """The error for a database the driver could not open or read, with the driver's first line."""
    detail = detail.strip().splitlines()[0] if detail.strip() else detail
    return StorageError(f"cannot open storage {display}: {detail}. Check that the database exists "
                        "and is reachable, and that the URL is right.")


def readable_sqlite_file(location: StorageURL) -> Path:
    """The SQLite file a read-only view of `location` opens, checked without opening it.

    Raises:
        StorageURLError: In-memory storage (nothing to read), or a SQLite URL without a file path.
        StorageError: The file is missing, is a folder, or is empty (0 bytes).
    """
    display, path = location.display, location.path
    if location.in_memory:
        raise StorageURLError(
            f"storage {display} must be a database file or server to be read: in-memory storage "
            "lives only in the process that made it. Use e.g. 'sqlite:///shoal.db'.")
    if path is None:
        raise StorageURLError(
            f"storage URL of a read-only view must name a SQLite file as sqlite:///PATH. Got "
            f"{display!r}.")
    if not path.exists():
        raise StorageError(f"file {path} of storage {display} must exist to be read. Check the "
                           "path, or create a study there first (shoal tune, or create_study).")
    if path.is_dir():
        raise StorageError(f"path of SQLite storage {display} must be a file, not a folder. Got "
                           f"{str(path)!r}. Use e.g. 'sqlite:///{path / 'shoal.db'}'.")
    if path.stat().st_size == 0:
        raise StorageError(f"file {path} of storage {display} is empty (0 bytes), not a shoal "
                           "database; shoal left it as it is. Point --storage at the file your "
                           "study is in, or delete this one.")
    return path


def check_shoal_tables(location: StorageURL, tables: Sequence[str], version: Any) -> None:
    """Raise unless a database holding `tables` (sorted) is shoal's, at a version this shoal reads.

    `version` is `shoal_meta.schema_version` as read, None when there is no such table or row.
    """
    display = location.display
    if version is None:
        where = f"file {location.path}" if location.path is not None else "database"
        if not tables:  # a new, empty database: no study was ever stored in it
            raise StorageError(
                f"{where} of storage {display} holds no shoal study yet: it has no tables. Create "
                f"one there with 'shoal tune CONFIG.yaml --storage {display}' (or "
                "create_study(storage=URL)); reading changed nothing.")
        listed = ", ".join(tables[:5]) + (", ..." if len(tables) > 5 else "")
        raise StorageError(f"{where} of storage {display} must be a shoal database, but it has no "
                           f"shoal tables (it holds {listed}); shoal left it as it is. Point "
                           "--storage at the database your study is in.")
    check_readable(version, display=display)
