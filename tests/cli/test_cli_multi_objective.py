"""The command line on a study with two objectives and a constraint: tune, best, studies, trials, export."""

from __future__ import annotations

import csv
import io
import json
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import shoal
from shoal import TrialState
from shoal.trial import FrozenTrial

Run = Callable[..., tuple[int, str, str]]

OBJECTIVE = '''\
def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    y = trial.suggest_float("y", 0.0, 1.0)
    trial.set_user_attr("latency_ms", 10.0 + 20.0 * y)
    return [x, (1.0 - x) ** 2 + y]   # a list works as well as a tuple


def no_attribute(trial):
    return trial.suggest_float("x", 0.0, 1.0), 1.0
'''
CONFIG = """\
objective: mo:objective
study: mo
directions: [maximize, minimize]
constraints: {latency_ms: "<= 20"}
sampler: {name: random, seed: 3}
n_trials: 30
"""


def _config(tmp_path: Path, text: str) -> str:
    (tmp_path / "mo.py").write_text(OBJECTIVE)
    path = tmp_path / "mo.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def _front_by_hand(trials: list[FrozenTrial]) -> set[int]:
    """Complete trials with latency <= 20 that no other such trial beats (x up, second value down)."""
    ok = [t for t in trials if t.state is TrialState.COMPLETE and t.user_attrs["latency_ms"] <= 20.0]

    def beats(a: FrozenTrial, b: FrozenTrial) -> bool:
        assert a.values is not None
        assert b.values is not None
        no_worse = a.values[0] >= b.values[0] and a.values[1] <= b.values[1]
        return no_worse and (a.values[0] > b.values[0] or a.values[1] < b.values[1])

    return {t.number for t in ok if not any(beats(o, t) for o in ok)}


@pytest.fixture
def tuned(run: Run, url: str, tmp_path: Path) -> tuple[list[FrozenTrial], str]:
    code, out, err = run("tune", _config(tmp_path, CONFIG), "--storage", url)
    assert code == 0, err
    return shoal.load_study("mo", storage=url).trials, out


def test_tune_records_values_and_constraints_and_summarises_the_front(tuned: tuple[list[FrozenTrial], str],
                                                                      url: str) -> None:
    trials, out = tuned
    assert len(trials) == 30
    assert all(t.state is TrialState.COMPLETE for t in trials)
    for t in trials:
        assert t.constraints == pytest.approx((t.user_attrs["latency_ms"] - 20.0,))
        assert t.is_feasible == (t.user_attrs["latency_ms"] <= 20.0)
    front = _front_by_hand(trials)
    assert 1 < len(front) < 30
    assert not all(t.is_feasible for t in trials)
    assert {t.number for t in shoal.load_study("mo", storage=url).best_trials} == front
    assert "Best trial of the study" not in out
    assert "Pareto front of the study (2 objectives)" in out
    assert f"Front of {len(front)} trials, hypervolume " in out
    assert f"front of {len(front)}" in out  # the progress bar's last state


def test_best_lists_the_front_sorted_by_the_first_objective(run: Run, url: str,
                                                            tuned: tuple[list[FrozenTrial], str]) -> None:
    trials, _ = tuned
    front = _front_by_hand(trials)
    code, out, err = run("best", "mo", "--storage", url)
    assert code == 0, err
    assert "value 0 (maximize)" in out
    assert "value 1 (minimize)" in out
    assert "latency_ms <= 20" in out
    rows = [line.split("│")[1:-1] for line in out.splitlines() if line.startswith("│")]
    numbers = [int(cells[0]) for cells in rows]
    assert set(numbers) == front
    by_number = {t.number: t for t in trials}
    firsts = [by_number[n].values[0] for n in numbers]  # type: ignore[index]
    assert firsts == sorted(firsts, reverse=True)  # maximised: best first
    assert f"Front of {len(front)} trials, hypervolume" in out
    assert "reference point 1.1 in each" in out

    code, out, err = run("best", "mo", "--storage", url, "--json")
    assert code == 0, err
    listed = json.loads(out)
    assert [row["number"] for row in listed] == numbers
    for row in listed:
        t = by_number[row["number"]]
        assert row["values"] == list(t.values or ())
        assert row["directions"] == ["maximize", "minimize"]
        assert row["constraints"] == {"latency_ms <= 20": pytest.approx(t.user_attrs["latency_ms"] - 20.0)}
        assert row["feasible"] is True
        assert row["params"] == dict(t.params)


