"""shoal's samplers as BBOB harness adapters: `run_bench.py --plugin shoal_adapters.py`.

Each adapter drives a real shoal Study (in-memory storage) through ask/tell over a declared
`shoal.Space` of Float parameters with the problem's bounds, seeded with the harness's seed.
Samplers that this checkout of shoal does not have yet are simply not registered.
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


def _unexported(sampler_class: str) -> Any:
    """A sampler not (yet) re-exported by `shoal.samplers`: the GP sampler lives in its own package."""
    if sampler_class != "GPSampler":
        return None
    try:
        from shoal.samplers._gp import GPSampler
    except ImportError:
        return None
    return GPSampler


def _register(name: str, sampler_class: str, **options: Any) -> None:
    """Register `name` if `shoal.samplers.<sampler_class>` exists in this checkout."""
    cls = getattr(shoal.samplers, sampler_class, None) or _unexported(sampler_class)
    if cls is None:
        return

    def make_sampler(seed: int) -> Any:
        return cls(seed=seed, **options)

    adapter = type(f"Shoal{sampler_class}", (_ShoalAdapter,), {"make_sampler": staticmethod(make_sampler)})
    register(name)(adapter)


_register("shoal_random", "RandomSampler")
_register("shoal_qmc", "QMCSampler")
_register("shoal_coarse_to_fine", "CoarseToFineSampler")
_register("shoal_gp", "GPSampler")


def _register_tpe() -> None:
    """`shoal_tpe`: the multivariate TPE sampler, from its own package until it is re-exported."""
    try:
        from shoal.samplers._tpe import TPESampler
    except ImportError:
        return
    adapter = type("ShoalTPESampler", (_ShoalAdapter,),
                   {"make_sampler": staticmethod(lambda seed: TPESampler(seed=seed))})
    register("shoal_tpe")(adapter)


_register_tpe()


def run_deep_learning_bench(sampler_name: str, sampler_class: Any = None) -> None:
    """Run `../bench_mixed.py` or `../bench_mnist1d.py` (named by argv[1], the rest its flags)
    with `sampler_class(seed=...)` (default GPSampler) called `sampler_name`: for plugins that
    patch the GP's module, run as scripts."""
    import importlib
    import sys
    from pathlib import Path

    from shoal.samplers._gp import GPSampler

    make = sampler_class or GPSampler
    bench = sys.argv.pop(1)
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    import bench_mixed

    base = bench_mixed.shoal_samplers
    bench_mixed.shoal_samplers = lambda: {**base(), sampler_name: lambda seed: make(seed=seed)}
    importlib.import_module(bench).main()
