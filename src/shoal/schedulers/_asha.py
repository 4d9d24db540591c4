"""Asynchronous successive halving (Li et al. 2020, "A System for Massively Parallel
Hyperparameter Optimization"), in its stopping and promotion forms."""

from __future__ import annotations

from collections.abc import Callable, Sequence

from shoal import _validate
from shoal.schedulers._protocol import Decision, Suggestion
from shoal.schedulers._rung_index import RungIndex
from shoal.schedulers._rungs import (
    check_resources,
    crossed_rungs,
    entries_at,
    is_promoted,
    order_key,
    paused_at,
    ranked,
    rung_levels,
)
from shoal.trial import FrozenTrial, TrialState

__all__ = ["ASHA", "MODES", "Promotable", "asha_decide", "best_promotion", "promotable", "single_objective"]

MODES = ("promotion", "stopping")

#: (rung, place in the rung's order, trial): a PAUSED trial that may be resumed.
Promotable = tuple[int, int, FrozenTrial]


def asha_decide(trial: FrozenTrial, history: Sequence[FrozenTrial], *, rungs: Sequence[int],
                max_resource: int, reduction_factor: int, promotion: bool,
                peer: Callable[[int], bool] | None = None) -> Decision:
    """ASHA's decision for `trial` after its latest report, against the trials of `history` for
    which `peer(number)` holds (all by default; Hyperband's: the same bracket).

    At a rung the trial reached with this report: PAUSE in the promotion form; in the stopping
    form STOP unless at most 1/eta of the trials at that rung (itself included) are strictly
    better (Syne Tune's rule: the first trial at a rung goes on, a tie goes on). The history is
    read only in the stopping form at a rung (a study then reads storage only there).
    """
    last = trial.last_step
    if last is None or last >= max_resource:
        return Decision.CONTINUE  # a trial at the full resource ends by itself
    # A trial resumed at a rung has been promoted from it: reporting its restored steps again (as
    # the PyTorch harness does) must not pause or judge it there a second time.
    crossed = [r for r in crossed_rungs(trial, rungs) if not is_promoted(trial, r)]
    if not crossed:
        return Decision.CONTINUE
    if promotion:
        return Decision.PAUSE
    others = [t for t in history if t.number != trial.number and (peer is None or peer(t.number))]
    for rung in crossed:
        entries = entries_at(rung, [*others, trial])
        keys = order_key(entries)
        own = keys[trial.number]
        better = sum(1 for t, _ in entries if keys[t.number] < own)
        if better * reduction_factor > len(entries):
            return Decision.STOP
    return Decision.CONTINUE


def promotable(members: Sequence[FrozenTrial], *, rungs: Sequence[int],
               reduction_factor: int) -> list[Promotable]:
    """For each rung, the best PAUSED trial there that ASHA may promote, if any.

    A trial is promotable from rung r when it is among the top floor(n / eta) of the n trials
    that reached r (any state: a pruned or failed trial still took a place) and has not gone
    past r yet.
    """
    out = []
    paused = [t for t in members if t.state is TrialState.PAUSED]
    for rung in rungs:
        # Ranking a rung costs a pass over every trial: skip rungs where nothing waits.
        if not any(paused_at(t, rung) and not is_promoted(t, rung) for t in paused):
            continue
        entries = entries_at(rung, members)
        top = ranked(entries)[:len(entries) // reduction_factor]
        for place, trial in enumerate(top):
            if paused_at(trial, rung) and not is_promoted(trial, rung):
                out.append((rung, place, trial))
                break
    return out


def single_objective(history: Sequence[FrozenTrial]) -> bool:
    """True when the trials have one objective: then a memoised rung index serves `next_job`."""
    return not history or len(history[0].signs) == 1


def _one_group(number: int) -> int:
    return 0


def best_promotion(candidates: Sequence[Promotable]) -> Suggestion | None:
    """The highest rung first (as in the paper), then the better place, then the older trial."""
    if not candidates:
        return None
    best = max(candidates, key=lambda c: (c[0], -c[1], -c[2].number))
    return Suggestion(resume=best[2].number)


class ASHA:
    """Asynchronous successive halving: stop or pause trials at rungs min_resource * eta**k.

    Steps are whatever the objective reports (epochs, samples seen, seconds); a trial reaches
    rung r at its first reported step >= r. A trial at `max_resource` or beyond always goes on:
    it ends by itself.

    - ``mode="stopping"``: at a rung, STOP unless the trial is in the top 1/eta of the trials
      that reached that rung so far, itself included (Syne Tune's rule; ties go on).
    - ``mode="promotion"``: PAUSE at every rung; `next_job` resumes a PAUSED trial that is in
      the top floor(n / eta) of the n trials at its rung and not promoted yet, highest rung first
      (the paper's Algorithm 2); otherwise a new configuration starts. Trials that never reach
      the top stay PAUSED. An objective that never calls `trial.should_pause()` simply runs on.

    With several objectives (`multi_objective = True`), objective i >= 1 is read per step from
    the curve "objective_i" and a rung is ordered by non-dominated rank, then crowding distance.

    Args:
        min_resource: The first rung (a step > 0).
        max_resource: The step a full trial reaches; rungs lie below it.
        reduction_factor: eta: one in eta trials goes on from each rung.
        mode: "stopping" or "promotion".

    >>> from shoal.trial import FrozenTrial, TrialState
    >>> asha = ASHA(max_resource=9)
    >>> asha.rung_steps
    frozenset({1, 3})
    >>> good = FrozenTrial(0, 0, TrialState.COMPLETE, intermediate={1: 0.2, 3: 0.1})
    >>> bad = FrozenTrial(1, 1, TrialState.RUNNING, intermediate={1: 0.9})
    >>> asha.decide(bad, [good, bad])
    <Decision.STOP: 'STOP'>
    >>> ASHA(max_resource=9, mode="promotion").decide(bad, [good, bad])
    <Decision.PAUSE: 'PAUSE'>
    """

    multi_objective = True

    def __init__(self, *, min_resource: int = 1, max_resource: int, reduction_factor: int = 3,
                 mode: str = "stopping") -> None:
        self.min_resource, self.max_resource, self.reduction_factor = check_resources(
            min_resource, max_resource, reduction_factor, owner="ASHA")
        self.mode: str = _validate.one_of(mode, MODES, what="mode", owner="ASHA")
        self.rungs = rung_levels(self.min_resource, self.max_resource, self.reduction_factor)
        self.rung_steps = frozenset(self.rungs)
        self._index = RungIndex(rungs=(self.rungs,), group_of=_one_group)

    def decide(self, trial: FrozenTrial, history: Sequence[FrozenTrial]) -> Decision:
        return asha_decide(trial, history, rungs=self.rungs, max_resource=self.max_resource,
                           reduction_factor=self.reduction_factor,
                           promotion=self.mode == "promotion")

    def next_job(self, history: Sequence[FrozenTrial]) -> Suggestion | None:
        """The PAUSED trial to resume (promotion form), or None: start a new configuration."""
        if self.mode != "promotion":
            return None
        if single_objective(history):
            return best_promotion(self._index.promotable(history, reduction_factor=self.reduction_factor))
        return best_promotion(promotable(history, rungs=self.rungs,
                                         reduction_factor=self.reduction_factor))

    def __repr__(self) -> str:
        return (f"ASHA(min_resource={self.min_resource}, max_resource={self.max_resource}, "
                f"reduction_factor={self.reduction_factor}, mode={self.mode!r})")
