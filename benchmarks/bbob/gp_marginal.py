"""shoal's GPSampler with its hyperparameters integrated out: a `run_bench.py --plugin`.

The sampler maximises log EI under one GP, the MAP of its hyperparameters θ (log inverse squared
length scales, log signal variance, log excess noise). With a few dozen points in several
dimensions θ is poorly determined, and EI under one θ is overconfident about where the optimum
is. Here EI is averaged over K draws of θ (Snoek et al. 2012, "integrated acquisition"), drawn
from a Laplace approximation of the posterior around the MAP: N(θ*, H⁻¹), H the Hessian of the
negative log posterior by central differences of its analytic gradient. Coordinates of θ* on a
bound of the fit (noise at its floor, a length scale at 0.01 or 100) are not a mode there and
stay fixed. Draw 0 is θ* itself; the others are the MAP plus Sobol-stratified normal steps,
clipped to the fit's bounds, seeded by the data so the sampler stays deterministic.

The integrated acquisition is log (1/K Σ_k EI_k(x)), a logsumexp of the per-draw log EI, and its
gradient the softmax-weighted per-draw gradients. The trust region and the refinement's scales
use the MAP's length scales.

    MARG_K=8 OMP_NUM_THREADS=1 ../../.venv/bin/python run_bench.py --plugin gp_marginal.py \
        --optimizers shoal_gp_marg --tier full --out /tmp/marg.jsonl

Run as a script, it runs `benchmarks/bench_mixed.py` or `bench_mnist1d.py` with the variant
installed, the sampler named `shoal_gp_marg`:

    OMP_NUM_THREADS=1 ../../.venv/bin/python gp_marginal.py bench_mnist1d --samplers shoal_gp_marg --out F
"""


import math
import os

import numpy as np
from adapters import register
from shoal_adapters import _ShoalAdapter, run_deep_learning_bench

import shoal.samplers._gp.sampler as gps
from shoal.samplers._gp import GPSampler
from shoal.samplers._gp import _acquisition as gacq
from shoal.samplers._gp import _fit as gfit
from shoal.samplers._gp._kernel import pairwise_sq_diffs

K = int(os.environ.get("MARG_K", "8"))
_STEP = 1e-3  # central-difference step of the Hessian, in θ
_MIN_CURVATURE = 0.2  # the length-scale prior's own curvature in log λ is at least 0.2


class HyperSet:
    """K draws of the hyperparameters; the first, `hyper`, is the MAP (for the trust region and scales)."""

    def __init__(self, draws: list[gfit.Hyper]) -> None:
        self.draws = draws
        self.hyper = draws[0]


def _theta_of(hyper: gfit.Hyper, tie: np.ndarray | None) -> np.ndarray:
    """θ of a fitted Hyper: per kernel dimension (tied inputs share one λ)."""
    if tie is None:
        lam = hyper.inv_ls2
    else:
        first = np.argmax(tie != 0, axis=0)
        lam = hyper.inv_ls2[first] / tie[first, np.arange(tie.shape[1])]
    return np.concatenate([np.log(lam), [math.log(hyper.scale),
                                         math.log(max(hyper.noise - gfit.MIN_NOISE, 1e-300))]])


def fit_hyper(x: np.ndarray, y: np.ndarray, *, tie: np.ndarray | None = None) -> HyperSet:
    map_hyper = gfit.fit_hyper(x, y, tie=tie)
    if K <= 1:
        return HyperSet([map_hyper])
    theta = _theta_of(map_hyper, tie)
    diffs = pairwise_sq_diffs(x, x)
    if tie is not None:
        diffs = diffs @ tie
    d = diffs.shape[2]
    lo, hi = np.array(gfit.theta_bounds(d)).T
    free = np.flatnonzero((theta > lo + 1e-3) & (theta < hi - 1e-3))
    draws = [map_hyper]
    if len(free):
        p = len(free)
        hess = np.empty((p, p))
        for j, i in enumerate(free):
            step = np.zeros_like(theta)
            step[i] = _STEP
            g_plus = gfit.neg_log_posterior(theta + step, diffs, y)[1]
            g_minus = gfit.neg_log_posterior(theta - step, diffs, y)[1]
            hess[:, j] = (g_plus - g_minus)[free] / (2 * _STEP)
        hess = 0.5 * (hess + hess.T)
        evals, evecs = np.linalg.eigh(hess)
        root = evecs / np.sqrt(np.maximum(evals, _MIN_CURVATURE))  # cov = root rootᵀ
        from scipy.special import ndtri
        from scipy.stats import qmc

        sobol = qmc.Sobol(p, scramble=True, seed=len(y) * 7919 + d).random(K)[1:]
        z = ndtri(np.clip(sobol, 1e-6, 1 - 1e-6))
        for row in z:
            t = theta.copy()
            t[free] = np.clip(theta[free] + root @ row, lo[free], hi[free])
            h = gfit.unpack(t)
            if tie is not None:
                h = gfit.Hyper(tie @ h.inv_ls2, h.scale, h.noise)
            draws.append(h)
    return HyperSet(draws)


class EnsembleGP:
    """K GPs on the same data, one per hyperparameter draw; posteriors stacked on axis 0."""

    def __init__(self, x: np.ndarray, y: np.ndarray, hypers: HyperSet) -> None:
        self.gps = [gfit.GP(x, y, h) for h in hypers.draws]
        self.hyper = hypers.hyper

    def posterior(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        parts = [gp.posterior(xq) for gp in self.gps]
        return np.stack([m for m, _ in parts]), np.stack([v for _, v in parts])

    def posterior_grad(self, xq: np.ndarray) -> tuple[np.ndarray, ...]:
        parts = [gp.posterior_grad(xq) for gp in self.gps]
        return tuple(np.stack([p[i] for p in parts]) for i in range(4))

    def with_fantasies(self, xr: np.ndarray) -> "EnsembleGP":
        if len(xr) == 0:
            return self
        out = EnsembleGP.__new__(EnsembleGP)
        out.hyper, out.gps = self.hyper, [gp.with_fantasies(xr) for gp in self.gps]
        return out


def log_ei(mean: np.ndarray, var: np.ndarray, best: float) -> np.ndarray:
    """log of the mean over draws of EI: logsumexp over axis 0 minus log K."""
    from scipy.special import logsumexp

    per = gacq.log_ei(mean, var, best)
    out: np.ndarray = logsumexp(per, axis=0) - math.log(len(per))
    return out


def log_ei_grad(mean: np.ndarray, var: np.ndarray, dmean: np.ndarray, dvar: np.ndarray,
                best: float) -> tuple[np.ndarray, np.ndarray]:
    from scipy.special import logsumexp

    parts = [gacq.log_ei_grad(m, v, dm, dv, best) for m, v, dm, dv in zip(mean, var, dmean, dvar,
                                                                          strict=True)]
    values = np.stack([p[0] for p in parts])  # (K, B)
    grads = np.stack([p[1] for p in parts])  # (K, B, p)
    total = logsumexp(values, axis=0)
    weights = np.exp(values - total)  # softmax over the draws
    return total - math.log(len(parts)), np.einsum("kb,kbp->bp", weights, grads)


gps.GP = EnsembleGP  # type: ignore[misc]
gps.fit_hyper = fit_hyper  # type: ignore[assignment]
gps.log_ei = log_ei
gps.log_ei_grad = log_ei_grad

if __name__ == "__main__":
    run_deep_learning_bench("shoal_gp_marg")

register("shoal_gp_marg")(type("MargAdapter", (_ShoalAdapter,), {
    "make_sampler": staticmethod(lambda seed: GPSampler(seed=seed))}))
