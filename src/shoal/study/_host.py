"""The host protocol: everything a running Trial asks of whatever runs it.

A `Trial` never reads a Study's attributes and a Study never reads a Trial's: they meet here, as
httpx's Client meets its Transport. `Study` is the one real host; a test can drive a Trial over a
fake host with no storage at all, and a change such as pausing (a new decision and a new finished
state), forking (a new proposal) or a command channel to a running trial (read in `decide`) lands
in one method of the host.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Protocol, TypedDict, overload, runtime_checkable

from shoal.exceptions import SearchSpaceExhausted
from shoal.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    import numpy as np

    from shoal.schedulers import Decision
    from shoal.space import Param, Space

__all__ = ["LazyHistory", "TrialHost", "TrialWrite", "one_line", "sampler_failure"]


class TrialWrite(TypedDict, total=False):
    """Fields merged into a running trial's record by one write (each optional)."""

    params: Mapping[str, Any]
    distributions: Mapping[str, Param]
    intermediate: Mapping[int, float]
    user_attrs: Mapping[str, Any]
    system_attrs: Mapping[str, Any]


@runtime_checkable
class TrialHost(Protocol):
    """What a running `Trial` needs from the study that runs it: five calls, nothing else.

    The trial passes its own number and id (or a `FrozenTrial` snapshot of itself), so a host
    keeps no reference to the trial's internals. The trial reads the past only through the sampler
    (`propose`) and the scheduler (`decide`), so the history stays the host's business: a Study
    reads it from storage, and only when the sampler or scheduler actually looks.
    """

    def write_trial(self, *, number: int, trial_id: int, fields: TrialWrite) -> None:
        """Merge `fields` into the stored record of the running trial."""
        ...

    def known_distribution(self, name: str) -> Param | None:
        """The distribution `name` already has in this study (declared or seen), or None."""
        ...

    def propose(self, *, number: int, space: Space, rng: np.random.Generator) -> dict[str, Any]:
        """The sampler's values for `space` in trial `number` (may raise: the trial then fails)."""
        ...

    def decide(self, trial: FrozenTrial) -> Decision:
        """The scheduler's decision for the running trial, given its latest reports."""
        ...

    def finish_trial(self, trial: FrozenTrial, value: Any = None, *, state: TrialState | None = None,
                     reason: str | None = None,
                     system_attrs: Mapping[str, Any] | None = None) -> FrozenTrial:
        """End the running trial once and return its final record (value COMPLETEs it)."""
        ...


def one_line(err: BaseException) -> str:
    """An exception as the one-line failure reason stored with a trial."""
    text = str(err).strip().splitlines()
    return f"{type(err).__name__}: {text[0]}" if text else type(err).__name__


def sampler_failure(err: BaseException) -> str:
    """The failure reason of a trial whose sampler raised before the objective could run."""
    if isinstance(err, SearchSpaceExhausted):
        return f"not run: {err}"
    return f"sampler failed: {one_line(err)}"


class LazyHistory(Sequence[FrozenTrial]):
    """A study's trials, read (by `load`) on first access: a scheduler that never looks costs no read."""

    def __init__(self, load: Callable[[], list[FrozenTrial]]) -> None:
        self._load = load
        self._items: list[FrozenTrial] | None = None

    def _get(self) -> list[FrozenTrial]:
        if self._items is None:
            self._items = self._load()
        return self._items

    @overload
    def __getitem__(self, index: int) -> FrozenTrial: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[FrozenTrial]: ...

    def __getitem__(self, index: int | slice) -> FrozenTrial | Sequence[FrozenTrial]:
        return self._get()[index]

    def __len__(self) -> int:
        return len(self._get())

    def __iter__(self) -> Iterator[FrozenTrial]:
        return iter(self._get())
