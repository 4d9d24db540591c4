"""shoal's multi-fidelity methods as a plugin for the LCBench anchors' harness.

    cd ../shared/bench/lcbench/anchors
    PYTHONPATH=<shoal>/src python run.py --plugin <shoal>/benchmarks/lcbench_plugin.py \\
        --methods shoal --tasks dev --seeds 0-2 --out /tmp/shoal.jsonl

`METHODS = {name: make}`; `make(seed)` returns an adapter the harness (`harness.simulate`) drives:
`start(now) -> Job | None` when a worker is free and `report(trial_id, epoch, value, now)` ->
"continue" | "stop" | "pause" after every epoch. The adapter drives shoal's own objects, the ones
`Study.optimize` uses: a `Study` over in-memory storage with the method's sampler and scheduler,
a declared space (LCBench's 7 hyperparameters) and a `FakeClock` moved to the harness's simulated
time. A free worker does what a worker of `Study.optimize` does (`study/_optimize.run_worker`):
`study.next_job()`, the scheduler's continuation (a resumed trial keeps its number: the adapter
hands the harness `Job(number, resume=True)`; "wait" leaves the worker idle until the next event),
else `study.ask_new()`, a new configuration from the sampler. After every epoch
`trial.report(val_accuracy, epoch)` and `trial.decision()`: CONTINUE -> "continue"; STOP ->
`tell(state=PRUNED)`, "stop"; PAUSE -> `tell(state=PAUSED)`, "pause"; epoch 52 -> `tell(val_accuracy)`.

Trial ids in the harness are shoal's trial numbers. The study maximises `val_accuracy`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
# ../shared/bench/lcbench beside shoal's root (or beside a folder above it, for a git worktree)
LCBENCH_DIR = Path(os.environ.get("LCBENCH_DIR") or next(
    (p / "shared/bench/lcbench" for p in HERE.parents if (p / "shared/bench/lcbench").is_dir()),
    HERE.parents[1] / "shared" / "bench" / "lcbench"))
ANCHORS_DIR = LCBENCH_DIR / "anchors"
if str(ANCHORS_DIR) not in sys.path:  # run.py puts it there; a direct import needs it too
    sys.path.insert(0, str(ANCHORS_DIR))

import shoal  # noqa: E402
from harness import Job  # noqa: E402  (the anchors' harness: ../shared/bench/lcbench/anchors)
from shoal.clock import FakeClock  # noqa: E402
from shoal.schedulers import Decision  # noqa: E402

MAX_EPOCH = 52
# name: (low, high, kind, log), LCBench.SPACE of ../shared/bench/lcbench/lcbench.py
SPACE = {
    "batch_size": (16, 512, "int", True),
    "learning_rate": (1e-4, 1e-1, "float", True),
    "momentum": (0.1, 0.99, "float", False),
    "weight_decay": (1e-5, 1e-1, "float", False),
    "num_layers": (1, 5, "int", False),
    "max_units": (64, 1024, "int", True),
    "max_dropout": (0.0, 1.0, "float", False),
}
# A simulated run has no dead workers; the heartbeat must not fail trials whose simulated epochs
# take longer than a real heartbeat's grace (it beats in real time, the clock is simulated).
NO_HEARTBEAT = shoal.Heartbeat(interval=1e6, grace=1e9)


def shoal_space() -> shoal.Space:
    """LCBench's search space, declared in shoal (log scales where LCBench's are log)."""
    params: dict[str, Any] = {}
    for name, (low, high, kind, log) in SPACE.items():
        if kind == "int":
            params[name] = shoal.Int(int(low), int(high), log=log)
        else:
            params[name] = shoal.Float(float(low), float(high), scale="log" if log else "linear")
    return shoal.Space(params)


class ShoalAdapter:
    """One simulated tuning run: a shoal Study that the harness's workers ask and report to."""

    def __init__(self, *, sampler: Any, scheduler: Any) -> None:
        self.clock = FakeClock(0.0)
        self.study = shoal.create_study(direction="maximize", sampler=sampler, scheduler=scheduler,
                                        space=shoal_space(), clock=self.clock, heartbeat=NO_HEARTBEAT)
        self.live: dict[int, Any] = {}  # trial number -> the running shoal Trial
        self.paused: set[int] = set()
        self.decisions: dict[str, int] = {"continue": 0, "stop": 0, "pause": 0}

    def _tick(self, now: float) -> None:
        self.clock.advance(max(0.0, now - self.clock.now()))

    def start(self, now: float) -> Job | None:
        self._tick(now)
        # What a worker of `Study.optimize` does (study/_optimize.run_worker): the scheduler's
        # continuation first; "wait" leaves this worker idle until the harness's next event.
        job = self.study.next_job()
        if job is not None and job.wait:
            return None
        trial = self.study.start_job(job) if job is not None else None
        if trial is None:
            trial = self.study.ask_new()
        self.live[trial.number] = trial
        if trial.number in self.paused:  # the scheduler resumed a paused trial
            self.paused.discard(trial.number)
            return Job(trial.number, resume=True)
        return Job(trial.number, {name: trial.params[name] for name in SPACE})

    def report(self, trial_id: int, epoch: int, value: float, now: float) -> str:
        self._tick(now)
        trial = self.live[trial_id]
        trial.report(value, epoch)
        if epoch >= MAX_EPOCH:
            del self.live[trial_id]
            self.study.tell(trial, value)
            return "stop"
        decision = trial.decision()
        if decision is Decision.STOP:
            del self.live[trial_id]
            self.study.tell(trial, state=shoal.TrialState.PRUNED)
            out = "stop"
        elif decision is Decision.PAUSE:
            del self.live[trial_id]
            self.study.tell(trial, state=shoal.TrialState.PAUSED)
            self.paused.add(trial_id)
            out = "pause"
        else:
            out = "continue"
        self.decisions[out] += 1
        return out


