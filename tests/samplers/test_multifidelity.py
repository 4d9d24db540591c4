"""MultiFidelitySampler: the conformance suite, the level view against hand-made tables and a
brute-force level choice, and its composition with the base sampler."""

from __future__ import annotations

import json
import math
import pickle
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shoal
from shoal.exceptions import ConfigError
from shoal.samplers import (
    GPSampler,
    History,
    MultiFidelitySampler,
    RandomSampler,
    Sampler,
    TPESampler,
    sampler_rng,
)
from shoal.samplers._multifidelity_view import (
    FINAL,
    choose_level,
    level_score,
    level_view,
    reached,
)
from shoal.samplers._streams import space_rng
from shoal.schedulers import ASHA
from shoal.space import Float, Space
from shoal.testing import SamplerSuite
from shoal.trial import FrozenTrial, TrialState

S = TrialState


class TestMultiFidelityTPE(SamplerSuite):
    def make_sampler(self, seed: Any) -> Sampler:
        return MultiFidelitySampler(base=TPESampler(seed=seed, n_startup=4), min_points=3)


class TestMultiFidelityGP(SamplerSuite):
    def make_sampler(self, seed: Any) -> Sampler:
        return MultiFidelitySampler(base=GPSampler(seed=seed, n_startup=4), min_points=3)


# The level view ------------------------------------------------------------------------------
def _t(number: int, state: TrialState, curve: dict[int, float], final: float | None = None,
       x: float = 0.0, done: float | None = 1.0) -> FrozenTrial:
    return FrozenTrial(number, 100 + number, state, params={"x": x}, intermediate=curve,
                       values=None if final is None else (final,),
                       datetime_complete=None if state is S.RUNNING else done)


def _asha_history() -> list[FrozenTrial]:
    """Nine trials of a stopping ASHA with rungs 1, 3, 9 (losses: lower is better)."""
    return [
        _t(0, S.COMPLETE, {1: 0.9, 3: 0.6, 9: 0.4, 10: 0.35}, final=0.35),
        _t(1, S.PRUNED, {1: 1.5}),
        _t(2, S.PRUNED, {1: 0.95, 3: 0.8}),
        _t(3, S.COMPLETE, {1: 0.8, 3: 0.5, 9: 0.3, 10: 0.3}, final=0.3),
        _t(4, S.PAUSED, {1: 0.7, 3: 0.55}),
        _t(5, S.RUNNING, {1: 0.85, 3: 0.7, 9: 0.45, 10: 0.44}),  # past 9: its report counts
        _t(6, S.RUNNING, {1: 1.0}),
        _t(7, S.FAILED, {1: 0.5}),
        _t(8, S.PRUNED, {}),  # pruned before it reported
    ]


def test_reached_levels() -> None:
    assert [reached(t) for t in _asha_history()] == [FINAL, 1, 3, FINAL, 3, 10, 1, -math.inf,
                                                     -math.inf]


def test_level_choice_against_brute_force() -> None:
    rng = np.random.default_rng(3)
    for _ in range(300):
        tops = [float(v) for v in rng.choice([-math.inf, 1, 2, 3, 9, 27, FINAL],
                                             size=int(rng.integers(0, 15)))]
        m = int(rng.integers(1, 8))
        observed = [r for r in tops if r != -math.inf]
        candidates = [lv for lv in set(observed) if sum(r >= lv for r in observed) >= m]
        expected = max(candidates) if candidates else min(observed) if observed else None
        assert choose_level(tops, m) == expected


def test_scores_at_a_level() -> None:
    sparse = _t(0, S.PRUNED, {2: 0.8, 4: 0.6, 6: 0.5})
    assert [level_score(sparse, lv) for lv in (1, 2, 3, 4, 5, 6, 7, FINAL)] == [
        None, 0.8, 0.8, 0.6, 0.6, 0.5, None, None]
    done = _t(1, S.COMPLETE, {1: 0.9}, final=0.2)
    assert [level_score(done, lv) for lv in (1, 5, FINAL)] == [0.9, 0.9, 0.2]
    unreported = _t(2, S.COMPLETE, {}, final=0.4)
    assert level_score(unreported, 3) == 0.4


