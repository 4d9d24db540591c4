"""Per-trial logs: stdout and stderr kept in trial-<n>/logs, shown by `shoal trials --logs`."""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import pytest

import shoal
from shoal.cli import main
from shoal.study._logs import capture, logs_folder, read_log, release_descriptors

_LIBC = ctypes.CDLL(None)
_LIBC.fdopen.restype = ctypes.c_void_p
_C_STDOUT: dict[int, ctypes.c_void_p] = {}


def _c_stdout() -> ctypes.c_void_p:
    """A C stdio stream on descriptor 1, block-buffered on a pipe (one per worker process)."""
    if os.getpid() not in _C_STDOUT:
        _C_STDOUT[os.getpid()] = ctypes.c_void_p(_LIBC.fdopen(1, b"w"))
    return _C_STDOUT[os.getpid()]
_TOKEN = re.compile(r"(print|fd1|cprintf|child|fd2|err|thread) (\d+)")


def _noisy(trial: shoal.Trial) -> float:
    """Writes through every path a trial's output takes: Python, the descriptors, C's stdio
    buffer (left unflushed on purpose) and a child process."""
    n = trial.number
    print(f"print {n}")
    os.write(1, f"fd1 {n}\n".encode())
    os.write(2, f"fd2 {n}\n".encode())
    _LIBC.fputs(f"cprintf {n} ".encode(), _c_stdout())  # in C's buffer until the capture flushes it
    print(f"err {n}", file=sys.stderr)
    subprocess.run(["sh", "-c", f"echo child {n}"], check=True)
    time.sleep(0.02)
    return float(n)


def _tokens(text: str) -> Counter[tuple[str, int]]:
    return Counter((kind, int(n)) for kind, n in _TOKEN.findall(text))


