"""Runtime settings for one trial: seeds, CPU threads, the device to train on, freed memory."""

from __future__ import annotations

import ctypes
import functools
import multiprocessing
import os
import random
import re
import sys

import numpy as np
import torch

from shoal._validate import integer
from shoal.exceptions import ConfigError

__all__ = ["configure_threads", "release_freed_memory", "seed_everything", "select_device"]

_WORKER_PREFIX = "shoal-worker-"  # how ProcessExecutor names its worker processes
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")


def seed_everything(seed: int, *, deterministic: bool | None = None) -> torch.Generator:
    """Seed torch, numpy's legacy global generator and `random`; return a generator for our draws.

    Third-party code draws from the global generators (dropout from torch's, augmentation
    libraries from numpy's or `random`), so all three are seeded. Shoal's own draws (shuffling,
    initialisation) use the returned generator, passed in explicitly. Each gets its own stream,
    derived from `seed` with numpy's SeedSequence, so no two share a sequence of numbers.

    Deterministic algorithms: with `deterministic=None` (the default) they are switched on only
    when this PyTorch build sees no CUDA device. On CPU the kernels of dense, convolutional,
    recurrent and transformer networks (pooling, embeddings, scatter/index_add, CTC included)
    all have deterministic implementations, so the switch costs nothing measurable and turns a
    non-deterministic op into an error rather than a silent difference (`max_unpool` is the one
    common op that raises on CPU: pass `deterministic=False` for a model that uses it). On
    CUDA it would make common ops (scatter_add, index_add, interpolation backward) raise and
    needs CUBLAS_WORKSPACE_CONFIG set before cuBLAS starts, so it is opt-in there
    (`deterministic=True`). `False` leaves the setting as it is. Filling uninitialised memory
    with NaN, which the switch also turns on, is turned off: it costs a pass over every new
    tensor and only matters for kernels that read memory they did not write.

    Args:
        seed: Any integer >= 0.
        deterministic: See above.

    Returns:
        A CPU `torch.Generator` seeded from `seed`.

    Raises:
        ConfigError: `seed` is not an integer >= 0.

    >>> g = seed_everything(0, deterministic=False)
    >>> a = torch.rand(2, generator=g)
    >>> torch.equal(a, torch.rand(2, generator=seed_everything(0, deterministic=False)))
    True
    """
    integer(seed, what="seed", owner="seed_everything", low=0)
    torch_seed, numpy_seed, random_seed, own_seed = np.random.SeedSequence(int(seed)).generate_state(4)
    torch.manual_seed(int(torch_seed))  # also seeds every CUDA device, lazily
    np.random.seed(int(numpy_seed))  # the legacy global: what third-party code draws from
    random.seed(int(random_seed))
    if deterministic is None:
        deterministic = not torch.cuda.is_available()
    if deterministic:
        if torch.cuda.is_available():
            os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
        torch.use_deterministic_algorithms(True, warn_only=False)
        torch.utils.deterministic.fill_uninitialized_memory = False  # type: ignore[attr-defined]
    generator = torch.Generator()
    generator.manual_seed(int(own_seed))
    return generator


def configure_threads(n_threads: int | None = None, *, n_jobs: int | None = None) -> int:
    """Set how many CPU threads PyTorch uses in this process; return the number in effect.

    The rule, first match wins:

    1. `n_threads` given: use it.
    2. OMP_NUM_THREADS is set (by the user, or by Ray for a task): leave torch's default, which
       already follows it.
    3. Several trials share this machine (`n_jobs > 1`): the cores this process may use divided
       by `n_jobs`, at least 1, so trials do not fight over cores (oversubscribed BLAS threads
       make every trial slower than one thread each would).
    4. This process is a shoal worker (ProcessExecutor names them "shoal-worker-N") and
       `n_jobs` was not given: 1.
    5. Otherwise leave torch's default (one thread per core).

    Args:
        n_threads: Threads to use, >= 1; None for the rule above.
        n_jobs: Trials running at once on this machine, if known (Study.optimize's n_jobs).

    Raises:
        ConfigError: `n_threads` or `n_jobs` is not an integer >= 1.

    >>> configure_threads(torch.get_num_threads()) == torch.get_num_threads()
    True
    """
    for name, value in (("n_threads", n_threads), ("n_jobs", n_jobs)):
        integer(value, what=name, owner="configure_threads", low=1, none=True)
    if n_threads is None:
        if os.environ.get("OMP_NUM_THREADS"):
            return torch.get_num_threads()
        if n_jobs is not None and n_jobs > 1:
            n_threads = max(1, _usable_cores() // n_jobs)
        elif n_jobs is None and multiprocessing.current_process().name.startswith(_WORKER_PREFIX):
            n_threads = 1
        else:
            return torch.get_num_threads()
    if torch.get_num_threads() != n_threads:
        torch.set_num_threads(n_threads)
    return torch.get_num_threads()


def release_freed_memory() -> bool:
    """Give the heap memory freed by a finished trial back to the OS; True if that was possible.

    glibc keeps freed blocks in its heap, and trials of different shapes (widths, batch sizes)
    fragment it, so a long-lived worker's RSS creeps up by ~0.25 MB per trial although no tensor
    survives (benchmarks/README.md, section 4). `malloc_trim(0)` returns it, in microseconds.
    Elsewhere (macOS, Windows, musl) this does nothing.

    >>> isinstance(release_freed_memory(), bool)
    True
    """
    trim = _malloc_trim()
    if trim is None:
        return False
    trim(0)
    return True


@functools.cache
def _malloc_trim() -> ctypes._NamedFuncPointer | None:
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL("libc.so.6").malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None


def _usable_cores() -> int:
    if hasattr(os, "sched_getaffinity"):  # respects taskset and container CPU sets
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def select_device(preference: str = "auto") -> torch.device:
    """The device to train on: "auto" picks CUDA when available, else the CPU.

    Args:
        preference: "auto", "cpu", "cuda" (the current CUDA device) or "cuda:N".

    Raises:
        ConfigError: an unknown preference, or CUDA asked for where it is not available.

    >>> select_device("cpu")
    device(type='cpu')
    """
    if not isinstance(preference, str) or not _DEVICE.match(preference):
        raise ConfigError(f"preference of select_device must be 'auto', 'cpu', 'cuda' or 'cuda:N'. "
                          f"Got {preference!r}.")
    if preference == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(preference)
    if device.type == "cuda":
        if not torch.cuda.is_available():
            raise ConfigError(f"device of select_device must be available. Got {preference!r}, but "
                              f"this PyTorch ({torch.__version__}) sees no CUDA device. Use 'auto' or "
                              "'cpu', or install a CUDA build of PyTorch on a machine with a GPU.")
        count = torch.cuda.device_count()
        if device.index is not None and device.index >= count:
            raise ConfigError(f"device of select_device must be one of cuda:0 to cuda:{count - 1}. "
                              f"Got {preference!r}.")
    return device
