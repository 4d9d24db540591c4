"""How much each hyperparameter seems to matter: a simple, honest estimate from finished trials."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from shoal._validate import config_error, integer
from shoal.space import Categorical, Fixed, Param
from shoal.trial import FrozenTrial, TrialState

__all__ = ["objective_index", "param_importances"]


def param_importances(trials: Sequence[FrozenTrial], *, bins: int = 4,
                      objective: int | None = None) -> dict[str, float]:
    """Share of the score variance explained by each parameter on its own (the correlation ratio).

    For each parameter, the finished trials are grouped by its value (categories as they are;
    numbers into `bins` equal-count bins of their encoded value, so log scales bin per decade)
    and we measure how much of the variance of the scores lies between the groups: eta^2 in
    [0, 1]. Scores are ranked first, so one diverged trial cannot dominate. This is a marginal,
    one-at-a-time view: it misses interactions, and with few trials every estimate is noisy
    (a parameter with no effect still gets about (groups - 1) / (trials - 1) by chance, which we
    subtract and clip at 0). Completed and pruned trials count; pruned ones by their last report.
    It needs only numpy, so `shoal demo` prints it; `importances` (fANOVA over a random forest,
    with scikit-learn) measures pairwise interactions too.

    Args:
        objective: Which objective's values to explain (0, 1, ...): required when the trials
            have several objectives (then completed trials count); a single objective is 0.

    Returns:
        Parameter name -> importance, sorted from most to least important; empty when fewer
        than 8 usable trials exist.

    Raises:
        ConfigError: `objective` is missing for several objectives, or not one of their indices.

    >>> from shoal.space import Float
    >>> import numpy as np
    >>> rng = np.random.default_rng(0)
    >>> xs, ys = rng.random(64), rng.random(64)
    >>> trials = [FrozenTrial(i, i, TrialState.COMPLETE, params={"x": x, "y": y},
    ...                       distributions={"x": Float(0, 1), "y": Float(0, 1)}, values=(x,))
    ...           for i, (x, y) in enumerate(zip(xs, ys))]
    >>> imp = param_importances(trials)
    >>> list(imp)[0], imp["x"] > 0.8, imp["y"] < 0.2
    ('x', True, True)
    """
    index = objective_index(trials, objective, owner="param_importances")
    usable = [t for t in trials if t.state in (TrialState.COMPLETE, TrialState.PRUNED) and t.is_usable()]
    if len(usable) < 8:
        return {}
    scores = np.array([(t.scores or ())[index] for t in usable], dtype=float)
    ranks = np.argsort(np.argsort(scores)).astype(float)
    out: dict[str, float] = {}
    names = dict.fromkeys(name for t in usable for name in t.params)
    for name in names:
        param = next((t.distributions[name] for t in usable if name in t.distributions), None)
        if param is None or isinstance(param, Fixed):
            continue
        groups = _groups(usable, name, param, bins)
        present = groups >= 0
        if present.sum() < 8 or len(np.unique(groups[present])) < 2:
            continue
        out[name] = _eta_squared(ranks[present], groups[present])
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def objective_index(trials: Sequence[FrozenTrial], objective: int | None, *, owner: str) -> int:
    """The objective to explain: required when the trials have several, an index among them."""
    k = max((t.n_objectives for t in trials), default=1)
    if objective is None and k > 1:
        raise config_error("objective", owner, f"an index in [0, {k - 1}] for trials with {k} objectives",
                           objective, hint="Pass objective=0 (then 1, ...) for each one.")
    return integer(0 if objective is None else objective, what="objective", owner=owner, low=0, high=k - 1)


def _groups(trials: Sequence[FrozenTrial], name: str, param: Param, bins: int) -> np.ndarray:
    """Group label per trial (-1 where the parameter was inactive)."""
    if isinstance(param, Categorical):
        return np.array([param.index(t.params[name]) if name in t.params else -1 for t in trials])
    encoded = np.array([param.encode(t.params[name]) if name in t.params else np.nan for t in trials])
    labels = np.full(len(trials), -1)
    seen = ~np.isnan(encoded)
    edges = np.quantile(encoded[seen], np.linspace(0, 1, bins + 1)[1:-1])
    labels[seen] = np.searchsorted(edges, encoded[seen], side="right")
    return labels


def _eta_squared(values: np.ndarray, groups: np.ndarray) -> float:
    total = float(((values - values.mean()) ** 2).sum())
    if total == 0.0:
        return 0.0
    labels = np.unique(groups)
    between = sum(float((groups == g).sum()) * (float(values[groups == g].mean()) - float(values.mean())) ** 2
                  for g in labels)
    chance = (len(labels) - 1) / (len(values) - 1)  # expected eta^2 of a parameter with no effect
    return max(0.0, (between / total - chance) / (1.0 - chance))
