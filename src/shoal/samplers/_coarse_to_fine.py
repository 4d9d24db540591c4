"""Coarse-to-fine search: sample the whole space, then zoom in around the best trials, round by round."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from shoal import _validate
from shoal.samplers._protocol import History
from shoal.samplers._streams import space_rng
from shoal.space import Categorical, Float, Int, Space
from shoal.trial import FrozenTrial, crowding_distance, pareto_mask

__all__ = ["CoarseToFineSampler", "Zoom", "zoom"]

# The box is the top trials' bounding box padded by this fraction of the round's largest width,
# so it never collapses when the top trials agree, and keeps an optimum just beyond them.
_PAD = 0.25
# Fewer usable trials than this and there is nothing to zoom on: the whole space is sampled.
_MIN_USABLE = 2


class CoarseToFineSampler:
    """Random search that narrows, round by round, to a box around the best trials so far.

    Round 0 (the first `n_initial` trials) samples the whole space uniformly on each
    parameter's own scale. Each later round of `trials_per_round` trials takes the best trials
    so far (the top `top_fraction` by score, at least two; complete and pruned trials with a
    finite score, numbered before the trial being filled) and samples uniformly in a box of the
    encoded unit cube: the top trials' bounding box, padded, and no wider than `shrink**round`
    of the full range, centred on the best trial, clipped to [0, 1]. Working in encoded space
    means a log-scale parameter zooms in log space. Categorical parameters are restricted to the
    choices the top trials used. After `rounds` zoom rounds the last box size is kept.

    Trials that violate their constraints rank after every feasible one (by violation). With
    several objectives "best" means the front: trials rank by `feasible_first_ranks` (the
    non-dominated rank), ties broken by crowding distance (the lonelier first, so the top
    trials spread along the front), and the box is their padded bounding box, not capped around
    one trial: a front that spans a parameter's range keeps that range, where zooming onto one
    end of it would give up the rest of the front.

    The round is derived from `history.position`, so parallel workers agree on it; a trial's
    round and box are recorded by `describe` (computed by the same function as `suggest`). With
    fewer than two usable trials it falls back to the whole space (recorded as round 0). A
    conditional parameter's box is built from the top trials in which it was active.

    The defaults suit 20-200 trials: 16 initial trials, then 4 rounds of 16, so by trial 80 the
    box is at most 1/16 of each range wide, and later trials keep refining around the best.

    Args:
        seed: Seed for reproducible studies (the study mixes it with the trial number).
        n_initial: Trials of round 0, over the whole space.
        trials_per_round: Trials of each zoom round.
        rounds: Number of zoom rounds after round 0; later trials stay in the last round.
        shrink: Factor in (0, 1) by which the box's largest width shrinks each round.
        top_fraction: Fraction in (0, 1] of usable trials the box is built around.

    Raises:
        ConfigError: An argument is out of range.

    >>> from shoal.space import Float, Space
    >>> from shoal.samplers import History, sampler_rng
    >>> from shoal.trial import FrozenTrial, TrialState
    >>> space = Space({"x": Float(-5.0, 5.0)})
    >>> trials = [FrozenTrial(i, i, TrialState.COMPLETE, params={"x": x}, values=(x * x,))
    ...           for i, x in enumerate([-4.0, -1.0, 0.5, 3.0])]
    >>> sampler = CoarseToFineSampler(seed=0, n_initial=4, trials_per_round=4)
    >>> info = sampler.describe(space, History(trials, 4))  # around x=0.5 and x=-1
    >>> info["zoom_round"], [round(v, 9) for v in info["zoom_box"]["x"]]
    (1, [-2.0, 1.75])
    >>> -2.0 <= sampler.suggest(space, History(trials, 4), sampler_rng(0, 4))["x"] <= 1.75
    True
    """

    multi_objective = True  # it zooms around the front, ranked by every objective

    def __init__(
        self,
        *,
        seed: int | None = None,
        n_initial: int = 16,
        trials_per_round: int = 16,
        rounds: int = 4,
        shrink: float = 0.5,
        top_fraction: float = 0.2,
    ) -> None:
        owner = "CoarseToFineSampler"
        self.seed = _validate.seed(seed, owner=owner)
        self.n_initial = _validate.integer(n_initial, what="n_initial", owner=owner, low=1)
        self.trials_per_round = _validate.integer(trials_per_round, what="trials_per_round",
                                                  owner=owner, low=1)
        self.rounds = _validate.integer(rounds, what="rounds", owner=owner, low=0)
        self.shrink = _validate.number(shrink, what="shrink", owner=owner, low=0, high=1,
                                       low_open=True, high_open=True)
        self.top_fraction = _validate.number(top_fraction, what="top_fraction", owner=owner,
                                             low=0, high=1, low_open=True)

    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        box = self.zoom(space, history)
        u = box.low + space_rng(rng, space).random(len(space)) * (box.high - box.low)
        for j, name in enumerate(space):
            if name in box.choices:  # uniform over the allowed choices, at their cell centres
                allowed = box.choices[name]
                k = allowed[min(int(u[j] * len(allowed)), len(allowed) - 1)]
                u[j] = (k + 0.5) / len(space[name].choices)  # type: ignore[union-attr]
        return space.decode(u)

    def describe(self, space: Space, history: History) -> dict[str, Any]:
        """System attributes for the trial being filled: its zoom round and box (JSON).

        `zoom_box` maps each Float and Int parameter to [low, high] in its own units;
        `zoom_choices` maps each restricted Categorical to the choices it may take.
        """
        box = self.zoom(space, history)
        bounds: dict[str, list[Any]] = {}
        for j, (name, param) in enumerate(space.items()):
            if isinstance(param, (Float, Int)):
                bounds[name] = [param.decode(float(box.low[j])), param.decode(float(box.high[j]))]
        choices = {name: [space[name].choices[k] for k in ks]  # type: ignore[union-attr]
                   for name, ks in box.choices.items()}
        return {"zoom_round": box.round, "zoom_box": bounds, "zoom_choices": choices}

    def round_of(self, position: int) -> int:
        """The zoom round scheduled for the trial at `position` (0 during the initial trials)."""
        if position < self.n_initial:
            return 0
        return min(1 + (position - self.n_initial) // self.trials_per_round, self.rounds)

    def zoom(self, space: Space, history: History) -> Zoom:
        """The box the trial being filled is drawn from (what `suggest` and `describe` use)."""
        return zoom(space, history, zoom_round=self.round_of(history.position), shrink=self.shrink,
                    top_fraction=self.top_fraction)

    def __repr__(self) -> str:
        return (f"CoarseToFineSampler(seed={self.seed!r}, n_initial={self.n_initial!r}, "
                f"trials_per_round={self.trials_per_round!r}, rounds={self.rounds!r}, "
                f"shrink={self.shrink!r}, top_fraction={self.top_fraction!r})")


@dataclass(frozen=True)
class Zoom:
    """A box of the encoded unit cube, in space order, and the allowed categorical choices.

    `round` is 0 when the box is the whole space (round 0, or too few usable trials).
    """

    round: int
    low: np.ndarray
    high: np.ndarray
    choices: dict[str, tuple[int, ...]]


def zoom(space: Space, history: History, *, zoom_round: int, shrink: float,
         top_fraction: float) -> Zoom:
    """The zoom box of a round: pure, from the usable trials numbered before `history.number`.

    >>> from shoal.space import Float, Space
    >>> from shoal.trial import FrozenTrial, TrialState
    >>> space = Space({"x": Float(0.0, 1.0)})
    >>> trials = [FrozenTrial(i, i, TrialState.COMPLETE, params={"x": x}, values=(x,))
    ...           for i, x in enumerate([0.1, 0.3, 0.9])]
    >>> z = zoom(space, History(trials, 3), zoom_round=1, shrink=0.5, top_fraction=0.5)
    >>> [round(float(z.low[0]), 3), round(float(z.high[0]), 3)]
    [0.0, 0.35]
    """
    d = len(space)
    whole = Zoom(0, np.zeros(d), np.ones(d), {})
    if zoom_round == 0 or d == 0:
        return whole
    rows, used = [], []
    for t in history.usable():
        if t.number >= history.number:
            continue
        try:
            x = space.encode(t.params)
        except (ValueError, TypeError):  # a value this space cannot hold (the space changed)
            continue
        rows.append(x)
        used.append(t)
    if len(rows) < _MIN_USABLE:
        return whole
    k = min(len(rows), max(2, math.ceil(top_fraction * len(rows))))
    several = used[0].n_objectives > 1
    order = (_front_order(used, k) if several else sorted(
        range(len(rows)), key=lambda i: (used[i].violation, used[i].score, used[i].number)))[:k]
    top = np.asarray([rows[i] for i in order])  # best first; NaN where inactive
    width = shrink ** zoom_round
    pad = _PAD * width
    low, high = np.zeros(d), np.ones(d)
    choices: dict[str, tuple[int, ...]] = {}
    for j, (name, param) in enumerate(space.items()):
        column = top[:, j]
        active = column[~np.isnan(column)]
        if active.size == 0:  # never active among the best: nothing to zoom on
            continue
        if isinstance(param, Categorical):
            n = len(param.choices)
            choices[name] = tuple(sorted({min(int(v * n), n - 1) for v in active}))
        elif isinstance(param, (Float, Int)):
            # Several objectives have no one best to centre on: the box spans the front found.
            best = float(active[0])
            low[j] = max(float(active.min()) - pad, -math.inf if several else best - width / 2, 0.0)
            high[j] = min(float(active.max()) + pad, math.inf if several else best + width / 2, 1.0)
    return Zoom(zoom_round, low, high, choices)


def _front_order(trials: list[FrozenTrial], k: int) -> list[int]:
    """The indices of the best `k` trials, best first: as `feasible_first_ranks` ranks them
    (feasible trials by non-dominated rank, then the others by violation), ties broken by
    crowding distance within the rank (the lonelier first), then by number.

    Only the fronts that hold the first `k` are peeled (the box needs only the top): ranking
    every trial by `feasible_first_ranks` cost 1.2 s a suggestion at 1000 trials of 3 objectives.

    >>> from shoal.trial import TrialState
    >>> ts = [FrozenTrial(i, i, TrialState.COMPLETE, values=v, signs=(1.0, 1.0))
    ...       for i, v in enumerate([(0, 4), (1, 2), (3, 3), (1.5, 1.5), (4, 0)])]
    >>> _front_order(ts, 5)  # the front's ends, then its middle by crowding, then the dominated one
    [0, 4, 3, 1, 2]
    """
    feasible = np.asarray([i for i, t in enumerate(trials) if t.is_feasible], dtype=int)
    points = np.asarray([trials[i].scores for i in feasible], dtype=float)
    order: list[int] = []
    for front in _fronts(points, k):
        order += _lonelier_first(trials, feasible[front].tolist())
    infeasible = sorted((i for i, t in enumerate(trials) if not t.is_feasible),
                        key=lambda i: trials[i].violation)
    for _, group in itertools.groupby(infeasible, key=lambda i: trials[i].violation):
        if len(order) >= k:
            break
        order += _lonelier_first(trials, list(group))
    return order[:k]


def _fronts(points: np.ndarray, k: int) -> Iterator[np.ndarray]:
    """The non-dominated fronts of `points` (as `pareto_mask` peels them), until they hold `k`.

    Two objectives peel by `pareto_mask`'s sort and sweep; more count dominators once and peel
    by the counts (NSGA-II's fast non-dominated sort), 20x faster than peeling at 1000 points.
    """
    left = np.arange(len(points))
    if len(points) == 0:
        return
    if points.shape[1] == 2:
        while k > 0 and len(left):
            front = pareto_mask(points[left])
            yield left[front]
            k -= int(front.sum())
            left = left[~front]
        return
    # beaten[i, j]: point j dominates point i (no worse everywhere, better somewhere).
    beaten = (np.all(points[None, :, :] <= points[:, None, :], axis=2)
              & np.any(points[None, :, :] < points[:, None, :], axis=2))
    count = beaten.sum(axis=1)
    done = np.zeros(len(points), dtype=bool)
    while k > 0 and not done.all():
        front = np.flatnonzero((count == 0) & ~done)
        yield front
        k -= len(front)
        done[front] = True
        count -= beaten[:, front].sum(axis=1)


def _lonelier_first(trials: list[FrozenTrial], group: list[int]) -> list[int]:
    """The trials of one rank by crowding distance, largest first, then by number."""
    distances = crowding_distance([trials[i].scores or () for i in group]).tolist()
    crowding = dict(zip(group, distances, strict=True))
    return sorted(group, key=lambda i: (-crowding[i], trials[i].number))
