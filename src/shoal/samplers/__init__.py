"""Which configuration next: stateless samplers that read the past only through `History`."""

from shoal.samplers._auto import AutoSampler
from shoal.samplers._coarse_to_fine import CoarseToFineSampler
from shoal.samplers._gp import GPSampler
from shoal.samplers._grid import GridSampler
from shoal.samplers._protocol import DescribesTrials, History, Sampler, sampler_rng
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
    "QMCSampler",
    "RandomSampler",
    "Sampler",
    "TPESampler",
    "sampler_rng",
]
