"""The scheduler protocol: a scheduler returns a decision and never acts on it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Protocol, runtime_checkable

from shoal.exceptions import ConfigError
from shoal.trial import FrozenTrial

__all__ = ["Decision", "NoStopping", "Scheduler", "Suggestion", "SuggestsJobs"]


class Decision(str, Enum):
    """What a scheduler advises for a running trial after it reported."""

    CONTINUE = "CONTINUE"
    STOP = "STOP"
    PAUSE = "PAUSE"


@runtime_checkable
class Scheduler(Protocol):
    """Decides whether a running trial goes on, stops, or pauses (to resume later from a checkpoint).

    Any state (rungs, brackets) is recomputed from `history`, so workers agree without talking.
    """

    def decide(self, trial: FrozenTrial, history: Sequence[FrozenTrial]) -> Decision: ...


@dataclass(frozen=True)
class Suggestion:
    """What a scheduler asks the next free worker to run instead of a new configuration.

    Exactly one of these is set:

    - `resume`: the number of a PAUSED trial to continue from its checkpoint (ASHA's promotion, a
      Hyperband bracket's next rung). The same trial runs on; its curve stays one record.
    - `fork`: the number of a trial whose checkpoint at `step` a *new* trial starts from, with
      `params` changed (PBT's exploit). The new trial records its parent, the step and what
      changed; `replaces` names the trial it takes the place of (the exploited member), if any.
    - `wait`: nothing to run now, but there will be (a synchronous rung not yet full): the worker
      asks again shortly instead of starting a new configuration.

    >>> Suggestion(resume=3)
    Suggestion(resume=3, fork=None, step=None, params={}, replaces=None, wait=False)
    """

    resume: int | None = None
    fork: int | None = None
    step: int | None = None
    params: Mapping[str, Any] = field(default_factory=dict)
    replaces: int | None = None
    wait: bool = False

    def __post_init__(self) -> None:
        chosen = [self.resume is not None, self.fork is not None, self.wait]
        if sum(chosen) != 1:
            raise ConfigError("fields of Suggestion must set exactly one of resume=, fork= (with "
                              f"step=) or wait=True. Got {self!r}.")
        if self.fork is not None and self.step is None:
            raise ConfigError(f"step of a fork Suggestion must be the parent's step. Got {self!r}.")


@runtime_checkable
class SuggestsJobs(Protocol):
    """A scheduler that also chooses work for a free worker: resume a paused trial, fork one.

    `next_job(history)` is asked before every new configuration; None means "start a new one" (the
    sampler's). Like `decide`, it is a pure function of the history (any randomness is derived
    from the scheduler's seed and trial numbers), so workers on any machine agree on it; two
    workers offered the same paused trial race for it in storage, and exactly one wins.
    """

    def decide(self, trial: FrozenTrial, history: Sequence[FrozenTrial]) -> Decision: ...

    def next_job(self, history: Sequence[FrozenTrial]) -> Suggestion | None: ...


class NoStopping:
    """Let every trial run to the end: the default.

    >>> from shoal.trial import FrozenTrial, TrialState
    >>> NoStopping().decide(FrozenTrial(0, 1, TrialState.RUNNING), [])
    <Decision.CONTINUE: 'CONTINUE'>
    """

    multi_objective = True  # it never ranks trials, so it serves any number of objectives

    def decide(self, trial: FrozenTrial, history: Sequence[FrozenTrial]) -> Decision:
        return Decision.CONTINUE

    def __repr__(self) -> str:
        return "NoStopping()"
