#!/usr/bin/env python
"""Multi-fidelity on real training: epochs and wall time to reach full-budget TPE's best, MNIST-1D MLP.

The task, space and training are those of `bench_mnist1d.py` (the demo's MLP on MNIST-1D, 80/20
holdout of the 4000 training sequences, training seed 0, one torch thread; the demo space with
units <= 256 and batch size >= 64), trained for at most `--epochs` (20) epochs per trial, the
validation accuracy reported after every epoch. Every method runs the same training:

- shoal's methods run a real `shoal.Study` (in memory, one worker) on `TaskSpec(...).objective()`,
  so a paused trial saves a real checkpoint (`state.pt` of each step) and a promotion resumes it:
    shoal_asha          ASHA(min_resource=1, max_resource=E, eta=3, mode="promotion"), random configurations
    shoal_hyperband     Hyperband(same, mode="promotion"), random configurations
    shoal_mf_hyperband  Hyperband(same) with MultiFidelitySampler() (its default: a GP on the
                        highest level with enough results, stopped trials imputed): the model-based method
    shoal_mf_hyperband_tpe  the same with MultiFidelitySampler(base=TPESampler(), unreached="drop")
                        (BOHB's rule; the sampler's default until mf-model's 11797fd / 6123352)
- Optuna's run Optuna's own study on the same training (`train_model` of the same split), calling
  `trial.report` / `trial.should_prune` every epoch:
    optuna_tpe          TPESampler, no pruner: the full-budget reference (40 trials = 40 * E epochs)
    optuna_tpe_sh       TPESampler + SuccessiveHalvingPruner(min_resource=1, reduction_factor=3)
    optuna_tpe_hb       TPESampler + HyperbandPruner(min_resource=1, max_resource=E, reduction_factor=3)

Every validation accuracy a method measures counts (a trial's score is its best epoch, as the task
objective returns), so each run is an incumbent trajectory over cumulative epochs trained (an epoch
restored from a checkpoint is not trained again, and not counted), with the wall and CPU seconds
of this process since the run started. The target is the mean over seeds of optuna_tpe's best after
its 40 trials; optuna_tpe runs first (every seed), then every other method runs until it reaches
the target or `--cap` epochs (default 20 * E: half the reference's budget), whichever comes first, so
the CPU spent stays bounded.

Run: OMP_NUM_THREADS=1 nice -n 19 python benchmarks/bench_mf_mnist1d.py [--quick] [--seeds N]
         [--epochs E] [--cap EPOCHS] [--methods NAME ...] [--out FILE]
     python benchmarks/bench_mf_mnist1d.py --report FILE [FILE ...]
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import gzip
import json
import math
import os
import platform
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

import shoal
from shoal.exceptions import TrialFailed, TrialPruned
from shoal.schedulers import ASHA, Decision, Hyperband
from shoal.space import Space
from shoal.torch import TaskSpec, train_model

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from bench_mixed import optuna_params, quiet
from bench_mnist1d import DIVERGED_SCORE, SPACE
from demo_task import DEMO_TASK

try:
    import optuna
except ModuleNotFoundError:
    raise SystemExit("bench_mf_mnist1d.py runs Optuna 5.0 beside shoal: "
                     "pip install -e '.[bench]' from shoal's root.") from None

REFERENCE, REFERENCE_TRIALS = "optuna_tpe", 40
ETA = 3
METHODS = ("optuna_tpe", "shoal_asha", "shoal_hyperband", "shoal_mf_hyperband", "shoal_mf_hyperband_tpe",
           "optuna_tpe_sh", "optuna_tpe_hb")
# PBT against the same population trained with fixed hyperparameters (--methods pbt_fixed pbt).
PBT_METHODS = ("pbt_fixed", "pbt")
PBT_POPULATION, PBT_INTERVAL = 8, 4
PBT_HYPERPARAMS = ("lr", "momentum", "weight_decay")  # what a fork may change in flight


# Recording -------------------------------------------------------------------------------------------
@dataclass
class Run:
    method: str
    seed: int
    epochs_per_trial: int
    target: float | None  # the accuracy the run stopped at (None: the reference, run to its budget)
    # Incumbent trajectory: [cumulative epochs, wall s, CPU s, best validation accuracy so far],
    # one point per improvement, and the last epoch trained.
    trajectory: list[list[float]] = field(default_factory=list)
    epochs: int = 0
    trials: int = 0
    wall_s: float = 0.0
    notes: dict[str, Any] = field(default_factory=dict)  # PBT: the winner and its schedule


class Recorder:
    """Counts every epoch trained once, in order, and keeps the incumbent trajectory of a run."""

    def __init__(self, run: Run, *, cap: int, target: float | None) -> None:
        self.run, self.cap, self.target = run, cap, target
        self.seen: set[tuple[int, int]] = set()
        self.best = -math.inf
        self.start, self.cpu0 = time.perf_counter(), time.process_time()
        self.done = False

    def epoch(self, trial: int, step: int, value: float) -> None:
        """An epoch's validation accuracy (`step` of trial `trial`); a step seen before is a restored one."""
        if (trial, step) in self.seen or self.done:
            return
        self.seen.add((trial, step))
        improved = math.isfinite(value) and value > self.best
        self.best = max(self.best, value) if math.isfinite(value) else self.best
        self.done = len(self.seen) >= self.cap or (self.target is not None and self.best >= self.target)
        if improved or self.done:
            self.run.trajectory.append([len(self.seen), round(time.perf_counter() - self.start, 2),
                                        round(time.process_time() - self.cpu0, 2), self.best])

    def finish(self, trials: int) -> Run:
        self.run.epochs, self.run.trials = len(self.seen), trials
        self.run.wall_s = round(time.perf_counter() - self.start, 2)
        last = self.run.trajectory[-1] if self.run.trajectory else None
        if last is not None and last[0] != len(self.seen):
            self.run.trajectory.append([len(self.seen), self.run.wall_s,
                                        round(time.process_time() - self.cpu0, 2), self.best])
        return self.run


