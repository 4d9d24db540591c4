"""shoal's GPSampler with its inputs warped by fitted Kumaraswamy CDFs: a `run_bench.py --plugin`.

A stationary kernel assumes the objective varies as fast everywhere in the unit cube. Snoek et
al. (2014, "Input warping for Bayesian optimization of non-stationary functions") warp each
input by a Beta CDF fitted with the kernel; HEBO (Cowen-Rivers et al. 2022) and BoTorch's `Warp`
use the Kumaraswamy CDF w(x) = 1 - (1 - x^a)^b, which has a closed form. Here every Float/Int
input (not a categorical's one-hot columns) gets its own (a, b); log a and log b, with a normal
prior N(0, 0.75) (BoTorch's) and bounds [1/5, 5], are fitted jointly with the kernel's
hyperparameters by the same L-BFGS-B MAP fit, with analytic gradients:

    ∂(-log p)/∂ log a_f = 2 λ_f [ (w_f ⊙ v_f)·(G1) - w_fᵀ G v_f ],  G = W ⊙ s M'(r²),

W = K⁻¹ - ααᵀ as in `_fit.neg_log_posterior`, v_f = ∂w_f/∂ log a_f (likewise for b). The
posterior and the acquisition see the warped inputs; the acquisition's gradient is chained
through dw/dx. Inputs are squeezed into [1e-6, 1 - 1e-6] first so that w and dw/dx stay finite.

    OMP_NUM_THREADS=1 ../../.venv/bin/python run_bench.py --plugin gp_inwarp.py \
        --optimizers shoal_gp_inwarp --tier full --out /tmp/inwarp.jsonl

Run as a script, it runs `benchmarks/bench_mixed.py` or `bench_mnist1d.py` with the variant
installed, the sampler named `shoal_gp_inwarp`:

    OMP_NUM_THREADS=1 ../../.venv/bin/python gp_inwarp.py bench_mnist1d --samplers shoal_gp_inwarp --out F
"""


import math
from dataclasses import dataclass

import numpy as np
from adapters import register
from shoal_adapters import _ShoalAdapter, run_deep_learning_bench

import shoal.samplers._gp.sampler as gps
from shoal.samplers._gp import GPSampler
from shoal.samplers._gp import _fit as gfit
from shoal.samplers._gp._kernel import matern52_and_dr2, pairwise_sq_diffs

_EPS = 1e-6
_PRIOR_VAR = 0.75  # of log a and log b (BoTorch's LogNormal(0, 0.75 ** 0.5) on a and b)
_LOG_BOUND = math.log(5.0)


def kumaraswamy(x: np.ndarray, log_a: np.ndarray, log_b: np.ndarray) -> tuple[np.ndarray, ...]:
    """w = 1 - (1 - x^a)^b per column, and ∂w/∂log a, ∂w/∂log b, ∂w/∂x."""
    a, b = np.exp(log_a), np.exp(log_b)
    xc = _EPS + (1.0 - 2.0 * _EPS) * np.clip(x, 0.0, 1.0)
    log_x = np.log(xc)
    xa = np.exp(a * log_x)
    t = 1.0 - xa
    log_t = np.log(t)
    tb = np.exp(b * log_t)
    tb1 = np.exp((b - 1.0) * log_t)
    w = 1.0 - tb
    dw_dloga = a * b * tb1 * xa * log_x
    dw_dlogb = -b * tb * log_t
    dw_dx = (1.0 - 2.0 * _EPS) * a * b * np.exp((a - 1.0) * log_x) * tb1
    return w, dw_dloga, dw_dlogb, dw_dx


