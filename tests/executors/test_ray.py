"""RayExecutor on a real local Ray cluster: the budget, events, a killed driver, a lost node."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from typing import Any

import pytest

import shoal
from shoal.exceptions import ConfigError
from shoal.executors import RayExecutor, Resources
from shoal.trial import FrozenTrial, TrialState

FAST = shoal.Heartbeat(interval=0.2, grace=1.5)


def _wait_for(path: Path, timeout: float = 60.0) -> str:
    deadline = time.monotonic() + timeout
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.05)
    time.sleep(0.05)  # written, not just created
    return path.read_text()


def _accounted_for(trials: list[FrozenTrial]) -> None:
    """Every trial has its own number and ended; every trial that died was retried to the end."""
    assert [t.number for t in trials] == list(range(len(trials)))
    assert all(t.state in (TrialState.COMPLETE, TrialState.FAILED) for t in trials), \
        [(t.number, t.state) for t in trials]
    for dead in (t for t in trials if t.state is TrialState.FAILED):
        assert (dead.failure_reason or "").startswith("heartbeat lost"), dead.failure_reason
        retries = [t for t in trials if t.system_attrs.get("retry_of") == dead.number]
        assert len(retries) == 1, f"trial {dead.number} retried {len(retries)} times"
        assert retries[0].params == dead.params


def test_in_memory_storage_is_refused_before_ray_starts() -> None:
    study = shoal.create_study("m")
    with pytest.raises(ConfigError, match=r"^storage of study 'm' must be a database .* Got 'memory'\."):
        study.optimize(lambda t: 0.0, n_trials=1, executor=RayExecutor(address="127.0.0.1:1"))
    assert study.trials == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"address": ""}, r"address of RayExecutor must be 'HOST:PORT', 'auto' or None\. Got ''\."),
    ({"resources": {"cpus": 1}}, r"resources of RayExecutor must be a shoal\.Resources\."),
    ({"max_node_failures": -1}, r"max_node_failures of RayExecutor must be an integer >= 0\. Got -1\."),
    ({"runtime_env": ["pip"]}, r"runtime_env of RayExecutor must be a mapping or None\."),
])
def test_wrong_arguments_say_what_to_pass(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        RayExecutor(**kwargs)  # type: ignore[arg-type]


@pytest.mark.slow
def test_runs_the_study_to_its_budget_without_duplicates(ray_cluster: Any, tmp_path: Path) -> None:
    study = shoal.create_study("ray", storage=f"sqlite:///{tmp_path}/s.db",
                               sampler=shoal.samplers.RandomSampler(seed=0))
    seen: list[int] = []
    pids: set[int] = set()

    def objective(trial: shoal.Trial) -> float:
        trial.set_user_attr("pid", os.getpid())
        return trial.suggest_float("x", -1.0, 1.0) ** 2

    executor = RayExecutor(address=ray_cluster.address, resources=Resources(cpus=1))
    study.optimize(objective, n_trials=24, n_jobs=2, executor=executor,
                   callbacks=[lambda s, t: seen.append(t.number)])
    trials = study.trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 24
    assert sorted(seen) == list(range(24)), "every finished trial reaches the driver's callbacks once"
    assert len({t.params["x"] for t in trials}) == 24
    pids = {int(t.user_attrs["pid"]) for t in trials}
    assert os.getpid() not in pids, "the trials ran in the Ray workers"
    assert 1 <= len(pids) <= 2
    # A second call on the same cluster reuses the connection and continues the numbering.
    study.optimize(objective, n_trials=3, n_jobs=2, executor=executor)
    assert [t.number for t in study.trials] == list(range(27))


_DRIVER = """
    import os, sys, time
    import shoal
    from shoal.executors import RayExecutor
    study = shoal.create_study("driver", storage={url!r}, heartbeat=shoal.Heartbeat(interval=0.2, grace=1.5),
                               retry=shoal.RetryPolicy(max_retries=1))
    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        if trial.number >= 4:  # trials 4 and 5 hold, so the driver dies with them running
            open(os.path.join({folder!r}, f"running-{{trial.number}}"), "w").close()
            time.sleep(600)
        return x
    study.optimize(objective, n_trials=12, n_jobs=2, executor=RayExecutor(address={address!r}))
