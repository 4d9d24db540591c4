"""Conformance suites for every extension point (samplers, schedulers, storages, executors).

Subclass one in a test file and name the factory; shoal's own classes are all run through them
by `tests/test_common.py`. Importing this package needs pytest.
"""

from shoal.testing._executor_suite import ExecutorSuite
from shoal.testing._sampler_suite import SamplerSuite
from shoal.testing._scheduler_suite import SchedulerSuite
from shoal.testing._storage_suite import StorageSuite

__all__ = [
    "ExecutorSuite",
    "SamplerSuite",
    "SchedulerSuite",
    "StorageSuite",
]
