"""Every error shoal raises, in one tree.

```
ShoalError
├── ConfigError (ValueError)         a value the user gave is wrong; the message says which and how to fix it
│   ├── SpaceError                   a parameter or space definition is invalid
│   └── DistributionMismatch         a parameter name reused with a different distribution
├── StudyNotFound (KeyError)         no study of that name in the storage
├── StudyExists                      a study of that name already exists
├── StorageError                     the storage cannot be used as asked
│   ├── StorageURLError              the storage URL is malformed or its driver is missing
│   └── SchemaVersionError           the storage was written by an incompatible schema version
├── SearchSpaceExhausted             the sampler has nothing left to propose (a finished grid)
├── NoCompletedTrials (ValueError)   a best trial was asked for before any trial completed
├── TestSetLocked                    the test set was read during tuning (in shoal.torch)
├── TooManyFailures                  optimize stopped: too many trials in a row failed
└── TrialOutcome                     raised *inside* an objective to end the trial; never stops a study
    ├── TrialPruned                  the trial was stopped early; it ends PRUNED
    ├── TrialPaused                  the trial saved a checkpoint and stops for now; it is PAUSED
    └── TrialFailed                  the trial failed for a known reason; it ends FAILED

KeyboardInterrupt
└── Terminated                       SIGTERM arrived during optimize; handled as Ctrl-C

TrialTimedOut (BaseException)        raised inside an objective past its trial_timeout; ends FAILED("timeout")
```

A `TrialOutcome` marks one trial; any other exception from an objective marks the trial FAILED and,
unless `catch` names it, stops the run.
"""

from __future__ import annotations

__all__ = [
    "ConfigError",
    "DistributionMismatch",
    "NoCompletedTrials",
    "SchemaVersionError",
    "SearchSpaceExhausted",
    "ShoalError",
    "SpaceError",
    "StorageError",
    "StorageURLError",
    "StudyExists",
    "StudyNotFound",
    "Terminated",
    "TooManyFailures",
    "TrialFailed",
    "TrialOutcome",
    "TrialPaused",
    "TrialPruned",
    "TrialTimedOut",
]


class ShoalError(Exception):
    """Base of every shoal error."""


class ConfigError(ShoalError, ValueError):
    """A value given by the user is invalid."""


class SpaceError(ConfigError):
    """A parameter or a search space is invalid."""


class DistributionMismatch(ConfigError):
    """A parameter name was reused with a different distribution."""


class StudyNotFound(ShoalError, KeyError):
    """No study of that name exists in the storage."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0]) if self.args else ""


class StudyExists(ShoalError):
    """A study of that name already exists in the storage."""


class StorageError(ShoalError):
    """The storage cannot be used as asked."""


class StorageURLError(StorageError, ConfigError):
    """The storage URL is malformed, or the database driver it needs is not installed."""


class SchemaVersionError(StorageError):
    """The storage was written with a schema version this shoal cannot read."""


class SearchSpaceExhausted(ShoalError):
    """The sampler has no configuration left to propose."""


class NoCompletedTrials(ShoalError, ValueError):
    """The study has no completed trial with a finite value yet."""


class TooManyFailures(ShoalError):
    """optimize stopped because its last trials all failed (see `max_consecutive_failures`)."""


class Terminated(KeyboardInterrupt):
    """SIGTERM arrived while optimize ran: it was handled as Ctrl-C (running trials FAILED)."""


class TrialOutcome(ShoalError):
    """Raised inside an objective to end the current trial without stopping the study."""


class TrialPruned(TrialOutcome):
    """End the trial as PRUNED; its last reported value is kept."""


class TrialPaused(TrialOutcome):
    """End this run of the trial as PAUSED: its checkpoint is saved, and a worker may resume it.

    Raise it when `trial.should_pause()` is True (a promotion scheduler's rung), after saving the
    step's checkpoint with `trial.checkpoint(step)`.
    """


class TrialFailed(TrialOutcome):
    """End the trial as FAILED with the given reason; the study goes on."""


class TrialTimedOut(BaseException):
    """Raised inside an objective whose trial ran past `optimize(trial_timeout=)`: it ends FAILED.

    A BaseException, like KeyboardInterrupt, so that an objective's `except Exception` does not
    swallow it; `finally` blocks still run.
    """
