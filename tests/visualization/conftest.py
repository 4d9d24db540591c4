"""Trials and studies built by hand, so every plotted point is known."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import pytest

from shoal.space import Categorical, Float, Int, Param
from shoal.trial import Direction, FrozenTrial, TrialState
from shoal.visualization import StudySnapshot

SPACE: dict[str, Param] = {"lr": Float(1e-4, 1.0, scale="log"), "x": Float(0.0, 10.0),
                           "opt": Categorical(["adam", "sgd"]), "width": Int(16, 256, log=True)}

MakeTrial = Callable[..., FrozenTrial]
MakeStudy = Callable[..., StudySnapshot]


def _trial(number: int, state: TrialState = TrialState.COMPLETE, *, values: Sequence[float] | None = None,
           params: Mapping[str, Any] | None = None, intermediate: Mapping[int, float] | None = None,
           lineage: Sequence[Mapping[str, Any]] = (), system_attrs: Mapping[str, Any] | None = None,
           signs: Sequence[float] = (1.0,), start: float | None = None, end: float | None = None,
           heartbeat: float | None = None, distributions: Mapping[str, Param] | None = None) -> FrozenTrial:
    params = dict(params or {})
    dists = dict(distributions) if distributions is not None else {k: SPACE[k] for k in params if k in SPACE}
    return FrozenTrial(number, number, state, params=params, distributions=dists,
                       values=tuple(values) if values is not None else None,
                       intermediate=dict(intermediate or {}), system_attrs=dict(system_attrs or {}),
                       signs=tuple(signs), datetime_start=start, datetime_complete=end,
                       last_heartbeat=heartbeat, lineage=tuple(lineage))


def _study(trials: Sequence[FrozenTrial], directions: Sequence[str] = ("minimize",),
           system_attrs: Mapping[str, Any] | None = None) -> StudySnapshot:
    return StudySnapshot("s", tuple(Direction(d) for d in directions), list(trials),
                         system_attrs=dict(system_attrs or {}))


@pytest.fixture
def make_trial() -> MakeTrial:
    return _trial


@pytest.fixture
def make_study() -> MakeStudy:
    return _study

