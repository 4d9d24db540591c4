"""Where a trial's checkpoints live, and how they are written so that a crash never loses one."""

from __future__ import annotations

import contextlib
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np
import torch

from shoal.storage import artifacts_root

if TYPE_CHECKING:
    from shoal.study import Trial

__all__ = ["CheckpointStore", "artifacts_root", "resume_source", "trial_checkpoint_dir"]

LAST = "last.pt"


class CheckpointStore:
    """A folder holding a trial's latest checkpoint, `last.pt`, replaced atomically each epoch.

    A save writes a temporary file in the same folder, flushes it to disk, then renames it over
    `last.pt` (`os.replace`), so a crash at any moment leaves either the old checkpoint or the
    new one, never half of one. Files are read with `torch.load(weights_only=True)`: a
    checkpoint holds only tensors and plain Python values, so loading one cannot run code.

    Args:
        folder: Where checkpoints are written (created on the first save).
        resume_from: Another folder to load from while `folder` has no checkpoint yet: the
            folder of the trial this one retries (see `resume_source`).

    >>> import tempfile
    >>> store = CheckpointStore(Path(tempfile.mkdtemp()) / "trial-0")
    >>> store.load() is None
    True
    >>> _ = store.save({"epoch": 3, "weights": torch.zeros(2)})
    >>> store.load()["epoch"]
    3
    """

    def __init__(self, folder: Path | str, *, resume_from: Path | str | None = None) -> None:
        self.folder = Path(folder)
        self.resume_from = None if resume_from is None else Path(resume_from)
        self.loaded_from: Path | None = None  # the file the last successful load read

    @classmethod
    def for_trial(cls, trial: Trial) -> CheckpointStore:
        """The store of a live trial: its own folder, resuming from `resume_source(trial)`."""
        return cls(trial_checkpoint_dir(trial), resume_from=resume_source(trial))

    @property
    def path(self) -> Path:
        """The file a save writes: `folder / "last.pt"`."""
        return self.folder / LAST

    def child(self, name: str) -> CheckpointStore:
        """A store in a subfolder, for one part of a trial (a fold of cross-validation)."""
        return CheckpointStore(self.folder / name,
                               resume_from=None if self.resume_from is None else self.resume_from / name)

    def save(self, state: Mapping[str, Any]) -> Path:
        """Write `state` as the latest checkpoint, atomically; return its path."""
        self.folder.mkdir(parents=True, exist_ok=True)
        temp = self.folder / f".{LAST}.{os.getpid()}.tmp"
        try:
            with open(temp, "wb") as file:
                torch.save(dict(state), file)
                file.flush()
                os.fsync(file.fileno())  # the rename must not reach disk before the data
            os.replace(temp, self.path)
        except BaseException:
            with contextlib.suppress(OSError):
                temp.unlink()
            raise
        return self.path

    def load(self) -> dict[str, Any] | None:
        """The latest checkpoint: this folder's, else `resume_from`'s; None when neither has one."""
        for folder in (self.folder, self.resume_from):
            if folder is not None and (folder / LAST).is_file():
                loaded: dict[str, Any] = torch.load(folder / LAST, map_location="cpu", weights_only=True)
                self.loaded_from = folder / LAST
                return loaded
        return None

    def __repr__(self) -> str:
        extra = "" if self.resume_from is None else f", resume_from={str(self.resume_from)!r}"
        return f"CheckpointStore({str(self.folder)!r}{extra})"


def trial_checkpoint_dir(trial: Trial) -> Path:
    """The checkpoint folder of a live trial: `artifacts_root / <study name> / trial-<number>`.

    The study name is percent-encoded, so any name makes one folder inside the root.
    """
    return _study_dir(trial) / f"trial-{trial.number}"


def resume_source(trial: Trial) -> Path | None:
    """The folder a trial should resume from, or None to start from scratch.

    In order: the trial's own folder if it holds a checkpoint (the same trial restarted); else
    the nearest ancestor's (`trial.parent`, then its parent...) that holds one, so a retry of a
    trial whose worker died carries on from that trial's last epoch rather than epoch 0; else
    `trial.checkpoint`, the folder the trial was told to start from, if it holds one.
    """
    own = trial_checkpoint_dir(trial)
    if (own / LAST).is_file():
        return own
    parents: dict[int, int | None] | None = None
    seen = {trial.number}
    number = trial.parent
    while number is not None and number not in seen:
        folder = _study_dir(trial) / f"trial-{number}"
        if (folder / LAST).is_file():
            return folder
        seen.add(number)
        if parents is None:  # one read of the study, only for a retry of a retry
            parents = {t.number: t.parent for t in trial.study.trials}
        number = parents.get(number)
    if trial.checkpoint_source:
        given = Path(trial.checkpoint_source)
        folder = given.parent if given.name == LAST else given
        if (folder / LAST).is_file():
            return folder
    return None


def _study_dir(trial: Trial) -> Path:
    name = quote(trial.study.name, safe="")
    if name in (".", ".."):
        name = name.replace(".", "%2E")
    return artifacts_root(trial.study.storage.url) / name


# RNG states, as plain values that `torch.load(weights_only=True)` accepts --------------------------
def rng_states(generators: Mapping[str, torch.Generator | None]) -> dict[str, Any]:
    """Every random state a training run draws from: torch's (CPU and CUDA), numpy's legacy
    global, `random`'s, and the given generators'."""
    kind, keys, pos, has_gauss, cached = np.random.get_state(legacy=True)
    return {
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if _cuda_started() else None,
        "numpy": (kind, torch.from_numpy(np.asarray(keys, dtype=np.int64)), int(pos), int(has_gauss),
                  float(cached)),
        "random": random.getstate(),
        "generators": {name: None if g is None else g.get_state() for name, g in generators.items()},
    }


def _cuda_started() -> bool:
    # Asking for CUDA RNG states would start CUDA in a CPU-only run.
    return bool(torch.cuda.is_initialized())  # type: ignore[no-untyped-call]


def set_rng_states(states: Mapping[str, Any], generators: Mapping[str, torch.Generator | None]) -> None:
    """Restore what `rng_states` saved (CUDA states only where the same devices are present)."""
    torch.set_rng_state(states["torch"])
    cuda = states.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    version, internal, gauss = states["random"]
    random.setstate((version, tuple(internal), gauss))
    for name, generator in generators.items():
        saved = states["generators"].get(name)
        if generator is not None and saved is not None:
            generator.set_state(saved)