class RecordingTrial:
    """A shoal Trial as the objective sees it, every value report also going to the Recorder; once
    the run is done the scheduler's decision reads STOP, so the running trial ends at that epoch."""

    def __init__(self, trial: Any, recorder: Recorder, stop: Callable[[], None]) -> None:
        self._trial, self._recorder, self._stop = trial, recorder, stop

    def __getattr__(self, name: str) -> Any:
        return getattr(self._trial, name)

    def report(self, value: float, step: int, *, name: str | None = None) -> None:
        self._trial.report(value, step, name=name)
        if name is None:
            self._recorder.epoch(self._trial.number, step, float(value))
            if self._recorder.done:
                self._stop()

    def decision(self) -> Decision:
        return Decision.STOP if self._recorder.done else self._trial.decision()


class OptunaTrialAdapter:
    """What the harness reads of a trial (report, decision, start_step), over an Optuna trial."""

    start_step = 0
    resume_step = None

    def __init__(self, trial: Any, recorder: Recorder) -> None:
        self.trial, self.recorder = trial, recorder

    def report(self, value: float, step: int, *, name: str | None = None) -> None:
        if name is None and math.isfinite(value):
            self.trial.report(value, step)
            self.recorder.epoch(self.trial.number, step, float(value))

    def decision(self) -> Decision:
        return Decision.STOP if self.recorder.done or self.trial.should_prune() else Decision.CONTINUE


# Methods ---------------------------------------------------------------------------------------------
def task_spec(epochs: int) -> TaskSpec:
    return TaskSpec.from_dict({**DEMO_TASK, "epochs": epochs, "threads": 1, "device": "cpu"})


@contextlib.contextmanager
def artifacts_folder() -> Iterator[str]:
    """Checkpoints of an in-memory study go under $SHOAL_ARTIFACTS: a fresh folder per run."""
    old = os.environ.get("SHOAL_ARTIFACTS")
    with tempfile.TemporaryDirectory(prefix="shoal-mf-bench-") as folder:
        os.environ["SHOAL_ARTIFACTS"] = folder
        try:
            yield folder
        finally:
            if old is None:
                os.environ.pop("SHOAL_ARTIFACTS", None)
            else:
                os.environ["SHOAL_ARTIFACTS"] = old


def shoal_parts(method: str, seed: int, epochs: int) -> tuple[Any, Any]:
    s = shoal.samplers
    if method == "shoal_asha":
        return s.RandomSampler(seed=seed), ASHA(min_resource=1, max_resource=epochs,
                                                reduction_factor=ETA, mode="promotion")
    hyperband = Hyperband(min_resource=1, max_resource=epochs, reduction_factor=ETA, mode="promotion")
    if method == "shoal_hyperband":
        return s.RandomSampler(seed=seed), hyperband
    if method == "shoal_mf_hyperband":  # the default: a GP base, stopped trials imputed
        return s.MultiFidelitySampler(seed=seed), hyperband
    if method == "shoal_mf_hyperband_tpe":  # BOHB's rule: TPE on the level, stopped trials dropped
        return s.MultiFidelitySampler(base=s.TPESampler(seed=seed), unreached="drop"), hyperband
    raise ValueError(method)


