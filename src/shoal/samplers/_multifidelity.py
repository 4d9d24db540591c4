"""Model-based multi-fidelity: any single-fidelity sampler, fed the history as BOHB sees it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from shoal import _validate
from shoal.samplers._multifidelity_view import FINAL, Unreached, choose_level, level_view, reached
from shoal.samplers._protocol import DescribesTrials, History, Sampler
from shoal.samplers._streams import space_rng
from shoal.samplers._tpe import TPESampler
from shoal.space import Fixed, Space
from shoal.trial import FrozenTrial, TrialState

__all__ = ["MultiFidelitySampler"]

# Finished trials never change: their view at a level is remembered (one dataclasses.replace
# per trial per suggestion cost about 5 ms at 1,000 trials, the whole budget of a decision).
# Random draws start after this many drawn trials: the base's initial design is random enough.
_RANDOM_AFTER = 10
_MEMO_STATES = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED, TrialState.PAUSED)


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
    fantasies apply); pruned and paused trials that stopped below it are hidden from the model
    (`unreached="drop"`) or counted as failures (`"bad"`). Levels are read from the reports, so
    any scheduler's rungs, or none, work; a study without reports is passed through unchanged,
    so the sampler is its base on single-fidelity studies.

    Stateless: the view is a pure function of the history (finished trials' views are memoised),
    and the base's randomness comes from the per-trial generator. Single objective only: steps
    carry one reported value.

    Args:
        base: The sampler fed the view (default `TPESampler(seed=seed)`); its own startup
            design applies to the view's trials.
        min_points: Trials a level needs to be modelled; None (default) means max(10, d + 1)
            for d searched parameters (BOHB's d + 1, and at least the base's default startup,
            else a level held at fewer trials would keep the base in its initial design).
        unreached: "drop" (default) or "bad": what becomes of trials stopped below the level.
        seed: Seed of the default base (ignored when `base` is given: the base's seed is used).

    Raises:
        ConfigError: An argument is out of range.

    >>> from shoal.space import Float, Space
    >>> from shoal.samplers import History, sampler_rng
    >>> from shoal.trial import FrozenTrial, TrialState
    >>> space = Space({"x": Float(-5.0, 5.0)})
    >>> trials = [FrozenTrial(i, i, TrialState.PRUNED, params={"x": x},
    ...                       intermediate={1: x * x + 9.0})
    ...           for i, x in enumerate([-4.5, -3.0, -2.0, -1.0, -0.3, 0.2, 1.0, 2.5, 3.5, 4.8])]
    >>> sampler = MultiFidelitySampler(base=TPESampler(seed=0, n_startup=10), min_points=10)
    >>> abs(sampler.suggest(space, History(trials, 10), sampler_rng(0, 10))["x"]) < 3.0
    True
    >>> sampler.describe(space, History(trials, 10))["mf_level"]
    1
    """

    def __init__(self, *, base: Sampler | None = None, min_points: int | None = None,
                 unreached: Unreached = "drop", random_fraction: float = 1 / 3,
                 seed: int | None = None) -> None:
        owner = "MultiFidelitySampler"
        seed = _validate.seed(seed, owner=owner)
        if base is not None and not isinstance(base, Sampler):
            raise _validate.config_error("base", owner, "a sampler (with suggest and seed)", base,
                                         "Pass e.g. TPESampler(seed=0) or GPSampler(seed=0).")
        self.base: Sampler = base if base is not None else TPESampler(seed=seed)
        self.seed = self.base.seed
        self.min_points = _validate.integer(min_points, what="min_points", owner=owner, low=1,
                                            none=True)
        self.unreached: Unreached = _validate.one_of(unreached, ("bad", "drop"),
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
        if fresh or new_views:  # replaced, never mutated; dropped when it outgrows the study
            bound = 4 * len(trials) + 64
            self._memo = _Memo({**known, **fresh} if len(known) < bound else fresh,
                               {**views, **new_views} if len(views) < bound else new_views)
        return History(out, history.number), level, n

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