@pytest.mark.parametrize(("level", "unreached", "expected"), [
    # (state, values) per trial of _asha_history, by hand.
    (3, "drop", [(S.COMPLETE, 0.6), (S.WAITING, None), (S.COMPLETE, 0.8), (S.COMPLETE, 0.5),
                 (S.COMPLETE, 0.55), (S.COMPLETE, 0.7), (S.RUNNING, None), (S.FAILED, None),
                 (S.PRUNED, None)]),
    (9, "drop", [(S.COMPLETE, 0.4), (S.WAITING, None), (S.WAITING, None), (S.COMPLETE, 0.3),
                 (S.WAITING, None), (S.COMPLETE, 0.45), (S.RUNNING, None), (S.FAILED, None),
                 (S.PRUNED, None)]),
    (9, "bad", [(S.COMPLETE, 0.4), (S.FAILED, None), (S.FAILED, None), (S.COMPLETE, 0.3),
                (S.FAILED, None), (S.COMPLETE, 0.45), (S.RUNNING, None), (S.FAILED, None),
                (S.PRUNED, None)]),
    (FINAL, "drop", [(S.COMPLETE, 0.35), (S.WAITING, None), (S.WAITING, None), (S.COMPLETE, 0.3),
                     (S.WAITING, None), (S.RUNNING, None), (S.RUNNING, None), (S.FAILED, None),
                     (S.PRUNED, None)]),
])
def test_level_view_by_hand(level: float, unreached: Any, expected: list[Any]) -> None:
    view = [level_view(t, level, unreached) for t in _asha_history()]
    assert [(v.state, None if v.values is None else v.values[0]) for v in view] == expected
    for before, after in zip(_asha_history(), view, strict=True):  # only state and values change
        assert (after.number, after.trial_id, after.params, after.intermediate) == (
            before.number, before.trial_id, before.params, before.intermediate)


def test_the_view_keeps_signs_and_the_position() -> None:
    maximised = FrozenTrial(0, 0, S.PRUNED, params={"x": 0.1}, intermediate={1: 0.7, 3: 0.9},
                            signs=(-1.0,))
    view = level_view(maximised, 3, "drop")
    assert view.values == (0.9,)
    assert view.score == -0.9
    history = History(_asha_history(), 9)
    sampler = MultiFidelitySampler(base=RandomSampler(seed=0), min_points=4)
    assert sampler.view(Space({"x": Float(0.0, 1.0)}), history)[0].position == history.position


# The sampler ---------------------------------------------------------------------------------
SPACE = Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})


def _study(n: int, seed: int = 0) -> list[FrozenTrial]:
    """A stopping ASHA's history by hand: rung 1 and 3, one in nine completes at step 9."""
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        x, y = rng.random(2)
        final = (x - 0.7) ** 2 + (y - 0.2) ** 2
        curve = {s: final + 1.0 / s + 0.3 * (x - 0.2) ** 2 for s in range(1, 10)}
        stop = 9 if i % 9 == 0 else 3 if i % 3 == 0 else 1
        part = {s: v for s, v in curve.items() if s <= stop}
        state, values = (S.COMPLETE, (curve[9],)) if stop == 9 else (S.PRUNED, None)
        out.append(FrozenTrial(i, i, state, params={"x": float(x), "y": float(y)},
                               intermediate=part, values=values, datetime_complete=float(i)))
    return out


def test_level_follows_min_points_and_describe_says_it() -> None:
    trials = _study(60)  # 7 complete (0, 9, ..., 54), 13 more at step 3, 40 at step 1
    history = History([*trials, FrozenTrial(60, 60, S.RUNNING)], 60)
    for m, level, n in ((5, "final", 7), (7, "final", 7), (8, 3, 20), (20, 3, 20), (21, 1, 60)):
        info = MultiFidelitySampler(base=TPESampler(seed=0), min_points=m,
                                    random_fraction=0.0).describe(SPACE, history)
        assert (info["mf_level"], info["mf_points"]) == (level, n), m
        json.dumps(info)
    info = MultiFidelitySampler(base=TPESampler(seed=0), min_points=8,
                                random_fraction=0.0).describe(SPACE, history)
    assert info["mf_phase"] == "model"
    assert info["tpe_phase"] == "model"


def test_suggests_what_the_base_suggests_from_the_hand_made_view() -> None:
    trials = _study(60)  # min_points 15: level 3 (20 trials reached it), every third trial
    history = History([*trials, FrozenTrial(60, 60, S.RUNNING)], 60)
    by_hand = [FrozenTrial(t.number, t.trial_id, S.COMPLETE, params=t.params,
                           intermediate=t.intermediate, values=(t.intermediate[3],),
                           datetime_complete=t.datetime_complete) if t.number % 3 == 0 else
               FrozenTrial(t.number, t.trial_id, S.WAITING, params=t.params,
                           intermediate=t.intermediate, datetime_complete=t.datetime_complete)
               for t in trials]
    expected = TPESampler(seed=1).suggest(
        SPACE, History([*by_hand, FrozenTrial(60, 60, S.RUNNING)], 60), sampler_rng(1, 60))
    sampler = MultiFidelitySampler(base=TPESampler(seed=1), min_points=15, random_fraction=0.0,
                                   unreached="drop")
    assert sampler.suggest(SPACE, history, sampler_rng(1, 60)) == expected


