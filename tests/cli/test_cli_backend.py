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
