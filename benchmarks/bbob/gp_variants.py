"""Variants of shoal's GPSampler tried on the BBOB full tier: a `run_bench.py --plugin`.

One variant per process, chosen by the VARIANT environment variable, registered as
`shoal_gp_<VARIANT>`; each patches the sampler's module for its whole process, so never run two
variants in one process. Results and commands: README.md, "Variants tried on the full tier".

    VARIANT=nowarp OMP_NUM_THREADS=1 ../../.venv/bin/python run_bench.py --plugin gp_variants.py \
        --optimizers shoal_gp_nowarp --tier full --out /tmp/nowarp.jsonl

Variants: s10 (10 start-up trials at every d), s2d (min(10, 2d) start-up trials), eps5 (every 5th
trial after the 10th a Sobol point), nowarp (scores standardised only), upper (Yeo-Johnson on the
worse half only), evid (per trial, the warp, Yeo-Johnson or none, with the larger GP evidence of
the raw scores, the warp's Jacobian included), yjpos (Yeo-Johnson exponent in [0, 3], not
[-2, 3]), yjcap (yjpos after log-compressing scores more than 100 IQRs above the median),
starts3 (a third start for the hyperparameter fit, length scales 0.1), yjpos_starts3 (both),
each (the acquisition's gradient refinement run from each start alone, not batched), logshift
(yjcap or a log of the distance to the best score, whichever fits the scores better), wide
(2048 random candidates for the acquisition instead of 512, 10 refined instead of 5: Optuna's numbers),
pmean (targets centred on their upper quartile: a pessimistic prior mean), mace (HEBO's acquisition
ensemble: a random choice among the candidates not dominated in log EI, log PI and -LCB).
"""

from __future__ import annotations

import inspect
import math
import os
import textwrap
from typing import Any

import numpy as np
from adapters import register
from shoal_adapters import _ShoalAdapter, run_deep_learning_bench

import shoal.samplers._gp.sampler as gps
from shoal.samplers._gp import GPSampler
from shoal.samplers._gp import _fit as gfit
from shoal.samplers._gp._kernel import pairwise_sq_diffs
from shoal.samplers._gp._optimize import refine as _batched_refine
from shoal.samplers._qmc import qmc_point

VARIANT = os.environ.get("VARIANT", "")


def _standardise(s: np.ndarray) -> np.ndarray:
    sd = float(np.std(s))
    out: np.ndarray = (s - s.mean()) / sd if sd > 0 else s - s.mean()
    return out


def _no_warp(scores: np.ndarray, method: str = "") -> np.ndarray:
    return _standardise(np.asarray(scores, dtype=float))


def _upper_warp(scores: np.ndarray, method: str = "") -> np.ndarray:
    """Yeo-Johnson's positive branch on the scores above the median; those below stay linear."""
    s = np.asarray(scores, dtype=float)
    q1, med, q3 = np.percentile(s, [25, 50, 75])
    spread = q3 - q1 if q3 > q1 else (float(np.std(s)) or 1.0)
    x = np.clip((s - med) / spread, -1e6, 1e6)
    pos = x > 0
    lp = np.log1p(x[pos])
    best, best_ll = x, -math.inf
    for lam in np.linspace(-1.0, 1.0, 21):
        t = x.copy()
        t[pos] = lp if abs(lam) < 1e-8 else np.expm1(lam * lp) / lam
        var = float(np.var(t))
        if var > 0 and (ll := -0.5 * len(x) * math.log(var) + (lam - 1.0) * float(lp.sum())) > best_ll:
            best, best_ll = t, ll
    return _standardise(best)


