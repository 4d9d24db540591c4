#!/usr/bin/env python
"""Do PBT and PB2 beat the best fixed learning rate of an equal population, at equal steps?

The task is SGD on the noisy quadratic model (Schaul et al. 2013; Zhang et al. 2019 use it to
study learning-rate schedules): for a loss w^2 / 2 with gradient noise of variance sigma^2 per
step, the expected squared distance m = E[w^2] after one step with learning rate lr is

    m' = (1 - lr)^2 * m + lr^2 * sigma^2

and the expected loss is m / 2. A large rate closes the distance fast but leaves a noise floor
lr * sigma^2 / (2 - lr); the best rate falls as training goes on, so no fixed rate is optimal
(with m0 = 100, sigma^2 = 1 and 40 steps the best fixed rate reaches about 0.033, the best
schedule lr_t = m_t / (m_t + sigma^2) about 0.0125). The state m is a float each trial saves with
`trial.checkpoint(step)` and reads back from `trial.resume_checkpoint`, as a model's weights.

For each seed, three studies draw the same eight learning rates (RandomSampler with that seed,
log-uniform in [1e-3, 1]):
  - fixed: each trains its rate for STEPS steps (NoStopping); the best final loss of the eight;
  - PBT:   PBT(population=8, interval=4, max_step=STEPS - 1, seed=seed); the best final loss of
           the members that reached the last step (forks start from a parent's checkpoint, so
           every member has trained STEPS steps' worth of state, as the fixed ones);
  - PB2:   the same with PB2 (the fork's rate chosen by GP-UCB instead of x0.8 / x1.2).
Printed: per seed the three losses and the ratios; then for PBT / fixed, PB2 / fixed and PB2 / PBT
the geometric mean ratio and the spread of log-ratios over seeds (a margin larger than the
seed-to-seed noise is a real win).

    nice .venv/bin/python benchmarks/bench_pbt.py [--seeds 10] [--steps 40] [--jobs 1]
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import tempfile
import time
from pathlib import Path

import shoal
from shoal.samplers import RandomSampler
from shoal.schedulers import PB2, PBT, NoStopping, hyperparameter_schedule

M0, SIGMA2 = 100.0, 1.0


def objective_for(steps: int):  # type: ignore[no-untyped-def]
    """The NQM objective: trains `steps` steps, checkpointing m at each, resuming where told."""

    def objective(trial: shoal.Trial) -> float:
        lr = trial.suggest_float("lr", 1e-3, 1.0, log=True)
        folder = trial.resume_checkpoint
        m = M0 if folder is None else float((folder / "m.txt").read_text())
        first = 0 if trial.resume_step is None else trial.resume_step + 1
        for step in range(first, steps):
            m = (1.0 - lr) ** 2 * m + lr ** 2 * SIGMA2
            with trial.checkpoint(step) as out:
                (out / "m.txt").write_text(repr(m))
            trial.report(m / 2.0, step)
            if trial.should_prune():
                raise shoal.TrialPruned()
            if trial.should_pause():
                raise shoal.TrialPaused()
        return m / 2.0

    return objective


def run(seed: int, *, kind: str, steps: int, jobs: int, root: Path) -> tuple[float, int, int]:
    """(best final loss, trials, steps trained by all of them) of one study; kind is "fixed",
    "pbt" or "pb2"."""
    schedulers = {"fixed": NoStopping, "pbt": PBT, "pb2": PB2}
    scheduler = schedulers[kind]() if kind == "fixed" else schedulers[kind](
        population=8, interval=4, max_step=steps - 1, seed=seed)
    # One worker: in memory (checkpoints under $SHOAL_ARTIFACTS); several: a SQLite file.
    storage = None if jobs == 1 else f"sqlite:///{root / kind}-{seed}.db"
    study = shoal.create_study(f"nqm-{kind}-{seed}", storage=storage,
                               sampler=RandomSampler(seed=seed), scheduler=scheduler)
    study.optimize(objective_for(steps), n_trials=8, n_jobs=jobs)
    finished = [t for t in study.trials if t.last_step == steps - 1 and t.score is not None]
    best = min(finished, key=lambda t: t.score)  # type: ignore[arg-type, return-value]
    if kind != "fixed" and seed == 0:
        schedule = hyperparameter_schedule(best, study.trials)
        print(f"seed 0, {kind}: the winner (trial {best.number}) followed "
              + ", ".join(f"lr={p['lr']:.3g} from step {s}" for s, p in schedule))
    trained = sum(len(t.intermediate) for t in study.trials)
    return float(best.score), len(study.trials), trained  # type: ignore[arg-type]


def summary(name: str, logs: list[float]) -> str:
    mean = statistics.fmean(logs)
    sd = statistics.stdev(logs) if len(logs) > 1 else float("nan")
    return (f"{name}: geometric mean {math.exp(mean):.3f}; log-ratio mean {mean:.3f}, sd {sd:.3f} "
            f"over {len(logs)} seeds (standard error {sd / math.sqrt(len(logs)):.3f}); better on "
            f"{sum(x < 0 for x in logs)}/{len(logs)} seeds")


def references(steps: int) -> tuple[float, float, float]:
    """(best fixed rate on a fine log grid, its loss, the loss of the optimal schedule)."""
    def loss(lr: float) -> float:
        m = M0
        for _ in range(steps):
            m = (1.0 - lr) ** 2 * m + lr ** 2 * SIGMA2
        return m / 2.0

    rate = min((10 ** (-3 + 3 * i / 3000) for i in range(3001)), key=loss)
    m = M0
    for _ in range(steps):  # lr_t = m_t / (m_t + sigma^2) minimises the next m
        lr = m / (m + SIGMA2)
        m = (1.0 - lr) ** 2 * m + lr ** 2 * SIGMA2
    return rate, loss(rate), m / 2.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[1])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--jobs", type=int, default=1)
    args = parser.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["SHOAL_ARTIFACTS"] = tmp
        for seed in range(args.seeds):
            start = time.perf_counter()
            got = {kind: run(seed, kind=kind, steps=args.steps, jobs=args.jobs, root=Path(tmp))
                   for kind in ("fixed", "pbt", "pb2")}
            rows.append((seed, got, time.perf_counter() - start))
    print(f"\nNQM, {args.steps} steps, population 8, interval 4, n_jobs={args.jobs}\n")
    print("| seed | best fixed lr | PBT | PB2 | PBT / fixed | PB2 / fixed | PBT trials, steps | "
          "PB2 trials, steps | s (all three) |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for seed, got, seconds in rows:
        (fixed, _, _), (pbt, pbt_n, pbt_steps), (pb2, pb2_n, pb2_steps) = (
            got["fixed"], got["pbt"], got["pb2"])
        print(f"| {seed} | {fixed:.4f} | {pbt:.4f} | {pb2:.4f} | {pbt / fixed:.3f} | "
              f"{pb2 / fixed:.3f} | {pbt_n}, {pbt_steps} | {pb2_n}, {pb2_steps} | {seconds:.1f} |")
    print()
    for name, a, b in (("PBT / fixed", "pbt", "fixed"), ("PB2 / fixed", "pb2", "fixed"),
                       ("PB2 / PBT", "pb2", "pbt")):
        print(summary(name, [math.log(got[a][0] / got[b][0]) for _, got, _ in rows]))
    rate, fixed_best, schedule = references(args.steps)
    print(f"references: the best fixed rate of all ({rate:.3g}) reaches {fixed_best:.4f}; the optimal "
          f"schedule {schedule:.4f}; the fixed population trains {8 * args.steps} steps")


if __name__ == "__main__":
    main()
