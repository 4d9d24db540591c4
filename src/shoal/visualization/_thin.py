"""Thinning: which trials a plot draws when a study has more than `max_trials` of them.

A browser draws 10,000 learning curves or parallel-coordinate lines in seconds, and a reader
sees no more in them than in 1,000 well-chosen ones. Plots whose marks grow with the number of
trials take `max_trials` (None: draw all, the notebook default) and, above it, draw a
deterministic subset: the best half by score (COMPLETE trials), the RUNNING and PAUSED trials
(up to a quarter, newest first) and an even spread by trial number of the rest. Aggregates
(best so far, binned means, bands, counts) keep using every trial.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shoal._validate import integer
from shoal.trial import FrozenTrial, TrialState
from shoal.visualization._data import StudySnapshot

__all__ = ["SVG_LINE_POINTS", "SVG_MARKERS", "THINNED", "Thinned", "annotate", "objective_key", "scatter",
           "thin"]

if TYPE_CHECKING:
    import plotly.graph_objects as go

#: The `name` of the annotation that says a figure was thinned.
THINNED = "thinned"
_LIVE = (TrialState.RUNNING, TrialState.PAUSED)
#: A figure with at most this many markers draws them as SVG (`go.Scatter`), above as WebGL
#: (`go.Scattergl`); lines: at most SVG_LINE_POINTS points. Each WebGL plot costs a context,
#: which a browser without a GPU renders in software: the 10,000-trial study page, every figure
#: thinned to 1,000 trials, was ready in 5.7-6.0 s with SVG traces against 8.4-9.1 s with WebGL
#: (headless Chromium, --disable-gpu, load ~6 on 2 cores); 50,000 line points draw in 0.22 s as
#: SVG as with WebGL, while an SVG marker is a DOM node each.
SVG_MARKERS = 5_000
SVG_LINE_POINTS = 100_000


@dataclass(frozen=True)
class Thinned:
    """The trials to draw (in their original order) and how they were picked.

    `note` is None when every trial is drawn, else a sentence such as "1,000 of 10,000 trials
    drawn: the best 500, 0 running or paused, an even sample of 500".
    """

    trials: list[FrozenTrial]
    total: int
    best: int
    live: int
    spread: int

    @property
    def note(self) -> str | None:
        if len(self.trials) == self.total:
            return None
        return (f"{len(self.trials):,} of {self.total:,} trials drawn: the best {self.best:,}, "
                f"{self.live:,} running or paused, an even sample of {self.spread:,}")


def objective_key(study: StudySnapshot, index: int) -> Callable[[FrozenTrial], float | None]:
    """A trial's score on objective `index` (lower is better), None unless COMPLETE and finite."""
    sign = study.directions[index].sign

    def key(trial: FrozenTrial) -> float | None:
        values = trial.values
        if trial.state is not TrialState.COMPLETE or values is None or len(values) <= index \
                or not math.isfinite(values[index]):
            return None
        return sign * float(values[index])
    return key


def thin(trials: Sequence[FrozenTrial], max_trials: int | None, *,
         key: Callable[[FrozenTrial], float | None], owner: str) -> Thinned:
    """At most `max_trials` of `trials`, picked by the rule of this module; all when None.

    The best `max_trials // 2` by `key` (lower first, ties by trial number; trials keyed None are
    never "best"), then up to `max_trials // 4` RUNNING or PAUSED trials (newest first), then
    the rest of the budget spread evenly over the remaining trials in number order (the first
    and last included). The result keeps the order of `trials`.

    >>> from shoal.trial import FrozenTrial, TrialState
    >>> ts = [FrozenTrial(i, i, TrialState.COMPLETE, values=(float(10 - i),)) for i in range(10)]
    >>> picked = thin(ts, 4, key=lambda t: t.values[0], owner="doc")
    >>> [t.number for t in picked.trials], picked.note
    ([0, 7, 8, 9], '4 of 10 trials drawn: the best 2, 0 running or paused, an even sample of 2')

    Raises:
        ConfigError: `max_trials` is not None or an integer >= 1.
    """
    if max_trials is None:
        return Thinned(list(trials), len(trials), 0, 0, 0)
    budget = integer(max_trials, what="max_trials", owner=owner, low=1,
                     hint="Pass max_trials=None to draw every trial.")
    if len(trials) <= budget:
        return Thinned(list(trials), len(trials), 0, 0, 0)
    keyed = [(score, t.number, i) for i, t in enumerate(trials) if (score := key(t)) is not None]
    keyed.sort()
    chosen = {i for _, _, i in keyed[:budget // 2]}
    best = len(chosen)
    live = [i for i, t in enumerate(trials) if t.state in _LIVE and i not in chosen]
    live.sort(key=lambda i: -trials[i].number)
    live = live[:budget // 4]
    chosen.update(live)
    rest = sorted((i for i in range(len(trials)) if i not in chosen), key=lambda i: trials[i].number)
    slots = min(budget - len(chosen), len(rest))
    if slots == 1:
        chosen.add(rest[0])
    elif slots > 1:  # rest has at least `slots` trials, so the rounded positions are distinct
        step = (len(rest) - 1) / (slots - 1)
        chosen.update(rest[math.floor(k * step + 0.5)] for k in range(slots))
    return Thinned([trials[i] for i in sorted(chosen)], len(trials), best, len(live), max(slots, 0))


def scatter(points: int, *, lines: bool = False) -> type[go.Scatter] | type[go.Scattergl]:
    """The scatter class for a figure of `points` markers (or line points, `lines`): SVG when few."""
    import plotly.graph_objects as go

    kind: type[go.Scatter] | type[go.Scattergl] = (
        go.Scatter if points <= (SVG_LINE_POINTS if lines else SVG_MARKERS) else go.Scattergl)
    return kind


def annotate(fig: go.Figure, thinned: Thinned, *, below: bool = False) -> go.Figure:
    """`fig` with the thinning note as a small grey annotation named THINNED, when trials were
    left out: at the plot's top left (`below`: under the plot, where a parallel-coordinates
    figure has room). The title stays free, so pages that show their own heading keep the note."""
    note = thinned.note
    if note is not None:
        fig.add_annotation(text=note, name=THINNED, xref="paper", yref="paper", x=0.0,
                           y=0.0 if below else 1.0,
                           xanchor="left", yanchor="top" if below else "bottom", yshift=-24 if below else 2,
                           showarrow=False, font={"size": 11, "color": "#666666"})
    return fig
