"""Each trial's stdout and stderr, kept in `<study folder>/trial-<n>/logs/` and still shown.

**In a worker process** (a `ProcessExecutor` or Ray worker: any process other than the one that
called `optimize`) file descriptors 1 and 2 point into a pipe for the length of a trial, and a
thread copies what arrives to `stdout.txt` / `stderr.txt` *and* to where the descriptor pointed
before (the terminal): Python's prints, C and C++ libraries (PyTorch's warnings),
`os.write(1, ...)` and child processes are all caught. At the trial's end Python's and C's buffers
are flushed and a marker is sent through the pipe; once the thread has copied up to the marker the
descriptor is pointed back, so what trial n wrote never lands in trial n + 1's file. The pipe and
the thread are made once per process and kept between trials (a pipe and a thread per trial cost
about 1 ms). A child process that outlives its trial keeps writing into the pipe: its output then
reaches the terminal, and the file of whichever trial runs at that time.

**In the calling process** (the `SerialExecutor`, `n_jobs=1`) the descriptors belong to the user's
program: its terminal, the progress bar, its other threads, a notebook. There only Python-level
writes (`print`, `sys.stderr.write`, warnings) made by the trial's own thread are copied to the
files; everything still reaches the terminal as before, and output written below Python (C code,
`os.write`) is shown but not kept. Run with `n_jobs >= 2` (or `shoal worker`) to keep it too.

A file is made when its stream first receives something, so a quiet trial costs no file. Trials of
in-memory studies keep no logs (nothing could read them back), nor any trial when
`SHOAL_CAPTURE_LOGS=0`. A resumed trial appends to its files.
"""

from __future__ import annotations

import contextlib
import io
import os
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from shoal.storage import is_shareable, study_folder

if TYPE_CHECKING:
    from shoal.study._study import Study

__all__ = ["LOG_FILES", "capture", "logs_folder", "mark_calling_process", "read_log", "release_descriptors",
           "trial_logs"]

#: The files each trial's output goes to, by stream.
LOG_FILES = {"stdout": "stdout.txt", "stderr": "stderr.txt"}
#: Set to "0" to keep no logs.
ENV = "SHOAL_CAPTURE_LOGS"
#: Seconds a trial's end waits for the copying thread to reach its marker (a terminal that does
#: not read, say); past it the rest reaches the terminal only.
_DRAIN = 2.0
_CALLER: int | None = None  # the pid of the process that called optimize
_LOCK = threading.Lock()
_ROUTERS: dict[str, _Router] = {}  # the installed sys.stdout / sys.stderr wrappers, while in use
_FD_OWNER: list[int] = []  # the thread whose trial holds fds 1 and 2 (at most one per process)
_PUMPS: dict[int, _Pump] = {}  # by descriptor: made by the first captured trial of a worker process


def mark_calling_process() -> None:
    """Remember this process as the one that called optimize: its descriptors are the user's."""
    global _CALLER
    _CALLER = os.getpid()


def logs_folder(storage_url: str, study_name: str, number: int) -> Path:
    """`<artifacts root>/<study>/trial-<number>/logs`, beside the trial's checkpoints.

    >>> logs_folder("sqlite:////runs/shoal.db", "mnist", 3)
    PosixPath('/runs/shoal-artifacts/mnist/trial-3/logs')
    """
    return study_folder(storage_url, study_name) / f"trial-{number}" / "logs"


def trial_logs(study: Study, number: int) -> contextlib.AbstractContextManager[object]:
    """Capture trial `number`'s output while the block runs (nothing for an in-memory study)."""
    url = study.storage.url
    if os.environ.get(ENV, "1").strip() == "0" or not is_shareable(url):
        return contextlib.nullcontext()
    return capture(logs_folder(url, study.name, number), descriptors=os.getpid() != _CALLER)


