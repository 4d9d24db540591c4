"""upload, download, list_artifacts: a trial's own files, kept beside its checkpoints.

Layout: `<root>/<study name, percent-encoded>/trial-<number>/artifacts/<name>`, where the root is
the study's checkpoint folder (`shoal.storage.artifacts_root`: beside a SQLite file, else
`$SHOAL_ARTIFACTS`), or the store given as `store=` (any fsspec URL, `s3://bucket/prefix` too).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol, runtime_checkable

from shoal._validate import config_error, integer
from shoal.artifacts._store import ArtifactInfo, ArtifactStore, FsspecStore
from shoal.storage import artifacts_root, study_folder

__all__ = ["StudyRef", "TrialRef", "check_name", "default_store", "download", "list_artifacts", "upload"]

#: What a name may not contain: a name is one file or folder name, never a path.
_FORBIDDEN = frozenset("/\\\0")
_NAME_RULE = "a file or folder name (not empty, no '/' or '\\', no control character, not starting with '.')"


class _HasURL(Protocol):
    @property
    def url(self) -> str: ...


@runtime_checkable
class StudyRef(Protocol):
    """What the artifacts API needs of a study: its name and its storage's URL (a `Study` has both)."""

    @property
    def name(self) -> str: ...

    @property
    def storage(self) -> _HasURL: ...


@runtime_checkable
class TrialRef(Protocol):
    """What the artifacts API needs of a running trial: its number and its study (a `Trial`)."""

    @property
    def number(self) -> int: ...

    @property
    def study(self) -> StudyRef: ...


def default_store(storage_url: str) -> FsspecStore:
    """The store of a study kept at `storage_url`: its checkpoint folder (`artifacts_root`).

    >>> default_store("sqlite:////data/runs/shoal.db")
    FsspecStore('/data/runs/shoal-artifacts')
    """
    return FsspecStore(artifacts_root(storage_url))


def _store(study: StudyRef, store: ArtifactStore | str | os.PathLike[str] | None) -> ArtifactStore:
    if store is None:
        return default_store(study.storage.url)
    if isinstance(store, (str, os.PathLike)):
        return FsspecStore(store)
    if not isinstance(store, ArtifactStore):
        raise config_error("store", "shoal.artifacts", "an ArtifactStore, a folder or an fsspec URL",
                           store, "Pass store='s3://bucket/prefix', say, or leave it out.")
    return store


def check_name(name: object) -> str:
    """`name` if it names one file or folder inside a trial's artifacts; else a ConfigError.

    >>> check_name("model.pt")
    'model.pt'
    >>> check_name("../../etc/passwd")
    Traceback (most recent call last):
    ...
    shoal.exceptions.ConfigError: name of an artifact must be ... Got '../../etc/passwd'. ...
    """
    ok = (isinstance(name, str) and bool(name) and not name.startswith(".")
          and not (_FORBIDDEN & set(name)) and all(ord(c) >= 32 for c in name)
          and len(name.encode("utf-8", "surrogatepass")) <= 255)
    if not ok:
        raise config_error("name", "an artifact", _NAME_RULE, name,
                           "Pass a plain name such as name='model.pt'.")
    assert isinstance(name, str)
    return name


def _prefix(study: StudyRef, number: int) -> str:
    number = integer(number, what="trial number", owner="shoal.artifacts", low=0)
    # the study's folder name is the checkpoints' (percent-encoded): one rule, in storage
    return f"{study_folder(study.storage.url, study.name).name}/trial-{number}/artifacts"


def upload(target: TrialRef | StudyRef, path: str | os.PathLike[str], *, trial: int | None = None,
           name: str | None = None, store: ArtifactStore | str | None = None,
           overwrite: bool = False) -> str:
    """Keep a file or folder with a trial: the running one, or trial `trial` of a study.

    Args:
        target: The running `Trial` (inside an objective), or a `Study` together with `trial=`.
        path: The file or folder to store.
        trial: The trial's number, when `target` is a study (a finished trial, say).
        name: Its name within the trial; the file or folder name of `path` by default.
        store: Where to keep it: an `ArtifactStore`, a folder or an fsspec URL
            (`s3://bucket/prefix` with s3fs installed). By default the study's checkpoint folder.
        overwrite: Replace an artifact of that name (by default an existing name is refused).

    Returns:
        The artifact's name, for `download`.

    Raises:
        ConfigError: The name is not a plain file name, is taken, or `path` does not exist.

    >>> import shoal, tempfile
    >>> folder = Path(tempfile.mkdtemp())
    >>> study = shoal.create_study(storage=f"sqlite:///{folder}/shoal.db", study_name="demo")
    >>> def objective(trial):
    ...     report = folder / "report.txt"
    ...     _ = report.write_text(f"trial {trial.number}")
    ...     upload(trial, report)
    ...     return 0.0
    >>> study.optimize(objective, n_trials=1)
    >>> [a.name for a in list_artifacts(study, 0)]
    ['report.txt']
    """
    if trial is None:
        if not isinstance(target, TrialRef):
            raise config_error("target", "upload", "a running Trial, or a Study with trial=N", target,
                               "Inside an objective pass its trial; else upload(study, path, trial=3).")
        study, number = target.study, target.number
    else:
        if not isinstance(target, StudyRef):
            raise config_error("target", "upload", "a Study when trial= is given", target,
                               "Call upload(study, path, trial=3).")
        study, number = target, trial
    source = Path(path)
    chosen = check_name(source.name if name is None else name)
    where = _store(study, store)
    where.put(f"{_prefix(study, number)}/{chosen}", source, overwrite=overwrite)
    return chosen


def download(study: StudyRef, number: int, name: str, dest: str | os.PathLike[str], *,
             store: ArtifactStore | str | None = None) -> Path:
    """Copy trial `number`'s artifact `name` to `dest` and return where it went.

    `dest` is the file (or folder) to write; an existing folder receives it as `dest/name`.

    Raises:
        ConfigError: The trial has no artifact of that name (the message lists those it has).
    """
    name = check_name(name)
    where = _store(study, store)
    prefix = _prefix(study, number)
    kept = {a.name for a in where.list(prefix)}
    if name not in kept:
        have = f"Trial {number} has {sorted(kept)}." if kept else f"Trial {number} has no artifacts."
        raise config_error("name", "download", f"an artifact of trial {number} of study {study.name!r}",
                           name, f"{have} See list_artifacts(study, {number}).")
    target = Path(dest)
    if target.is_dir():
        target = target / name
    where.get(f"{prefix}/{name}", target)
    return target


def list_artifacts(study: StudyRef, number: int, *,
                   store: ArtifactStore | str | None = None) -> list[ArtifactInfo]:
    """The artifacts of trial `number` of `study`, by name (empty for a trial that has none)."""
    return _store(study, store).list(_prefix(study, number))