def test_imputes_the_newest_stopped_trials_by_hand() -> None:
    """Level 3 (20 trials reached it); every curve falls by exactly 1 - 1/3 from step 1 to 3,
    so a trial stopped at step 1 is imputed at its report there - 2/3. The newest 16 of the 40
    trials stopped below are imputed, the others hidden."""
    trials = _study(60)
    history = History([*trials, FrozenTrial(60, 60, S.RUNNING)], 60)
    sampler = MultiFidelitySampler(base=TPESampler(seed=1), min_points=15)
    view, level, n = sampler.view(SPACE, history)
    assert (level, n) == (3, 20)
    stopped = [t.number for t in trials if t.number % 3 != 0]
    for t, v in zip(trials, view.trials, strict=False):
        if t.number % 3 == 0:
            assert (v.state, v.values) == (S.COMPLETE, (t.intermediate[3],))
        elif t.number in stopped[-16:]:
            assert v.state is S.COMPLETE
            assert v.values == pytest.approx((t.intermediate[1] - 2 / 3,))
        else:
            assert (v.state, v.values) == (S.WAITING, None)
    few = History([*trials[:30], FrozenTrial(30, 30, S.RUNNING)], 30)  # 10 reached step 3
    view, level, n = sampler.view(SPACE, few)
    assert (level, n) == (1, 30)  # fewer than 15 reached step 3: step 1, nothing stopped below
    assert all(v.state is S.COMPLETE for v in view.trials[:30])


def test_a_single_fidelity_study_is_passed_through() -> None:
    trials = [FrozenTrial(i, i, S.COMPLETE, params={"x": x, "y": 0.5}, values=(x * x,))
              for i, x in enumerate(np.linspace(0.0, 1.0, 12).tolist())]
    history = History([*trials, FrozenTrial(12, 12, S.RUNNING)], 12)
    sampler = MultiFidelitySampler(base=TPESampler(seed=2))
    assert sampler.view(SPACE, history)[0] is history
    assert sampler.suggest(SPACE, history, sampler_rng(2, 12)) == TPESampler(seed=2).suggest(
        SPACE, history, sampler_rng(2, 12))


def test_several_objectives_are_passed_through() -> None:
    trials = [FrozenTrial(i, i, S.COMPLETE, params={"x": 0.1 * i, "y": 0.5}, values=(i, -i),
                          signs=(1.0, 1.0)) for i in range(5)]
    history = History(trials, 5)
    assert MultiFidelitySampler(base=RandomSampler(seed=0)).view(SPACE, history)[0] is history


def test_the_memo_changes_nothing() -> None:
    trials = _study(90, seed=4)
    remembering = MultiFidelitySampler(base=TPESampler(seed=3), min_points=8, random_fraction=0.0)
    for n in range(30, 91, 6):
        # A running trial, and the paused trial 1 resumed: the memo must not serve stale views.
        live = [*trials[:n]]
        live[1] = FrozenTrial(1, 1, S.RUNNING, params=live[1].params,
                              intermediate={1: 0.0, 2: 0.0, 3: 0.0}) if n % 12 == 0 else live[1]
        history = History([*live, FrozenTrial(n, n, S.RUNNING)], n)
        fresh = MultiFidelitySampler(base=TPESampler(seed=3), min_points=8, random_fraction=0.0)
        rng_a, rng_b = sampler_rng(3, n), sampler_rng(3, n)
        assert remembering.suggest(SPACE, history, rng_a) == fresh.suggest(SPACE, history, rng_b)
        assert remembering.view(SPACE, history)[0] == fresh.view(SPACE, history)[0]
    assert remembering._memo.views
    assert not pickle.loads(pickle.dumps(remembering))._memo.views


