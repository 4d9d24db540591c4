"""Checkpoints: a resumed run equals an uninterrupted one; retries resume; writes are atomic."""

from __future__ import annotations

import random
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np
import pytest
import torch
from torch import Tensor, nn
from torch.nn import functional as F  # noqa: N812
from torch.utils.data import DataLoader, TensorDataset

import shoal
from shoal.exceptions import ConfigError
from shoal.torch._checkpoint import (
    CheckpointStore,
    artifacts_root,
    resume_source,
    trial_checkpoint_dir,
)
from shoal.torch._epoch import TensorPair
from shoal.torch._loop import EarlyStopping, FitResult, fit
from shoal.torch._runtime import seed_everything
from shoal.trial import TrialState

EPOCHS = 6
# CUDA where there is one (CI has none; a GPU machine runs both): resuming restores CUDA's RNG too.
DEVICES = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])


class Crash(Exception):
    """Stands for the process dying mid-epoch."""


def data() -> tuple[TensorPair, TensorPair]:
    g = torch.Generator().manual_seed(0)
    x = torch.randn(80, 4, generator=g)
    y = (x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) > 0).long()
    return (x[:60], y[:60]), (x[60:], y[60:])


def val_loss(out: Tensor, y: Tensor) -> float:
    return float(F.cross_entropy(out, y))


def crash_after(batches: int) -> Callable[[nn.Module], None]:
    count = [0]

    def after_step(model: nn.Module) -> None:
        count[0] += 1
        if count[0] > batches:
            raise Crash

    return after_step


def run(seed: int = 0, *, epochs: int = EPOCHS, store: CheckpointStore | None = None,
        after_step: Callable[[nn.Module], None] | None = None, loader: bool = False,
        trial: shoal.Trial | None = None, device: str = "cpu",
        ) -> tuple[nn.Module, torch.optim.Optimizer, FitResult]:
    """Everything rebuilt from scratch, as a new process would."""
    generator = seed_everything(seed, deterministic=False)
    model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Dropout(0.3), nn.BatchNorm1d(32), nn.Linear(32, 2))
    optimizer = torch.optim.Adam(model.parameters(), lr=0.01)
    schedule = torch.optim.lr_scheduler.StepLR(optimizer, step_size=2, gamma=0.5)
    train, val = data()
    train_data: TensorPair | DataLoader[Any] = train
    if loader:
        train_data = DataLoader(TensorDataset(*train), batch_size=8, shuffle=True, generator=generator)
    result = fit(model, optimizer, schedule, train_data, val, loss_fn=F.cross_entropy, metric=val_loss,
                 metric_direction="minimize", epochs=epochs, batch_size=8, generator=generator,
                 checkpoints=store, after_step=after_step, clip_grad_norm=1.0, trial=trial,
                 early_stopping=EarlyStopping(patience=10), device=torch.device(device))
    return model, optimizer, result


def same_state(a: dict[str, Any], b: dict[str, Any]) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def same_optimizer(a: torch.optim.Optimizer, b: torch.optim.Optimizer) -> bool:
    sa, sb = a.state_dict(), b.state_dict()
    return sa["param_groups"] == sb["param_groups"] and all(
        same_state(sa["state"][i], sb["state"][i]) for i in sa["state"])


# Resume ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("loader", [False, True])
def test_a_run_killed_mid_epoch_resumes_to_exactly_the_uninterrupted_weights(tmp_path: Path, loader: bool,
                                                                              device: str) -> None:
    model, optimizer, straight = run(loader=loader, store=CheckpointStore(tmp_path / "straight"),
                                     device=device)
    final = {k: v.clone() for k, v in model.state_dict().items()}
    last = torch.load(tmp_path / "straight" / "last.pt", weights_only=True)
    straight_draws = (np.random.random(), random.random())  # numpy's legacy global, on purpose

    store = CheckpointStore(tmp_path / "trial-0")
    with pytest.raises(Crash):
        run(loader=loader, store=store, after_step=crash_after(3 * 8 + 2), device=device)  # epoch 3, batch 2
    assert torch.load(store.path, weights_only=True)["epoch"] == 2
    torch.rand(5, device=device), np.random.random(), random.random()  # other code drawing in between

    resumed_model, resumed_optimizer, resumed = run(seed=7, store=store, loader=loader,
                                                    device=device)  # init overwritten
    assert resumed.resumed_epochs == 3
    assert same_state(resumed_model.state_dict(), final)
    resumed_last = torch.load(store.path, weights_only=True)
    assert same_state(resumed_last["model"], last["model"])  # the last epoch's weights, not only the best
    assert same_optimizer(resumed_optimizer, optimizer)
    assert resumed.history == straight.history
    assert (resumed.best_epoch, resumed.best_metric) == (straight.best_epoch, straight.best_metric)
    assert (np.random.random(), random.random()) == straight_draws
    assert resumed_last["epoch"] == EPOCHS - 1


def test_training_three_epochs_then_six_equals_six(tmp_path: Path) -> None:
    model, _, straight = run()
    store = CheckpointStore(tmp_path)
    run(epochs=3, store=store)
    resumed_model, _, resumed = run(epochs=EPOCHS, store=store)
    assert same_state(resumed_model.state_dict(), model.state_dict())
    assert resumed.history == straight.history


