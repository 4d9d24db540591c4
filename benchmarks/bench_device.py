#!/usr/bin/env python
"""Where a trial should train, CPU or GPU, and what shoal's training loop costs on each.

1. Seconds per epoch. For each device (CPU with one thread, CPU with every core, CUDA when there
   is one) and each model on MNIST-1D's 80/20 holdout (MLP 3 x 256 at batch 64, the demo's
   typical size; MLP 4 x 512 at batch 512; shoal's 1-D CNN, 3 conv blocks of 64 channels at
   batch 128), the same model and Adam trained two ways, interleaved a, b, a, b after a warm-up:
   (a) a hand-written loop as a careful practitioner writes it for a GPU: data moved to the device
       once, one shuffled gather per epoch, the epoch's loss summed on the device and read once;
   (b) `shoal.torch.fit` with the trial of an in-memory study (one report, curves and
       `should_prune()` per epoch, the best epoch's weights kept).
   Reported: median seconds per epoch of each, and the median of the paired ratios b/a.
2. GPU memory (CUDA only): what one `TaskSpec(...).objective()` trial leaves allocated on the
   device after it ends (it must be nothing) and its peak.
3. Trials per minute of the demo task (demo space, RandomSampler(seed=0), 5 epochs per trial,
   SQLite) with n_jobs worker processes, on CPU (one torch thread per worker) and on CUDA (every
   worker on the one GPU). Each run is a fresh spawned process, so no run inherits CUDA state.

    .venv/bin/python benchmarks/bench_device.py [--reps 5] [--epochs 5] [--trials 32] [--jobs 1 4 8]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from demo_task import DEMO_SPACE, DEMO_TASK
from torch import nn
from torch.nn import functional

import shoal
from shoal.samplers import RandomSampler
from shoal.space import Space
from shoal.torch import Holdout, TaskSpec, accuracy, build_model, fit


@dataclass(frozen=True)
class Workload:
    name: str
    family: str
    params: dict[str, Any]
    batch_size: int


WORKLOADS = (
    Workload("MLP 3x256, batch 64", "mlp", {"layers": 3, "units": 256}, 64),
    Workload("MLP 4x512, batch 512", "mlp", {"layers": 4, "units": 512}, 512),
    Workload("CNN 3x64 ch, batch 128", "cnn1d", {"conv_layers": 3, "channels": 64, "layers": 1,
                                                 "units": 128}, 128),
)


def devices() -> list[tuple[str, torch.device, int]]:
    """(label, device, CPU threads) of every device this machine has."""
    cores = os.cpu_count() or 1
    found = [("cpu, 1 thread", torch.device("cpu"), 1)]
    if cores > 1:
        found.append((f"cpu, {cores} threads", torch.device("cpu"), cores))
    if torch.cuda.is_available():
        found.append((f"cuda ({torch.cuda.get_device_name(0)})", torch.device("cuda"), 1))
    return found


def mnist1d_split() -> tuple[torch.Tensor, ...]:
    spec = TaskSpec(dataset="mnist1d", model="mlp", metric="accuracy", protocol=Holdout(fraction=0.2))
    [(fit_data, val_data)] = spec.load().train.split(Holdout(fraction=0.2))
    return (*fit_data.to_tensors(), *val_data.to_tensors())


def make_model(work: Workload, n_in: int, seed: int) -> nn.Module:
    return build_model(work.family, {**work.params, "init": "default"}, input_shape=(n_in,),
                       n_outputs=10, generator=torch.Generator().manual_seed(seed))


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def hand_loop(work: Workload, data: tuple[torch.Tensor, ...], device: torch.device, epochs: int,
              seed: int) -> float:
    """(a) Returns the best validation accuracy."""
    x, y, x_val, y_val = (t.to(device) for t in data)
    model = make_model(work, x.shape[1], seed).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    generator = torch.Generator().manual_seed(seed)
    best = 0.0
    for _ in range(epochs):
        model.train()
        order = torch.randperm(x.shape[0], generator=generator).to(device)
        xs, ys = x[order], y[order]
        total = torch.zeros((), device=device)
        for start in range(0, x.shape[0], work.batch_size):
            xb, yb = xs[start:start + work.batch_size], ys[start:start + work.batch_size]
            loss = functional.cross_entropy(model(xb), yb)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()  # type: ignore[no-untyped-call]
            optimizer.step()
            total += loss.detach() * xb.shape[0]
        model.eval()
        with torch.no_grad():
            correct = (model(x_val).argmax(1) == y_val).sum()
        _ = float(total)  # the epoch's loss, read once
        best = max(best, float(correct) / y_val.shape[0])
    return best


def shoal_fit(work: Workload, data: tuple[torch.Tensor, ...], device: torch.device, epochs: int,
              seed: int) -> float:
    """(b) Returns the best validation accuracy."""
    study = shoal.create_study(direction="maximize")
    x, y, x_val, y_val = data
    best: list[float] = []

    def objective(trial: Any) -> float:
        model = make_model(work, x.shape[1], seed)
        optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
        result = fit(model, optimizer, None, (x, y), (x_val, y_val), loss_fn=functional.cross_entropy,
                     metric=accuracy, metric_direction="maximize", epochs=epochs,
                     batch_size=work.batch_size, trial=trial, device=device,
                     generator=torch.Generator().manual_seed(seed))
        best.append(result.best_metric)
        return result.best_metric

    study.optimize(objective, n_trials=1, catch=())
    return best[0]


def timed(run: Callable[..., float], *args: Any) -> tuple[float, float]:
    device = args[2]
    sync(device)
    start = time.perf_counter()
    value = run(*args)
    sync(device)
    return time.perf_counter() - start, value


def per_epoch_table(reps: int, epochs: int) -> None:
    data = mnist1d_split()
    print("| device | workload | (a) hand loop, s/epoch | (b) shoal fit, s/epoch | paired b/a, median "
          "[min, max] | best val. acc. (a) / (b) |\n|---|---|---:|---:|---:|---:|", flush=True)
    for label, device, threads in devices():
        torch.set_num_threads(threads)
        for work in WORKLOADS:
            timed(hand_loop, work, data, device, 1, 0)  # warm-up: kernels, allocator, caches
            timed(shoal_fit, work, data, device, 1, 0)
            hand, ours = [], []
            for rep in range(reps):
                hand.append(timed(hand_loop, work, data, device, epochs, rep))
                ours.append(timed(shoal_fit, work, data, device, epochs, rep))
            ratios = [b[0] / a[0] for a, b in zip(hand, ours, strict=True)]
            (t_a, acc_a), (t_b, acc_b) = ([statistics.median(col) for col in zip(*runs, strict=True)]
                                          for runs in (hand, ours))
            print(f"| {label} | {work.name} | {t_a / epochs:.4f} | {t_b / epochs:.4f} | "
                  f"{statistics.median(ratios):.3f} [{min(ratios):.3f}, {max(ratios):.3f}] | "
                  f"{acc_a:.3f} / {acc_b:.3f} |", flush=True)


def gpu_memory_table(epochs: int) -> None:
    """What a task trial leaves on the GPU: allocated bytes before and after, and the peak."""
    print("| trial | allocated before, MB | after, MB | peak during, MB |\n|---|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as folder:
        spec = TaskSpec.from_dict({**DEMO_TASK, "epochs": epochs, "device": "cuda"})
        study = shoal.create_study("memory", storage=f"sqlite:///{folder}/m.db", direction="maximize",
                                   space=Space.from_dict(DEMO_SPACE), sampler=RandomSampler(seed=0))
        objective = spec.objective()
        for number in range(5):
            before = torch.cuda.memory_allocated()
            torch.cuda.reset_peak_memory_stats()
            study.optimize(objective, n_trials=1)
            after, peak = torch.cuda.memory_allocated(), torch.cuda.max_memory_allocated()
            print(f"| {number} | {before / 2**20:.2f} | {after / 2**20:.2f} | {peak / 2**20:.1f} |",
                  flush=True)


def throughput_worker(device: str, n_jobs: int, n_trials: int, epochs: int, out: Any) -> None:
    with tempfile.TemporaryDirectory() as folder:
        spec = TaskSpec.from_dict({**DEMO_TASK, "epochs": epochs, "device": device,
                                   **({"threads": 1} if device == "cpu" else {})})
        study = shoal.create_study("speed", storage=f"sqlite:///{folder}/s.db", direction="maximize",
                                   space=Space.from_dict(DEMO_SPACE), sampler=RandomSampler(seed=0))
        start = time.perf_counter()
        study.optimize(spec.objective(), n_trials=n_trials, n_jobs=n_jobs)
        wall = time.perf_counter() - start
        states = [t.state.name for t in study.trials]
        out.put((wall, states.count("COMPLETE"), len(states), study.best_value))


def throughput_table(jobs: list[int], n_trials: int, epochs: int) -> None:
    print("| device | n_jobs | trials | complete | wall s | trials per minute | best val. acc. |\n"
          "|---|---:|---:|---:|---:|---:|---:|", flush=True)
    ctx = mp.get_context("spawn")
    for device in ["cpu"] + (["cuda"] if torch.cuda.is_available() else []):
        for n_jobs in jobs:
            queue = ctx.Queue()
            proc = ctx.Process(target=throughput_worker, args=(device, n_jobs, n_trials, epochs, queue))
            proc.start()
            wall, complete, total, best = queue.get()
            proc.join()
            print(f"| {device} | {n_jobs} | {total} | {complete} | {wall:.1f} | "
                  f"{60 * complete / wall:.1f} | {best:.3f} |", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--reps", type=int, default=5, help="interleaved repetitions of (a) and (b)")
    ap.add_argument("--epochs", type=int, default=5, help="epochs per timed run and per demo trial")
    ap.add_argument("--trials", type=int, default=32, help="trials of each throughput run")
    ap.add_argument("--jobs", type=int, nargs="+", default=[1, 4, 8], help="worker processes to try")
    ap.add_argument("--skip", nargs="*", default=[], choices=["epoch", "memory", "throughput"])
    args = ap.parse_args()
    print(f"torch {torch.__version__}, {os.cpu_count()} cores, "
          f"cuda: {torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none'}")
    # Each throughput run is a spawned process that forks its workers before touching CUDA, as a
    # user's script does; run first, before this process touches CUDA at all.
    if "throughput" not in args.skip:
        print(f"\n### Demo task, {args.trials} trials of {args.epochs} epochs\n")
        throughput_table(args.jobs, args.trials, args.epochs)
    if "epoch" not in args.skip:
        print(f"\n### Seconds per epoch, {args.reps} interleaved reps of {args.epochs} epochs\n")
        per_epoch_table(args.reps, args.epochs)
    if "memory" not in args.skip and torch.cuda.is_available():
        print(f"\n### GPU memory around task trials ({args.epochs} epochs)\n")
        gpu_memory_table(args.epochs)


if __name__ == "__main__":
    main()
