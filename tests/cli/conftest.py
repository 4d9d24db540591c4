"""Fixtures for the command-line tests: a SQLite file per test, and a study with every outcome."""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import shoal
from shoal.cli import main
from shoal.samplers import RandomSampler

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SPACE = {
    "lr": {"type": "float", "low": 1e-4, "high": 1.0, "scale": "log"},
    "units": {"type": "int", "low": 8, "high": 256, "log": True},
    "act": ["relu", "tanh"],
}


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Never touch ./shoal.db or $SHOAL_STORAGE of the machine running the tests, and forget the
    folders and objective modules `shoal tune` added to sys.path and sys.modules."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SHOAL_STORAGE", raising=False)
    monkeypatch.setenv("COLUMNS", "200")  # tables as wide as a big terminal: rows stay on one line
    monkeypatch.setattr(sys, "path", list(sys.path))
    before = set(sys.modules)
    yield
    for name in set(sys.modules) - before:
        if str(getattr(sys.modules[name], "__file__", None) or "").startswith(str(tmp_path)):
            del sys.modules[name]


@pytest.fixture
def url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/s.db"


@pytest.fixture
def run(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """Run `shoal ARGS...` in this process; returns (exit code, stdout, stderr)."""

    def _run(*args: str) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main(list(args))
        out, err = capsys.readouterr()
        return code, out, err

    return _run


@pytest.fixture
def mlp(url: str) -> shoal.Study:
    """Study 'mlp' (minimize, declared space) with trials 0..4: complete, complete, failed with a
    traceback, pruned, complete."""
    study = shoal.create_study("mlp", storage=url, direction="minimize", space=SPACE,
                               sampler=RandomSampler(seed=0))
    outcomes = iter(["ok", "ok", "raise", "prune", "ok"])

    def objective(trial: shoal.Trial) -> float:
        trial.report(2.0, step=0)
        trial.report(1.5, step=1)
        kind = next(outcomes)
        if kind == "raise":
            raise ValueError("boom")
        if kind == "prune":
            raise shoal.TrialPruned()
        return float(trial.params["lr"])

    study.optimize(objective, n_trials=5)
    return study
