"""The memoised rung index gives exactly the promotions of the direct computation over the history."""

from __future__ import annotations

import dataclasses
import pickle

import numpy as np
import pytest

from shoal.schedulers import ASHA, Hyperband
from shoal.schedulers._asha import best_promotion, promotable
from shoal.trial import FrozenTrial, TrialState


def _direct(scheduler: ASHA | Hyperband, history: list[FrozenTrial]):  # type: ignore[no-untyped-def]
    eta = scheduler.reduction_factor
    if isinstance(scheduler, ASHA):
        return best_promotion(promotable(history, rungs=scheduler.rungs, reduction_factor=eta))
    groups: dict[int, list[FrozenTrial]] = {}
    for t in history:
        groups.setdefault(scheduler.bracket_of(t.number), []).append(t)
    return best_promotion([c for s, ts in groups.items()
                           for c in promotable(ts, rungs=scheduler.rungs[s], reduction_factor=eta)])


def _grow(rng: np.random.Generator, trial: FrozenTrial, scheduler: ASHA | Hyperband) -> FrozenTrial:
    """The trial one event later: a few more reports, then paused at a rung, resumed, or ended."""
    steps = dict(trial.intermediate)
    last = max(steps, default=0)
    if trial.state is TrialState.PAUSED:
        lineage = (*trial.lineage, {"event": "resumed", "step": last, "at": 0.0})
        return dataclasses.replace(trial, state=TrialState.RUNNING, lineage=lineage)
    for step in range(last + 1, last + 1 + int(rng.integers(1, 4))):
        steps[step] = float(rng.choice([rng.random(), np.nan]) if rng.random() < 0.05 else rng.random())
    new_last = max(steps)
    rungs = scheduler.rung_steps
    if new_last in rungs and rng.random() < 0.7:
        return dataclasses.replace(trial, intermediate=steps, state=TrialState.PAUSED)
    state = TrialState.PRUNED if rng.random() < 0.1 else TrialState.RUNNING
    if new_last >= scheduler.max_resource:
        state = TrialState.COMPLETE
    return dataclasses.replace(trial, intermediate=steps, state=state)


@pytest.mark.parametrize("make", [lambda: ASHA(max_resource=27, mode="promotion"),
                                  lambda: Hyperband(max_resource=27, mode="promotion"),
                                  lambda: ASHA(min_resource=2, max_resource=40, reduction_factor=2,
                                               mode="promotion")])
@pytest.mark.parametrize("seed", range(4))
def test_incremental_index_matches_the_direct_ranking(make, seed: int) -> None:  # type: ignore[no-untyped-def]
    scheduler = make()
    rng = np.random.default_rng(seed)
    history: list[FrozenTrial] = []
    checked = 0
    for _ in range(400):
        if not history or rng.random() < 0.3:
            n = len(history)
            history.append(FrozenTrial(n, 1000 + n, TrialState.RUNNING))
        else:  # change a few trials (new objects), keep the others as they were
            for i in rng.choice(len(history), size=min(3, len(history)), replace=False):
                if history[i].state in (TrialState.RUNNING, TrialState.PAUSED):
                    history[i] = _grow(rng, history[i], scheduler)
        expected = _direct(scheduler, history)
        assert scheduler.next_job(list(history)) == expected
        checked += expected is not None
    assert checked > 20  # promotions really happened along the way


def test_another_history_or_a_pickled_copy_rebuilds_the_index() -> None:
    scheduler = ASHA(max_resource=9, mode="promotion")
    trials = [FrozenTrial(i, i, TrialState.PAUSED, intermediate={1: v})
              for i, v in enumerate([0.5, 0.1, 0.9, 0.3])]
    assert scheduler.next_job(trials).resume == 1  # type: ignore[union-attr]
    other = [FrozenTrial(i, 100 + i, TrialState.PAUSED, intermediate={1: v})
             for i, v in enumerate([0.2, 0.8, 0.9])]  # the same numbers in another study
    assert scheduler.next_job(other).resume == 0  # type: ignore[union-attr]
    assert scheduler.next_job(trials[:2]) is None  # fewer trials: 2 // 3 = nobody promotable
    copy = pickle.loads(pickle.dumps(scheduler))
    assert copy.next_job(trials).resume == 1  # type: ignore[union-attr]
