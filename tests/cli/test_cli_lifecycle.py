"""`shoal studies`, `trials` and `export` on paused, resumed, forked and retried trials.

The study is written with storage calls directly (no objective runs), on a real SQLite file.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import shoal.cli._inspect
from shoal.clock import FakeClock
from shoal.storage import open_storage
from shoal.trial import Direction, TrialState

Run = Callable[..., tuple[int, str, str]]
PAUSED, COMPLETE = TrialState.PAUSED, TrialState.COMPLETE
FORK = {"event": "forked", "parent": 0, "step": 9, "changed": {"lr": [0.01, 0.012]},
        "replaces": 1, "at": 1010.0}


@pytest.fixture
def mf(url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """Study 'mf' (minimize): #0 paused at steps 4, 7 (at 1001, 1002: resumed at once) and 9
    (1003), with 3 checkpoints kept; #1 complete; #2 a fork of #0 @ 9 with a new lr, running
    since 1003; #3 a retry of #1, paused at 1003 before any report; #4 complete, never paused."""
    clock = FakeClock(1000.0)
    monkeypatch.setattr(shoal.cli._inspect, "CLOCK", FakeClock(1012.0))  # heartbeats are fresh
    storage = open_storage(url, clock=clock)
    sid = storage.create_study("mf", [Direction.MINIMIZE]).study_id
    t0 = storage.create_trial(sid, params={"lr": 0.01}, worker="w0")
    t1 = storage.create_trial(sid, params={"lr": 0.1}, worker="w1")
    for step in range(3):  # paused at 4 and resumed, paused at 7 and resumed, paused at 9
        for s in range(3 * step + 2, 3 * step + 5 if step < 2 else 10):
            storage.update_trial(t0.trial_id, intermediate={s: 1.0 / (s + 1)})
        clock.advance(1.0)
        storage.finish_trial(t0.trial_id, state=PAUSED, system_attrs={
            "checkpoints": {"steps": [4, 7, 9][: step + 1], "bytes": 3 * 2**20 * (step + 1)}})
        if step < 2:
            storage.resume_trial(t0.trial_id, worker=f"w{step + 2}")
    storage.update_trial(t1.trial_id, intermediate={0: 0.5})
    storage.finish_trial(t1.trial_id, state=COMPLETE, values=[0.5])
    storage.create_trial(sid, params={"lr": 0.012}, parent=0, lineage=[FORK], worker="w5")
    t3 = storage.create_trial(sid, params={"lr": 0.1}, parent=1, worker="w6",
                              system_attrs={"retry_of": 1, "retry_count": 1})
    storage.finish_trial(t3.trial_id, state=PAUSED)
    t4 = storage.create_trial(sid, params={"lr": 0.2})
    storage.finish_trial(t4.trial_id, state=COMPLETE, values=[0.7])
    storage.close()
    return url


def _pairs(out: str) -> dict[str, str]:
    """The `key: value` lines of `shoal trials NAME --number K`."""
    pairs = {}
    for line in out.splitlines():
        key, sep, value = line.partition(":")
        if sep and value.startswith(" ") and not line.startswith((" ", "Trial")):
            pairs[key] = value.strip()
    return pairs


def _rows(out: str) -> dict[str, str]:
    """The table's body lines by trial number (the first cell)."""
    rows = {}
    for line in out.splitlines():
        cells = [c.strip() for c in line.strip("│┃ ").split("│")]
        if cells and cells[0].isdigit():
            rows[cells[0]] = line
    return rows


def test_studies_counts_paused_trials(run: Run, mf: str) -> None:
    code, out, err = run("studies", "--storage", mf)
    assert code == 0, err
    assert "2 complete, 1 running, 2 paused" in out
    assert "stale" not in out  # a paused trial has no heartbeat to lose
    [study] = json.loads(run("studies", "--storage", mf, "--json")[1])
    assert study["states"] == {"COMPLETE": 2, "RUNNING": 1, "PAUSED": 2}
    assert study["stale_trials"] == []
    assert study["heartbeat_ages"] == {"2": 9.0}  # the running fork only (started at 1003)


def test_trials_table_shows_paused_trials_and_lineage_notes(run: Run, mf: str) -> None:
    code, out, err = run("trials", "mf", "--storage", mf)
    assert code == 0, err
    rows = _rows(out)
    assert sorted(rows) == ["0", "1", "2", "3", "4"]
    assert "PAUSED" in rows["0"]
    assert "0.1 @9" in rows["0"]  # its last report @ its last step
    assert "resumed 2x" in rows["0"]
    assert "fork of #0 @ 9 (lr 0.01 -> 0.012), replaces #1" in rows["2"]
    assert "RUNNING" in rows["2"]
    assert "PAUSED" in rows["3"]
    assert "retry of #1" in rows["3"]
    assert "resumed" not in rows["3"]
    assert "fork" not in rows["4"]
    assert "resumed" not in rows["4"]
    assert "lineage" in out.splitlines()[2]  # the column's header
    assert "a paused trial's value is its last report @ the step it stopped at" in out


def test_trials_table_without_lineage_has_no_lineage_column(run: Run, url: str) -> None:
    storage = open_storage(url)
    sid = storage.create_study("plain", [Direction.MINIMIZE]).study_id
    trial = storage.create_trial(sid, params={"x": 1})
    storage.finish_trial(trial.trial_id, state=COMPLETE, values=[1.0])
    storage.close()
    code, out, _ = run("trials", "plain", "--storage", url)
    assert code == 0
    assert "lineage" not in out
    assert "last report" not in out


