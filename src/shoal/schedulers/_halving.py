"""Synchronous successive halving (Jamieson and Talwalkar 2016; Li et al. 2018, Hyperband's
inner loop): a bracket of n trials, halved by eta at every rung once the whole rung is in."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from shoal import _validate
from shoal.schedulers._protocol import Decision, Suggestion
from shoal.schedulers._rungs import (
    check_resources,
    crossed_rungs,
    entries_at,
    is_promoted,
    paused_at,
    ranked,
    rung_levels,
    rung_step,
)
from shoal.trial import FrozenTrial, TrialState

__all__ = ["SuccessiveHalving"]


@dataclass(frozen=True)
class _Rung:
    """One rung of a bracket: who was sent there, whether all of them are in, and who goes on."""

    level: int
    members: tuple[FrozenTrial, ...]
    full: bool
    top: frozenset[int]  # numbers promoted from this rung (empty until full)


def _ladder(members: Sequence[FrozenTrial], rungs: Sequence[int], eta: int) -> list[_Rung]:
    """The rungs of one complete bracket as far as they are decided (the last one may be open)."""
    out: list[_Rung] = []
    current = tuple(members)
    for level in rungs:
        # In: reached the rung, or ended (COMPLETE, PRUNED, FAILED) before it.
        full = all(rung_step(t, level) is not None or t.state.is_finished for t in current)
        top: frozenset[int] = frozenset()
        if full:
            entries = entries_at(level, current)
            keep = max(1, len(entries) // eta) if entries else 0
            top = frozenset(t.number for t in ranked(entries)[:keep])
        out.append(_Rung(level, current, full, top))
        if not full:
            break
        current = tuple(t for t in current if t.number in top)
    return out


class SuccessiveHalving:
    """Synchronous successive halving: trials n*b .. n*b + n - 1 form bracket b.

    Every trial PAUSEs at each rung min_resource * eta**k below `max_resource`. Once every trial
    sent to a rung has reached it (or ended before it), the best max(1, floor(m / eta)) of the m
    that reached it go on: `next_job` resumes them, and the last trial to arrive goes straight on
    when it is among them. Until then `next_job` says wait while a running trial can still fill
    the rung, and a new configuration while the current bracket has fewer than n trials.

    The others stay PAUSED (so a person can still resume one). If one is resumed anyway, or an
    objective ignores `should_pause()` and runs on, `decide` says STOP at its next report after
    the rung is decided without it: a trial goes past a rung only if the rung chose it.
    Steps are whatever the objective reports (epochs, samples seen, seconds). With several
    objectives, ranking follows `ASHA`'s rule (curves "objective_i", fronts, then crowding).

    Args:
        min_resource: The first rung (a step > 0).
        max_resource: The step a full trial reaches.
        reduction_factor: eta.
        n_configs: Trials per bracket (Hyperband's n).

    >>> from shoal.trial import FrozenTrial, TrialState
    >>> sh = SuccessiveHalving(max_resource=9, n_configs=3)
    >>> paused = [FrozenTrial(n, n, TrialState.PAUSED, intermediate={1: float(n)}) for n in (1, 2)]
    >>> sh.next_job(paused)  # trial 0 is missing: start it
    >>> running = FrozenTrial(0, 0, TrialState.RUNNING, intermediate={0: 5.0})
    >>> sh.next_job([running, *paused])
    Suggestion(resume=None, fork=None, step=None, params={}, replaces=None, wait=True)
    >>> sh.next_job([FrozenTrial(0, 0, TrialState.PAUSED, intermediate={1: 5.0}), *paused])
    Suggestion(resume=1, fork=None, step=None, params={}, replaces=None, wait=False)
    """

    multi_objective = True

    def __init__(self, *, min_resource: int = 1, max_resource: int, reduction_factor: int = 3,
                 n_configs: int) -> None:
        owner = "SuccessiveHalving"
        self.min_resource, self.max_resource, self.reduction_factor = check_resources(
            min_resource, max_resource, reduction_factor, owner=owner)
        self.n_configs = _validate.integer(n_configs, what="n_configs", owner=owner, low=1)
        self.rungs = rung_levels(self.min_resource, self.max_resource, self.reduction_factor)
        self.rung_steps = frozenset(self.rungs)

    def _bracket(self, number: int, history: Sequence[FrozenTrial]) -> list[FrozenTrial] | None:
        """The trials of `number`'s bracket, or None while some are not created yet."""
        low = number - number % self.n_configs
        members = [t for t in history if low <= t.number < low + self.n_configs]
        return members if len({t.number for t in members}) == self.n_configs else None

    def decide(self, trial: FrozenTrial, history: Sequence[FrozenTrial]) -> Decision:
        last = trial.last_step
        if last is None or last >= self.max_resource or last < self.rungs[0]:
            return Decision.CONTINUE  # before the first rung the history is not even read
        members = self._bracket(trial.number, [*(t for t in history if t.number != trial.number),
                                               trial])
        ladder = [] if members is None else _ladder(members, self.rungs, self.reduction_factor)
        chosen = {r.level: trial.number in r.top for r in ladder if r.full}
        crossed = [r for r in crossed_rungs(trial, self.rungs) if not is_promoted(trial, r)]
        if crossed:  # go straight on only when this report completed the rung and it was chosen
            return Decision.CONTINUE if all(chosen.get(r, False) for r in crossed) else Decision.PAUSE
        for rung in ladder:
            step = rung_step(trial, rung.level)
            in_rung = any(t.number == trial.number for t in rung.members)
            if rung.full and in_rung and step is not None and step < last and not chosen[rung.level]:
                return Decision.STOP
        return Decision.CONTINUE

    def next_job(self, history: Sequence[FrozenTrial]) -> Suggestion | None:
        """Resume a chosen PAUSED trial, wait for a rung to fill, or None: a new configuration."""
        brackets: dict[int, list[FrozenTrial]] = {}
        for trial in history:
            brackets.setdefault(trial.number // self.n_configs, []).append(trial)
        waiting = False
        for b in sorted(brackets):
            members = brackets[b]
            if len({t.number for t in members}) < self.n_configs:
                return None  # this bracket still needs new configurations
            for rung in _ladder(members, self.rungs, self.reduction_factor):
                if not rung.full:
                    waiting = waiting or any(
                        t.state in (TrialState.RUNNING, TrialState.WAITING)
                        and rung_step(t, rung.level) is None for t in rung.members)
                    continue
                chosen = [t for t in ranked(entries_at(rung.level, rung.members))
                          if t.number in rung.top]
                for trial in chosen:
                    if paused_at(trial, rung.level) and not is_promoted(trial, rung.level):
                        return Suggestion(resume=trial.number)
        return Suggestion(wait=True) if waiting else None

    def __repr__(self) -> str:
        return (f"SuccessiveHalving(min_resource={self.min_resource}, "
                f"max_resource={self.max_resource}, reduction_factor={self.reduction_factor}, "
                f"n_configs={self.n_configs})")
