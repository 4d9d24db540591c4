"""The acquisition for several objectives and for constraints, built from arrays.

Several objectives: ParEGO ("parego"): one GP on the augmented Chebyshev scalarisation of the
scores normalised to [0, 1], with a random weight vector, and log EI; or one GP per objective
(each fitted as the single-objective GP is, on its own warped scores) and the closed-form log
EHVI over them ("ehvi"). Constraints (one objective or several): one GP per constraint on its standardised
values, and log P(feasible) added to the log acquisition (Gardner et al. 2014, as Optuna's
GPSampler); while no trial is feasible, log P(feasible) alone is maximised.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from shoal.samplers._gp._acquisition import log_ei, log_ei_grad
from shoal.samplers._gp._ehvi import box_decomposition, log_ehvi, log_ehvi_grad, log_pof, log_pof_grad
from shoal.samplers._gp._fit import GP, Warp, fit_hyper, warp_scores

__all__ = ["Acquisition", "MultiAcquisition", "build", "parego_weights", "targets"]

MultiAcquisition = Literal["ehvi", "parego"]
#: Reference point of EHVI: this fraction of the range beyond the worst target (Optuna: ~10%).
_REF_MARGIN = 0.1
_CHUNK = 2_000_000  # candidates x boxes x objectives per batch of the EHVI, to bound memory


@dataclass(frozen=True)
class Acquisition:
    """A log acquisition over GP inputs (rows), with its gradient, and what seeds its search."""

    value: Callable[[np.ndarray], np.ndarray]
    value_grad: Callable[[np.ndarray], tuple[np.ndarray, np.ndarray]]
    length_scales: np.ndarray
    top: np.ndarray  # indices of the observed rows whose neighbourhoods are searched first


def targets(scores: np.ndarray, warp: Warp) -> np.ndarray:
    """The GP's standardised targets: warped finite scores, the others at the worst of them."""
    finite = np.isfinite(scores)
    y = np.empty(len(scores))
    y[finite] = warp_scores(scores[finite], warp)
    y[~finite] = y[finite].max()
    out: np.ndarray = (y - y.mean()) / y.std()
    return out


def parego_weights(seed: int, number: int, k: int) -> np.ndarray:
    """ParEGO's weights for trial `number`: uniform on the simplex, reproducible from the seed.

    >>> w = parego_weights(0, 3, 2)
    >>> bool(abs(w.sum() - 1.0) < 1e-12 and (w > 0).all())
    True
    """
    rng = np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(number, 1)))
    return rng.dirichlet(np.ones(k))


