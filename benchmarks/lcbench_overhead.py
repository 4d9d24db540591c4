"""`bench_lcbench.py --overhead`: what one scheduler decision and one suggestion cost at 1,000 trials.

A method first builds its own history: the harness runs it on one LCBench task (4 workers, simulated
time, no budget) until `n_trials` configurations have started; the run's overhead per decision
(every `start` and `report`, through the Study) is printed as measured. Then, on that history, each
call is timed alone, on shoal's objects directly:

- `scheduler.decide(trial, history)` for trials at their last reported step (at a rung step where
  the scheduler has `rung_steps`: those are the decisions that rank), as RUNNING snapshots;
- `scheduler.next_job(history)` for a scheduler that suggests jobs (`SuggestsJobs`);
- `sampler.suggest(space, History(history, n), rng)`, the proposal for trial n.

Times are ms per call, CPU time of the calling thread (median, mean, max over the repetitions) and
the wall-clock median: on a shared machine the wall time grows with the load, the CPU time much less.
"""

from __future__ import annotations

import dataclasses
import pickle
import time
from collections.abc import Callable
from typing import Any

import lcbench_plugin
import numpy as np

import shoal
from shoal.samplers import History
from shoal.schedulers import SuggestsJobs


class Capped:
    """An adapter that starts nothing new once `n` trials exist (resumes still run before that)."""

    def __init__(self, inner: lcbench_plugin.ShoalAdapter, n: int) -> None:
        self.inner, self.n = inner, n

    def start(self, now: float) -> Any:
        if len(self.inner.study.trials) >= self.n:
            return None
        return self.inner.start(now)

    def report(self, trial_id: int, epoch: int, value: float, now: float) -> str:
        return self.inner.report(trial_id, epoch, value, now)


def _time(call: Callable[[], Any], reps: int) -> list[tuple[float, float]]:
    """(CPU ms, wall ms) of each of `reps` calls."""
    out = []
    for _ in range(reps):
        cpu, wall = time.thread_time(), time.perf_counter()
        call()
        out.append((1000 * (time.thread_time() - cpu), 1000 * (time.perf_counter() - wall)))
    return out


def _row(what: str, times: list[tuple[float, float]]) -> str:
    cpu = [c for c, _ in times]
    wall = [w for _, w in times]
    return (f"| {what} | {len(times)} | {np.median(cpu):.3f} | {np.mean(cpu):.3f} | {max(cpu):.3f} | "
            f"{np.median(wall):.3f} |")


def overhead(*, methods: list[str], n_trials: int, task: str, reps: int = 30) -> str:
    """Markdown: per method, the run's overhead and each call timed on a history of n_trials."""
    out = [f"## Overhead at {n_trials} trials (history built on LCBench task {task}, seed 0)"]
    for name in methods:
        if name not in lcbench_plugin.METHODS:
            raise SystemExit(f"Error: --overhead times shoal's methods only; {name!r} is not one of "
                             f"{sorted(lcbench_plugin.METHODS)}.")
        out += _method(name, n_trials=n_trials, task=task, reps=reps)
    return "\n".join(out)


def _method(name: str, *, n_trials: int, task: str, reps: int) -> list[str]:
    from harness import simulate

    adapter = lcbench_plugin.METHODS[name](0)
    started = time.perf_counter()
    row = simulate(Capped(adapter, n_trials), task, float("inf"))
    wall = time.perf_counter() - started
    study = adapter.study
    history = study.trials
    sampler, scheduler, space = study.sampler, study.scheduler, study.space
    states: dict[str, int] = {}
    for t in history:
        states[t.state.name] = states.get(t.state.name, 0) + 1
    counts = ", ".join(f"{k} {v}" for k, v in sorted(states.items()))
    oh = row["overhead"]
    out = [f"\n### {name}: {lcbench_plugin.RECIPES[name][2]}\n",
           f"Building run: {len(history)} trials ({counts}), {row['epochs_trained']} epochs, {wall:.1f} s; "
           f"through the Study: {oh['per_decision_ms']:.3f} ms per decision on average over the run "
           f"({oh['start_calls']} starts at {oh['per_start_ms']:.3f} ms, {oh['report_calls']} reports at "
           f"{oh['per_report_ms']:.3f} ms, max {oh['max_decision_ms']:.1f} ms).\n",
           "| call on the final history | reps | CPU median ms | CPU mean ms | CPU max ms | wall median ms |",
           "|---|---:|---:|---:|---:|---:|"]
    rungs = set(getattr(scheduler, "rung_steps", ()) or ())
    reported = [t for t in history if t.intermediate]
    at_rung = [t for t in reported if max(t.intermediate) in rungs]
    pool = at_rung or reported
    gen = np.random.default_rng(1)
    picks = np.random.default_rng(0).choice(len(pool), size=min(reps, len(pool)), replace=False)
    ms: list[tuple[float, float]] = []
    for i in picks:
        snap = dataclasses.replace(pool[i], state=shoal.TrialState.RUNNING)
        ms += _time(lambda snap=snap: scheduler.decide(snap, history), 1)
    out.append(_row(f"decide ({type(scheduler).__name__}{', at rung steps' if at_rung else ''})", ms))
    if isinstance(scheduler, SuggestsJobs):
        fresh = iter([_fresh(scheduler) for _ in range(reps)])
        out.append(_row("next_job (first call: builds its rung index)",
                        _time(lambda: next(fresh).next_job(history), reps)))
        out.append(_row("next_job (nothing changed since the last call)",
                        _time(lambda: scheduler.next_job(history), reps)))
        out.append(_row("next_job (one trial changed since the last call, as in a run)",
                        _time(lambda: scheduler.next_job(_one_changed(history, gen)), reps)))
    out.append(_row(f"suggest ({type(sampler).__name__})",
                    _time(lambda: sampler.suggest(space, History(history, len(history)), gen), reps)))
    return out


def _fresh(scheduler: Any) -> Any:
    """A copy of the scheduler with no memo, as a new process has it."""
    return pickle.loads(pickle.dumps(scheduler))


def _one_changed(history: list[shoal.FrozenTrial], gen: np.random.Generator) -> list[shoal.FrozenTrial]:
    """The history with one trial replaced by an equal new object: what a study's cache hands over
    after a worker's report (the index re-reads exactly that trial)."""
    i = int(gen.integers(len(history)))
    history[i] = dataclasses.replace(history[i])
    return history
