"""PB2: its data (per-interval gains) by hand, the GP's choice on a known optimum, and its
fallback to PBT's perturbation. The conformance suite runs in tests/test_common.py."""

from __future__ import annotations

import math
import pickle
import re

import numpy as np
import pytest

from shoal.exceptions import ConfigError
from shoal.schedulers import PB2, PBT
from shoal.schedulers._pb2 import _fit, _predict, interval_gains
from shoal.space import Categorical, Float
from shoal.trial import FrozenTrial, TrialState

X = Float(0.0, 1.0)


def test_kappa_is_checked() -> None:
    message = "kappa of PB2 must be a finite number >= 0.0. Got -1.0."
    with pytest.raises(ConfigError, match=f"^{re.escape(message)}$"):
        PB2(kappa=-1.0)


def test_interval_gains_by_hand() -> None:
    parent = FrozenTrial(0, 0, TrialState.RUNNING, params={"x": 0.25},
                         intermediate={3: 5.0, 5: 4.5, 7: 4.0, 11: math.nan})
    fork = FrozenTrial(1, 1, TrialState.RUNNING, params={"x": 0.75}, intermediate={11: 3.0, 15: 2.0},
                       lineage=({"event": "forked", "parent": 0, "step": 7, "changed": {}},))
    other = FrozenTrial(2, 2, TrialState.RUNNING, params={"y": 1.0}, intermediate={3: 1.0, 7: 0.0})
    maximised = FrozenTrial(3, 3, TrialState.RUNNING, params={"x": 0.5}, signs=(-1.0,),
                            intermediate={3: 1.0, 7: 3.0})
    x, t, gains = interval_gains([parent, fork, other, maximised], {"x": X}, interval=4, until=15)
    rows = sorted(zip(t.tolist(), x[:, 0].tolist(), gains.tolist(), strict=True))
    assert rows == [
        (1.75, 0.25, 1.0),  # parent 3 -> 7: 5.0 - 4.0 (step 5 is no boundary)
        (1.75, 0.5, 2.0),  # maximised 1.0 -> 3.0: scores -1 -> -3
        (2.75, 0.75, 1.0),  # the fork's first interval starts at its parent's 4.0 at step 7
        (3.75, 0.75, 1.0),
    ]  # parent 7 -> 11 is NaN; trial 2 has no x
    _, t, _ = interval_gains([parent, fork], {"x": X}, interval=4, until=11)
    assert t.tolist() == [1.75, 2.75]


def test_the_gp_finds_a_known_optimum() -> None:
    rng = np.random.default_rng(0)
    x = rng.random((30, 1))
    t = np.ones(30)
    y = -((x[:, 0] - 0.8) ** 2) * 10
    y = (y - y.mean()) / y.std()
    fitted = _fit(x, t, y)
    assert fitted is not None
    grid = np.linspace(0, 1, 101)[:, None]
    mean, var = _predict(fitted, x, t, grid, 1.0)
    assert abs(float(grid[int(np.argmax(mean)), 0]) - 0.8) <= 0.05
    assert np.all(var > 0)
    assert float(var.max()) <= 1.0
    # At the data, the posterior mean is close to the data (noise 1e-2 on standardised values).
    at_data, _ = _predict(fitted, x, t, x, 1.0)
    assert np.max(np.abs(at_data - y)) < 0.2


def _population() -> list[FrozenTrial]:
    """Eight members with x = i/7; each interval, the gain is largest near x = 0.8."""
    out = []
    for i in range(8):
        x = i / 7
        curve, score = {}, 10.0
        for end in (3, 7, 11):
            score -= 1.0 - (x - 0.8) ** 2 * 4
            curve[end] = score
        state = TrialState.PRUNED if i == 0 else TrialState.RUNNING
        out.append(FrozenTrial(i, i, state, params={"x": x, "act": "relu"},
                               distributions={"x": X, "act": Categorical(["relu", "tanh"])},
                               intermediate=curve))
    return out


def test_pb2_forks_toward_the_best_gains() -> None:
    history = _population()
    fork = PB2(seed=0, kappa=0.0, hyperparams=["x", "act"]).next_job(history)
    assert fork is not None
    assert fork.replaces == 0
    assert fork.fork in (6, 5)  # the top quantile at step 11: x = 6/7 and 5/7
    assert abs(fork.params["x"] - 0.8) <= 0.1
    assert fork.params["act"] in ("relu", "tanh")  # categoricals: PBT's resampling
    # PBT from the same seed and parent multiplies x by 0.8 or 1.2 instead.
    pbt = PBT(seed=0, resample_probability=0.0, hyperparams=["x"]).next_job(history)
    assert pbt is not None
    assert pbt.fork == fork.fork
    parent_x = history[pbt.fork].params["x"]
    assert pbt.params["x"] in (pytest.approx(parent_x * 0.8), pytest.approx(min(parent_x * 1.2, 1.0)))


def test_pb2_falls_back_to_pbt_without_data() -> None:
    # Every curve reports only step 3: no interval has both ends, so PB2 perturbs as PBT does.
    history = [FrozenTrial(i, i, TrialState.PRUNED if i == 0 else TrialState.RUNNING,
                           params={"x": 0.5}, distributions={"x": X}, intermediate={3: float(10 - i)})
               for i in range(8)]
    assert PB2(seed=3).next_job(history) == PBT(seed=3).next_job(history)


def test_pb2_is_the_same_on_every_worker() -> None:
    history = _population()
    fresh = PB2(seed=None)
    assert pickle.loads(pickle.dumps(fresh)).next_job(history) == fresh.next_job(history)
    assert repr(PB2(seed=1)) == ("PB2(population=8, interval=4, quantile=0.25, hyperparams=None, "
                                 "seed=1, max_step=None, kappa=2.0)")
