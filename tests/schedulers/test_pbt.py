"""PBT: the exploit table by hand, the fork each exploited member gets, the perturbation rules,
time sharing, and the schedule a member followed.

The conformance suite (SchedulerSuite, with the oracle of `_pbt_oracle`) runs in
tests/test_common.py.
"""

from __future__ import annotations

import math
import pickle
import re
from dataclasses import replace
from typing import Any

import numpy as np
import pytest

import shoal
from shoal.exceptions import ConfigError
from shoal.samplers import RandomSampler
from shoal.schedulers import PBT, Decision, PBTReplay, Suggestion, hyperparameter_schedule
from shoal.schedulers._pbt import crosses, perturb
from shoal.space import Categorical, Float, Int
from shoal.trial import FrozenTrial, TrialState

DISTS = {"layers": Int(1, 8), "lr": Float(1e-4, 1.0, log=True)}
#: Scores every founder reports at steps 0..3 (constant curves): the hand-written table.
SCORES = [0.5, 0.2, 0.9, 0.4, 0.1, 0.7, 0.3, 0.8]
# Ranked best first: 4 (0.1), 1, 6, 3, 0, 5, 7, 2 (0.9). k = ceil(8 * 0.25) = 2:
# bottom quantile {7, 2} is exploited, the top quantile {4, 1} is copied from.


def member(number: int, score: float | None = None, *, state: TrialState = TrialState.RUNNING,
           steps: int = 4, lineage: tuple[dict[str, Any], ...] = (), sign: float = 1.0,
           **kwargs: Any) -> FrozenTrial:
    value = SCORES[number] if score is None and number < len(SCORES) else score
    curve = {s: sign * value for s in range(steps)} if value is not None else {}
    params = kwargs.pop("params", {"layers": number + 1, "lr": 0.01 * (number + 1)})
    return FrozenTrial(number, number, state, params=params, distributions=DISTS,
                       intermediate=curve, lineage=lineage, signs=(sign,), **kwargs)


def forked(number: int, *, parent: int, step: int, replaces: int | None, **kwargs: Any) -> FrozenTrial:
    event = {"event": "forked", "parent": parent, "step": step, "changed": {}, "replaces": replaces}
    return member(number, lineage=(event,), **kwargs)


def founders(**kwargs: Any) -> list[FrozenTrial]:
    return [member(i, **kwargs) for i in range(8)]


