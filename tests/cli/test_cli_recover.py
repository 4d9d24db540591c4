"""`shoal recover BAD NEW`: a table of what was copied, the next command, one-line refusals."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import shoal

Run = Callable[..., tuple[int, str, str]]


def test_recover_prints_a_table_and_the_next_command(run: Run, url: str, tmp_path: Path) -> None:
    study = shoal.create_study("s", storage=url, direction="minimize")
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=3)
    code, out, err = run("recover", "s.db", "copy.db")  # paths relative to the current folder
    assert (code, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == f"Recovered {tmp_path / 's.db'} into {tmp_path / 'copy.db'}"
    assert any([cell.strip() for cell in line.split("│")[1:5]] == ["shoal_trials", "3", "0", "0"]
               for line in lines), out
    assert lines[-2:] == [f"Next: shoal studies --storage sqlite:///{tmp_path / 'copy.db'}",
                          f"Keep {tmp_path / 's.db'} until you have checked the copy."]
    code, out, _ = run("studies", "--storage", f"sqlite:///{tmp_path / 'copy.db'}", "--json")
    assert code == 0
    assert [s["name"] for s in json.loads(out)] == ["s"]


def test_recover_takes_urls_and_speaks_json(run: Run, url: str, tmp_path: Path) -> None:
    shoal.create_study("s", storage=url, direction="minimize")
    code, out, _ = run("recover", url, f"sqlite:///{tmp_path / 'copy.db'}", "--json")
    assert code == 0
    data = json.loads(out)
    assert (data["url"], data["complete"]) == (f"sqlite:///{tmp_path / 'copy.db'}", True)
    assert {t["table"]: t["copied"] for t in data["tables"]}["shoal_studies"] == 1


def test_recover_refuses_an_existing_target_in_one_line(run: Run, url: str, tmp_path: Path) -> None:
    shoal.create_study("s", storage=url, direction="minimize")
    (tmp_path / "copy.db").write_text("mine")
    code, out, err = run("recover", "s.db", "copy.db")
    assert (code, out) == (1, "")
    assert err == (f"Error: target {tmp_path / 'copy.db'} of shoal recover must be a new file, "
                   "but it exists; nothing was written. Give a path that does not exist yet, "
                   f"e.g. {tmp_path / 'copy-2.db'}.\n")
    assert (tmp_path / "copy.db").read_text() == "mine"
