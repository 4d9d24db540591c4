"""300 trials with random learning curves through each rung scheduler, in a pure loop (no clock,
no storage): every answer is checked against a brute-force reference written here from the
papers' rules, and the end state against the invariants (rung sizes follow eta, no trial promoted
twice, nothing resumed that was not PAUSED)."""

from __future__ import annotations

import functools
import itertools
from collections.abc import Callable, Sequence
from typing import Any

import pytest

from shoal.schedulers import ASHA, Decision, Hyperband, SuccessiveHalving, Suggestion
from shoal.testing._scheduler_suite import random_curves, simulate
from shoal.trial import FrozenTrial, TrialState

N, WORKERS, MAX = 300, 4, 27
RUNGS = (1, 3, 9)


def value(trial: FrozenTrial, rung: int) -> float | None:
    """Every step is reported here, so a trial's value at a rung is its report there."""
    return trial.intermediate.get(rung)


def top(trials: Sequence[FrozenTrial], rung: int, eta: int) -> list[FrozenTrial]:
    """The best floor(n / eta) of the n trials that reached `rung`, ties by number."""
    there = sorted((t for t in trials if value(t, rung) is not None),
                   key=lambda t: (value(t, rung), t.number))
    return there[:len(there) // eta]


def resumed_at(trial: FrozenTrial, step: int) -> bool:
    return any(e["event"] == "resumed" and e["step"] == step for e in trial.lineage)


Observer = Callable[[Any, FrozenTrial | None, list[FrozenTrial]], None]


def check_promotion(rungs_of: Callable[[int], Sequence[int]], group: Callable[[int], int]) -> Observer:
    """ASHA's promotion rule by brute force, within the group (bracket) of each trial."""
    group = functools.cache(group)
    def observe(answer: Any, trial: FrozenTrial | None, history: list[FrozenTrial]) -> None:
        if trial is not None:  # a decision: PAUSE exactly at the trial's rungs
            step = trial.last_step
            assert step is not None
            expected = Decision.PAUSE if step in rungs_of(trial.number) else Decision.CONTINUE
            assert answer is expected, (trial.number, step, answer)
            return
        tops: dict[tuple[int, int], set[int]] = {}
        promotable = []
        for t in history:
            for rung in rungs_of(t.number):
                key = (group(t.number), rung)
                if key not in tops:
                    members = [o for o in history if group(o.number) == key[0]]
                    tops[key] = {o.number for o in top(members, rung, 3)}
                if (t.state is TrialState.PAUSED and t.last_step == rung
                        and not resumed_at(t, rung) and t.number in tops[key]):
                    promotable.append((rung, t.number))
        if answer is None:
            assert not promotable, f"nothing resumed, but {promotable} were promotable"
        else:
            assert isinstance(answer, Suggestion)
            assert answer.resume in {n for _, n in promotable}
            best_rung = max(r for r, _ in promotable)
            assert (history[answer.resume].last_step or 0) == best_rung  # highest rung first
    return observe


def check_stopping(rungs_of: Callable[[int], Sequence[int]], group: Callable[[int], int]) -> Observer:
    """Syne Tune's stopping rule by brute force: go on iff (strictly better) * 3 <= n."""
    group = functools.cache(group)
    def observe(answer: Any, trial: FrozenTrial | None, history: list[FrozenTrial]) -> None:
        if trial is None:
            assert answer is None
            return
        step = trial.last_step
        assert step is not None
        if step not in rungs_of(trial.number):
            assert answer is Decision.CONTINUE
            return
        mine = value(trial, step)
        assert mine is not None
        others = [value(t, step) for t in history
                  if group(t.number) == group(trial.number) and t.number != trial.number]
        seen = [v for v in others if v is not None]
        better = sum(1 for v in seen if v < mine)
        expected = Decision.STOP if better * 3 > len(seen) + 1 else Decision.CONTINUE
        assert answer is expected, (trial.number, step, better, len(seen) + 1)
    return observe


def everyone(number: int) -> int:
    return 0


def check_end(trials: dict[int, FrozenTrial], groups: list[list[int]], rungs: Sequence[int]) -> None:
    for trial in trials.values():
        resumes = [e["step"] for e in trial.lineage if e["event"] == "resumed"]
        assert len(resumes) == len(set(resumes)), f"trial {trial.number} promoted twice"
    for numbers in groups:
        members = [trials[n] for n in numbers]
        sizes = [len([t for t in members if (t.last_step or 0) >= r]) for r in (*rungs, MAX)]
        # Rung sizes follow eta: each rung keeps at least floor(n / 3) of the one below (nothing
        # promotable is left at the end) and never more than it had.
        for below, above in itertools.pairwise(sizes):
            assert below // 3 <= above <= below, sizes


@pytest.mark.parametrize("seed", [0, 1])
def test_asha_promotion(seed: int) -> None:
    asha = ASHA(max_resource=MAX, mode="promotion")
    run = simulate(asha, random_curves(seed=seed), n_trials=N, n_workers=WORKERS, max_step=MAX,
                   observe=check_promotion(lambda n: RUNGS, everyone))
    assert sum(1 for kind, _ in run.jobs if kind == "resume") >= 100
    check_end(run.trials, [list(run.trials)], RUNGS)


@pytest.mark.parametrize("seed", [0, 1])
def test_asha_stopping(seed: int) -> None:
    asha = ASHA(max_resource=MAX)
    run = simulate(asha, random_curves(seed=seed), n_trials=N, n_workers=WORKERS, max_step=MAX,
                   observe=check_stopping(lambda n: RUNGS, everyone))
    stopped = sum(1 for t in run.trials.values() if t.state is TrialState.PRUNED)
    assert 150 <= stopped < N


@pytest.mark.parametrize("mode", ["promotion", "stopping"])
def test_hyperband(mode: str) -> None:
    hb = Hyperband(max_resource=MAX, mode=mode)

    def rungs_of(number: int) -> Sequence[int]:
        return hb.rungs[hb.bracket_of(number)]

    check = check_promotion if mode == "promotion" else check_stopping
    run = simulate(hb, random_curves(seed=5), n_trials=N, n_workers=WORKERS, max_step=MAX,
                   observe=check(rungs_of, hb.bracket_of))
    groups = [[n for n in run.trials if hb.bracket_of(n) == s] for s in range(hb.s_max + 1)]
    assert [len(g) > 0 for g in groups] == [True] * (hb.s_max + 1)
    if mode == "promotion":
        for s, numbers in enumerate(groups):
            check_end({n: run.trials[n] for n in numbers}, [numbers], hb.rungs[s])
    complete = [n for n, t in run.trials.items() if t.state is TrialState.COMPLETE]
    assert all(run.trials[n].last_step == MAX for n in complete)


def test_successive_halving() -> None:
    sh = SuccessiveHalving(max_resource=MAX, n_configs=27)
    run = simulate(sh, random_curves(seed=3), n_trials=N, n_workers=WORKERS, max_step=MAX)
    assert ("wait", -1) in run.jobs  # the other workers waited for rungs to fill
    full = N // 27
    for b in range(full):
        members = [run.trials[n] for n in range(27 * b, 27 * b + 27)]
        sizes = [len([t for t in members if (t.last_step or 0) >= r]) for r in (*RUNGS, MAX)]
        assert sizes == [27, 9, 3, 1]
        for rung, kept in zip(RUNGS, (9, 3, 1), strict=True):  # the best at each rung went on
            went_on = {t.number for t in members if (t.last_step or 0) > rung}
            there = [t for t in members if value(t, rung) is not None]
            assert went_on == {t.number for t in sorted(there, key=lambda t: value(t, rung))[:kept]}
    rest = [run.trials[n] for n in range(27 * full, N)]  # an unfinished bracket stays at rung 1
    assert all(t.state is TrialState.PAUSED and t.last_step == 1 for t in rest)
