#!/usr/bin/env python
"""Framework overhead of shoal beside Optuna 5.0, measured in the same run.

1. Per-trial overhead, sequential: an objective that only suggests four typical parameters,
   random search in both frameworks, in memory and on a fresh SQLite file, through
   `study.optimize` and through an `ask()`/`tell()` loop.
2. Throughput of worker processes sharing one SQLite file: shoal `optimize(n_jobs=W)` against
   W forked processes each running `optuna.load_study(...).optimize(n_trials=TOTAL/W)`.
   Every exception is counted per framework, `database is locked` separately.

Run: .venv/bin/python benchmarks/bench_overhead.py [--quick] [--trials N] [--workers W]
     [--total T] [--sleep-ms MS] [--profile]
"""

from __future__ import annotations

import argparse
import cProfile
import datetime
import gc
import io
import logging
import math
import multiprocessing as mp
import os
import platform
import pstats
import sqlite3
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from typing import Any

import numpy as np

import shoal

try:
    import optuna
except ModuleNotFoundError:
    raise SystemExit("bench_overhead.py compares shoal with Optuna 5.0: "
                     "pip install -e '.[bench]' from shoal's root.") from None

FRAMEWORKS = ("optuna", "shoal")
TARGET_SQLITE_RATIO = 0.5  # shoal's per-trial overhead on SQLite at most half of Optuna's
TARGET_THROUGHPUT_RATIO = 2.0  # shoal's multi-process throughput at least twice Optuna's
MAX_ERRORS_PER_WORKER = 50  # a worker that keeps failing gives up instead of spinning


def objective(trial: Any) -> float:
    """What a typical training objective suggests, with no training at all."""
    lr = trial.suggest_float("lr", 1e-5, 1e-1, log=True)
    momentum = trial.suggest_float("momentum", 0.0, 0.99)
    units = trial.suggest_int("units", 16, 512)
    activation = trial.suggest_categorical("activation", ["relu", "tanh", "gelu"])
    return (math.log10(lr) + 3.0) ** 2 + (momentum - 0.9) ** 2 + units / 512 + (activation == "relu")


@dataclass(frozen=True)
class SleepyObjective:
    """`objective` followed by a short sleep, standing in for a (very) short training step."""

    sleep_s: float

    def __call__(self, trial: Any) -> float:
        value = objective(trial)
        if self.sleep_s > 0:
            time.sleep(self.sleep_s)
        return value


# Studies and storages ---------------------------------------------------------------------------
@contextmanager
def fresh_url(kind: str) -> Iterator[str | None]:
    """None for in-memory storage, else the URL of a SQLite file in a new temporary folder."""
    if kind == "memory":
        yield None
        return
    with tempfile.TemporaryDirectory(prefix="shoal-bench-") as folder:
        yield f"sqlite:///{os.path.join(folder, 'bench.db')}"


def make_storage(framework: str, url: str | None) -> Any:
    if framework == "optuna":
        return optuna.storages.RDBStorage(url) if url else optuna.storages.InMemoryStorage()
    return shoal.storage.open_storage(url)


def close_storage(storage: Any) -> None:
    """Close SQL connections before the temporary folder goes (both frameworks keep an engine)."""
    for closer in ("close", "dispose"):
        if callable(getattr(storage, closer, None)):
            getattr(storage, closer)()
            return
    engine = getattr(storage, "engine", None) or getattr(storage, "_engine", None)
    if engine is not None:
        engine.dispose()


def create_study(framework: str, storage: Any, name: str, seed: int = 0) -> Any:
    if framework == "optuna":
        return optuna.create_study(study_name=name, storage=storage,
                                   sampler=optuna.samplers.RandomSampler(seed=seed))
    return shoal.create_study(name, storage=storage, sampler=shoal.samplers.RandomSampler(seed=seed))


# 1. Sequential per-trial overhead -----------------------------------------------------------------
@dataclass
class Overhead:
    framework: str
    storage: str
    api: str
    ms: np.ndarray

    def stats(self) -> dict[str, float]:
        return {"mean": float(self.ms.mean()), "median": float(np.median(self.ms)),
                "p95": float(np.percentile(self.ms, 95)), "last100": float(self.ms[-100:].mean()),
                "total_s": float(self.ms.sum() / 1e3)}


