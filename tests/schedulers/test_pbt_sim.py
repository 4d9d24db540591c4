"""PBT's decisions and jobs driven to the end by a small simulated study, for 1 to 8 workers.

The driver does what MF_API.md says a study does with them (STOP -> PRUNED, PAUSE -> PAUSED,
fork -> a new RUNNING trial from the parent's state at `step` with `params` applied, resume ->
the same trial RUNNING again, wait -> idle, None -> a new configuration while the budget lasts),
with workers taking one step each in turn. It checks liveness and bookkeeping: the run ends with
nothing paused, every exploited member is replaced exactly once, the population stays whole, and
the final members trained all `STEPS` steps.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import pytest

from shoal.schedulers import PBT, Decision, hyperparameter_schedule
from shoal.space import Float
from shoal.trial import FrozenTrial, TrialState

STEPS = 24
LR = Float(1e-3, 1.0, log=True)


@dataclass
class Record:
    trial: FrozenTrial
    state: dict[int, float] = field(default_factory=dict)  # the "checkpoint" m at each step


def _train(m: float, lr: float) -> float:
    return (1.0 - lr) ** 2 * m + lr ** 2


def simulate(workers: int, seed: int) -> tuple[dict[int, Record], PBT, int]:
    pbt = PBT(population=8, interval=4, max_step=STEPS - 1, seed=seed)
    rng = np.random.default_rng(seed)
    records: dict[int, Record] = {}
    busy: dict[int, int] = {}  # worker -> trial number
    retired: set[int] = set()
    founders, rounds = 0, 0

    def history() -> list[FrozenTrial]:
        return [r.trial for r in records.values()]

    def new(trial: FrozenTrial, state: dict[int, float]) -> int:
        records[trial.number] = Record(trial, state)
        return trial.number

    while len(retired) < workers:
        rounds += 1
        assert rounds < 10_000, "the simulated study does not end"
        for w in range(workers):
            if w in busy or w in retired:
                continue
            job = pbt.next_job(history())
            n = len(records)
            if job is None:
                if founders >= pbt.population:
                    if not any(r.trial.state is TrialState.RUNNING for r in records.values()):
                        retired.add(w)
                    continue
                founders += 1
                lr = LR.decode(float(rng.random()))
                busy[w] = new(FrozenTrial(n, n, TrialState.RUNNING, params={"lr": lr},
                                          distributions={"lr": LR}), {})
            elif job.wait:
                continue
            elif job.resume is not None:
                rec = records[job.resume]
                assert rec.trial.state is TrialState.PAUSED
                rec.trial = replace(rec.trial, state=TrialState.RUNNING)
                busy[w] = job.resume
            else:
                assert job.fork is not None
                assert job.step is not None
                parent = records[job.fork]
                assert job.step in parent.state, "forked from a step the parent never saved"
                params = {**parent.trial.params, **job.params}
                event = {"event": "forked", "parent": job.fork, "step": job.step,
                         "changed": {k: [parent.trial.params[k], v] for k, v in job.params.items()},
                         "replaces": job.replaces}
                busy[w] = new(FrozenTrial(n, n, TrialState.RUNNING, params=params,
                                          distributions={"lr": LR}, lineage=(event,)),
                              {job.step: parent.state[job.step]})
        for w, number in list(busy.items()):  # one step each
            rec = records[number]
            t = rec.trial
            step = t.start_step if t.last_step is None else t.last_step + 1
            m = rec.state.get(step - 1, 100.0)
            m = _train(m, t.params["lr"])
            rec.state[step] = m
            t = rec.trial = replace(t, intermediate={**t.intermediate, step: m / 2})
            decision = pbt.decide(t, history())
            if step == STEPS - 1:
                rec.trial = replace(t, state=TrialState.COMPLETE, values=(m / 2,))
            elif decision is Decision.STOP:
                rec.trial = replace(t, state=TrialState.PRUNED)
            elif decision is Decision.PAUSE:
                rec.trial = replace(t, state=TrialState.PAUSED)
            else:
                continue
            del busy[w]
    return records, pbt, rounds


@pytest.mark.parametrize("workers", [1, 2, 3, 8])
def test_a_population_runs_to_the_end(workers: int) -> None:
    records, pbt, _ = simulate(workers, seed=workers)
    trials = [r.trial for r in records.values()]
    states = [t.state for t in trials]
    assert TrialState.PAUSED not in states
    assert TrialState.RUNNING not in states
    pruned = [t.number for t in trials if t.state is TrialState.PRUNED]
    replaces = [e["replaces"] for t in trials for e in t.lineage if e.get("event") == "forked"]
    assert pruned, "nobody was exploited in 6 rounds of 8 members"
    assert sorted(replaces) == sorted(pruned)  # each exploited member replaced exactly once
    complete = [t for t in trials if t.state is TrialState.COMPLETE]
    assert len(complete) == pbt.population
    for t in complete:  # each final member's state went through all steps, along its lineage
        schedule = hyperparameter_schedule(t, trials)
        assert schedule[0][0] == 0
        m = 100.0
        for step in range(STEPS):
            m = _train(m, next(p for s, p in reversed(schedule) if s <= step)["lr"])
        assert m / 2 == pytest.approx(t.value)


def test_pbt_beats_its_founders_here() -> None:
    # The founders' best fixed rate against the population's best, on the same draws.
    records, _, _ = simulate(2, seed=0)
    founders = [r.trial for r in records.values() if r.trial.forked_from is None]
    best_fixed = float("inf")
    for t in founders:
        m = 100.0
        for _ in range(STEPS):
            m = _train(m, t.params["lr"])
        best_fixed = min(best_fixed, m / 2)
    best_pbt = min(r.trial.value for r in records.values() if r.trial.value is not None)
    assert best_pbt < best_fixed


def test_same_run_twice() -> None:
    def summary(records: dict[int, Record]) -> list[Any]:
        return [(r.trial.number, r.trial.state, dict(r.trial.params), r.trial.lineage)
                for r in records.values()]

    assert summary(simulate(3, seed=5)[0]) == summary(simulate(3, seed=5)[0])