def run_shoal(method: str, seed: int, epochs: int, *, cap: int, target: float | None) -> Run:
    sampler, scheduler = shoal_parts(method, seed, epochs)
    recorder = Recorder(Run(method, seed, epochs, target), cap=cap, target=target)
    with artifacts_folder():
        study = shoal.create_study(name=f"{method}-{seed}", direction="maximize", sampler=sampler,
                                   scheduler=scheduler, space=Space.from_dict(SPACE))
        task = task_spec(epochs).objective()

        def objective(trial: Any) -> float:
            return task(RecordingTrial(trial, recorder, study.stop))

        # n_trials counts new configurations; the run ends at the cap or the target (study.stop()).
        study.optimize(objective, n_trials=cap, catch=(TrialFailed,), max_consecutive_failures=None)
        trials = study.trials
        recorder.run.notes = {"resumes": sum(t.resumes for t in trials),
                              "states": dict(Counter(t.state.name for t in trials))}
        return recorder.finish(len(trials))


def optuna_pruner(method: str, epochs: int) -> Any:
    if method == "optuna_tpe_sh":
        return optuna.pruners.SuccessiveHalvingPruner(min_resource=1, reduction_factor=ETA)
    if method == "optuna_tpe_hb":
        return optuna.pruners.HyperbandPruner(min_resource=1, max_resource=epochs, reduction_factor=ETA)
    return optuna.pruners.NopPruner()


def run_optuna(method: str, seed: int, epochs: int, *, cap: int, target: float | None) -> Run:
    spec = task_spec(epochs)
    [(fit_data, val_data)] = spec.load().train.split(spec.protocol)
    recorder = Recorder(Run(method, seed, epochs, target), cap=cap, target=target)
    study = optuna.create_study(direction="maximize", sampler=optuna.samplers.TPESampler(seed=seed),
                                pruner=optuna_pruner(method, epochs))

    def objective(trial: Any) -> float:
        params = optuna_params(trial, SPACE)
        try:
            _, result = train_model(spec, params, fit_data, val_data,
                                    trial=OptunaTrialAdapter(trial, recorder),  # type: ignore[arg-type]
                                    checkpoints=False, seed=spec.seed)
        except TrialPruned:
            if recorder.done:
                study.stop()
            raise optuna.TrialPruned() from None
        except TrialFailed:  # diverged: chance accuracy, as bench_mnist1d.py scores it
            return DIVERGED_SCORE
        finally:
            if recorder.done:
                study.stop()
        score = result.best_metric
        return float(score) if score is not None and math.isfinite(score) else DIVERGED_SCORE

    n_trials = REFERENCE_TRIALS if method == REFERENCE else None
    study.optimize(objective, n_trials=n_trials)
    return recorder.finish(len(study.trials))


def founders(seed: int, population: int) -> list[dict[str, Any]]:
    """The first `population` configurations RandomSampler(seed) draws for the space."""
    study = shoal.create_study(sampler=shoal.samplers.RandomSampler(seed=seed), space=Space.from_dict(SPACE))
    return [dict(study.ask().params) for _ in range(population)]


