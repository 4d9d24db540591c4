"""AutoSampler in a study with several objectives: which of its samplers it uses."""

from __future__ import annotations

import pytest

from shoal.samplers import AutoSampler, GPSampler, History, TPESampler
from shoal.samplers._auto import MAX_GP_INPUTS, MAX_GP_TRIALS
from shoal.space import Categorical, Float, Space
from shoal.trial import FrozenTrial, TrialState


def _history(n: int, space: Space) -> History:
    """n completed trials of a 2-objective study (minimise, maximise), then the one being filled."""
    params = {name: 0.5 if isinstance(p, Float) else p.choices[0]  # type: ignore[union-attr]
              for name, p in space.items()}
    done = [FrozenTrial(i, i, TrialState.COMPLETE, params=params, values=(float(i), -float(i)),
                        signs=(1.0, -1.0)) for i in range(n)]
    return History([*done, FrozenTrial(n, n, TrialState.RUNNING, signs=(1.0, -1.0))], n)


@pytest.mark.parametrize(("n_floats", "n_trials", "chosen"), [
    (2, 20, GPSampler),  # few dimensions, a small budget: the GP
    (MAX_GP_INPUTS, MAX_GP_TRIALS - 2, GPSampler),  # at both limits (the study's trials < 300)
    (MAX_GP_INPUTS + 1, 20, TPESampler),  # one input too many
    (2, MAX_GP_TRIALS, TPESampler),  # the budget beyond the GP
])
def test_several_objectives_use_the_gp_for_small_budgets_and_tpe_beyond(
        n_floats: int, n_trials: int, chosen: type) -> None:
    space = Space({f"x{i}": Float(0.0, 1.0) for i in range(n_floats)})
    assert type(AutoSampler(seed=0).choose(space, _history(n_trials, space))) is chosen


def test_categorical_choices_count_as_inputs_with_several_objectives() -> None:
    # 30 floats and a categorical of 3 choices: 33 inputs, beyond the GP's 32.
    space = Space({**{f"x{i}": Float(0.0, 1.0) for i in range(30)},
                   "act": Categorical(["relu", "gelu", "tanh"])})
    assert type(AutoSampler(seed=0).choose(space, _history(10, space))) is TPESampler

