"""Errors the command line shows say what to type there (`--force`, `shoal tune ...`, a config key),
not what to pass in Python (`force=True`, `create_study(...)`, `direction=`)."""

from __future__ import annotations

import re
import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import shoal
from shoal import TrialState
from shoal.cli._output import cli_wording

Run = Callable[..., tuple[int, str, str]]
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
# Python spellings that mean nothing on a command line.
PYTHON_WORDS = re.compile(r"create_study\(|load_study\(|load_if_exists|force=True|direction=|spec=|"
                          r"study\.optimize|evaluate\(\)")


def _config(tmp_path: Path, text: str) -> str:
    (tmp_path / "quadratic.py").write_text((EXAMPLES / "quadratic.py").read_text())
    path = tmp_path / "tune.yaml"
    path.write_text(textwrap.dedent(text))
    return str(path)


def _one_cli_line(err: str) -> str:
    assert err.startswith("Error: "), err
    assert "Traceback" not in err
    assert not PYTHON_WORDS.search(err), err
    return err.splitlines()[0]


def test_unknown_study_says_how_to_create_it_with_the_cli(run: Run, url: str) -> None:
    shoal.create_study("other", storage=url)
    code, _, err = run("trials", "mnist", "--storage", url)
    assert code == 1
    line = _one_cli_line(err)
    assert line.startswith(f"Error: no study named 'mnist' in {url}.")
    assert line.endswith("Try 'shoal studies' to list them, or 'shoal tune CONFIG.yaml' "
                         "(with study: 'mnist') to create it.")


def test_direction_that_contradicts_the_stored_study(run: Run, url: str, tmp_path: Path) -> None:
    shoal.create_study("quadratic", storage=url, direction="minimize")
    config = _config(tmp_path, "objective: quadratic:objective\nstudy: quadratic\ndirection: maximize\n")
    code, _, err = run("tune", config, "--n-trials", "1", "--storage", url)
    assert code == 1
    line = _one_cli_line(err)
    assert "direction of study 'quadratic' must stay 'minimize'" in line
    assert line.endswith("Remove direction from the config (or make it match), or use another study name "
                         "(--name NAME).")


def test_space_that_differs_from_the_stored_one(run: Run, url: str, tmp_path: Path) -> None:
    shoal.create_study("quadratic", storage=url, space={"x": {"type": "float", "low": 0.0, "high": 1.0}})
    config = _config(tmp_path, """\
        objective: quadratic:objective
        study: quadratic
        space: {x: {type: float, low: -1.0, high: 1.0}, lr: 0.01, activation: relu, steps: 1}
        """)
    code, _, err = run("tune", config, "--n-trials", "1", "--storage", url)
    assert code == 1
    assert _one_cli_line(err).endswith("(--name NAME, or study: in the config).")


def test_best_without_completed_trials_says_no_study_optimize(run: Run, url: str) -> None:
    study = shoal.create_study("empty", storage=url)
    study.tell(study.ask(), state=TrialState.FAILED, reason="oops")
    code, _, err = run("best", "empty", "--storage", url)
    assert code == 1
    assert _one_cli_line(err).startswith("Error: study 'empty' has no completed trial yet (1 failed).")
    assert "shoal trials empty" in err


@pytest.mark.parametrize(("library", "cli"), [
    ("test set of study 'x' must be used once; it was, for trial 3 (accuracy=0.9). Re-evaluating after "
     "looking makes the test score optimistic. Pass force=True (--force) if the data or code changed.",
     "test set of study 'x' must be used once; it was, for trial 3 (accuracy=0.9). Re-evaluating after "
     "looking makes the test score optimistic. Pass --force if the data or code changed."),
    ("task of study 'x' must be known to evaluate it on the test set; this study was not tuned with a "
     "task. Tune it with 'shoal tune TASK.yaml', or pass spec= to evaluate().",
     "task of study 'x' must be known to evaluate it on the test set; this study was not tuned with a "
     "task. Tune it with 'shoal tune TASK.yaml'."),
    ("Study 'mnist' already exists in sqlite:///shoal.db. Use load_study('mnist') or pass "
     "load_if_exists=True.",
     "Study 'mnist' already exists in sqlite:///shoal.db. Run 'shoal tune CONFIG.yaml' with study: "
     "'mnist' to add trials to it, or use another name."),
    ("study 'e' has no completed trial yet (1 failed). Run study.optimize(...), or see why trials "
     "failed with 'shoal trials e'.",
     "study 'e' has no completed trial yet (1 failed). Run 'shoal tune CONFIG.yaml', or see why trials "
     "failed with 'shoal trials e'."),
    ("low of Float 'lr' must be > 0 when scale='log'. Got 0.0.",
     "low of Float 'lr' must be > 0 when scale='log'. Got 0.0."),  # nothing Python-only: unchanged
])
def test_cli_wording_of_library_messages(library: str, cli: str) -> None:
    assert cli_wording(library) == cli