def test_worker_processes_keep_each_trials_output_apart(tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/shoal.db"
    study = shoal.create_study(storage=url, study_name="w")
    study.optimize(_noisy, n_trials=6, n_jobs=2)
    assert len(study.trials) == 6
    workers = {t.worker for t in study.trials}
    assert len(workers) == 2  # each worker process ran several trials one after another
    for n in range(6):
        folder = logs_folder(url, "w", n)
        assert folder == tmp_path / "shoal-artifacts" / "w" / f"trial-{n}" / "logs"
        out, err = (folder / "stdout.txt").read_text(), (folder / "stderr.txt").read_text()
        # everything trial n wrote, once each, and nothing of any other trial
        assert _tokens(out) == Counter({("print", n): 1, ("fd1", n): 1, ("cprintf", n): 1, ("child", n): 1})
        assert _tokens(err) == Counter({("fd2", n): 1, ("err", n): 1})

    capsys.readouterr()
    assert main(["trials", "w", "--number", "4", "--logs", "--storage", url]) == 0
    shown = capsys.readouterr().out
    assert f"== stdout of trial 4 (all; {tmp_path}/shoal-artifacts/w/trial-4/logs/stdout.txt) ==" in shown
    assert _tokens(shown) == Counter({("print", 4): 1, ("fd1", 4): 1, ("cprintf", 4): 1, ("child", 4): 1,
                                      ("fd2", 4): 1, ("err", 4): 1})
    assert main(["trials", "w", "--number", "2", "--logs", "1", "--json", "--storage", url]) == 0
    data = capsys.readouterr().out
    assert '"truncated": true' in data
    assert _tokens(data) <= _tokens((logs_folder(url, "w", 2) / "stdout.txt").read_text()
                                    + (logs_folder(url, "w", 2) / "stderr.txt").read_text())


def test_the_calling_process_keeps_the_trial_threads_python_output(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/shoal.db"
    study = shoal.create_study(storage=url, study_name="serial")
    before = sys.stdout, sys.stderr

    def objective(trial: shoal.Trial) -> float:
        print(f"print {trial.number}")
        print(f"err {trial.number}", file=sys.stderr)
        other = threading.Thread(target=lambda: print(f"thread {trial.number}"))  # a progress bar, say
        other.start()
        other.join()
        return 0.0

    study.optimize(objective, n_trials=2)
    assert (sys.stdout, sys.stderr) == before  # the terminal's streams are back
    shown = capsys.readouterr()
    assert _tokens(shown.out) == Counter({("print", 0): 1, ("thread", 0): 1,
                                          ("print", 1): 1, ("thread", 1): 1})
    assert _tokens(shown.err) == Counter({("err", 0): 1, ("err", 1): 1})
    for n in (0, 1):
        folder = logs_folder(url, "serial", n)
        assert (folder / "stdout.txt").read_text() == f"print {n}\n"  # not the other thread's line
        assert (folder / "stderr.txt").read_text() == f"err {n}\n"


def test_no_logs_for_in_memory_studies_or_when_turned_off(tmp_path: Path,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_ARTIFACTS", str(tmp_path / "artifacts"))
    shoal.create_study(study_name="mem").optimize(lambda trial: print("hi") or 0.0, n_trials=1)
    assert not (tmp_path / "artifacts").exists()
    monkeypatch.setenv("SHOAL_CAPTURE_LOGS", "0")
    url = f"sqlite:///{tmp_path}/shoal.db"
    shoal.create_study(storage=url, study_name="off").optimize(lambda trial: 0.0, n_trials=1)
    assert not logs_folder(url, "off", 0).exists()


def test_cli_logs_without_number_or_kept_logs_says_what_to_do(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path}/shoal.db"
    monkeypatch.setenv("SHOAL_CAPTURE_LOGS", "0")
    shoal.create_study(storage=url, study_name="quiet").optimize(lambda trial: 0.0, n_trials=1)
    capsys.readouterr()
    assert main(["trials", "quiet", "--logs", "--storage", url]) != 0
    err = capsys.readouterr().err
    assert "--logs shows one trial's output: it needs --number K." in err
    assert f"shoal trials quiet --number 0 --logs --storage sqlite:///{tmp_path}/shoal.db" in err
    assert main(["trials", "quiet", "--number", "0", "--logs", "--storage", url]) != 0
    err = capsys.readouterr().err
    assert f"trial 0 of study 'quiet' has no logs in {tmp_path}/shoal-artifacts/quiet/trial-0/logs" in err
    assert main(["trials", "quiet", "--number", "0", "--logs", "-3", "--storage", url]) != 0
    assert "--logs must be a number of lines >= 1 or 'all'. Got '-3'." in capsys.readouterr().err


def test_read_log_tail_matches_the_whole_file(tmp_path: Path) -> None:
    path = tmp_path / "big.txt"
    lines = [f"line {i} " + "x" * (i % 97) + "\n" for i in range(3000)]  # ~150 kB: several blocks
    path.write_text("".join(lines) + "no newline at the end")
    every = path.read_text().splitlines(keepends=True)
    for n in (1, 2, 50, 1500, 3000):
        assert read_log(path, lines=n) == ("".join(every[-n:]), True)
    assert read_log(path, lines=3001) == ("".join(every), False)
    assert read_log(path, lines=None) == ("".join(every), False)
    assert read_log(tmp_path / "missing.txt", lines=5) is None


def test_a_child_that_outlives_its_trial_does_not_hold_the_capture(tmp_path: Path) -> None:
    started = time.perf_counter()
    with capture(tmp_path / "logs", descriptors=True):
        os.write(1, b"during\n")
        child = subprocess.Popen(["sh", "-c", "sleep 0.8; echo late"])  # keeps the pipe open
    assert time.perf_counter() - started < 0.7  # the trial did not wait for the child
    with capture(tmp_path / "next", descriptors=True):
        os.write(1, b"next trial\n")
    child.wait(timeout=10)
    time.sleep(0.1)
    assert (tmp_path / "logs" / "stdout.txt").read_text() == "during\n"  # "late" went to the terminal only
    assert (tmp_path / "next" / "stdout.txt").read_text() == "next trial\n"
    assert not (tmp_path / "logs" / "stderr.txt").exists()  # a quiet stream makes no file


def test_a_folder_that_cannot_be_made_leaves_the_trial_running(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("not a folder")
    with capture(tmp_path / "file" / "logs", descriptors=True):
        print("still shown")
        os.write(2, b"also shown\n")
    assert (tmp_path / "file").read_text() == "not a folder"


def test_release_points_the_descriptors_back_at_once(tmp_path: Path,
                                                     capfd: pytest.CaptureFixture[str]) -> None:
    with capture(tmp_path / "logs", descriptors=True):
        os.write(1, b"kept\n")
        release_descriptors()  # what a worker ending itself with os._exit calls first
        os.write(1, b"shown only\n")
    assert (tmp_path / "logs" / "stdout.txt").read_text() == "kept\n"
    assert capfd.readouterr().out == "kept\nshown only\n"  # and no marker on the terminal