"""


@pytest.mark.slow
def test_a_new_driver_finishes_the_study_of_a_killed_one(ray_cluster: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    driver = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_DRIVER.format(url=url, folder=str(tmp_path),
                                                              address=ray_cluster.address))],
        env=ray_cluster.env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        _wait_for(tmp_path / "running-4", timeout=90)
        _wait_for(tmp_path / "running-5", timeout=30)
    finally:
        driver.send_signal(signal.SIGKILL)
        _, err = driver.communicate(timeout=30)
    before = shoal.load_study("driver", storage=url).trials
    assert [t.state for t in before[:4]] == [TrialState.COMPLETE] * 4, err.decode()[-2000:]
    assert [(t.state, t.failure_reason) for t in before[4:]] == [(TrialState.RUNNING, None)] * 2
    time.sleep(FAST.grace + 0.5)  # Ray ended the dead driver's workers: their heartbeats stop

    study = shoal.load_study("driver", storage=url, heartbeat=FAST, retry=shoal.RetryPolicy(max_retries=1))
    study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0), n_trials=8, n_jobs=2,
                   executor=RayExecutor(address=ray_cluster.address))
    trials = study.trials
    _accounted_for(trials)
    assert trials[:4] == before[:4], "the dead driver's finished trials are untouched"
    assert [t.number for t in trials if t.state is TrialState.FAILED] == [4, 5]
    assert sum(t.state is TrialState.COMPLETE for t in trials) == 12
    assert len(trials) == 14


@pytest.mark.slow
def test_a_lost_node_costs_one_retried_trial(ray_cluster: Any, tmp_path: Path) -> None:
    side = ray_cluster.add_node(num_cpus=1, env={"SHOAL_TEST_NODE": "side"})
    import ray

    ray.init(address=ray_cluster.address, ignore_reinit_error=True)
    deadline = time.monotonic() + 60
    while sum(n["Alive"] for n in ray.nodes()) < 2:
        assert time.monotonic() < deadline, "the second node never joined"
        time.sleep(0.2)
    marker = tmp_path / "on-the-side-node"

    def objective(trial: shoal.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        if os.environ.get("SHOAL_TEST_NODE") == "side":  # runs until its node dies
            marker.write_text(str(trial.number))
            time.sleep(600)
        time.sleep(0.4)
        return x

    study = shoal.create_study("node", storage=f"sqlite:///{tmp_path}/s.db", heartbeat=shoal.Heartbeat(
        interval=0.2, grace=1.0), retry=shoal.RetryPolicy(max_retries=1))
    killed: list[int] = []

    def kill_the_side_node(study: shoal.Study, trial: FrozenTrial) -> None:
        if marker.exists() and not killed:  # its trial is running: lose the node under it
            killed.append(side.raylet())
            os.kill(killed[0], signal.SIGKILL)

    try:
        study.optimize(objective, n_trials=16, n_jobs=3, callbacks=[kill_the_side_node],
                       executor=RayExecutor(address=ray_cluster.address, max_node_failures=2))
    finally:
        side.stop()
    assert killed, "no trial ran on the second node"
    lost = int(marker.read_text())
    trials = study.trials
    _accounted_for(trials)
    assert [t.number for t in trials if t.state is TrialState.FAILED] == [lost]
    retry = next(t for t in trials if t.system_attrs.get("retry_of") == lost)
    assert retry.state is TrialState.COMPLETE
    assert retry.value == trials[lost].params["x"]
    assert sum(t.state is TrialState.COMPLETE for t in trials) == 15


_INTERRUPTED_DRIVER = """
    import os, signal, time
    import shoal
    from shoal.executors import RayExecutor
    signal.signal(signal.SIGINT, signal.default_int_handler)  # as at a terminal
    study = shoal.create_study("ctrl-c", storage={url!r})
    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        if trial.number >= 2:
            open(os.path.join({folder!r}, f"running-{{trial.number}}"), "w").close()
            for _ in range(6000):  # Ray interrupts a task between bytecodes: short sleeps
                time.sleep(0.1)
        return x
    try:
        study.optimize(objective, n_trials=10, n_jobs=2, executor=RayExecutor(address={address!r}))
    except KeyboardInterrupt:
        print("interrupted", [t.number for t in study.trials if t.state.name == "RUNNING"])
"""


@pytest.mark.slow
def test_ctrl_c_marks_the_running_trials_interrupted(ray_cluster: Any, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/s.db"
    driver = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(_INTERRUPTED_DRIVER.format(
            url=url, folder=str(tmp_path), address=ray_cluster.address))],
        env=ray_cluster.env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        _wait_for(tmp_path / "running-2", timeout=90)
        _wait_for(tmp_path / "running-3", timeout=30)
        driver.send_signal(signal.SIGINT)
        out, err = driver.communicate(timeout=60)
    finally:
        if driver.poll() is None:
            driver.kill()
            driver.communicate()
    assert out.strip() == "interrupted []", err[-2000:]
    trials = shoal.load_study("ctrl-c", storage=url).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 2 + [TrialState.FAILED] * 2
    assert [t.failure_reason for t in trials[2:]] == ["interrupted"] * 2


@pytest.mark.slow
def test_shoal_tune_runs_on_the_ray_backend(ray_cluster: Any, tmp_path: Path,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from shoal.cli import main

    (tmp_path / "ray_quadratic.py").write_text(
        "import os\n\ndef objective(trial):\n    trial.set_user_attr('pid', os.getpid())\n"
        "    return trial.suggest_float('x', -1.0, 1.0) ** 2\n")
    config = tmp_path / "ray.yaml"
    config.write_text("objective: ray_quadratic:objective\nstudy: on-ray\nresources: {cpus: 1}\n")
    url = f"sqlite:///{tmp_path}/s.db"
    code = main(["tune", str(config), "--backend", "ray", "--address", ray_cluster.address,
                 "--n-trials", "6", "--n-jobs", "2", "--storage", url])
    out = capsys.readouterr().out
    assert code == 0, out
    assert f"on 2 Ray workers on the Ray cluster at {ray_cluster.address}" in out
    trials = shoal.load_study("on-ray", storage=url).trials
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 6
    assert os.getpid() not in {t.user_attrs["pid"] for t in trials}
