"""GridSampler: every point exactly once, across workers, then SearchSpaceExhausted."""

from __future__ import annotations

import itertools
import pickle
import re
from typing import Any

import numpy as np
import pytest

from shoal.exceptions import ConfigError, SearchSpaceExhausted
from shoal.samplers import GridSampler, History, Sampler, sampler_rng
from shoal.samplers._grid import _permute
from shoal.space import Categorical, Fixed, Float, Int, Space
from shoal.testing import SamplerSuite
from shoal.testing._sampler_suite import canonical
from shoal.trial import FrozenTrial, TrialState


class TestGridSamplerSuite(SamplerSuite):
    def make_sampler(self, seed: int | None) -> Sampler:
        return GridSampler(seed=seed, shuffle=True)

    def make_sampler_for(self, space: Space, seed: int | None) -> Sampler:
        # Continuous parameters need explicit points; the rest is enumerated from the space.
        grid = {name: [p.decode(u) for u in (0.0, 0.5, 1.0)]
                for name, p in space.items() if isinstance(p, Float)}
        return GridSampler(grid or None, seed=seed, shuffle=True)


def _draw(sampler: GridSampler, space: Space, n: int) -> list[dict[str, Any]]:
    """Suggestions for trials 0..n-1, earlier trials still RUNNING (as with parallel workers)."""
    out = []
    for number in range(n):
        running = [FrozenTrial(i, i, TrialState.RUNNING) for i in range(number + 1)]
        out.append(sampler.suggest(space, History(running, number), sampler_rng(0, number)))
    return out


SPACE = Space({"lr": Float(1e-4, 1.0, scale="log"), "act": Categorical(["relu", "tanh", "gelu"]),
               "depth": Int(1, 4)})
GRID = {"lr": [1e-3, 1e-2, 1e-1, 1.0], "act": ["relu", "tanh", "gelu"]}


@pytest.mark.parametrize("shuffle", [False, True])
def test_every_point_exactly_once_then_exhausted(shuffle: bool) -> None:
    sampler = GridSampler(GRID, seed=3, shuffle=shuffle)
    points = _draw(sampler, SPACE, 48)
    triples = [(p["lr"], p["act"], p["depth"]) for p in points]
    # depth, which the grid does not name, is enumerated too: a full factorial (issue 15).
    assert sorted(triples, key=repr) == sorted(
        itertools.product(*GRID.values(), [1, 2, 3, 4]), key=repr)
    for p in points:
        SPACE.validate(p)
    running = [FrozenTrial(i, i, TrialState.RUNNING) for i in range(49)]
    with pytest.raises(SearchSpaceExhausted, match=re.escape(
            "GridSampler: all 48 grid points have been tried (trial 48). "
            "Use a larger grid or another sampler.")):
        sampler.suggest(SPACE, History(running, 48), sampler_rng(0, 48))


def test_row_major_order_first_name_slowest() -> None:
    points = _draw(GridSampler(GRID), SPACE, 5)  # the grid's names, then the rest of the space
    assert [(p["lr"], p["act"], p["depth"]) for p in points] == [
        (1e-3, "relu", 1), (1e-3, "relu", 2), (1e-3, "relu", 3), (1e-3, "relu", 4),
        (1e-3, "tanh", 1)]


def test_shuffle_is_seeded() -> None:
    order = [(p["lr"], p["act"]) for p in _draw(GridSampler(GRID, seed=1, shuffle=True), SPACE, 12)]
    again = [(p["lr"], p["act"]) for p in _draw(GridSampler(GRID, seed=1, shuffle=True), SPACE, 12)]
    plain = [(p["lr"], p["act"]) for p in _draw(GridSampler(GRID), SPACE, 12)]
    assert order == again
    assert order != plain


def test_unseeded_shuffle_is_shared_through_pickling() -> None:
    sampler = GridSampler(GRID, shuffle=True)
    worker = pickle.loads(pickle.dumps(sampler))
    assert ([canonical(p) for p in _draw(sampler, SPACE, 12)]
            == [canonical(p) for p in _draw(worker, SPACE, 12)])


def test_enqueued_trials_do_not_use_up_points() -> None:
    sampler = GridSampler(GRID)
    enqueued = FrozenTrial(0, 0, TrialState.COMPLETE, params={"lr": 0.5, "act": "relu", "depth": 1},
                           values=(1.0,), system_attrs={"fixed_params": True})
    history = History([enqueued, FrozenTrial(1, 1, TrialState.RUNNING)], 1)
    assert sampler.suggest(SPACE, history, sampler_rng(0, 1))["lr"] == 1e-3


def test_grid_derived_from_space() -> None:
    space = Space({"act": Categorical(["relu", None, True]), "batch": Int(16, 64, power_of_two=True),
                   "n": Int(0, 6, step=3), "epochs": Fixed(5)})
    sampler = GridSampler()
    assert sampler.grid_size(space) == 3 * 3 * 3
    points = _draw(sampler, space, 27)
    assert len({canonical(p) for p in points}) == 27
    assert {p["batch"] for p in points} == {16, 32, 64}
    assert {p["n"] for p in points} == {0, 3, 6}
    assert {p["epochs"] for p in points} == {5}
    assert [p["act"] for p in points[:9]] == ["relu"] * 9


def test_conditional_space_enumerates_valid_configurations_only() -> None:
    space = Space({
        "opt": Categorical(["sgd", "adam"]),
        "nesterov": Categorical([True, False], when={"opt": ["sgd"]}),
        "dampening": Categorical([0.0, 0.1], when={"nesterov": [False]}),
        "layers": Int(1, 3),
    })
    sampler = GridSampler()
    # sgd: nesterov True (1) or False x 2 dampenings (2) -> 3; adam -> 1; times 3 layer counts.
    assert sampler.grid_size(space) == (3 + 1) * 3
    points = _draw(sampler, space, 12)
    for p in points:
        space.validate(p)
    assert len({canonical(p) for p in points}) == 12
    assert sum(p["opt"] == "adam" for p in points) == 3


