"""GPSampler: the conformance suite, and that the model actually helps."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from shoal.exceptions import ConfigError
from shoal.samplers import History, RandomSampler, Sampler, sampler_rng
from shoal.samplers._gp import GPSampler
from shoal.samplers._qmc import qmc_point
from shoal.space import Categorical, Fixed, Float, Int, Space
from shoal.testing import SamplerSuite
from shoal.trial import FrozenTrial, TrialState


class TestGPSamplerSuite(SamplerSuite):
    def make_sampler(self, seed: int | None) -> Sampler:
        return GPSampler(seed=seed, n_startup=4)


def _run(sampler: Sampler, space: Space, objective: Any, n: int,
         fail: Any = None) -> list[FrozenTrial]:
    trials: list[FrozenTrial] = []
    for number in range(n):
        history = History((*trials, FrozenTrial(number, number, TrialState.RUNNING)), number)
        params = sampler.suggest(space, history, sampler_rng(sampler.seed, number))
        space.validate(params)
        if fail is not None and fail(params):
            trials.append(FrozenTrial(number, number, TrialState.FAILED, params=params))
        else:
            trials.append(FrozenTrial(number, number, TrialState.COMPLETE, params=params,
                                      values=(objective(params),)))
    return trials


def _best(trials: list[FrozenTrial]) -> float:
    return min(t.score for t in trials if t.is_usable())  # type: ignore[type-var]


def _quadratic(p: dict[str, Any]) -> float:
    return (p["x"] - 1.3) ** 2 + 3.0 * (p["y"] + 0.7) ** 2


_PLANE = Space({"x": Float(-5.0, 5.0), "y": Float(-5.0, 5.0)})


def test_beats_random_search_on_a_quadratic() -> None:
    gp = [_best(_run(GPSampler(seed=s), _PLANE, _quadratic, 30)) for s in range(3)]
    rs = [_best(_run(RandomSampler(seed=s), _PLANE, _quadratic, 30)) for s in range(3)]
    assert np.median(gp) < 1e-2 < np.median(rs) / 10  # random search: about 0.1-1 here


def test_running_trials_push_the_next_point_away() -> None:
    sampler = GPSampler(seed=3)
    trials = _run(GPSampler(seed=3), _PLANE, _quadratic, 15)
    n = len(trials)
    alone = sampler.suggest(_PLANE, History([*trials, FrozenTrial(n, n, TrialState.RUNNING)], n),
                            sampler_rng(3, n))
    # Another worker is already evaluating that very point (and its neighbourhood is believed).
    busy = FrozenTrial(n, n, TrialState.RUNNING, params=alone)
    history = History([*trials, busy, FrozenTrial(n + 1, n + 1, TrialState.RUNNING)], n + 1)
    other = sampler.suggest(_PLANE, history, sampler_rng(3, n))  # same generator as before
    gap = math.hypot(other["x"] - alone["x"], other["y"] - alone["y"])
    assert gap > 0.05, (alone, other)


def test_mixed_conditional_space_gives_valid_points() -> None:
    space = Space({
        "opt": Categorical(["sgd", "adam", "rmsprop"]),
        "lr": Float(1e-5, 1.0, scale="log"),
        "momentum": Float(0.8, 0.999, scale="one_minus_log", when={"opt": ["sgd"]}),
        "layers": Int(1, 4),
        "width": Int(16, 256, step=16, when={"layers": [3, 4]}),
        "units": Int(1, 1000, log=True),
        "epochs": Fixed(3),
    })

    def objective(p: dict[str, Any]) -> float:
        return (math.log10(p["lr"]) + 2.5) ** 2 + (p["opt"] != "adam") + 0.1 * p["layers"]

    trials = _run(GPSampler(seed=0), space, objective, 25)
    assert all(t.params["epochs"] == 3 for t in trials)
    assert _best(trials) < 0.5  # adam found, lr near 10^-2.5


def test_failures_are_kept_and_their_region_avoided() -> None:
    def fails(p: dict[str, Any]) -> bool:  # the objective diverges beyond x = 1.5 ...
        return bool(p["x"] > 1.5)

    def objective(p: dict[str, Any]) -> float:  # ... where it would otherwise keep improving
        return (p["x"] - 2.5) ** 2 + p["y"] ** 2

    for seed in (1, 2):
        trials = _run(GPSampler(seed=seed), _PLANE, objective, 30, fail=fails)
        late_failures = sum(t.state is TrialState.FAILED for t in trials[15:])
        assert late_failures <= 4  # random search: about 5 of 15; a model blind to them: most
        # The feasible optimum is 1.0, at x = 1.5; random search: 2.4-3.8 for these seeds. Seeds
        # 1, 2 gave 1.12, 1.30 before each space's generator was keyed by its names, 1.12, 1.36 since.
        assert _best(trials) < 1.4


def test_trust_region_confines_the_search_to_a_box_around_the_best() -> None:
    space = Space({f"x{i}": Float(0.0, 1.0) for i in range(6)})

    def objective(p: dict[str, Any]) -> float:
        return sum((v - 0.3) ** 2 for v in p.values())

    sampler = GPSampler(seed=0, trust_region=True)
    trials = _run(sampler, space, objective, 24)
    assert _best(trials) < min(objective(t.params) for t in trials[:14])  # it improves
    # Many trials in a row without improvement: the box has shrunk, so the next point is near
    # the best one.
    best = min(trials, key=lambda t: t.score)  # type: ignore[arg-type, return-value]
    stale = [FrozenTrial(24 + i, 24 + i, TrialState.COMPLETE, params=t.params, values=(9.0,))
             for i, t in enumerate(trials[:24])]
    n = 48
    history = History([*trials, *stale, FrozenTrial(n, n, TrialState.RUNNING)], n)
    params = sampler.suggest(space, history, sampler_rng(0, n))
    assert max(abs(params[k] - best.params[k]) for k in params) < 0.1  # without the box: ~1


def test_nan_scores_are_modelled_as_the_worst_seen() -> None:
    trials = [FrozenTrial(n, n, TrialState.COMPLETE, params={"x": float(x), "y": 0.0},
                          values=(math.nan if x % 2 else float(x * x),))
              for n, x in enumerate(range(-4, 5))]
    sampler, history = GPSampler(seed=0), History(trials, len(trials))
    assert sampler.describe(_PLANE, history) == {"gp_phase": "model"}  # NaNs did not stop the fit
    params = sampler.suggest(_PLANE, history, sampler_rng(0, 9))
    _PLANE.validate(params)
    # The odd x (NaN, so the worst seen) are avoided: the point is nearer x=0 than any odd x is.
    assert abs(params["x"]) < 1.0, params


def test_all_failed_history_falls_back_to_the_initial_design() -> None:
    failed = [FrozenTrial(n, n, TrialState.FAILED, params={"x": float(n - 4), "y": 1.0})
              for n in range(9)]
    sampler = GPSampler(seed=0)
    history = History([*failed, FrozenTrial(9, 9, TrialState.RUNNING)], 9)
    assert sampler.describe(_PLANE, history) == {"gp_phase": "initial_design"}
    params = sampler.suggest(_PLANE, history, sampler_rng(0, 9))
    assert params == _PLANE.decode(qmc_point("sobol", 2, 9, seed=0))  # Sobol point number 9


def test_reproducible_for_a_seed() -> None:
    runs = [[t.params for t in _run(GPSampler(seed=5), _PLANE, _quadratic, 14)] for _ in range(2)]
    assert runs[0] == runs[1]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"n_startup": 0}, "n_startup of GPSampler must be an integer >= 1 or None. Got 0."),
    ({"warp": "log"}, "warp of GPSampler must be"),
    ({"trust_region": "yes"}, "trust_region of GPSampler must be"),
])
def test_rejects_bad_arguments(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        GPSampler(**kwargs)


def test_describe_names_the_phase_and_the_trust_region() -> None:
    space = Space({f"x{i}": Float(0.0, 1.0) for i in range(6)})

    def objective(p: dict[str, Any]) -> float:
        return sum((v - 0.3) ** 2 for v in p.values())

    trials = _run(GPSampler(seed=0, trust_region=False), space, objective, 12)

    def history(n: int) -> History:
        return History([*trials[:n], FrozenTrial(n, n, TrialState.RUNNING)], n)

    assert GPSampler(seed=0).describe(space, history(9)) == {"gp_phase": "initial_design"}
    assert GPSampler(seed=0).describe(space, history(10)) == {"gp_phase": "model"}
    shrunk = GPSampler(seed=0, trust_region=True).describe(space, history(12))
    assert shrunk["gp_phase"] == "model"
    assert 0.0 < shrunk["gp_trust_region"] <= 1.6
    assert GPSampler(seed=0).describe(Space({"k": Fixed(1)}), history(0)) == {}


_MIXED = Space({"x": Float(-5.0, 5.0), "n": Int(1, 64, log=True), "c": Categorical(["a", "b", "c"])})


def _mixed_objective(p: dict[str, Any]) -> float:
    return (p["x"] - 1.0) ** 2 + abs(p["n"] - 8) / 8 + {"a": 1.0, "b": 0.0, "c": 2.0}[p["c"]]


def test_single_objective_proposals_are_those_of_the_single_objective_sampler() -> None:
    # Recorded on main at b7cdd09, before the multi-objective path: one objective must not move.
    plane = [{"x": 1.565001231, "y": -0.593760352}, {"x": 1.335827623, "y": -0.7368501},
             {"x": 1.310676207, "y": -0.713649437}, {"x": 1.310985256, "y": -0.713632205},
             {"x": 1.305496859, "y": -0.705822101}, {"x": 1.291237773, "y": -0.682545123}]
    mixed = [{"x": 1.058496332, "n": 2, "c": "a"}, {"x": 1.116199536, "n": 2, "c": "b"},
             {"x": 2.616668168, "n": 1, "c": "b"}, {"x": 1.046551444, "n": 3, "c": "b"},
             {"x": 0.802343379, "n": 4, "c": "c"}, {"x": 1.033162754, "n": 4, "c": "b"}]
    got_plane = [t.params for t in _run(GPSampler(seed=11), _PLANE, _quadratic, 16)[10:]]
    got_mixed = [t.params for t in _run(GPSampler(seed=12), _MIXED, _mixed_objective, 16)[10:]]
    assert got_plane == [pytest.approx(p, abs=1e-8) for p in plane]
    assert got_mixed == [pytest.approx(p, abs=1e-8) for p in mixed]
