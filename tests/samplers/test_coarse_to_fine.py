"""CoarseToFineSampler: boxes that shrink around the best trials, in encoded space."""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from shoal.exceptions import ConfigError
from shoal.samplers import CoarseToFineSampler, History, Sampler, sampler_rng
from shoal.space import Categorical, Float, Int, Space
from shoal.testing import SamplerSuite
from shoal.trial import (
    FrozenTrial,
    TrialState,
    crowding_distance,
    feasible_first_ranks,
    hypervolume,
)


class TestCoarseToFineSamplerSuite(SamplerSuite):
    def make_sampler(self, seed: int | None) -> Sampler:
        # Small rounds, so the suite's short studies reach the zoom rounds.
        return CoarseToFineSampler(seed=seed, n_initial=4, trials_per_round=3)


Objective = Callable[[dict[str, Any]], float]


def _study(sampler: CoarseToFineSampler, space: Space, objective: Objective,
           n: int) -> tuple[list[FrozenTrial], list[dict[str, Any]]]:
    """Run n trials in sequence; return them with what `describe` said for each."""
    trials: list[FrozenTrial] = []
    described = []
    for number in range(n):
        history = History((*trials, FrozenTrial(number, number, TrialState.RUNNING)), number)
        described.append(sampler.describe(space, history))
        params = sampler.suggest(space, history, sampler_rng(sampler.seed, number))
        space.validate(params)
        trials.append(FrozenTrial(number, number, TrialState.COMPLETE, params=params,
                                  values=(objective(params),)))
    return trials, described


def _first_of_round(described: list[dict[str, Any]], r: int) -> dict[str, Any]:
    return next(d for d in described if d["zoom_round"] == r)


def test_boxes_shrink_around_the_optimum_of_a_quadratic() -> None:
    space = Space({"x": Float(-5.0, 5.0), "y": Float(-5.0, 5.0)})
    sampler = CoarseToFineSampler(seed=0, n_initial=16, trials_per_round=16, rounds=4)
    _, described = _study(sampler, space,
                          lambda p: (p["x"] - 1.0) ** 2 + (p["y"] + 2.0) ** 2, 16 + 4 * 16)
    widths = []
    for r in range(5):
        box = _first_of_round(described, r)["zoom_box"]
        widths.append(max(box["x"][1] - box["x"][0], box["y"][1] - box["y"][0]))
        assert widths[r] <= 10.0 * 0.5**r + 1e-9  # at most shrink**round of the range
        if r >= 1:  # boxes after the initial round hold the optimum
            assert box["x"][0] <= 1.0 <= box["x"][1]
            assert box["y"][0] <= -2.0 <= box["y"][1]
    assert widths == sorted(widths, reverse=True)
    assert widths[4] < widths[1] < widths[0] == 10.0


def test_log_scale_zooms_in_log_space() -> None:
    space = Space({"lr": Float(1e-6, 1.0, scale="log")})
    sampler = CoarseToFineSampler(seed=1, n_initial=8, trials_per_round=8, rounds=3)
    trials, described = _study(sampler, space, lambda p: (math.log10(p["lr"]) + 3.0) ** 2, 40)
    lr = space["lr"]
    for r in (1, 2, 3):
        low, high = _first_of_round(described, r)["zoom_box"]["lr"]
        # In encoded (log) coordinates the box is at most 0.5**r wide and holds lr=1e-3 (u=0.5).
        assert lr.encode(high) - lr.encode(low) <= 0.5**r + 1e-9
        assert lr.encode(low) <= 0.5 <= lr.encode(high)
    low, high = _first_of_round(described, 3)["zoom_box"]["lr"]
    assert 1e-4 < low < 1e-3 < high < 1e-2  # a box in linear units would start near 1e-6
    # Each later trial lies in its own box (recomputed from the trials before it).
    for t, box in zip(trials[32:], described[32:], strict=True):
        assert box["zoom_box"]["lr"][0] <= t.params["lr"] <= box["zoom_box"]["lr"][1]


