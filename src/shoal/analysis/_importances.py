"""Hyperparameter importance with interactions: the contract the plots, dashboard and reports read.

CONTRACT (issue 18): the function below is replaced by an fANOVA-style estimate (see the brief);
its signature and the `Importances` record stay.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from shoal.analysis._eta import param_importances
from shoal.trial import FrozenTrial

__all__ = ["Importances", "importances"]


@dataclass(frozen=True)
class Importances:
    """How much of the variation of one objective each parameter, and each pair, explains.

    Attributes:
        main: Parameter name -> share of the variance explained by it alone, in [0, 1], sorted
            from most to least important.
        pairs: (name, name) -> share explained by the interaction of the two beyond their main
            effects, in [0, 1], sorted from most to least important (names in space order).
        n_trials: How many trials the estimate used.
        method: A short human-readable name of the estimator (shown under the plot).
    """

    main: dict[str, float]
    pairs: dict[tuple[str, str], float] = field(default_factory=dict)
    n_trials: int = 0
    method: str = ""


def importances(trials: Sequence[FrozenTrial], *, objective: int | None = None,
                seed: int = 0) -> Importances:
    """Importance of each parameter (and pair) for one objective of finished trials."""
    main = param_importances(trials, objective=objective)
    return Importances(main=main, pairs={}, n_trials=len(trials), method="correlation ratio")
