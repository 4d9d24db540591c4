"""Multivariate tree-structured Parzen estimator: `TPESampler`, with its maths beside it.

`sampler.py` adapts `History` to arrays (grouping conditional parameters, the constant liar
for running trials); `_parzen.py` holds the Parzen estimators (truncated Gaussian and smoothed
categorical kernels, the bandwidth rule, gamma and the trial weights) as pure numpy/scipy code.
"""

from shoal.samplers._tpe.sampler import TPESampler

__all__ = ["TPESampler"]
