"""A process that has used CUDA cannot fork workers that use it: ProcessExecutor spawns them.

CI has no GPU: a stand-in `torch` module whose `cuda.is_initialized()` is True plays the parent
that touched CUDA. A forked child inherits that stand-in; a spawned one starts without it, which
is how the objective below tells which way it was started. (On a GPU, forking after CUDA made
every trial fail with "Cannot re-initialize CUDA in forked subprocess": benchmarks/README.md,
"GPU".)
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

import shoal
from shoal import TrialState
from shoal.exceptions import ConfigError
from shoal.executors import ProcessExecutor


def _fake_torch(initialised: bool) -> types.ModuleType:
    torch = types.ModuleType("torch")
    torch.cuda = types.SimpleNamespace(is_initialized=lambda: initialised)  # type: ignore[attr-defined]
    torch.Tensor = type("Tensor", (), {})  # type: ignore[attr-defined]  # trials check returned values
    torch.shoal_stand_in = True  # type: ignore[attr-defined]
    return torch


@pytest.fixture
def cuda_in_use(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(True))


def _started_how(trial: shoal.Trial) -> float:
    """0.0 in a spawned worker (a fresh interpreter), 1.0 in a forked one (the stand-in inherited)."""
    trial.suggest_float("x", 0.0, 1.0)
    return 1.0 if getattr(sys.modules.get("torch"), "shoal_stand_in", False) else 0.0


def _job(context: object) -> None:
    pass


def test_workers_are_forked_while_cuda_is_unused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "torch", _fake_torch(False))
    assert ProcessExecutor().start_method_for(_job) == ProcessExecutor().start_method


@pytest.mark.usefixtures("cuda_in_use")
def test_a_process_that_used_cuda_spawns_its_workers(tmp_path: Path) -> None:
    study = shoal.create_study("s", storage=f"sqlite:///{tmp_path}/s.db")
    study.optimize(_started_how, n_trials=4, n_jobs=2)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 4
    assert [t.value for t in study.trials] == [0.0] * 4, "the workers were forked"


@pytest.mark.usefixtures("cuda_in_use")
def test_an_explicit_fork_is_kept(tmp_path: Path) -> None:
    study = shoal.create_study("s", storage=f"sqlite:///{tmp_path}/s.db")
    study.optimize(_started_how, n_trials=2, n_jobs=2, executor=ProcessExecutor(start_method="fork"))
    assert [t.value for t in study.trials] == [1.0] * 2, [t.failure_reason for t in study.trials]


@pytest.mark.usefixtures("cuda_in_use")
def test_an_objective_that_does_not_pickle_is_a_config_error(tmp_path: Path) -> None:
    study = shoal.create_study("s", storage=f"sqlite:///{tmp_path}/s.db")
    study.optimize(lambda t: 1.0, n_trials=1)
    with pytest.raises(ConfigError, match=r"^CUDA is already in use in this process, so its worker "
                                          r"processes cannot be forked .* the objective or study does not "
                                          r"pickle .* n_jobs=1"):
        study.optimize(lambda t: 2.0, n_trials=2, n_jobs=2)
    assert [t.value for t in study.trials] == [1.0], "nothing ran, nothing was lost"


@pytest.mark.usefixtures("cuda_in_use")
def test_an_interactive_objective_is_a_config_error(monkeypatch: pytest.MonkeyPatch) -> None:
    main = types.ModuleType("__main__")  # a notebook's or a REPL's: no __file__

    def objective(trial: shoal.Trial) -> float:
        return 0.0

    objective.__module__, objective.__qualname__ = "__main__", "objective"
    main.objective = objective  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "__main__", main)
    with pytest.raises(ConfigError, match="the objective is defined interactively"):
        ProcessExecutor().start_method_for(objective)  # type: ignore[arg-type]
