"""`shoal demo`, `shoal tune` with a task, and `shoal evaluate`: the PyTorch harness end to end."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

import shoal
from shoal import TrialState
from shoal.cli._demo import DEMO_SPACE, DEMO_TASK
from shoal.cli._output import format_value

# not imported from conftest: another tests folder's conftest may be the one loaded
EXAMPLES = Path(__file__).resolve().parents[2] / "examples"

Run = Callable[..., tuple[int, str, str]]
GOOD = {"optimizer": "adam", "lr": 3e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "units": 64, "layers": 1,
        "batch_size": 128, "lr_decay": "none", "weight_decay": 1e-5, "dropout": 0.0, "activation": "relu",
        "init": "he", "batch_norm": False}


@pytest.fixture(autouse=True)
def _cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_CACHE", str(tmp_path_factory.getbasetemp() / "shoal-cache"))


def test_the_example_task_has_the_demo_space() -> None:
    config = yaml.safe_load((EXAMPLES / "mnist1d_mlp.yaml").read_text())
    assert config["space"] == DEMO_SPACE
    assert {k: v for k, v in config["task"].items() if k != "patience"} == DEMO_TASK
    shoal.Space.from_dict(config["space"])


@pytest.mark.slow
def test_demo_end_to_end_then_resume(run: Run, url: str) -> None:
    code, out, err = run("demo", "--n-trials", "3", "--n-jobs", "1", "--epochs", "2", "--storage", url)
    assert code == 0, err
    assert "New study 'demo'" in out
    assert "Test accuracy:" in out
    assert "measured once on the locked test set" in out
    assert f"See its curves and plots: shoal dashboard --storage {url}" in out
    study = shoal.load_study("demo", storage=url)
    assert len(study.trials) == 3
    for trial in study.trials:  # lr reaches 1.0 in the course's space: some runs diverge, nothing else fails
        assert trial.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)
        if trial.state is TrialState.FAILED:
            assert (trial.failure_reason or "").startswith("diverged"), trial.failure_reason
    assert set(study.best_trial.curves) == {"train_loss", "lr"}
    assert len(study.user_attrs["test_evaluations"]) == 1

    code, out, _ = run("demo", "--n-trials", "2", "--n-jobs", "1", "--epochs", "2", "--storage", url)
    assert code == 0
    assert "Resuming study 'demo' (3 trials so far)" in out
    assert len(shoal.load_study("demo", storage=url).trials) == 5

    code, _, err = run("evaluate", "demo", "--test", "--storage", url)
    assert code == 1
    assert "test set of study 'demo' must be used once" in err


def test_demo_looks_at_the_test_set_once_per_study_and_its_hints_work(run: Run, url: str) -> None:
    """On main a re-run measured the test set again at each new best, and the closing hint
    `shoal evaluate demo --test` always refused (the demo had already used the test set)."""
    flag = f" --storage {url}"
    # The first trial is one that trains (a sampled one may diverge, leaving nothing to test).
    shoal.create_study("demo", storage=url, direction="maximize", space=DEMO_SPACE).enqueue(GOOD)
    code, out, err = run("demo", "--n-trials", "1", "--n-jobs", "1", "--epochs", "1", "--storage", url)
    assert code == 0, err
    assert "measured once on the locked test set" in out
    assert f"Its test score: shoal best demo{flag}" in out
    assert "shoal evaluate" not in out
    study = shoal.load_study("demo", storage=url)
    first = study.best_trial
    score = study.storage.get_study("demo").system_attrs["test_score"]
    assert (score["trial"], score["metric"], score["n_test"], score["uses"]) == (first.number, "accuracy",
                                                                                 1000, 1)
    measured = format_value(score["value"], 4)
    code, out, err = run("best", "demo", "--storage", url)  # the closing hint works
    assert code == 0, err
    assert f"{measured} on 1000 test examples (trial {first.number})" in out
    code, out, err = run("best", "demo", "--storage", url, "--json")
    assert code == 0, err
    assert json.loads(out)["test_score"] == score
    code, out, err = run("studies", "--storage", url, "--json")
    assert code == 0, err
    assert json.loads(out)[0]["test_score"] == score
    code, out, _ = run("studies", "--storage", url)
    assert f"accuracy {measured} (trial {first.number})" in out

    # A new best that no 1-epoch trial can beat: the best configuration again, told accuracy 1.0.
    study.enqueue(dict(first.params))
    better = study.tell(study.ask(), 1.0)
    code, out, err = run("demo", "--n-trials", "1", "--n-jobs", "1", "--epochs", "1", "--storage", url)
    assert code == 0, err
    assert f"not measured for the new best, trial {better.number}" in out
    assert f"already used for trial {first.number} ({measured} on 1000 sequences)" in out
    force = f"shoal evaluate demo{flag} --test --force"
    assert f"To look again on purpose: {force}" in out
    assert len(shoal.load_study("demo", storage=url).user_attrs["test_accesses"]) == 1  # not looked again
    code, out, _ = run("best", "demo", "--storage", url)
    assert f"(trial {first.number}; trial {better.number} was not measured)" in out

    code, out, err = run(*force.split()[1:])  # the printed command works
    assert code == 0, err
    study = shoal.load_study("demo", storage=url)
    assert len(study.user_attrs["test_accesses"]) == 2
    score = study.storage.get_study("demo").system_attrs["test_score"]
    assert (score["trial"], score["uses"]) == (better.number, 2)


def _task_config(tmp_path: Path) -> Path:
    config = {
        "study": "wine",
        "task": {"dataset": "wine", "model": "mlp", "epochs": 3, "batch_size": 32,
                 "protocol": {"kfold": {"k": 3}}, "standardize": True},
        "space": {"lr": {"type": "float", "low": 1e-3, "high": 0.3, "scale": "log"},
                  "units": {"type": "int", "low": 8, "high": 64, "log": True}},
        "sampler": {"name": "random", "seed": 0},
        "n_trials": 3,
    }
    path = tmp_path / "wine.yaml"
    path.write_text(yaml.safe_dump(config))
    return path


def test_tune_a_task_then_evaluate_once(run: Run, url: str, tmp_path: Path) -> None:
    code, out, err = run("tune", str(_task_config(tmp_path)), "--storage", url)
    assert code == 0, err
    assert "Test it once: shoal evaluate wine" in out
    study = shoal.load_study("wine", storage=url)
    assert study.direction is shoal.Direction.MAXIMIZE  # accuracy, the default metric
    assert all(len(t.user_attrs["fold_scores"]) == 3 for t in study.trials)
    assert all(t.value == pytest.approx(sum(t.user_attrs["fold_scores"]) / 3) for t in study.trials)

    code, _, err = run("evaluate", "wine", "--storage", url)
    assert code == 1
    assert "confirm with --test" in err
    code, out, err = run("evaluate", "wine", "--test", "--json", "--storage", url)
    assert code == 0, err
    result = json.loads(out)
    assert result["trial"] == study.best_trial.number
    assert 0.0 <= result["metrics"]["accuracy"] <= 1.0
    assert set(result["metrics"]) == {"accuracy", "cross_entropy", "macro_f1"}
    code, _, err = run("evaluate", "wine", "--test", "--storage", url)
    assert code == 1
    assert "Pass --force if the data or code changed." in err  # CLI words, not force=True
    code, _, err = run("evaluate", "wine", "--test", "--force", "--storage", url)
    assert code == 0, err
    assert len(shoal.load_study("wine", storage=url).user_attrs["test_accesses"]) == 2


def test_task_config_mistakes_are_one_line_errors(run: Run, url: str, tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(yaml.safe_dump({"task": {"dataset": "wine"}, "space": {"lr_rate": [0.1, 0.01]}}))
    code, _, err = run("tune", str(path), "--storage", url)
    assert code == 1
    assert "parameters of the space must be hyperparameters the 'mlp' task reads" in err
    assert "Got ['lr_rate']" in err
    path.write_text(yaml.safe_dump({"task": {"dataset": "imagenet"}, "space": {"lr": [0.1]}}))
    code, _, err = run("tune", str(path), "--storage", url)
    assert "dataset of task must be one of" in err
    path.write_text(yaml.safe_dump({"task": {"dataset": "wine"}, "objective": "m:f"}))
    code, _, err = run("tune", str(path), "--storage", url)
    assert "must name either an objective" in err
    assert shoal.list_studies(storage=url) == []


def test_evaluate_a_study_without_a_task(run: Run, url: str) -> None:
    shoal.create_study("plain", storage=url).optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=2)
    code, _, err = run("evaluate", "plain", "--test", "--storage", url)
    assert code == 1
    assert "this study was not tuned with a task" in err


@pytest.mark.slow
def test_demo_pauses_and_promotes_with_asha(run: Run, url: str) -> None:
    # 4 epochs: rungs at steps 1 and 3 (after 2 and 4 epochs); 4 new configurations, 2 workers.
    code, out, err = run("demo", "--n-trials", "4", "--n-jobs", "2", "--epochs", "4", "--storage", url)
    assert code == 0, err
    assert "ASHA pauses each trial after 2 of its 4 epochs and resumes the best third" in out
    study = shoal.load_study("demo", storage=url)
    trials = study.trials
    assert len(trials) == 4  # resumes are not new trials
    assert all(t.lineage and t.lineage[0]["event"] == "paused" for t in trials if t.intermediate)
    promoted = [t for t in trials if t.resumes]
    assert promoted  # the best of the rung went on, from its checkpoint
    for t in promoted:
        assert sorted(t.intermediate) == list(range(max(t.intermediate) + 1))  # one curve, no gap
    assert {t.system_attrs.get("sampler") for t in trials} == {"MultiFidelitySampler"}
