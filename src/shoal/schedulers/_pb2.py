"""PB2, population-based bandits (Parker-Holder et al., 2020): PBT whose explore step is chosen by
a time-varying Gaussian process (GP-UCB) instead of random perturbation.

The model's data are the members' improvements: for each member and each interval it trained
with fixed hyperparameters, (its hyperparameters on the unit cube, the interval's end, the score
it gained over the interval). The GP is fitted afresh from the history at each fork (the
scheduler stays stateless); its length scale and forgetting rate are picked on a small grid by
marginal likelihood, and the fork takes the candidate with the best upper confidence bound for
the next interval.
"""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from shoal import _validate
from shoal.schedulers._pbt import PBT
from shoal.space import Float, Int, Param
from shoal.trial import FrozenTrial

if TYPE_CHECKING:
    import numpy as np

__all__ = ["PB2", "interval_gains"]

#: (length scale on the unit cube, forgetting rate per interval) tried when fitting the GP.
_GRID = tuple((scale, forget) for scale in (0.1, 0.2, 0.4, 0.8) for forget in (0.01, 0.1, 0.3))
_NOISE = 1e-2  # on standardised gains
_MAX_POINTS = 256  # the newest intervals; older ones are nearly forgotten by the time kernel
_CANDIDATES, _LOCAL = 512, 64  # uniform candidates, and candidates near the parent


class PB2(PBT):
    """PBT with a model-based explore step: the fork's Float and Int hyperparameters maximise a
    GP-UCB on the improvements members made per interval (Parker-Holder et al., 2020).

    Members, exploitation, time sharing and the choice of parent are PBT's (see `PBT`). Categorical
    hyperparameters are resampled as PBT does; until the model has three intervals to learn from
    (or the gains are all equal) the numeric ones are perturbed as PBT does too.

    Args:
        population / interval / quantile / hyperparams / seed / max_step: as for `PBT`.
        kappa: Weight of the GP's standard deviation in the upper confidence bound (0: the mean).

    >>> PB2(population=4, seed=0).kappa
    2.0
    """

    def __init__(self, *, population: int = 8, interval: int = 4, quantile: float = 0.25,
                 hyperparams: Sequence[str] | None = None, seed: int | None = None,
                 max_step: int | None = None, kappa: float = 2.0) -> None:
        super().__init__(population=population, interval=interval, quantile=quantile,
                         hyperparams=hyperparams, seed=seed, max_step=max_step)
        self.kappa = _validate.number(kappa, what="kappa", owner="PB2", low=0.0)

    def _explore(self, parent: FrozenTrial, names: Sequence[str], *, step: int,
                 trials: Mapping[int, FrozenTrial], members: Collection[int],
                 rng: np.random.Generator) -> dict[str, Any]:
        import numpy as np

        params = super()._explore(parent, names, step=step, trials=trials, members=members, rng=rng)
        numeric = [n for n in names
                   if isinstance(parent.distributions.get(n), (Float, Int)) and n in parent.params]
        if not numeric:
            return params
        dists = {n: parent.distributions[n] for n in numeric}
        x, t, gains = interval_gains([trials[n] for n in sorted(members)], dists,
                                     interval=self.interval, until=step)
        if len(gains) < 3 or float(np.std(gains)) == 0.0:
            return params
        y = (gains - gains.mean()) / gains.std()
        fitted = _fit(x, t, y)
        if fitted is None:
            return params
        centre = np.array([dists[n].encode(parent.params[n]) for n in numeric])
        candidates = np.vstack([rng.random((_CANDIDATES, len(numeric))),
                                np.clip(centre + rng.normal(0.0, 0.05, (_LOCAL, len(numeric))), 0, 1)])
        mean, var = _predict(fitted, x, t, candidates, (step + self.interval) / self.interval)
        best = candidates[int(np.argmax(mean + self.kappa * np.sqrt(var)))]
        params.update({n: dists[n].decode(float(u)) for n, u in zip(numeric, best, strict=True)})
        return params

    def __repr__(self) -> str:
        return (f"PB2(population={self.population}, interval={self.interval}, "
                f"quantile={self.quantile}, hyperparams={self.hyperparams}, seed={self.seed}, "
                f"max_step={self.max_step}, kappa={self.kappa})")