def test_suggestions_lie_in_the_described_box() -> None:
    space = Space({"x": Float(0.0, 1.0), "n": Int(1, 100, log=True),
                   "act": Categorical(["relu", "tanh", "gelu"])})
    sampler = CoarseToFineSampler(seed=2, n_initial=6, trials_per_round=6, rounds=2)

    def objective(p: dict[str, Any]) -> float:
        return (p["x"] - 0.2) ** 2 + (math.log(p["n"]) - 2.0) ** 2 + (p["act"] != "tanh")

    trials, described = _study(sampler, space, objective, 24)
    for trial, info in zip(trials, described, strict=True):
        for name in ("x", "n"):
            low, high = info["zoom_box"][name]
            assert low <= trial.params[name] <= high
        if info["zoom_round"] > 0:
            assert trial.params["act"] in info["zoom_choices"]["act"]
        assert all(type(v) is int for v in info["zoom_box"]["n"])


def test_describe_records_round_and_box() -> None:
    space = Space({"x": Float(-5.0, 5.0), "act": Categorical(["relu", "tanh"])})
    sampler = CoarseToFineSampler(n_initial=4, trials_per_round=2, rounds=2)
    done = [FrozenTrial(i, i, TrialState.COMPLETE, params={"x": x, "act": a}, values=(x * x,))
            for i, (x, a) in enumerate([(-4.0, "relu"), (-1.0, "tanh"), (0.5, "tanh"), (3.0, "relu")])]
    assert sampler.describe(space, History(done[:2], 2)) == {
        "zoom_round": 0, "zoom_box": {"x": [-5.0, 5.0]}, "zoom_choices": {}}
    info = sampler.describe(space, History(done, 4))
    assert info["zoom_round"] == 1
    assert info["zoom_box"]["x"] == pytest.approx([-2.0, 1.75])
    assert info["zoom_choices"] == {"act": ["tanh"]}
    assert [sampler.round_of(p) for p in range(10)] == [0, 0, 0, 0, 1, 1, 2, 2, 2, 2]


def test_categoricals_are_restricted_to_the_choices_of_the_top_trials() -> None:
    space = Space({"act": Categorical(["relu", "tanh", "gelu", None])})
    done = [FrozenTrial(i, i, TrialState.COMPLETE, params={"act": a}, values=(v,))
            for i, (a, v) in enumerate([("relu", 3.0), (None, 0.0), ("gelu", 1.0), ("tanh", 5.0),
                                        ("relu", 4.0)])]
    sampler = CoarseToFineSampler(seed=0, n_initial=5, top_fraction=0.4)
    drawn = {sampler.suggest(space, History(done, 5), sampler_rng(s, 5))["act"] for s in range(50)}
    assert drawn == {None, "gelu"}


def test_too_few_usable_trials_fall_back_to_the_whole_space() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    sampler = CoarseToFineSampler(n_initial=2)
    trials = [FrozenTrial(0, 0, TrialState.FAILED, params={"x": 0.1}),
              FrozenTrial(1, 1, TrialState.COMPLETE, params={"x": 0.2}, values=(math.nan,)),
              FrozenTrial(2, 2, TrialState.COMPLETE, params={"x": 0.3}, values=(1.0,))]
    assert sampler.describe(space, History(trials, 3)) == {
        "zoom_round": 0, "zoom_box": {"x": [0.0, 1.0]}, "zoom_choices": {}}


def test_later_trials_are_ignored() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    sampler = CoarseToFineSampler(n_initial=2)
    early = [FrozenTrial(i, i, TrialState.COMPLETE, params={"x": x}, values=(x,))
             for i, x in enumerate([0.1, 0.9])]
    late = FrozenTrial(3, 3, TrialState.COMPLETE, params={"x": 0.5}, values=(-1.0,))
    assert sampler.describe(space, History(early, 2)) == sampler.describe(
        space, History([*early, late], 2))


