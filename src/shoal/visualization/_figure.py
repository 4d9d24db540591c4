"""What the plots share: the objective check, the empty figure, state colours and parameter columns."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shoal._validate import config_error, integer
from shoal.space import Categorical, Fixed, Float, Int, Param
from shoal.trial import FrozenTrial, TrialState
from shoal.visualization._data import StudySnapshot, text

if TYPE_CHECKING:
    import numpy as np
    import plotly.graph_objects as go

__all__ = ["EMPTY", "STATE_COLORS", "Column", "column", "completed", "empty_figure", "objective_index",
           "param_names", "pick_params"]

#: The annotation of a figure with nothing to draw yet (the dashboard draws brand-new studies).
EMPTY = "no completed trials yet"

#: One colour per state, the same in every plot.
STATE_COLORS = {TrialState.COMPLETE: "#1f77b4", TrialState.PRUNED: "#ff7f0e",
                TrialState.PAUSED: "#9467bd", TrialState.RUNNING: "#2ca02c",
                TrialState.FAILED: "#d62728", TrialState.WAITING: "#7f7f7f"}


def objective_index(study: StudySnapshot, objective: Any, *, owner: str) -> int:
    """`objective` checked against the study: required with several objectives, 0 with one."""
    k = len(study.directions)
    if objective is None and k > 1:
        raise config_error("objective", owner, f"an index in [0, {k - 1}] for a study with {k} objectives",
                           objective, hint="Pass objective=0 (then 1, ...).")
    return integer(0 if objective is None else objective, what="objective", owner=owner, low=0, high=k - 1)


def empty_figure(title: str, text: str = EMPTY) -> go.Figure:
    """A figure with no traces and one centred annotation saying why."""
    import plotly.graph_objects as go

    fig = go.Figure()
    fig.update_layout(title=title, template="plotly_white", xaxis={"visible": False},
                      yaxis={"visible": False},
                      annotations=[{"text": text, "xref": "paper", "yref": "paper", "x": 0.5, "y": 0.5,
                                    "showarrow": False, "font": {"size": 16}}])
    return fig


def completed(study: StudySnapshot, index: int) -> list[FrozenTrial]:
    """The COMPLETE trials whose value of objective `index` is finite."""
    return [t for t in study.trials if t.state is TrialState.COMPLETE and t.values is not None
            and len(t.values) > index and math.isfinite(t.values[index])]


def param_names(trials: Sequence[FrozenTrial]) -> list[str]:
    """Every parameter the trials used, in first-seen order, leaving out Fixed ones."""
    names: dict[str, None] = {}
    for t in trials:
        for name in t.params:
            if name not in names and not isinstance(t.distributions.get(name), Fixed):
                names[name] = None
    return list(names)


def pick_params(trials: Sequence[FrozenTrial], params: Any, *, owner: str,
                count: int | None = None) -> list[str]:
    """`params` checked against the trials' parameters (None: all of them); `count` pins how many."""
    known = param_names(trials)
    if params is None:
        return known
    if isinstance(params, str) or not isinstance(params, Sequence) \
            or any(not isinstance(p, str) or p not in known for p in params) \
            or len(set(params)) != len(params) or not params:
        raise config_error("params", owner, f"a list of distinct names among {known!r}", params,
                           hint="Leave params=None to draw every parameter.")
    if count is not None and len(params) != count:
        raise config_error("params", owner, f"exactly {count} names among {known!r}", params)
    return list(params)


class Column:
    """One parameter's values over trials, ready for an axis.

    `values` is a float array (NaN where the parameter was inactive): the value itself, or for a
    Categorical the index of its choice. `log` says the axis should be logarithmic; `ticktext`
    names the choices of a Categorical at `tickvals` 0, 1, ...
    """

    def __init__(self, name: str, param: Param | None, values: np.ndarray) -> None:
        self.name = name
        self.param = param
        self.values = values
        self.log = is_log(param)
        self.choices: tuple[Any, ...] = param.choices if isinstance(param, Categorical) else ()

    @property
    def categorical(self) -> bool:
        return isinstance(self.param, Categorical)

    @property
    def label(self) -> str:
        """The name as plotly text (see `text`)."""
        return text(self.name)

    @property
    def ticktext(self) -> list[str]:
        return [text(c) for c in self.choices]


def is_log(param: Param | None) -> bool:
    """True for a log-scale Float and a log or power-of-two Int."""
    if isinstance(param, Float):
        return param.scale == "log"
    if isinstance(param, Int):
        return param.log or param.power_of_two
    return False


def column(trials: Sequence[FrozenTrial], name: str) -> Column:
    """Parameter `name` of every trial, as a `Column` (the first trial that has it gives its kind)."""
    import numpy as np

    param = next((t.distributions[name] for t in trials if name in t.distributions), None)
    if isinstance(param, Categorical):
        out = np.full(len(trials), np.nan)
        for i, t in enumerate(trials):
            if name in t.params:
                try:
                    out[i] = param.index(t.params[name])
                except ValueError:  # a value the parameter no longer holds: drawn as inactive
                    continue
        return Column(name, param, out)
    values = [t.params.get(name) for t in trials]
    numeric = [float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else np.nan
               for v in values]
    return Column(name, param, np.asarray(numeric, dtype=float))
