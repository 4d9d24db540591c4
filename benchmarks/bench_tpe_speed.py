#!/usr/bin/env python
"""Time per TPE suggestion at trial N: shoal's TPESampler beside Optuna's TPESampler, same run.

Both studies are in memory and hold the same N complete trials of a sphere function over d
`Float(-5, 5)` parameters (drawn once, uniformly, with a fixed seed). What is timed is one
`study.ask()` that returns a trial with all d parameters, then telling it `FAILED` so the study
stays at N finished trials (the tell is not timed):
- shoal: `Study.ask()` on a declared space, which runs `TPESampler.suggest` on the history;
- Optuna: `study.ask(distributions)` with the d `FloatDistribution`s (define-and-run), which runs
  its multivariate TPE (`TPESampler(seed=0)`, Optuna 5's defaults) on the same trials.
Also timed: shoal's `TPESampler.suggest` alone, on a prebuilt `History` (one sampler object,
so it keeps its encodings of the finished trials between calls, as in a study). Suggestions alternate
shoal, Optuna, shoal-sampler-alone, ... after 3 untimed warm-up rounds; the table gives medians of
wall and CPU time. BLAS is limited to one thread (as the BBOB harness does).

The last row does the same on bench_mixed's deep-learning-like space (conditional parameters,
integers, categoricals; Optuna through the same define-by-run mapping as bench_mixed), both
studies holding the same n trials drawn by Optuna's random sampler.

Run: .venv/bin/python benchmarks/bench_tpe_speed.py [--trials 1000] [--dims 2 5 10 20] [--reps 60]
     [--no-mixed]
"""

from __future__ import annotations

import os

os.environ.setdefault("OMP_NUM_THREADS", "1")

import argparse
import datetime
import platform
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

import shoal
from shoal import TrialState
from shoal.samplers import History, TPESampler, sampler_rng
from shoal.space import Float, Space
from shoal.trial import FrozenTrial

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_mixed import MIXED_SPACE, mixed_objective, optuna_params

try:
    import optuna
except ModuleNotFoundError:
    raise SystemExit("bench_tpe_speed.py times Optuna 5.0's TPE beside shoal's: "
                     "pip install -e '.[bench]' from shoal's root.") from None


def sphere(x: dict[str, float]) -> float:
    return float(sum(v * v for v in x.values()))


def configurations(d: int, n: int) -> list[dict[str, float]]:
    rng = np.random.default_rng(12345)
    return [{f"x{i}": float(v) for i, v in enumerate(row)} for row in rng.uniform(-5.0, 5.0, (n, d))]


def shoal_study(space: Space, configs: list[dict[str, float]]) -> shoal.Study:
    study = shoal.create_study(space=space, sampler=TPESampler(seed=0))
    for config in configs:
        study.enqueue(config)
        study.tell(study.ask(), sphere(config))
    return study


def optuna_study(d: int, configs: list[dict[str, float]]) -> tuple[optuna.Study, dict[str, object]]:
    dists = {f"x{i}": optuna.distributions.FloatDistribution(-5.0, 5.0) for i in range(d)}
    study = optuna.create_study(sampler=optuna.samplers.TPESampler(seed=0))
    study.add_trials([optuna.trial.create_trial(params=c, distributions=dists, value=sphere(c))
                      for c in configs])
    return study, dists  # type: ignore[return-value]


def timed(action: Callable[[], None]) -> tuple[float, float]:
    w0, c0 = time.perf_counter(), time.process_time()
    action()
    return (time.perf_counter() - w0) * 1e3, (time.process_time() - c0) * 1e3


def measure(d: int, n: int, reps: int) -> dict[str, tuple[float, float]]:
    configs = configurations(d, n)
    space = Space({f"x{i}": Float(-5.0, 5.0) for i in range(d)})
    s_study = shoal_study(space, configs)
    o_study, dists = optuna_study(d, configs)
    # Stamped with a completion time, as storage returns finished trials.
    frozen = [FrozenTrial(i, i, TrialState.COMPLETE, params=c, values=(sphere(c),),
                          datetime_complete=float(i)) for i, c in enumerate(configs)]
    history = History([*frozen, FrozenTrial(n, n, TrialState.RUNNING)], n)

    def optuna_ask() -> None:
        trial = o_study.ask(dists)  # type: ignore[arg-type]
        assert len(trial.params) == d
        o_study.tell(trial, state=optuna.trial.TrialState.FAIL)

    return interleave(space, s_study, optuna_ask, history, reps)


