"""`shoal worker NAME`: workers started from a shell join a study `shoal tune` made, and share its budget."""

from __future__ import annotations

import os
import shlex
import socket
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

import shoal
from shoal.cli._config import TuneConfig
from shoal.cli._output import CommandError
from shoal.cli._worker import RUN_CONFIG_ATTR, _devices
from shoal.storage import BudgetRecord
from shoal.trial import TrialState

Run = Callable[..., tuple[int, str, str]]

TINY = """\
import os
import time


def objective(trial):
    x = trial.suggest_float("x", -1.0, 1.0)
    if os.environ.get("STOP_AFTER_FIRST"):
        trial.study.stop()  # the `shoal tune` of these tests starts one trial and leaves
    trial.set_user_attr("cuda", os.environ.get("CUDA_VISIBLE_DEVICES"))
    time.sleep(float(os.environ.get("TINY_SLEEP", "0")))
    return x * x
"""

CURVES = """\
import os

import shoal


def objective(trial):
    x = trial.suggest_float("x", 0.0, 1.0)
    start = 0 if trial.resume_step is None else trial.resume_step + 1
    for step in range(start, 9):
        trial.report(trial.number + x / (step + 1), step)  # trial 0 is the best at every rung
        with trial.checkpoint(step) as folder:
            (folder / "x").write_text(str(x))
        if trial.should_pause():
            if os.environ.get("STOP_AFTER_FIRST"):
                trial.study.stop()
            raise shoal.TrialPaused()
    return trial.number + x
"""


def _tune(tmp_path: Path, run: Run, url: str, monkeypatch: pytest.MonkeyPatch, *, name: str,
          module: str, n_trials: int, extra: str = "") -> None:
    """`shoal tune` a config in tmp_path/project that starts one trial and stops."""
    project = tmp_path / "project"
    project.mkdir(exist_ok=True)
    (project / f"{module}.py").write_text(TINY if module == "tiny" else CURVES)
    (project / "tune.yaml").write_text(f"objective: {module}:objective\nstudy: {name}\n"
                                       f"sampler: {{name: random, seed: 0}}\nn_trials: {n_trials}\n{extra}")
    monkeypatch.setenv("STOP_AFTER_FIRST", "1")
    code, out, err = run("tune", str(project / "tune.yaml"), "--storage", url)
    monkeypatch.delenv("STOP_AFTER_FIRST")
    assert code == 0, err
    assert "Ran 1 trials" in out


