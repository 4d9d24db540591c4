"""Conformance suites that every storage (and sampler) must pass, for shoal and its plugins.

Importing this package needs pytest.
"""

from shoal.testing._sampler_suite import SamplerSuite
from shoal.testing._storage_suite import StorageSuite

__all__ = [
    "SamplerSuite",
    "StorageSuite",
]
