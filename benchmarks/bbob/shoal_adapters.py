"""shoal's samplers as BBOB harness adapters: `run_bench.py --plugin shoal_adapters.py`.

Each adapter drives a real shoal Study (in-memory storage) through ask/tell over a declared
`shoal.Space` of Float parameters with the problem's bounds, seeded with the harness's seed.
Only shoal's public API is used (`shoal.samplers`), so renaming a private module breaks nothing here.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from adapters import Adapter, register

import shoal

SamplerFactory = Callable[[int], Any]


class _ShoalAdapter(Adapter):
    """Ask/tell over `x0..x{d-1}`; subclasses say which sampler to use."""

    make_sampler: SamplerFactory

    def __init__(self, dim: int, lower: np.ndarray, upper: np.ndarray, budget: int, seed: int) -> None:
        super().__init__(dim, lower, upper, budget, seed)
        self.names = [f"x{i}" for i in range(self.dim)]
        space = shoal.Space({n: shoal.Float(float(lo), float(hi))
                             for n, lo, hi in zip(self.names, self.lower, self.upper, strict=True)})
        self.study = shoal.create_study(direction="minimize", space=space,
                                        sampler=type(self).make_sampler(self.seed))
        self._trial: Any = None

    def ask(self) -> np.ndarray:
        self._trial = self.study.ask()
        return np.array([self._trial.params[n] for n in self.names], dtype=float)

    def tell(self, x: np.ndarray, y: float) -> None:
        self.study.tell(self._trial, float(y))
        self._trial = None

    @staticmethod
    def versions() -> dict[str, str]:
        return {"shoal": shoal.__version__, "numpy": np.__version__}


def _register(name: str, sampler_class: str, **options: Any) -> None:
    """Register `name` as `shoal.samplers.<sampler_class>(seed=..., **options)`."""
    cls = getattr(shoal.samplers, sampler_class)

    def make_sampler(seed: int) -> Any:
        return cls(seed=seed, **options)

    adapter = type(f"Shoal{sampler_class}", (_ShoalAdapter,), {"make_sampler": staticmethod(make_sampler)})
    register(name)(adapter)


_register("shoal_random", "RandomSampler")
_register("shoal_qmc", "QMCSampler")
_register("shoal_coarse_to_fine", "CoarseToFineSampler")
_register("shoal_gp", "GPSampler")
_register("shoal_tpe", "TPESampler")
