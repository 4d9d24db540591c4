"""Model-based multi-fidelity: any single-fidelity sampler, fed the history as BOHB sees it."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from shoal import _validate
from shoal.samplers._gp import GPSampler
from shoal.samplers._multifidelity_view import (
    FINAL,
    Unreached,
    choose_level,
    imputed,
    level_view,
    reached,
    shift,
)
from shoal.samplers._protocol import DescribesTrials, History, Sampler
from shoal.samplers._streams import space_rng
from shoal.space import Fixed, Space
from shoal.trial import FrozenTrial, TrialState

__all__ = ["MultiFidelitySampler"]

# Random draws start after this many drawn trials: the base's initial design is random enough.
_RANDOM_AFTER = 10
# Finished trials never change: their reach and views are remembered (a view made afresh for
# every trial of every suggestion cost more than the model at 1,000 trials).
_MEMO_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED, TrialState.PAUSED)
_STOPPED = (TrialState.PRUNED, TrialState.PAUSED)
# "impute": the newest 16 trials stopped below the level. 2n (n at the level) made a GP's view
# grow with the study: 290 ms a suggestion at 1,400 trials of LCBench task 126029.
_IMPUTED = 16
_NONE = -math.inf


class MultiFidelitySampler:
    """Proposals from a model of the highest resource level with enough results (BOHB-like).

    With a rung scheduler (ASHA, Hyperband, median stopping) most trials stop early, so their
    last reports were measured after few epochs while completed trials were measured after
    all of them; a plain sampler ranks the two together. This one shows its `base` sampler the
    history as if every trial had stopped at one level (Falkner et al. 2018): the highest step
    that at least `min_points` trials reached, each scored by its report at that step (or its
    latest report before it, for trials that report every few steps; completed trials are at a
    level above every step, with their final value). Trials still running past that step count
    with their report there; those running below it stay running (the base's constant liar or
    fantasies apply). Of the pruned and paused trials that stopped below it, the newest 16 are
    imputed there (`unreached="impute"`, the default): their last report moved by the median
    change from their step to the level among the trials that reached both, so the model learns
    where its proposals fail (hidden, a GP proposed one pruned point over and over); older ones
    are hidden. `"drop"` hides them all (BOHB), `"bad"` counts them as failures. Levels are read
    from the reports, so
    any scheduler's rungs, or none, work; a study without reports is passed through unchanged,
    so the sampler is its base on single-fidelity studies.

    After the first 10 trials a `random_fraction` of the trials is drawn at random instead (a
    coin of the seed and the trial number, recorded as `mf_phase`), as BOHB does: a rung
    scheduler compares newcomers with the trials a model already favours, so a model left alone
    can crowd out everything else at the first rung.

    The default base is `GPSampler`: on LCBench's 17 development tasks with a stopping ASHA the
    defaults reached a mean normalised regret of 0.042, against 0.20-0.27 with TPE bases, 0.20
    for random search with the same ASHA and 0.17 for Syne Tune's BOHB (seed 0;
    docs/decisions/multi-fidelity-model.md). Cost at 1,000 trials: about 24 ms of CPU per model
    suggestion, 18.5 ms on average with the random fraction, about 4 ms per decision amortised
    over a trial's suggestion and its per-report scheduler decisions; more where many trials
    reach the top level (the GP's data grows with them: 8-11 ms per decision on LCBench tasks
    where 1,500-2,900 trials started). With
    `base=TPESampler(bandwidth="scott")` it costs 3-5 ms per suggestion and did worse (0.20).

    Stateless: the view is a pure function of the history (finished trials' views are memoised),
    and the base's randomness comes from the per-trial generator. Single objective only: steps
    carry one reported value.

    Args:
        base: The sampler fed the view (default `GPSampler(seed=seed)`); its own startup
            design applies to the view's trials.
        min_points: Trials a level needs to be modelled; None (default) means max(10, d + 1)
            for d searched parameters (BOHB's d + 1, and at least the base's default startup,
            else a level held at fewer trials would keep the base in its initial design).
        unreached: "impute" (default), "drop" or "bad": what becomes of trials stopped below
            the level.
        random_fraction: Share of trials drawn at random after the first 10 (default 1/3).
        seed: Seed of the default base (ignored when `base` is given: the base's seed is used).

    Raises:
        ConfigError: An argument is out of range.

    >>> from shoal.space import Float, Space
    >>> from shoal.samplers import History, TPESampler, sampler_rng
    >>> from shoal.trial import FrozenTrial, TrialState
    >>> space = Space({"x": Float(-5.0, 5.0)})
    >>> trials = [FrozenTrial(i, i, TrialState.PRUNED, params={"x": x},
    ...                       intermediate={1: x * x + 9.0})
    ...           for i, x in enumerate([-4.5, -3.0, -2.0, -1.0, -0.3, 0.2, 1.0, 2.5, 3.5, 4.8])]
    >>> sampler = MultiFidelitySampler(base=TPESampler(seed=0, n_startup=10), min_points=10,
    ...                                random_fraction=0.0)
    >>> abs(sampler.suggest(space, History(trials, 10), sampler_rng(0, 10))["x"]) < 3.0
    True
    >>> sampler.describe(space, History(trials, 10))["mf_level"]
    1
    """

    def __init__(self, *, base: Sampler | None = None, min_points: int | None = None,
                 unreached: Unreached = "impute", random_fraction: float = 1 / 3,
                 seed: int | None = None) -> None:
        owner = "MultiFidelitySampler"
        seed = _validate.seed(seed, owner=owner)
        if base is not None and not isinstance(base, Sampler):
            raise _validate.config_error("base", owner, "a sampler (with suggest and seed)", base,
                                         "Pass e.g. TPESampler(seed=0) or GPSampler(seed=0).")
        self.base: Sampler = base if base is not None else GPSampler(seed=seed)
        self.seed = self.base.seed
        self.min_points = _validate.integer(min_points, what="min_points", owner=owner, low=1,
                                            none=True)
        self.unreached: Unreached = _validate.one_of(unreached, ("bad", "drop", "impute"),
                                                     what="unreached", owner=owner)
        self.random_fraction = _validate.number(random_fraction, what="random_fraction",
                                                owner=owner, low=0.0, high=1.0)
        # The coin of each trial must be the same in every worker: its seed is drawn once.
        self._coin_seed = self.seed if self.seed is not None else int(
            np.random.SeedSequence().generate_state(1)[0])
        self._memo: _Memo = _Memo({}, {})

    def __repr__(self) -> str:
        return (f"MultiFidelitySampler(base={self.base!r}, min_points={self.min_points!r}, "
                f"unreached={self.unreached!r}, random_fraction={self.random_fraction!r})")

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_memo": _Memo({}, {})}  # a cache: workers rebuild their own

    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        if self._is_random(history):
            return space.sample(space_rng(rng, space))
        return self.base.suggest(space, self.view(space, history)[0], rng)

    def _is_random(self, history: History) -> bool:
        """Whether trial `history.number` is drawn at random: a coin of the seed and the number,
        so `describe` knows it too (and not before the base's own startup design is done)."""
        if self.random_fraction <= 0.0 or history.position < _RANDOM_AFTER:
            return False
        coin = np.random.default_rng(np.random.SeedSequence(self._coin_seed,
                                                            spawn_key=(history.number, 1)))
        return bool(coin.random() < self.random_fraction)

    def describe(self, space: Space, history: History) -> dict[str, Any]:
        """System attributes for the trial being filled (JSON): `mf_level`, the step modelled
        ("final" for completed trials' values, None before any trial reported), and
        `mf_points`, how many trials reached it; then the base's own attributes."""
        if self._is_random(history):
            return {"mf_phase": "random"}
        view, level, n = self.view(space, history)
        inner = self.base.describe(space, view) if isinstance(self.base, DescribesTrials) else {}
        shown = None if level is None else "final" if level == FINAL else int(level)
        return {"mf_phase": "model", "mf_level": shown, "mf_points": n, **inner}

    def view(self, space: Space, history: History) -> tuple[History, float | None, int]:
        """The history as `base` sees it, the level modelled and how many trials reached it.

        The trial being filled, and studies with several objectives, are left as they are.
        """
        trials = history.trials
        if trials and (len(trials[0].signs) != 1 or len(trials[-1].signs) != 1):
            return history, None, 0  # one study has one number of objectives
        memo = self._memo
        known, fresh = memo.tops, {}
        keys: list[tuple[Any, ...] | None] = []
        tops: list[float] = []
        stopped = False
        for t in trials:
            state = t.state
            stopped = stopped or state is TrialState.PRUNED or state is TrialState.PAUSED
            key = ((t.trial_id, state, t.datetime_complete)
                   if state in _MEMO_STATES and t.datetime_complete is not None else None)
            top = known.get(key) if key is not None else None
            if top is None:
                top = reached(t)
                if key is not None:
                    fresh[key] = top
            keys.append(key)
            tops.append(top)
        level = choose_level(tops, self._min_points(space))
        n = 0 if level is None else sum(1 for r in tops if r >= level)
        if level is None or (level == FINAL and not stopped):
            return history, level, n  # nothing stopped early: the base sees what it always saw
        views, new_views = memo.views, {}
        out: list[FrozenTrial] = []
        for t, top, key in zip(trials, tops, keys, strict=True):
            if t.number == history.number:
                out.append(t)
            elif key is None:
                out.append(level_view(t, level, self.unreached))
            else:  # below its reach a trial's view is the same at every level
                at = (key, level if level <= top else None)
                seen = views.get(at)
                if seen is None:
                    seen = new_views[at] = level_view(t, level, self.unreached)
                out.append(seen)
        if self.unreached == "impute":
            out = self._impute(trials, tops, level, out)
        if fresh or new_views:  # replaced, never mutated; dropped when it outgrows the study
            bound = 4 * len(trials) + 64
            self._memo = _Memo({**known, **fresh} if len(known) < bound else fresh,
                               {**views, **new_views} if len(views) < bound else new_views)
        return History(out, history.number), level, n

    def _impute(self, trials: Sequence[FrozenTrial], tops: list[float], level: float,
                out: list[FrozenTrial]) -> list[FrozenTrial]:
        """`out` with the newest 16 trials stopped below `level` imputed there (`imputed`): the
        proposals that failed early are what a model must learn from; older ones stay hidden, so
        a GP's data grows with the level's trials, not the study's."""
        at_level = [t for t, top in zip(trials, tops, strict=True) if top >= level]
        stopped = [i for i, (t, top) in enumerate(zip(trials, tops, strict=True))
                   if _NONE < top < level and t.state in _STOPPED]
        stopped.sort(key=lambda i: trials[i].number)
        changes: dict[float, float | None] = {}
        out = list(out)
        for i in stopped[-_IMPUTED:]:
            top = tops[i]
            if top not in changes:
                changes[top] = shift(at_level, top, level)
            change = changes[top]
            if change is not None:
                out[i] = imputed(trials[i], level, change)
        return out

    def _min_points(self, space: Space) -> int:
        if self.min_points is not None:
            return self.min_points
        d = sum(1 for p in space.values() if not isinstance(p, Fixed))
        return max(10, d + 1)


@dataclass(frozen=True)
class _Memo:
    """Finished trials' reach, by (trial id, state, completion time), and their views, by that
    key and the level (None: any level above their reach)."""

    tops: dict[tuple[Any, ...], float]
    views: dict[tuple[Any, ...], FrozenTrial]