def test_a_finished_run_resumes_without_training(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    model, _, first = run(store=store)
    again_model, _, again = run(store=store, after_step=crash_after(0))
    assert again.resumed_epochs == EPOCHS
    assert again.history == first.history
    assert same_state(again_model.state_dict(), model.state_dict())


def test_a_checkpoint_from_another_fold_or_longer_run_is_refused(tmp_path: Path) -> None:
    store = CheckpointStore(tmp_path)
    run(epochs=2, store=store)
    model = nn.Sequential(nn.Linear(4, 32), nn.ReLU(), nn.Dropout(0.3), nn.BatchNorm1d(32), nn.Linear(32, 2))
    train, val = data()
    common: dict[str, Any] = {"loss_fn": F.cross_entropy, "metric": val_loss, "batch_size": 8,
                              "checkpoints": store}
    with pytest.raises(ConfigError, match=r"^step_offset of fit must match checkpoint .*store.child"):
        fit(model, torch.optim.Adam(model.parameters()), None, train, val, metric_direction="minimize",
            epochs=2, step_offset=2, **common)
    with pytest.raises(ConfigError, match=r"^metric_direction of fit must match checkpoint"):
        fit(model, torch.optim.Adam(model.parameters()), None, train, val, metric_direction="maximize",
            epochs=2, **common)
    with pytest.raises(ConfigError, match=r"^epochs of fit must be >= the 2 epochs already in checkpoint"):
        fit(model, torch.optim.Adam(model.parameters()), None, train, val, metric_direction="minimize",
            epochs=1, **common)
    assert store.child("fold-1").folder == tmp_path / "fold-1"
    assert store.child("fold-1").load() is None


def test_no_store_writes_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    run(epochs=1)
    assert list(tmp_path.iterdir()) == []


# Retries -----------------------------------------------------------------------------------------
def test_a_retried_trial_resumes_where_its_parent_stopped(tmp_path: Path) -> None:
    model, _, straight = run()
    study = shoal.create_study("retry/study", storage=f"sqlite:///{tmp_path}/shoal.db",
                               retry=shoal.RetryPolicy(max_retries=1, retry_failed=True))
    sources: list[Path | None] = []
    finals: list[dict[str, Tensor]] = []

    def objective(trial: shoal.Trial) -> float:
        trial.suggest_categorical("lr", [0.01])  # a retry re-runs parameters: there must be some
        sources.append(resume_source(trial))
        store = CheckpointStore.for_trial(trial)
        crash = crash_after(4 * 8 + 5) if trial.parent is None else None  # the first attempt dies
        trained, _, result = run(store=store, after_step=crash, trial=trial)
        finals.append(trained.state_dict())
        return result.best_metric

    study.optimize(objective, n_trials=2)
    first, retry = study.trials
    root = tmp_path / "shoal-artifacts" / "retry%2Fstudy"
    assert first.state is TrialState.FAILED
    assert (retry.state, retry.parent) == (TrialState.COMPLETE, 0)
    assert sources == [None, root / "trial-0"]
    assert (root / "trial-1" / "last.pt").is_file()
    assert same_state(finals[0], model.state_dict())
    assert retry.value == straight.best_metric
    assert retry.intermediate == dict(enumerate(straight.history["val_metric"]))  # restored steps too


def test_resume_source_prefers_the_trials_own_checkpoint(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_ARTIFACTS", str(tmp_path))
    study = shoal.create_study("s")
    trial = study.ask()
    assert trial_checkpoint_dir(trial) == tmp_path / "s" / "trial-0"
    assert resume_source(trial) is None
    CheckpointStore(trial_checkpoint_dir(trial)).save({"epoch": 0})
    assert resume_source(trial) == tmp_path / "s" / "trial-0"


# Where artifacts live ----------------------------------------------------------------------------
def test_artifacts_root_for_each_kind_of_storage(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SHOAL_ARTIFACTS", raising=False)
    assert artifacts_root("sqlite:///runs/shoal.db") == tmp_path / "runs" / "shoal-artifacts"
    assert artifacts_root("sqlite:////data/x/study.sqlite3?timeout=5") == Path("/data/x/study-artifacts")
    assert artifacts_root("sqlite+pysqlite:////data/shoal.db") == Path("/data/shoal-artifacts")
    for url in ("postgresql://u:p@db.example/shoal", "memory", "sqlite:///:memory:", "sqlite://"):
        assert artifacts_root(url) == tmp_path / "shoal-artifacts"
    monkeypatch.setenv("SHOAL_ARTIFACTS", "/shared/artifacts")
    assert artifacts_root("postgresql://u:p@db.example/shoal") == Path("/shared/artifacts")
    assert artifacts_root("memory") == Path("/shared/artifacts")
    assert artifacts_root("sqlite:///runs/shoal.db") == tmp_path / "runs" / "shoal-artifacts"


# Atomic writes -----------------------------------------------------------------------------------
def test_a_crash_while_writing_keeps_the_previous_checkpoint(tmp_path: Path,
                                                             monkeypatch: pytest.MonkeyPatch) -> None:
    store = CheckpointStore(tmp_path)
    store.save({"epoch": 1, "w": torch.ones(3)})

    def dies_half_way(obj: object, file: BinaryIO) -> None:
        file.write(b"PK\x03\x04 half a zip")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", dies_half_way)
    with pytest.raises(OSError, match="No space left"):
        store.save({"epoch": 2, "w": torch.zeros(3)})
    monkeypatch.undo()
    assert [p.name for p in tmp_path.iterdir()] == ["last.pt"]
    loaded = CheckpointStore(tmp_path).load()
    assert loaded is not None
    assert loaded["epoch"] == 1
    assert torch.equal(loaded["w"], torch.ones(3))


def test_load_falls_back_to_resume_from(tmp_path: Path) -> None:
    parent = CheckpointStore(tmp_path / "trial-0")
    parent.save({"epoch": 4})
    store = CheckpointStore(tmp_path / "trial-1", resume_from=parent.folder)
    assert store.load() == {"epoch": 4}
    assert store.loaded_from == parent.path
    store.save({"epoch": 5})
    assert store.load() == {"epoch": 5}
    assert parent.load() == {"epoch": 4}
