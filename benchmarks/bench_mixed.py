#!/usr/bin/env python
"""Samplers on a mixed deep-learning-like space: a cheap synthetic objective with a known optimum.

The space has what training spaces have: a log-scaled learning rate, momentum and Adam's beta2 on
the 1-beta scale, an int `layers`, a log-int `units`, a power-of-two batch size, a categorical
`optimizer` whose children are conditional, a categorical `activation`, a linear dropout. The
objective imitates how these interact (the best learning rate moves with the optimizer, the
momentum and the batch size; above it training diverges to a plateau; deep sigmoid nets suffer;
the best dropout grows with the width) and is 0 at its optimum, so the value is the regret.

shoal's samplers run on a shoal Study with the declared space (ask/tell, in memory); Optuna's run
on a define-by-run objective over the same space, built from the same dict by `optuna_params`
(one_minus_log -> suggest 1-x with log=True and convert back; power_of_two -> an int exponent;
conditionals -> if-branches on the parents already suggested).

Run: .venv/bin/python benchmarks/bench_mixed.py [--quick] [--seeds N] [--trials N] [--jobs J]
     [--samplers NAME ...]
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import logging
import math
import multiprocessing as mp
import os
import platform
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

import shoal
from shoal.space import Space

try:
    import optuna
except ModuleNotFoundError:
    raise SystemExit("bench_mixed.py runs Optuna 5.0 beside shoal: "
                     "pip install -e '.[bench]' from shoal's root.") from None

CHECKPOINTS = (25, 50, 100)
REGRET_FLOOR = 1e-8  # log10 of a regret below this is reported as -8

MIXED_SPACE: dict[str, Any] = {
    "optimizer": {"type": "categorical", "choices": ["sgd", "adam", "rmsprop"]},
    "lr": {"type": "float", "low": 1.0e-5, "high": 1.0, "scale": "log"},
    "momentum": {"type": "float", "low": 0.5, "high": 0.999, "scale": "one_minus_log",
                 "when": {"optimizer": ["sgd"]}},
    "beta2": {"type": "float", "low": 0.9, "high": 0.9999, "scale": "one_minus_log",
              "when": {"optimizer": ["adam"]}},
    "rms_decay": {"type": "float", "low": 0.5, "high": 0.99, "when": {"optimizer": ["rmsprop"]}},
    "layers": {"type": "int", "low": 1, "high": 8},
    "units": {"type": "int", "low": 16, "high": 1024, "log": True},
    "batch_size": {"type": "int", "low": 16, "high": 1024, "power_of_two": True},
    "activation": {"type": "categorical", "choices": ["relu", "tanh", "gelu", "sigmoid"]},
    "dropout": {"type": "float", "low": 0.0, "high": 0.7},
}
OPTIMUM: dict[str, Any] = {"optimizer": "adam", "lr": 10 ** -3.15, "beta2": 0.999, "layers": 3,
                           "units": 256, "batch_size": 64, "activation": "gelu", "dropout": 0.1}

_LR_BASE = {"sgd": 0.3, "adam": -3.0, "rmsprop": -3.3}  # best log10 of the effective lr at batch 128
_OPT_OFFSET = {"sgd": 0.02, "adam": 0.0, "rmsprop": 0.1}
_ACT_OFFSET = {"gelu": 0.0, "relu": 0.05, "tanh": 0.3, "sigmoid": 0.6}


def mixed_objective(p: Mapping[str, Any]) -> float:
    """Regret of a configuration: >= 0, and 0 exactly at OPTIMUM."""
    log2_bs = math.log2(p["batch_size"])
    x = math.log10(p["lr"])
    if p["optimizer"] == "sgd":  # SGD's effective step is lr / (1 - momentum)
        m = -math.log10(1.0 - p["momentum"])
        x += m
        extra = 0.3 * ((m - 1.3) / 1.0) ** 2
    elif p["optimizer"] == "adam":
        extra = 0.2 * (-math.log10(1.0 - p["beta2"]) - 3.0) ** 2
    else:
        extra = 2.0 * (p["rms_decay"] - 0.9) ** 2
    x_opt = _LR_BASE[p["optimizer"]] + 0.15 * (log2_bs - 7)
    lr_term = ((x - x_opt) / 0.6) ** 2 + (5.0 if x > x_opt + 1.0 else 0.0)  # diverged above
    log2_units = math.log2(p["units"])
    capacity = 0.3 * ((p["layers"] - 3) / 2) ** 2 + 0.5 * ((log2_units - 8) / 2) ** 2
    dropout_opt = min(max(0.1 + 0.08 * (log2_units - 8), 0.0), 0.7)
    dropout = 2.0 * (p["dropout"] - dropout_opt) ** 2
    activation = _ACT_OFFSET[p["activation"]] + (0.1 * p["layers"] if p["activation"] == "sigmoid" else 0.0)
    batch = 0.02 * (log2_bs - 6) ** 2
    return lr_term + extra + capacity + dropout + activation + batch + _OPT_OFFSET[p["optimizer"]]


# The same space for Optuna --------------------------------------------------------------------------
def optuna_params(trial: Any, space: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """Suggest every active parameter of a shoal space dict (`Space.to_dict()`) on an Optuna trial.

    Mapping: log float -> suggest_float(log=True); one_minus_log float on [a, b] -> 1 - x with x
    from suggest_float("one_minus_<name>", 1-b, 1-a, log=True); log int -> suggest_int(log=True);
    power_of_two int on [a, b] -> 2**e with e from suggest_int("log2_<name>", log2 a, log2 b);
    categorical -> suggest_categorical; `when` -> suggested only if its parents hold those values.
    """
    out: dict[str, Any] = {}
    for name, spec in space.items():
        when = spec.get("when") or {}
        if all(parent in out and out[parent] in values for parent, values in when.items()):
            out[name] = _suggest_one(trial, name, spec)
    return out


def _suggest_one(trial: Any, name: str, spec: Mapping[str, Any]) -> Any:
    kind = spec["type"]
    if kind == "categorical":
        return trial.suggest_categorical(name, list(spec["choices"]))
    low, high = spec["low"], spec["high"]
    if kind == "float":
        scale = spec.get("scale", "linear")
        if scale == "one_minus_log":
            return 1.0 - trial.suggest_float(f"one_minus_{name}", 1.0 - high, 1.0 - low, log=True)
        return trial.suggest_float(name, low, high, log=scale == "log")
    if spec.get("power_of_two"):
        return 1 << trial.suggest_int(f"log2_{name}", int(math.log2(low)), int(math.log2(high)))
    return trial.suggest_int(name, low, high, log=bool(spec.get("log")))


# Samplers -------------------------------------------------------------------------------------------
def shoal_samplers() -> dict[str, Callable[[int], Any]]:
    s = shoal.samplers
    makers: dict[str, Callable[[int], Any]] = {"shoal_gp": lambda seed: s.GPSampler(seed=seed)}
    if hasattr(s, "TPESampler"):
        makers["shoal_tpe"] = lambda seed: s.TPESampler(seed=seed)
    makers.update({"shoal_random": lambda seed: s.RandomSampler(seed=seed),
                   "shoal_qmc": lambda seed: s.QMCSampler(seed=seed),
                   "shoal_coarse_to_fine": lambda seed: s.CoarseToFineSampler(seed=seed)})
    return makers


OPTUNA_SAMPLERS: dict[str, Callable[[int], Any]] = {
    "optuna_tpe": lambda seed: optuna.samplers.TPESampler(seed=seed),
    "optuna_gp": lambda seed: optuna.samplers.GPSampler(seed=seed, warn_independent_sampling=False),
    "optuna_random": lambda seed: optuna.samplers.RandomSampler(seed=seed),
}


def all_samplers() -> list[str]:
    return [*shoal_samplers(), *OPTUNA_SAMPLERS]


def quiet() -> None:
    """Warnings only, and one torch thread where torch is installed (Optuna's GPSampler uses it)."""
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("shoal").setLevel(logging.ERROR)
    try:
        import torch
    except ImportError:
        return
    torch.set_num_threads(1)


def run_shoal(name: str, seed: int, n_trials: int, space: Mapping[str, Any], direction: str,
              fn: Callable[[dict[str, Any]], float]) -> tuple[list[float], float]:
    """(values in trial order, seconds spent in ask/tell) of one shoal sampler on `fn`."""
    study = shoal.create_study(space=Space.from_dict(space), direction=direction,
                               sampler=shoal_samplers()[name](seed))
    values, overhead = [], 0.0
    for _ in range(n_trials):
        start = time.perf_counter()
        trial = study.ask()
        overhead += time.perf_counter() - start
        value = fn(dict(trial.params))
        start = time.perf_counter()
        study.tell(trial, value)
        overhead += time.perf_counter() - start
        values.append(value)
    return values, overhead


def run_optuna(name: str, seed: int, n_trials: int, space: Mapping[str, Any], direction: str,
               fn: Callable[[dict[str, Any]], float]) -> tuple[list[float], float]:
    """(values in trial order, seconds spent outside `fn`) of one Optuna sampler on `fn`."""
    study = optuna.create_study(direction=direction, sampler=OPTUNA_SAMPLERS[name](seed))
    values: list[float] = []
    inside = [0.0]

    def objective(trial: Any) -> float:
        params = optuna_params(trial, space)
        start = time.perf_counter()
        values.append(fn(params))
        inside[0] += time.perf_counter() - start
        return values[-1]

    start = time.perf_counter()
    study.optimize(objective, n_trials=n_trials)
    return values, time.perf_counter() - start - inside[0]


def run_sampler(name: str, seed: int, n_trials: int, space: Mapping[str, Any], direction: str,
                fn: Callable[[dict[str, Any]], float]) -> tuple[list[float], float]:
    runner = run_optuna if name in OPTUNA_SAMPLERS else run_shoal
    return runner(name, seed, n_trials, space, direction, fn)


# This benchmark -------------------------------------------------------------------------------------
@dataclass
class Run:
    sampler: str
    seed: int
    regrets: list[float]  # best-so-far regret after each trial
    overhead_s: float


def one_run(job: tuple[str, int, int]) -> Run:
    quiet()
    name, seed, n_trials = job
    values, overhead = run_sampler(name, seed, n_trials, MIXED_SPACE, "minimize", mixed_objective)
    return Run(name, seed, np.minimum.accumulate(values).tolist(), overhead)


def log_regret(run: Run, at: int) -> float:
    return math.log10(max(run.regrets[min(at, len(run.regrets)) - 1], REGRET_FLOOR))


def mean_ranks(runs: list[Run], names: list[str], at: int) -> dict[str, float]:
    """Rank of each sampler among all on each seed by best regret after `at` trials (ties share)."""
    ranks: dict[str, list[float]] = {n: [] for n in names}
    for seed in sorted({r.seed for r in runs}):
        scores = {r.sampler: log_regret(r, at) for r in runs if r.seed == seed}
        for n, score in scores.items():
            below = sum(s < score for s in scores.values())
            ties = sum(s == score for s in scores.values())
            ranks[n].append(below + (ties + 1) / 2)
    return {n: float(np.mean(v)) for n, v in ranks.items() if v}


def table(runs: list[Run], names: list[str], n_trials: int) -> str:
    """Mean ± std log10 regret at the checkpoints; ranks among the samplers run on every seed
    (a sampler run on fewer seeds gets no rank and comes last)."""
    points = [c for c in CHECKPOINTS if c <= n_trials] or [n_trials]
    seeds = {n: {r.seed for r in runs if r.sampler == n} for n in names}
    most = max(len(v) for v in seeds.values())
    full = [n for n in names if len(seeds[n]) == most]
    ranks = mean_ranks([r for r in runs if r.sampler in full], full, points[-1])
    head = " | ".join(f"log10 regret @{c}" for c in points)
    out = [f"| sampler | seeds | {head} | mean rank @{points[-1]} | sampler s/run |",
           "|---|" + "---:|" * (len(points) + 3)]
    rows = []
    for n in names:
        mine = [r for r in runs if r.sampler == n]
        cells = [f"{np.mean([log_regret(r, c) for r in mine]):.2f} ± "
                 f"{np.std([log_regret(r, c) for r in mine]):.2f}"
                 if all(len(r.regrets) >= c for r in mine) else "-" for c in points]
        rank = ranks.get(n, math.inf)
        rows.append((rank, f"| {n} | {len(mine)} | {' | '.join(cells)} | "
                           f"{'-' if math.isinf(rank) else f'{rank:.2f}'} | "
                           f"{np.mean([r.overhead_s for r in mine]):.2f} |"))
    return "\n".join(out + [row for _, row in sorted(rows)])


def read_runs(paths: list[str]) -> list[Run]:
    """Every run recorded in `paths` (JSON lines, plain or gzip-compressed `.gz`)."""
    runs = []
    for path in paths:
        with gzip.open(path, "rt") if path.endswith(".gz") else open(path) as f:
            runs += [Run(**json.loads(line)) for line in f if line.strip()]
    return runs


def machine_facts() -> str:
    return "\n".join([
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, {os.cpu_count()} cores; load average at start (1/5/15 min): "
        "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg()),
        f"- python {platform.python_version()}, shoal {shoal.__version__}, optuna {optuna.__version__}, "
        f"numpy {np.__version__}",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10)
    ap.add_argument("--trials", type=int, default=100)
    ap.add_argument("--jobs", type=int, default=1, help="worker processes (runs are independent)")
    ap.add_argument("--samplers", nargs="*", default=None, help=f"subset of {all_samplers()}")
    ap.add_argument("--quick", action="store_true", help="3 seeds x 30 trials")
    ap.add_argument("--out", default=None, help="write every run as JSON lines here")
    ap.add_argument("--report", nargs="*", default=None,
                    help="only print the table of earlier --out files, merged")
    args = ap.parse_args()
    if args.report:
        runs = read_runs(args.report)
        names = list(dict.fromkeys(r.sampler for r in runs))
        print(table(runs, names, max(len(r.regrets) for r in runs)))
        return
    if args.quick:
        args.seeds, args.trials = min(args.seeds, 3), min(args.trials, 30)
    quiet()
    names = args.samplers or all_samplers()
    assert mixed_objective(OPTIMUM) < 1e-12
    print(f"## Mixed space, synthetic objective: {args.trials} trials, {args.seeds} seeds\n")
    print(machine_facts())
    print(f"- samplers: {', '.join(names)}; "
          f"shoal TPESampler present: {hasattr(shoal.samplers, 'TPESampler')}")
    print(f"- space: {json.dumps(MIXED_SPACE)}\n- optimum (regret 0): {OPTIMUM}\n", flush=True)
    jobs = [(n, s, args.trials) for s in range(args.seeds) for n in names]
    start = time.perf_counter()
    with mp.get_context("fork").Pool(args.jobs) as pool:
        runs = pool.map(one_run, jobs, chunksize=1)
    if args.out:
        with open(args.out, "w") as f:
            f.writelines(json.dumps(r.__dict__) + "\n" for r in runs)
    print(f"Mean ± std over seeds of log10 best regret (floor {REGRET_FLOOR:g}); rank 1 is best; "
          f"sampler s/run = time outside the objective. Wall {time.perf_counter() - start:.0f} s.\n")
    print(table(runs, names, args.trials))


if __name__ == "__main__":
    main()