def time_optimize(study: Any, n_trials: int) -> np.ndarray:
    """Milliseconds per trial of study.optimize: the gaps between successive end-of-trial callbacks."""
    stamps = [time.perf_counter()]
    study.optimize(objective, n_trials=n_trials, callbacks=[lambda s, t: stamps.append(time.perf_counter())])
    return np.diff(stamps) * 1e3


def time_ask_tell(study: Any, n_trials: int) -> np.ndarray:
    """Milliseconds per trial of an ask -> objective -> tell loop."""
    ms = np.empty(n_trials)
    for i in range(n_trials):
        start = time.perf_counter()
        trial = study.ask()
        study.tell(trial, objective(trial))
        ms[i] = (time.perf_counter() - start) * 1e3
    return ms


API: dict[str, Callable[[Any, int], np.ndarray]] = {"optimize": time_optimize, "ask/tell": time_ask_tell}


def measure_overhead(framework: str, kind: str, api: str, n_trials: int) -> Overhead:
    with fresh_url(kind) as url:
        storage = make_storage(framework, url)
        study = create_study(framework, storage, f"overhead-{framework}")
        gc.collect()
        ms = API[api](study, n_trials)
        finished = sum(1 for t in study.trials if t.state.name == "COMPLETE")
        if finished != n_trials:
            raise RuntimeError(f"{framework} {kind} {api}: {finished} of {n_trials} trials complete")
        del study
        close_storage(storage)
    return Overhead(framework, kind, api, ms)


# 2. Worker processes sharing one SQLite file --------------------------------------------------------
@dataclass
class Throughput:
    framework: str
    workers: int
    total: int
    wall_s: float = 0.0
    complete: int = 0
    errors: Counter[str] = field(default_factory=Counter)
    examples: list[str] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)  # what the trial check found wrong

    @property
    def per_second(self) -> float:
        return self.complete / self.wall_s if self.wall_s > 0 else float("nan")


def classify(err: BaseException) -> str:
    text = f"{type(err).__name__}: {err}"
    return "database is locked" if "database is locked" in text else type(err).__name__


def check_trials(result: Throughput, trials: list[Any]) -> None:
    """Every number 0..TOTAL-1 exactly once, every trial COMPLETE; anything else is a problem."""
    numbers = sorted(t.number for t in trials)
    states = Counter(t.state.name for t in trials)
    result.complete = states.get("COMPLETE", 0)
    if numbers != list(range(result.total)):
        missing = sorted(set(range(result.total)) - set(numbers))
        extra = len(numbers) - len(set(numbers))
        result.problems.append(f"{len(numbers)} trials for numbers 0..{result.total - 1}: "
                               f"{len(missing)} missing, {extra} duplicated")
    if states.get("COMPLETE", 0) != len(trials):
        result.problems.append(f"states {dict(states)}")
    for t in trials:
        reason = (getattr(t, "system_attrs", {}) or {}).get("fail_reason")
        if reason:
            result.errors[classify(RuntimeError(reason))] += 1
            if len(result.examples) < 3:
                result.examples.append(f"trial {t.number}: {reason}")


def shoal_parallel(url: str, workers: int, total: int, sleep_s: float) -> Throughput:
    result = Throughput("shoal", workers, total)
    study = create_study("shoal", url, "parallel")
    start = time.perf_counter()
    for _attempt in range(3):  # resume after an error, so one error does not hide the throughput
        left = total - len(study.trials)
        if left <= 0:
            break
        try:
            study.optimize(SleepyObjective(sleep_s), n_trials=left, n_jobs=workers)
        except Exception as err:
            result.errors[classify(err)] += 1
            result.examples.append(f"{type(err).__name__}: {str(err)[:200]}")
    result.wall_s = time.perf_counter() - start
    check_trials(result, shoal.load_study("parallel", storage=url).trials)
    return result


def _optuna_worker(url: str, index: int, n_trials: int, sleep_s: float, out: Any) -> None:
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    errors: Counter[str] = Counter()
    examples: list[str] = []
    done = [0]

    def count(study: Any, trial: Any) -> None:
        done[0] += 1

    study = None
    while done[0] < n_trials and sum(errors.values()) < MAX_ERRORS_PER_WORKER:
        try:
            if study is None:
                study = optuna.load_study(study_name="parallel", storage=url,
                                          sampler=optuna.samplers.RandomSampler(seed=index))
            study.optimize(SleepyObjective(sleep_s), n_trials=n_trials - done[0], callbacks=[count])
        except Exception as err:
            errors[classify(err)] += 1
            if len(examples) < 3:
                examples.append(f"{type(err).__name__}: {str(err)[:200]}")
    out.put((index, dict(errors), examples))