def _shell(command: str, cwd: Path, **env: str) -> subprocess.Popen[str]:
    """Start `command` in a shell, with this test's shoal first on the path and nothing else set."""
    source = str(Path(shoal.__file__).resolve().parents[1])
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    pythonpath = os.pathsep.join(p for p in (source, os.environ.get("PYTHONPATH")) if p)
    environ = {**os.environ, "PATH": path, "PYTHONPATH": pythonpath, **env}
    environ.pop("STOP_AFTER_FIRST", None)
    return subprocess.Popen(f"exec {command}", shell=True, cwd=cwd, env=environ, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _finish(process: subprocess.Popen[str], timeout: float = 120) -> str:
    out, err = process.communicate(timeout=timeout)
    assert process.returncode == 0, f"{out}\n{err}"
    return out


def _worker_name(pid: int) -> str:
    return f"{socket.gethostname()}:{pid}"


def test_a_worker_from_a_shell_needs_only_the_name_and_the_url(
        tmp_path: Path, run: Run, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _tune(tmp_path, run, url, monkeypatch, name="tiny", module="tiny", n_trials=5)
    elsewhere = tmp_path / "elsewhere"  # not the config's folder: the stored one is used
    elsewhere.mkdir()
    worker = _shell(f"shoal worker tiny --storage {shlex.quote(url)}", elsewhere)
    out = _finish(worker)
    first = out.splitlines()[0]
    assert first.startswith(f"Worker {_worker_name(worker.pid)} joins study 'tiny' in {url}")
    assert "budget 4 of 5 trials left" in first
    assert "objective tiny:objective, sampler RandomSampler(seed=0)" in first
    assert "Ran 4 trials: 4 complete." in out
    assert "budget 0 of 5 trials left" in out.splitlines()[-1]
    study = shoal.load_study("tiny", storage=url)
    trials = study.trials
    assert [t.number for t in trials] == [0, 1, 2, 3, 4]
    assert {t.worker for t in trials[1:]} == {_worker_name(worker.pid)}
    assert trials[0].worker != _worker_name(worker.pid)
    # The stored sampler: the same seeded proposals as one process would have drawn.
    alone = shoal.create_study(sampler=shoal.samplers.RandomSampler(seed=0))
    alone.optimize(lambda t: t.suggest_float("x", -1.0, 1.0) ** 2, n_trials=5)
    assert [t.params for t in trials] == [t.params for t in alone.trials]
    # A worker started once the budget is spent starts nothing and says so.
    again = _shell(f"shoal worker tiny --storage {shlex.quote(url)}", elsewhere)
    assert "budget 0 of 5 trials left" in _finish(again).splitlines()[0]
    assert len(study.trials) == 5


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_four_workers_share_fifty_trials_with_no_duplicates(
        backend: str, tmp_path: Path, run: Run, url: str, monkeypatch: pytest.MonkeyPatch,
        request: pytest.FixtureRequest) -> None:
    if backend == "postgresql":
        url = request.getfixturevalue("fresh_postgres_url")
    _tune(tmp_path, run, url, monkeypatch, name="many", module="tiny", n_trials=50)
    workers = [_shell(f"shoal worker many --storage {shlex.quote(url)}", tmp_path, TINY_SLEEP="0.05")
               for _ in range(4)]
    for worker in workers:
        _finish(worker)
    study = shoal.load_study("many", storage=url)
    trials = study.trials
    assert len(trials) == 50
    assert sorted(t.number for t in trials) == list(range(50))
    assert len({t.params["x"] for t in trials}) == 50
    assert {t.state for t in trials} == {TrialState.COMPLETE}
    names = {_worker_name(w.pid) for w in workers}
    ran = {t.worker for t in trials[1:]}
    assert ran <= names
    assert len(ran) >= 2  # they ran side by side
    assert study.storage.get_budget(study.study_id) == BudgetRecord(50, None, 50)


def test_a_paused_trial_is_resumed_by_another_worker_process(
        tmp_path: Path, run: Run, url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_ARTIFACTS", str(tmp_path / "artifacts"))
    _tune(tmp_path, run, url, monkeypatch, name="curves", module="curves", n_trials=3,
          extra="scheduler: {name: asha, mode: promotion, max_resource: 9}\n")
    first = shoal.load_study("curves", storage=url).trials[0]
    assert (first.state, first.last_step) == (TrialState.PAUSED, 1)  # paused at rung 1, here
    worker = _shell(f"shoal worker curves --storage {shlex.quote(url)}", tmp_path,
                    SHOAL_ARTIFACTS=str(tmp_path / "artifacts"))
    _finish(worker)
    trials = shoal.load_study("curves", storage=url).trials
    assert len(trials) == 3
    resumed = [e for e in trials[0].lineage if e["event"] == "resumed"]
    assert resumed
    assert resumed[0]["worker"] == _worker_name(worker.pid) != first.worker
    assert resumed[0]["step"] == 1
    assert trials[0].last_step == 3  # went on from its checkpoint to the next rung
    assert sorted(trials[0].intermediate) == list(range(4))


def test_a_study_without_a_stored_objective_needs_one(run: Run, url: str, tmp_path: Path) -> None:
    shoal.create_study("bare", storage=url)
    code, _, err = run("worker", "bare", "--storage", url)
    assert code == 1
    assert err.splitlines()[0] == ("Error: --objective of shoal worker must be given for study 'bare', "
                                   "which has no stored objective or task. Got none.")
    assert "--objective module:function" in err
    assert "shoal tune CONFIG.yaml" in err
    (tmp_path / "tiny.py").write_text(TINY)  # from the current folder, as `shoal tune` finds it
    code, out, err = run("worker", "bare", "--storage", url, "--objective", "tiny:objective",
                         "--n-trials", "3")
    assert code == 0, err
    assert "no stored budget (runs until Ctrl-C or --n-trials); this worker starts at most 3" in out
    assert len(shoal.load_study("bare", storage=url).trials) == 3


def test_tune_stores_its_config_and_budget(tmp_path: Path, run: Run, url: str,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    _tune(tmp_path, run, url, monkeypatch, name="tiny", module="tiny", n_trials=4,
          extra="retry: {max_retries: 2}\nheartbeat: {interval: 5, grace: 60}\ntimeout: 600\n")
    study = shoal.load_study("tiny", storage=url)
    stored = study.storage.get_study("tiny").system_attrs[RUN_CONFIG_ATTR]
    assert stored == {"path": str((tmp_path / "project" / "tune.yaml").resolve()), "config": {
        "objective": "tiny:objective", "sampler": {"name": "random", "seed": 0}, "n_trials": 4,
        "retry": {"max_retries": 2}, "heartbeat": {"interval": 5, "grace": 60}, "timeout": 600}}
    budget = study.storage.get_budget(study.study_id)
    assert budget is not None
    assert (budget.n_trials, budget.used) == (4, 1)
    assert budget.deadline is not None
    # Running the config again adds its n_trials to what the study started.
    (tmp_path / "project" / "tune.yaml").write_text(
        "objective: tiny:objective\nstudy: tiny\nsampler: {name: random, seed: 0}\nn_trials: 2\n")
    code, out, err = run("tune", str(tmp_path / "project" / "tune.yaml"), "--storage", url)
    assert code == 0, err
    assert "Ran 2 trials" in out
    assert study.storage.get_budget(study.study_id) == BudgetRecord(3, None, 3)


def test_gpus_are_shared_at_the_stored_share_per_trial(tmp_path: Path) -> None:
    class Args:
        gpus = "0, 1"

    config = TuneConfig(path=tmp_path / "t.yaml", objective="m:f", study="s",
                        raw={"resources": {"gpus": 0.5}})
    assert _devices(Args(), config, 4) == ["0", "0", "1", "1"]  # type: ignore[arg-type]
    assert _devices(Args(), None, 2) == ["0", "1"]  # type: ignore[arg-type]  # one GPU each
    Args.gpus = ","
    with pytest.raises(CommandError, match=r"--gpus of shoal worker must list GPU ids"):
        _devices(Args(), None, 2)  # type: ignore[arg-type]


def test_each_local_process_sees_its_own_gpu(tmp_path: Path, run: Run, url: str,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    _tune(tmp_path, run, url, monkeypatch, name="tiny", module="tiny", n_trials=9)
    monkeypatch.setenv("TINY_SLEEP", "0.05")
    code, _, err = run("worker", "tiny", "--storage", url, "--n-jobs", "2", "--gpus", "3,7")
    assert code == 0, err
    trials = shoal.load_study("tiny", storage=url).trials[1:]
    assert len(trials) == 8
    seen = {t.worker: t.user_attrs["cuda"] for t in trials}
    assert set(seen.values()) <= {"3", "7"}
    for t in trials:  # one device per process, never changing
        assert t.user_attrs["cuda"] == seen[t.worker]
    assert os.environ.get("CUDA_VISIBLE_DEVICES") != "3"  # the parent's own is left alone


@pytest.mark.slow
def test_a_worker_trains_the_task_shoal_tune_stored(tmp_path: Path, run: Run, url: str,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_CACHE", str(tmp_path / "cache"))
    (tmp_path / "wine.yaml").write_text(
        "study: wine\n"
        "task: {dataset: wine, model: mlp, epochs: 2, batch_size: 32, standardize: true,\n"
        "       protocol: {holdout: {fraction: 0.3}}}\n"
        "space: {lr: {type: float, low: 1.0e-3, high: 0.3, scale: log}}\n"
        "sampler: {name: random, seed: 0}\nn_trials: 1\n")
    code, _, err = run("tune", str(tmp_path / "wine.yaml"), "--storage", url)
    assert code == 0, err
    study = shoal.load_study("wine", storage=url)
    study.set_budget(n_trials=3)  # two more, for the worker
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    code, out, err = run("worker", "wine", "--storage", url)
    assert code == 0, err
    assert "budget 2 of 3 trials left; 1 process, objective the stored task" in out
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 3
    assert all(0.0 <= (t.value or -1.0) <= 1.0 for t in trials)  # accuracy, as the task measures


def test_on_postgresql_the_worker_says_when_checkpoints_stay_on_its_machine(
        run: Run, tmp_path: Path, fresh_postgres_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    shoal.create_study("pg", storage=fresh_postgres_url)
    (tmp_path / "tiny.py").write_text(TINY)
    monkeypatch.delenv("SHOAL_ARTIFACTS", raising=False)
    args = ("worker", "pg", "--storage", fresh_postgres_url, "--objective", "tiny:objective",
            "--n-trials", "1")
    code, out, err = run(*args)
    assert code == 0, err
    assert (f"Checkpoints go to {tmp_path / 'shoal-artifacts'}, on this machine only: set "
            "$SHOAL_ARTIFACTS") in " ".join(out.split())
    monkeypatch.setenv("SHOAL_ARTIFACTS", str(tmp_path / "shared"))
    code, out, err = run(*args)
    assert code == 0, err
    assert "Checkpoints go to" not in out
