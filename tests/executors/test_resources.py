"""`Resources` and the GPUs each local worker sees."""

from __future__ import annotations

import pytest

from shoal import Resources
from shoal.exceptions import ConfigError
from shoal.executors import assign_gpus, visible_gpus


def test_resources_validate_and_normalise() -> None:
    assert Resources(cpus=2, gpus=1) == Resources(cpus=2.0, gpus=1.0)
    for bad in ({"cpus": 0}, {"gpus": -1}, {"gpus": 1.5}, {"gpus": float("nan")}, {"cpus": True}):
        with pytest.raises(ConfigError, match=r" of Resources must be "):
            Resources(**bad)


def test_fractions_pack_workers_per_gpu_and_wholes_give_each_its_own() -> None:
    assert assign_gpus(4, 0.25, ["3"]) == ["3"] * 4
    assert assign_gpus(5, 1 / 3, ["0", "1"]) == ["0", "0", "0", "1", "1"]
    assert assign_gpus(2, 1, ["a", "b"]) == ["a", "b"]
    assert assign_gpus(1, 3, ["0", "1", "2"]) == ["0,1,2"]
    with pytest.raises(ConfigError, match=r"^n_jobs of a run on GPUs must be at most 4 with gpus=0.5 per "
                                          r"trial on 2 GPUs \(0,1\)\. Got 5\. Run fewer workers"):
        assign_gpus(5, 0.5, ["0", "1"])
    with pytest.raises(ConfigError, match=r"at most 0 .* on 0 GPUs \(none\)"):
        assign_gpus(1, 1, [])


def test_visible_gpus_read_cuda_visible_devices_first() -> None:
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "2, 5"}) == ["2", "5"]
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": ""}) == []
    assert visible_gpus({"CUDA_VISIBLE_DEVICES": "-1"}) == []
