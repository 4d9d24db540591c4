"""`shoal studies`, `trials`, `best` and `export`, on a real SQLite file."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path

import pytest

import shoal
import shoal.cli._inspect
from shoal import TrialState
from shoal.clock import FakeClock
from shoal.storage import open_storage

Run = Callable[..., tuple[int, str, str]]


def test_studies_on_an_empty_storage_says_how_to_start(run: Run, url: str, tmp_path: Path) -> None:
    code, out, err = run("studies", "--storage", url)
    assert code == 0, err
    assert "No studies in" in out
    assert "shoal tune CONFIG.yaml" in out
    assert not (tmp_path / "s.db").exists()  # reading must not create the database
    code, out, _ = run("studies", "--storage", url, "--json")
    assert (code, json.loads(out)) == (0, [])


def test_studies_table_and_json(run: Run, url: str, mlp: shoal.Study) -> None:
    code, out, _ = run("studies", "--storage", url)
    assert code == 0
    assert "mlp" in out
    assert "minimize" in out
    assert "3 complete, 1 pruned, 1 failed" in out
    code, out, _ = run("--storage", url, "studies", "--json")  # --storage before the command works too
    [study] = json.loads(out)
    assert study["name"] == "mlp"
    assert study["n_trials"] == 5
    assert study["states"] == {"COMPLETE": 3, "PRUNED": 1, "FAILED": 1}
    assert study["best_value"] == mlp.best_value
    assert study["best_trial"] == mlp.best_trial.number


def test_default_storage_comes_from_the_environment(run: Run, url: str, mlp: shoal.Study,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_STORAGE", url)
    code, out, _ = run("studies", "--json")
    assert code == 0
    assert [s["name"] for s in json.loads(out)] == ["mlp"]


def test_trials_table_filters_and_json(run: Run, url: str, mlp: shoal.Study) -> None:
    code, out, _ = run("trials", "mlp", "--storage", url)
    assert code == 0
    for state in ("COMPLETE", "FAILED", "PRUNED"):
        assert state in out
    assert "ValueError: boom" in out
    assert "lr=" in out

    code, out, _ = run("trials", "mlp", "--storage", url, "--json")
    rows = json.loads(out)
    assert [r["number"] for r in rows] == [0, 1, 2, 3, 4]
    assert rows[2]["fail_reason"] == "ValueError: boom"
    assert rows[0]["params"] == dict(mlp.trials[0].params)

    code, out, _ = run("trials", "mlp", "--storage", url, "--state", "complete", "--limit", "2", "--json")
    assert [r["number"] for r in json.loads(out)] == [1, 4]  # the two most recent complete trials


def test_one_trial_in_full_shows_traceback_and_intermediate_values(run: Run, url: str,
                                                                  mlp: shoal.Study) -> None:
    code, out, _ = run("trials", "mlp", "--number", "2", "--storage", url)
    assert code == 0
    assert "FAILED" in out
    assert "Traceback (most recent call last)" in out
    assert 'raise ValueError("boom")' in out
    assert "Intermediate values" in out
    assert "1.5" in out

    code, out, _ = run("trials", "mlp", "--number", "2", "--storage", url, "--json")
    trial = json.loads(out)
    assert trial["intermediate"] == {"0": 2.0, "1": 1.5}
    assert "Traceback" in trial["system_attrs"]["traceback"]


def test_unknown_trial_number_and_bad_state(run: Run, url: str, mlp: shoal.Study) -> None:
    code, _, err = run("trials", "mlp", "--number", "99", "--storage", url)
    assert code == 1
    assert err.startswith("Error: study 'mlp' has no trial number 99")
    code, _, err = run("trials", "mlp", "--state", "done", "--storage", url)
    assert code == 1
    assert "--state must be one of" in err


def test_best_prints_number_value_params(run: Run, url: str, mlp: shoal.Study) -> None:
    best = mlp.best_trial
    code, out, _ = run("best", "mlp", "--storage", url)
    assert code == 0
    assert f"best trial:       {best.number}" in out
    assert "act:" in out
    code, out, _ = run("best", "mlp", "--storage", url, "--json")
    data = json.loads(out)
    assert data["number"] == best.number
    assert data["value"] == best.value
    assert data["params"] == dict(best.params)


def test_best_without_completed_trials_says_why(run: Run, url: str) -> None:
    study = shoal.create_study("empty", storage=url)
    study.tell(study.ask(), state=TrialState.FAILED, reason="oops")
    code, out, err = run("best", "empty", "--storage", url)
    assert code == 1
    assert out == ""
    assert err.startswith("Error: study 'empty' has no completed trial yet (1 failed)")


def test_unknown_study_is_one_line_error(run: Run, url: str, mlp: shoal.Study) -> None:
    for command in (["trials", "mnist"], ["best", "mnist"], ["export", "mnist"], ["delete", "mnist"],
                    ["enqueue", "mnist", "lr=0.1"]):
        code, out, err = run(*command, "--storage", url)
        assert code == 1, command
        assert out == ""
        assert err.startswith(f"Error: no study named 'mnist' in {url}.")
        assert "shoal studies" in err
        assert "Traceback" not in err


def test_unknown_study_in_a_missing_file(run: Run, tmp_path: Path) -> None:
    code, _, err = run("best", "demo")  # ./shoal.db does not exist in the test's folder
    assert code == 1
    assert err.startswith("Error: no study named 'demo' in sqlite:///shoal.db")
    assert not (tmp_path / "shoal.db").exists()


def test_export_csv_has_header_and_one_row_per_trial(run: Run, url: str, mlp: shoal.Study) -> None:
    code, out, _ = run("export", "mlp", "--format", "csv", "--storage", url)
    assert code == 0
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == 5
    assert [r["number"] for r in rows] == ["0", "1", "2", "3", "4"]
    assert {"state", "value", "params_lr", "params_units", "params_act", "fail_reason"} <= set(rows[0])
    assert rows[2]["fail_reason"] == "ValueError: boom"
    assert float(rows[0]["params_lr"]) == mlp.trials[0].params["lr"]


def test_export_json_to_a_file(run: Run, url: str, mlp: shoal.Study, tmp_path: Path) -> None:
    target = tmp_path / "trials.json"
    code, out, _ = run("export", "mlp", "--output", str(target), "--storage", url)  # .json implies json
    assert code == 0
    assert "Wrote 5 trials" in out
    rows = json.loads(target.read_text())
    assert [r["state"] for r in rows] == ["COMPLETE", "COMPLETE", "FAILED", "PRUNED", "COMPLETE"]


def test_export_to_an_unwritable_place(run: Run, url: str, mlp: shoal.Study, tmp_path: Path) -> None:
    code, _, err = run("export", "mlp", "--output", str(tmp_path / "no" / "such" / "x.csv"), "--storage", url)
    assert code == 1
    assert err.startswith("Error: cannot write")


def test_usage_errors_exit_2(run: Run) -> None:
    assert run("trials")[0] == 2
    assert run("frobnicate")[0] == 2
    assert run("trials", "x", "--limit", "0")[0] == 2
    code, _, err = run()
    assert code == 2
    assert "studies" in err


def test_trials_sort_by_value_best_first_and_top_k(run: Run, url: str, mlp: shoal.Study) -> None:
    complete = sorted((t for t in mlp.trials if t.state is TrialState.COMPLETE), key=lambda t: t.value or 0.0)
    best_first = [t.number for t in complete]
    code, out, err = run("trials", "mlp", "--storage", url, "--sort", "value", "--json")
    assert code == 0, err
    assert [r["number"] for r in json.loads(out)] == [*best_first, 2, 3]  # no final value: last, by number
    code, out, _ = run("trials", "mlp", "--storage", url, "--top", "2", "--json")  # --top sorts by value
    assert [r["number"] for r in json.loads(out)] == best_first[:2]
    code, out, _ = run("trials", "mlp", "--storage", url, "--top", "1")
    assert code == 0
    assert "best first" in out
    assert out.count("COMPLETE") == 1  # one row
    code, out, _ = run("trials", "mlp", "--storage", url, "--state", "complete", "--sort", "number",
                       "--top", "2", "--json")
    assert [r["number"] for r in json.loads(out)] == [0, 1]


def test_sort_by_value_respects_a_maximised_study(run: Run, url: str) -> None:
    study = shoal.create_study("acc", storage=url, direction="maximize")
    for value in (0.5, 0.9, 0.7):
        study.tell(study.ask(), value)
    code, out, _ = run("trials", "acc", "--storage", url, "--sort", "value", "--json")
    assert [r["value"] for r in json.loads(out)] == [0.9, 0.7, 0.5]
    code, out, _ = run("trials", "acc", "--storage", url, "--top", "1", "--json")
    assert code == 0
    assert [r["number"] for r in json.loads(out)] == [1]


def test_sort_by_duration_longest_first(run: Run, url: str) -> None:
    clock = FakeClock(1000.0)
    study = shoal.create_study("slow", storage=open_storage(url, clock=clock))
    for seconds in (5.0, 30.0, 10.0):
        trial = study.ask()
        clock.advance(seconds)
        study.tell(trial, seconds)
    code, out, _ = run("trials", "slow", "--storage", url, "--sort", "duration", "--json")
    assert code == 0
    assert [r["duration"] for r in json.loads(out)] == [30.0, 10.0, 5.0]


def test_bad_sort_key_and_number_with_sort(run: Run, url: str, mlp: shoal.Study) -> None:
    code, _, err = run("trials", "mlp", "--storage", url, "--sort", "loss")
    assert code == 1
    assert err.splitlines()[0] == "Error: --sort must be one of value, number, duration. Got 'loss'."
    code, _, err = run("trials", "mlp", "--storage", url, "--number", "1", "--top", "3")
    assert code == 1
    assert "does not combine with" in err
    assert run("trials", "mlp", "--storage", url, "--top", "0")[0] == 2


def _running_trials(url: str) -> None:
    """Study 'live' with trial 0 COMPLETE, trial 1 RUNNING with a heartbeat at t=1000 (its worker was
    SIGKILLed) and trial 2 RUNNING with a heartbeat at t=1590."""
    old = open_storage(url, clock=FakeClock(1000.0))
    study = shoal.create_study("live", storage=old)
    old.finish_trial(old.create_trial(study.study_id).trial_id, state=TrialState.COMPLETE, values=[1.0])
    old.create_trial(study.study_id)
    fresh = open_storage(url, clock=FakeClock(1590.0))
    fresh.create_trial(study.study_id)


def test_a_dead_running_trial_is_shown_stale_without_writing(run: Run, url: str,
                                                            monkeypatch: pytest.MonkeyPatch) -> None:
    _running_trials(url)
    monkeypatch.setattr(shoal.cli._inspect, "CLOCK", FakeClock(1600.0))
    code, out, err = run("studies", "--storage", url)
    assert code == 0, err
    assert "1 complete, 2 running; 1 running trial stale (no heartbeat for 10m00s)" in out
    assert "probably dead" in out
    code, out, _ = run("studies", "--storage", url, "--json")
    [summary] = json.loads(out)
    assert summary["stale_trials"] == [1]
    assert summary["heartbeat_ages"] == {"1": 600.0, "2": 10.0}

    code, out, _ = run("trials", "live", "--storage", url)
    assert code == 0
    assert "10m00s ago (stale)" in out
    assert "10.0s ago" in out
    code, out, _ = run("trials", "live", "--storage", url, "--json")
    rows = json.loads(out)
    assert [(r.get("heartbeat_age"), r.get("stale")) for r in rows] == [(None, None), (600.0, True),
                                                                        (10.0, False)]
    code, out, _ = run("trials", "live", "--storage", url, "--number", "1")
    assert "heartbeat:" in out
    assert "10m00s ago (stale)" in out
    code, out, _ = run("trials", "live", "--storage", url, "--grace", "900", "--json")
    assert [r.get("stale") for r in json.loads(out)] == [None, False, False]
    code, out, _ = run("studies", "--storage", url, "--grace", "900")
    assert "stale" not in out
    # Looking wrote nothing: both trials are still RUNNING, neither was marked FAILED.
    states = [t.state for t in shoal.load_study("live", storage=url).trials]
    assert states == [TrialState.COMPLETE, TrialState.RUNNING, TrialState.RUNNING]


def test_default_grace_is_the_default_heartbeat(run: Run, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _running_trials(url)
    grace = shoal.Heartbeat().grace
    monkeypatch.setattr(shoal.cli._inspect, "CLOCK", FakeClock(1000.0 + grace - 1.0))
    code, out, _ = run("studies", "--storage", url, "--json")
    assert json.loads(out)[0]["stale_trials"] == []
    monkeypatch.setattr(shoal.cli._inspect, "CLOCK", FakeClock(1000.0 + grace + 1.0))
    code, out, _ = run("studies", "--storage", url, "--json")
    assert code == 0
    assert json.loads(out)[0]["stale_trials"] == [1]