def interval_gains(trials: Sequence[FrozenTrial], distributions: Mapping[str, Param], *,
                   interval: int, until: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PB2's data: per trial and per interval it trained, ending at a report b <= `until` that
    crosses an interval's end (where PBT decides: b itself when it reports every step),
    its encoded hyperparameters, b / interval, and the score it gained over the interval (its score
    at the previous such report minus its score at b: positive is better). A fork's first interval
    starts from its parent's score at the fork step. Trials without every named
    parameter, and intervals with a missing or non-finite end, give nothing. At most the newest
    256 intervals are kept.

    >>> from shoal.trial import FrozenTrial, TrialState
    >>> t = FrozenTrial(0, 0, TrialState.RUNNING, params={"x": 0.5},
    ...                 intermediate={3: 4.0, 7: 3.0, 11: 2.5})
    >>> x, t, gains = interval_gains([t], {"x": Float(0.0, 1.0)}, interval=4, until=11)
    >>> x.tolist(), t.tolist(), gains.tolist()
    ([[0.5], [0.5]], [1.75, 2.75], [1.0, 0.5])
    """
    import numpy as np

    by_number = {t.number: t for t in trials}
    rows: list[tuple[float, list[float], float]] = []
    for trial in trials:
        if not all(name in trial.params for name in distributions):
            continue
        encoded = [p.encode(trial.params[name]) for name, p in distributions.items()]
        scores = trial.intermediate_scores
        fork = trial.forked_from
        parent = by_number.get(fork[0]) if fork is not None else None
        # The interval starts at the previous report that crossed an interval's end, or for a
        # fork's first interval at its parent's report at the fork step.
        before = None
        if parent is not None and fork is not None and fork[1] is not None:
            before = parent.intermediate_scores.get(fork[1])
        previous = trial.start_step - 1
        for end in sorted(scores):
            if end > until:
                break
            crossed = (end + 1) // interval > (previous + 1) // interval
            previous = end
            if not crossed:
                continue
            if before is not None and math.isfinite(before) and math.isfinite(scores[end]):
                rows.append((end / interval, encoded, before - scores[end]))
            before = scores[end]
    rows = sorted(rows, key=lambda r: r[0])[-_MAX_POINTS:]
    x = np.array([r[1] for r in rows], dtype=float).reshape(len(rows), len(distributions))
    return x, np.array([r[0] for r in rows], dtype=float), np.array([r[2] for r in rows], dtype=float)


def _kernel(x1: np.ndarray, t1: np.ndarray, x2: np.ndarray, t2: np.ndarray, scale: float,
            forget: float) -> np.ndarray:
    """Squared exponential in the hyperparameters times (1 - forget)^(|t - t'| / 2) in time
    (Bogunovic et al., 2016, as PB2 uses): old intervals count less."""
    import numpy as np

    d2 = ((x1[:, None, :] - x2[None, :, :]) ** 2).sum(-1)
    decay = (1.0 - forget) ** (np.abs(t1[:, None] - t2[None, :]) / 2.0)
    out: np.ndarray = np.exp(-d2 / (2.0 * scale * scale)) * decay
    return out


def _fit(x: np.ndarray, t: np.ndarray, y: np.ndarray) -> tuple[float, float, np.ndarray, np.ndarray] | None:
    """(scale, forget, Cholesky factor, weights) of the grid point with the best log marginal
    likelihood; None if no grid point gives a positive definite matrix."""
    import numpy as np

    best: tuple[float, tuple[float, float, np.ndarray, np.ndarray]] | None = None
    for scale, forget in _GRID:
        k = _kernel(x, t, x, t, scale, forget) + _NOISE * np.eye(len(y))
        try:
            chol = np.linalg.cholesky(k)
        except np.linalg.LinAlgError:
            continue
        weights = np.linalg.solve(chol.T, np.linalg.solve(chol, y))
        likelihood = -0.5 * float(y @ weights) - float(np.log(np.diag(chol)).sum())
        if best is None or likelihood > best[0]:
            best = (likelihood, (scale, forget, chol, weights))
    return None if best is None else best[1]


def _predict(fitted: tuple[float, float, np.ndarray, np.ndarray], x: np.ndarray, t: np.ndarray,
             candidates: np.ndarray, when: float) -> tuple[np.ndarray, np.ndarray]:
    """The GP's posterior mean and variance at `candidates`, all at time `when`."""
    import numpy as np

    scale, forget, chol, weights = fitted
    cross = _kernel(candidates, np.full(len(candidates), when), x, t, scale, forget)
    solved = np.linalg.solve(chol, cross.T)
    return cross @ weights, np.clip(1.0 - (solved * solved).sum(0), 1e-12, None)