def run_population(method: str, seed: int, epochs: int, *, cap: int, target: float | None) -> Run:
    """PBT(population 8, interval 4 epochs, lr / momentum / weight decay perturbed x0.8 / x1.2 or
    resampled), or ("pbt_fixed") the same 8 founders (RandomSampler, same seed) trained with their
    fixed hyperparameters for the full `epochs`. PBT runs until it ends or has trained `cap`
    epochs (main passes 8 * epochs: what the fixed population trains)."""
    from shoal.schedulers import PBT, NoStopping, hyperparameter_schedule

    population, interval = PBT_POPULATION, PBT_INTERVAL
    if epochs < 2 * interval:  # --quick
        population, interval = 4, 1
    scheduler = (PBT(population=population, interval=interval, hyperparams=PBT_HYPERPARAMS, seed=seed,
                     max_step=epochs - 1) if method == "pbt" else NoStopping())
    recorder = Recorder(Run(method, seed, epochs, target), cap=cap, target=target)
    with artifacts_folder():
        study = shoal.create_study(name=f"{method}-{seed}", direction="maximize",
                                   sampler=shoal.samplers.RandomSampler(seed=seed), scheduler=scheduler,
                                   space=Space.from_dict(SPACE))
        # Both populations start from the same founders: RandomSampler(seed)'s draws for trials
        # 0..population-1, enqueued (PBT's forks take trial numbers too, so drawing them inside the
        # PBT study would give later founders other numbers, hence other configurations).
        for params in founders(seed, population):
            study.enqueue_trial(params)
        task = task_spec(epochs).objective()

        def objective(trial: Any) -> float:
            return task(RecordingTrial(trial, recorder, study.stop))

        # n_trials = the founders; PBT's forks and resumes are continuations and use no budget.
        study.optimize(objective, n_trials=population, catch=(TrialFailed,), max_consecutive_failures=None)
        trials = study.trials
    last = [t for t in trials if t.intermediate.get(epochs - 1) is not None]
    if last:
        winner = max(last, key=lambda t: t.intermediate[epochs - 1])
        schedule = (hyperparameter_schedule(winner, trials) if method == "pbt"
                    else [(0, dict(winner.params))])
        recorder.run.notes = {
            "best_at_last_epoch": winner.intermediate[epochs - 1], "winner": winner.number,
            "founders": [dict(t.params) for t in trials if t.forked_from is None],
            "winner_schedule": [[step, {k: p[k] for k in PBT_HYPERPARAMS if k in p}]
                                for step, p in schedule]}
    return recorder.finish(len(trials))


def one_run(method: str, seed: int, epochs: int, *, cap: int, target: float | None) -> Run:
    runner = (run_optuna if method.startswith("optuna")
              else run_population if method in PBT_METHODS else run_shoal)
    torch.manual_seed(seed)
    run = runner(method, seed, epochs, cap=cap, target=target)
    best = run.trajectory[-1][3] if run.trajectory else float("nan")
    print(f"  {method} seed {seed}: best {best:.4f} after {run.epochs} epochs, {run.trials} trials, "
          f"{run.wall_s:.0f} s", file=sys.stderr, flush=True)
    return run


# Reporting -------------------------------------------------------------------------------------------
def read_runs(paths: list[str]) -> list[Run]:
    """Every run recorded in `paths` (JSON lines, plain or gzip-compressed `.gz`)."""
    runs = []
    for path in paths:
        with gzip.open(path, "rt") if path.endswith(".gz") else open(path) as f:
            runs += [Run(**json.loads(line)) for line in f if line.strip()]
    return runs


def target_of(runs: list[Run]) -> float | None:
    """Mean over seeds of the reference's best after its full budget."""
    finals = [r.trajectory[-1][3] for r in runs if r.method == REFERENCE and r.trajectory]
    return float(np.mean(finals)) if finals else None


def reached(run: Run, target: float) -> tuple[float, float, float] | None:
    """(epochs, wall s, CPU s) at the first point of the trajectory at or above `target`."""
    for epochs, wall, cpu, best in run.trajectory:
        if best >= target - 1e-12:
            return epochs, wall, cpu
    return None


def spread(values: list[float], n: int, fmt: str) -> str:
    """Median [min, max] over the n seeds; a seed that did not reach counts as infinite."""
    if not values:
        return "not reached"
    full = sorted(values) + [math.inf] * (n - len(values))
    med = float(np.median(full))
    text = (fmt.format(med) if math.isfinite(med) else "not reached")
    return f"{text} [{fmt.format(min(values))}, " + (
        f"{fmt.format(max(values))}]" if len(values) == n else "not reached]")


