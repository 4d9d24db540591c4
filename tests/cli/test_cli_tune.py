"""`shoal tune CONFIG.yaml`: config checking, objectives, resuming, flags, Ctrl-C."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

import shoal
from shoal import TrialState

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

Run = Callable[..., tuple[int, str, str]]
CONFIG = str(EXAMPLES / "tune_quadratic.yaml")


def write(tmp_path: Path, text: str, name: str = "tune.yaml") -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_tune_runs_the_example_and_resumes(run: Run, url: str) -> None:
    code, out, err = run("tune", CONFIG, "--n-trials", "6", "--storage", url)
    assert code == 0, err
    assert "New study 'quadratic'" in out
    assert "Best trial of the study" in out
    assert "shoal trials quadratic --storage" in out
    study = shoal.load_study("quadratic", storage=url)
    assert len(study.trials) == 6
    assert all(t.state.is_finished for t in study.trials)
    assert set(study.trials[0].params) == {"x", "lr", "activation", "steps"}

    code, out, _ = run("tune", CONFIG, "--n-trials", "4", "--storage", url)
    assert code == 0
    assert "Resuming study 'quadratic' (6 trials so far)" in out
    assert len(shoal.load_study("quadratic", storage=url).trials) == 10
    assert [s.name for s in shoal.list_studies(storage=url)] == ["quadratic"]


def test_flags_override_the_file_and_storage_comes_from_it(run: Run, tmp_path: Path) -> None:
    config = write(tmp_path, f"""\
        objective: quadratic:objective
        study: from-file
        space: {{x: {{type: float, low: -1.0, high: 1.0}}, lr: 0.01, activation: relu, steps: 2}}
        n_trials: 50
        storage: sqlite:///{tmp_path}/from-config.db
        """)
    (tmp_path / "quadratic.py").write_text((EXAMPLES / "quadratic.py").read_text())
    code, _, err = run("tune", config, "--n-trials", "3", "--name", "from-flag")
    assert code == 0, err
    [record] = shoal.list_studies(storage=f"sqlite:///{tmp_path}/from-config.db")
    assert (record.name, record.n_trials) == ("from-flag", 3)


@pytest.mark.parametrize(("text", "message"), [
    ("objective: [unclosed\n", "tune.yaml must be valid YAML"),
    ("- a\n- b\n", "tune.yaml must be a YAML mapping"),
    ("", "Got an empty file"),
    ("objective: quadratic:objective\nn_trails: 5\n", "'n_trails' is not a key of a tune config"),
    ("study: x\n", "tune.yaml must name either an objective"),
    ("objective: 42\n", "objective of tune.yaml must be 'module:function'. Got 42."),
    ("objective: quadratic.objective\n", "objective of tune.yaml must be 'module:function'"),
    ("objective: quadratic:objective\nn_trials: many\n", "n_trials of tune.yaml must be an integer >= 1"),
    ("objective: quadratic:objective\nn_trials: 0\n", "n_trials of tune.yaml must be an integer >= 1"),
    ("objective: quadratic:objective\nn_jobs: 0\n", "n_jobs of tune.yaml must be an integer >= 1 (or -1)"),
    ("objective: quadratic:objective\ntimeout: -3\n", "timeout of tune.yaml must be a number of seconds"),
    ("objective: quadratic:objective\ndirection: up\n",
     "direction of tune.yaml must be minimize or maximize"),
    ("objective: quadratic:objective\nsampler: rndom\n",
     "sampler of tune.yaml must be one of auto, random, grid, qmc, coarse_to_fine, gp, tpe. Got 'rndom' "
     "(did you mean 'random'?)."),
    ("objective: quadratic:objective\nsampler: {seed: 1}\n", "sampler.name of tune.yaml must be one of"),
    ("objective: quadratic:objective\nsampler: {name: random, sed: 1}\n",
     "'sed' is not an option of sampler 'random' in tune.yaml (did you mean 'seed'?)"),
    ("objective: quadratic:objective\nsampler: {name: random, seed: abc}\n",
     "sampler.seed of tune.yaml must be an integer or null"),
    ("objective: quadratic:objective\nscheduler: asha\n",
     "scheduler of tune.yaml must be one of none, median"),
    ("objective: quadratic:objective\nscheduler: {name: median, min_trials: 0}\n",
     "min_trials of MedianStopping must be an integer >= 1"),
    ("objective: quadratic:objective\nspace: {lr: {type: float, low: 0.0, high: 1.0, scale: log}}\n",
     "space of tune.yaml: low of Float 'lr' must be > 0 when scale='log'. Got 0.0."),
    ("objective: quadratic:objective\nspace: [1, 2]\n", "space of tune.yaml must be a mapping"),
    ("objective: quadratic:objective\nstorage: 3\n", "storage of tune.yaml must be a storage URL"),
    ("objective: no_such_module:objective\n", "no module 'no_such_module'"),
    ("objective: quadratic:objectiv\n", "has no 'objectiv' (did you mean 'objective'?)"),
    ("objective: quadratic:math\n", "objective 'quadratic:math' must be a function taking a trial"),
])
def test_config_mistakes_are_one_line_errors(run: Run, url: str, tmp_path: Path, text: str,
                                             message: str) -> None:
    (tmp_path / "quadratic.py").write_text((EXAMPLES / "quadratic.py").read_text())
    code, _, err = run("tune", write(tmp_path, text), "--n-trials", "1", "--storage", url)
    assert code == 1, err
    assert err.startswith("Error: "), err
    assert message in err.splitlines()[0], err
    assert len(err.splitlines()) <= 2  # the error and, at most, a `Try:` line
    assert "Traceback" not in err
    if (tmp_path / "s.db").exists():
        assert shoal.list_studies(storage=url) == []  # a bad config creates nothing


def test_bad_storage_url_in_the_config(run: Run, tmp_path: Path) -> None:
    (tmp_path / "quadratic.py").write_text((EXAMPLES / "quadratic.py").read_text())
    code, _, err = run("tune", write(tmp_path, "objective: quadratic:objective\nstorage: mysql://x\n"))
    assert code == 1
    assert err.startswith("Error: storage URL must start with 'sqlite:///' or 'postgresql://'. Got 'mysql://x'.")


def test_missing_config_file(run: Run) -> None:
    code, _, err = run("tune", "nope.yaml")
    assert code == 1
    assert err.startswith("Error: config file 'nope.yaml' does not exist.")
    assert "Try: shoal tune examples/tune_quadratic.yaml" in err


def test_objective_whose_import_fails(run: Run, url: str, tmp_path: Path) -> None:
    (tmp_path / "broken_objective.py").write_text("import no_such_dependency_here\n")
    config = write(tmp_path, "objective: broken_objective:objective\n")
    code, _, err = run("tune", config, "--n-trials", "1", "--storage", url)
    assert code == 1
    assert "importing 'broken_objective' failed" in err
    assert "no_such_dependency_here" in err


def test_define_by_run_objective_and_failures_do_not_stop_the_study(run: Run, url: str,
                                                                    tmp_path: Path) -> None:
    (tmp_path / "by_run_objective.py").write_text(textwrap.dedent("""\
        def objective(trial):
            x = trial.suggest_float("x", 0.0, 1.0)
            if trial.number == 1:
                raise RuntimeError("bad batch")
            return x
        """))
    config = write(tmp_path, "objective: by_run_objective:objective\nstudy: by-run\ndirection: maximize\n")
    code, out, err = run("tune", config, "--n-trials", "3", "--storage", url)
    assert code == 0, err
    assert "Ran 3 trials: 2 complete, 1 failed." in out
    trials = shoal.load_study("by-run", storage=url).trials
    assert trials[1].failure_reason == "RuntimeError: bad batch"


def test_ctrl_c_reports_completed_trials_and_exits_130(run: Run, url: str, tmp_path: Path) -> None:
    (tmp_path / "interrupted_objective.py").write_text(textwrap.dedent("""\
        def objective(trial):
            if trial.number == 2:
                raise KeyboardInterrupt
            return trial.suggest_float("x", 0.0, 1.0)
        """))
    config = write(tmp_path, "objective: interrupted_objective:objective\nstudy: ctrl-c\n")
    code, out, _ = run("tune", config, "--n-trials", "10", "--storage", url)
    assert code == 130
    assert "Interrupted: 2 trials completed in this run" in out
    assert "The study is saved" in out
    states = [t.state for t in shoal.load_study("ctrl-c", storage=url).trials]
    assert states == [TrialState.COMPLETE, TrialState.COMPLETE, TrialState.FAILED]


@pytest.mark.parametrize(("name", "cls"), [
    ("random", "RandomSampler"), ("qmc", "QMCSampler"), ("grid", "GridSampler"),
    ("coarse_to_fine", "CoarseToFineSampler")])
def test_samplers_by_name(run: Run, url: str, tmp_path: Path, name: str, cls: str) -> None:
    (tmp_path / "quadratic.py").write_text((EXAMPLES / "quadratic.py").read_text())
    options = "grid: {x: [-1.0, 0.0, 1.0]}" if name == "grid" else "seed: 3"
    config = write(tmp_path, f"""\
        objective: quadratic:objective
        study: s-{name}
        space: {{x: {{type: float, low: -1.0, high: 1.0}}, lr: [0.01, 0.1], activation: relu, steps: 1}}
        sampler: {{name: {name}, {options}}}
        """)
    code, _, err = run("tune", config, "--n-trials", "3", "--storage", url)
    if not hasattr(shoal.samplers, cls):  # samplers land one by one; the message must say so
        assert code == 1
        assert f"sampler '{name}' of tune.yaml is not available" in err
        return
    assert code == 0, err
    assert len(shoal.load_study(f"s-{name}", storage=url).trials) == 3
