"""`shoal demo`: the NumPy network, and a short end-to-end run."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

import shoal
from shoal import TrialState
from shoal.cli._demo import accuracy, demo_space, make_data, train

Run = Callable[..., tuple[int, str, str]]
GOOD = {"lr": 0.05, "momentum": 0.95, "hidden_units": 64, "batch_size": 32, "epochs": 20,
        "weight_decay": 1e-5}


def test_data_are_seeded_and_split() -> None:
    data, again = make_data(), make_data()
    assert np.array_equal(data.x_train, again.x_train)
    assert (len(data.y_train), len(data.y_val), len(data.y_test)) == (1200, 300, 600)
    assert set(np.unique(data.y_train)) == {0, 1, 2}


def test_a_good_configuration_learns_and_a_wild_one_diverges() -> None:
    data = make_data()
    assert demo_space().validate(GOOD) is None
    weights = train(GOOD, data.x_train, data.y_train)
    assert accuracy(weights, data.x_val, data.y_val) > 0.85
    with pytest.raises(shoal.TrialFailed, match="diverged"):
        train({**GOOD, "lr": 1.0, "momentum": 0.999}, data.x_train, data.y_train)


def test_demo_end_to_end_and_resume(run: Run, url: str) -> None:
    code, out, err = run("demo", "--n-trials", "4", "--n-jobs", "1", "--storage", url)
    assert code == 0, err
    assert "New study 'demo'" in out
    assert "validation accuracy" in out
    assert "Test accuracy:" in out
    assert "only time the demo uses the test set" in out
    assert f"shoal trials demo --storage {url}" in out
    study = shoal.load_study("demo", storage=url)
    assert len(study.trials) == 4
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED) for t in study.trials)
    assert all(len(t.intermediate) >= 1 for t in study.trials if t.state is TrialState.COMPLETE)

    code, out, _ = run("demo", "--n-trials", "2", "--n-jobs", "1", "--storage", url)
    assert code == 0
    assert "Resuming study 'demo' (4 trials so far)" in out
    assert len(shoal.load_study("demo", storage=url).trials) == 6
