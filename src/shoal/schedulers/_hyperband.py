"""Asynchronous Hyperband (Li et al. 2018, "Hyperband"; its asynchronous form as in Li et al.
2020): brackets of ASHA with different first rungs."""

from __future__ import annotations

import math
from collections.abc import Sequence

from shoal import _validate
from shoal.schedulers._asha import MODES, asha_decide, best_promotion, promotable, single_objective
from shoal.schedulers._protocol import Decision, Suggestion
from shoal.schedulers._rung_index import RungIndex
from shoal.schedulers._rungs import check_resources
from shoal.trial import FrozenTrial

__all__ = ["Hyperband"]

_GOLDEN = (math.sqrt(5.0) - 1.0) / 2.0  # Weyl sequence step: spreads any prefix evenly


class Hyperband:
    """Hyperband over brackets s = s_max..0, each an ASHA with its own first rung.

    With s_max = floor(log_eta(max_resource / min_resource)), bracket s has rungs
    max_resource / eta**k for k = s..1 (rounded to steps; none for s = 0), and holds
    n_s = ceil((s_max + 1) / (s + 1) * eta**s) of every sum(n_s) trials, as in Li et al. 2018
    (for max_resource=81, eta=3: s=4: 81 trials from 1; s=3: 34 from 3; s=2: 15 from 9; s=1: 8
    from 27; s=0: 5 at 81). `brackets()` gives each bracket's successive-halving table.

    Bracket of a trial (deterministic, from its number only, so every worker agrees and no
    bracket fills first): u = frac((number + 1) * 0.618...) (the golden-ratio Weyl sequence, whose
    prefixes are spread evenly over [0, 1)), and the bracket is the one whose share of the
    cumulative weights n_s / sum(n_s), from s_max down, contains u. Each bracket is an ASHA
    (`mode` "stopping" or "promotion") that ranks its own trials only; bracket 0 never stops
    or pauses. Steps are whatever the objective reports (epochs, samples seen, seconds).

    Args:
        min_resource: The first rung of the most aggressive bracket (a step > 0).
        max_resource: The step a full trial reaches.
        reduction_factor: eta.
        mode: "stopping" or "promotion" (see `ASHA`).

    >>> hb = Hyperband(max_resource=81)
    >>> [(s, table[0]) for s, table in enumerate(hb.brackets())]
    [(0, (5, 81)), (1, (8, 27)), (2, (15, 9)), (3, (34, 3)), (4, (81, 1))]
    >>> hb.brackets()[2]
    ((15, 9), (5, 27), (1, 81))
    >>> sorted(hb.rung_steps)
    [1, 3, 9, 27]
    """

    multi_objective = True

    def __init__(self, *, min_resource: int = 1, max_resource: int, reduction_factor: int = 3,
                 mode: str = "stopping") -> None:
        self.min_resource, self.max_resource, self.reduction_factor = check_resources(
            min_resource, max_resource, reduction_factor, owner="Hyperband")
        self.mode: str = _validate.one_of(mode, MODES, what="mode", owner="Hyperband")
        eta, top = self.reduction_factor, self.max_resource
        if self.min_resource * eta > top:  # one bracket, no rungs: it would never act
            raise _validate.config_error(
                "max_resource", "Hyperband", f">= min_resource * reduction_factor "
                f"({self.min_resource * eta}) for a second bracket", top,
                "Lower min_resource or reduction_factor, or use ASHA.")
        s_max, level = 0, self.min_resource * eta
        while level <= top:
            s_max, level = s_max + 1, level * eta
        self.s_max = s_max
        #: Bracket s -> its rungs: max_resource / eta**k rounded, k = s..1 (none for s = 0).
        self.rungs = tuple(tuple(sorted({(2 * top + eta**k) // (2 * eta**k) for k in range(s, 0, -1)}))
                           for s in range(s_max + 1))
        self.sizes = tuple(math.ceil((s_max + 1) * eta**s / (s + 1)) for s in range(s_max + 1))
        self.rung_steps = frozenset(r for rungs in self.rungs for r in rungs)
        self._index = RungIndex(rungs=self.rungs, group_of=self.bracket_of)

    def brackets(self) -> tuple[tuple[tuple[int, int], ...], ...]:
        """Each bracket's successive-halving table ((n_i, r_i), ...), indexed by s.

        Round i of bracket s keeps floor(n_s / eta**i) trials to resource r_s * eta**i, the last
        round at max_resource.
        """
        eta, out = self.reduction_factor, []
        for s in range(self.s_max + 1):
            table = [(self.sizes[s] // eta**i, r) for i, r in enumerate(self.rungs[s])]
            out.append((*table, (self.sizes[s] // eta**len(table), self.max_resource)))
        return tuple(out)

    def bracket_of(self, number: int) -> int:
        """The bracket s of trial `number` (see the class docstring for the rule)."""
        u = ((number + 1) * _GOLDEN) % 1.0
        total, seen = sum(self.sizes), 0
        for s in range(self.s_max, -1, -1):
            seen += self.sizes[s]
            if u * total < seen:
                return s
        return 0  # not reached: the shares add up to 1

    def decide(self, trial: FrozenTrial, history: Sequence[FrozenTrial]) -> Decision:
        s = self.bracket_of(trial.number)
        return asha_decide(trial, history, rungs=self.rungs[s], max_resource=self.max_resource,
                           reduction_factor=self.reduction_factor,
                           promotion=self.mode == "promotion",
                           peer=lambda number: self.bracket_of(number) == s)

    def next_job(self, history: Sequence[FrozenTrial]) -> Suggestion | None:
        """A PAUSED trial to resume (promotion form): the highest rung of any bracket first."""
        if self.mode != "promotion":
            return None
        if single_objective(history):
            return best_promotion(self._index.promotable(history, reduction_factor=self.reduction_factor))
        members: dict[int, list[FrozenTrial]] = {}
        for trial in history:
            members.setdefault(self.bracket_of(trial.number), []).append(trial)
        candidates = [c for s, trials in members.items()
                      for c in promotable(trials, rungs=self.rungs[s],
                                          reduction_factor=self.reduction_factor)]
        return best_promotion(candidates)

    def __repr__(self) -> str:
        return (f"Hyperband(min_resource={self.min_resource}, max_resource={self.max_resource}, "
                f"reduction_factor={self.reduction_factor}, mode={self.mode!r})")
