"""TPESampler: the conformance suite, its Parzen maths against hand computations, its behaviour."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.integrate import quad
from scipy.special import ndtr
from scipy.stats import truncnorm

from shoal.exceptions import ConfigError
from shoal.samplers import AutoSampler, History, RandomSampler, Sampler, sampler_rng
from shoal.samplers._tpe import TPESampler
from shoal.samplers._tpe._parzen import (
    _log_interval_mass,
    bandwidth,
    fit_parzen,
    n_below,
    neighbour_bandwidths,
    trial_weights,
)
from shoal.samplers._tpe.sampler import _groups, encode_trials
from shoal.space import Categorical, Float, Int, Space
from shoal.testing import SamplerSuite
from shoal.trial import FrozenTrial, TrialState


class TestTPESampler(SamplerSuite):
    def make_sampler(self, seed: int | None) -> Sampler:
        return TPESampler(seed=seed, n_startup=4)


# Parzen maths -------------------------------------------------------------------------------
def test_gamma_and_weights() -> None:
    assert [n_below(n) for n in (1, 9, 10, 11, 250, 251, 10_000)] == [1, 1, 1, 2, 25, 25, 25]
    w = trial_weights(40)
    assert w[-25:].tolist() == [1.0] * 25
    assert np.all(np.diff(w[:15]) > 0)
    assert w[0] == 1 / 40


def test_bandwidth_rules() -> None:
    assert bandwidth(10, 2) == pytest.approx(0.2 * 10 ** (-1 / 6))
    assert bandwidth(1, 1) == pytest.approx(1 / 3)  # the magic clip
    x = np.array([[0.5, 0.0], [0.1, 0.3], [0.9, 0.35]])
    # dim 0 sorted 0.1, 0.5, 0.9: gaps 0.4 each; dim 1: 0.0, 0.3, 0.35 -> 0.3, 0.3, 0.05 -> clip 0.2
    assert neighbour_bandwidths(x) == pytest.approx(np.array([[0.4, 0.3], [0.4, 0.3], [0.4, 0.2]]))


@pytest.mark.parametrize("rule", ["neighbour", "scott"])
def test_truncated_mixture_integrates_to_one(rule: str) -> None:
    rng = np.random.default_rng(0)
    x = np.clip(rng.normal(0.9, 0.2, (7, 1)), 0, 1)
    est = fit_parzen(x, np.empty((7, 0), dtype=int), [], trial_weights(7), rule=rule)
    empty = np.empty((1, 0), dtype=int)
    total, _ = quad(lambda v: float(np.exp(est.log_pdf(np.array([[v]]), empty))[0]), 0, 1,
                    limit=200)
    assert total == pytest.approx(1.0, abs=1e-6)


def test_density_matches_a_hand_computed_mixture() -> None:
    x_num, x_cat = np.array([[0.2, 0.7], [0.6, 0.1]]), np.array([[0], [2]])
    est = fit_parzen(x_num, x_cat, [3], np.ones(2), prior_weight=1.0, rule="scott")
    s = bandwidth(2, 3)
    # Each choice keeps prior_weight / (n + 1) = 1/3 (Optuna's smoothing), the observed one + 1.
    p_obs = [np.array([1 + 1 / 3, 1 / 3, 1 / 3]) / 2, np.array([1 / 3, 1 / 3, 1 + 1 / 3]) / 2]
    point, choice = np.array([0.3, 0.5]), 2
    expected = sum(
        truncnorm.pdf(point, -m / s, (1 - m) / s, loc=m, scale=s).prod() * p[choice] / 3
        for m, p in zip(x_num, p_obs, strict=True))
    expected += truncnorm.pdf(point, -0.5, 0.5, loc=0.5, scale=1.0).prod() * (1 / 3) / 3
    got = float(np.exp(est.log_pdf(point[None], np.array([[choice]])))[0])
    assert got == pytest.approx(expected, rel=1e-10)


def test_categorical_smoothing_shrinks_as_observations_accumulate() -> None:
    for n in (1, 9, 99):
        est = fit_parzen(np.empty((n, 0)), np.zeros((n, 1), dtype=int), [4], np.ones(n))
        share = 1.0 / (n + 1)  # prior_weight / (n + 1) on every choice
        assert est.cat_probs[0][0, 0] == pytest.approx((1 + share) / (1 + 4 * share))
        assert est.cat_probs[0][-1] == pytest.approx(np.full(4, 0.25))  # the prior stays uniform


def test_integer_cells_get_the_kernels_mass_not_their_density() -> None:
    rng = np.random.default_rng(3)
    x = np.column_stack([rng.random(12), rng.choice([0.1, 0.3, 0.5], 12)])  # 2nd: an integer's cells
    est = fit_parzen(x, np.empty((12, 0), dtype=int), [], trial_weights(12))
    points = np.array([[0.42, 0.3], [0.9, 0.7], [0.05, 0.02]])
    lower, upper = np.clip(points[:, 1:] - 0.1, 0, 1), np.clip(points[:, 1:] + 0.1, 0, 1)
    got = np.exp(est.log_pdf(points, np.empty((3, 0), dtype=int), (np.array([1]), lower, upper)))
    empty = np.empty((1, 0), dtype=int)
    for (u, _), a, b, g in zip(points, lower[:, 0], upper[:, 0], got, strict=True):
        mass, _ = quad(lambda v, u=u: float(np.exp(est.log_pdf(np.array([[u, v]]), empty))[0]),
                       a, b, limit=200)
        assert g == pytest.approx(mass, rel=1e-6)
    # Summed over a partition of [0, 1] into cells, the masses integrate the first coordinate out.
    edges = np.linspace(0.0, 1.0, 6)
    grid = np.column_stack([np.full(5, 0.42), (edges[:-1] + edges[1:]) / 2])
    cells = (np.array([1]), edges[:-1, None], edges[1:, None])
    total = np.exp(est.log_pdf(grid, np.empty((5, 0), dtype=int), cells)).sum()
    marginal, _ = quad(lambda v: float(np.exp(est.log_pdf(np.array([[0.42, v]]), empty))[0]), 0, 1,
                       points=[0.1, 0.3, 0.5], limit=200)
    assert total == pytest.approx(marginal, rel=1e-6)


def test_interval_masses_of_repeated_cells_and_kernels_match_each_pair_computed_alone() -> None:
    # A thousand trials of an integer leave few distinct (centre, width) kernels, and candidates
    # repeat integers: the masses are computed once per distinct pair and gathered back.
    rng = np.random.default_rng(5)
    mu = np.append(rng.choice([0.0625, 0.1875, 0.5625, 0.9375], 60), 0.5)
    sigma = np.append(rng.choice([0.01, 0.125], 60), 1.0)  # the last: the wide prior kernel
    cell = rng.integers(0, 8, 24)
    a, b = cell / 8.0, (cell + 1) / 8.0
    got = _log_interval_mass(a, b, mu, sigma)

    def mass(lo: float, hi: float, m: float, s: float) -> float:  # from the nearer tail
        if lo > m:
            return float(ndtr((m - lo) / s) - ndtr((m - hi) / s))
        return float(ndtr((hi - m) / s) - ndtr((lo - m) / s))

    expected = np.array([[math.log(max(mass(ai, bi, m, s), 1e-300))
                          for m, s in zip(mu, sigma, strict=True)] for ai, bi in zip(a, b, strict=True)])
    near = expected > math.log(1e-12)  # kernels 8 widths away get the floor, not their mass
    assert near.sum() > 200  # both cases are exercised
    assert (~near).sum() > 200
    assert np.allclose(got[near], expected[near], rtol=1e-9, atol=0.0)
    assert np.all(got[~near] <= math.log(2e-12))


def test_categorical_kernels_sum_to_one_and_samples_follow_them() -> None:
    x_cat = np.array([[0, 1], [0, 0], [3, 1]])
    est = fit_parzen(np.empty((3, 0)), x_cat, [4, 2], np.ones(3))
    for probs in est.cat_probs:
        assert probs.sum(axis=1) == pytest.approx(np.ones(4))
    grid = np.array([[a, b] for a in range(4) for b in range(2)])
    assert np.exp(est.log_pdf(np.empty((8, 0)), grid)).sum() == pytest.approx(1.0)
    _, draws = est.sample(np.random.default_rng(1), 40_000)
    freq = np.bincount(draws[:, 0], minlength=4) / 40_000
    marginal = est.weights @ est.cat_probs[0]
    assert freq == pytest.approx(marginal, abs=0.01)


def test_samples_stay_in_the_cube_and_follow_the_density() -> None:
    est = fit_parzen(np.array([[0.02], [0.05]]), np.empty((2, 0), dtype=int), [], np.ones(2))
    draws, _ = est.sample(np.random.default_rng(2), 20_000)
    assert draws.min() >= 0.0
    assert draws.max() <= 1.0
    empty = np.empty((1, 0), dtype=int)
    mass, _ = quad(lambda v: float(np.exp(est.log_pdf(np.array([[v]]), empty))[0]), 0, 0.25)
    assert np.mean(draws < 0.25) == pytest.approx(mass, abs=0.015)


# Sampler behaviour -------------------------------------------------------------------------
def _quadratic(p: dict[str, float]) -> float:
    return (p["x"] - 0.7) ** 2 + (p["y"] + 1.3) ** 2


def _best_of(sampler: Sampler, space: Space, n: int) -> float:
    trials: list[FrozenTrial] = []
    for number in range(n):
        history = History((*trials, FrozenTrial(number, number, TrialState.RUNNING)), number)
        params = sampler.suggest(space, history, sampler_rng(sampler.seed, number))
        trials.append(FrozenTrial(number, number, TrialState.COMPLETE, params=params,
                                  values=(_quadratic(params),)))
    return min(t.values[0] for t in trials if t.values)


def test_beats_random_search_on_a_quadratic() -> None:
    space = Space({"x": Float(-5.0, 5.0), "y": Float(-5.0, 5.0)})
    tpe = [_best_of(TPESampler(seed=s), space, 60) for s in range(7)]
    rnd = [_best_of(RandomSampler(seed=s), space, 60) for s in range(7)]
    assert np.median(tpe) < 0.3 * np.median(rnd), (tpe, rnd)


def test_reproducible_for_a_seed() -> None:
    space = Space({"x": Float(-5.0, 5.0), "y": Float(-5.0, 5.0)})
    assert _best_of(TPESampler(seed=3), space, 25) == _best_of(TPESampler(seed=3), space, 25)
    assert _best_of(TPESampler(seed=3), space, 25) != _best_of(TPESampler(seed=4), space, 25)


def _history(space: Space, rows: list[tuple[dict[str, object], float | None, TrialState]]) -> History:
    trials = [FrozenTrial(i, i, state, params=p, values=None if v is None else (v,))
              for i, (p, v, state) in enumerate(rows)]
    return History([*trials, FrozenTrial(len(trials), len(trials), TrialState.RUNNING)],
                   len(trials))


def test_running_trials_are_avoided() -> None:
    space = Space({"x": Float(0.0, 1.0)})
    # Two equally good basins, at 0.2 and 0.8; other workers are running many trials near 0.2.
    grid = [(k + 0.5) / 40 for k in range(40)]
    rows: list[tuple[dict[str, object], float | None, TrialState]] = [
        ({"x": x}, round(min(abs(x - 0.2), abs(x - 0.8)), 9), TrialState.COMPLETE) for x in grid]
    rows += [({"x": 0.2 + 0.01 * k}, None, TrialState.RUNNING) for k in range(-5, 6)]
    liar = [TPESampler(seed=s).suggest(space, _history(space, rows), sampler_rng(s, 99))["x"]
            for s in range(20)]
    honest = [TPESampler(seed=s, constant_liar=False).suggest(
        space, _history(space, rows), sampler_rng(s, 99))["x"] for s in range(20)]
    near = [sum(abs(x - 0.2) < 0.1 for x in xs) for xs in (liar, honest)]
    assert near[1] >= 5, (near, honest)  # without the liar, about half go to the busy basin
    assert near[0] <= near[1] // 2, (near, liar)


def test_failed_trials_count_as_bad_and_do_not_crash() -> None:
    space = Space({"x": Float(0.0, 1.0), "c": Categorical(["a", "b"])})
    rows: list[tuple[dict[str, object], float | None, TrialState]] = [
        ({"x": 0.05 * k, "c": "a"}, None, TrialState.FAILED) for k in range(20)]
    rows += [({"x": 0.9, "c": "b"}, 1.0, TrialState.COMPLETE)]
    sampler = TPESampler(seed=0)
    xs = [sampler.suggest(space, _history(space, rows), sampler_rng(0, n)) for n in range(20)]
    assert sum(p["c"] == "b" for p in xs) > 12
    only_failed = _history(space, rows[:-1])
    space.validate(sampler.suggest(space, only_failed, sampler_rng(0, 1)))


def test_conditional_groups_are_modelled_on_their_own_trials() -> None:
    space = Space({
        "opt": Categorical(["sgd", "adam"]),
        "lr": Float(1e-4, 1.0, scale="log"),
        "momentum": Float(0.0, 0.99, when={"opt": ["sgd"]}),
        "nesterov": Categorical([True, False], when={"opt": ["sgd"]}),
        "beta": Float(0.5, 0.999, when={"opt": ["adam"]}),
        "layers": Int(1, 8),
    })
    groups = _groups(space)
    assert [g.names for g in groups] == [["opt", "lr", "layers"], ["momentum", "nesterov"],
                                         ["beta"]]
    rng = np.random.default_rng(0)
    rows: list[tuple[dict[str, object], float | None, TrialState]] = []
    for _ in range(60):
        p = space.sample(rng)
        score = (p.get("momentum", 0.0) - 0.9) ** 2 if p["opt"] == "sgd" else 1.0 + p["beta"]
        rows.append((p, score, TrialState.COMPLETE))
    history = _history(space, rows)
    u = encode_trials(space, history.trials)
    assert np.isnan(u[:-1, 2]).sum() == sum(p["opt"] == "adam" for p, _, _ in rows)
    sampler = TPESampler(seed=1)
    suggestions = [sampler.suggest(space, history, sampler_rng(1, n)) for n in range(30)]
    for p in suggestions:
        space.validate(p)
        assert set(p) == set(space.active_names(p))
        assert p["layers"] == int(p["layers"])
    sgd = [p for p in suggestions if p["opt"] == "sgd"]
    assert len(sgd) > 20  # sgd trials scored better
    assert np.median([p["momentum"] for p in sgd]) > 0.7  # the sgd group learnt its optimum


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ConfigError, match="n_startup of TPESampler"):
        TPESampler(n_startup=0)
    with pytest.raises(ConfigError, match="prior_weight of TPESampler"):
        TPESampler(prior_weight=math.nan)
    assert "TPESampler(seed=3" in repr(TPESampler(seed=3))


def test_describe_names_the_phase() -> None:
    space = Space({"x": Float(-5.0, 5.0)})
    trials = [FrozenTrial(i, i, TrialState.COMPLETE, params={"x": float(i) - 4.0}, values=(float(i),))
              for i in range(10)]
    sampler = TPESampler(seed=0, n_startup=10)
    assert sampler.describe(space, History(trials[:9], 9)) == {"tpe_phase": "initial_design"}
    assert sampler.describe(space, History(trials, 10)) == {"tpe_phase": "model"}


def test_auto_sampler_passes_on_the_chosen_sampler_s_description() -> None:
    space = Space({"x": Float(-5.0, 5.0)})
    assert AutoSampler(seed=0).describe(space, History([], 0)) == {
        "auto_choice": "GPSampler", "gp_phase": "initial_design"}


def test_truncation_masses_match_the_exact_ones_far_from_and_near_the_ends() -> None:
    x = np.random.default_rng(3).random((400, 3))  # narrow kernels, mostly far from both ends
    est = fit_parzen(x, np.empty((400, 0), dtype=int), [], trial_weights(400))
    mus, sigmas = est.mus, est.sigmas
    exact = np.log(ndtr((1.0 - mus) / sigmas) - ndtr(-mus / sigmas))
    np.testing.assert_allclose(est.log_norm, exact, rtol=0, atol=1e-14)


def _stamped(trials: list[FrozenTrial], offset: float = 0.0) -> list[FrozenTrial]:
    """The trials as storage returns them: finished ones carry their completion time."""
    return [FrozenTrial(t.number, t.trial_id, t.state, params=dict(t.params), values=t.values,
                        datetime_complete=None if t.state is TrialState.RUNNING else offset + t.number)
            for t in trials]


def test_remembered_encodings_give_the_same_suggestions_as_fresh_ones() -> None:
    space = Space({"x": Float(1e-4, 1.0, scale="log"), "n": Int(1, 9),
                   "c": Categorical(["a", "b", "c"])})
    rng = np.random.default_rng(0)
    trials = [FrozenTrial(i, i, TrialState.FAILED if i % 7 == 3 else TrialState.COMPLETE,
                          params={"x": float(10 ** rng.uniform(-4, 0)), "n": int(rng.integers(1, 10)),
                                  "c": str(rng.choice(["a", "b", "c"]))},
                          values=None if i % 7 == 3 else (float(rng.normal()),)) for i in range(40)]
    remembering = TPESampler(seed=1)
    for n in range(12, 41, 4):  # a growing study, read again from storage before each suggestion
        history = History(_stamped([*trials[:n], FrozenTrial(n, n, TrialState.RUNNING)]), n)
        assert remembering.suggest(space, history, sampler_rng(1, n)) == TPESampler(seed=1).suggest(
            space, history, sampler_rng(1, n))
    assert remembering._memo is not None
    assert len(remembering._memo.scores) == 40


def test_the_memo_is_not_shared_with_another_space_or_a_pickled_copy() -> None:
    import pickle

    space = Space({"x": Float(0.0, 1.0)})
    other = Space({"x": Float(0.0, 2.0)})  # same names, another encoding
    trials = _stamped([FrozenTrial(i, i, TrialState.COMPLETE, params={"x": 0.04 * i},
                                   values=((0.04 * i - 0.5) ** 2,)) for i in range(20)])
    sampler = TPESampler(seed=0)
    sampler.suggest(space, History(trials, 20), sampler_rng(0, 20))
    assert sampler._memo is not None
    assert sampler._memo.space == space
    assert sampler.suggest(other, History(trials, 20), sampler_rng(0, 20)) == TPESampler(
        seed=0).suggest(other, History(trials, 20), sampler_rng(0, 20))
    assert sampler._memo.space == other
    assert pickle.loads(pickle.dumps(sampler))._memo is None
    # Another storage with the same trial numbers and ids but other results: not confused.
    moved = _stamped([FrozenTrial(i, i, TrialState.COMPLETE, params={"x": 0.04 * i},
                                  values=((0.04 * i - 0.1) ** 2,)) for i in range(20)], offset=1e9)
    assert sampler.suggest(other, History(moved, 20), sampler_rng(0, 20)) == TPESampler(
        seed=0).suggest(other, History(moved, 20), sampler_rng(0, 20))


def test_single_objective_draws_are_those_of_before_several_objectives() -> None:
    # A seeded run on a mixed, conditional space with failed and pruned trials; the digest was
    # taken on main before the multi-objective split (commit b7cdd09): one objective must draw
    # exactly as it did.
    import hashlib

    space = Space({"x": Float(1e-3, 10.0, scale="log"), "n": Int(1, 8),
                   "c": Categorical(["a", "b", "c"]), "m": Float(0.0, 1.0, when={"c": ["a"]})})
    sampler = TPESampler(seed=11, n_startup=6)
    trials: list[FrozenTrial] = []
    drawn = []
    for number in range(45):
        history = History((*trials, FrozenTrial(number, number, TrialState.RUNNING)), number)
        p = sampler.suggest(space, history, sampler_rng(sampler.seed, number))
        drawn.append(p)
        v = (math.log(p["x"]) ** 2 + (p["n"] - 3) ** 2 / 4 + {"a": 0.0, "b": 0.5, "c": 1.0}[p["c"]]
             + p.get("m", 0.3))
        if number % 9 == 4:
            trials.append(FrozenTrial(number, number, TrialState.FAILED, params=p))
        elif number % 7 == 5:
            trials.append(FrozenTrial(number, number, TrialState.PRUNED, params=p,
                                      intermediate={1: v + 1.0}, signs=(-1.0,)))
        else:
            trials.append(FrozenTrial(number, number, TrialState.COMPLETE, params=p, values=(-v,),
                                      signs=(-1.0,)))
    assert drawn[-1] == {"x": 0.013461323756477789, "n": 6, "c": "b"}
    assert hashlib.sha256(repr(drawn).encode()).hexdigest() == (
        "1e650f9545805fc5842c36edf8e1ddb6faef2cd111481e962bf596df68d119a5")
