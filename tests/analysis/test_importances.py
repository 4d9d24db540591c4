"""fANOVA importances: oracle functions with known variance shares, conditional spaces, edge cases."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence

import numpy as np
import pytest

from shoal.analysis import Importances, importances
from shoal.analysis._importances import INACTIVE, _encode, _measure, _searched
from shoal.exceptions import ConfigError
from shoal.space import Categorical, Fixed, Float, Param
from shoal.trial import FrozenTrial, TrialState


def _trials(f: Callable[..., float], n: int, *, names: Sequence[str] = ("x", "y"), low: float = 0.0,
            seed: int = 0) -> list[FrozenTrial]:
    """n complete trials of f at uniform random points of [low, 1]^d."""
    rng = np.random.default_rng(seed)
    dist = {name: Float(low, 1.0) for name in names}
    return [FrozenTrial(i, i, TrialState.COMPLETE, params=dict(zip(names, map(float, row), strict=True)),
                        distributions=dist, values=(float(f(*row)),))
            for i, row in enumerate(rng.uniform(low, 1.0, (n, len(names))))]


def _check_shares(imp: Importances) -> None:
    shares = [*imp.main.values(), *imp.pairs.values()]
    assert all(0.0 <= s <= 1.0 for s in shares)
    assert sum(shares) <= 1.0 + 1e-9  # main effects, pairs and higher orders share one variance
    assert list(imp.main.values()) == sorted(imp.main.values(), reverse=True)
    assert list(imp.pairs.values()) == sorted(imp.pairs.values(), reverse=True)


def test_a_function_of_x_alone_is_all_x() -> None:
    imp = importances(_trials(lambda x, y: x, 500))
    _check_shares(imp)
    assert list(imp.main) == ["x", "y"]
    assert imp.main["x"] > 0.97
    assert imp.main["y"] < 0.01
    assert imp.pairs[("x", "y")] < 0.01


def test_a_product_of_centred_inputs_is_a_pure_interaction() -> None:
    imp = importances(_trials(lambda x, y: x * y, 1000, low=-1.0))
    _check_shares(imp)
    assert imp.pairs[("x", "y")] > 0.9
    assert max(imp.main.values()) < 0.05


@pytest.mark.parametrize("ranks", [False, True])
def test_an_additive_function_splits_the_variance_by_its_terms(ranks: bool) -> None:
    # Var(3x) : Var(y) = 9 : 1, so the main effects are 0.9 and 0.1 and the pair 0 (raw values);
    # ranks bend the sum a little, but not the order or the absence of an interaction
    imp = importances(_trials(lambda x, y: 3 * x + y, 1000), ranks=ranks)
    _check_shares(imp)
    if not ranks:
        assert imp.main["x"] == pytest.approx(0.9, abs=0.03)
        assert imp.main["y"] == pytest.approx(0.1, abs=0.03)
        assert 7 < imp.main["x"] / imp.main["y"] < 12
    assert imp.main["x"] / imp.main["y"] > 6
    assert imp.pairs[("x", "y")] < 0.02
    # two parameters: nothing is left for higher orders
    assert sum(imp.main.values()) + imp.pairs[("x", "y")] == pytest.approx(1.0)


def test_noise_parameters_rank_below_the_one_that_matters_and_pairs_use_space_order() -> None:
    imp = importances(_trials(lambda a, b, c, d: np.sin(6 * b) + 0.3 * c, 600, names="abcd"))
    _check_shares(imp)
    assert list(imp.main)[:2] == ["b", "c"]
    assert imp.main["a"] < 0.02
    assert imp.main["d"] < 0.02
    assert all(names in {("a", "b"), ("a", "c"), ("a", "d"), ("b", "c"), ("b", "d"), ("c", "d")}
               for names in imp.pairs)


def _conditional(f: Callable[[str, float | None, float], float], n: int, seed: int = 0) -> list[FrozenTrial]:
    """opt in {sgd, adam}; momentum exists only for sgd; lr log-scaled."""
    rng = np.random.default_rng(seed)
    dist: dict[str, Param] = {"opt": Categorical(["sgd", "adam"]), "lr": Float(1e-4, 1.0, log=True),
                              "momentum": Float(0.0, 0.99, when={"opt": ["sgd"]})}
    out = []
    for i in range(n):
        opt = ["sgd", "adam"][int(rng.integers(2))]
        lr = float(10 ** rng.uniform(-4, 0))
        params: dict[str, object] = {"opt": opt, "lr": lr}
        momentum = float(rng.uniform(0, 0.99)) if opt == "sgd" else None
        if momentum is not None:
            params["momentum"] = momentum
        out.append(FrozenTrial(i, i, TrialState.COMPLETE, params=params,
                               distributions={k: dist[k] for k in params}, values=(f(opt, momentum, lr),)))
    return out


def test_an_inactive_parameter_is_coded_outside_the_unit_interval() -> None:
    trials = _conditional(lambda opt, m, lr: 0.0, 20)
    names, params = _searched(trials)
    x = _encode(trials, names, params)
    col = names.index("momentum")
    sgd = np.array([t.params["opt"] == "sgd" for t in trials])
    assert (x[~sgd, col] == INACTIVE).all()
    assert ((x[sgd, col] >= 0.0) & (x[sgd, col] <= 1.0)).all()


def test_a_conditional_parameter_that_drives_the_score_ranks_first() -> None:
    # sgd's loss depends on momentum over its whole range; adam sits in the middle of that range
    imp = importances(_conditional(lambda opt, m, lr: (m - 0.5) ** 2 if m is not None else 0.06, 600))
    _check_shares(imp)
    assert next(iter(imp.main)) == "momentum"
    assert imp.main["lr"] < 0.02


def test_an_unconditional_parameter_beside_a_conditional_one_ranks_first() -> None:
    imp = importances(_conditional(lambda opt, m, lr: float(np.log10(lr)) ** 2, 600))
    _check_shares(imp)
    assert next(iter(imp.main)) == "lr"
    assert imp.main["lr"] > 0.9
    assert imp.main["momentum"] < 0.02


def test_inactive_gets_its_share_of_the_measure_and_categories_snap_to_their_cells() -> None:
    feature = np.array([0, 0, 0, 1, 1, -2])
    threshold = np.array([-0.4, 0.0, 0.5, 0.5, 0.3, -2.0])
    got = _measure(feature, threshold, inactive=np.array([0.25, 0.0]), choices=[0, 3])
    # feature 0: inactive is [0, 0.25], codes [0, 1] fill the rest; feature 1: a cut at code 0.5
    # between choices 0 (code 1/6) and 2 (code 5/6) lands on a boundary between choices (2/3)
    assert got[:3].tolist() == pytest.approx([0.25, 0.25, 0.625])
    assert got[3:5].tolist() == pytest.approx([2 / 3, 1 / 3])


def test_a_categorical_effect_is_found() -> None:
    rng = np.random.default_rng(1)
    dist: dict[str, Param] = {"act": Categorical(["relu", "tanh", "gelu"]), "x": Float(0, 1)}
    trials = [FrozenTrial(i, i, TrialState.COMPLETE, params={"act": act, "x": float(rng.random())},
                          distributions=dist, values=(1.0 if act == "tanh" else 0.0,))
              for i, act in enumerate(rng.choice(["relu", "tanh", "gelu"], 300).tolist())]
    imp = importances(trials)
    assert imp.main["act"] > 0.97
    assert imp.main["x"] < 0.01


def test_the_same_seed_gives_the_same_answer_and_the_subsample_is_seeded() -> None:
    trials = _trials(lambda x, y: x + 0.5 * y, 300)
    assert importances(trials, seed=3) == importances(trials, seed=3)
    small = [importances(trials, seed=s, max_trials=100) for s in (0, 1)]
    assert small[0] != small[1]
    assert small[0].n_trials == 100
    assert small[0].method == "fANOVA (random forest, 32 trees, 100 of 300 trials)"
    assert all(next(iter(s.main)) == "x" for s in small)


def test_several_objectives_need_an_objective() -> None:
    rng = np.random.default_rng(0)
    trials = [FrozenTrial(i, i, TrialState.COMPLETE, params={"x": x, "y": y},
                          distributions={"x": Float(0, 1), "y": Float(0, 1)}, values=(x, y), signs=(1.0, 1.0))
              for i, (x, y) in enumerate(rng.random((100, 2)).tolist())]
    with pytest.raises(ConfigError, match=r"^objective of importances must be an index in \[0, 1\] for "
                                          r"trials with 2 objectives\. Got None\. Pass objective=0"):
        importances(trials)
    with pytest.raises(ConfigError,
                       match=r"^objective of importances must be an integer in \[0, 1\]\. Got 2\."):
        importances(trials, objective=2)
    assert next(iter(importances(trials, objective=0).main)) == "x"
    assert next(iter(importances(trials, objective=1).main)) == "y"


def test_too_few_trials_give_an_empty_estimate_that_says_why() -> None:
    imp = importances(_trials(lambda x, y: x, 7))
    assert (imp.main, imp.pairs, imp.n_trials) == ({}, {}, 7)
    assert imp.method == "fANOVA (needs 8 finished trials, has 7)"
    assert importances([]).main == {}


def test_one_parameter_explains_everything_and_equal_scores_explain_nothing() -> None:
    one = importances(_trials(lambda x: x * x, 50, names=("x",)))
    assert (one.main, one.pairs) == ({"x": pytest.approx(1.0)}, {})
    flat = importances(_trials(lambda x, y: 1.0, 50))
    assert (flat.main, flat.pairs) == ({"x": 0.0, "y": 0.0}, {})
    assert flat.method.endswith("all scores equal")


def test_fixed_parameters_are_left_out() -> None:
    trials = [FrozenTrial(t.number, t.trial_id, t.state, params={**t.params, "epochs": 10},
                          distributions={**t.distributions, "epochs": Fixed(10)}, values=t.values)
              for t in _trials(lambda x, y: x, 30)]
    assert set(importances(trials).main) == {"x", "y"}
    only_fixed = [FrozenTrial(t.number, t.trial_id, t.state, params={"epochs": 10},
                              distributions={"epochs": Fixed(10)}, values=t.values) for t in trials]
    assert importances(only_fixed).main == {}


def _stopped(trial: FrozenTrial, state: TrialState) -> FrozenTrial:
    return FrozenTrial(trial.number, trial.trial_id, state, params=trial.params,
                       distributions=trial.distributions, intermediate={3: float(trial.values[0])})  # type: ignore[index]


def test_early_stopped_trials_count_only_while_complete_ones_are_too_few() -> None:
    trials = _trials(lambda x, y: x, 40)
    many = trials[:20] + [_stopped(t, TrialState.PRUNED) for t in trials[20:]]
    assert importances(many).n_trials == 20
    few = trials[:5] + [_stopped(t, TrialState.PRUNED) for t in trials[5:30]] + \
        [_stopped(t, TrialState.PAUSED) for t in trials[30:]]
    imp = importances(few)
    assert imp.n_trials == 40
    assert imp.method == ("fANOVA (random forest, 32 trees, 40 trials, 35 stopped early counted by "
                          "their last report)")


def test_counts_are_validated() -> None:
    with pytest.raises(ConfigError, match=r"^max_trials of importances must be an integer >= 8\. Got 2\."):
        importances([], max_trials=2)
    with pytest.raises(ConfigError, match=r"^n_trees of importances must be an integer >= 1\. Got 0\."):
        importances([], n_trees=0)
    with pytest.raises(ConfigError, match=r"^seed of importances must be an integer >= 0\. Got None\."):
        importances([], seed=None)  # type: ignore[arg-type]


def test_ten_thousand_trials_of_seven_parameters_take_well_under_a_second() -> None:
    trials = _trials(lambda a, b, c, d, e, f, g: a + 0.5 * b * c, 10_000, names="abcdefg")
    import sklearn.ensemble  # noqa: F401  (a process's first call also imports scikit-learn: seconds)

    start = time.perf_counter()
    imp = importances(trials)
    elapsed = time.perf_counter() - start
    assert imp.n_trials == 2000
    assert imp.method == "fANOVA (random forest, 32 trees, 2,000 of 10,000 trials)"
    assert next(iter(imp.main)) == "a"
    assert next(iter(imp.pairs)) == ("b", "c")
    assert len(imp.pairs) == 15  # pairs among the six largest main effects
    assert elapsed < 3.0  # about 0.3-0.5 s alone on this machine; generous for a shared one
