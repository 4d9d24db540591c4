"""Which configuration next: stateless samplers that read the past only through `History`.

The samplers load on first use (PEP 562), so `import shoal` does not pay for numpy and scipy.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from shoal.samplers._protocol import DescribesTrials, History, MultiObjective, Sampler, sampler_rng

if TYPE_CHECKING:
    from shoal.samplers._auto import AutoSampler
    from shoal.samplers._coarse_to_fine import CoarseToFineSampler
    from shoal.samplers._gp import GPSampler
    from shoal.samplers._grid import GridSampler
    from shoal.samplers._multifidelity import MultiFidelitySampler
    from shoal.samplers._qmc import QMCSampler
    from shoal.samplers._random import RandomSampler
    from shoal.samplers._tpe import TPESampler

__all__ = [
    "AutoSampler",
    "CoarseToFineSampler",
    "DescribesTrials",
    "GPSampler",
    "GridSampler",
    "History",
    "MultiFidelitySampler",
    "MultiObjective",
    "QMCSampler",
    "RandomSampler",
    "Sampler",
    "TPESampler",
    "sampler_rng",
]

_LAZY = {
    "AutoSampler": "shoal.samplers._auto",
    "CoarseToFineSampler": "shoal.samplers._coarse_to_fine",
    "GPSampler": "shoal.samplers._gp",
    "GridSampler": "shoal.samplers._grid",
    "MultiFidelitySampler": "shoal.samplers._multifidelity",
    "QMCSampler": "shoal.samplers._qmc",
    "RandomSampler": "shoal.samplers._random",
    "TPESampler": "shoal.samplers._tpe",
}

if not TYPE_CHECKING:  # hidden from type checkers, so they still flag unknown names

    def __getattr__(name: str) -> Any:
        module = _LAZY.get(name)
        if module is None:
            from shoal._optuna_names import SAMPLERS, missing

            raise missing("shoal.samplers", name, SAMPLERS)
        value = getattr(importlib.import_module(module), name)
        globals()[name] = value  # loaded once; later lookups skip this function
        return value

    def __dir__() -> list[str]:
        return sorted({*globals(), *__all__})