def test_studies_and_trials_speak_of_the_front(run: Run, url: str,
                                               tuned: tuple[list[FrozenTrial], str]) -> None:
    trials, _ = tuned
    front = _front_by_hand(trials)
    code, out, _ = run("studies", "--storage", url)
    assert code == 0
    assert f"front of {len(front)}" in out
    code, out, _ = run("studies", "--storage", url, "--json")
    [summary] = json.loads(out)
    assert summary["front_size"] == len(front)
    assert summary["best_value"] is None

    code, out, err = run("trials", "mo", "--storage", url)
    assert code == 0, err
    rows = [line.split("│")[1:-1] for line in out.splitlines() if line.startswith("│")]
    marked = {int(cells[0]) for cells in rows if cells[1].strip() == "*"}
    assert marked == front
    assert "* marks the Pareto front" in out
    feasible = {int(cells[0]) for cells in rows if cells[4].strip() == "yes"}
    assert feasible == {t.number for t in trials if t.is_feasible}

    code, out, err = run("trials", "mo", "--storage", url, "--json", "--limit", "5")
    assert code == 0, err
    shown = json.loads(out)
    assert len(shown) == 5
    for row in shown:  # the front of the whole study, also for the trials shown
        assert row["pareto"] is (row["number"] in front)
        assert row["feasible"] is trials[row["number"]].is_feasible
        assert row["constraints"] == list(trials[row["number"]].constraints or ())


def test_sort_by_value_puts_feasible_fronts_first_then_the_first_objective(
        run: Run, url: str, tuned: tuple[list[FrozenTrial], str]) -> None:
    trials, _ = tuned
    code, out, err = run("trials", "mo", "--storage", url, "--sort", "value", "--json")
    assert code == 0, err
    order = [row["number"] for row in json.loads(out)]
    # Brute force: peel fronts off the feasible trials, then the infeasible ones by violation.
    left = [t for t in trials if t.is_feasible]
    expected: list[int] = []
    while left:
        peel = _front_by_hand(left)
        expected += [t.number for t in sorted((t for t in left if t.number in peel),
                                              key=lambda t: (-(t.values or (0.0,))[0], t.number))]
        left = [t for t in left if t.number not in peel]
    expected += [t.number for t in sorted((t for t in trials if not t.is_feasible),
                                          key=lambda t: (t.violation, -(t.values or (0.0,))[0], t.number))]
    assert order == expected


def test_export_has_a_column_per_objective_and_constraint_and_a_pareto_flag(
        run: Run, url: str, tmp_path: Path, tuned: tuple[list[FrozenTrial], str]) -> None:
    trials, _ = tuned
    front = _front_by_hand(trials)
    code, out, err = run("export", "mo", "--storage", url)
    assert code == 0, err
    rows = list(csv.DictReader(io.StringIO(out)))
    assert {"values_0", "values_1", "pareto", "constraints_0", "feasible"} <= set(rows[0])
    assert {int(r["number"]) for r in rows if r["pareto"] == "True"} == front
    by_number = {t.number: t for t in trials}
    for r in rows:
        t = by_number[int(r["number"])]
        assert [float(r["values_0"]), float(r["values_1"])] == list(t.values or ())
        assert float(r["constraints_0"]) == pytest.approx(t.user_attrs["latency_ms"] - 20.0)
        assert r["feasible"] == str(t.is_feasible)
    code, _, err = run("export", "mo", "--storage", url, "-o", str(tmp_path / "mo.json"))
    assert code == 0, err
    rows_json = json.loads((tmp_path / "mo.json").read_text())
    assert {r["number"] for r in rows_json if r["pareto"] is True} == front


