"""The default sampler: a Gaussian process while it is affordable and strong, TPE beyond."""

from __future__ import annotations

from typing import Any

import numpy as np

from shoal import _validate
from shoal.samplers._gp import GPSampler
from shoal.samplers._protocol import DescribesTrials, History, Sampler
from shoal.samplers._tpe import TPESampler
from shoal.space import Categorical, Fixed, Space

__all__ = ["AutoSampler"]

# A GP costs O(n^3) in trials and needs data in proportion to its inputs; TPE is linear in both.
# 32: on the course's MNIST-1D space (14 parameters, 22 inputs) the GP beat our TPE at 20 trials
# (benchmarks/README.md, section 3), as on the mixed space; BBOB at d <= 10 agrees.
MAX_GP_INPUTS = 32
MAX_GP_TRIALS = 300


class AutoSampler:
    """Chooses for each trial: `GPSampler` for small budgets in few dimensions, `TPESampler` beyond.

    The rule: the GP while the space has at most 32 inputs (a Float or Int is one input, a
    Categorical one per choice, a Fixed none) and the study has fewer than 300 trials; TPE
    otherwise. On BBOB the GP wins at these budgets (benchmarks/bbob/README.md), but its cost
    grows with the cube of the number of trials, and in many dimensions it needs more trials
    than a tuning budget holds. The choice is recorded on each trial (`auto_choice`). The same
    rule holds with several objectives, where each of the two ranks trials by every objective.

    >>> from shoal.space import Float
    >>> sampler = AutoSampler(seed=0)
    >>> type(sampler.choose(Space({"lr": Float(1e-4, 1.0, scale="log")}), History([], 0))).__name__
    'GPSampler'
    """

    multi_objective = True  # both of its samplers rank trials by every objective

    def __init__(self, *, seed: int | None = None) -> None:
        self.seed = _validate.seed(seed, owner="AutoSampler")
        self._gp = GPSampler(seed=seed)
        self._tpe = TPESampler(seed=seed)

    def choose(self, space: Space, history: History) -> Sampler:
        inputs = sum(0 if isinstance(p, Fixed) else len(p.choices) if isinstance(p, Categorical) else 1
                     for p in space.values())
        if inputs <= MAX_GP_INPUTS and len(history.trials) < MAX_GP_TRIALS:
            return self._gp
        return self._tpe

    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        return self.choose(space, history).suggest(space, history, rng)

    def describe(self, space: Space, history: History) -> dict[str, Any]:
        chosen = self.choose(space, history)
        inner = chosen.describe(space, history) if isinstance(chosen, DescribesTrials) else {}
        return {"auto_choice": type(chosen).__name__, **inner}

    def __repr__(self) -> str:
        return f"AutoSampler(seed={self.seed!r})"
