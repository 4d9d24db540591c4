"""The LCBench plugin drives a real shoal Study through the anchors' harness (simulated time).

The harness and the plugin are the real ones; the first tests replace only the surrogate (which
needs onnxruntime, in the `bench` extra) by closed-form curves, so the records can be checked
against curves computed here. The last test runs the real surrogate where onnxruntime is installed.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pytest

import shoal

ROOT = Path(__file__).resolve().parents[2]
PLUGIN = ROOT / "benchmarks" / "lcbench_plugin.py"
ANCHORS = next((p / "shared/bench/lcbench/anchors" for p in ROOT.parents
                if (p / "shared/bench/lcbench/anchors/harness.py").exists()), None)
pytestmark = pytest.mark.skipif(ANCHORS is None, reason="needs ../shared/bench/lcbench beside the clone")


def load_plugin() -> ModuleType:
    """The plugin as the anchors' run.py loads it (a file, by path)."""
    spec = importlib.util.spec_from_file_location("lcbench_plugin", PLUGIN)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def accuracy(config: dict[str, Any], epoch: int) -> float:
    """A closed-form learning curve: the best learning rate is 1e-2; every curve rises with epochs."""
    quality = 1.0 - abs(math.log10(config["learning_rate"]) + 2.0) / 3.0  # 1 at 1e-2, 0 at 1e-4 / 1e-1+
    return 50.0 + 45.0 * quality * (1.0 - math.exp(-epoch / 8.0))


def epoch_seconds(config: dict[str, Any]) -> float:
    return 1.0 + config["num_layers"] / 5.0


def fake_curves(bench: Any, configs: list[dict[str, Any]]) -> tuple[np.ndarray, np.ndarray]:
    epochs = range(1, 53)
    acc = np.array([[accuracy(c, e) for e in epochs] for c in configs])
    times = np.array([[epoch_seconds(c) * e for e in epochs] for c in configs])
    return acc, times


def simulate(method: str, *, budget: float, seed: int = 0, fake: bool = True) -> tuple[dict[str, Any], Any]:
    plugin = load_plugin()
    harness = sys.modules["harness"]  # the anchors' harness, imported by the plugin
    adapter = plugin.METHODS[method](seed)
    if fake:
        real = harness.curves_batch
        harness.curves_batch = fake_curves
        try:
            row = harness.simulate(adapter, "34539", budget)
        finally:
            harness.curves_batch = real
    else:
        row = harness.simulate(adapter, "34539", budget)
    return row, adapter


def check_records(row: dict[str, Any], study: shoal.Study, *, fake: bool) -> None:
    """The study's records are what the harness simulated, trial by trial."""
    trials = study.trials
    states = [t.state for t in trials]
    assert len(trials) == row["trials_started"]
    assert states.count(shoal.TrialState.PRUNED) == row["stopped_early"]
    assert states.count(shoal.TrialState.COMPLETE) == row["completed_52"]
    assert states.count(shoal.TrialState.PAUSED) == row["paused"] - row["resumes"]
    assert sum(len(t.intermediate) for t in trials) == row["epochs_trained"]
    best = max(v for t in trials for v in t.intermediate.values())
    assert best == pytest.approx(row["final_incumbent"])
    for t in trials:
        assert sorted(t.intermediate) == list(range(1, len(t.intermediate) + 1))  # epochs 1..k, no gap
        if fake:
            for epoch, value in t.intermediate.items():
                assert value == pytest.approx(accuracy(t.params, epoch))
        if t.state is shoal.TrialState.COMPLETE:
            assert t.value == t.intermediate[52]


def test_full_budget_method_completes_every_trial_it_finishes() -> None:
    row, adapter = simulate("shoal-random", budget=400.0)
    check_records(row, adapter.study, fake=True)
    assert row["stopped_early"] == 0
    assert row["completed_52"] > 0  # 4 workers x 400 s, 52-104 s per trial


def test_stopping_scheduler_prunes_through_the_study() -> None:
    row, adapter = simulate("shoal-tpe-median", budget=600.0)
    check_records(row, adapter.study, fake=True)
    assert row["stopped_early"] > 0
    assert adapter.decisions["stop"] == row["stopped_early"]
    # the stopped configurations are the worse ones: their full curves end lower than the completed ones'
    final = {state: [accuracy(t.params, 52) for t in adapter.study.trials if t.state is state]
             for state in (shoal.TrialState.PRUNED, shoal.TrialState.COMPLETE)}
    assert np.mean(final[shoal.TrialState.PRUNED]) < np.mean(final[shoal.TrialState.COMPLETE])


@pytest.mark.parametrize("method", ["shoal", "shoal-asha-prom"])
def test_promotion_pauses_and_resumes_the_same_trials(method: str) -> None:
    row, adapter = simulate(method, budget=600.0)
    check_records(row, adapter.study, fake=True)
    assert row["paused"] > 0
    assert row["resumes"] > 0
    assert row["stopped_early"] == 0  # the promotion form never stops a trial
    trials = adapter.study.trials
    assert sum(t.resumes for t in trials) == row["resumes"]
    rungs = set(adapter.study.scheduler.rung_steps)
    for t in trials:  # a trial pauses only at a rung, and each resume continues where it paused
        paused_at = [e["step"] for e in t.lineage if e["event"] == "paused"]
        assert set(paused_at) <= rungs
        resumed_at = [e["step"] for e in t.lineage if e["event"] == "resumed"]
        assert resumed_at == paused_at[:len(resumed_at)]


def test_same_seed_same_run() -> None:
    first, _ = simulate("shoal-tpe-median", budget=300.0, seed=3)
    second, _ = simulate("shoal-tpe-median", budget=300.0, seed=3)
    assert first["traj"] == second["traj"]
    assert first["epochs_trained"] == second["epochs_trained"]


def test_real_surrogate_short_run() -> None:
    pytest.importorskip("onnxruntime", reason="the LCBench surrogate needs the bench extra")
    row, adapter = simulate("shoal-tpe-median", budget=2000.0, fake=False)
    check_records(row, adapter.study, fake=False)
    assert row["epochs_trained"] > 52
