"""benchmarks/bench_mf_mnist1d.py: its epoch accounting and report, and that --quick runs end to end."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
pytest.importorskip("optuna")
pytest.importorskip("torch")
sys.path.insert(0, str(ROOT / "benchmarks"))
import bench_mf_mnist1d as bench  # noqa: E402


def test_each_epoch_counts_once_and_the_run_ends_at_the_target() -> None:
    run = bench.Run("shoal_asha", 0, 20, target=0.7)
    rec = bench.Recorder(run, cap=100, target=0.7)
    for step, value in enumerate([0.3, 0.5, 0.4]):
        rec.epoch(0, step, value)
    rec.epoch(1, 0, 0.2)
    for step, value in enumerate([0.3, 0.5, 0.4]):  # trial 0 resumed: its restored steps come again
        rec.epoch(0, step, value)
    rec.epoch(0, 3, math.nan)  # a diverged epoch is trained (counted) but never the incumbent
    assert not rec.done
    rec.epoch(0, 4, 0.71)
    assert rec.done
    rec.epoch(0, 5, 0.9)  # after the run ended: not counted
    run = rec.finish(trials=2)
    assert run.epochs == 6
    assert run.trials == 2
    assert [(p[0], p[3]) for p in run.trajectory] == [(1, 0.3), (2, 0.5), (6, 0.71)]
    assert bench.reached(run, 0.5)[0] == 2
    assert bench.reached(run, 0.71)[0] == 6
    assert bench.reached(run, 0.72) is None


def test_cap_ends_a_run_and_the_last_epoch_closes_the_trajectory() -> None:
    rec = bench.Recorder(bench.Run("optuna_tpe_sh", 1, 20, target=0.9), cap=3, target=0.9)
    for trial, value in enumerate([0.4, 0.2, 0.3]):
        rec.epoch(trial, 0, value)
    assert rec.done
    run = rec.finish(trials=3)
    assert [(p[0], p[3]) for p in run.trajectory] == [(1, 0.4), (3, 0.4)]


def test_report_medians_count_unreached_seeds_as_infinite() -> None:
    assert bench.spread([10.0, 30.0, 20.0], 3, "{:.0f}") == "20 [10, 30]"
    assert bench.spread([10.0, 30.0], 3, "{:.0f}") == "30 [10, not reached]"
    assert bench.spread([10.0], 3, "{:.0f}") == "not reached [10, not reached]"
    assert bench.spread([], 3, "{:.0f}") == "not reached"

    def run(method: str, seed: int, points: list[list[float]]) -> bench.Run:
        return bench.Run(method, seed, 20, None, trajectory=points, epochs=int(points[-1][0]))

    runs = [run("optuna_tpe", 0, [[20, 1, 1, 0.5], [300, 9, 8, 0.7]]),
            run("optuna_tpe", 1, [[20, 1, 1, 0.6], [700, 20, 18, 0.5 + 0.1 * 3]]),  # target 0.75
            run("shoal_asha", 0, [[30, 2, 2, 0.76]]), run("shoal_asha", 1, [[400, 9, 9, 0.6]])]
    assert bench.target_of(runs) == pytest.approx(0.75)
    text = bench.table(runs)
    # TPE reached 0.75 on seed 1 only (700 epochs): median of (700, inf) is inf; ASHA: 30 on seed 0.
    assert "| optuna_tpe | 1 / 2 | not reached [700, not reached] | - |" in text
    assert "| shoal_asha | 1 / 2 | not reached [30, not reached] | - |" in text


def test_incumbent_at_a_budget() -> None:
    reference = bench.Run("optuna_tpe", 0, 20, None, trajectory=[[20, 1, 1, 0.5], [300, 9, 8, 0.7]],
                          epochs=780)
    assert bench.best_at(reference, 19) is None
    assert bench.best_at(reference, 299) == 0.5
    assert bench.best_at(reference, 800) == 0.7  # its budget ended at 780 epochs (a diverged trial)
    hit = bench.Run("shoal_asha", 0, 20, 0.75, trajectory=[[30, 2, 2, 0.76]], epochs=30)
    assert bench.best_at(hit, 300) == 0.76  # stopped at the target: a lower bound, kept
    capped = bench.Run("shoal_asha", 1, 20, 0.75, trajectory=[[10, 2, 2, 0.6], [300, 9, 9, 0.6]],
                       epochs=300)
    assert bench.best_at(capped, 300) == 0.6
    assert bench.best_at(capped, 301) is None  # stopped at its cap: unknown


def _quick(tmp_path: Path, *extra: str) -> list[dict[str, object]]:
    out = tmp_path / "runs.jsonl"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / "bench_mf_mnist1d.py"), "--quick",
                           "--out", str(out), *extra], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=110, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return [json.loads(line) for line in out.read_text().splitlines()]


@pytest.mark.slow
def test_quick_runs_every_method_through_a_real_study(tmp_path: Path) -> None:
    runs = _quick(tmp_path, "--methods", *bench.METHODS, *bench.PBT_METHODS)
    assert [r["method"] for r in runs] == [*bench.METHODS, *bench.PBT_METHODS]
    fixed, pbt = runs[-2:]
    runs = runs[:-2]
    # The same 4 founders; the fixed population trains 3 epochs each (PBT's forks may retrain a few).
    assert fixed["notes"]["founders"] == pbt["notes"]["founders"]
    assert len(fixed["notes"]["founders"]) == 4
    assert fixed["epochs"] == 12
    assert pbt["notes"]["winner_schedule"][0][0] == 0
    reference = runs[0]
    assert reference["trials"] == 3
    assert reference["epochs"] <= 9  # 3 trials of 3 epochs (fewer if one diverged)
    target = reference["trajectory"][-1][3]
    for r in runs[1:]:
        assert r["target"] == pytest.approx(target)
        assert 1 <= r["epochs"] <= 9  # stopped at the target or the quick cap
        epochs = [p[0] for p in r["trajectory"]]
        best = [p[3] for p in r["trajectory"]]
        assert epochs == sorted(epochs)
        assert best == sorted(best)
        assert epochs[-1] == r["epochs"]
        assert best[-1] >= target or r["epochs"] == 9
    script = str(ROOT / "benchmarks" / "bench_mf_mnist1d.py")
    report = subprocess.run([sys.executable, script, "--report", str(tmp_path / "runs.jsonl")],
                            env={**os.environ, "PYTHONPATH": str(ROOT / "src")},
                            capture_output=True, text=True, timeout=60, check=True).stdout
    assert all(f"| {m} | " in report for m in bench.METHODS)
    assert f"| 0 | {fixed['trajectory'][-1][3]:.4f} | {pbt['trajectory'][-1][3]:.4f} |" in report
