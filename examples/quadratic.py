"""A small objective for `shoal tune examples/tune_quadratic.yaml`.

It stands in for a training run: a loss curve that settles, over `steps` reports, at a value
that depends on every parameter (best near x=1, lr=0.01, activation=relu). With a declared
space (the config's `space:`), the trial's values are already in `trial.params`.
"""

from __future__ import annotations

import math

import shoal


def objective(trial: shoal.Trial) -> float:
    """The final 'loss' of a pretend training run; reports each step so a scheduler can prune."""
    params = trial.params
    loss = (params["x"] - 1.0) ** 2 + (math.log10(params["lr"]) + 2.0) ** 2
    if params["activation"] != "relu":
        loss += 0.5
    for step in range(params["steps"]):
        trial.report(loss * (1.0 + 2.0 / (step + 1)), step=step)  # falls towards `loss`
        if trial.should_prune():
            raise shoal.TrialPruned()
    return loss
