"""When to stop, pause or promote a running trial."""

from shoal.schedulers._asha import ASHA
from shoal.schedulers._halving import SuccessiveHalving
from shoal.schedulers._hyperband import Hyperband
from shoal.schedulers._median import MedianStopping
from shoal.schedulers._pb2 import PB2
from shoal.schedulers._pbt import PBT
from shoal.schedulers._pbt_schedule import PBTReplay, hyperparameter_schedule
from shoal.schedulers._percentile import PercentileStopping
from shoal.schedulers._protocol import Decision, NoStopping, Scheduler, Suggestion, SuggestsJobs

__all__ = ["ASHA", "PB2", "PBT", "Decision", "Hyperband", "MedianStopping", "NoStopping",
           "PBTReplay", "PercentileStopping", "Scheduler", "SuccessiveHalving", "Suggestion",
           "SuggestsJobs", "hyperparameter_schedule"]
