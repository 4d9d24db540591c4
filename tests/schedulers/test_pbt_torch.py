"""PBT with the PyTorch harness: `fit` checkpoints through the trial, pauses when PBT says so, and a
fork restores its parent's state at the fork step and trains with its own learning rate."""

from __future__ import annotations

from pathlib import Path

import pytest

torch = pytest.importorskip("torch")

from torch.nn import functional as F  # noqa: E402, N812

import shoal  # noqa: E402
from shoal.samplers import RandomSampler  # noqa: E402
from shoal.schedulers import PBT  # noqa: E402
from shoal.torch import build_optimizer, fit  # noqa: E402
from shoal.torch._runtime import seed_everything  # noqa: E402
from shoal.trial import TrialState  # noqa: E402

EPOCHS = 8


def objective(trial: shoal.Trial) -> float:
    params = {"optimizer": trial.suggest_categorical("optimizer", ["sgd"]),
              "lr": trial.suggest_float("lr", 1e-3, 0.5, log=True)}
    generator = seed_everything(0, deterministic=False)
    g = torch.Generator().manual_seed(0)
    x = torch.randn(80, 4, generator=g)
    y = (x @ torch.tensor([1.0, -2.0, 0.5, 3.0]) > 0).long()
    model = torch.nn.Sequential(torch.nn.Linear(4, 16), torch.nn.ReLU(), torch.nn.Linear(16, 2))
    result = fit(model, build_optimizer(model, params), None, (x[:60], y[:60]), (x[60:], y[60:]),
                 loss_fn=F.cross_entropy, metric=lambda out, t: float(F.cross_entropy(out, t)),
                 metric_direction="minimize", epochs=EPOCHS, batch_size=16, generator=generator,
                 trial=trial)
    if trial.start_step:  # what the fork restored: its parent's metric at the fork step
        trial.set_user_attr("restored", result.history["val_metric"][trial.start_step - 1])
    return result.best_metric


def test_pbt_forks_train_from_the_parents_state_with_their_own_rate(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_ARTIFACTS", str(tmp_path))
    study = shoal.create_study(sampler=RandomSampler(seed=3),
                               scheduler=PBT(population=4, interval=2, max_step=EPOCHS - 1, seed=0))
    study.optimize(objective, n_trials=4)
    trials = study.trials
    assert all(t.state.is_finished for t in trials)
    assert not [t.failure_reason for t in trials if t.state is TrialState.FAILED]
    forks = [t for t in trials if t.forked_from is not None]
    assert forks, "no member was exploited"
    assert sum(t.resumes for t in trials) > 0  # members paused for each other and were resumed
    for fork in forks:
        parent_number, step = fork.forked_from  # type: ignore[misc]
        parent = trials[parent_number]
        assert step is not None
        assert min(fork.intermediate) == step + 1  # the parent's steps are its record, not the fork's
        assert fork.user_attrs["restored"] == parent.intermediate[step]  # the right state
        assert fork.curves["lr"][step + 1] == pytest.approx(fork.params["lr"])  # its own rate
        assert fork.params["lr"] != parent.params["lr"]