def test_directions_and_direction_together_are_refused(run: Run, url: str, tmp_path: Path) -> None:
    config = _config(tmp_path, "objective: mo:objective\ndirection: minimize\n"
                               "directions: [maximize, minimize]\n")
    code, _, err = run("tune", config, "--n-trials", "1", "--storage", url)
    assert code == 1
    assert err.splitlines()[0] == ("Error: direction of mo.yaml must be left out when directions is given "
                                   "(directions has one per objective). Got 'minimize'.")
    assert err.splitlines()[1].startswith("Try: directions: [maximize, minimize]")
    assert not (tmp_path / "s.db").exists() or shoal.list_studies(storage=url) == []


@pytest.mark.parametrize(("text", "message"), [
    ("directions: maximize\n", "directions of mo.yaml must be a list of minimize or maximize, one per "
                               "objective. Got 'maximize'."),
    ("directions: [maximize, up]\n", "Got ['maximize', 'up']."),
    ("directions: []\n", "directions of mo.yaml must be a list"),
    ("constraints: [latency_ms]\n", "constraints of mo.yaml must be a mapping of user attributes to bounds. "
                                    "Got ['latency_ms']."),
    ('constraints: {latency_ms: "< 20"}\n', "bound of 'latency_ms' of constraints of mo.yaml must be "
                                            "'<= NUMBER' or '>= NUMBER'. Got '< 20'."),
    ("constraints: {}\n", "constraints of mo.yaml must be a mapping of user attributes to bounds. Got {}."),
])
def test_directions_and_constraints_mistakes_are_one_line_errors(run: Run, url: str, tmp_path: Path,
                                                                 text: str, message: str) -> None:
    code, _, err = run("tune", _config(tmp_path, "objective: mo:objective\n" + text), "--n-trials", "1",
                       "--storage", url)
    assert code == 1
    assert err.startswith("Error: "), err
    assert message in err.splitlines()[0], err
    assert len(err.splitlines()) <= 2


def test_a_constraint_on_a_missing_attribute_fails_the_trial_with_a_clear_reason(
        run: Run, url: str, tmp_path: Path) -> None:
    config = _config(tmp_path, """\
        objective: mo:no_attribute
        study: missing
        directions: [minimize, minimize]
        constraints: {params_m: "<= 5"}
        sampler: random
        """)
    code, out, err = run("tune", config, "--n-trials", "3", "--storage", url)
    assert code == 0, err
    trials = shoal.load_study("missing", storage=url).trials
    assert [t.state for t in trials] == [TrialState.FAILED] * 3
    for t in trials:
        assert t.failure_reason is not None
        assert (f"user attribute 'params_m' of trial {t.number} must be set for the constraint "
                "'params_m <= 5'. Got none") in t.failure_reason
        assert "trial.set_user_attr('params_m', value)" in t.failure_reason
    assert "Ran 3 trials: 3 failed." in out
    code, _, err = run("best", "missing", "--storage", url)
    assert code == 1
    assert err.startswith("Error: study 'missing' has no feasible completed trial yet (3 failed).")


def test_a_scheduler_for_one_objective_is_refused_in_config_words(run: Run, url: str, tmp_path: Path) -> None:
    config = _config(tmp_path, "objective: mo:objective\ndirections: [maximize, minimize]\n"
                               "sampler: random\nscheduler: median\n")
    code, _, err = run("tune", config, "--n-trials", "1", "--storage", url)
    assert code == 1
    assert err.splitlines()[0].endswith(
        "Use scheduler: none (the default), asha, hyperband or successive_halving (they rank a rung "
        "by non-dominated sorting).")


def test_a_task_stays_single_objective(run: Run, url: str, tmp_path: Path) -> None:
    pytest.importorskip("torch")
    example = Path(__file__).resolve().parents[2] / "examples" / "mnist1d_mlp.yaml"
    config = tmp_path / "task.yaml"
    config.write_text(example.read_text() + "directions: [maximize, minimize]\n")
    code, _, err = run("tune", str(config), "--n-trials", "1", "--storage", url)
    assert code == 1
    assert err.splitlines()[0] == ("Error: directions of task.yaml must be left out for a task, which trains "
                                   "for one metric ('accuracy'). Got ['maximize', 'minimize'].")
    assert not (tmp_path / "s.db").exists()