def optuna_parallel(url: str, workers: int, total: int, sleep_s: float) -> Throughput:
    result = Throughput("optuna", workers, total)
    create_study("optuna", url, "parallel")
    ctx = mp.get_context("fork")
    out = ctx.SimpleQueue()
    shares = [total // workers + (i < total % workers) for i in range(workers)]
    procs = [ctx.Process(target=_optuna_worker, args=(url, i, shares[i], sleep_s, out))
             for i in range(workers)]
    start = time.perf_counter()
    for p in procs:
        p.start()
    for p in procs:
        p.join()
    result.wall_s = time.perf_counter() - start
    while not out.empty():
        _, errors, examples = out.get()
        result.errors.update(errors)
        result.examples.extend(examples[: 3 - len(result.examples)])
    crashed = [p.exitcode for p in procs if p.exitcode != 0]
    if crashed:
        result.errors["worker crashed"] += len(crashed)
    storage = optuna.storages.RDBStorage(url)
    trials = optuna.load_study(study_name="parallel", storage=storage).trials
    check_trials(result, trials)
    storage.engine.dispose()
    return result


PARALLEL = {"optuna": optuna_parallel, "shoal": shoal_parallel}


def measure_parallel(framework: str, workers: int, total: int, sleep_s: float) -> Throughput:
    with fresh_url("sqlite") as url:
        assert url is not None
        return PARALLEL[framework](url, workers, total, sleep_s)


# Reporting ------------------------------------------------------------------------------------------
def machine_facts() -> str:
    return "\n".join([
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, {os.cpu_count()} cores",
        f"- python {platform.python_version()}, shoal {shoal.__version__}, optuna {optuna.__version__}, "
        f"SQLAlchemy {version('sqlalchemy')}, SQLite {sqlite3.sqlite_version}, numpy {np.__version__}",
        "- load average at start (1/5/15 min): {:.2f} / {:.2f} / {:.2f}; other work on the machine "
        "slows both frameworks, and ratios suffer less than absolute times".format(*os.getloadavg()),
    ])


def overhead_tables(rows: list[Overhead], n_trials: int) -> str:
    out = [f"### Per-trial overhead, sequential, random search, {n_trials} trials (ms per trial)", "",
           "| storage | API | framework | mean | median | p95 | mean of last 100 | total s |",
           "|---|---|---|---:|---:|---:|---:|---:|"]
    for r in rows:
        s = r.stats()
        out.append(f"| {r.storage} | {r.api} | {r.framework} | {s['mean']:.3f} | {s['median']:.3f} | "
                   f"{s['p95']:.3f} | {s['last100']:.3f} | {s['total_s']:.2f} |")
    out += ["", "Ratio shoal / optuna (lower is better for shoal):", "",
            "| storage | API | mean | median | p95 | last 100 | target |",
            "|---|---|---:|---:|---:|---:|---|"]
    by_key = {(r.storage, r.api, r.framework): r.stats() for r in rows}
    for storage, api in dict.fromkeys((r.storage, r.api) for r in rows):
        sh, op = by_key.get((storage, api, "shoal")), by_key.get((storage, api, "optuna"))
        if sh is None or op is None:
            continue
        ratio = {k: sh[k] / op[k] for k in ("mean", "median", "p95", "last100")}
        target = "-"
        if storage == "sqlite":
            met = ratio["mean"] <= TARGET_SQLITE_RATIO
            target = f"mean ≤ {TARGET_SQLITE_RATIO}: {'met' if met else '**MISSED**'}"
        out.append(f"| {storage} | {api} | {ratio['mean']:.2f} | {ratio['median']:.2f} | "
                   f"{ratio['p95']:.2f} | {ratio['last100']:.2f} | {target} |")
    return "\n".join(out)


def throughput_table(rows: list[Throughput], sleep_ms: float) -> str:
    out = [f"### {rows[0].workers} processes sharing one SQLite file, {rows[0].total} trials, "
           f"objective sleeps {sleep_ms:g} ms", "",
           "| framework | wall s | trials/s | complete | lock errors | other errors | trial check |",
           "|---|---:|---:|---:|---:|---:|---|"]
    for r in rows:
        locks = r.errors.get("database is locked", 0)
        other = sum(r.errors.values()) - locks
        check = "ok: 0..N-1 all COMPLETE" if not r.problems else "; ".join(r.problems)
        out.append(f"| {r.framework} | {r.wall_s:.2f} | {r.per_second:.1f} | {r.complete} | {locks} | "
                   f"{other} | {check} |")
    by_name = {r.framework: r for r in rows}
    if {"shoal", "optuna"} <= set(by_name):
        sh, op = by_name["shoal"], by_name["optuna"]
        ratio = sh.per_second / op.per_second
        met = ratio >= TARGET_THROUGHPUT_RATIO and not sh.errors and not sh.problems
        out += ["", f"Throughput ratio shoal / optuna: {ratio:.2f} (target ≥ {TARGET_THROUGHPUT_RATIO:g} "
                f"with zero errors: {'met' if met else '**MISSED**'})"]
    for r in rows:
        if r.errors:
            out.append(f"- {r.framework} errors: {dict(r.errors)}")
        for example in r.examples:
            out.append(f"  - e.g. `{example}`")
    return "\n".join(out)


def sql_available() -> str | None:
    """None if shoal opens a SQLite URL, else why not."""
    with fresh_url("sqlite") as url:
        try:
            storage = make_storage("shoal", url)
            create_study("shoal", storage, "probe").optimize(objective, n_trials=2)
            close_storage(storage)
        except Exception as err:
            return f"{type(err).__name__}: {err}"
    return None


def profile_shoal(n_trials: int) -> str:
    """cProfile of shoal's sequential optimize on SQLite: the 15 most expensive calls, cumulative."""
    with fresh_url("sqlite") as url:
        storage = make_storage("shoal", url)
        study = create_study("shoal", storage, "profile")
        profiler = cProfile.Profile()
        profiler.enable()
        study.optimize(objective, n_trials=n_trials)
        profiler.disable()
        close_storage(storage)
    text = io.StringIO()
    pstats.Stats(profiler, stream=text).strip_dirs().sort_stats("cumulative").print_stats(15)
    return text.getvalue()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--trials", type=int, default=1000, help="trials per sequential measurement")
    ap.add_argument("--workers", type=int, default=8, help="worker processes sharing one SQLite file")
    ap.add_argument("--total", type=int, default=800, help="trials of the multi-process run")
    ap.add_argument("--sleep-ms", type=float, default=1.0, help="sleep in the multi-process objective")
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--skip-parallel", action="store_true", help="only the sequential measurements")
    ap.add_argument("--profile", action="store_true", help="print a cProfile of shoal on SQLite")
    args = ap.parse_args()
    if args.quick:
        args.trials, args.total = min(args.trials, 120), min(args.total, 80)

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    logging.getLogger("shoal").setLevel(logging.ERROR)
    print("## shoal vs Optuna: framework overhead\n")
    print(machine_facts())
    print(f"- targets: per-trial overhead on SQLite ≤ {TARGET_SQLITE_RATIO:g} of Optuna's; "
          f"{args.workers}-process throughput ≥ {TARGET_THROUGHPUT_RATIO:g} times Optuna's "
          "with zero lock errors\n", flush=True)

    no_sql = sql_available()
    kinds = ["memory"] if no_sql else ["memory", "sqlite"]
    if no_sql:
        print(f"**shoal cannot open SQLite storage yet, SQLite parts skipped**: {no_sql}\n")
    rows = [measure_overhead(fw, kind, api, args.trials)
            for kind in kinds for api in API for fw in FRAMEWORKS]
    print(overhead_tables(rows, args.trials) + "\n", flush=True)

    if not no_sql and not args.skip_parallel:
        sleep_s = args.sleep_ms / 1e3
        par = [measure_parallel(fw, args.workers, args.total, sleep_s) for fw in FRAMEWORKS]
        print(throughput_table(par, args.sleep_ms) + "\n", flush=True)
    if args.profile and not no_sql:
        print(f"### cProfile: shoal optimize on SQLite, {args.trials} trials\n\n```")
        print(profile_shoal(args.trials) + "```")


if __name__ == "__main__":
    main()
