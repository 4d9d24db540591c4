"""ProcessExecutor hands each worker its GPUs through CUDA_VISIBLE_DEVICES (no GPU needed)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from shoal.exceptions import ConfigError
from shoal.executors import ProcessExecutor, Resources, WorkerContext


@dataclass(frozen=True)
class _RecordDevices:
    """A worker job that writes what its process sees in CUDA_VISIBLE_DEVICES."""

    folder: str

    def __call__(self, ctx: WorkerContext) -> None:
        seen = os.environ.get("CUDA_VISIBLE_DEVICES", "<unset>")
        Path(self.folder, f"worker-{ctx.index}").write_text(f"{os.getpid()} {seen}")


def _seen(folder: Path, n: int) -> list[str]:
    rows = [(folder / f"worker-{i}").read_text().split(" ", 1) for i in range(n)]
    assert len({pid for pid, _ in rows}) == n, "each worker is a process of its own"
    assert all(int(pid) != os.getpid() for pid, _ in rows)
    return [seen for _, seen in rows]


@pytest.mark.parametrize(("gpus", "devices", "expected"), [
    (0.5, ["0", "1"], ["0", "0", "1", "1"]),  # two trials per GPU, packed in turn
    (0.25, ["0", "1"], ["0", "0", "0", "0"]),
    (1, ["0", "1", "2", "3"], ["0", "1", "2", "3"]),
    (2, ["3", "2", "1", "0"], ["3,2", "1,0"]),
])
def test_each_worker_sees_its_share(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, gpus: float,
                                    devices: list[str], expected: list[str]) -> None:
    n = 2 if gpus == 2 else 4
    expected = expected[:n]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "7")  # the parent's own value must stay untouched
    executor = ProcessExecutor(resources=Resources(gpus=gpus), gpus=devices)
    executor.run(_RecordDevices(str(tmp_path)), n_workers=n, n_trials=None, timeout=None)
    assert _seen(tmp_path, n) == expected
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "7"


def test_the_visible_gpus_are_shared_when_none_are_named(tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "5,6")
    ProcessExecutor(resources=Resources(gpus=1)).run(_RecordDevices(str(tmp_path)), n_workers=2,
                                                     n_trials=None, timeout=None)
    assert _seen(tmp_path, 2) == ["5", "6"]


def test_no_gpus_leaves_the_environment_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "1,0")
    ProcessExecutor(gpus=["0"]).run(_RecordDevices(str(tmp_path)), n_workers=2, n_trials=None,
                                    timeout=None)
    assert _seen(tmp_path, 2) == ["1,0", "1,0"]


def test_more_workers_than_the_gpus_hold_fail_before_any_starts(tmp_path: Path) -> None:
    executor = ProcessExecutor(resources=Resources(gpus=0.5), gpus=["0"])
    with pytest.raises(ConfigError, match=r"n_jobs of a run on GPUs must be at most 2 .* Got 3\."):
        executor.run(_RecordDevices(str(tmp_path)), n_workers=3, n_trials=None, timeout=None)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"gpus": "0,1"}, r"gpus of ProcessExecutor must be a list of GPU names or None\. Got '0,1'\."),
    ({"gpus": [True]}, r"gpus of ProcessExecutor must be a list"),
    ({"resources": 0.5}, r"resources of ProcessExecutor must be a shoal\.Resources\. Got 0\.5\."),
])
def test_wrong_arguments_say_what_to_pass(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        ProcessExecutor(**kwargs)  # type: ignore[arg-type]


def test_repr_names_the_gpu_settings() -> None:
    assert repr(ProcessExecutor(start_method="fork")) == "ProcessExecutor(start_method='fork')"
    assert repr(ProcessExecutor(start_method="fork", resources=Resources(gpus=0.5), gpus=[0, "1"])) == (
        "ProcessExecutor(start_method='fork', resources=Resources(cpus=1.0, gpus=0.5), gpus=['0', '1'])")
