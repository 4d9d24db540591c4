"""The schedulers a `shoal tune` config names: every one by name, its options checked."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

import shoal
from shoal.cli._config import SCHEDULERS, build_scheduler, load_config
from shoal.cli._output import CommandError
from shoal.exceptions import ConfigError
from shoal.schedulers import (
    ASHA,
    PB2,
    PBT,
    Hyperband,
    MedianStopping,
    NoStopping,
    PercentileStopping,
    SuccessiveHalving,
)

Run = Callable[..., tuple[int, str, str]]


def scheduler_of(tmp_path: Path, text: str) -> object:
    path = tmp_path / "tune.yaml"
    path.write_text(f"objective: m:f\nscheduler: {text}\n")
    return build_scheduler(load_config(path))


@pytest.mark.parametrize(("text", "expected"), [
    ("none", NoStopping()),
    ("median", MedianStopping()),
    ("{name: percentile, percentile: 10, min_trials: 3}", PercentileStopping(percentile=10.0,
                                                                             min_trials=3)),
    ("{name: asha, mode: promotion, max_resource: 27}", ASHA(max_resource=27, mode="promotion")),
    ("{name: ASHA, max_resource: 9, reduction_factor: 2}", ASHA(max_resource=9, reduction_factor=2)),
    ("{name: hyperband, max_resource: 81, min_resource: 1}", Hyperband(max_resource=81)),
    ("{name: successive_halving, max_resource: 27, n_configs: 27}",
     SuccessiveHalving(max_resource=27, n_configs=27)),
    ("{name: pbt, population: 4, quantile: 0.5, perturb: [0.5, 2.0], hyperparams: [lr], seed: 1}",
     PBT(population=4, quantile=0.5, perturb=(0.5, 2.0), hyperparams=["lr"], seed=1)),
    ("{name: pb2, interval: 2, kappa: 1, max_step: 11, seed: 0}",
     PB2(interval=2, kappa=1.0, max_step=11, seed=0)),
])
def test_every_scheduler_by_name(tmp_path: Path, text: str, expected: object) -> None:
    assert repr(scheduler_of(tmp_path, text)) == repr(expected)


def test_the_table_names_every_scheduler() -> None:
    exported = {getattr(shoal.schedulers, n) for n in shoal.schedulers.__all__}
    assert set(SCHEDULERS.values()) == {c for c in exported if isinstance(c, type)
                                        and hasattr(c, "decide") and not getattr(c, "_is_protocol", 0)}


@pytest.mark.parametrize(("text", "error", "message"), [
    ("asha", CommandError, "scheduler.max_resource of tune.yaml must be given for scheduler 'asha'. "
                           "Got nothing."),
    ("{name: successive_halving, max_resource: 9}", CommandError,
     "scheduler.n_configs of tune.yaml must be given for scheduler 'successive_halving'. Got nothing."),
    ("{name: asha, max_resource: 27, mode: async}", ConfigError,
     "mode of ASHA must be one of ['promotion', 'stopping']. Got 'async'."),
    ("{name: asha, max_resource: '27'}", CommandError,
     "scheduler.max_resource of tune.yaml must be an integer. Got '27'."),
    ("{name: asha, max_resorce: 27}", CommandError,
     "'max_resorce' is not an option of scheduler 'asha' in tune.yaml (did you mean 'max_resource'?)"),
    ("{name: percentile, percentile: high}", CommandError,
     "scheduler.percentile of tune.yaml must be a finite number. Got 'high'."),
    ("{name: hyperband, max_resource: 1}", ConfigError,
     "max_resource of Hyperband must be an integer >= 2. Got 1."),
])
def test_option_mistakes_are_one_sentence(tmp_path: Path, text: str, error: type[Exception],
                                          message: str) -> None:
    with pytest.raises(error) as info:
        scheduler_of(tmp_path, text)
    assert str(info.value).startswith(message)


def test_tune_runs_with_asha_promotion(run: Run, url: str, tmp_path: Path) -> None:
    (tmp_path / "curves.py").write_text(
        "import shoal\n\n"
        "def objective(trial):\n"
        "    x = trial.suggest_float('x', 0.0, 1.0)\n"
        "    start = 0 if trial.resume_step is None else trial.resume_step + 1\n"
        "    for step in range(start, 10):\n"
        "        trial.report(x + 1.0 / (step + 1), step)\n"
        "        with trial.checkpoint(step) as folder:\n"
        "            (folder / 'x').write_text(str(x))\n"
        "        if trial.should_pause():\n"
        "            raise shoal.TrialPaused()\n"
        "    return x\n")
    (tmp_path / "tune.yaml").write_text(
        "objective: curves:objective\nstudy: curves\nsampler: {name: random, seed: 0}\n"
        "scheduler: {name: asha, mode: promotion, max_resource: 9}\n")
    code, _, err = run("tune", str(tmp_path / "tune.yaml"), "--n-trials", "9", "--storage", url)
    assert code == 0, err
    trials = shoal.load_study("curves", storage=url).trials
    assert len(trials) == 9
    assert sum(t.resumes for t in trials) >= 3  # the top 3 of rung 1 went on at least
    assert {t.state for t in trials} <= {shoal.TrialState.PAUSED, shoal.TrialState.COMPLETE}
