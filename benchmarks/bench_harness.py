#!/usr/bin/env python
"""PyTorch harness: what shoal's training loop costs in time, and whether memory stays flat.

1. Overhead: the same MLP on MNIST-1D (3 x 256 ReLU, Adam 1e-3, batch 64, 15 epochs, 80/20
   holdout of the 4000 training sequences, one torch thread), trained three ways in this process,
   interleaved rep by rep: (a) a hand-written PyTorch loop; (b) `shoal.torch.fit` inside
   `study.optimize` on an in-memory study (reports, curves and `should_prune()` every epoch);
   (b-task) `TaskSpec(...).objective()` on a SQLite study, the parameters enqueued. Rep r seeds
   every variant with r, so (a) and (b) must reach the same accuracies.
2. Memory: consecutive trials of the MNIST-1D task objective (demo space, RandomSampler(seed=0),
   short epochs, SQLite) in ONE fresh worker process, recording RSS after every trial; then the
   same with `n_jobs=2` worker processes, each recording its own RSS. If RSS grows, control runs
   in fresh processes say where: glibc `malloc_trim(0)` after each trial; one fixed
   configuration; shoal's `train_model` without a study; the hand loop without shoal;
   tracemalloc.

Run: .venv/bin/python benchmarks/bench_harness.py [--quick] [--reps N] [--trials N]
     [--epochs E] [--memory-epochs E] [--diagnose auto|always|never] [--skip-overhead]
     [--skip-memory] [--skip-parallel]
"""

from __future__ import annotations

import argparse
import ctypes
import dataclasses
import datetime
import gc
import itertools
import json
import logging
import math
import multiprocessing as mp
import os
import platform
import resource
import statistics
import tempfile
import threading
import time
import tracemalloc
import warnings
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from importlib.metadata import version
from pathlib import Path
from typing import Any

import numpy as np
import torch
from demo_task import DEMO_SPACE, DEMO_TASK
from torch import nn
from torch.nn import functional

import shoal
from shoal.exceptions import TrialFailed
from shoal.samplers import RandomSampler, sampler_rng
from shoal.space import Space
from shoal.torch import Holdout, TaskSpec, accuracy, apply_max_norm, fit, train_model

TARGET_OVERHEAD = 0.05  # shoal's harness at most 5% slower than the hand-written loop
TARGET_SLOPE_MB = 0.05  # RSS growth per trial, least squares over the window
TARGET_GROWTH_MB = 5.0  # RSS growth from the window's first trial to the last
WINDOW_START = 20  # the slope is fitted over trials WINDOW_START..N (the first trials warm up)
TABLE_TRIALS = (1, 10, 25, 50, 75, 100)
ACTIVATIONS: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "gelu": nn.GELU}
VARIANTS = ("a: hand loop", "b: fit + trial (memory)", "b-task: TaskObjective (SQLite)")


@dataclass(frozen=True)
class MLPConfig:
    layers: int = 3
    units: int = 256
    lr: float = 1e-3
    batch_size: int = 64
    epochs: int = 15
    activation: str = "relu"

    def params(self) -> dict[str, Any]:
        """The same configuration as task hyperparameters (for the enqueued trial). init "default"
        is PyTorch's own initialisation, as in (a) and (b), so the accuracies are comparable
        (shoal's default, "he", learns a little differently)."""
        return {"layers": self.layers, "units": self.units, "activation": self.activation,
                "optimizer": "adam", "lr": self.lr, "batch_size": self.batch_size, "init": "default"}


# Shared helpers ---------------------------------------------------------------------------------
@contextmanager
def sqlite_url() -> Iterator[str]:
    with tempfile.TemporaryDirectory(prefix="shoal-harness-") as folder:
        yield f"sqlite:///{os.path.join(folder, 'bench.db')}"


def rss_mb() -> float:
    """Current resident set size of this process, from /proc/self/statm."""
    with open("/proc/self/statm") as f:
        pages = int(f.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def peak_mb() -> float:
    """ru_maxrss. Linux carries it across exec, so a spawned process starts with its parent's peak."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def hwm_mb() -> float:
    """VmHWM: the peak RSS of this process's own address space (reset by exec, set to RSS at fork)."""
    with open("/proc/self/status") as f:
        kib = next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))
    return kib / 1024


def loadavg() -> str:
    return "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg())


def median(values: list[float]) -> float:
    return statistics.median(values) if values else math.nan


def task_spec(epochs: int) -> TaskSpec:
    return TaskSpec(dataset="mnist1d", model="mlp", metric="accuracy", protocol=Holdout(fraction=0.2),
                    epochs=epochs, batch_size=64, seed=0, device="cpu", threads=1)


# 1. Overhead ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Split:
    x: torch.Tensor
    y: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor


@dataclass(frozen=True)
class Run:
    variant: str
    rep: int
    wall_s: float
    cpu_s: float
    curve: tuple[float, ...]  # validation accuracy after each epoch

    @property
    def best_acc(self) -> float:
        return max(self.curve)

    @property
    def final_acc(self) -> float:
        return self.curve[-1]


