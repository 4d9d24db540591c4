"""Where trials keep their checkpoints: one folder per step, written atomically, kept by a policy.

Layout: `artifacts_root(url) / <study name, percent-encoded> / trial-<number> / step-<step>/`. A
step folder is written under a temporary name and renamed into place when complete, and never
changed afterwards: a fork that starts from a parent's step, or a reader on another machine,
never sees a file its writer is still writing. Nothing here imports torch: what goes inside a
step folder is the objective's business (the PyTorch harness writes `state.pt`).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from shoal._validate import config_error, integer
from shoal.storage._url import sqlite_file

__all__ = ["CheckpointFolder", "Retention", "artifacts_root", "study_folder"]

_STEP = re.compile(r"^step-(\d+)$")


def artifacts_root(storage_url: str) -> Path:
    """The folder where a study stored at `storage_url` keeps checkpoints and other files.

    SQLite file storage keeps them beside the database: `sqlite:///runs/shoal.db` gives
    `runs/shoal-artifacts` (made absolute against the current folder, as the storage does with
    its own path). Other storage (PostgreSQL, in-memory SQLite, "memory") says nothing about a
    filesystem the workers share, so the folder is `$SHOAL_ARTIFACTS` when set (a path or a
    `file://` URL: point it at a shared filesystem when workers run on several machines), else
    `./shoal-artifacts`.

    >>> artifacts_root("sqlite:////data/runs/shoal.db")
    PosixPath('/data/runs/shoal-artifacts')
    """
    database = sqlite_file(storage_url)
    if database is not None:
        return database.with_name(f"{database.stem}-artifacts")
    configured = os.environ.get("SHOAL_ARTIFACTS")
    return _folder_of(configured) if configured else Path.cwd() / "shoal-artifacts"


def _folder_of(configured: str) -> Path:
    """`$SHOAL_ARTIFACTS` as a folder: a path or a `file://` URL. An object store cannot hold
    checkpoints (folders renamed into place): refuse it rather than make a folder named `s3:`."""
    scheme, sep, rest = configured.partition("://")
    if not sep:
        return Path(configured).absolute()
    if scheme == "file":
        return Path(rest).absolute()  # as fsspec reads it: no percent-decoding
    raise config_error("SHOAL_ARTIFACTS", "the checkpoints", "a folder or a file:// URL", configured,
                       "Point it at a folder every worker can reach (NFS, a mounted bucket); pass "
                       "object-store URLs to shoal.artifacts as store=.")


def study_folder(storage_url: str, study_name: str) -> Path:
    """`artifacts_root / <study name>`, the name percent-encoded so any name makes one folder."""
    name = quote(study_name, safe="")
    if name in (".", ".."):
        name = name.replace(".", "%2E")
    return artifacts_root(storage_url) / name


@dataclass(frozen=True)
class Retention:
    """Which step checkpoints of a trial are kept once a newer one is written.

    Args:
        keep_last: The newest this many steps (at least 1: a trial resumes from its latest).
        keep_best: Also the step with the best reported score.
        keep_rungs: Also the steps where the study's scheduler decides (its `rung_steps`): the
            points a promotion resumes from and a fork may start from.

    >>> Retention()
    Retention(keep_last=2, keep_best=True, keep_rungs=True)
    """

    keep_last: int = 2
    keep_best: bool = True
    keep_rungs: bool = True

    def __post_init__(self) -> None:
        integer(self.keep_last, what="keep_last", owner="Retention", low=1,
                hint="A trial resumes from its latest checkpoint, so keep at least one.")

    def kept(self, steps: Collection[int], *, best: int | None,
             rungs: Collection[int] = ()) -> set[int]:
        """The steps of `steps` this policy keeps.

        >>> sorted(Retention(keep_last=1).kept([0, 1, 2, 3, 4], best=1, rungs=[3]))
        [1, 3, 4]
        """
        ordered = sorted(steps)
        keep = set(ordered[-self.keep_last:])
        if self.keep_best and best is not None and best in steps:
            keep.add(best)
        if self.keep_rungs:
            keep.update(s for s in ordered if s in rungs)
        return keep


class CheckpointFolder:
    """One trial's checkpoints: a folder with a sub-folder per step.

    >>> import tempfile
    >>> folder = CheckpointFolder(Path(tempfile.mkdtemp()) / "trial-0")
    >>> with folder.write(3) as path:
    ...     _ = (path / "state.txt").write_text("epoch 3")
    >>> folder.steps(), folder.latest()
    ([3], 3)
    >>> (folder.step_path(3) / "state.txt").read_text()
    'epoch 3'
    """

    def __init__(self, path: Path | str) -> None:
        self.path = Path(path)

    def step_path(self, step: int) -> Path:
        """Where step `step`'s checkpoint is (or would be) kept."""
        return self.path / f"step-{step}"

    def steps(self) -> list[int]:
        """The steps with a complete checkpoint, oldest first."""
        if not self.path.is_dir():
            return []
        found = (_STEP.match(entry.name) for entry in self.path.iterdir() if entry.is_dir())
        return sorted(int(m.group(1)) for m in found if m is not None)

    def latest(self, *, at_most: int | None = None) -> int | None:
        """The newest step with a checkpoint (no later than `at_most`), or None."""
        steps = [s for s in self.steps() if at_most is None or s <= at_most]
        return steps[-1] if steps else None

    @contextlib.contextmanager
    def write(self, step: int) -> Iterator[Path]:
        """Yield an empty folder to write step `step`'s files into; it becomes `step_path(step)`
        only when the block ends without an error (a crash leaves the previous steps as they were).

        Writing a step that exists replaces it (a trial re-running a step after a crash).
        """
        integer(step, what="step", owner="a checkpoint", low=0)
        self.path.mkdir(parents=True, exist_ok=True)
        temp = self.path / f".step-{step}.{os.getpid()}.tmp"
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir()
        try:
            yield temp
            _fsync_tree(temp)
            final = self.step_path(step)
            if final.exists():  # a rename cannot replace a non-empty folder: move the old one aside
                old = self.path / f".step-{step}.{os.getpid()}.old"
                shutil.rmtree(old, ignore_errors=True)
                os.replace(final, old)
                os.replace(temp, final)
                shutil.rmtree(old, ignore_errors=True)
            else:
                os.replace(temp, final)
        finally:
            shutil.rmtree(temp, ignore_errors=True)

    def link_from(self, source: CheckpointFolder, step: int) -> int | None:
        """Make `source`'s checkpoint at `step` (or its newest one before) this folder's, by hard
        links (a copy across filesystems), and return the step taken; None if source has none.

        The links survive the source trial deleting its own copy, so a fork keeps its start point.
        """
        taken = source.latest(at_most=step)
        if taken is None:
            return None
        with self.write(taken) as target:
            for item in source.step_path(taken).rglob("*"):
                dest = target / item.relative_to(source.step_path(taken))
                if item.is_dir():
                    dest.mkdir(parents=True, exist_ok=True)
                    continue
                dest.parent.mkdir(parents=True, exist_ok=True)
                try:
                    os.link(item, dest)
                except OSError:
                    shutil.copy2(item, dest)
        return taken

    def prune(self, retention: Retention, *, best: int | None, rungs: Collection[int] = ()) -> list[int]:
        """Delete the step checkpoints `retention` does not keep; return the steps deleted."""
        steps = self.steps()
        keep = retention.kept(steps, best=best, rungs=rungs)
        gone = [s for s in steps if s not in keep]
        for step in gone:
            shutil.rmtree(self.step_path(step), ignore_errors=True)
        return gone

    def disk_bytes(self) -> int:
        """Bytes used by the kept checkpoints (hard links to another trial's files count in full);
        the trial's logs and artifacts beside them are not checkpoints."""
        return sum(f.stat().st_size for step in self.steps()
                   for f in self.step_path(step).rglob("*") if f.is_file())

    def __repr__(self) -> str:
        return f"CheckpointFolder({str(self.path)!r})"


def _fsync_tree(folder: Path) -> None:
    """Flush every file under `folder` to disk, so the rename never reaches disk before the data."""
    for item in folder.rglob("*"):
        if item.is_file():
            with open(item, "rb") as file:
                os.fsync(file.fileno())
