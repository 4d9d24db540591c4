"""Where a run's checkpoints live, and how they are written so that a crash never loses one.

Two places: a live trial's step folders (`TrialCheckpoints`: `trial.checkpoint(step)`, versioned per
step and kept by the study's retention policy), and, for `fit` without a trial, one folder holding
`last.pt` (`CheckpointStore`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import numpy as np
import torch

from shoal.storage import CheckpointFolder, artifacts_root

if TYPE_CHECKING:
    from shoal.study import Trial

__all__ = ["CheckpointStore", "TrialCheckpoints", "artifacts_root", "read_checkpoint", "resume_source",
           "trial_checkpoint_dir", "wants_checkpoints"]

log = logging.getLogger("shoal")

LAST = "last.pt"
STATE = "state.pt"  # the file inside a trial's step folder


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


class TrialCheckpoints:
    """A live trial's step checkpoints, as one `fit` sees them: epoch e is step `step_offset + e`.

    A save writes `state.pt` inside `trial.checkpoint(step)` (a step folder that appears only
    once complete; the study's `Retention` then drops old steps). A load reads the step the
    trial continues from (`trial.resume_step`: a paused trial resumed, a fork's start point, a
    retry's parent's newest step), or the newest kept step before it, when that lies in this
    fit's steps `[step_offset, step_offset + epochs)`; a step before `step_offset` means this
    fit has not begun (nothing to load). A trial with no step checkpoint falls back to an older
    layout's `last.pt` (`resume_source(trial, inner=legacy)`).

    Args:
        trial: The live trial.
        step_offset: The step of this fit's epoch 0 (fold f of k: `f * epochs`); `fit` sets it.
        epochs: This fit's epochs (None: no upper bound); `fit` sets it.
        carry: Plain values saved with every step and read back with `read_checkpoint` (a task
            keeps the results of the folds it finished here).
        legacy: The sub-folder of an older `last.pt` layout to resume from ("" for the trial
            folder itself).
    """

    def __init__(self, trial: Trial, *, step_offset: int = 0, epochs: int | None = None,
                 carry: Mapping[str, Any] | None = None, legacy: str = "") -> None:
        self.trial, self.step_offset, self.epochs = trial, step_offset, epochs
        self.carry, self.legacy = dict(carry or {}), legacy
        self.loaded_from: Path | None = None  # the file the last successful load read

    def spanning(self, *, step_offset: int, epochs: int | None) -> TrialCheckpoints:
        """The same trial's checkpoints for a fit over `epochs` epochs from step `step_offset`."""
        return TrialCheckpoints(self.trial, step_offset=step_offset, epochs=epochs, carry=self.carry,
                                legacy=self.legacy)

    def save(self, state: Mapping[str, Any]) -> Path:
        """Write `state` (its "epoch" names the step) as a step checkpoint; return the file."""
        step = self.step_offset + int(state["epoch"])
        with self.trial.checkpoint(step) as folder:
            torch.save({**state, "carry": self.carry}, folder / STATE)
        return self.trial.checkpoint_dir / f"step-{step}" / STATE

    def load(self) -> dict[str, Any] | None:
        """The checkpoint this fit continues from, or None to start afresh (see the class)."""
        _ = self.trial.checkpoint_dir  # a trial without a study's checkpoint folder is refused, in one line
        where, step = self.trial.resume_checkpoint, self.trial.resume_step
        if where is not None and step is not None:
            if step < self.step_offset:
                return None
            last = step if self.epochs is None else min(step, self.step_offset + self.epochs - 1)
            folder = CheckpointFolder(where.parent)
            taken = folder.latest(at_most=last)
            found = None if taken is None or taken < self.step_offset else folder.step_path(taken)
            if found is not None and (found / STATE).is_file():
                self.loaded_from = found / STATE
                return read_checkpoint(found)
            log.warning("trial %d: no checkpoint of steps %d..%d is kept in %s; training them again",
                        self.trial.number, self.step_offset, last, folder.path)
            return None
        source = resume_source(self.trial, inner=self.legacy)
        if source is None:
            return None
        store = CheckpointStore(source / self.legacy)
        loaded = store.load()
        self.loaded_from = store.loaded_from
        return loaded

    def __repr__(self) -> str:
        return f"TrialCheckpoints(trial={self.trial.number}, step_offset={self.step_offset})"


def read_checkpoint(step_folder: Path) -> dict[str, Any]:
    """The state `fit` saved in a trial's step folder (`state.pt`), read without running code."""
    loaded: dict[str, Any] = torch.load(step_folder / STATE, map_location="cpu", weights_only=True)
    return loaded


def wants_checkpoints(trial: Trial) -> bool:
    """Whether `fit(trial=trial)` checkpoints by itself: when the trial continues from a step
    (resumed, forked, retried), or its study's scheduler may pause or fork trials: it has
    `next_job` or `rung_steps` and no `mode="stopping"` (ASHA's and Hyperband's stopping forms
    never pause)."""
    if trial.resume_step is not None:
        return True
    from shoal.schedulers import SuggestsJobs

    try:
        scheduler = trial.study.scheduler
    except AttributeError:  # a trial over another host has no study (and no checkpoint folder)
        return False
    if getattr(scheduler, "mode", None) == "stopping":
        return False
    return isinstance(scheduler, SuggestsJobs) or bool(getattr(scheduler, "rung_steps", None))


def trial_checkpoint_dir(trial: Trial) -> Path:
    """The checkpoint folder of a live trial: `artifacts_root / <study name> / trial-<number>`.

    The study name is percent-encoded, so any name makes one folder inside the root.
    """
    return _study_dir(trial) / f"trial-{trial.number}"


def resume_source(trial: Trial, *, inner: str = "") -> Path | None:
    """The folder whose `last.pt` (the `CheckpointStore` layout) a trial should resume from, or None.

    In order: the trial's own folder if it holds a checkpoint (the same trial restarted); else
    the nearest ancestor's (`trial.parent`, then its parent...) that holds one, so a retry of a
    trial whose worker died carries on from that trial's last epoch rather than epoch 0; else
    `trial.checkpoint_source`, the folder the trial was told to start from, if it holds one.
    With `inner`, a folder counts when `folder / inner` holds the checkpoint (a task's fold).
    Step checkpoints (`trial.checkpoint`) are found by the study instead: `trial.resume_step`.
    """
    own = trial_checkpoint_dir(trial)
    if (own / inner / LAST).is_file():
        return own
    parents: dict[int, int | None] | None = None
    seen = {trial.number}
    number = trial.parent
    while number is not None and number not in seen:
        folder = _study_dir(trial) / f"trial-{number}"
        if (folder / inner / LAST).is_file():
            return folder
        seen.add(number)
        if parents is None:  # one read of the study, only for a retry of a retry
            parents = {t.number: t.parent for t in trial.study.trials}
        number = parents.get(number)
    if trial.checkpoint_source:
        given = Path(trial.checkpoint_source)
        folder = given.parent if given.name == LAST else given
        if (folder / inner / LAST).is_file():
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