def measure_mixed(n: int, reps: int) -> dict[str, tuple[float, float]]:
    """The same on bench_mixed's deep-learning-like space (10 parameters, 3 of them conditional,
    3 integers, 2 categoricals): n trials drawn by Optuna's random sampler, given to both."""
    o_study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    configs: list[dict[str, Any]] = []

    def objective(trial: optuna.Trial) -> float:
        configs.append(optuna_params(trial, MIXED_SPACE))
        return mixed_objective(configs[-1])

    o_study.optimize(objective, n_trials=n)
    o_study.sampler = optuna.samplers.TPESampler(seed=0)
    space = Space.from_dict(MIXED_SPACE)
    s_study = shoal.create_study(space=space, sampler=TPESampler(seed=0))
    for config in configs:
        s_study.enqueue(config)
        s_study.tell(s_study.ask(), mixed_objective(config))
    history = History([*s_study.trials, FrozenTrial(n, n, TrialState.RUNNING)], n)

    def optuna_ask() -> None:
        trial = o_study.ask()
        optuna_params(trial, MIXED_SPACE)  # define-by-run: Optuna samples here
        o_study.tell(trial, state=optuna.trial.TrialState.FAIL)

    return interleave(space, s_study, optuna_ask, history, reps)


def interleave(space: Space, s_study: shoal.Study, optuna_ask: Callable[[], None], history: History,
               reps: int) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) ms of each action, alternating them after 3 untimed warm-up rounds."""
    sampler = TPESampler(seed=0)
    n = history.number

    def shoal_ask() -> None:
        trial = s_study.ask()
        s_study.tell(trial, state=TrialState.FAILED)  # keeps the study at n usable trials

    def shoal_alone() -> None:
        sampler.suggest(space, history, sampler_rng(0, n))

    actions = {"shoal Study.ask (TPESampler)": shoal_ask, "optuna study.ask (TPESampler)": optuna_ask,
               "shoal TPESampler.suggest alone": shoal_alone}
    samples: dict[str, list[tuple[float, float]]] = {k: [] for k in actions}
    for rep in range(reps + 3):
        for name, action in actions.items():
            wall_cpu = timed(action)
            if rep >= 3:
                samples[name].append(wall_cpu)
    return {k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
            for k, v in samples.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--dims", type=int, nargs="+", default=[2, 5, 10, 20])
    ap.add_argument("--reps", type=int, default=60)
    ap.add_argument("--no-mixed", action="store_true", help="skip the mixed-space row")
    args = ap.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    print(f"## TPE: time per suggestion at trial {args.trials}\n")
    print(f"- date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}")
    print(f"- machine: {platform.platform()}, {os.cpu_count()} cores; load average at start: "
          f"{' / '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"- python {platform.python_version()}, shoal {shoal.__version__}, optuna {optuna.__version__}, "
          f"numpy {np.__version__}; {args.reps} interleaved suggestions per cell after 3 warm-ups\n")
    print("| d | shoal Study.ask ms (wall / CPU) | Optuna study.ask ms (wall / CPU) | shoal / Optuna (CPU) "
          "| shoal sampler alone ms (wall / CPU) | target: shoal ≤ 5 ms |")
    print("|---:|---:|---:|---:|---:|---|")
    rows: list[int | None] = [*args.dims, *([] if args.no_mixed else [None])]  # None: mixed
    for d in rows:
        r = measure(d, args.trials, args.reps) if d else measure_mixed(args.trials, args.reps)
        (sw, sc), (ow, oc), (aw, ac) = r.values()
        label = str(d) if d else "mixed (10)"
        print(f"| {label} | {sw:.2f} / {sc:.2f} | {ow:.2f} / {oc:.2f} | {sc / oc:.2f} "
              f"| {aw:.2f} / {ac:.2f} | {'met' if sc <= 5.0 else 'missed'} (CPU) |", flush=True)
    print(f"\n- load average at the end: {' / '.join(f'{x:.2f}' for x in os.getloadavg())}")


if __name__ == "__main__":
    main()