def test_conditional_box_uses_trials_where_the_parameter_was_active() -> None:
    space = Space({"opt": Categorical(["sgd", "adam"]),
                   "momentum": Float(0.0, 1.0, when={"opt": ["sgd"]}),
                   "lr": Float(0.0, 1.0)})
    rows = [("adam", None, 0.50, 0.0), ("sgd", 0.8, 0.52, 0.1), ("adam", None, 0.48, 0.2),
            ("sgd", 0.1, 0.9, 5.0), ("sgd", 0.3, 0.1, 6.0)]
    done = [FrozenTrial(i, i, TrialState.COMPLETE, values=(score,),
                        params={"opt": o, "lr": lr, **({} if m is None else {"momentum": m})})
            for i, (o, m, lr, score) in enumerate(rows)]
    sampler = CoarseToFineSampler(n_initial=5, top_fraction=0.6, shrink=0.5)
    info = sampler.describe(space, History(done, 5))
    low, high = info["zoom_box"]["momentum"]
    # Around the one top trial where momentum was active (0.8), padded by a quarter of 0.5.
    assert low == pytest.approx(0.675)
    assert high == pytest.approx(0.925)
    assert info["zoom_choices"] == {"opt": ["sgd", "adam"]}
    for s in range(20):
        params = sampler.suggest(space, History(done, 5), sampler_rng(s, 5))
        space.validate(params)
        if "momentum" in params:
            assert low <= params["momentum"] <= high


