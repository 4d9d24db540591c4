"""Random search: the baseline every other sampler must beat, and the reference sampler shape."""

from __future__ import annotations

from typing import Any

import numpy as np

from shoal import _validate
from shoal.samplers._protocol import History
from shoal.samplers._streams import space_rng
from shoal.space import Space

__all__ = ["RandomSampler"]


class RandomSampler:
    """Draws every parameter independently and uniformly on its own scale.

    Uniform in the encoded space means log-uniform for `scale="log"` and log-uniform in 1-x for
    `scale="one_minus_log"`, which is what makes random search efficient for learning rates and
    momenta (Bergstra & Bengio, 2012). The draws are keyed by the parameters' names, so two
    parameters asked alone with generators in the same state still differ.

    Args:
        seed: Seed for reproducible studies; None draws fresh entropy.

    >>> from shoal.space import Float, Space
    >>> from shoal.samplers import History, sampler_rng
    >>> sampler = RandomSampler(seed=0)
    >>> space = Space({"lr": Float(1e-4, 1.0, scale="log")})
    >>> params = sampler.suggest(space, History([], 0), sampler_rng(0, 0))
    >>> 1e-4 <= params["lr"] <= 1.0
    True
    """

    multi_objective = True  # it never reads results, so it serves any number of objectives

    def __init__(self, *, seed: int | None = None) -> None:
        self.seed = _validate.seed(seed, owner="RandomSampler")

    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        return space.sample(space_rng(rng, space))

    def __repr__(self) -> str:
        return f"RandomSampler(seed={self.seed!r})"