def test_trials_state_filter_takes_paused(run: Run, mf: str) -> None:
    code, out, _ = run("trials", "mf", "--storage", mf, "--state", "paused", "--json")
    assert code == 0
    assert [(t["number"], t["state"]) for t in json.loads(out)] == [(0, "PAUSED"), (3, "PAUSED")]


def test_trials_json_has_lineage_and_checkpoints(run: Run, mf: str) -> None:
    code, out, _ = run("trials", "mf", "--storage", mf, "--json")
    assert code == 0
    trials = {t["number"]: t for t in json.loads(out)}
    assert [(e["event"], e["step"]) for e in trials[0]["lineage"]] == [
        ("paused", 4), ("resumed", 4), ("paused", 7), ("resumed", 7), ("paused", 9)]
    assert [e.get("worker") for e in trials[0]["lineage"]] == [None, "w2", None, "w3", None]
    assert trials[0]["checkpoints"] == {"steps": [4, 7, 9], "bytes": 9 * 2**20}
    assert trials[2]["lineage"] == [FORK]
    assert trials[3]["lineage"] == [{"event": "paused", "step": None, "at": 1003.0}]
    assert trials[4]["lineage"] == []
    assert trials[1]["checkpoints"] is None


def test_one_trial_lists_its_lineage_events_and_checkpoints(run: Run, mf: str) -> None:
    code, out, err = run("trials", "mf", "--storage", mf, "--number", "0")
    assert code == 0, err
    pairs = _pairs(out)
    assert (pairs["state"], pairs["value"], pairs["worker"]) == ("PAUSED", "0.1 @9", "w3")
    assert pairs["lineage"] == "resumed 2x"
    assert pairs["checkpoints kept"] == "steps 4, 7, 9 (9 MiB on disk)"
    assert "start step" not in pairs
    assert "System attributes" not in out  # checkpoints is its only one, shown above
    lines = out.splitlines()
    start = lines.index("Lineage:")
    events = [line for line in lines[start:] if any(f" {e} " in line for e in ("paused", "resumed"))]
    assert [line.split("│")[1].strip() for line in events] == [
        "paused", "resumed", "paused", "resumed", "paused"]
    assert [line.split("│")[2].strip() for line in events] == ["4", "4", "7", "7", "9"]
    assert "by w2" in events[1]
    assert "by w3" in events[3]
    code, out, _ = run("trials", "mf", "--storage", mf, "--number", "0", "--json")
    full = json.loads(out)
    assert full["checkpoints"] == {"steps": [4, 7, 9], "bytes": 9 * 2**20}
    assert len(full["lineage"]) == 5
    assert full["system_attrs"]["checkpoints"] == full["checkpoints"]


def test_one_forked_trial_says_where_it_starts(run: Run, mf: str) -> None:
    code, out, _ = run("trials", "mf", "--storage", mf, "--number", "2")
    assert code == 0
    pairs = _pairs(out)
    assert (pairs["parent trial"], pairs["start step"]) == ("0", "10")
    assert pairs["lineage"] == "fork of #0 @ 9 (lr 0.01 -> 0.012), replaces #1"
    assert "Lineage:" in out
    [row] = [line for line in out.splitlines() if line.startswith("│ forked")]
    assert [c.strip() for c in row.split("│")[1:3]] == ["forked", "9"]
    assert row.split("│")[4].strip() == "from #0 (lr 0.01 -> 0.012), replaces #1"
    code, out, _ = run("trials", "mf", "--storage", mf, "--number", "4")
    assert "Lineage:" not in out
    assert "lineage" not in out
    assert "checkpoints" not in out


def test_export_has_parent_and_lineage_columns(run: Run, mf: str, tmp_path: Path) -> None:
    code, out, _ = run("export", "mf", "--storage", mf)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert [r["parent"] for r in rows] == ["", "", "0", "1", ""]
    assert json.loads(rows[2]["lineage"]) == [FORK]
    assert [e["event"] for e in json.loads(rows[0]["lineage"])] == [
        "paused", "resumed", "paused", "resumed", "paused"]
    assert json.loads(rows[4]["lineage"]) == []
    target = tmp_path / "mf.json"
    code, _, _ = run("export", "mf", "--storage", mf, "--output", str(target))
    exported = json.loads(target.read_text())
    assert [r["parent"] for r in exported] == [None, None, 0, 1, None]
    assert exported[2]["lineage"] == [FORK]


def test_a_fork_without_a_checkpoint_starts_from_scratch(run: Run, url: str) -> None:
    storage = open_storage(url)
    sid = storage.create_study("scratch", [Direction.MINIMIZE]).study_id
    storage.create_trial(sid, params={"lr": 0.1})
    fork = {**FORK, "step": None, "replaces": None}
    storage.create_trial(sid, params={"lr": 0.012}, parent=0, lineage=[fork])
    storage.close()
    code, out, err = run("trials", "scratch", "--storage", url, "--number", "1")
    assert code == 0, err
    pairs = _pairs(out)
    assert pairs["lineage"] == "fork of #0 (lr 0.01 -> 0.012)"
    assert "start step" not in pairs
    code, out, _ = run("trials", "scratch", "--storage", url)
    assert "fork of #0 (lr 0.01 -> 0.012)" in _rows(out)["1"]