def build(x: np.ndarray, scores: np.ndarray, constraints: np.ndarray | None, x_run: np.ndarray, *,
          warp: Warp, tie: np.ndarray | None, mode: MultiAcquisition, weights: np.ndarray | None,
          rng: np.random.Generator, n_top: int) -> Acquisition:
    """The acquisition for observed inputs `x` (n, p), scores (n, k) and constraints (n, m).

    Scores are lower-is-better, NaN where a trial failed; a constraint row is NaN where none was
    recorded (failed and pruned trials). `x_run` are running trials, fantasised in every GP.
    """
    from shoal.trial import chebyshev, non_dominated_ranks, normalise

    usable = np.all(np.isfinite(scores), axis=1)
    violation = np.zeros(len(scores))
    if constraints is not None:
        violation = np.where(np.isnan(constraints), 0.0, np.maximum(constraints, 0.0)).sum(axis=1)
    feasible = usable & (violation == 0.0)

    def model(y: np.ndarray, rows: np.ndarray | None = None) -> GP:
        xs, ys = (x, y) if rows is None else (x[rows], y)
        gp = GP(xs, ys, fit_hyper(xs, ys, tie=tie))
        return gp.with_fantasies(x_run) if len(x_run) else gp

    k = scores.shape[1]
    objective: list[GP] = []
    best, lower, upper = 0.0, np.empty(0), np.empty(0)
    if k > 1 and mode == "ehvi":
        ys = np.column_stack([targets(scores[:, j], warp) for j in range(k)])
        objective = [model(ys[:, j]) for j in range(k)]
        lo, hi = ys[usable].min(axis=0), ys[usable].max(axis=0)
        lower, upper = box_decomposition(ys[feasible], hi + _REF_MARGIN * (hi - lo))
        ranks = np.full(len(scores), np.iinfo(int).max)
        ranks[feasible] = non_dominated_ranks(scores[feasible]) if feasible.any() else 0
    else:
        col = scores[:, 0].copy()
        if weights is not None:
            col = np.full(len(scores), np.nan)
            col[usable] = chebyshev(normalise(scores[usable]), weights)
        y = targets(col, warp)
        objective = [model(y)]
        best = float(y[feasible].min()) if feasible.any() else 0.0
        ranks = np.full(len(scores), np.iinfo(int).max)
        ranks[feasible] = np.argsort(np.argsort(y[feasible], kind="stable"), kind="stable")
    # Seeds of the search: the feasible front (a random few of it), else the least violating.
    front = np.flatnonzero(ranks == ranks.min()) if feasible.any() else np.empty(0, dtype=int)
    if k > 1 and mode == "ehvi" and len(front) > n_top:
        top = np.sort(rng.choice(front, n_top, replace=False))
    elif feasible.any():
        top = np.argsort(ranks, kind="stable")[:n_top]
    else:
        top = np.flatnonzero(usable)[np.argsort(violation[usable], kind="stable")[:n_top]]

    cons: list[GP] = []
    threshold = np.empty(0)
    rows = (np.flatnonzero(np.all(np.isfinite(constraints), axis=1)) if constraints is not None
            else np.empty(0, dtype=int))
    if constraints is not None and len(rows) >= 2:  # else too few complete rows to model them
        mean, sd = constraints[rows].mean(axis=0), constraints[rows].std(axis=0)
        sd = np.where(sd > 0, sd, 1.0)
        threshold = -mean / sd  # the constraint's 0, standardised
        cons = [model((constraints[rows, i] - mean[i]) / sd[i], rows) for i in range(len(mean))]
    use_objective = bool(feasible.any()) or not cons
    ehvi = k > 1 and mode == "ehvi"

    def value(f: np.ndarray) -> np.ndarray:
        total = np.zeros(len(f))
        if use_objective and ehvi:
            post = [gp.posterior(f) for gp in objective]
            mean, var = np.column_stack([p[0] for p in post]), np.column_stack([p[1] for p in post])
            step = max(1, _CHUNK // max(1, len(lower) * k))
            total += np.concatenate([log_ehvi(mean[i:i + step], var[i:i + step], lower, upper)
                                     for i in range(0, len(f), step)])
        elif use_objective:
            total += log_ei(*objective[0].posterior(f), best)
        if cons:
            post = [gp.posterior(f) for gp in cons]
            total += log_pof(np.column_stack([p[0] for p in post]),
                             np.column_stack([p[1] for p in post]), threshold)
        return total

    def stacked(gps: list[GP], f: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        post = [gp.posterior_grad(f) for gp in gps]
        return (np.column_stack([p[0] for p in post]), np.column_stack([p[1] for p in post]),
                np.stack([p[2] for p in post], axis=1), np.stack([p[3] for p in post], axis=1))

    def value_grad(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        total, grad = np.zeros(len(f)), np.zeros(f.shape)
        if use_objective and ehvi:
            v, g = log_ehvi_grad(*stacked(objective, f), lower, upper)
            total, grad = total + v, grad + g
        elif use_objective:
            v, g = log_ei_grad(*objective[0].posterior_grad(f), best)
            total, grad = total + v, grad + g
        if cons:
            v, g = log_pof_grad(*stacked(cons, f), threshold)
            total, grad = total + v, grad + g
        return total, grad

    scales = np.mean([gp.hyper.length_scales for gp in (objective if use_objective else cons)],
                     axis=0)
    return Acquisition(value, value_grad, scales, top)