def load_split() -> Split:
    """The 80/20 stratified holdout TaskSpec uses, as tensors (the same rows for every variant)."""
    [(fit_data, val_data)] = task_spec(1).load().train.split(Holdout(fraction=0.2))
    return Split(*fit_data.to_tensors(), *val_data.to_tensors())


def make_mlp(cfg: MLPConfig, n_in: int, seed: int) -> nn.Module:
    torch.manual_seed(seed)
    widths = [n_in] + [cfg.units] * cfg.layers
    activation = ACTIVATIONS[cfg.activation]
    hidden = [m for a, b in itertools.pairwise(widths) for m in (nn.Linear(a, b), activation())]
    return nn.Sequential(*hidden, nn.Linear(widths[-1], 10))


def hand_loop(data: Split, cfg: MLPConfig, seed: int) -> list[float]:
    """(a) A practitioner's loop; returns the validation accuracy after each epoch."""
    model = make_mlp(cfg, data.x.shape[1], seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    generator = torch.Generator().manual_seed(seed)
    accuracies = []
    for _epoch in range(cfg.epochs):
        hand_epoch(model, optimizer, data, cfg.batch_size, generator)
        accuracies.append(hand_accuracy(model, data))
    return accuracies


def hand_epoch(model: nn.Module, optimizer: torch.optim.Optimizer, data: Split, batch_size: int,
               generator: torch.Generator) -> float:
    """One epoch of mini-batches sliced from a shuffled copy; returns the mean training loss."""
    model.train()
    n = data.x.shape[0]
    order = torch.randperm(n, generator=generator)
    xs, ys = data.x[order], data.y[order]
    total = 0.0
    for start in range(0, n, batch_size):
        xb, yb = xs[start:start + batch_size], ys[start:start + batch_size]
        loss = functional.cross_entropy(model(xb), yb)
        optimizer.zero_grad()
        loss.backward()  # type: ignore[no-untyped-call]
        optimizer.step()
        total += loss.item() * xb.shape[0]
    return total / n


def hand_accuracy(model: nn.Module, data: Split) -> float:
    model.eval()
    with torch.no_grad():
        correct = int((model(data.x_val).argmax(1) == data.y_val).sum())
    return correct / data.y_val.shape[0]


# `fit`'s per-epoch steps, rebuilt from shoal.torch's public API (its own helpers are private).
# `fit` validates in batches of max(batch_size, 1024) when `eval_batch_size` is not given (its docstring).
EVAL_BATCH_SIZE = 1024


def batched_accuracy(model: nn.Module, data: tuple[torch.Tensor, torch.Tensor], batch_size: int) -> float:
    """Validation as `fit` does it: eval mode, no gradients, batches, one metric over all rows."""
    was_training = model.training
    model.eval()
    x, y = data
    with torch.no_grad():
        outputs = [model(x[i:i + batch_size]) for i in range(0, x.shape[0], batch_size)]
        value = accuracy(torch.cat(outputs), y)
    model.train(was_training)
    return float(value)


def copy_weights(model: nn.Module) -> dict[str, Any]:
    """A copy of the best weights, as `fit` keeps one for epochs that improve."""
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


def fit_objective(data: Split, cfg: MLPConfig, seed: int, out: list[float]) -> Callable[[Any], float]:
    """(b) The user's own objective: their model and optimiser, shoal's `fit` with the trial."""
    def objective(trial: Any) -> float:
        model = make_mlp(cfg, data.x.shape[1], seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
        result = fit(model, optimizer, None, (data.x, data.y), (data.x_val, data.y_val),
                     loss_fn=functional.cross_entropy, metric=accuracy, metric_direction="maximize",
                     epochs=cfg.epochs, batch_size=cfg.batch_size, trial=trial,
                     generator=torch.Generator().manual_seed(seed))
        out.extend(result.history["val_metric"])
        return result.best_metric
    return objective


class HandLoop:
    """(a) Nothing to set up; `run` builds the model and trains it."""

    def __init__(self, data: Split, cfg: MLPConfig, seed: int) -> None:
        self.data, self.cfg, self.seed = data, cfg, seed
        self.result: list[float] = []

    def run(self) -> None:
        self.result = hand_loop(self.data, self.cfg, self.seed)

    def curve(self) -> list[float]:
        return self.result


class FitInStudy:
    """(b) An in-memory study, created before the clock starts; `run` is `study.optimize`."""

    def __init__(self, data: Split, cfg: MLPConfig, seed: int) -> None:
        self.out: list[float] = []
        self.study = shoal.create_study(direction="maximize")
        self.objective = fit_objective(data, cfg, seed, self.out)

    def run(self) -> None:
        self.study.optimize(self.objective, n_trials=1, catch=())

    def curve(self) -> list[float]:
        [trial] = self.study.trials
        assert trial.value == max(self.out), "the trial's value is the best epoch's accuracy"
        return self.out


class TaskInStudy:
    """(b-task) A SQLite study with the configuration enqueued, before the clock starts; `run` is
    `study.optimize(TaskSpec(...).objective(), n_trials=1)`."""

    def __init__(self, cfg: MLPConfig, seed: int, url: str,
                 wrap: Callable[[Any], None] | None = None) -> None:
        spec = dataclasses.replace(task_spec(cfg.epochs), seed=seed)
        self.study = shoal.create_study(storage=url, direction="maximize")
        if wrap is not None:
            wrap(self.study.storage)
        self.study.enqueue(cfg.params())
        self.objective = spec.objective()

    def run(self) -> None:
        self.study.optimize(self.objective, n_trials=1, catch=())

    def curve(self) -> list[float]:
        [trial] = self.study.trials
        return [trial.intermediate[step] for step in sorted(trial.intermediate)]


def timed(variant: str, rep: int, make: Callable[[], HandLoop | FitInStudy | TaskInStudy]) -> Run:
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(False)  # a practitioner's default; TaskObjective turns it on
    runner = make()
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    runner.run()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    return Run(variant, rep, wall, cpu, tuple(runner.curve()))


def one_rep(data: Split, cfg: MLPConfig, rep: int, url: str) -> list[Run]:
    seed = rep
    return [timed(VARIANTS[0], rep, lambda: HandLoop(data, cfg, seed)),
            timed(VARIANTS[1], rep, lambda: FitInStudy(data, cfg, seed)),
            timed(VARIANTS[2], rep, lambda: TaskInStudy(cfg, seed, url))]


def measure_overhead(cfg: MLPConfig, reps: int) -> list[Run]:
    """One untimed warm-up round, then `reps` rounds of a, b, b-task, in that order.

    TaskSpec caches the data set per (dataset, seed): load it for every seed first, as a study
    (one seed) does once per process, so no timed b-task run reads the file.
    """
    data = load_split()
    for rep in range(reps):
        dataclasses.replace(task_spec(cfg.epochs), seed=rep).load()
    runs: list[Run] = []
    with tempfile.TemporaryDirectory(prefix="shoal-harness-") as folder:
        one_rep(data, cfg, 0, f"sqlite:///{folder}/warmup.db")
        for rep in range(reps):
            runs += one_rep(data, cfg, rep, f"sqlite:///{folder}/rep{rep}.db")
            print(f"  rep {rep}: " + ", ".join(f"{r.wall_s:.2f} s" for r in runs[-3:])
                  + f" (load {loadavg()})", flush=True)
    return runs


class CallTimer:
    """Counts the calls of a storage's methods and the time spent in them."""

    METHODS = ("create_trial", "claim_waiting_trial", "update_trial", "get_trials", "finish_trial",
               "fail_stale_trials")

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.seconds: dict[str, float] = dict.fromkeys(self.METHODS, 0.0)

    def wrap(self, storage: Any) -> None:
        for name in self.METHODS:
            setattr(storage, name, self._timed(name, getattr(storage, name)))

    def _timed(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def call(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            try:
                return method(*args, **kwargs)
            finally:
                self.calls[name] += 1
                self.seconds[name] += time.perf_counter() - start
        return call


def storage_breakdown(cfg: MLPConfig) -> tuple[CallTimer, float]:
    """One more b-task trial (not in the table), its storage calls counted and timed."""
    timer = CallTimer()
    with sqlite_url() as url:
        torch.set_num_threads(1)
        runner = TaskInStudy(cfg, 0, url, wrap=timer.wrap)
        timer.calls.clear()  # the enqueue is set-up, not the trial
        timer.seconds = dict.fromkeys(CallTimer.METHODS, 0.0)
        start = time.perf_counter()
        runner.run()
        return timer, time.perf_counter() - start


class Reporter:
    """What `fit` tells a trial after each epoch: 3 reports and `should_prune()`. A new trial
    every `epochs` calls, so curves are as long as in a real trial."""

    def __init__(self, url: str | None, epochs: int) -> None:
        self.study = shoal.create_study(storage=url, direction="maximize")
        self.epochs, self.step, self.trial = epochs, 0, self.study.ask()

    def __call__(self) -> None:
        if self.step == self.epochs:
            self.study.tell(self.trial, 0.5)
            self.step, self.trial = 0, self.study.ask()
        self.trial.report(0.5, self.step)
        self.trial.report(0.1, self.step, name="train_loss")
        self.trial.report(1e-3, self.step, name="lr")
        self.trial.should_prune()
        self.step += 1


def max_norm_steps(model: nn.Module, steps: int) -> None:
    for _ in range(steps):
        apply_max_norm(model)


def median_ms(action: Callable[[], Any], repeats: int) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return 1e3 * statistics.median(times)


def per_epoch_costs(cfg: MLPConfig, repeats: int) -> str:
    """What `fit` and the task objective do per epoch beyond (a), each timed on its own."""
    torch.set_num_threads(1)
    data = load_split()
    model = make_mlp(cfg, data.x.shape[1], 0)
    optimizer = torch.optim.Adam(model.parameters(), lr=cfg.lr)
    generator = torch.Generator().manual_seed(0)
    steps = math.ceil(data.x.shape[0] / cfg.batch_size)
    val = (data.x_val, data.y_val)
    eval_batch = max(cfg.batch_size, EVAL_BATCH_SIZE)  # fit's default
    with sqlite_url() as url:
        items: list[tuple[str, Callable[[], Any]]] = [
            ("validation, (a): one forward of all 800 rows", lambda: hand_accuracy(model, data)),
            (f"validation as `fit` does it: batches of {eval_batch}, one accuracy over all rows",
             lambda: batched_accuracy(model, val, eval_batch)),
            ("copy of the best weights (epochs that improve)", lambda: copy_weights(model)),
            (f"`apply_max_norm` after each of the {steps} steps (skipped by the task objective "
             "when no layer has max_norm)", lambda: max_norm_steps(model, steps)),
            ("3 reports + `should_prune()`, in-memory study", Reporter(None, cfg.epochs)),
            ("3 reports + `should_prune()`, SQLite study", Reporter(url, cfg.epochs)),
        ]
        rows = [(name, median_ms(action, repeats)) for name, action in items]
    epoch_ms = median_ms(lambda: hand_epoch(model, optimizer, data, cfg.batch_size, generator),
                         max(5, repeats // 20))
    out = [f"Per-epoch costs beside training, each timed alone (median of {repeats} calls, wall ms); "
           f"one training epoch of (a) ({steps} steps) takes {epoch_ms:.1f} ms here:", "",
           "| per epoch | median ms | share of a training epoch |", "|---|---:|---:|"]
    out += [f"| {name} | {ms:.2f} | {100 * ms / epoch_ms:.1f}% |" for name, ms in rows]
    ms = [m for _, m in rows]
    fit_extra = ms[1] - ms[0] + ms[2] + ms[4]  # evaluate instead of one forward, best copy, reports
    task_extra = fit_extra + ms[5] - ms[4]  # SQLite instead of memory reports (no max-norm: skipped)
    out += ["", "Sum per epoch, an upper bound (not every epoch improves): "
            f"(b) {100 * fit_extra / epoch_ms:+.1f}% of a training epoch, "
            f"(b-task) {100 * task_extra / epoch_ms:+.1f}%, plus per-trial costs (storage calls outside "
            "the epochs, model building)."]
    return "\n".join(out)


def bootstrap_ci(values: list[float], draws: int = 4000) -> tuple[float, float]:
    """95% percentile-bootstrap interval of the median (seeded, so a rerun of the table agrees)."""
    samples = np.random.default_rng(0).choice(values, size=(draws, len(values)))
    low, high = np.percentile(np.median(samples, axis=1), [2.5, 97.5])
    return float(low), float(high)


def verdict(low: float, high: float) -> str:
    """Met / missed only when the whole interval is on one side of the target."""
    limit = 1 + TARGET_OVERHEAD
    if high <= limit:
        return "met"
    if low > limit:
        return "**MISSED**"
    return "not resolved: the interval spans it"


def overhead_tables(runs: list[Run], cfg: MLPConfig) -> str:
    reps = len({r.rep for r in runs})
    by = {v: [r for r in runs if r.variant == v] for v in VARIANTS}
    base = by[VARIANTS[0]]
    out = [f"### Overhead: MLP {cfg.layers}x{cfg.units} on MNIST-1D, {cfg.epochs} epochs, batch "
           f"{cfg.batch_size}, {reps} interleaved reps (seconds per training run)", "",
           "| variant | median s | min s | max s | median / (a) | min / (a) | median of paired ratios "
           f"[95% CI] | median CPU s | CPU median / (a) | target: paired ≤ {1 + TARGET_OVERHEAD:.2f} |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for variant, rows in by.items():
        wall, cpu = [r.wall_s for r in rows], [r.cpu_s for r in rows]
        ratios = [r.wall_s / a.wall_s for r, a in zip(rows, base, strict=True)]
        low, high = bootstrap_ci(ratios)
        out.append(f"| {variant} | {median(wall):.3f} | {min(wall):.3f} | {max(wall):.3f} | "
                   f"{median(wall) / median([r.wall_s for r in base]):.3f} | "
                   f"{min(wall) / min(r.wall_s for r in base):.3f} | {median(ratios):.3f} "
                   f"[{low:.3f}, {high:.3f}] | {median(cpu):.3f} | "
                   f"{median(cpu) / median([r.cpu_s for r in base]):.3f} | "
                   f"{'-' if rows is base else verdict(low, high)} |")
    out += ["", "Validation accuracy (rep r seeds every variant with r):", "",
            "| variant | epochs run | median best | min to max best | median last epoch | "
            "curve identical to (a) |", "|---|---|---:|---:|---:|---:|"]
    for variant, rows in by.items():
        best = [r.best_acc for r in rows]
        same = sum(r.curve == a.curve for r, a in zip(rows, base, strict=True))
        epochs = "/".join(str(n) for n in sorted({len(r.curve) for r in rows}))
        out.append(f"| {variant} | {epochs} | {median(best):.4f} | {min(best):.4f} to {max(best):.4f} | "
                   f"{median([r.final_acc for r in rows]):.4f} | {same} of {len(rows)} reps |")
    return "\n".join(out)


def breakdown_table(timer: CallTimer, wall_s: float, epochs: int) -> str:
    out = [f"Storage calls in one b-task trial ({epochs} epochs, SQLite; the trial took {wall_s:.2f} s):",
           "", "| storage method | calls | total ms | ms per call |", "|---|---:|---:|---:|"]
    for name in CallTimer.METHODS:
        calls = timer.calls[name]
        if calls:
            ms = timer.seconds[name] * 1e3
            out.append(f"| {name} | {calls} | {ms:.1f} | {ms / calls:.2f} |")
    total = sum(timer.seconds.values())
    out.append(f"| **all** | {sum(timer.calls.values())} | {total * 1e3:.1f} | "
               f"{100 * total / wall_s:.1f}% of the trial |")
    return "\n".join(out)


def resources_line(threads_before: int, fds_before: int, studies: int) -> str:
    names = Counter(t.name for t in threading.enumerate())
    return (f"Process resources after the overhead runs ({studies} studies created, all out of scope, "
            f"`gc.collect()` done): threads {threads_before} → {threading.active_count()} "
            f"({dict(names)}), open file descriptors {fds_before} → {open_fds()}.")


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


# 2. Memory over consecutive trials ----------------------------------------------------------------
MEMORY_RUNS = {
    "demo": "shoal, demo space (the run above)",
    "trim": "shoal, demo space, glibc `malloc_trim(0)` after each trial (RSS after trimming)",
    "fixed": "shoal, one fixed configuration every trial (3x256 ReLU, Adam 1e-3, batch 64)",
    "train": "shoal's `train_model` alone over the same configurations: no study, no storage",
    "torch": "no shoal: hand loop (a) over the same sampled layers, units, batch size, activation",
    "trace": "shoal, demo space, under tracemalloc (RSS inflated by tracing)",
}


@dataclass(frozen=True)
class RssLogger:
    """A study callback: after each trial, append this worker's RSS to <folder>/rss-<pid>.jsonl."""

    folder: str
    census_from: int = 0  # count live objects at this worker-local trial count and every 10th after
    trace_at: tuple[int, ...] = ()  # worker-local trial counts at which to take a tracemalloc snapshot
    trim: bool = False  # give glibc's free heap memory back to the system before reading RSS

    def __call__(self, study: Any, trial: Any) -> None:
        self.record(trial.number, trial.state.name)

    def record(self, number: int, state: str) -> None:
        path = Path(self.folder) / f"rss-{os.getpid()}.jsonl"
        count = 1 + (sum(1 for _ in path.open()) if path.exists() else 0)
        row: dict[str, Any] = {"i": count, "trial": number, "state": state, "rss": rss_mb(),
                               "hwm": hwm_mb(), "peak": peak_mb()}
        if self.trim:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
            row["untrimmed"], row["rss"] = row["rss"], rss_mb()
        if self.census_from and (count == self.census_from or (count > self.census_from and count % 10 == 0)):
            row["census"] = object_census()
        if count in self.trace_at and tracemalloc.is_tracing():
            tracemalloc.take_snapshot().dump(str(Path(self.folder) / f"trace-{os.getpid()}-{count}.bin"))
        with path.open("a") as f:
            f.write(json.dumps(row) + "\n")


def object_census() -> dict[str, float]:
    gc.collect()
    objects = gc.get_objects()
    with warnings.catch_warnings():  # isinstance() on some torch module attributes warns
        warnings.simplefilter("ignore")
        tensors = [o for o in objects if isinstance(o, torch.Tensor)]
        return {"gc objects": len(objects), "torch tensors": len(tensors),
                "tensor MB": round(sum(t.element_size() * t.nelement() for t in tensors) / 2**20, 2),
                "nn.Module": sum(isinstance(o, nn.Module) for o in objects),
                "optimizers": sum(isinstance(o, torch.optim.Optimizer) for o in objects),
                "threads": threading.active_count()}


def memory_study(folder: str, spec: TaskSpec, mode: str, n_trials: int) -> Any:
    url = f"sqlite:///{folder}/memory.db"
    if mode != "fixed":
        return shoal.create_study("memory", storage=url, direction=spec.direction,
                                  space=Space.from_dict(DEMO_SPACE), sampler=RandomSampler(seed=0))
    study = shoal.create_study("memory", storage=url, direction=spec.direction)
    for _ in range(n_trials):
        study.enqueue(MLPConfig().params())
    return study


def sampled_configs(n_trials: int) -> Iterator[tuple[int, dict[str, Any]]]:
    """The configurations RandomSampler(seed=0) proposes for trials 0..n_trials-1 of the study."""
    space = Space.from_dict(DEMO_SPACE)
    for number in range(n_trials):
        yield number, space.sample(sampler_rng(0, number))


def train_control(logger: RssLogger, n_trials: int, epochs: int) -> dict[str, int]:
    """shoal's training (model, optimiser, schedule, fit) without a study: trial=None."""
    spec = TaskSpec.from_dict({**DEMO_TASK, "epochs": epochs, "threads": 1, "device": "cpu"})
    [(fit_data, val_data)] = spec.load().train.split(spec.protocol)
    states: Counter[str] = Counter()
    for number, params in sampled_configs(n_trials):
        try:
            train_model(spec, params, fit_data, val_data, trial=None, checkpoints=None, seed=spec.seed)
            state = "COMPLETE"
        except TrialFailed:  # diverged, as in the study
            state = "FAILED"
        states[state] += 1
        logger.record(number, state)
    return dict(states)


def torch_control(logger: RssLogger, n_trials: int, epochs: int) -> dict[str, int]:
    """The hand loop over the configurations RandomSampler(seed=0) proposes, without shoal."""
    data = load_split()
    for number, p in sampled_configs(n_trials):
        cfg = MLPConfig(layers=p["layers"], units=p["units"], batch_size=p["batch_size"],
                        activation=p["activation"], epochs=epochs)
        hand_loop(data, cfg, seed=number)
        logger.record(number, "COMPLETE")
    return {"COMPLETE": n_trials}


def memory_worker(folder: str, n_trials: int, n_jobs: int, epochs: int, mode: str) -> None:
    """Runs in a fresh (spawned) process: `n_trials` consecutive trials, RSS logged after each."""
    logging.getLogger("shoal").setLevel(logging.ERROR)
    torch.set_num_threads(1)
    last = n_trials if n_jobs == 1 else math.ceil(n_trials / n_jobs)
    start = min(WINDOW_START, max(1, last // 2))
    logger = RssLogger(folder, census_from=start, trace_at=(start, last) if mode == "trace" else (),
                       trim=mode == "trim")
    if mode == "trace":
        tracemalloc.start(1)
    Path(folder, "baseline.json").write_text(json.dumps({"pid": os.getpid(), "rss": rss_mb()}))
    if mode in CONTROLS:
        states = CONTROLS[mode](logger, n_trials, epochs)
    else:
        spec = TaskSpec.from_dict({**DEMO_TASK, "epochs": epochs, "threads": 1, "device": "cpu"})
        study = memory_study(folder, spec, mode, n_trials)
        study.optimize(spec.objective(), n_trials=n_trials, n_jobs=n_jobs, callbacks=[logger])
        states = dict(Counter(t.state.name for t in study.trials))
    Path(folder, "states.json").write_text(json.dumps(states))


CONTROLS = {"train": train_control, "torch": torch_control}


@dataclass
class WorkerRss:
    pid: int
    rows: list[dict[str, Any]] = field(default_factory=list)

    def rss(self) -> np.ndarray:
        return np.array([r["rss"] for r in self.rows])

    def window(self) -> tuple[int, int]:
        """1-based worker-local trial counts of the slope window."""
        last = len(self.rows)
        return min(WINDOW_START, max(1, last // 2)), last

    def slope(self) -> float:
        first, last = self.window()
        if last - first < 2:
            return math.nan
        x = np.arange(first, last + 1)
        return float(np.polyfit(x, self.rss()[first - 1:last], 1)[0])

    def growth(self) -> float:
        first, last = self.window()
        return float(self.rss()[last - 1] - self.rss()[first - 1])

    def meets_target(self) -> bool:
        return self.slope() < TARGET_SLOPE_MB and self.growth() < TARGET_GROWTH_MB


@dataclass
class MemoryRun:
    mode: str
    n_jobs: int
    wall_s: float
    baseline: dict[str, Any]
    states: dict[str, int]
    workers: list[WorkerRss]
    traces: dict[int, list[str]] = field(default_factory=dict)


def run_memory(n_trials: int, n_jobs: int, epochs: int, mode: str = "demo") -> MemoryRun:
    with tempfile.TemporaryDirectory(prefix="shoal-harness-mem-") as folder:
        proc = mp.get_context("spawn").Process(target=memory_worker,
                                               args=(folder, n_trials, n_jobs, epochs, mode))
        start = time.perf_counter()
        proc.start()
        proc.join()
        wall = time.perf_counter() - start
        if proc.exitcode != 0:
            raise RuntimeError(f"memory worker ({mode}) exited with code {proc.exitcode}")
        workers = [WorkerRss(int(p.stem.split("-")[1]), [json.loads(line) for line in p.open()])
                   for p in sorted(Path(folder).glob("rss-*.jsonl"))]
        traces = {w.pid: trace_diff(folder, w) for w in workers} if mode == "trace" else {}
        return MemoryRun(mode, n_jobs, wall, json.loads(Path(folder, "baseline.json").read_text()),
                         json.loads(Path(folder, "states.json").read_text()), workers, traces)


def trace_diff(folder: str, worker: WorkerRss, top: int = 10) -> list[str]:
    first, last = worker.window()
    paths = [Path(folder) / f"trace-{worker.pid}-{i}.bin" for i in (first, last)]
    if not all(p.exists() for p in paths):
        return []
    old, new = (tracemalloc.Snapshot.load(str(p)) for p in paths)
    stats = new.compare_to(old, "lineno")
    total = sum(s.size_diff for s in stats) / 2**20
    lines = ["", f"tracemalloc, trials {first} → {last}: Python allocations {total:+.2f} MB in all; "
             f"top {top} lines by growth:", "```"]
    lines += [f"{s.size_diff / 1024:+9.1f} KiB {s.count_diff:+7d} blocks  {s.traceback[0]}"
              for s in stats[:top]]
    return [*lines, "```"]


def rss_table(run: MemoryRun) -> str:
    [worker] = run.workers
    rss = worker.rss()
    hundreds = set(range(100, len(rss) + 1, 100))
    marks = sorted({t for t in TABLE_TRIALS if t <= len(rss)} | hundreds | {len(rss)})
    out = [f"### Memory: {len(rss)} consecutive trials in one worker process (SQLite, n_jobs=1, "
           f"{run.wall_s:.0f} s, trial states {run.states})", "",
           f"RSS before the study (imports done, no data loaded): {run.baseline['rss']:.1f} MB", "",
           "| after trial | RSS MB (statm) | peak RSS MB (VmHWM) | ru_maxrss MB |", "|---:|---:|---:|---:|"]
    out += [f"| {t} | {rss[t - 1]:.1f} | {worker.rows[t - 1]['hwm']:.1f} | {worker.rows[t - 1]['peak']:.1f} |"
            for t in marks]
    first, last = worker.window()
    out += ["", f"Slope over trials {first}..{last} (least squares): **{worker.slope():+.4f} MB per trial**; "
            f"growth {first} → {last}: {worker.growth():+.2f} MB. Target: flat, i.e. slope < "
            f"{TARGET_SLOPE_MB} MB/trial and growth < {TARGET_GROWTH_MB:g} MB: "
            f"{'met' if worker.meets_target() else '**MISSED**'}."]
    if len(rss) >= 200:
        blocks = [f"{max(1, t - 100)} → {t}: {rss[t - 1] - rss[max(0, t - 101)]:+.1f}"
                  for t in sorted(hundreds)]
        out += ["", "RSS growth between the rows above, per 100 trials (MB): " + ", ".join(blocks) + "."]
    return "\n".join(out + census_lines(worker))


def diagnosis_table(runs: list[MemoryRun]) -> str:
    out = ["### Diagnosis: where the growth comes from (each run in a fresh process, n_jobs=1)", "",
           "| run | RSS after trial 1 | at window start | after last | slope MB/trial | growth MB | flat? |",
           "|---|---:|---:|---:|---:|---:|---|"]
    for run in runs:
        [w] = run.workers
        rss, (first, last) = w.rss(), w.window()
        out.append(f"| {MEMORY_RUNS[run.mode]} | {rss[0]:.1f} | {rss[first - 1]:.1f} | {rss[-1]:.1f} | "
                   f"{w.slope():+.4f} ({first}..{last}) | {w.growth():+.2f} | "
                   f"{'yes' if w.meets_target() else '**no**'} |")
    for run in runs:
        [w] = run.workers
        if run.mode in ("fixed", "train", "torch", "trace"):
            out += [line.replace("Live objects", f"{run.mode}: live objects") for line in census_lines(w)]
        out += run.traces.get(w.pid, [])
    return "\n".join(out)


def census_lines(worker: WorkerRss) -> list[str]:
    census = [(r["i"], r["census"]) for r in worker.rows if "census" in r]
    if len(census) < 2:
        return []
    (i0, c0), (i1, c1) = census[0], census[-1]
    return ["", f"Live objects after trial {i0} → {i1} (gc.get_objects, after gc.collect()): "
            + ", ".join(f"{k} {c0[k]:g} → {c1[k]:g}" for k in c0)]


def parallel_table(run: MemoryRun) -> str:
    out = [f"### Memory with n_jobs=2 worker processes ({sum(len(w.rows) for w in run.workers)} trials, "
           f"{run.wall_s:.0f} s, trial states {run.states})", "",
           f"Parent (the process that calls optimize) RSS before the study: {run.baseline['rss']:.1f} MB. "
           "Workers are forked from it; each appends its own RSS after each of its trials.", "",
           "| worker pid | trials | RSS after 1st | after 10th | after last | peak (VmHWM) | ru_maxrss | "
           "slope MB/trial (window) | growth MB | flat? |",
           "|---|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for w in run.workers:
        rss = w.rss()
        first, last = w.window()
        tenth = f"{rss[9]:.1f}" if len(rss) >= 10 else "-"
        out.append(f"| {w.pid} | {len(rss)} | {rss[0]:.1f} | {tenth} | {rss[-1]:.1f} | "
                   f"{w.rows[-1]['hwm']:.1f} | {w.rows[-1]['peak']:.1f} | "
                   f"{w.slope():+.4f} ({first}..{last}) | {w.growth():+.2f} | "
                   f"{'yes' if w.meets_target() else '**no**'} |")
    for w in run.workers:
        out += census_lines(w)
        out += run.traces.get(w.pid, [])
    return "\n".join(out)


# Reporting ----------------------------------------------------------------------------------------
def machine_facts() -> str:
    return "\n".join([
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, {os.cpu_count()} cores ({cpu_model()}), "
        f"{os.sysconf('SC_PHYS_PAGES') * os.sysconf('SC_PAGE_SIZE') / 2**30:.0f} GiB RAM",
        f"- python {platform.python_version()}, shoal {shoal.__version__}, torch {torch.__version__} "
        f"(CPU, 1 thread in every run), numpy {np.__version__}, SQLAlchemy {version('sqlalchemy')}",
        f"- load average at start (1/5/15 min): {loadavg()}; other work shares the 2 cores, so "
        "compare medians of interleaved runs, not single times",
    ])


def cpu_model() -> str:
    with open("/proc/cpuinfo") as f:
        names = [line.split(":", 1)[1].strip() for line in f if line.startswith("model name")]
    return names[0] if names else platform.processor() or "unknown CPU"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--reps", type=int, default=25, help="interleaved repetitions of each variant")
    ap.add_argument("--trials", type=int, default=100, help="consecutive trials of the memory run")
    ap.add_argument("--epochs", type=int, default=15, help="epochs of the overhead runs")
    ap.add_argument("--memory-epochs", type=int, default=2, help="epochs per trial of the memory runs")
    ap.add_argument("--quick", action="store_true", help="small sizes for a smoke run")
    ap.add_argument("--diagnose", choices=("auto", "always", "never"), default="auto",
                    help="the memory diagnosis runs: auto = only when RSS grows")
    ap.add_argument("--skip-parallel", action="store_true", help="no n_jobs=2 memory run")
    ap.add_argument("--skip-overhead", action="store_true")
    ap.add_argument("--skip-memory", action="store_true")
    args = ap.parse_args()
    if args.quick:
        args.reps, args.trials, args.epochs = min(args.reps, 2), min(args.trials, 12), min(args.epochs, 3)

    logging.getLogger("shoal").setLevel(logging.ERROR)
    print("## PyTorch harness: overhead and memory\n")
    print(machine_facts())
    print(f"- targets: harness wall time ≤ {1 + TARGET_OVERHEAD:.2f} times the hand loop (median of "
          f"paired ratios); RSS flat over trials {WINDOW_START}..N: slope < {TARGET_SLOPE_MB} MB/trial "
          f"and growth < {TARGET_GROWTH_MB:g} MB\n", flush=True)

    if not args.skip_overhead:
        overhead_section(args, repeats=30 if args.quick else 200)
    if not args.skip_memory:
        memory_section(args)


def overhead_section(args: argparse.Namespace, repeats: int) -> None:
    cfg = MLPConfig(epochs=args.epochs)
    threads, fds = threading.active_count(), open_fds()
    runs = measure_overhead(cfg, args.reps)
    timer, wall = storage_breakdown(cfg)
    gc.collect()
    resources = resources_line(threads, fds, 2 * (args.reps + 1) + 1)  # 2 per round, 1 breakdown
    print("\n" + overhead_tables(runs, cfg) + "\n")
    print(breakdown_table(timer, wall, cfg.epochs) + "\n")
    print(per_epoch_costs(cfg, repeats) + "\n")
    print(resources + "\n")
    print(f"- load average after the overhead runs: {loadavg()}\n", flush=True)


def memory_section(args: argparse.Namespace) -> None:
    serial = run_memory(args.trials, 1, args.memory_epochs)
    print(rss_table(serial) + "\n", flush=True)
    measured = [serial]
    if not args.skip_parallel:
        measured.append(run_memory(args.trials, 2, args.memory_epochs))
        print(parallel_table(measured[-1]) + "\n", flush=True)
    grew = not all(w.meets_target() for run in measured for w in run.workers)
    if args.diagnose == "always" or (grew and args.diagnose == "auto"):
        controls = [run_memory(args.trials, 1, args.memory_epochs, mode)
                    for mode in MEMORY_RUNS if mode != "demo"]
        print(diagnosis_table([serial, *controls]) + "\n", flush=True)
    print(f"- load average at the end: {loadavg()}", flush=True)


if __name__ == "__main__":
    main()
