"""Two objectives for `shoal tune examples/tune_tradeoff.yaml`: accuracy against training time.

It stands in for training a network whose accuracy grows with its width and depth and with a
well-chosen learning rate, while its training time grows with its size: no configuration is best
in both, so the answer is a Pareto front. Each trial also records its parameter count, which the
config constrains (`constraints: {params_m: "<= 2"}`).
"""

from __future__ import annotations

import math

import shoal


def objective(trial: shoal.Trial) -> tuple[float, float]:
    """(validation accuracy in %, training seconds) of a pretend run."""
    p = trial.params
    params_m = p["width"] ** 2 * p["layers"] / 1e6          # parameters, in millions
    capacity = 1.0 - math.exp(-params_m / 0.3)             # bigger nets fit better, then saturate
    lr_miss = (math.log10(p["lr"]) + 2.5) ** 2               # best near lr = 3e-3
    accuracy = 60.0 + 35.0 * capacity - 4.0 * lr_miss - 2.0 * p["dropout"] * (1.0 - capacity)
    seconds = 5.0 + 40.0 * params_m * (256 / p["batch_size"]) ** 0.5
    trial.set_user_attr("params_m", params_m)
    return accuracy, seconds