def table(runs: list[Run]) -> str:
    target = target_of(runs)
    if target is None:
        return pbt_table(runs) or f"No {REFERENCE} runs: no target."
    names = [m for m in METHODS if any(r.method == m for r in runs)]  # PBT's runs: pbt_table
    hits = {m: [(r, reached(r, target)) for r in runs if r.method == m] for m in names}
    ref = [h[0] for _, h in hits[REFERENCE] if h is not None]
    n_ref = len(hits[REFERENCE])
    ref_med = float(np.median(sorted(ref) + [math.inf] * (n_ref - len(ref))))
    out = [f"Target: {REFERENCE}'s best validation accuracy after {REFERENCE_TRIALS} trials, mean over "
           f"{n_ref} seeds = {target:.4f}. Median [min, max] over seeds; 'not reached' counts as "
           "infinite.\n",
           "| method | seeds reached | epochs to target | TPE's epochs / these (medians) | "
           "wall s to target | CPU s to target | epochs run (median) | best reached (mean) |",
           "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for m in names:
        got = [h for _, h in hits[m] if h is not None]
        n = len(hits[m])
        epochs = [h[0] for h in got]
        med = float(np.median(sorted(epochs) + [math.inf] * (n - len(epochs))))
        ratio = f"{ref_med / med:.2f}" if math.isfinite(med) and math.isfinite(ref_med) else "-"
        mine = [r for r, _ in hits[m]]
        out.append(f"| {m} | {len(got)} / {n} | {spread(epochs, n, '{:.0f}')} | {ratio} | "
                   f"{spread([h[1] for h in got], n, '{:.0f}')} | "
                   f"{spread([h[2] for h in got], n, '{:.0f}')} | "
                   f"{np.median([r.epochs for r in mine]):.0f} | "
                   f"{np.mean([r.trajectory[-1][3] for r in mine if r.trajectory]):.4f} |")
    out += ["", "Best validation accuracy so far after each number of epochs trained (mean ± std over "
            "seeds; a run that stopped at the target keeps its value; '-': a run stopped at its cap "
            "before):", "", budget_table(runs)]
    return "\n".join(out) + ("\n\n" + pbt_table(runs) if pbt_table(runs) else "")


BUDGETS = (100, 200, 300, 800)  # epochs at which the second table reads the incumbents


def best_at(run: Run, epochs: int) -> float | None:
    """The incumbent after `epochs` epochs trained; a run that ended before keeps its last value (the
    reference: its full budget; another: a lower bound, it stopped at the target); None when the
    run stopped at its cap before `epochs`."""
    if run.epochs < epochs and run.target is not None and not (
            run.trajectory and run.trajectory[-1][3] >= run.target):
        return None
    values = [p[3] for p in run.trajectory if p[0] <= epochs]
    return values[-1] if values else None


def budget_table(runs: list[Run]) -> str:
    names = [m for m in METHODS if any(r.method == m for r in runs)]
    out = ["| method | " + " | ".join(f"best after {e} epochs" for e in BUDGETS) + " | TPE's epochs to "
           f"reach the best after {BUDGETS[2]} / {BUDGETS[2]} (median over seeds) |",
           "|---|" + "---:|" * (len(BUDGETS) + 1)]
    for m in names:
        cells = []
        for e in BUDGETS:
            values = [best_at(r, e) for r in runs if r.method == m]
            ok = [v for v in values if v is not None]
            cells.append(f"{np.mean(ok):.4f} ± {np.std(ok):.4f}" if len(ok) == len(values) else "-")
        out.append(f"| {m} | " + " | ".join(cells) + f" | {speedup_at(runs, m, BUDGETS[2])} |")
    return "\n".join(out)


def speedup_at(runs: list[Run], method: str, epochs: int) -> str:
    """Median over seeds of (epochs the reference needed, same seed, to reach the incumbent
    `method` had after `epochs` epochs) / `epochs`; a seed where the reference never reached it
    counts as infinite (at least its budget / `epochs`)."""
    ref = {r.seed: r for r in runs if r.method == REFERENCE}
    ratios = []
    for run in (r for r in runs if r.method == method and r.seed in ref):
        value = best_at(run, epochs)
        if value is None:
            return "-"
        hit = reached(ref[run.seed], value)
        ratios.append(hit[0] / epochs if hit is not None else math.inf)
    if not ratios:
        return "-"
    med = float(np.median(ratios))
    beyond = max(r.epochs for r in ref.values()) / epochs
    return (f"{med:.2f}" if math.isfinite(med) else f"> {beyond:.2f}") + \
        f" ({sum(math.isinf(x) for x in ratios)} of {len(ratios)} beyond TPE's budget)"


def pbt_table(runs: list[Run]) -> str:
    """Per seed: the best validation accuracy of each population (any member, any epoch) and at the
    last epoch; PBT's margin over the fixed population, its mean and spread over seeds."""
    fixed = {r.seed: r for r in runs if r.method == "pbt_fixed"}
    pbt = {r.seed: r for r in runs if r.method == "pbt"}
    seeds = sorted(set(fixed) & set(pbt))
    if not seeds:
        return ""
    out = ["| seed | fixed: best | PBT: best | PBT - fixed | fixed: best at last epoch | "
           "PBT: best at last epoch | epochs fixed / PBT | PBT trials |",
           "|---:|---:|---:|---:|---:|---:|---:|---:|"]
    margins, last_margins = [], []
    for seed in seeds:
        f, p = fixed[seed], pbt[seed]
        fb, pb = f.trajectory[-1][3], p.trajectory[-1][3]
        fl, pl = f.notes.get("best_at_last_epoch", math.nan), p.notes.get("best_at_last_epoch", math.nan)
        margins.append(pb - fb)
        last_margins.append(pl - fl)
        out.append(f"| {seed} | {fb:.4f} | {pb:.4f} | {pb - fb:+.4f} | {fl:.4f} | {pl:.4f} | "
                   f"{f.epochs} / {p.epochs} | {p.trials} |")
    out.append("")
    for name, values in (("best (any epoch)", margins), ("best at the last epoch", last_margins)):
        sd = float(np.std(values, ddof=1)) if len(values) > 1 else math.nan
        out.append(f"PBT - fixed, {name}: mean {np.mean(values):+.4f}, sd over seeds {sd:.4f}, standard "
                   f"error {sd / math.sqrt(len(values)):.4f}; PBT better on {sum(v > 0 for v in values)} "
                   f"of {len(values)} seeds")
    return "\n".join(out)


def machine_facts(args: argparse.Namespace) -> str:
    return "\n".join([
        f"- date: {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}",
        f"- machine: {platform.platform()}, {os.cpu_count()} cores; load average at start (1/5/15 min): "
        "{:.2f} / {:.2f} / {:.2f}".format(*os.getloadavg()),
        f"- python {platform.python_version()}, shoal {shoal.__version__}, optuna {optuna.__version__}, "
        f"torch {torch.__version__}, one torch thread, one process, one worker",
        f"- task: MLP on MNIST-1D, at most {args.epochs} epochs per trial, 80/20 holdout, training seed 0; "
        f"runs other than {REFERENCE} stop at the target or {args.cap} epochs",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--epochs", type=int, default=20, help="epochs of a full trial (max_resource)")
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--cap", type=int, default=None,
                    help="epochs after which a run other than the reference stops (default: half of "
                         "the reference's 40 trials, 20 * epochs)")
    ap.add_argument("--methods", nargs="*", default=None,
                    help=f"subset of {' '.join(METHODS)} (default), or of {' '.join(PBT_METHODS)}")
    ap.add_argument("--target", type=float, default=None,
                    help="the accuracy to stop at, when optuna_tpe is not among --methods")
    ap.add_argument("--quick", action="store_true", help="3 epochs, 1 seed, 3 reference trials, cap 9")
    ap.add_argument("--out", default=None, help="append every run as a JSON line here")
    ap.add_argument("--report", nargs="*", default=None, help="only print the table of earlier --out files")
    args = ap.parse_args()
    if args.report:
        print(table(read_runs(args.report)))
        return
    global REFERENCE_TRIALS
    if args.quick:
        args.epochs, args.seeds, REFERENCE_TRIALS = 3, 1, 3
        args.cap = args.cap or 9
    args.cap = args.cap or REFERENCE_TRIALS * args.epochs // 2
    methods = args.methods or list(METHODS)
    quiet()
    torch.set_num_threads(1)
    print(f"## Multi-fidelity on the MNIST-1D MLP: at most {args.epochs} epochs per trial, "
          f"{args.seeds} seeds\n")
    print(machine_facts(args) + "\n", flush=True)
    seeds = range(args.first_seed, args.first_seed + args.seeds)
    runs: list[Run] = []

    def keep(run: Run) -> None:
        runs.append(run)
        if args.out:
            with open(args.out, "a") as f:
                f.write(json.dumps(run.__dict__) + "\n")

    target = args.target
    if REFERENCE in methods:
        for seed in seeds:
            keep(one_run(REFERENCE, seed, args.epochs, cap=10**9, target=None))
        target = target_of(runs)
    for seed in seeds:  # seed by seed: a run cut short still has every method on its first seeds
        for method in (m for m in methods if m != REFERENCE):
            if method in PBT_METHODS:  # no target; PBT stops at the fixed population's epochs
                size = PBT_POPULATION if args.epochs >= 2 * PBT_INTERVAL else 4
                keep(one_run(method, seed, args.epochs, cap=size * args.epochs, target=None))
            else:
                keep(one_run(method, seed, args.epochs, cap=args.cap, target=target))
    print(table(runs))


if __name__ == "__main__":
    main()