def test_parameters_the_grid_does_not_name_are_enumerated() -> None:
    space = Space({"opt": Categorical(["sgd", "adam"]),
                   "momentum": Float(0.0, 0.9, when={"opt": ["sgd"]}), "epochs": Fixed(3)})
    sampler = GridSampler({"momentum": [0.0, 0.5, 0.9]})
    assert sampler.grid_size(space) == 3 + 1  # sgd x 3 momenta, and adam
    points = _draw(sampler, space, 4)
    for p in points:
        space.validate(p)
    assert sorted(map(canonical, points)) == sorted(map(canonical, [
        {"opt": "sgd", "momentum": m, "epochs": 3} for m in (0.0, 0.5, 0.9)] + [
        {"opt": "adam", "epochs": 3}]))


def test_a_float_the_grid_does_not_name_is_refused() -> None:
    space = Space({"lr": Float(1e-4, 1.0, scale="log"), "dropout": Float(0.0, 0.5)})
    running = [FrozenTrial(0, 0, TrialState.RUNNING)]
    with pytest.raises(ConfigError, match=re.escape(
            "points of Float 'dropout' must be given to GridSampler: continuous parameters need "
            "explicit points, e.g. GridSampler({'dropout': [0.0, 0.25, 0.5]}). Got none.")):
        GridSampler({"lr": [1e-3, 1e-2]}).suggest(space, History(running, 0), sampler_rng(0, 0))


def test_int_parent_conditions_use_space_equality() -> None:
    space = Space({"layers": Int(1, 3), "width_3": Int(8, 16, step=8, when={"layers": [3]})})
    assert GridSampler().grid_size(space) == 1 + 1 + 2
    assert GridSampler({"layers": [1.0, 3.0], "width_3": [8]}).grid_size(space) == 2


def test_names_outside_the_space_are_enumerated_but_not_returned() -> None:
    space = Space({"act": Categorical(["relu", "tanh"])})
    sampler = GridSampler({"act": ["relu", "tanh"], "later": [1, 2, 3]})
    assert sampler.grid_size(space) == 6
    points = _draw(sampler, space, 6)
    assert all(set(p) == {"act"} for p in points)


def test_float_without_points_is_rejected() -> None:
    space = Space({"lr": Float(1e-4, 1.0, scale="log"), "act": Categorical(["relu"])})
    message = ("points of Float 'lr' must be given to GridSampler: continuous parameters need "
               "explicit points, e.g. GridSampler({'lr': [0.0001, 0.01, 1.0]}). Got none.")
    with pytest.raises(ConfigError, match=re.escape(message)):
        GridSampler().suggest(space, History([], 0), sampler_rng(0, 0))


def test_huge_int_without_points_is_rejected() -> None:
    space = Space({"seed": Int(0, 5000)})
    with pytest.raises(ConfigError, match=r"points of Int 'seed' must be given to GridSampler "
                                          r"when it has more than 1000 values \(it has 5001\)"):
        GridSampler().grid_size(space)
    assert GridSampler().grid_size(Space({"units": Int(1, 1000, log=True)})) == 1000


@pytest.mark.parametrize(("grid", "message"), [
    ({"lr": [0.5, 2.0]}, "grid['lr'] of GridSampler must hold values Float 'lr' can take "
                         "({'type': 'float', 'low': 0.0001, 'high': 1.0, 'scale': 'log'}). Got 2.0."),
    ({"act": ["relu", "elu"]}, "grid['act'] of GridSampler must hold values Categorical 'act' "
                               "can take ({'type': 'categorical', 'choices': ['relu', 'tanh', "
                               "'gelu']}). Got 'elu'."),
])
def test_grid_values_are_checked_against_the_space(grid: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        GridSampler(grid).suggest(SPACE, History([], 0), sampler_rng(0, 0))


@pytest.mark.parametrize(("grid", "message"), [
    ({"lr": []}, "grid['lr'] of GridSampler must be a non-empty list. Got []."),
    ({"lr": "0.1"}, "grid['lr'] of GridSampler must be a list of values. Got '0.1'."),
    ({"lr": [0.1, 0.1]}, "grid['lr'] of GridSampler must list distinct values. Got [0.1, 0.1]."),
    ({"": [1]}, "each name of the grid of GridSampler must be a non-empty string. Got ''."),
])
def test_malformed_grids_are_rejected(grid: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        GridSampler(grid)


def test_numpy_values_become_python_values() -> None:
    sampler = GridSampler({"lr": np.logspace(-3, -1, 3)})
    value = sampler.suggest(SPACE, History([], 0), sampler_rng(0, 0))["lr"]
    assert type(value) is float
    assert value == pytest.approx(1e-3)


@pytest.mark.parametrize("size", [*range(1, 70), 1000, 4097])
def test_shuffle_permutation_is_a_bijection(size: int) -> None:
    image = [_permute(i, size, key=12345) for i in range(size)]
    assert sorted(image) == list(range(size))


def test_shuffle_of_a_huge_grid_is_cheap() -> None:
    space = Space({f"p{i}": Int(0, 999) for i in range(4)})  # 10**12 points
    sampler = GridSampler(seed=0, shuffle=True)
    assert sampler.grid_size(space) == 10**12
    running = [FrozenTrial(i, i, TrialState.RUNNING) for i in range(6)]
    space.validate(sampler.suggest(space, History(running, 5), sampler_rng(0, 5)))
