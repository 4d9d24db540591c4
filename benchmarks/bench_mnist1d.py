#!/usr/bin/env python
"""Samplers on the MNIST-1D MLP task: the same objective for every sampler, several seeds.

The objective trains shoal's MLP on MNIST-1D with shoal's harness (`shoal.torch.train_model`, the
function `TaskSpec(...).objective()` calls) on the 80/20 holdout of the 4000 training sequences,
always with training seed 0 and one torch thread, and returns the best validation accuracy over
the epochs (what the task objective returns); a run whose loss diverges scores 0.1 (chance).
Results are cached by configuration, so a configuration proposed twice is trained once per process.

The space is the course's demo space (`examples/mnist1d_mlp.yaml`, all 14 parameters) with two
ranges narrowed to keep it affordable on 2 cores: units 32..256 (log) instead of 32..512, and
batch_size 64..512 (powers of two) instead of 32..512. shoal's samplers ask a shoal Study with the
declared space; Optuna's get the same space through `bench_mixed.optuna_params`
(one_minus_log -> 1 - x with x log-uniform; batch size -> 2**e with an int exponent e).

Run: .venv/bin/python benchmarks/bench_mnist1d.py [--quick] [--epochs E] [--seeds N] [--jobs J]
     [--first-seed S] [--shoal-trials N] [--optuna-trials N] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime
import gzip
import json
import math
import multiprocessing as mp
import os
import platform
import sys
import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

import shoal
from shoal.exceptions import TrialFailed
from shoal.torch import TaskSpec, train_model

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_mixed import quiet, run_sampler, shoal_samplers
from demo_task import DEMO_SPACE, DEMO_TASK

try:
    import optuna
except ModuleNotFoundError:
    raise SystemExit("bench_mnist1d.py runs Optuna 5.0 beside shoal: "
                     "pip install -e '.[bench]' from shoal's root.") from None

SPACE: dict[str, Any] = {
    **DEMO_SPACE,
    "units": {**DEMO_SPACE["units"], "high": 256},
    "batch_size": {**DEMO_SPACE["batch_size"], "low": 64},
}
CHECKPOINTS = (10, 20, 40)
TARGET_SHOAL_TRIALS, TARGET_OPTUNA_TRIALS = 20, 40
DIVERGED_SCORE = 0.1  # a configuration whose training diverges scores chance accuracy (10 classes)


# The objective ---------------------------------------------------------------------------------------
class Mnist1dObjective:
    """Best validation accuracy of the MLP for a plain dict of hyperparameters, cached."""

    def __init__(self, epochs: int) -> None:
        self.spec = TaskSpec.from_dict({**DEMO_TASK, "epochs": epochs, "threads": 1, "device": "cpu"})
        self.cache: dict[tuple[Any, ...], float] = {}
        self.trained = 0
        self.diverged = 0
        self.train_s = 0.0
        self._split: Any = None

    def split(self) -> Any:
        if self._split is None:
            [self._split] = self.spec.load().train.split(self.spec.protocol)
        return self._split

    def __call__(self, params: dict[str, Any]) -> float:
        key = tuple(sorted((k, round(v, 12) if isinstance(v, float) else v) for k, v in params.items()))
        if key not in self.cache:
            fit_data, val_data = self.split()
            start = time.perf_counter()
            try:
                _, result = train_model(self.spec, params, fit_data, val_data, trial=None,
                                        checkpoints=None, seed=self.spec.seed)
                score = result.best_metric
            except TrialFailed:  # diverged (the loss became NaN or infinite)
                score, self.diverged = None, self.diverged + 1
            self.train_s += time.perf_counter() - start
            self.trained += 1
            ok = score is not None and math.isfinite(score)
            self.cache[key] = float(score) if ok else DIVERGED_SCORE
        return self.cache[key]


_OBJECTIVE: Mnist1dObjective | None = None


def init_worker(epochs: int) -> None:
    global _OBJECTIVE
    torch.set_num_threads(1)
    quiet()
    _OBJECTIVE = Mnist1dObjective(epochs)


# Runs ------------------------------------------------------------------------------------------------
@dataclass
class Run:
    sampler: str
    seed: int
    best: list[float]  # best-so-far validation accuracy after each trial
    sampler_s: float
    wall_s: float


def one_run(job: tuple[str, int, int]) -> Run:
    assert _OBJECTIVE is not None
    name, seed, n_trials = job
    start = time.perf_counter()
    values, sampler_s = run_sampler(name, seed, n_trials, SPACE, "maximize", _OBJECTIVE)
    run = Run(name, seed, np.maximum.accumulate(values).tolist(), sampler_s, time.perf_counter() - start)
    print(f"  {name} seed {seed}: best {run.best[-1]:.4f} after {n_trials} trials, {run.wall_s:.0f} s "
          f"({_OBJECTIVE.trained} trained, {_OBJECTIVE.diverged} diverged in this worker)",
          file=sys.stderr, flush=True)
    return run


def default_samplers() -> list[str]:
    return ["optuna_tpe", "optuna_random", *(n for n in shoal_samplers() if n in ("shoal_gp", "shoal_tpe"))]


def jobs(args: argparse.Namespace) -> list[tuple[str, int, int]]:
    plan = [(n, args.optuna_trials if n.startswith("optuna") else args.shoal_trials)
            for n in args.samplers or default_samplers()]
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    return [(n, s, t) for n, t in plan for s in seeds]  # Optuna's (longest) first


def read_runs(paths: list[str]) -> list[Run]:
    """Every run recorded in `paths` (JSON lines, plain or gzip-compressed `.gz`)."""
    runs = []
    for path in paths:
        with gzip.open(path, "rt") if path.endswith(".gz") else open(path) as f:
            runs += [Run(**json.loads(line)) for line in f if line.strip()]
    return runs


# Reporting -------------------------------------------------------------------------------------------
def at(run: Run, k: int) -> float | None:
    return run.best[k - 1] if k <= len(run.best) else None


def cell(runs: list[Run], k: int) -> str:
    values = [v for v in (at(r, k) for r in runs) if v is not None]
    return f"{np.mean(values):.3f} ± {np.std(values):.3f}" if len(values) == len(runs) else "-"


def table(runs: list[Run]) -> str:
    names = list(dict.fromkeys(r.sampler for r in runs))
    out = ["| sampler | trials | seeds | best val. acc. @10 | @20 | @40 | sampler s/run | wall s/run |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for n in names:
        mine = [r for r in runs if r.sampler == n]
        out.append(f"| {n} | {len(mine[0].best)} | {len(mine)} | "
                   + " | ".join(cell(mine, k) for k in CHECKPOINTS)
                   + f" | {np.mean([r.sampler_s for r in mine]):.1f} | "
                   f"{np.mean([r.wall_s for r in mine]):.0f} |")
    return "\n".join(out)


def verdict(runs: list[Run]) -> str:
    tpe = {r.seed: at(r, TARGET_OPTUNA_TRIALS) for r in runs if r.sampler == "optuna_tpe"}
    if not tpe or None in tpe.values():
        return f"Target not evaluated: Optuna TPE did not run {TARGET_OPTUNA_TRIALS} trials."
    tpe_mean = float(np.mean(list(tpe.values())))
    lines = [f"Target: shoal's best sampler @{TARGET_SHOAL_TRIALS} ≥ Optuna TPE @{TARGET_OPTUNA_TRIALS} "
             f"(mean over seeds; Optuna TPE @{TARGET_OPTUNA_TRIALS} = {tpe_mean:.4f})."]
    for n in dict.fromkeys(r.sampler for r in runs if r.sampler.startswith("shoal")):
        mine = {r.seed: at(r, TARGET_SHOAL_TRIALS) for r in runs if r.sampler == n}
        if None in mine.values():
            continue
        mean = float(np.mean(list(mine.values())))
        wins = sum(mine[s] >= tpe[s] for s in mine if s in tpe)  # type: ignore[operator]
        met = "met" if mean >= tpe_mean else "**MISSED**"
        lines.append(f"- {n} @{TARGET_SHOAL_TRIALS}: {mean:.4f} ({mean - tpe_mean:+.4f}); "
                     f"≥ Optuna TPE @{TARGET_OPTUNA_TRIALS} on {wins} of {len(mine)} seeds: {met}")
    return "\n".join(lines)


def machine_facts(args: argparse.Namespace) -> str:
    return "\n".join([
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, {os.cpu_count()} cores; load average at start (1/5/15 min): "
        "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg()),
        f"- python {platform.python_version()}, shoal {shoal.__version__}, optuna {optuna.__version__}, "
        f"torch {torch.__version__}, one torch thread per process, {args.jobs} worker processes",
        f"- task: MLP on MNIST-1D, {args.epochs} epochs, 80/20 holdout, training seed 0; "
        f"shoal TPESampler present: {hasattr(shoal.samplers, 'TPESampler')}",
        f"- space: {json.dumps(SPACE)}",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0,
                    help="seeds are first-seed .. first-seed + seeds - 1 (to extend an earlier run)")
    ap.add_argument("--shoal-trials", type=int, default=TARGET_SHOAL_TRIALS)
    ap.add_argument("--optuna-trials", type=int, default=TARGET_OPTUNA_TRIALS)
    ap.add_argument("--jobs", type=int, default=2, help="worker processes, one torch thread each")
    ap.add_argument("--quick", action="store_true", help="2 epochs, 2 seeds, 6 and 12 trials")
    ap.add_argument("--samplers", nargs="*", default=None,
                    help="subset of optuna_tpe optuna_random shoal_gp shoal_tpe (default: all present)")
    ap.add_argument("--out", default=None, help="write every run as JSON lines here")
    ap.add_argument("--report", nargs="*", default=None,
                    help="only print the tables and the verdict of earlier --out files, merged")
    args = ap.parse_args()
    if args.report:
        runs = read_runs(args.report)
        print(table(runs) + "\n")
        print(verdict(runs))
        return
    if args.quick:
        args.epochs, args.seeds, args.shoal_trials, args.optuna_trials = 2, 2, 6, 12
    quiet()
    print(f"## Samplers on the MNIST-1D MLP: {args.epochs} epochs per trial, {args.seeds} seeds\n")
    print(machine_facts(args) + "\n", flush=True)
    start = time.perf_counter()
    with mp.get_context("fork").Pool(args.jobs, initializer=init_worker, initargs=(args.epochs,)) as pool:
        runs = pool.map(one_run, jobs(args), chunksize=1)
    if args.out:
        with open(args.out, "w") as f:
            f.writelines(json.dumps(r.__dict__) + "\n" for r in runs)
    print(f"Mean ± std over seeds of the best validation accuracy so far; sampler s/run = time outside "
          f"training. Wall {time.perf_counter() - start:.0f} s.\n")
    print(table(runs) + "\n")
    print(verdict(runs))


if __name__ == "__main__":
    main()