@dataclass(frozen=True)
class WarpedHyper:
    """The kernel's hyperparameters and the warp of the inputs `cols`."""

    base: gfit.Hyper
    cols: np.ndarray
    log_a: np.ndarray
    log_b: np.ndarray

    def warp(self, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Warped inputs, and dw/dx per input (1 for the unwarped ones)."""
        w, jac = x.copy(), np.ones_like(x)
        if len(self.cols):
            wc, _, _, dx = kumaraswamy(x[:, self.cols], self.log_a, self.log_b)
            w[:, self.cols], jac[:, self.cols] = wc, dx
        return w, jac


def _neg_log_posterior(theta: np.ndarray, x: np.ndarray, y: np.ndarray, tie: np.ndarray | None,
                       cols: np.ndarray) -> tuple[float, np.ndarray]:
    """`_fit.neg_log_posterior` with 2·len(cols) warp parameters appended to θ."""
    from scipy.linalg.lapack import dpotrf, dpotri

    m = len(cols)
    base_theta = theta[:len(theta) - 2 * m]
    log_a, log_b = theta[len(base_theta):len(base_theta) + m], theta[len(base_theta) + m:]
    w = x.copy()
    wc, va, vb, _ = kumaraswamy(x[:, cols], log_a, log_b)
    w[:, cols] = wc
    diffs = pairwise_sq_diffs(w, w)
    if tie is not None:
        diffs = diffs @ tie
    # The library's likelihood, not a copy of it; the warp's gradient below needs W, so K is
    # factorised a second time (n <= 100 here: well under a millisecond).
    nll, base_grad = gfit.neg_log_posterior(base_theta, diffs, y)
    grad = np.zeros_like(theta)
    grad[:len(base_theta)] = base_grad
    if nll >= 1e25:
        return nll, grad
    h = gfit.unpack(base_theta)
    lam = h.inv_ls2 if tie is None else tie @ h.inv_ls2  # per input
    r2 = diffs @ h.inv_ls2
    m_r2, dm = matern52_and_dr2(r2)
    k = h.scale * m_r2
    k[np.diag_indices(len(y))] += h.noise
    chol, info = dpotrf(k, lower=1, clean=1)
    if info != 0:
        return 1e25, np.zeros_like(theta)
    k_inv, _ = dpotri(chol, lower=1)
    k_inv = k_inv + k_inv.T
    k_inv[np.diag_indices(len(y))] *= 0.5
    alpha = k_inv @ y
    g = (k_inv - np.outer(alpha, alpha)) * (h.scale * dm)
    g1 = g.sum(1)
    for j, c in enumerate(cols):
        wf = wc[:, j]
        for v, at in ((va[:, j], len(base_theta) + j), (vb[:, j], len(base_theta) + m + j)):
            grad[at] = 2.0 * lam[c] * (float((wf * v) @ g1) - float(wf @ g @ v))
    nll += float(np.sum(log_a ** 2 + log_b ** 2)) / (2 * _PRIOR_VAR)
    grad[len(base_theta):] += theta[len(base_theta):] / _PRIOR_VAR
    return nll, grad


def fit_hyper(x: np.ndarray, y: np.ndarray, *, tie: np.ndarray | None = None) -> WarpedHyper:
    from scipy.optimize import minimize

    # Numeric inputs are those with a kernel dimension of their own (a choice's columns weigh 1/2).
    cols = np.arange(x.shape[1]) if tie is None else np.flatnonzero(np.isclose(tie.max(1), 1.0))
    d = x.shape[1] if tie is None else tie.shape[1]
    m = len(cols)
    bounds = gfit.theta_bounds(d) + [(-_LOG_BOUND, _LOG_BOUND)] * (2 * m)
    best: tuple[float, np.ndarray] | None = None
    for log_ls in (0.0, math.log(0.3)):
        theta0 = np.concatenate([np.full(d, -2 * log_ls), [0.0, math.log(1e-3)], np.zeros(2 * m)])
        res = minimize(_neg_log_posterior, theta0, args=(x, y, tie, cols), jac=True,
                       method="L-BFGS-B", bounds=bounds,
                       options={"maxiter": 80, "ftol": 1e-9, "gtol": 1e-6})
        if math.isfinite(float(res.fun)) and (best is None or float(res.fun) < best[0]):
            best = (float(res.fun), np.asarray(res.x, dtype=float))
    theta = best[1] if best is not None else np.concatenate(
        [np.zeros(d), [0.0, math.log(1e-3)], np.zeros(2 * m)])
    base = gfit.unpack(theta[:d + 2])
    if tie is not None:
        base = gfit.Hyper(tie @ base.inv_ls2, base.scale, base.noise)
    return WarpedHyper(base, cols, theta[d + 2:d + 2 + m], theta[d + 2 + m:])


class WarpedGP:
    """shoal's GP on warped inputs; gradients chained through the warp."""

    def __init__(self, x: np.ndarray, y: np.ndarray, warped: WarpedHyper,
                 inner: gfit.GP | None = None) -> None:
        self.warped = warped
        self.hyper = warped.base
        self.inner = inner if inner is not None else gfit.GP(warped.warp(x)[0], y, warped.base)

    def posterior(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return self.inner.posterior(self.warped.warp(xq)[0])

    def posterior_grad(self, xq: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                       np.ndarray]:
        w, jac = self.warped.warp(xq)
        mean, var, dmean, dvar = self.inner.posterior_grad(w)
        return mean, var, dmean * jac, dvar * jac

    def with_fantasies(self, xr: np.ndarray) -> "WarpedGP":
        if len(xr) == 0:
            return self
        return WarpedGP(xr, np.empty(0), self.warped, self.inner.with_fantasies(
            self.warped.warp(xr)[0]))


gps.GP = WarpedGP  # type: ignore[misc]
gps.fit_hyper = fit_hyper  # type: ignore[assignment]

if __name__ == "__main__":
    run_deep_learning_bench("shoal_gp_inwarp")

register("shoal_gp_inwarp")(type("InwarpAdapter", (_ShoalAdapter,), {
    "make_sampler": staticmethod(lambda seed: GPSampler(seed=seed))}))
