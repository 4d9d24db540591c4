"""`shoal tune` config keys and flags for where workers run: backend, address, resources."""

from __future__ import annotations

import textwrap
from collections.abc import Callable
from pathlib import Path

import pytest

from shoal.cli._config import load_config
from shoal.executors import ProcessExecutor, RayExecutor, Resources

Run = Callable[..., tuple[int, str, str]]


def _config(tmp_path: Path, extra: str) -> Path:
    path = tmp_path / "tune.yaml"
    path.write_text("objective: quadratic:objective\n" + textwrap.dedent(extra))
    return path


def test_backend_address_and_resources_are_read(tmp_path: Path) -> None:
    config = load_config(_config(tmp_path, """
        backend: ray
        address: 10.0.0.5:6379
        resources: {cpus: 2, gpus: 0.25}
    """))
    assert (config.backend, config.address, config.resources) == ("ray", "10.0.0.5:6379",
                                                                   Resources(cpus=2, gpus=0.25))
    plain = load_config(_config(tmp_path, ""))
    assert (plain.backend, plain.address, plain.resources) == ("processes", None, None)


def test_the_backend_picks_the_executor(tmp_path: Path) -> None:
    from shoal.cli._tune import _executor

    ray = _executor(load_config(_config(tmp_path, "backend: ray\nresources: {gpus: 0.5}\n")))
    assert isinstance(ray, RayExecutor)
    assert (ray.address, ray.resources) == (None, Resources(gpus=0.5))
    local = _executor(load_config(_config(tmp_path, "n_jobs: 2\nresources: {gpus: 1}\n")))
    assert isinstance(local, ProcessExecutor)
    assert local.resources == Resources(gpus=1)
    assert _executor(load_config(_config(tmp_path, "n_jobs: 2\n"))) is None  # optimize's default


@pytest.mark.parametrize(("extra", "message"), [
    ("backend: spark", "backend of tune.yaml must be one of processes, ray. Got 'spark'."),
    ("backend: rey", "Got 'rey' (did you mean 'ray'?)."),
    ("address: 10.0.0.5:6379", "address of tune.yaml must be left out unless backend is ray. "
                               "Got '10.0.0.5:6379'."),
    ("backend: ray\naddress: 7", "address of tune.yaml must be HOST:PORT of a Ray cluster's head. Got 7."),
    ("resources: {gpu: 1}", "'gpu' is not an option of resources in tune.yaml (did you mean 'gpus'?)."),
    ("resources: {gpus: -1}", "resources.gpus of tune.yaml must be a finite number >= 0. Got -1."),
    ("resources: {gpus: 1.5}", "resources of tune.yaml: gpus of Resources must be a fraction of one GPU "
                               "or a whole number of GPUs. Got 1.5."),
    ("resources: 2", "resources of tune.yaml must be a mapping of cpus, gpus. Got 2."),
])
def test_mistakes_are_one_line_errors(run: Run, tmp_path: Path, extra: str, message: str) -> None:
    code, _, err = run("tune", str(_config(tmp_path, extra)), "--storage", f"sqlite:///{tmp_path}/s.db")
    assert code == 1
    assert message in err
    assert err.startswith("Error: ")


def test_address_flag_needs_the_ray_backend(run: Run, tmp_path: Path) -> None:
    code, _, err = run("tune", str(_config(tmp_path, "")), "--address", "10.0.0.5:6379",
                       "--storage", f"sqlite:///{tmp_path}/s.db")
    assert code == 1
    assert "--address of shoal tune must come with the ray backend. Got backend 'processes'." in err
    assert "--backend ray --address 10.0.0.5:6379" in err


def test_backend_flag_is_checked_by_the_parser(run: Run, tmp_path: Path) -> None:
    code, _, err = run("tune", str(_config(tmp_path, "")), "--backend", "spark")
    assert code == 2
    assert "invalid choice: 'spark'" in err


@pytest.mark.slow
def test_tune_on_ray_then_a_worker_finds_the_shared_budget_spent(tmp_path: Path) -> None:
    """End to end: `shoal tune --backend ray` (a local Ray instance of its own) runs the study's
    budget through the stored-budget executor; `shoal worker` from another folder then starts none."""
    import os
    import subprocess
    import sys

    try:
        import ray  # noqa: F401
    except ImportError:
        missing = "ray is not installed: pip install -e '.[dev]'"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(missing, pytrace=False)
        pytest.skip(missing)
    (tmp_path / "quad.py").write_text("def objective(trial):\n"
                                      "    x = trial.suggest_float('x', -2.0, 2.0)\n"
                                      "    return (x - 1.0) ** 2\n")
    config = tmp_path / "t.yaml"
    config.write_text("study: onray\nobjective: quad:objective\nn_trials: 6\nn_jobs: 2\nbackend: ray\n")
    url = f"sqlite:///{tmp_path}/s.db"
    import shutil
    import tempfile

    ray_tmp = tempfile.mkdtemp(prefix="shoal-r-", dir="/tmp")  # Ray's socket paths must stay short
    env = {**os.environ, "RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0", "RAY_AUTH_MODE": "disabled",
           "RAY_TMPDIR": ray_tmp}
    cli = [sys.executable, "-c", "import sys; from shoal.cli import main; sys.exit(main(sys.argv[1:]))"]
    try:
        tuned = subprocess.run([*cli, "tune", str(config), "--storage", url], capture_output=True,
                               text=True, env=env, cwd=tmp_path, timeout=240, check=False)
    finally:
        shutil.rmtree(ray_tmp, ignore_errors=True)
    assert tuned.returncode == 0, tuned.stderr[-2000:]
    assert "on 2 Ray workers" in tuned.stdout
    assert "Ran 6 trials: 6 complete." in tuned.stdout
    worker = subprocess.run([*cli, "worker", "onray", "--storage", url], capture_output=True, text=True,
                            env=env, cwd="/", timeout=120, check=False)
    assert worker.returncode == 0, worker.stderr[-2000:]
    assert "budget 0 of 6 trials left" in worker.stdout

    from shoal.storage import open_reader

    reader = open_reader(url)
    try:
        trials = reader.get_trials(reader.get_study("onray").study_id).trials
    finally:
        reader.close()
    assert sorted(t.number for t in trials) == list(range(6))
    assert len({t.params["x"] for t in trials}) == 6
