"""A sampler written for one objective is refused by a study with several: the whole message,
what counts as declaring the capability, and what is accepted (the basic refusals, the
scheduler's among them, are in tests/study/test_multi_objective.py)."""

from __future__ import annotations

import inspect
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import shoal
import shoal.samplers
from shoal.exceptions import ConfigError
from shoal.samplers import History, RandomSampler
from shoal.space import Float, Space


class OneObjectiveSampler:
    """A user's own sampler that ranks trials by `score`: fine for one objective only."""

    def __init__(self, *, seed: int | None = None) -> None:
        self.seed = seed

    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        return space.sample(rng)


class SaysNo(OneObjectiveSampler):
    multi_objective = False


class SaysOne(OneObjectiveSampler):
    multi_objective = 1  # truthy is not a declaration: only True is


def _sampler_message(name: str) -> str:
    return (f"sampler of study 'mo' must handle 2 objectives; {name} ranks trials by one. "
            f"Got {name}. Use RandomSampler, QMCSampler, GridSampler, CoarseToFineSampler, "
            "TPESampler, GPSampler or AutoSampler (a sampler of your own declares "
            "`multi_objective = True` once it ranks by every objective).")


@pytest.mark.parametrize("cls", [OneObjectiveSampler, SaysNo, SaysOne])
def test_a_sampler_for_one_objective_is_refused_naming_it_and_the_alternatives(
        cls: type, tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mo.db'}"
    with pytest.raises(ConfigError, match=f"^{re.escape(_sampler_message(cls.__name__))}$"):
        shoal.create_study("mo", storage=url, directions=["minimize", "maximize"], sampler=cls())
    assert shoal.list_studies(storage=url) == []  # refused before anything was stored


def test_the_alternatives_named_are_every_sampler_shoal_ships_for_several_objectives() -> None:
    named = set(re.findall(r"\b([A-Z]\w+Sampler)\b", _sampler_message("X").split(". Use ")[1]))
    shipped = {name for name in shoal.samplers.__all__ if name.endswith("Sampler")
               and inspect.isclass(getattr(shoal.samplers, name)) and name != "Sampler"
               and getattr(getattr(shoal.samplers, name), "multi_objective", False) is True}
    assert named == shipped
    assert "MultiFidelitySampler" not in named  # it ranks one objective


@pytest.mark.parametrize("sampler", [RandomSampler(seed=0), shoal.samplers.QMCSampler(seed=0),
                                     shoal.samplers.CoarseToFineSampler(seed=0), None])
def test_samplers_that_declare_it_are_accepted(sampler: Any) -> None:
    space = Space({"x": Float(0.0, 1.0)})
    study = shoal.create_study(directions=["minimize", "maximize"], sampler=sampler, space=space)
    assert study.directions == (shoal.Direction.MINIMIZE, shoal.Direction.MAXIMIZE)
    if sampler is None:
        assert type(study.sampler).__name__ == "AutoSampler"


def test_load_study_refuses_it_too_and_keeps_the_trials(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'mo.db'}"
    study = shoal.create_study("mo", storage=url, directions=["minimize", "maximize"],
                               sampler=RandomSampler(seed=0))
    study.optimize(lambda t: (t.suggest_float("x", 0.0, 1.0), 1.0), n_trials=3)
    with pytest.raises(ConfigError, match=f"^{re.escape(_sampler_message('OneObjectiveSampler'))}$"):
        shoal.load_study("mo", storage=url, sampler=OneObjectiveSampler())
    again = shoal.load_study("mo", storage=url, sampler=RandomSampler())
    assert [t.state.value for t in again.trials] == ["COMPLETE"] * 3
