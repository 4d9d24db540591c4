"""An incremental index of the rungs, so ASHA's and Hyperband's `next_job` do not re-rank every
rung from the whole history at each call.

`next_job(history)` stays a function of the history: the index is only a memo of it. Between two
calls of a study, only the trials that changed are new objects (the study's cache keeps the
others), so the index re-reads a trial only when its object changed, and keeps, per (group, rung),
the trials that reached the rung sorted by (value, number): exactly `ranked`'s order. A history
that is not a superset of the last one (another study, a rebuilt list) rebuilds the index.
One objective only: several are ranked by non-dominated sorting of the whole rung, which does not
update incrementally, so those schedulers keep the direct path.
"""

from __future__ import annotations

import bisect
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from shoal.schedulers._rungs import is_promoted, paused_at, rung_step
from shoal.trial import FrozenTrial, TrialState

__all__ = ["RungIndex"]

#: (rung, place in the rung's order, trial): a PAUSED trial that may be resumed.
Promotable = tuple[int, int, FrozenTrial]


@dataclass
class _Seen:
    trial: FrozenTrial
    entries: tuple[tuple[int, float], ...]  # (rung, value) of every rung of its group it reached
    waiting: tuple[int, ...]  # the rungs it is PAUSED at and not promoted from (usually none or one)


@dataclass
class _State:
    seen: dict[int, _Seen] = field(default_factory=dict)
    order: dict[tuple[int, int], list[tuple[float, int]]] = field(default_factory=dict)
    waiting: dict[tuple[int, int], set[int]] = field(default_factory=dict)


class RungIndex:
    """Which trials reached which rung of which group, kept sorted, updated from the changed trials.

    Args:
        rungs: Each group's rungs, ascending (ASHA: one group; Hyperband: one per bracket).
        group_of: The group of a trial number (picklable: schedulers travel to worker processes).
    """

    def __init__(self, *, rungs: Sequence[Sequence[int]], group_of: Callable[[int], int]) -> None:
        self._rungs = tuple(tuple(r) for r in rungs)
        self._group_of = group_of
        self._state = _State()
        self._lock = threading.Lock()  # a study's threads may ask at once

    def __getstate__(self) -> dict[str, object]:  # a memo: a pickled scheduler starts it afresh
        return {"_rungs": self._rungs, "_group_of": self._group_of}

    def __setstate__(self, state: dict[str, object]) -> None:
        self.__dict__.update(state)
        self._state = _State()
        self._lock = threading.Lock()

    def promotable(self, history: Sequence[FrozenTrial], *, reduction_factor: int) -> list[Promotable]:
        """What `promotable` returns for each group's members of `history`, from the index."""
        with self._lock:
            state = self._update(history)
            return self._candidates(state, reduction_factor)

    @staticmethod
    def _candidates(state: _State, reduction_factor: int) -> list[Promotable]:
        out = []
        for key, waiting in state.waiting.items():
            if not waiting:
                continue
            order = state.order[key]
            for place, (_, number) in enumerate(order[:len(order) // reduction_factor]):
                if number in waiting:
                    out.append((key[1], place, state.seen[number].trial))
                    break
        return out

    def _update(self, history: Sequence[FrozenTrial]) -> _State:
        state = self._state
        for trial in history:
            old = state.seen.get(trial.number)
            if old is not None and old.trial is trial:
                continue
            if old is not None and old.trial.trial_id != trial.trial_id:
                state = self._state = _State()  # another study's trials: start over
                return self._update(history)
            self._index(state, trial, old)
        if len(state.seen) > len(history):  # trials vanished: the history is not the one indexed
            self._state = _State()
            return self._update(history)
        return state

    def _index(self, state: _State, trial: FrozenTrial, old: _Seen | None) -> None:
        group = self._group_of(trial.number)
        entries = []
        for rung in self._rungs[group]:
            step = rung_step(trial, rung)
            if step is None:
                break  # rungs ascend: none further was reached either
            value = trial.signs[0] * trial.intermediate[step]
            entries.append((rung, value if not math.isnan(value) else math.inf))  # NaN ranks last
        waiting: tuple[int, ...] = ()
        if trial.state is TrialState.PAUSED:
            waiting = tuple(r for r, _ in entries if paused_at(trial, r) and not is_promoted(trial, r))
        new = _Seen(trial, tuple(entries), waiting)
        if old is not None:
            if old.entries != new.entries:
                for rung, value in old.entries:
                    order = state.order[(group, rung)]
                    del order[bisect.bisect_left(order, (value, trial.number))]
            for rung in old.waiting:
                state.waiting[(group, rung)].discard(trial.number)
        if old is None or old.entries != new.entries:
            for rung, value in new.entries:
                bisect.insort(state.order.setdefault((group, rung), []), (value, trial.number))
        for rung in waiting:
            state.waiting.setdefault((group, rung), set()).add(trial.number)
        state.seen[trial.number] = new