# Methods -----------------------------------------------------------------------------------------
# Each is (sampler factory, scheduler factory, description), seeded by the harness's seed. A method
# whose scheduler or sampler is not in this shoal yet is left out of METHODS (see _available).


def _sampler(name: str, **options: Any) -> Callable[[int], Any]:
    return lambda seed: getattr(shoal.samplers, name)(seed=seed, **options)


def _multi_fidelity(base: str) -> Callable[[int], Any]:
    """mf-model's MultiFidelitySampler over `base`, named explicitly (its default base may change)."""
    return lambda seed: shoal.samplers.MultiFidelitySampler(base=getattr(shoal.samplers, base)(seed=seed))


def _scheduler(name: str, **options: Any) -> Callable[[int], Any]:
    return lambda seed: getattr(shoal.schedulers, name)(**options)


RUNGS = dict(min_resource=1, max_resource=MAX_EPOCH, reduction_factor=3)
RECIPES: dict[str, tuple[Callable[[int], Any], Callable[[int], Any], str]] = {
    # The default multi-fidelity method a user gets. Chosen from the 17 development tasks x 3 seeds
    # (benchmarks/RESULTS.md, section 12): the multi-fidelity TPE in Hyperband's promotion form had
    # the lowest regret at 10 % and 100 % of T and the best median speed-up of shoal's recipes.
    # What a user gets from create_study(scheduler=Hyperband(mode="promotion", ...)) with no sampler:
    # MultiFidelitySampler with its default GP base (seeded here, for reproducible runs).
    "shoal": (_multi_fidelity("GPSampler"), _scheduler("Hyperband", mode="promotion", **RUNGS),
              "MultiFidelitySampler(base=GPSampler) + Hyperband(promotion, min 1, max 52, eta 3)"),
    "shoal-asha-stop": (_sampler("TPESampler"), _scheduler("ASHA", mode="stopping", **RUNGS),
                        "TPESampler + ASHA(stopping, min 1, max 52, eta 3)"),
    "shoal-asha-prom": (_sampler("TPESampler"), _scheduler("ASHA", mode="promotion", **RUNGS),
                        "TPESampler + ASHA(promotion, min 1, max 52, eta 3)"),
    "shoal-hb": (_sampler("TPESampler"), _scheduler("Hyperband", mode="promotion", **RUNGS),
                 "TPESampler + Hyperband(promotion, min 1, max 52, eta 3)"),
    "shoal-random-asha": (_sampler("RandomSampler"), _scheduler("ASHA", mode="promotion", **RUNGS),
                          "RandomSampler + ASHA(promotion, min 1, max 52, eta 3)"),
    "shoal-mf-tpe": (_multi_fidelity("TPESampler"), _scheduler("ASHA", mode="promotion", **RUNGS),
                     "MultiFidelitySampler(base=TPE) + ASHA(promotion, min 1, max 52, eta 3)"),
    "shoal-mf-tpe-hb": (_multi_fidelity("TPESampler"), _scheduler("Hyperband", mode="promotion", **RUNGS),
                        "MultiFidelitySampler(base=TPE) + Hyperband(promotion, min 1, max 52, eta 3)"),
    "shoal-mf-gp": (_multi_fidelity("GPSampler"), _scheduler("ASHA", mode="promotion", **RUNGS),
                    "MultiFidelitySampler(base=GPSampler) + ASHA(promotion, min 1, max 52, eta 3)"),
    "shoal-mf-gp-hb": (_multi_fidelity("GPSampler"), _scheduler("Hyperband", mode="promotion", **RUNGS),
                       "MultiFidelitySampler(base=GPSampler) + Hyperband(promotion, min 1, max 52, eta 3)"),
    "shoal-mf-gp-asha-stop": (_multi_fidelity("GPSampler"), _scheduler("ASHA", mode="stopping", **RUNGS),
                              "MultiFidelitySampler(base=GPSampler) + ASHA(stopping, min 1, max 52, eta 3)"),
    "shoal-tpe": (_sampler("TPESampler"), _scheduler("NoStopping"),
                  "TPESampler, full 52 epochs (NoStopping)"),
    "shoal-tpe-median": (_sampler("TPESampler"), _scheduler("MedianStopping"),
                         "TPESampler + MedianStopping() (5 trials, no warm-up)"),
    "shoal-random": (_sampler("RandomSampler"), _scheduler("NoStopping"),
                     "RandomSampler, full 52 epochs (NoStopping)"),
}


def _available(name: str) -> bool:
    sampler, scheduler, _ = RECIPES[name]
    try:
        sampler(0)
        scheduler(0)
    except (AttributeError, ImportError):  # not in this shoal yet (another branch of issue 17)
        return False
    return True


def make_method(name: str) -> Callable[[int], ShoalAdapter]:
    """`make(seed)` for the recipe `name`."""
    sampler, scheduler, _ = RECIPES[name]

    def make(seed: int) -> ShoalAdapter:
        return ShoalAdapter(sampler=sampler(seed), scheduler=scheduler(seed))

    make.__name__ = f"make_{name.replace('-', '_')}"
    return make


METHODS = {name: make_method(name) for name in RECIPES if _available(name)}
SETTINGS = {name: {"library": f"shoal {shoal.__version__}", "method": RECIPES[name][2],
                   "driven_by": "Study.ask / Trial.report / Trial.decision / Study.tell, "
                                "in-memory storage, FakeClock at the simulated time"}
            for name in METHODS}
