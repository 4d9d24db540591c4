"""`shoal dashboard`: refusals in one line, and a real server process that stops cleanly on Ctrl-C."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from dashboard_support import quadratic_study

from shoal.cli import main
from shoal.storage import Storage


def test_a_remote_host_without_allow_remote_is_one_line(url: str, storage: Storage,
                                                        capsys: pytest.CaptureFixture[str]) -> None:
    quadratic_study(storage, "quad", 2)
    assert main(["dashboard", "--storage", url, "--host", "0.0.0.0", "--port", "0"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert err[0].startswith("Error: host of shoal dashboard must be a loopback address")
    assert err[0].endswith("Add --allow-remote (every request then needs the token it prints).")


def test_a_missing_database_is_an_error_and_is_not_created(tmp_path: Path,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nothing.db"
    assert main(["dashboard", "--storage", f"sqlite:///{missing}", "--port", "0"]) == 1
    assert capsys.readouterr().err.startswith("Error: ")
    assert not missing.exists()


def _get(url: str, token: str | None = None) -> int:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            json.loads(response.read())
            return int(response.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def test_remote_dashboard_prints_a_token_requires_it_and_stops_on_ctrl_c(url: str, storage: Storage) -> None:
    quadratic_study(storage, "quad", 2)
    code = "import sys; from shoal.cli import main; sys.exit(main(sys.argv[1:]))"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    argv = [sys.executable, "-c", code, "dashboard", "--storage", url, "--host", "0.0.0.0", "--port", "0",
            "--allow-remote"]
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        found = re.search(r"http://[^:]+:(\d+)/\?token=([A-Za-z0-9_-]{40,})", line)
        assert found, line
        port, token = found.groups()
        base = f"http://127.0.0.1:{port}/api/studies"
        assert _get(base) == 401
        assert _get(base, "wrong") == 401
        assert _get(base, token) == 200
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert "shoal dashboard: stopped." in out
