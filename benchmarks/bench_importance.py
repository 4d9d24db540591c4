#!/usr/bin/env python
"""Hyperparameter importance: time and accuracy of shoal's fANOVA beside Optuna's, same run.

The trials are uniform random points of 7 parameters in [0, 1] scored by
f = a + 0.5 * b * c (d, e, f, g have no effect), whose exact functional ANOVA is known:
Var(a) = 1/12, the main effects of b and c are 1/192 each and their interaction 1/576, so the
shares of the variance are a 0.873, b 0.055, c 0.055, (b, c) 0.018 and 0 for everything else.
For each number of trials, the table gives the wall time (median of `--reps`) and the estimates of
shoal's `importances` (raw values, `ranks=False`, to compare with the exact shares; and the
default, ranks), of shoal's eta^2 `param_importances`, and of Optuna 5.0's
`FanovaImportanceEvaluator` and `PedAnovaImportanceEvaluator` (unnormalised, where Optuna allows
it; Optuna's fANOVA has no pairs). Optuna's fANOVA fits its forest on every trial, so it runs only
up to `--optuna-max` trials.

Run: .venv/bin/python benchmarks/bench_importance.py [--trials 1000 2000 10000] [--reps 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings
from collections.abc import Callable
from typing import Any

import numpy as np

from shoal.analysis import importances, param_importances
from shoal.space import Float
from shoal.trial import FrozenTrial, TrialState

NAMES = "abcdefg"
EXACT = {"a": 48 / 55, "b": 3 / 55, "c": 3 / 55, ("b", "c"): 1 / 55}  # (1/12, 1/192, 1/192, 1/576) / (11/120)


def _points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x = np.random.default_rng(seed).random((n, len(NAMES)))
    return x, x[:, 0] + 0.5 * x[:, 1] * x[:, 2]


def _shoal_trials(x: np.ndarray, y: np.ndarray) -> list[FrozenTrial]:
    dist = {name: Float(0.0, 1.0) for name in NAMES}
    return [FrozenTrial(i, i, TrialState.COMPLETE, params=dict(zip(NAMES, row.tolist(), strict=True)),
                        distributions=dist, values=(float(v),))
            for i, (row, v) in enumerate(zip(x, y, strict=True))]


def _optuna_study(x: np.ndarray, y: np.ndarray) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    dist = {name: optuna.distributions.FloatDistribution(0.0, 1.0) for name in NAMES}
    study = optuna.create_study()
    study.add_trials([optuna.trial.create_trial(params=dict(zip(NAMES, row.tolist(), strict=True)),
                                                distributions=dist, value=float(v))
                      for row, v in zip(x, y, strict=True)])
    return study


def _timed(call: Callable[[], Any], reps: int) -> tuple[float, Any]:
    times, out = [], None
    for _ in range(reps):
        start = time.perf_counter()
        out = call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), out


def _shares(shares: dict[Any, float], top: int) -> str:
    ordered = sorted(shares.items(), key=lambda kv: -kv[1])[:top]
    return ", ".join(f"{k if isinstance(k, str) else ' * '.join(k)} {v:.3f}" for k, v in ordered)


def _row(label: str, n: int, seconds: float, shares: dict[Any, float]) -> str:
    return f"| {n:,} | {label} | {seconds:.3f} | {_shares(shares, 4)} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, nargs="+", default=[1000, 2000, 10000])
    parser.add_argument("--reps", type=int, default=3, help="timed repetitions, median kept (default 3)")
    parser.add_argument("--optuna-max", type=int, default=1000,
                        help="most trials Optuna's fANOVA is run on (about 100 s at 1,000 here)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message=".*experimental feature")  # Optuna's normalize=False
    import sklearn.ensemble  # noqa: F401  (imported before timing: a first call would pay for it)
    try:
        import optuna
        from optuna.importance import FanovaImportanceEvaluator, PedAnovaImportanceEvaluator
    except ImportError:
        optuna = None
        print("Optuna is missing: .venv/bin/pip install -e '.[bench]' to compare with it.")
    print("exact: " + _shares(EXACT, len(EXACT)))
    print("\n| trials | method | seconds | largest shares |\n|---|---|---|---|")
    for n in args.trials:
        x, y = _points(n, seed=n)
        trials = _shoal_trials(x, y)
        rows = [("shoal fANOVA, values", lambda t=trials: _flat(importances(t, ranks=False))),
                ("shoal fANOVA, ranks (default)", lambda t=trials: _flat(importances(t))),
                ("shoal eta^2 (param_importances)", lambda t=trials: param_importances(t))]
        if optuna is not None:
            study = _optuna_study(x, y)
            if n <= args.optuna_max:
                rows.append(("Optuna fANOVA (64 trees, every trial)", lambda s=study: optuna.importance.
                             get_param_importances(s, evaluator=FanovaImportanceEvaluator(seed=0),
                                                   normalize=False)))
            rows.append(("Optuna PED-ANOVA (normalised)", lambda s=study: optuna.importance.
                         get_param_importances(s, evaluator=PedAnovaImportanceEvaluator())))
        for label, call in rows:
            seconds, shares = _timed(call, args.reps)
            print(_row(label, n, seconds, shares))


def _flat(imp: Any) -> dict[Any, float]:
    return {**imp.main, **imp.pairs}

if __name__ == "__main__":
    main()