def _yeo_johnson_and_log_jacobian(s: np.ndarray) -> tuple[np.ndarray, float]:
    q1, med, q3 = np.percentile(s, [25, 50, 75])
    spread = q3 - q1 if q3 > q1 else (float(np.std(s)) or 1.0)
    x = np.clip((s - med) / spread, -1e6, 1e6)
    signed_log = float(np.sum(np.sign(x) * np.log1p(np.abs(x))))
    best, best_lam, best_ll = x, 1.0, -math.inf
    for lam in np.linspace(-2.0, 3.0, 26):
        t = gfit._yj(x, float(lam))
        var = float(np.var(t))
        if math.isfinite(var) and var > 0:
            ll = -0.5 * len(x) * math.log(var) + (lam - 1.0) * signed_log
            if ll > best_ll:
                best, best_lam, best_ll = t, float(lam), ll
    return best, (best_lam - 1.0) * signed_log - len(x) * math.log(spread)


def _yeo_johnson_nonnegative(s: np.ndarray, far: float = math.inf) -> np.ndarray:
    """Yeo-Johnson with the exponent in [0, 3] (no stronger than log), after log-compressing
    scores more than `far` IQRs above the median (yjcap: 100; what GPSampler does since)."""
    q1, med, q3 = np.percentile(s, [25, 50, 75])
    spread = q3 - q1 if q3 > q1 else (float(np.std(s)) or 1.0)
    x = np.clip((s - med) / spread, -1e6, 1e6)
    beyond = x > far
    x[beyond] = far + np.log1p(x[beyond] - far)
    return _best_yeo_johnson(x)[0]


def _best_yeo_johnson(x: np.ndarray) -> tuple[np.ndarray, float]:
    """The exponent in [0, 3] with the largest normal log-likelihood of x (log-Jacobian
    included): the transformed x and that log-likelihood."""
    signed_log = float(np.sum(np.sign(x) * np.log1p(np.abs(x))))
    best, best_ll = x, -math.inf
    for lam in np.linspace(0.0, 3.0, 16):
        t = gfit._yj(x, float(lam))
        var = float(np.var(t))
        if math.isfinite(var) and var > 0:
            ll = -0.5 * len(x) * math.log(var) + (lam - 1.0) * signed_log
            if ll > best_ll:
                best, best_ll = t, ll
    return best, best_ll


def _yj_or_log_shift(s: np.ndarray) -> np.ndarray:
    """yjcap, or log(s - min + delta) (delta = IQR * 10^-3..10^0) where that makes the raw scores
    likelier under a normal fit (log-Jacobians included): a log from the best score spreads the
    good end, which yjcap's median-centred transform leaves flat on right-skewed scores."""
    q1, med, q3 = np.percentile(s, [25, 50, 75])
    spread = q3 - q1 if q3 > q1 else (float(np.std(s)) or 1.0)
    n = len(s)
    x = np.clip((s - med) / spread, -1e6, 1e6)
    far = x > 100.0
    log_jac_far = -float(np.sum(np.log1p(x[far] - 100.0)))
    x[far] = 100.0 + np.log1p(x[far] - 100.0)
    best, best_ll = _best_yeo_johnson(x)
    best_ll += log_jac_far - n * math.log(spread)  # the raw scores' likelihood, as the log's below
    for delta in spread * np.array([1e-3, 1e-2, 1e-1, 1.0]):
        shifted = s - s.min() + delta
        t = np.log(shifted)
        var = float(np.var(t))
        if math.isfinite(var) and var > 0:
            ll = -0.5 * n * math.log(var) - float(np.sum(np.log(shifted)))
            if ll > best_ll:
                best, best_ll = t, ll
    return best


