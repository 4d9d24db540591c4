"""When to stop, pause or promote a running trial."""

from shoal.schedulers._asha import ASHA
from shoal.schedulers._halving import SuccessiveHalving
from shoal.schedulers._hyperband import Hyperband
from shoal.schedulers._median import MedianStopping
from shoal.schedulers._percentile import PercentileStopping
from shoal.schedulers._protocol import Decision, NoStopping, Scheduler, Suggestion, SuggestsJobs

__all__ = ["ASHA", "Decision", "Hyperband", "MedianStopping", "NoStopping",
           "PercentileStopping", "Scheduler", "SuccessiveHalving", "Suggestion", "SuggestsJobs"]
