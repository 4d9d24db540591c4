"""The scheduler protocol: a scheduler returns a decision and never acts on it."""

from __future__ import annotations

from collections.abc import Sequence
from enum import Enum
from typing import Protocol, runtime_checkable

from shoal.trial import FrozenTrial

__all__ = ["Decision", "NoStopping", "Scheduler"]


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