def test_pruned_trials_with_reports_count() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    done = [FrozenTrial(0, 0, TrialState.PRUNED, params={"x": 0.9}, intermediate={0: -5.0}),
            FrozenTrial(1, 1, TrialState.COMPLETE, params={"x": 0.1}, values=(1.0,))]
    info = CoarseToFineSampler(n_initial=2).describe(space, History(done, 2))
    low, high = info["zoom_box"]["x"]
    assert low <= 0.9 <= high  # the pruned trial reported the best score


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_initial": 0}, "n_initial of CoarseToFineSampler must be an integer >= 1. Got 0."),
    ({"trials_per_round": 2.5},
     "trials_per_round of CoarseToFineSampler must be an integer >= 1. Got 2.5."),
    ({"rounds": -1}, "rounds of CoarseToFineSampler must be an integer >= 0. Got -1."),
    ({"shrink": 1.0}, "shrink of CoarseToFineSampler must be a finite number in (0, 1). Got 1.0."),
    ({"top_fraction": 0}, "top_fraction of CoarseToFineSampler must be a finite number in (0, 1]. Got 0."),
])
def test_bad_arguments_are_rejected(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        CoarseToFineSampler(**kwargs)


def test_zero_rounds_is_random_search() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    done = [FrozenTrial(i, i, TrialState.COMPLETE, params={"x": x}, values=(x,))
            for i, x in enumerate(np.linspace(0, 1, 10))]
    info = CoarseToFineSampler(n_initial=2, rounds=0).describe(space, History(done, 10))
    assert info["zoom_round"] == 0
    assert info["zoom_box"] == {"x": [0.0, 1.0]}


# One objective: unchanged by the multi-objective work, byte for byte. ---------------------------
def _regression_lines() -> list[str]:
    """A seeded 40-trial study (ties, failed, pruned and maximised trials): suggestions and boxes."""
    space = Space({"x": Float(-5.0, 5.0), "lr": Float(1e-5, 1.0, scale="log"),
                   "n": Int(1, 100, log=True), "act": Categorical(["relu", "tanh", "gelu"])})
    sampler = CoarseToFineSampler(seed=3, n_initial=8, trials_per_round=6, rounds=3)
    trials: list[FrozenTrial] = []
    lines = []
    for number in range(40):
        history = History((*trials, FrozenTrial(number, number, TrialState.RUNNING)), number)
        info = sampler.describe(space, history)
        params = sampler.suggest(space, history, sampler_rng(sampler.seed, number))
        lines.append(repr(sorted(params.items())) + repr(info))
        score = round((params["x"] - 1.0) ** 2 + abs(math.log10(params["lr"]) + 3), 1)  # ties
        if number % 7 == 3:
            trials.append(FrozenTrial(number, number, TrialState.FAILED, params=params))
        elif number % 7 == 5:
            trials.append(FrozenTrial(number, number, TrialState.PRUNED, params=params,
                                      intermediate={0: score + 1.0}))
        else:
            sign = -1.0 if number % 2 else 1.0
            trials.append(FrozenTrial(number, number, TrialState.COMPLETE, params=params,
                                      values=(sign * score,), signs=(sign,)))
    return lines


def test_single_objective_studies_are_unchanged() -> None:
    # The digest of main's sampler (commit b7cdd09) on this study, before several objectives.
    lines = _regression_lines()
    assert lines[-1].startswith("[('act', 'tanh'), ('lr', 0.006353030079159666), ('n', 5), "
                                "('x', 0.5091665044585234)]{'zoom_round': 3")
    digest = hashlib.sha256("\n".join(lines).encode()).hexdigest()
    assert digest == "66200b600591ca05ebdc5dcf3674e8175f3a53cf6d57e02df03e423257c722a5"


def test_one_objective_zooms_around_feasible_trials_first() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    rows = [(0.1, 0.0, [1.0]), (0.5, 1.0, [-1.0]), (0.55, 2.0, [0.0]), (0.9, 3.0, [-0.5])]
    done = [FrozenTrial(i, i, TrialState.COMPLETE, params={"x": x}, values=(v,),
                        system_attrs={"constraints": c}) for i, (x, v, c) in enumerate(rows)]
    sampler = CoarseToFineSampler(n_initial=4, top_fraction=0.5, shrink=0.5)
    low, high = sampler.describe(space, History(done, 4))["zoom_box"]["x"]
    # The best score (x=0.1) violates its constraint: the box is around x=0.5 and x=0.55,
    # padded by 0.125 and centred within 0.25 of x=0.5.
    assert (low, high) == pytest.approx((0.375, 0.675))
    violated = [FrozenTrial(i, i, TrialState.COMPLETE, params={"x": x}, values=(v,),
                            system_attrs={"constraints": [c]})
                for i, (x, v, c) in enumerate([(0.1, 0.0, 3.0), (0.8, 5.0, 1.0), (0.2, 1.0, 2.0)])]
    low, high = CoarseToFineSampler(n_initial=3, top_fraction=0.5, shrink=0.5).describe(
        space, History(violated, 3))["zoom_box"]["x"]
    # None feasible: the least violation leads (x=0.8, then x=0.2), the best score is left out.
    assert (low, high) == pytest.approx((0.55, 0.925))


# Several objectives: zoom around the front. -----------------------------------------------------
UNIT2 = Space({"x": Float(0.0, 1.0), "y": Float(0.0, 1.0)})


def _two_objectives(p: dict[str, Any]) -> tuple[float, float]:
    """Minimise f1, maximise -f2: the front is the segment y = 0.6, 0.3 <= x <= 0.5."""
    f1 = (p["x"] - 0.3) ** 2 + (p["y"] - 0.6) ** 2
    f2 = (p["x"] - 0.5) ** 2 + (p["y"] - 0.6) ** 2
    return f1, -f2


def _mo_study(sampler: CoarseToFineSampler, n: int) -> tuple[list[FrozenTrial], list[dict[str, Any]]]:
    trials: list[FrozenTrial] = []
    described = []
    for number in range(n):
        history = History((*trials, FrozenTrial(number, number, TrialState.RUNNING)), number)
        described.append(sampler.describe(UNIT2, history))
        params = sampler.suggest(UNIT2, history, sampler_rng(sampler.seed, number))
        trials.append(FrozenTrial(number, number, TrialState.COMPLETE, params=params,
                                  values=_two_objectives(params), signs=(1.0, -1.0)))
    return trials, described


def test_several_objectives_zoom_around_the_front() -> None:
    wins = 0
    gains = []
    for seed in range(10):
        sampler = CoarseToFineSampler(seed=seed, n_initial=16, trials_per_round=16, rounds=2)
        trials, described = _mo_study(sampler, 32)
        box = described[16]
        assert box["zoom_round"] == 1
        (x_low, x_high), (y_low, y_high) = box["zoom_box"]["x"], box["zoom_box"]["y"]
        assert x_low <= 0.3, box  # the whole front
        assert x_high >= 0.5, box
        assert y_low <= 0.6 <= y_high, box
        assert (x_high - x_low) * (y_high - y_low) < 0.8, box  # and it zoomed
        for t, info in zip(trials[16:], described[16:], strict=True):  # each in its own box
            (x_low, x_high), (y_low, y_high) = info["zoom_box"]["x"], info["zoom_box"]["y"]
            assert x_low <= t.params["x"] <= x_high
            assert y_low <= t.params["y"] <= y_high
        # Reference (0.5, 0.5) in scores: f1 and -(-f2) = f2 below 0.5.
        first, second = (hypervolume([t.scores for t in trials[a:a + 16]], [0.5, 0.5])
                         for a in (0, 16))
        wins += second > first
        gains.append(second - first)
    assert wins >= 8, gains  # 10 of 10 at the time of writing
    assert float(np.mean(gains)) > 0.01, gains


def test_a_front_across_the_whole_range_keeps_the_range() -> None:
    # f(x) = (x, 1 - x): every point is Pareto-optimal, so no end of [0, 1] is better.
    space = Space({"x": Float(0.0, 1.0)})
    done = [FrozenTrial(i, i, TrialState.COMPLETE, params={"x": x}, values=(x, 1.0 - x),
                        signs=(1.0, 1.0)) for i, x in enumerate(np.linspace(0.02, 0.98, 20))]
    sampler = CoarseToFineSampler(seed=0, n_initial=4, trials_per_round=4, rounds=4)
    for number in (20, 24, 40):
        info = sampler.describe(space, History(done, number))
        assert info["zoom_round"] >= 1
        low, high = info["zoom_box"]["x"]
        # The top trials by crowding are the front's two ends and its loneliest points.
        assert low <= 0.02, info
        assert high >= 0.98, info
    drawn = [sampler.suggest(space, History(done, 40), sampler_rng(s, 40))["x"] for s in range(40)]
    assert min(drawn) < 0.2
    assert max(drawn) > 0.8


def test_front_order_ranks_by_front_then_crowding() -> None:
    from shoal.samplers._coarse_to_fine import _front_order

    pts = [(0.0, 4.0), (1.0, 2.0), (3.0, 3.0), (1.5, 1.5), (4.0, 0.0), (2.0, 2.0)]
    trials = [FrozenTrial(i, i, TrialState.COMPLETE, values=(a, -b), signs=(1.0, -1.0))
              for i, (a, b) in enumerate(pts)]
    # Front {0, 1, 3, 4}; crowding by hand: the ends inf, 3 = 0.75 + 0.5, 1 = 0.375 + 0.625.
    # Then (2, 2), rank 1, and (3, 3), which it dominates, rank 2.
    assert _front_order(trials, 6) == [0, 4, 3, 1, 5, 2]
    assert _front_order(trials, 3) == [0, 4, 3]
    infeasible = [FrozenTrial(6, 6, TrialState.COMPLETE, values=(-9.0, 9.0), signs=(1.0, -1.0),
                              system_attrs={"constraints": [0.5, -1.0]})]
    assert _front_order([*infeasible, *trials], 7) == [1, 5, 4, 2, 6, 3, 0]


def test_several_objectives_with_constraints_zoom_on_feasible_trials() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    rows = [(0.05, (0.0, 0.0), [1.0]), (0.1, (0.1, 0.1), [2.0]),  # dominant but infeasible
            (0.6, (1.0, 2.0), [0.0]), (0.7, (2.0, 1.0), [-1.0]), (0.95, (3.0, 3.0), [0.0])]
    done = [FrozenTrial(i, i, TrialState.COMPLETE, params={"x": x}, values=v, signs=(1.0, 1.0),
                        system_attrs={"constraints": c}) for i, (x, v, c) in enumerate(rows)]
    sampler = CoarseToFineSampler(n_initial=5, top_fraction=0.4, shrink=0.5)
    low, high = sampler.describe(space, History(done, 5))["zoom_box"]["x"]
    assert (low, high) == pytest.approx((0.6 - 0.125, 0.7 + 0.125))


def _rank_everything(trials: list[FrozenTrial]) -> list[int]:
    """The reference order: every trial ranked by feasible_first_ranks, crowding within a rank."""
    ranks = feasible_first_ranks(trials)
    crowding = [0.0] * len(trials)
    for rank in set(ranks):
        group = [i for i, r in enumerate(ranks) if r == rank]
        for i, d in zip(group, crowding_distance([trials[i].scores for i in group]).tolist(),
                        strict=True):
            crowding[i] = d
    return sorted(range(len(trials)), key=lambda i: (ranks[i], -crowding[i], trials[i].number))


@pytest.mark.parametrize("n_objectives", [2, 3])
def test_front_order_is_the_top_of_feasible_first_ranks(n_objectives: int) -> None:
    from shoal.samplers._coarse_to_fine import _front_order

    rng = np.random.default_rng(n_objectives)
    for case in range(60):
        n = int(rng.integers(1, 40))
        values = rng.integers(0, 6, size=(n, n_objectives)).astype(float)  # many ties
        violation = rng.choice([0.0, 0.0, 0.5, 1.0, 2.0], size=n)
        trials = [FrozenTrial(i, i, TrialState.COMPLETE, values=tuple(v),
                              signs=tuple(rng.choice([1.0, -1.0], size=n_objectives)) if case % 2
                              else (1.0,) * n_objectives,
                              system_attrs={"constraints": [float(c)]})
                  for i, (v, c) in enumerate(zip(values, violation, strict=True))]
        expected = _rank_everything(trials)
        for k in (1, 2, max(1, n // 5), n):
            assert _front_order(trials, k) == expected[:k], (case, k)


def test_a_study_with_two_objectives_and_constraints() -> None:
    import shoal

    def constraint(trial: FrozenTrial) -> list[float]:
        return [0.35 - trial.params["x"]]  # feasible where x >= 0.35: part of the front

    study = shoal.create_study(directions=["minimize", "maximize"], space=UNIT2,
                               sampler=CoarseToFineSampler(seed=4, n_initial=12,
                                                           trials_per_round=8, rounds=2),
                               constraints_func=constraint)
    study.optimize(lambda t: _two_objectives(t.params), n_trials=36)
    trials = study.trials
    assert [t.system_attrs["zoom_round"] for t in trials] == [0] * 12 + [1] * 8 + [2] * 16
    for t in trials[12:]:
        box = t.system_attrs["zoom_box"]
        assert box["x"][0] <= t.params["x"] <= box["x"][1]
        assert box["y"][0] <= t.params["y"] <= box["y"][1]
    front = study.best_trials
    assert front
    assert all(t.is_feasible for t in front)
    for t in trials[12:]:  # the top trials are feasible (x >= 0.35): the box starts a pad below
        pad = 0.25 * 0.5 ** t.system_attrs["zoom_round"]
        assert t.system_attrs["zoom_box"]["x"][0] >= 0.35 - pad - 1e-9
