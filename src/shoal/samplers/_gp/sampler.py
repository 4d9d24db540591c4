"""Gaussian-process Bayesian optimisation: the thin adapter from `History` to the maths beside it."""

from __future__ import annotations

import contextlib
import math
from collections.abc import Callable
from typing import Any, Literal

import numpy as np

from shoal import _validate
from shoal.samplers._gp._acquisition import log_ei, log_ei_grad
from shoal.samplers._gp._fit import GP, Warp, fit_hyper, warp_scores
from shoal.samplers._gp._layout import N_PERTURB, Layout, candidates
from shoal.samplers._gp._multi import MultiAcquisition, build, parego_weights
from shoal.samplers._gp._optimize import ValueAndGrad, refine
from shoal.samplers._protocol import History
from shoal.samplers._qmc import initial_point
from shoal.samplers._streams import space_rng
from shoal.space import Space
from shoal.trial import TrialState

__all__ = ["GPSampler"]

_FINISHED = (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)
_N_TOP, _N_REFINE = 5, 5
# Several objectives: jiggle up to 10 points of the front, 200 candidates in all.
_N_TOP_MULTI, _N_PERTURB_TOTAL = 10, 200
# TuRBO's schedule (Eriksson et al. 2019): grow after 3 successes in a row, halve after
# max(4, d) failures in a row, start again from 0.8 once the box is below 2^-7.
_TR_INIT, _TR_MIN, _TR_MAX, _TR_SUCCESS = 0.8, 2.0 ** -7, 1.6, 3
# "auto" turns the trust region on with 6+ numeric parameters, after 10 trials per parameter:
# at 100 trials in 10 and 20 dimensions it did not help on BBOB (README), TuRBO's own results
# are for budgets of thousands.
_TR_AUTO_DIM, _TR_AUTO_TRIALS_PER_DIM = 6, 10


