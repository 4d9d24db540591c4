"""When to stop, pause or promote a running trial."""

from shoal.schedulers._median import MedianStopping
from shoal.schedulers._protocol import Decision, NoStopping, Scheduler, Suggestion, SuggestsJobs

__all__ = ["Decision", "MedianStopping", "NoStopping", "Scheduler", "Suggestion", "SuggestsJobs"]
