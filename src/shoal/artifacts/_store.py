"""Where artifacts are kept: a small store protocol and its fsspec implementation.

A store maps keys (`/`-separated relative paths such as `mnist/trial-3/artifacts/model.pt`) to
files or folders under one root. `FsspecStore` works with any fsspec URL: a local folder or
`file:///...` (an NFS mount shared by every machine), `s3://bucket/prefix` with s3fs installed,
`gs://...` with gcsfs, and so on. fsspec is imported when a store is made, never by `import shoal`.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from shoal._validate import config_error

__all__ = ["ArtifactInfo", "ArtifactStore", "FsspecStore"]


@dataclass(frozen=True)
class ArtifactInfo:
    """One stored artifact of a trial.

    Args:
        name: Its name within the trial (a file or folder name).
        size: Bytes; for a folder, the total of the files inside.
        is_folder: True for an uploaded folder.
        uri: Where it is: the store's root URL (or folder) joined with its key.
    """

    name: str
    size: int
    is_folder: bool
    uri: str


@runtime_checkable
class ArtifactStore(Protocol):
    """Files and folders under keys; a key appears whole or not at all where the backend allows."""

    def put(self, key: str, source: Path, *, overwrite: bool = False) -> None:
        """Store the file or folder `source` under `key`; refuse an existing key unless `overwrite`."""
        ...

    def get(self, key: str, dest: Path) -> None:
        """Copy what `key` holds to `dest` (a file, or a folder for a folder)."""
        ...

    def list(self, prefix: str) -> list[ArtifactInfo]:
        """What is stored directly under `prefix`, by name (the names of keys `prefix/<name>`)."""
        ...


def _fsspec() -> Any:
    try:
        import fsspec
    except ImportError:  # pragma: no cover - fsspec is a dev dependency
        raise ImportError("shoal.artifacts needs fsspec: pip install 'shoal[artifacts]'") from None
    return fsspec


class FsspecStore:
    """An `ArtifactStore` on any fsspec file system.

    Writes go to a hidden temporary key (`.<name>.<random>.tmp` beside the target), which is then
    moved into place: on a local or NFS folder the move is one rename, so a reader never sees a
    partial artifact and a failed upload leaves none. Object stores (S3, GCS) have no rename: each
    file appears whole, but a folder appears file by file as it is moved.

    Args:
        root: A folder or any fsspec URL (`file:///shared/shoal`, `s3://bucket/prefix`).
        options: Passed to the file system (credentials, endpoint), as `fsspec.url_to_fs` takes them.

    >>> import tempfile
    >>> store = FsspecStore(tempfile.mkdtemp())
    >>> source = Path(tempfile.mkdtemp()) / "notes.txt"
    >>> _ = source.write_text("hello")
    >>> store.put("study/trial-0/artifacts/notes.txt", source)
    >>> [(a.name, a.size, a.is_folder) for a in store.list("study/trial-0/artifacts")]
    [('notes.txt', 5, False)]
    """

    def __init__(self, root: str | os.PathLike[str], **options: Any) -> None:
        self.root = os.fspath(root)
        fs, path = _fsspec().core.url_to_fs(self.root, **options)
        self._fs: Any = fs
        self._base: str = str(path).rstrip("/")

    def _path(self, key: str) -> str:
        return f"{self._base}/{key}" if key else self._base

    def uri(self, key: str) -> str:
        """The full URL (or path) of `key`, for messages and `ArtifactInfo.uri`."""
        return f"{self.root.rstrip('/')}/{key}"

    def exists(self, key: str) -> bool:
        """True when something is stored under `key`."""
        return bool(self._fs.exists(self._path(key)))

    def put(self, key: str, source: Path, *, overwrite: bool = False) -> None:
        """Store `source` (a file or a folder) under `key`, atomically where the backend can."""
        source = Path(source)
        if not source.exists():
            raise config_error("path", "an artifact upload", "an existing file or folder", str(source))
        parent, _, name = key.rpartition("/")
        if not overwrite and self.exists(key):
            raise _taken(key, self.uri(key))
        temp = f"{parent}/.{name}.{uuid.uuid4().hex[:12]}.tmp"
        with self._removed_on_error(temp):
            self._upload(source, self._path(temp))
            if self.exists(key):
                if not overwrite:  # another writer was faster: keep theirs, drop ours
                    raise _taken(key, self.uri(key))
                old = f"{parent}/.{name}.{uuid.uuid4().hex[:12]}.old"
                self._fs.mv(self._path(key), self._path(old), recursive=True)
                self._fs.mv(self._path(temp), self._path(key), recursive=True)
                self._fs.rm(self._path(old), recursive=True)
            else:
                self._fs.mv(self._path(temp), self._path(key), recursive=True)

    @contextlib.contextmanager
    def _removed_on_error(self, key: str) -> Iterator[None]:
        try:
            yield
        except BaseException:
            with contextlib.suppress(Exception):  # the original error matters, not the clean-up's
                if self._fs.exists(self._path(key)):
                    self._fs.rm(self._path(key), recursive=True)
            raise

    def _upload(self, source: Path, target: str) -> None:
        """Copy file by file: fsspec's recursive `put` treats trailing slashes and globs specially."""
        if source.is_file():
            self._fs.makedirs(target.rpartition("/")[0], exist_ok=True)
            self._fs.put_file(str(source), target)
            return
        self._fs.makedirs(target, exist_ok=True)
        for folder, dirs, files in os.walk(source):
            rel = Path(folder).relative_to(source).as_posix()
            here = target if rel == "." else f"{target}/{rel}"
            for sub in sorted(dirs):
                self._fs.makedirs(f"{here}/{sub}", exist_ok=True)
            for file in sorted(files):
                self._fs.put_file(os.path.join(folder, file), f"{here}/{file}")

    def get(self, key: str, dest: Path) -> None:
        """Copy `key` to `dest`: a file to the file `dest`, a folder's files into the folder `dest`."""
        path = self._path(key)
        dest = Path(dest)
        if not self._fs.isdir(path):
            dest.parent.mkdir(parents=True, exist_ok=True)
            self._fs.get_file(path, str(dest))
            return
        dest.mkdir(parents=True, exist_ok=True)
        for item in self._fs.find(path, withdirs=True, detail=False):
            rel = str(item)[len(path):].lstrip("/")
            if not rel:
                continue
            if self._fs.isdir(item):
                (dest / rel).mkdir(parents=True, exist_ok=True)
            else:
                (dest / rel).parent.mkdir(parents=True, exist_ok=True)
                self._fs.get_file(item, str(dest / rel))

    def list(self, prefix: str) -> list[ArtifactInfo]:
        """The artifacts directly under `prefix`, by name; hidden (temporary) entries are skipped."""
        path = self._path(prefix)
        if not self._fs.isdir(path):
            return []
        found = []
        for entry in self._fs.ls(path, detail=True):
            name = str(entry["name"]).rstrip("/").rpartition("/")[2]
            if name.startswith("."):
                continue
            folder = entry.get("type") == "directory"
            size = int(self._fs.du(entry["name"], total=True)) if folder else int(entry.get("size") or 0)
            found.append(ArtifactInfo(name=name, size=size, is_folder=folder,
                                      uri=self.uri(f"{prefix}/{name}")))
        return sorted(found, key=lambda a: a.name)

    def __repr__(self) -> str:
        return f"FsspecStore({self.root!r})"


def _taken(key: str, uri: str) -> Exception:
    name = key.rpartition("/")[2]
    return config_error("name", "an artifact upload", "new in its trial", name,
                        f"{uri} exists already: pass overwrite=True to replace it, or another name=.")