# Arguments -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("kwargs", "message"), [
    ({"population": 1}, "population of PBT must be an integer >= 2. Got 1."),
    ({"interval": 0}, "interval of PBT must be an integer >= 1. Got 0."),
    ({"quantile": 0.6}, "quantile of PBT must be a finite number in [0.0, 0.5]. Got 0.6."),
    ({"perturb": ()}, "perturb of PBT must be a non-empty list of factors > 0. Got ()."),
    ({"perturb": (0.8, -1.0)}, "each factor of perturb of PBT must be a finite number > 0.0. Got -1.0."),
    ({"resample_probability": 2}, "resample_probability of PBT must be a finite number in "
                                  "[0.0, 1.0]. Got 2."),
    ({"hyperparams": "lr"}, "hyperparams of PBT must be a non-empty list of parameter names or "
                            "None. Got 'lr'. Name the parameters to perturb, e.g. ['lr']."),
    ({"seed": -1}, "seed of PBT must be an integer >= 0 or None. Got -1."),
    ({"max_step": 2.5}, "max_step of PBT must be an integer >= 0 or None. Got 2.5."),
])
def test_bad_arguments_are_one_sentence(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        PBT(**kwargs)


def test_one_objective_only() -> None:
    # Ranking needs one score: create_study refuses a scheduler without the attribute.
    assert not hasattr(PBT(), "multi_objective")
    with pytest.raises(ConfigError, match=r"scheduler.*Use NoStopping\(\)"):
        shoal.create_study(directions=["minimize", "minimize"], scheduler=PBT(),
                           sampler=RandomSampler(seed=0))


# Exploit: the oracle table ---------------------------------------------------------------------
def test_oracle_exploits_the_bottom_quantile() -> None:
    history = founders()
    got = {m.number: PBT(seed=0).decide(m, history) for m in history}
    assert got == {0: Decision.CONTINUE, 1: Decision.CONTINUE, 2: Decision.STOP, 3: Decision.CONTINUE,
                   4: Decision.CONTINUE, 5: Decision.CONTINUE, 6: Decision.CONTINUE, 7: Decision.STOP}


def test_oracle_maximised_is_the_same_table() -> None:
    history = founders(sign=-1.0)  # values -score, maximised: the same scores
    assert [PBT().decide(m, history) for m in history].count(Decision.STOP) == 2
    assert PBT().decide(history[2], history) is Decision.STOP


@pytest.mark.parametrize(("steps", "expected"), [
    (3, Decision.CONTINUE),  # last step 2: three steps trained, not a boundary
    (4, Decision.STOP),  # last step 3: interval 4 reached
    (5, Decision.CONTINUE),
    (8, Decision.STOP),  # last step 7
])
def test_only_at_interval_boundaries(steps: int, expected: Decision) -> None:
    history = [member(i, steps=steps) for i in range(8)]
    assert PBT().decide(history[2], history) is expected


def test_members_are_ranked_at_or_before_the_step() -> None:
    # Member 2 (0.9 at step 3) ahead at step 7 with 0.05: the others are ranked by their step-3
    # reports, so it is now the best; member 4 reported 0.1 at 0..3 and 5.0 at 4..7 but is ranked
    # by its report at or before 7 (5.0), the worst.
    history = founders()
    ahead = FrozenTrial(2, 2, TrialState.RUNNING, params=history[2].params, distributions=DISTS,
                        intermediate={**{s: 0.9 for s in range(4)}, **{s: 0.05 for s in range(4, 8)}})
    four = FrozenTrial(4, 4, TrialState.RUNNING, params=history[4].params, distributions=DISTS,
                       intermediate={**{s: 0.1 for s in range(4)}, **{s: 5.0 for s in range(4, 8)}})
    history[2], history[4] = ahead, four
    assert PBT().decide(ahead, history) is Decision.CONTINUE
    assert PBT().decide(four, history) is Decision.STOP  # 5.0 at 7 against the others at 3


def test_who_is_ranked() -> None:
    history = founders()
    # Pruned and failed members leave the ranking: 6 ranked, k = 2, bottom {5, 2}.
    history[7] = member(7, state=TrialState.PRUNED)
    history[0] = member(0, state=TrialState.FAILED)
    assert PBT().decide(history[5], history) is Decision.STOP
    # A completed member is ranked (a population trained one after another still compares).
    history[7] = member(7, state=TrialState.COMPLETE)
    assert PBT().decide(history[5], history) is Decision.CONTINUE
    # NaN ranks last.
    nan = member(4, math.nan)
    history[4] = nan
    assert PBT().decide(nan, history) is Decision.STOP


def test_quantile_count() -> None:
    pbt = PBT(quantile=0.5)
    assert [pbt._count(n) for n in range(6)] == [0, 0, 1, 1, 2, 2]
    assert [PBT(quantile=0.25)._count(n) for n in (2, 3, 4, 5, 8, 9)] == [1, 1, 1, 2, 2, 3]
    assert PBT(quantile=0.1)._count(30) == 3  # 30 * 0.1 is 3.0000000000000004 in floats
    assert PBT(quantile=0.0)._count(8) == 0
    history = founders()
    assert all(PBT(quantile=0.0).decide(m, history) is Decision.CONTINUE for m in history)


def test_non_members_and_forks() -> None:
    history = founders()
    ninth = member(8, 99.0)  # a ninth founder is no member: left alone
    assert PBT().decide(ninth, [*history, ninth]) is Decision.CONTINUE
    # A fork replacing a member is a member (and is ranked): 9 replaces 2 with the worst score.
    history[2] = member(2, state=TrialState.PRUNED)
    fork = forked(9, parent=4, step=3, replaces=2, score=99.0, steps=8)
    assert PBT().decide(fork, [*history, fork]) is Decision.STOP
    person = forked(9, parent=4, step=3, replaces=None, score=99.0, steps=8)  # Study.fork by hand
    assert PBT().decide(person, [*history, person]) is Decision.CONTINUE


def test_max_step() -> None:
    history = [member(i, steps=8) for i in range(8)]
    assert PBT(max_step=7).decide(history[2], history) is Decision.CONTINUE
    assert PBT(max_step=8).decide(history[2], history) is Decision.STOP
    assert PBT(max_step=16).rung_steps == frozenset({3, 7, 11, 15})
    assert PBT().rung_steps == frozenset()


# Explore: the fork each exploited member gets ---------------------------------------------------
def _replayed(seed: int, exploited: int, top: list[int], parents: dict[int, FrozenTrial]) -> dict[str, Any]:
    """The draws PBT documents, by hand: parent, then per name (sorted) resample? then factor."""
    rng = np.random.default_rng((seed, exploited))
    parent = parents[top[int(rng.integers(len(top)))]]
    out: dict[str, Any] = {"parent": parent.number}
    for name in ("layers", "lr"):
        if rng.random() < 0.25:
            out[name] = ("resampled", DISTS[name].decode(float(rng.random())))
        else:
            out[name] = ("factor", (0.8, 1.2)[int(rng.integers(2))])
    return out


def test_oracle_forks() -> None:
    history = founders()
    history[2] = member(2, state=TrialState.PRUNED)
    history[7] = member(7, state=TrialState.PRUNED)
    pbt = PBT(seed=4)
    first = pbt.next_job(history)
    # Seed 4, member 2: parent = top[0] = 4 (layers 5, lr 0.05); layers x1.2 = 6; lr resampled.
    assert _replayed(4, 2, [4, 1], {4: history[4], 1: history[1]}) == {
        "parent": 4, "layers": ("factor", 1.2), "lr": ("resampled", pytest.approx(0.0687162, rel=1e-6))}
    assert first == Suggestion(fork=4, step=3, params={"layers": 6, "lr": pytest.approx(0.0687162, rel=1e-6)},
                               replaces=2)
    # Once a fork replaces 2, member 7 is next: parent = top[1] = 1 (layers 2); 2 x 1.2 = 2.4 rounds
    # back to 2, so it moves one step up to 3; lr resampled.
    child = forked(8, parent=4, step=3, replaces=2, steps=0, params=dict(first.params))  # type: ignore[union-attr]
    second = pbt.next_job([*history, child])
    assert _replayed(4, 7, [4, 1], {4: history[4], 1: history[1]})["parent"] == 1
    assert second is not None
    assert second.fork == 1
    assert second.step == 3
    assert second.replaces == 7
    assert second.params["layers"] == 3
    assert 1e-4 <= second.params["lr"] <= 1.0
    assert second.params["lr"] == _replayed(4, 7, [4, 1], {4: history[4], 1: history[1]})["lr"][1]
    # No double fork: with both replaced, the running members may still be exploited: wait.
    other = forked(9, parent=1, step=3, replaces=7, steps=0, params=dict(second.params))
    assert pbt.next_job([*history, child, other]) == Suggestion(wait=True)


def test_fork_step_follows_the_checkpoints() -> None:
    history = founders(steps=8)  # everyone at step 7
    history[2] = member(2, state=TrialState.PRUNED, steps=4)  # exploited at 3
    history[4] = member(4, steps=8, system_attrs={"checkpoints": {"steps": [1, 3, 6, 7], "bytes": 10}})
    history[1] = member(1, steps=8, system_attrs={"checkpoints": {"steps": [6, 7], "bytes": 10}})
    steps = {}
    for seed in range(8):  # both parents get drawn
        fork = PBT(seed=seed).next_job(history)
        assert fork is not None
        assert fork.fork is not None
        steps[fork.fork] = fork.step
    # 4: newest checkpoint <= 3; 1: none <= 3, so its newest.
    assert steps == {4: 3, 1: 7}
    history[4] = member(4, steps=8)  # no record of checkpoints: its report at 3
    assert {PBT(seed=s).next_job(history).step for s in range(8)} >= {3}  # type: ignore[union-attr]


def test_no_fork_without_a_top_member_or_past_max_step() -> None:
    lone = [member(0, state=TrialState.PRUNED), *(member(i, state=TrialState.FAILED) for i in range(1, 8))]
    assert PBT().next_job(lone) is None  # nobody to copy; population full, nothing running
    history = founders(state=TrialState.COMPLETE)
    history[2] = member(2, state=TrialState.PRUNED)
    assert PBT(max_step=3).next_job(history) is None  # pruned at its last step: not replaced
    assert PBT(max_step=4).next_job(history).fork in (4, 1)  # type: ignore[union-attr]
    # A parent whose only checkpoint is at max_step would give a fork with nothing to train.
    history[4] = member(4, state=TrialState.COMPLETE, steps=5,
                        system_attrs={"checkpoints": {"steps": [4], "bytes": 1}})
    assert {PBT(max_step=4, seed=s).next_job(history).fork for s in range(8)} == {1}  # type: ignore[union-attr]


def test_same_fork_from_every_worker() -> None:
    history = founders()
    history[2] = member(2, state=TrialState.PRUNED)
    fresh = PBT(seed=None)
    copied = pickle.loads(pickle.dumps(fresh))
    assert copied.next_job(history) == fresh.next_job(history) == fresh.next_job(list(reversed(history)))
    assert PBT(seed=3).next_job(history) == PBT(seed=3).next_job(history)
    # The draw depends on the exploited member's number, not on what else is in the history.
    more = [*history, member(8, 1.0)]
    assert PBT(seed=3).next_job(more) == PBT(seed=3).next_job(history)


# Time sharing ----------------------------------------------------------------------------------
def test_pauses_while_others_are_behind() -> None:
    four = founders()[:4]  # population 8 not full: the good ones yield
    assert PBT().decide(four[1], four) is Decision.PAUSE
    assert PBT().next_job(four) is None  # start founder 4
    history = [member(i, steps=8) for i in range(8)]
    history[0] = member(0, state=TrialState.PAUSED, steps=4)
    history[5] = member(5, state=TrialState.PAUSED, steps=8)
    assert PBT().decide(history[1], history) is Decision.PAUSE  # 0 is paused at 3 < 7
    assert PBT().decide(history[2], history) is Decision.STOP  # exploit first
    assert PBT().next_job(history) == Suggestion(resume=0)  # the one furthest behind
    history[0] = member(0, steps=8)
    assert PBT().decide(history[1], history) is Decision.CONTINUE  # 5 paused at 7: not behind
    assert PBT().next_job(history) == Suggestion(resume=5)
    done = [member(i, state=TrialState.COMPLETE, steps=8) for i in range(8)]
    assert PBT().next_job(done) is None
    assert PBT(max_step=7).next_job(history[:5] + [member(i, steps=8) for i in (5, 6, 7)]) is None


# Perturbation rules ------------------------------------------------------------------------------
def _one(dist: Any, value: Any, factor: float, names: tuple[str, ...] = ("x",), **dists: Any) -> Any:
    out = perturb({"x": value}, {"x": dist, **dists}, names=names, factors=(factor,),
                  resample_probability=0.0, rng=np.random.default_rng(0))
    return out.get("x")


@pytest.mark.parametrize(("dist", "value", "factor", "expected"), [
    (Float(0.0, 1.0), 0.5, 1.2, 0.6),
    (Float(0.0, 1.0), 0.9, 1.2, 1.0),  # clipped to high
    (Float(1e-4, 1.0, log=True), 1e-4, 0.8, 1e-4),  # clipped to low
    (Float(0.9, 0.999, scale="one_minus_log"), 0.99, 0.5, 0.995),  # 1 - 0.01 * 0.5
    (Float(0.0, 1.0, step=0.25), 0.5, 1.2, 0.5),  # 0.6 snaps to the grid
    (Float(0.0, 1.0, step=0.25), 0.5, 1.4, 0.75),
    (Int(1, 8), 2, 1.2, 3),  # 2.4 rounds to 2: at least one step
    (Int(1, 8), 2, 0.8, 1),
    (Int(1, 8), 1, 0.8, 1),  # clipped
    (Int(0, 100, step=10), 50, 1.2, 60),
    (Int(0, 100, step=10), 50, 1.05, 60),  # 52.5 rounds back to 50: one step up
    (Int(16, 256, power_of_two=True), 64, 1.2, 128),
    (Int(16, 256, power_of_two=True), 16, 0.8, 16),
    (Int(1, 1000, log=True), 100, 0.8, 80),
])
def test_perturb_numbers(dist: Any, value: Any, factor: float, expected: Any) -> None:
    assert _one(dist, value, factor) == pytest.approx(expected)


def test_perturb_categoricals_and_resampling() -> None:
    choice = Categorical(["a", "b", "c"])
    draws = {_one(choice, "a", 1.2) for _ in range(1)}
    assert draws <= {"a", "b", "c"}
    # A categorical others depend on is left alone.
    child = Float(0.0, 1.0, when={"x": ["a"]})
    assert _one(choice, "a", 1.2, names=("x", "y"), y=child) is None
    seen = set()
    for seed in range(30):
        out = perturb({"c": "a", "lr": 0.1, "n": 3}, {"c": choice, "lr": Float(1e-3, 1.0, log=True),
                                                     "n": Int(1, 5)},
                      names=["c", "lr", "n", "missing"], factors=(0.8,), resample_probability=1.0,
                      rng=np.random.default_rng(seed))
        assert set(out) == {"c", "lr", "n"}
        assert 1e-3 <= out["lr"] <= 1.0
        assert 1 <= out["n"] <= 5
        seen.add(out["c"])
    assert seen == {"a", "b", "c"}


def test_default_hyperparams_are_the_numbers() -> None:
    dists = {**DISTS, "act": Categorical(["relu", "tanh"])}
    history = [FrozenTrial(i, i, TrialState.RUNNING, params={"layers": 2, "lr": 0.1, "act": "relu"},
                           distributions=dists, intermediate={s: SCORES[i] for s in range(4)})
               for i in range(8)]
    history[2] = FrozenTrial(2, 2, TrialState.PRUNED, params=history[2].params, distributions=dists,
                             intermediate={s: 0.9 for s in range(4)})
    assert set(PBT(seed=0).next_job(history).params) == {"layers", "lr"}  # type: ignore[union-attr]
    assert set(PBT(seed=0, hyperparams=["act"]).next_job(history).params) == {"act"}  # type: ignore[union-attr]


# The schedule a member followed, and its replay -------------------------------------------------
def _toy_train(weight: float, lr: float, steps: range) -> float:
    """Gradient steps on (w - 3)^2: the state after `steps`, from `weight`."""
    for _ in steps:
        weight -= lr * 2.0 * (weight - 3.0)
    return weight


def test_schedule_over_three_generations_replays_the_winner() -> None:
    # G trains 0..7 with lr 0.01; P forks G at 3 (lr 0.05, trains 4..7); C forks P at 7 (lr 0.2,
    # trains 8..11); D forks C at its start point 7 (so C's span is empty) with lr 0.3.
    g = FrozenTrial(0, 0, TrialState.COMPLETE, params={"lr": 0.01, "n": 1})
    p = FrozenTrial(5, 5, TrialState.PRUNED, params={"lr": 0.05, "n": 1}, lineage=(
        {"event": "forked", "parent": 0, "step": 3, "changed": {"lr": [0.01, 0.05]}, "replaces": 2},))
    c = FrozenTrial(9, 9, TrialState.COMPLETE, params={"lr": 0.2, "n": 1}, lineage=(
        {"event": "forked", "parent": 5, "step": 7, "changed": {"lr": [0.05, 0.2]}, "replaces": 3},))
    d = FrozenTrial(11, 11, TrialState.RUNNING, params={"lr": 0.3, "n": 1}, lineage=(
        {"event": "forked", "parent": 9, "step": 7, "changed": {"lr": [0.2, 0.3]}, "replaces": 4},))
    history = [g, p, c, d]
    assert hyperparameter_schedule(c, history) == [(0, {"lr": 0.01, "n": 1}), (4, {"lr": 0.05, "n": 1}),
                                                  (8, {"lr": 0.2, "n": 1})]
    assert hyperparameter_schedule(d, history) == [(0, {"lr": 0.01, "n": 1}), (4, {"lr": 0.05, "n": 1}),
                                                  (8, {"lr": 0.3, "n": 1})]
    assert hyperparameter_schedule(g, history) == [(0, {"lr": 0.01, "n": 1})]
    # C's state, as the population built it: G's weights at 3, P's at 7, then C's own steps.
    w = _toy_train(0.0, 0.01, range(0, 4))
    w = _toy_train(w, 0.05, range(4, 8))
    w = _toy_train(w, 0.2, range(8, 12))
    replay = PBTReplay(hyperparameter_schedule(c, history))
    fresh = 0.0
    for step in range(12):
        fresh = _toy_train(fresh, replay.params_at(step)["lr"], range(step, step + 1))
    assert fresh == w
    assert [replay.changes_at(s) for s in (0, 3, 4, 8)] == [None, None, {"lr": 0.05}, {"lr": 0.2}]


def test_schedule_errors() -> None:
    orphan = FrozenTrial(3, 3, TrialState.RUNNING, lineage=(
        {"event": "forked", "parent": 1, "step": 3, "changed": {}},))
    with pytest.raises(ConfigError, match=r"^history of hyperparameter_schedule must hold trial 1, an "
                                          r"ancestor of trial 3\. Got trials \[3\]\. Pass study.trials\.$"):
        hyperparameter_schedule(orphan, [orphan])
    loop = FrozenTrial(1, 1, TrialState.RUNNING, lineage=(
        {"event": "forked", "parent": 3, "step": 1, "changed": {}},))
    with pytest.raises(ConfigError, match="must not loop"):
        hyperparameter_schedule(orphan, [orphan, loop])
    with pytest.raises(ConfigError, match=r"^steps of schedule of PBTReplay must be increasing from 0"):
        PBTReplay([(1, {"lr": 0.1})])
    with pytest.raises(ConfigError, match=r"^schedule of PBTReplay must be a non-empty list"):
        PBTReplay([])


def test_a_retry_stands_for_the_member_it_reruns() -> None:
    # Member 2's worker died (FAILED); the study's retry (trial 8, same params) is a member in its
    # place, not a ninth founder, and is exploited as member 2 would be.
    history = founders()
    history[2] = member(2, state=TrialState.FAILED)
    retry = member(8, 0.9, system_attrs={"retry_of": 2, "retry_count": 1}, parent=2)
    assert PBT().decide(retry, [*history, retry]) is Decision.STOP
    assert PBT()._members({t.number: t for t in [*history, retry]}) == set(range(9))
    assert PBT()._full({t.number: t for t in [*founders()[:7], retry]}) is False
    # Its schedule is that of the trial it re-runs: a fork of 4 at 3.
    fork = forked(9, parent=4, step=3, replaces=1, params={"lr": 0.06, "layers": 5})
    again = member(10, 0.1, system_attrs={"retry_of": 9}, params={"lr": 0.06, "layers": 5})
    assert hyperparameter_schedule(again, [*history, fork, again]) == [
        (0, {"layers": 5, "lr": 0.05}), (4, {"lr": 0.06, "layers": 5})]


def test_decides_at_the_first_report_past_an_interval() -> None:
    # Reports every 3 steps (0, 3, 6, 9): intervals end at 3, 7, 11; crossed at 3, 9 (past 7).
    history = [FrozenTrial(i, i, TrialState.RUNNING, params={"lr": 0.1}, distributions=DISTS,
                           intermediate=dict.fromkeys(range(0, 10, 3), SCORES[i]))
               for i in range(8)]
    assert PBT().decide(history[2], history) is Decision.STOP  # at 9, past 7
    at_six = [replace(t, intermediate={s: v for s, v in t.intermediate.items() if s <= 6})
              for t in history]
    assert PBT().decide(at_six[2], at_six) is Decision.CONTINUE  # 6: nothing crossed since 3
    assert crosses(at_six[2], 4) is False
    assert crosses(history[2], 4) is True


def test_a_restored_step_reported_again_decides_nothing() -> None:
    # Member 2 was paused at 3 and resumed there; reporting step 3 again is not a new decision.
    history = founders()
    resumed = replace(history[2], lineage=({"event": "paused", "step": 3},
                                           {"event": "resumed", "step": 3, "worker": "w"}))
    history[2] = resumed
    assert PBT().decide(resumed, history) is Decision.CONTINUE
    # A fork reporting its start point (the parent's step 3) again decides nothing either.
    fork = forked(8, parent=4, step=3, replaces=7, score=99.0, steps=4)
    assert fork.start_step == 4
    assert PBT().decide(fork, [*history, fork]) is Decision.CONTINUE


def test_a_second_fork_of_one_member_stops_at_once() -> None:
    # Two workers asked together and both forked member 2 (trials 8 and 9). Trial numbers settle
    # it: 9 is no member, stops at its first report (step 4, no interval's end), and its PRUNED
    # record asks for no fork of its own.
    history = founders(steps=5)
    history[2] = member(2, state=TrialState.PRUNED)
    first = forked(8, parent=4, step=3, replaces=2, score=0.1, steps=5)
    second = forked(9, parent=4, step=3, replaces=2, score=0.1, steps=5)
    both = [*history, first, second]
    assert PBT().decide(second, both) is Decision.STOP
    assert PBT().decide(first, both) is Decision.CONTINUE
    assert PBT()._members({t.number: t for t in both}) == set(range(9))
    pruned = [*history, first, replace(second, state=TrialState.PRUNED)]
    assert PBT().next_job(pruned) == Suggestion(wait=True)  # nothing to replace
