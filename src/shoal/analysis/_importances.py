"""Hyperparameter importance with interactions: fANOVA over a random forest.

The record (`Importances`) is what the plots, the dashboard and the report read; `importances`
fits the forest (scikit-learn, imported here, from the `dashboard` extra) and decomposes each tree
exactly with `_fanova`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from shoal._validate import integer
from shoal.analysis import _fanova  # the maths, beside this adapter
from shoal.analysis._eta import objective_index
from shoal.exceptions import SpaceError
from shoal.space import Categorical, Fixed, Param
from shoal.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    import numpy as np

__all__ = ["Importances", "importances"]

MIN_TRIALS = 8  # below this a forest explains noise
PAIR_TOP = 6  # pairs are measured among this many parameters of largest main effect
INACTIVE = -1.0  # the code of a parameter absent from a trial: outside [0, 1], so trees split on it


@dataclass(frozen=True)
class Importances:
    """How much of the variation of one objective each parameter, and each pair, explains.

    Attributes:
        main: Parameter name -> share of the variance explained by it alone, in [0, 1], sorted
            from most to least important.
        pairs: (name, name) -> share explained by the interaction of the two beyond their main
            effects, in [0, 1], sorted from most to least important (names in space order).
        n_trials: How many trials the estimate used.
        method: A short human-readable name of the estimator (shown under the plot).
    """

    main: dict[str, float]
    pairs: dict[tuple[str, str], float] = field(default_factory=dict)
    n_trials: int = 0
    method: str = ""


def importances(trials: Sequence[FrozenTrial], *, objective: int | None = None, seed: int = 0,
                max_trials: int = 2000, n_trees: int = 32, pairs: bool = True,
                ranks: bool = True) -> Importances:
    """Importance of each parameter (and pair) for one objective: fANOVA over a random forest.

    A random forest (scikit-learn, `n_trees` trees, leaves of at least 3 trials) learns the score
    from the parameters; each tree's function is then decomposed exactly (Hutter et al., 2014)
    into the variance its single parameters explain (`main`) and the variance each pair explains
    beyond their main effects (`pairs`), over the uniform measure of the space, and the fractions
    are averaged over the trees. What is left (1 - sum of both) is higher-order interaction.

    Which trials: COMPLETE ones with finite scores; only while fewer than 8 exist do PRUNED and
    PAUSED trials count too, by their last report (another fidelity, so `method` says so). Above
    `max_trials`, a uniform random subsample (seeded by `seed`) of that many is used, not the
    best ones: the decomposition is of the whole space. Scores are ranked first (`ranks=True`):
    a few diverged trials cannot dominate, and loss or log-loss give the same answer; the rank
    transform bends an additive objective slightly, so exact variance shares of the raw values
    need `ranks=False`.

    Encoding (the measure each marginal averages over): each parameter's `Param.encode`, so a
    log-scale parameter is uniform per decade; a categorical by its index, each choice a cell of
    equal width. **Conditional parameters**: a parameter absent from a trial (an inactive branch)
    is coded -1, outside [0, 1], so trees split on it and nothing is imputed; in the measure,
    "inactive" is one cell whose weight is the fraction of the used trials in which the
    parameter was absent. A parent and its conditional parameter share the credit for the branch
    (a tree may split on either: "momentum inactive" is "opt = adam"). `Fixed` parameters are left out.

    Cost: 0.3 s for 10,000 trials of 7 parameters on a quiet core of a 2-core machine, 1.0 s at a
    load average of 7 (2,000 used, 32 trees, 15 pairs; `benchmarks/bench_importance.py`): pairs among
    the 6 parameters with the largest main effects only. A process's first call also imports
    scikit-learn (3-5 s on this loaded 2-core machine): a server should warm it up or cache.

    Args:
        objective: Which objective (0, 1, ...): required with several objectives.
        seed: Seeds the subsample and the forest: the same trials and seed give the same answer.
        max_trials: Most trials the forest is fitted on.
        n_trees: Trees in the forest.
        pairs: Whether to measure pairwise interactions.
        ranks: Explain the ranks of the scores (default) rather than their values.

    Returns:
        `Importances`, with empty `main` when fewer than 8 usable trials or no searched
        parameter exist (`method` says why), and all zeros when every score is equal.

    Raises:
        ConfigError: `objective` is missing for several objectives or not one of their indices,
            or a count is out of range.
        ImportError: scikit-learn is not installed.

    >>> from shoal.space import Float
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> trials = [FrozenTrial(i, i, TrialState.COMPLETE, params={"x": x, "y": y},
    ...                       distributions={"x": Float(0, 1), "y": Float(0, 1)}, values=(x,))
    ...           for i, (x, y) in enumerate(rng.random((200, 2)))]
    >>> imp = importances(trials, n_trees=16)
    >>> list(imp.main), imp.main["x"] > 0.9, imp.main["y"] < 0.05, imp.pairs[("x", "y")] < 0.05
    (['x', 'y'], True, True, True)
    >>> imp.method
    'fANOVA (random forest, 16 trees, 200 trials)'
    """
    import numpy as np

    owner = "importances"
    index = objective_index(trials, objective, owner=owner)
    max_trials = integer(max_trials, what="max_trials", owner=owner, low=MIN_TRIALS)
    n_trees = integer(n_trees, what="n_trees", owner=owner, low=1)
    seed = integer(seed, what="seed", owner=owner, low=0)
    pool, note = _usable(trials)
    if len(pool) < MIN_TRIALS:
        return Importances(main={}, n_trials=len(pool),
                           method=f"fANOVA (needs {MIN_TRIALS} finished trials, has {len(pool)})")
    rng = np.random.default_rng(seed)
    used = ([pool[i] for i in np.sort(rng.choice(len(pool), max_trials, replace=False))]
            if len(pool) > max_trials else pool)
    counted = f"{len(used):,} of {len(pool):,} trials" if len(used) < len(pool) else f"{len(used):,} trials"
    method = f"fANOVA (random forest, {n_trees} trees, {counted}{note})"
    names, params = _searched(used)
    if not names:
        return Importances(main={}, n_trials=len(used), method="fANOVA (no searched parameters)")
    x = _encode(used, names, params)
    y = np.array([(t.scores or ())[index] for t in used], dtype=float)
    if ranks:
        y = _ranks(y)
    if float(np.ptp(y)) == 0.0:
        return Importances(main=dict.fromkeys(names, 0.0), n_trials=len(used),
                           method=method + ", all scores equal")
    boxes = _forest_boxes(x, y, params=[params[n] for n in names], n_trees=n_trees,
                          seed=int(rng.integers(2**31 - 1)))
    trees = [tree for tree in (_fanova.TreeFunction(*box) for box in boxes) if tree.total > 0.0]
    main = np.mean([t.main_effects() / t.total for t in trees], axis=0) if trees else np.zeros(len(names))
    pair_share: dict[tuple[str, str], float] = {}
    if pairs and trees and len(names) > 1:
        top = sorted(np.argsort(-main, kind="stable")[:PAIR_TOP].tolist())
        for a, j in enumerate(top):
            for i in top[a + 1:]:
                share = sum(t.interaction(j, i) / t.total for t in trees) / len(trees)
                pair_share[(names[j], names[i])] = float(share)
    return Importances(main=_sorted({n: float(v) for n, v in zip(names, main, strict=True)}),
                       pairs=_sorted(pair_share), n_trials=len(used), method=method)


def _usable(trials: Sequence[FrozenTrial]) -> tuple[list[FrozenTrial], str]:
    """COMPLETE trials with finite scores; with too few, the early-stopped ones by their last report."""
    complete = [t for t in trials if t.state == TrialState.COMPLETE and t.is_usable()]
    if len(complete) >= MIN_TRIALS:
        return complete, ""
    stopped = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.PAUSED)
    pool = [t for t in trials if t.state in stopped and t.is_usable()]
    early = len(pool) - len(complete)
    return pool, f", {early:,} stopped early counted by their last report" if early else ""


def _searched(trials: Sequence[FrozenTrial]) -> tuple[list[str], dict[str, Param]]:
    """Names in order of first appearance, each with its latest distribution; Fixed ones left out."""
    params: dict[str, Param] = {}
    for t in trials:
        for name in t.params:
            if name in t.distributions:
                params[name] = t.distributions[name]
            elif name not in params:
                params[name] = Fixed(None)  # a value with no distribution cannot be encoded
    order = dict.fromkeys(n for t in trials for n in t.params)
    return [n for n in order if not isinstance(params[n], Fixed)], params


def _encode(trials: Sequence[FrozenTrial], names: Sequence[str], params: dict[str, Param]) -> np.ndarray:
    """The design matrix: `Param.encode` in [0, 1], `INACTIVE` where a trial lacks the parameter."""
    import numpy as np

    x = np.full((len(trials), len(names)), INACTIVE)
    for row, t in enumerate(trials):
        for col, name in enumerate(names):
            if name in t.params:
                x[row, col] = _code(t, name, params[name])
    return x


def _code(trial: FrozenTrial, name: str, param: Param) -> float:
    value = trial.params[name]
    try:
        return float(param.encode(value))
    except (SpaceError, TypeError, ValueError):  # outside the latest distribution (a changed range)
        own = trial.distributions.get(name)
        return INACTIVE if own is None else float(own.encode(value))


def _ranks(y: np.ndarray) -> np.ndarray:
    """Average ranks scaled to [0, 1] (ties share their mean rank)."""
    import numpy as np

    _, inverse, counts = np.unique(y, return_inverse=True, return_counts=True)
    starts = np.cumsum(counts) - counts
    mean_rank = starts + (counts - 1) / 2.0
    return np.asarray(mean_rank[inverse] / max(len(y) - 1, 1), dtype=float)


def _forest_boxes(x: np.ndarray, y: np.ndarray, *, params: Sequence[Param], n_trees: int,
                  seed: int) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Fit the forest and return each tree's leaf boxes in the coordinates of the measure."""
    try:
        from sklearn.ensemble import RandomForestRegressor
    except ImportError:
        raise ImportError("importances() needs scikit-learn: pip install 'shoal[dashboard]'") from None
    forest = RandomForestRegressor(n_estimators=n_trees, min_samples_leaf=3, random_state=seed, n_jobs=1)
    forest.fit(x, y)
    inactive = (x == INACTIVE).mean(axis=0)
    choices = [len(p.choices) if isinstance(p, Categorical) else 0 for p in params]
    out = []
    for estimator in forest.estimators_:
        tree: Any = estimator.tree_
        cut = _measure(tree.feature, tree.threshold, inactive=inactive, choices=choices)
        out.append(_fanova.leaf_boxes(left=tree.children_left, right=tree.children_right,
                                      feature=tree.feature, threshold=cut, value=tree.value[:, 0, 0],
                                      n_features=x.shape[1]))
    return out


def _measure(feature: np.ndarray, threshold: np.ndarray, *, inactive: np.ndarray,
             choices: Sequence[int]) -> np.ndarray:
    """Map split thresholds from codes to coordinates of the measure, each feature on [0, 1].

    A feature inactive in a fraction w of the trials gives [0, w] to "inactive" and the rest to
    its active codes. A threshold <= 0 separates inactive (-1) from active codes (>= 0, and the
    midpoint of -1 and any of them is <= 0); a categorical's cut snaps to a boundary between choices.
    """
    import numpy as np

    out = np.zeros_like(threshold, dtype=float)
    for j, k in enumerate(choices):
        at = feature == j
        t = threshold[at].astype(float)
        active = np.clip(t, 0.0, 1.0)
        if k:
            active = np.round(active * k) / k
        w = float(inactive[j])
        out[at] = np.where(t <= 0.0, w, w + (1.0 - w) * active)
    return out


def _sorted(shares: dict[Any, float]) -> dict[Any, float]:
    return dict(sorted(shares.items(), key=lambda kv: -kv[1]))
