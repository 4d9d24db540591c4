"""The sampler protocol and the view of the past that samplers read."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from shoal.space import Space
from shoal.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    import numpy as np

__all__ = ["DescribesTrials", "History", "MultiObjective", "Sampler", "sampler_rng"]


@dataclass(frozen=True)
class History:
    """Everything a sampler may know: the study's trials and the number of the trial to fill.

    Samplers keep no hidden state; anything they need to remember (a zoom round, a position in a
    low-discrepancy sequence, a grid cursor) is derived from here, so every worker sharing the
    storage agrees and nothing needs saving on resume.
    """

    trials: Sequence[FrozenTrial]
    number: int

    @property
    def position(self) -> int:
        """How many earlier trials a sampler drew: the index of this trial in a sampler's sequence.

        Enqueued and retried trials carry given parameters, so they do not use up a position.
        Numbers are assigned atomically, so this is the same whichever worker computes it.
        """
        return sum(1 for t in self.trials if t.number < self.number and not t.is_fixed)

    def complete(self) -> list[FrozenTrial]:
        return [t for t in self.trials if t.state is TrialState.COMPLETE]

    def usable(self) -> list[FrozenTrial]:
        """Finished trials with a finite score (complete ones, and pruned ones that reported)."""
        return [t for t in self.trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED)
                and t.is_usable()]

    def running(self) -> list[FrozenTrial]:
        """Trials other workers are running now (not the one being filled)."""
        return [t for t in self.trials if t.state is TrialState.RUNNING and t.number != self.number]

    def failed(self) -> list[FrozenTrial]:
        return [t for t in self.trials if t.state is TrialState.FAILED]


@runtime_checkable
class Sampler(Protocol):
    """Chooses the next configuration. Stateless: the same inputs give the same output.

    `seed` seeds the generator the study passes to `suggest`; it is mixed with the trial number,
    so a seeded study is reproducible whichever worker runs which trial.
    """

    seed: int | None

    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        """Return values for the active parameters of `space`."""
        ...


@runtime_checkable
class DescribesTrials(Protocol):
    """The optional sampler hook: system attributes to record on the trial being filled.

    A sampler that has it (CoarseToFine's zoom round and box, TPE's and GP's phase) is checked
    with `isinstance(sampler, DescribesTrials)`; the study records the returned mapping, which
    must be JSON and the same for the same inputs (as `suggest` is).

    >>> from shoal.samplers import CoarseToFineSampler, RandomSampler
    >>> isinstance(CoarseToFineSampler(), DescribesTrials), isinstance(RandomSampler(), DescribesTrials)
    (True, False)
    """

    def describe(self, space: Space, history: History) -> dict[str, Any]:
        """Return JSON-serialisable attributes for trial `history.number`."""
        ...


@runtime_checkable
class MultiObjective(Protocol):
    """The optional capability: handling a study with several objectives.

    A sampler (or scheduler) that ranks trials by more than one objective says so with a class
    attribute `multi_objective = True`; `create_study(directions=[...])` refuses any other, since
    a sampler written for one objective would silently optimise the first. Samplers that never
    read results (random, grid, quasi-random) handle any number of objectives.

    >>> from shoal.samplers import RandomSampler
    >>> isinstance(RandomSampler(), MultiObjective) and RandomSampler.multi_objective
    True
    """

    multi_objective: bool


def sampler_rng(seed: int | None, number: int) -> np.random.Generator:
    """The generator for trial `number`: independent per trial, reproducible for a given seed."""
    import numpy as np  # here, not at the top: `import shoal` stays free of numpy

    if seed is None:
        return np.random.default_rng()
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(number,)))
