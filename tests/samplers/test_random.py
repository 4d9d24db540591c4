"""RandomSampler passes the sampler conformance suite."""

from __future__ import annotations

from shoal.samplers import RandomSampler, Sampler
from shoal.testing import SamplerSuite


class TestRandomSampler(SamplerSuite):
    def make_sampler(self, seed: int | None) -> Sampler:
        return RandomSampler(seed=seed)