class _Sink:
    """One log file, appended to by the descriptor's copying thread and by the Python-level tee;
    made (with its folder) at the first write, so a quiet trial leaves no file."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._file: io.FileIO | None = None
        self._done = False  # closed, or could not be made: writes are dropped
        self._lock = threading.Lock()

    def write(self, data: bytes) -> None:
        with self._lock:
            if self._file is None and not self._done:
                try:
                    self._path.parent.mkdir(parents=True, exist_ok=True)
                    self._file = open(self._path, "ab", buffering=0)  # noqa: SIM115 - closed by close()
                except OSError:  # a read-only or full disk: the trial runs on, its output shown
                    self._done = True
            if self._file is not None:
                self._file.write(data)

    def close(self) -> None:
        with self._lock:
            self._done = True
            if self._file is not None:
                self._file.close()
                self._file = None


class _Router(io.TextIOBase):
    """Stands in for sys.stdout or sys.stderr while trials are captured: a write made by a thread
    that runs a captured trial also goes to that trial's file; every write goes on to the stream
    it replaced, so the terminal (or notebook) shows what it showed before."""

    def __init__(self, original: TextIO) -> None:
        super().__init__()
        self.original = original
        self.sinks: dict[int, _Sink] = {}

    def write(self, text: str) -> int:
        sink = self.sinks.get(threading.get_ident())
        if sink is not None:
            with contextlib.suppress(Exception):  # a full disk must not break the trial's print
                sink.write(text.encode("utf-8", "backslashreplace"))
        return self.original.write(text)

    def flush(self) -> None:
        with contextlib.suppress(ValueError):  # the original was closed (its owner is done with it)
            self.original.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self.original.isatty()

    def fileno(self) -> int:
        return self.original.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return str(getattr(self.original, "encoding", "utf-8"))

    @property
    def errors(self) -> str | None:  # type: ignore[override]
        return getattr(self.original, "errors", None)

    def __getattr__(self, name: str) -> Any:  # buffer, mode, name, ...: the original's
        return getattr(self.original, name)


class _Pump:
    """A pipe that descriptor `fd` is pointed into while a trial runs, and a thread that copies
    what arrives to the trial's sink and to where `fd` pointed before. Kept for the process's life."""

    def __init__(self, fd: int) -> None:
        self.fd, self.pid = fd, os.getpid()
        self._saved = os.dup(fd)
        self._read, self._write = os.pipe()
        self.sink: _Sink | None = None
        self._lock = threading.Lock()
        self._marker: bytes | None = None
        self._reached = threading.Event()
        threading.Thread(target=self._copy, name=f"shoal-logs-fd{fd}", daemon=True).start()

    def _copy(self) -> None:
        held = b""  # the start of a marker, perhaps, split across two reads
        while data := os.read(self._read, 65536):
            buf = held + data
            marker = self._marker
            at = buf.find(marker) if marker else -1
            if marker is not None and at >= 0:
                self._emit(buf[:at])
                buf = buf[at + len(marker):]
                self._marker = None
                self._reached.set()
                marker = None
            keep = _overlap(buf, marker)
            self._emit(buf[:len(buf) - keep])
            held = buf[len(buf) - keep:]

    def _emit(self, data: bytes) -> None:
        if not data:
            return
        sink = self.sink
        if sink is not None:
            with contextlib.suppress(Exception):
                sink.write(data)
        _write_all(self._saved, data)

    def start(self, sink: _Sink) -> None:
        with self._lock:
            os.dup2(self.fd, self._saved)  # where fd points now (a test runner may have moved it)
            self.sink = sink
            os.dup2(self._write, self.fd)  # inheritable: a child process the objective starts is caught too

    def stop(self) -> None:
        """Copy everything written so far to the sink, then point `fd` back (once per start)."""
        with self._lock:
            if self.sink is None:
                return
            marker = b"\0shoal-logs-" + os.urandom(8).hex().encode() + b"\0"
            self._reached.clear()
            self._marker = marker
            with contextlib.suppress(OSError):
                os.write(self.fd, marker)  # at most PIPE_BUF bytes: never split by another writer
                self._reached.wait(_DRAIN)
            os.dup2(self._saved, self.fd)
            self._marker = None
            self.sink = None


def release_descriptors() -> None:
    """Point fds 1 and 2 back where they were, after copying what their pipes hold: for a worker
    about to end itself with `os._exit` (a trial stuck past its timeout), whose copying threads
    would die with output not yet shown. Safe from any thread; the trial's capture then ends quietly.
    """
    _flush_all()
    for pump in list(_PUMPS.values()):
        if pump.pid == os.getpid():
            pump.stop()


def _overlap(data: bytes, marker: bytes | None) -> int:
    """How many bytes at the end of `data` could begin `marker` (held back until the next read)."""
    if not marker:
        return 0
    for size in range(min(len(data), len(marker) - 1), 0, -1):
        if marker.startswith(data[-size:]):
            return size
    return 0


def _pump(fd: int) -> _Pump:
    pump = _PUMPS.get(fd)
    if pump is None or pump.pid != os.getpid():  # a forked child has the object, not the thread
        pump = _PUMPS[fd] = _Pump(fd)
    return pump


def _write_all(fd: int, data: bytes) -> None:
    with contextlib.suppress(OSError):  # the terminal is gone: the file still gets everything
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]


def _flush_all() -> None:
    """Empty Python's and C's output buffers, so what was written so far leaves through the
    descriptor as it is now (C's stdout is block-buffered on a pipe)."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(Exception):
            if stream is not None:
                stream.flush()
    with contextlib.suppress(Exception):
        _libc().fflush(None)


_LIBC: list[Any] = []


def _libc() -> Any:
    if not _LIBC:
        import ctypes  # here: `import shoal` need not load it

        _LIBC.append(ctypes.CDLL(None))
    return _LIBC[0]


def _fd_backed(stream: object, fd: int) -> bool:
    try:
        return stream is not None and stream.fileno() == fd  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return False


@contextlib.contextmanager
def capture(folder: Path, *, descriptors: bool) -> Iterator[None]:
    """Copy this thread's output, and with `descriptors` fds 1 and 2, into `folder`'s log files.

    Descriptors are taken by one trial at a time in a process; a trial in another thread meanwhile
    keeps its Python-level output only (which, written to a descriptor being copied, also reaches
    that trial's file: shoal's executors run one trial at a time per process). Capture never
    fails a trial: if a file cannot be made or a descriptor cannot be redirected, the trial runs
    on and its output is shown as usual.
    """
    sinks = {name: _Sink(folder / file) for name, file in LOG_FILES.items()}
    me = threading.get_ident()
    pumps: list[_Pump] = []
    routed: list[str] = []
    with _LOCK:
        take_fds = descriptors and not _FD_OWNER
        if take_fds:
            _FD_OWNER.append(me)
    try:
        if take_fds:
            _flush_all()  # what was written before the trial stays out of its files
            with contextlib.suppress(OSError):
                for fd, name in ((1, "stdout"), (2, "stderr")):
                    pump = _pump(fd)
                    pump.start(sinks[name])
                    pumps.append(pump)
        copied = {pump.fd for pump in pumps}
        with _LOCK:
            for name, fd in (("stdout", 1), ("stderr", 2)):
                stream = getattr(sys, name)
                if stream is None or (fd in copied and _fd_backed(stream, fd)):
                    continue  # its writes reach the descriptor, which is copied already
                router = _ROUTERS.get(name)
                if router is None:
                    router = _ROUTERS[name] = _Router(stream)
                    setattr(sys, name, router)
                router.sinks[me] = sinks[name]
                routed.append(name)
        yield
    finally:
        if pumps:
            _flush_all()
            for pump in reversed(pumps):
                pump.stop()
        with _LOCK:
            for name in routed:
                router = _ROUTERS[name]
                router.sinks.pop(me, None)
                if not router.sinks and getattr(sys, name) is router:  # the last capture: put it back
                    setattr(sys, name, router.original)
                    del _ROUTERS[name]
                elif not router.sinks:  # someone replaced it meanwhile; it passes everything on
                    del _ROUTERS[name]
            if take_fds:
                _FD_OWNER.clear()
        for sink in sinks.values():
            sink.close()


def read_log(path: Path, *, lines: int | None) -> tuple[str, bool] | None:
    """The last `lines` (>= 1) lines of a log file (all of it for None), and whether lines were
    left out; None when the file does not exist. Only the tail is read from a large file.

    >>> import tempfile
    >>> log = Path(tempfile.mkdtemp()) / "stdout.txt"
    >>> _ = log.write_text("".join(f"epoch {i}\\n" for i in range(100)))
    >>> read_log(log, lines=2)
    ('epoch 98\\nepoch 99\\n', True)
    """
    try:
        with open(path, "rb") as file:
            size = file.seek(0, os.SEEK_END)
            if lines is None:
                file.seek(0)
                return file.read().decode("utf-8", "replace"), False
            start, data = size, b""
            # one more newline than asked: the file's own last "\n" ends the last line
            while start > 0 and data.count(b"\n") <= lines:
                start = max(0, start - 65536)
                file.seek(start)
                data = file.read(size - start)
    except FileNotFoundError:
        return None
    kept = data.splitlines(keepends=True)
    return b"".join(kept[-lines:]).decode("utf-8", "replace"), len(kept) > lines
