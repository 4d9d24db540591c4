"""Gaussian-process Bayesian optimisation: `GPSampler`, with its maths in pure modules beside it.

`sampler.py` adapts `History` to arrays; `_layout.py` maps points to the GP's inputs;
`_kernel.py` (Matérn-5/2 ARD), `_fit.py` (warping, marginal likelihood, posterior),
`_acquisition.py` (log EI), `_ehvi.py` (log EHVI, probability of feasibility), `_multi.py` (the
acquisition for several objectives and constraints) and `_optimize.py` (L-BFGS-B refinement) are
numpy/scipy functions, each tested against a reference.
"""

from shoal.samplers._gp.sampler import GPSampler

__all__ = ["GPSampler"]