class GPSampler:
    """Bayesian optimisation with a Gaussian process and log expected improvement.

    Model: a GP with a Matérn-5/2 ARD kernel over the encoded unit cube (so log and 1-x scales
    are those of `shoal.space`), its hyperparameters (length scales, signal and noise variance,
    the noise at least 1e-6) the MAP of the marginal likelihood under Optuna 5's priors, by
    L-BFGS-B with analytic gradients. Scores are warped before the fit by a Yeo-Johnson power
    transform compressing no harder than log, after log-compressing scores more than 100 IQRs
    above the median (or a rank-based Gaussian copula, which did worse on BBOB), so heavy tails
    and diverged runs cannot wreck the model while a bad region still looks bad.

    Parameters: a Float or Int is one input, its encoded value (Ints snap to their grid); a
    Categorical of k choices is k one-hot inputs sharing one length scale (two choices are at
    distance 1, as in Optuna's Hamming kernel), chosen by the argmax cell after optimising; a
    Fixed parameter is no input. An inactive conditional parameter is filled with a neutral value
    (0.5 for a number, all-zero one-hot for a choice) and left out of the suggestion.

    Trials: finished ones with a finite score (complete, and pruned ones at their last report)
    are data; failed ones, and those whose score is NaN, infinite or missing (pruned before any
    report), are data too, with the worst warped score, so a region where trials fail is
    avoided. Running trials of other workers are fantasised at the GP mean, or at the mean score
    where that is better (a kriging believer that is never optimistic), so workers do not
    propose the same point.

    Acquisition: log EI (Ament et al. 2023), maximised over 512 random points and perturbations
    of the 5 best trials, then refined by L-BFGS-B from the 5 best of those. A TuRBO-style trust
    region (Eriksson et al. 2019) can confine the search to a box around the best trial, its
    sides proportional to the length scales, halved after max(4, d) trials in a row without
    improvement and doubled after 3 improvements; its size is replayed from the history, so it
    needs no state. By default ("auto") it turns on with 6 or more Float/Int parameters once 10
    trials per parameter have finished: below that budget it did not help in 10 and 20
    dimensions (see benchmarks/bbob/README.md).

    Several objectives (`acquisition`): "parego" (the default; Knowles 2006) draws a weight
    vector per trial, uniform on the simplex from the seed and the trial number (recorded as
    `gp_weights`), fits the GP to the augmented Chebyshev scalarisation of the scores normalised
    to [0, 1], and maximises log EI; "ehvi" fits one GP per objective and maximises the exact
    log expected hypervolume improvement (a box decomposition of the region no trial dominates,
    below the worst target plus 10% of the range). On issue 16's benchmark at 100 evaluations
    ParEGO was ahead on 8 of 9 ZDT/DTLZ problems (the ninth a tie; EHVI, like Optuna's, stalls
    at one end of the ZDT fronts), EHVI on 11 of 17 LCBench tasks by small margins
    (docs/decisions/gp-multi-objective.md).
    The trust region is not used with several objectives or with constraints.

    Constraints (`create_study(constraints_func=...)`, one objective or several): one GP per
    constraint on its standardised values; the log probability that all hold is added to the
    log acquisition (Gardner et al. 2014, as Optuna's GPSampler), the incumbent and the search's
    starting points are feasible trials, and while no trial is feasible the probability of
    feasibility alone is maximised.

    Until `n_startup` trials have finished (or while fewer than two have finite scores),
    suggestions are points of a scrambled Sobol sequence, shared by all workers.

    Args:
        seed: Seed for reproducible studies; None draws one now (kept when pickled).
        n_startup: Trials of the initial design; None means min(10, 2d + 2) for d searched
            parameters.
        warp: "yeo_johnson" (default) or "copula": the monotone warp of the scores.
        trust_region: True (from the end of the initial design), False, or "auto" (with 6 or
            more Float/Int parameters, after 10 trials per parameter).
        acquisition: With several objectives, "parego" (default) or "ehvi".

    Raises:
        ConfigError: An argument is out of range.

    >>> from shoal.space import Float, Space
    >>> from shoal.samplers import History, sampler_rng
    >>> from shoal.trial import FrozenTrial, TrialState
    >>> space = Space({"x": Float(-5.0, 5.0)})
    >>> trials = [FrozenTrial(i, i, TrialState.COMPLETE, params={"x": x}, values=(x * x,))
    ...           for i, x in enumerate([-4.0, -1.0, 0.5, 3.0, 4.5])]
    >>> sampler = GPSampler(seed=0, n_startup=4)
    >>> abs(sampler.suggest(space, History(trials, 5), sampler_rng(0, 5))["x"]) < 1.5
    True
    """

    multi_objective = True  # several objectives: ParEGO's scalarisations, or EHVI

    def __init__(self, *, seed: int | None = None, n_startup: int | None = None,
                 warp: Warp = "yeo_johnson", trust_region: bool | Literal["auto"] = "auto",
                 acquisition: MultiAcquisition = "parego") -> None:
        self.seed = _validate.seed(seed, owner="GPSampler")
        self.n_startup = _validate.integer(n_startup, what="n_startup", owner="GPSampler", low=1,
                                           none=True)
        self.warp: Warp = _validate.one_of(warp, ("copula", "yeo_johnson"), what="warp",
                                           owner="GPSampler")
        if not (isinstance(trust_region, bool) or trust_region == "auto"):
            raise _validate.config_error("trust_region", "GPSampler", "True, False or 'auto'",
                                         trust_region)
        self.trust_region = trust_region
        self.acquisition: MultiAcquisition = _validate.one_of(
            acquisition, ("ehvi", "parego"), what="acquisition", owner="GPSampler")
        # Every worker must walk one Sobol sequence: its scramble is drawn once, kept when pickled.
        self._qmc_seed = seed if seed is not None else int(
            np.random.SeedSequence().generate_state(1)[0])

    def __repr__(self) -> str:
        return (f"GPSampler(seed={self.seed!r}, n_startup={self.n_startup!r}, warp={self.warp!r}, "
                f"trust_region={self.trust_region!r}, acquisition={self.acquisition!r})")

    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        with _one_blas_thread():
            return self._suggest(space, history, rng)

    def _suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        layout = Layout(space)
        if layout.n_features == 0:
            return space.decode(np.full(len(space), 0.5))
        n_startup = self._n_startup(layout)
        u_obs, scores, constraints = _observations(space, history)
        if _in_initial_design(u_obs, scores, n_startup):
            return space.decode(initial_point("sobol", list(space), history.position,
                                              seed=self._qmc_seed))
        rng = space_rng(rng, space)  # parameters asked alone do not share a stream
        if scores.shape[1] > 1 or constraints is not None:
            return self._suggest_multi(space, layout, history, rng, u_obs, scores, constraints)
        scores = scores[:, 0]
        finite = np.isfinite(scores)

        y = np.empty(len(scores))
        y[finite] = warp_scores(scores[finite], self.warp)
        y[~finite] = y[finite].max()  # failed and diverged trials count as the worst seen
        y = (y - y.mean()) / y.std()
        x = layout.features(u_obs)
        gp = GP(x, y, fit_hyper(x, y, tie=layout.tie))
        best = float(y[finite].min())
        u_run = _running(space, history)
        if len(u_run):
            gp = gp.with_fantasies(layout.features(u_run))

        lower, upper = np.zeros(len(space)), np.ones(len(space))
        incumbent = u_obs[np.flatnonzero(finite)[np.argmin(scores[finite])]]
        length = self._trust_length(layout, scores, n_startup)
        if length is not None:
            lower, upper = layout.box(incumbent, gp.hyper.length_scales, length)

        def acq(f: np.ndarray) -> np.ndarray:
            return log_ei(*gp.posterior(f), best)

        def acq_grad(f: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            mean, var, dmean, dvar = gp.posterior_grad(f)
            return log_ei_grad(mean, var, dmean, dvar, best)

        top = u_obs[np.flatnonzero(finite)[np.argsort(scores[finite])[:_N_TOP]]]
        return _maximise(layout, acq, acq_grad, gp.hyper.length_scales, top, lower, upper, rng)

    def _suggest_multi(self, space: Space, layout: Layout, history: History,
                       rng: np.random.Generator, u_obs: np.ndarray, scores: np.ndarray,
                       constraints: np.ndarray | None) -> dict[str, Any]:
        """Several objectives, or constraints: see `_multi.build`; no trust region."""
        k = scores.shape[1]
        weights = (parego_weights(self._qmc_seed, history.number, k)
                   if k > 1 and self.acquisition == "parego" else None)
        n_top = _N_TOP_MULTI if k > 1 else _N_TOP
        acq = build(layout.features(u_obs), scores, constraints,
                    layout.features(_running(space, history)), warp=self.warp, tie=layout.tie,
                    mode=self.acquisition, weights=weights, rng=rng, n_top=n_top)
        lower, upper = np.zeros(len(space)), np.ones(len(space))
        return _maximise(layout, acq.value, acq.value_grad, acq.length_scales, u_obs[acq.top],
                         lower, upper, rng, n_perturb=_N_PERTURB_TOTAL // max(1, len(acq.top)))

    def describe(self, space: Space, history: History) -> dict[str, Any]:
        """System attributes for the trial being filled: how its point is chosen (JSON).

        `gp_phase` is "initial_design" (a Sobol point) or "model" (maximising log EI);
        `gp_trust_region` is the trust region's side relative to the length scales, when on.
        With several objectives, `gp_acquisition` names the acquisition ("ehvi" or "parego")
        and `gp_weights` are ParEGO's weights; with constraints, `gp_constrained` is True.
        """
        layout = Layout(space)
        n_startup = self._n_startup(layout)
        u_obs, scores, constraints = _observations(space, history)
        if layout.n_features == 0:
            return {}  # nothing to search
        if _in_initial_design(u_obs, scores, n_startup):
            return {"gp_phase": "initial_design"}
        k = scores.shape[1]
        if k > 1 or constraints is not None:
            out: dict[str, Any] = {"gp_phase": "model"}
            if k > 1:
                out["gp_acquisition"] = self.acquisition
            if k > 1 and self.acquisition == "parego":
                out["gp_weights"] = parego_weights(self._qmc_seed, history.number, k).tolist()
            if constraints is not None:
                out["gp_constrained"] = True
            return out
        length = self._trust_length(layout, scores[:, 0], n_startup)
        return {"gp_phase": "model", **({} if length is None else {"gp_trust_region": length})}

    def _n_startup(self, layout: Layout) -> int:
        return self.n_startup or min(10, 2 * layout.n_searched + 2)

    def _trust_length(self, layout: Layout, scores: np.ndarray, n_startup: int) -> float | None:
        """The trust region's side (None: searching the whole space)."""
        # "auto": a local model pays once the global one has many points in many dimensions.
        tr_from = n_startup if self.trust_region is True else max(
            n_startup, _TR_AUTO_TRIALS_PER_DIM * layout.n_numeric)
        if self.trust_region is True or (self.trust_region == "auto" and len(scores) >= tr_from
                                         and layout.n_numeric >= _TR_AUTO_DIM):
            return _trust_length(scores, tr_from, layout.n_numeric)
        return None


def _maximise(layout: Layout, acq: Callable[[np.ndarray], np.ndarray], acq_grad: ValueAndGrad,
              length_scales: np.ndarray, top: np.ndarray, lower: np.ndarray, upper: np.ndarray,
              rng: np.random.Generator, *, n_perturb: int = N_PERTURB) -> dict[str, Any]:
    """The best of random and jiggled candidates, and of the best few refined by L-BFGS-B.

    `acq` and `acq_grad` take GP inputs; `top` are raw points to jiggle; [lower, upper] the box.
    """
    cand = layout.canonical(candidates(top, lower, upper, layout.is_choice, rng,
                                       n_perturb=n_perturb))
    values = acq(layout.features(cand))

    # Refine the best distinct candidates by gradient over their active numeric inputs.
    order = np.argsort(-values)
    _, first = np.unique(cand[order], axis=0, return_index=True)
    starts_u = cand[order[np.sort(first)[:_N_REFINE]]]
    starts = layout.features(starts_u)
    free = layout.numeric_mask & ~np.isnan(layout.to_feature_shape(starts_u))
    flo, fup = layout.to_feature_shape(lower[None])[0], layout.to_feature_shape(upper[None])[0]
    scales = np.ones(layout.n_features)
    scales[layout.numeric_features] = np.minimum(length_scales[layout.numeric_features], 1.0)
    refined = layout.canonical(layout.raw(refine(acq_grad, starts, flo, fup, free, scales)))
    pool = np.vstack([cand, refined])
    pool_values = np.concatenate([values, acq(layout.features(refined))])
    return layout.space.decode(pool[int(np.argmax(pool_values))])


def _in_initial_design(u_obs: np.ndarray, scores: np.ndarray, n_startup: int) -> bool:
    """Too few finished trials, or too few distinct finite scores, to fit a model; or no trial
    in which any of the space's parameters was active (a define-by-run parameter first seen
    after the initial design, asked alone: a model of nothing sent every such one to a corner).
    `scores` is (n,) or (n, k); a row counts when all of it is finite."""
    rows = scores if scores.ndim == 2 else scores[:, None]
    finite = rows[np.all(np.isfinite(rows), axis=1)]
    return (len(scores) < n_startup or len(np.unique(finite, axis=0)) < 2
            or bool(np.isnan(u_obs).all()))


_BLAS: list[Any] = []  # a threadpoolctl controller, made once: scanning the libraries takes ms


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Limit BLAS to one thread while fitting, if threadpoolctl is installed.

    The matrices are at most a few hundred wide: threads cost more than they save, and on a busy
    machine spinning BLAS threads made a suggestion 10-100x slower (0.7-10 s instead of 0.1 s).
    Without threadpoolctl, set OMP_NUM_THREADS=1 for the same effect.
    """
    if not _BLAS:
        import scipy.linalg  # noqa: F401  (scipy's own BLAS must be loaded for the controller to see it)

        try:
            from threadpoolctl import ThreadpoolController  # type: ignore[import-untyped,import-not-found,unused-ignore]
        except ImportError:
            _BLAS.append(None)
        else:
            _BLAS.append(ThreadpoolController())
    controller = _BLAS[0]
    if controller is None:
        return contextlib.nullcontext()
    return controller.limit(limits=1, user_api="blas")  # type: ignore[no-any-return]


def _observations(space: Space, history: History
                  ) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    """Encoded finished trials (in trial order), their scores (n, k) and constraints (n, m).

    Scores are NaN where there is none (failed, diverged, pruned before a report); constraints
    are None when no trial recorded any, else NaN in the rows of trials without them.
    """
    rows, scores, constraints = [], [], []
    for t in sorted(history.trials, key=lambda t: t.number):
        if t.state not in _FINISHED or not t.params:
            continue
        u = _encode(space, t.params)
        if u is None:
            continue
        values = t.scores if t.state is not TrialState.FAILED else None
        rows.append(u)
        scores.append([math.nan] * t.n_objectives if values is None
                      else [v if math.isfinite(v) else math.nan for v in values])
        constraints.append(t.constraints)
    if not rows:
        return np.empty((0, len(space))), np.empty((0, 1)), None
    k = max(len(r) for r in scores)
    out = np.array([r + [math.nan] * (k - len(r)) for r in scores])
    m = max((len(c) for c in constraints if c is not None), default=0)
    if m == 0:
        return np.array(rows), out, None
    cons = np.full((len(rows), m), np.nan)
    for i, c in enumerate(constraints):
        if c is not None:
            cons[i, :len(c)] = c
    return np.array(rows), out, cons


def _running(space: Space, history: History) -> np.ndarray:
    rows = [u for t in history.running() if t.params
            and (u := _encode(space, t.params)) is not None]
    return np.array(rows) if rows else np.empty((0, len(space)))


def _encode(space: Space, params: Any) -> np.ndarray | None:
    try:
        return space.encode(params)
    except (ValueError, TypeError):  # a value from another space version: not ours to learn from
        return None


def _trust_length(scores: np.ndarray, n_startup: int, d: int) -> float:
    """Replay TuRBO's success/failure counters over the trials after the initial design."""
    length, succ, fail, best = _TR_INIT, 0, 0, math.inf
    for i, s in enumerate(scores):
        improved = bool(np.isfinite(s)) and s < best - 1e-3 * abs(best)
        if np.isfinite(s):
            best = min(best, float(s))
        if i < n_startup:
            continue
        succ, fail = (succ + 1, 0) if improved else (0, fail + 1)
        if succ >= _TR_SUCCESS:
            length, succ = min(2.0 * length, _TR_MAX), 0
        elif fail >= max(4, d):
            length, fail = length / 2.0, 0
        if length < _TR_MIN:
            length = _TR_INIT
    return length