def _fit_hyper_three_starts(x: np.ndarray, y: np.ndarray, *, min_noise: float = gfit.MIN_NOISE,
                            max_iter: int = 80) -> Any:
    """shoal's fit_hyper with a third start, all length scales at 0.1 (besides 1 and 0.3)."""
    from scipy.optimize import minimize

    d = x.shape[1]
    diffs = pairwise_sq_diffs(x, x)
    bounds = gfit.theta_bounds(d)
    best: tuple[float, np.ndarray] | None = None
    for log_ls in (0.0, math.log(0.3), math.log(0.1)):
        theta0 = np.concatenate([np.full(d, -2 * log_ls), [0.0, math.log(1e-3)]])
        res = minimize(gfit.neg_log_posterior, theta0, args=(diffs, y, min_noise), jac=True,
                       method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": max_iter, "ftol": 1e-9, "gtol": 1e-6})
        if math.isfinite(float(res.fun)) and (best is None or float(res.fun) < best[0]):
            best = (float(res.fun), np.asarray(res.x, dtype=float))
    assert best is not None
    return gfit.unpack(best[1], min_noise)


def _by_evidence(scores: np.ndarray, finite: np.ndarray, x: np.ndarray) -> tuple[np.ndarray, Any]:
    """(targets, hyperparameters) of the warp under which the raw scores are likelier."""
    s = scores[finite]
    best: tuple[float, np.ndarray, Any] | None = None
    for z, log_jac in (_yeo_johnson_and_log_jacobian(s), (s.copy(), 0.0)):
        y = np.empty(len(scores))
        y[finite] = z
        y[~finite] = z.max()
        sd = float(np.std(y))
        y = (y - y.mean()) / sd
        hyper = gfit.fit_hyper(x, y)
        theta = np.concatenate([np.log(hyper.inv_ls2), [math.log(hyper.scale),
                                math.log(max(hyper.noise - gfit.MIN_NOISE, 1e-300))]])
        evidence = -gfit.neg_log_posterior(theta, pairwise_sq_diffs(x, x), y)[0]
        evidence += log_jac - len(s) * math.log(sd)
        if best is None or evidence > best[0]:
            best = (evidence, y, hyper)
    assert best is not None
    return best[1], best[2]


def _refine_each(fun: Any, starts: np.ndarray, lower: np.ndarray, upper: np.ndarray,
                 free: np.ndarray, scales: np.ndarray, *, max_iter: int = 40) -> np.ndarray:
    """shoal's batched refine run on each start alone: its own L-BFGS-B, its own stopping test."""
    return np.vstack([_batched_refine(fun, starts[i:i + 1], lower, upper, free[i:i + 1], scales,
                                      max_iter=max_iter) for i in range(len(starts))])


class _EveryFifthSobol(GPSampler):
    def suggest(self, space: Any, history: Any, rng: np.random.Generator) -> dict[str, Any]:
        position = history.position
        if position >= 10 and position % 5 == 4:
            return space.decode(qmc_point("sobol", len(space), position, seed=self._qmc_seed))
        return super().suggest(space, history, rng)


class _Evidence(GPSampler):
    pass


def _patched_suggest(old: str, new: str, **names: Any) -> Any:
    """GPSampler._suggest with the source lines `old` replaced by `new` (benchmark-only)."""
    src = textwrap.dedent(inspect.getsource(gps.GPSampler._suggest))
    assert old in src, "GPSampler._suggest changed: update this variant"
    namespace = {**vars(gps), **names}
    exec(src.replace(old, new), namespace)
    return namespace["_suggest"]


def _evidence_suggest() -> Any:
    """GPSampler._suggest with the warp and fit replaced by `_by_evidence` (BBOB has no
    categoricals, so no length scales are tied)."""
    return _patched_suggest("""    y = np.empty(len(scores))
    y[finite] = warp_scores(scores[finite], self.warp)
    y[~finite] = y[finite].max()  # failed and diverged trials count as the worst seen
    y = (y - y.mean()) / y.std()
    x = layout.features(u_obs)
    gp = GP(x, y, fit_hyper(x, y, tie=layout.tie))""", """    x = layout.features(u_obs)
    y, hyper = _by_evidence(scores, finite, x)
    gp = GP(x, y, hyper)""", _by_evidence=_by_evidence)


class _PessimisticMean(GPSampler):
    pass


def _pessimistic_suggest() -> Any:
    """GPSampler._suggest with the targets centred on their upper quartile, not their mean: the
    GP's prior mean (0) is then a worse-than-typical score, so unexplored regions look worse."""
    return _patched_suggest("    y = (y - y.mean()) / y.std()",
                            "    y = (y - np.percentile(y, 75)) / y.std()")


def _mace_pick(pool: np.ndarray, gp: Any, best: float, layout: Any, rng: np.random.Generator,
               n_obs: int) -> int:
    """HEBO's MACE (Cowen-Rivers et al. 2022) on shoal's candidate pool: the points not dominated in
    (log EI, log PI, -LCB), one of them at random. κ is HEBO's: √(2u((2 + d/2) log t + log(π²/δ)))
    with u = 0.5, δ = 0.01, t the number of observations."""
    from scipy.special import log_ndtr

    mean, var = gp.posterior(layout.features(pool))
    sd = np.sqrt(var)
    d = pool.shape[1]
    kappa = math.sqrt(2 * 0.5 * ((2 + d / 2) * math.log(max(n_obs, 1)) + math.log(math.pi ** 2 / 0.01)))
    objectives = np.column_stack([gps.log_ei(mean, var, best), log_ndtr((best - mean) / sd),
                                  -(mean - kappa * sd)])
    values, rows = np.unique(np.round(objectives, 12), axis=0, return_index=True)
    dominated = np.array([bool(np.any(np.all(values >= v, axis=1) & np.any(values > v, axis=1)))
                          for v in values])
    front = rows[~dominated]
    return int(rng.choice(front))


def _mace_suggest() -> Any:
    return _patched_suggest("    return space.decode(pool[int(np.argmax(pool_values))])",
                            "    return space.decode(pool[_mace_pick(pool, gp, best, layout, rng, "
                            "len(scores))])", _mace_pick=_mace_pick)


class _Mace(GPSampler):
    pass


def _sampler_class() -> Any:
    if VARIANT == "s2d":
        GPSampler._n_startup = lambda self, layout: self.n_startup or min(10, 2 * layout.n_searched)
    elif VARIANT == "nowarp":
        gps.warp_scores = _no_warp
    elif VARIANT == "upper":
        gps.warp_scores = _upper_warp
    elif VARIANT == "yjpos":
        gfit._yeo_johnson = _yeo_johnson_nonnegative  # type: ignore[assignment]
    elif VARIANT == "yjcap":
        gfit._yeo_johnson = lambda s: _yeo_johnson_nonnegative(s, far=100.0)
    elif VARIANT == "starts3":
        gps.fit_hyper = _fit_hyper_three_starts
    elif VARIANT == "yjpos_starts3":
        gfit._yeo_johnson = _yeo_johnson_nonnegative  # type: ignore[assignment]
        gps.fit_hyper = _fit_hyper_three_starts
    elif VARIANT == "pmean":
        _PessimisticMean._suggest = _pessimistic_suggest()
        return _PessimisticMean
    elif VARIANT == "wide":
        gps._N_RANDOM, gps._N_REFINE = 2048, 10  # type: ignore[attr-defined]
    elif VARIANT == "logshift":
        gfit._yeo_johnson = _yj_or_log_shift  # type: ignore[assignment]
    elif VARIANT == "each":
        gps.refine = _refine_each
    elif VARIANT == "mace":
        _Mace._suggest = _mace_suggest()
        return _Mace
    elif VARIANT == "eps5":
        return _EveryFifthSobol
    elif VARIANT == "evid":
        _Evidence._suggest = _evidence_suggest()
        return _Evidence
    elif VARIANT != "s10":
        raise SystemExit("VARIANT must be one of s10 s2d eps5 nowarp upper evid yjpos yjcap starts3 "
                         f"yjpos_starts3 each logshift wide pmean mace; got {VARIANT!r}")
    return GPSampler


if VARIANT:
    _cls = _sampler_class()
    if __name__ == "__main__":  # VARIANT=mace python gp_variants.py bench_mnist1d --samplers shoal_gp_mace
        run_deep_learning_bench(f"shoal_gp_{VARIANT}", _cls)
    _options = {"n_startup": 10} if VARIANT == "s10" else {}
    register(f"shoal_gp_{VARIANT}")(type("GPVariant", (_ShoalAdapter,), {
        "make_sampler": staticmethod(lambda seed: _cls(seed=seed, **_options))}))
