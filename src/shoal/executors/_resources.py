"""What one trial needs (`Resources`), and which GPUs each local worker sees.

The same `Resources` value describes a trial for the local `ProcessExecutor` (which hands each
worker its GPUs through `CUDA_VISIBLE_DEVICES`) and for `RayExecutor` (which asks Ray for
`num_cpus` / `num_gpus` per trial), so a study moves from a workstation to a cluster unchanged.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass

from shoal._validate import config_error

__all__ = ["Resources", "assign_gpus", "visible_gpus"]


@dataclass(frozen=True)
class Resources:
    """What one trial needs while it runs.

    Args:
        cpus: CPU cores per trial (fractions allowed on Ray; locally, a worker process is one trial).
        gpus: GPUs per trial: 0 (none), a fraction to share one GPU (0.25: four trials per GPU),
            or a whole number of GPUs.

    >>> Resources(gpus=0.25)
    Resources(cpus=1.0, gpus=0.25)
    """

    cpus: float = 1.0
    gpus: float = 0.0

    def __post_init__(self) -> None:
        if isinstance(self.cpus, bool) or not isinstance(self.cpus, (int, float)) or not self.cpus > 0:
            raise config_error("cpus", "Resources", "a number > 0", self.cpus)
        gpus = self.gpus
        if isinstance(gpus, bool) or not isinstance(gpus, (int, float)) or not (
                gpus >= 0 and math.isfinite(gpus)):
            raise config_error("gpus", "Resources", "a number >= 0", gpus)
        if gpus > 1 and gpus != int(gpus):
            raise config_error("gpus", "Resources", "a fraction of one GPU or a whole number of GPUs", gpus,
                               hint="e.g. gpus=0.5 (two trials per GPU) or gpus=2.")
        object.__setattr__(self, "cpus", float(self.cpus))
        object.__setattr__(self, "gpus", float(gpus))


def visible_gpus(environ: dict[str, str] | None = None) -> list[str]:
    """The GPUs this process may use, as `CUDA_VISIBLE_DEVICES` names them: that variable when set
    (an empty value means none), else one per device PyTorch sees if torch is already imported,
    else `nvidia-smi -L`'s count; [] without a GPU."""
    env = os.environ if environ is None else environ
    given = env.get("CUDA_VISIBLE_DEVICES")
    if given is not None:
        return [part.strip() for part in given.split(",") if part.strip() and part.strip() != "-1"]
    import sys

    torch = sys.modules.get("torch")
    if torch is not None:
        try:
            return [str(i) for i in range(int(torch.cuda.device_count()))]
        except Exception:  # a broken CUDA install counts as none
            return []
    import shutil
    import subprocess

    smi = shutil.which("nvidia-smi")
    if smi is None:
        return []
    try:
        out = subprocess.run([smi, "-L"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return [str(i) for i, line in enumerate(line for line in out.splitlines() if line.startswith("GPU "))]


def assign_gpus(n_workers: int, gpus: float, devices: Sequence[str]) -> list[str]:
    """The `CUDA_VISIBLE_DEVICES` value of each of `n_workers` local workers when each trial needs
    `gpus` GPUs out of `devices`.

    A fraction packs `1 / gpus` workers on each GPU in turn (0.5 on two GPUs: workers 0 and 1 on
    the first, 2 and 3 on the second); a whole number gives each worker that many GPUs of its own.
    `gpus=0` hides every GPU ("" for each worker).

    Raises:
        ConfigError: more workers than the GPUs can hold at that share.

    >>> assign_gpus(4, 0.5, ["0", "1"])
    ['0', '0', '1', '1']
    >>> assign_gpus(2, 2, ["0", "1", "2", "3"])
    ['0,1', '2,3']
    >>> assign_gpus(3, 0, ["0"])
    ['', '', '']
    """
    if gpus == 0:
        return [""] * n_workers
    per_gpu = max(1, math.floor(1 / gpus + 1e-9)) if gpus < 1 else 1
    width = 1 if gpus < 1 else int(gpus)
    capacity = len(devices) * per_gpu if gpus < 1 else len(devices) // width
    if n_workers > capacity:
        plural = "s" if len(devices) != 1 else ""
        raise config_error("n_jobs", "a run on GPUs", f"at most {capacity} with gpus={gpus:g} per trial "
                           f"on {len(devices)} GPU{plural} ({','.join(devices) or 'none'})", n_workers,
                           hint="Run fewer workers, lower gpus per trial, or make more GPUs visible.")
    if gpus < 1:
        return [devices[i // per_gpu] for i in range(n_workers)]
    return [",".join(devices[i * width:(i + 1) * width]) for i in range(n_workers)]