def test_the_model_follows_the_level_it_models() -> None:
    """Reports at step 1 favour x near 0, the final values x near 1: the suggestions follow the
    final values when enough trials completed, and step 1 when min_points asks for every trial."""
    rng = np.random.default_rng(5)
    trials = []
    for i in range(80):
        x = float(rng.random())
        if i % 4 == 0:  # completed: the final value is best near x = 1
            trials.append(FrozenTrial(i, i, S.COMPLETE, params={"x": x, "y": 0.5},
                                      intermediate={1: 1.0 + x, 9: 1.0 - x}, values=(1.0 - x,),
                                      datetime_complete=float(i)))
        else:  # stopped at step 1, where x near 0 looks best
            trials.append(FrozenTrial(i, i, S.PRUNED, params={"x": x, "y": 0.5},
                                      intermediate={1: 1.0 + x}, datetime_complete=float(i)))
    picks = {}
    for m in (10, 80):
        # "drop": imputing would carry step 1's ranking up, as a rung scheduler assumes too.
        sampler = MultiFidelitySampler(base=TPESampler(seed=0), min_points=m, random_fraction=0.0,
                                       unreached="drop")
        picks[m] = float(np.mean([sampler.suggest(
            SPACE, History([*trials, FrozenTrial(80 + k, 80 + k, S.RUNNING)], 80 + k),
            sampler_rng(0, 80 + k))["x"] for k in range(20)]))
    assert picks[10] > 0.7
    assert picks[80] < 0.3


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"min_points": 0}, "min_points of MultiFidelitySampler must be an integer >= 1 or None. Got 0."),
    ({"random_fraction": 1.5}, "random_fraction of MultiFidelitySampler must be a finite number "
                               "in [0.0, 1.0]. Got 1.5."),
    ({"unreached": "keep"}, "unreached of MultiFidelitySampler must be one of ['bad', 'drop', 'impute']. "
                            "Got 'keep'."),
    ({"base": "tpe"}, "base of MultiFidelitySampler must be a sampler"),
    ({"seed": -1}, "seed of MultiFidelitySampler must be an integer >= 0 or None. Got -1."),
])
def test_refuses_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("[", r"\[").replace("]", r"\]")
                       .replace("(", r"\(").replace(")", r"\)")):
        MultiFidelitySampler(**kwargs)


def test_repr_and_seed() -> None:
    sampler = MultiFidelitySampler(seed=4)
    assert sampler.seed == 4
    assert isinstance(sampler.base, GPSampler)
    assert repr(sampler).startswith("MultiFidelitySampler(base=GPSampler(seed=4")


def test_views_equal_dataclasses_replace() -> None:
    for t in _asha_history():
        for level in (1, 3, 9, FINAL):
            view = level_view(t, level, "drop")
            assert view == replace(t, state=view.state, values=view.values)
            assert hash(view.number) == hash(t.number)
            assert view.lineage == t.lineage


def test_a_random_fraction_of_trials_is_drawn_at_random() -> None:
    trials = _study(60)
    sampler = MultiFidelitySampler(base=TPESampler(seed=6), min_points=8, random_fraction=0.25)
    phases = []
    for n in range(60, 460):
        history = History([*trials, FrozenTrial(n, n, S.RUNNING)], n)
        phase = sampler.describe(SPACE, history)["mf_phase"]
        phases.append(phase)
        if phase == "random" and n < 80:  # the suggestion is a random draw of that trial's stream
            expected = SPACE.sample(space_rng(sampler_rng(6, n), SPACE))
            assert sampler.suggest(SPACE, history, sampler_rng(6, n)) == expected
    assert 0.20 < phases.count("random") / len(phases) < 0.30  # 400 coins: 3.5 sd either side
    early = History([*trials[:9], FrozenTrial(9, 9, S.RUNNING)], 9)
    assert all(MultiFidelitySampler(random_fraction=1.0, seed=s).describe(SPACE, early)[
        "mf_phase"] == "model" for s in range(5))  # never within the base's initial design


# In a study, with the schedulers it is made for -----------------------------------------------
@pytest.mark.parametrize("mode", ["stopping", "promotion"])
def test_in_a_study_with_asha(mode: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_ARTIFACTS", str(tmp_path / "artifacts"))

    def objective(trial: shoal.Trial) -> float:
        x = trial.suggest_float("x", 0.0, 1.0)
        start = 0 if trial.resume_step is None else trial.resume_step + 1
        for step in range(start, 10):
            trial.report((x - 0.3) ** 2 + 1.0 / (step + 1), step)
            with trial.checkpoint(step) as folder:
                (folder / "step.txt").write_text(str(step))
            if trial.should_pause():
                raise shoal.TrialPaused()
            if trial.should_prune():
                raise shoal.TrialPruned()
        return (x - 0.3) ** 2

    sampler = MultiFidelitySampler(base=GPSampler(seed=0, n_startup=5), min_points=5)
    study = shoal.create_study(sampler=sampler, scheduler=ASHA(max_resource=9, mode=mode))
    study.optimize(objective, n_trials=60)
    trials = sorted(study.trials, key=lambda t: t.number)
    assert len(trials) == 60
    phases = [t.system_attrs.get("mf_phase") for t in trials]
    assert "random" not in phases[:10]  # the base's initial design, never the coin
    assert {"model", "random"} <= set(phases[10:])
    levels = {t.system_attrs.get("mf_level") for t in trials[20:] if phases[t.number] == "model"}
    assert levels & {3, 9, "final"}  # modelled above the first rung once enough trials got there
    modelled = [t.params["x"] for t in trials[30:] if phases[t.number] == "model"]
    assert np.median(np.abs(np.array(modelled) - 0.3)) < 0.15  # random: 0.25
