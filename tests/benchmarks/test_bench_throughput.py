"""bench_throughput.py runs: its smallest quick configuration end to end, and its arithmetic.

The end-to-end test runs the real script (a fresh driver process, a real SQLite file) for shoal
with one worker, so the harness cannot rot; the rest check the trial check, the efficiency and the
targets' verdicts against values worked out by hand.
"""

from __future__ import annotations

import importlib.util
import json
import math
import sys
from pathlib import Path
from types import ModuleType

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_throughput.py"


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_throughput", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["bench_throughput"] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_quick_run_of_shoal_on_sqlite_with_one_worker(bench: ModuleType, tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "throughput.json"
    assert bench.main(["--quick", "--backends", "sqlite", "--frameworks", "shoal", "--workers", "1",
                       "--trials", "5", "--skip-scaling", "--out", str(out)]) == 0
    results = json.loads(out.read_text())
    [row] = results["rows"]
    assert (row["backend"], row["framework"], row["workers"], row["trials"]) == ("sqlite", "shoal", 1, 5)
    assert row["complete"] == 5
    assert row["problems"] == []
    assert 0 < row["wall_s"] < 60
    assert results["commit"] != "unknown"
    assert len(results["load_start"]) == 3
    printed = capsys.readouterr().out
    assert f"| sqlite | 1 | {5 / row['wall_s']:.1f} | - | - | - | ok |" in printed


def test_check_numbers_finds_missing_duplicated_and_unfinished_trials(bench: ModuleType) -> None:
    assert bench.check_numbers([2, 0, 1], ["COMPLETE"] * 3, 3) == []
    assert bench.check_numbers([0, 1, 1, 3], ["COMPLETE", "COMPLETE", "COMPLETE", "FAILED"], 4) == [
        "4 trials for numbers 0..3: 1 missing, 1 duplicated, 0 out of range", "not COMPLETE: {'FAILED': 1}"]
    assert bench.check_numbers([0, 5], ["COMPLETE", "RUNNING"], 2) == [
        "2 trials for numbers 0..1: 1 missing, 0 duplicated, 1 out of range", "not COMPLETE: {'RUNNING': 1}"]


def test_efficiency_is_ideal_over_measured_wall_time(bench: ModuleType) -> None:
    assert bench.ideal_seconds(5, 2, 1.0) == 3.0  # 3 rounds: 2 + 2 + 1 trials
    assert bench.ideal_seconds(20, 2, 1.0) == 10.0
    row = bench.Row("sqlite", "shoal", workers=2, trials=4, sleep_s=1.0, wall_s=2.5, complete=4)
    assert row.ideal_s == 2.0
    assert row.efficiency == pytest.approx(0.8)
    assert row.per_second == pytest.approx(1.6)
    assert math.isnan(bench.Row("sqlite", "shoal", workers=1, trials=4).per_second)  # never ran


def test_ray_target_is_met_only_at_every_worker_count(bench: ModuleType) -> None:
    def rows(tune_wall_at_2: float) -> list[object]:
        return [bench.Row("ray", "shoal", workers=1, trials=10, wall_s=1.0, complete=10),
                bench.Row("ray", "ray-tune", workers=1, trials=10, wall_s=20.0, complete=10),
                bench.Row("ray", "shoal", workers=2, trials=10, wall_s=0.5, complete=10),
                bench.Row("ray", "ray-tune", workers=2, trials=10, wall_s=tune_wall_at_2, complete=10)]

    met = bench.throughput_table(rows(10.0), 10)  # ratios 20 and 20
    assert "| ray | 1 | 10.0 | - | 0.5 | 20.00 | ok |" in met
    assert "| ray | 2 | 20.0 | - | 1.0 | 20.00 | ok |" in met
    assert "every worker count: met." in met
    missed = bench.throughput_table(rows(4.0), 10)  # 20 trials/s against 2.5: 8 times
    assert "| ray | 2 | 20.0 | - | 2.5 | 8.00 | ok |" in missed
    assert "every worker count: **MISSED**." in missed


def test_a_driver_that_hangs_is_reported_not_waited_for(bench: ModuleType, tmp_path: Path) -> None:
    spec = {"backend": "sqlite", "framework": "shoal", "workers": 1, "trials": 5, "sleep_s": 0.0,
            "address": None, "url": f"sqlite:///{tmp_path / 'never.db'}"}
    assert bench.run_driver(spec, timeout=0.05) == {"problems": ["timed out after 0.05 s"]}


def test_scaling_target_is_judged_per_storage_or_cluster(bench: ModuleType) -> None:
    rows = [bench.Row("sqlite", "shoal", workers=2, trials=4, sleep_s=1.0, wall_s=2.1, complete=4),
            bench.Row("ray", "shoal", workers=2, trials=4, sleep_s=1.0, wall_s=2.5, complete=4),
            bench.Row("sqlite", "optuna", workers=2, trials=4, sleep_s=1.0, wall_s=4.0, complete=4)]
    table = bench.scaling_table(rows)
    assert "| sqlite | shoal | 2 | 4 | 2.10 | 2.0 | 95 % | ok |" in table  # 2 / 2.1
    assert "| sqlite | optuna | 2 | 4 | 4.00 | 2.0 | 50 % | ok |" in table
    assert "of ideal: sqlite 95 %: met; ray 80 %: **MISSED**." in table  # Optuna's rows are no target
