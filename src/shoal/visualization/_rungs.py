"""Multi-fidelity rungs: how many trials reached each rung, and what became of them there."""

from __future__ import annotations

from bisect import bisect_right
from collections import Counter
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from shoal.trial import FrozenTrial, TrialState
from shoal.visualization._data import StudyLike, StudySnapshot, snapshot
from shoal.visualization._figure import STATE_COLORS, empty_figure

if TYPE_CHECKING:
    import plotly.graph_objects as go

__all__ = ["OUTCOMES", "has_rungs", "plot_rungs", "rung_counts", "rung_levels"]

_TITLE = "Rungs"
_MAX_LEVELS = 20
#: What became of the trials that reached a rung, in stacking order.
OUTCOMES = ("promoted", "paused", "stopped", "ended or running there")
_OUTCOME_OF = {TrialState.PAUSED: "paused", TrialState.PRUNED: "stopped"}
_COLORS = ("#1f77b4", STATE_COLORS[TrialState.PAUSED], STATE_COLORS[TrialState.PRUNED], "#bbbbbb")


def plot_rungs(study: StudyLike, *, objective: int | None = None,
               params: Sequence[str] | None = None) -> go.Figure:
    """For each rung, the trials that reached it, stacked by what became of them there.

    Rungs are the steps where trials were paused or stopped, read from the records: the study's
    `system_attrs["rung_steps"]` when recorded, else every step of a "paused" lineage event and
    the last step of every PRUNED trial (the 20 most frequent, as a step-wise stopping rule
    stops trials anywhere). A trial reaches rung r at its first reported step >= r (as shoal's
    schedulers say). There it was "promoted" (it reported later, or was resumed there),
    "paused" (PAUSED there, waiting), "stopped" (PRUNED there) or "ended or running there"
    (completed, failed or still running at that step). Traces: one stacked `go.Bar` per
    outcome. When trials record their bracket (`system_attrs["bracket"]`, e.g. Hyperband's),
    each bracket has its own rungs and the x axis groups them by bracket.

    Args:
        study: A `shoal.Study` or a `StudySnapshot`.
        objective, params: Accepted so every figure of the registry takes the same keywords; unused.

    Returns:
        The figure; an empty one with an annotation while no trial was paused or stopped at a step.
    """
    import plotly.graph_objects as go

    snap = snapshot(study)
    groups: dict[Any, list[FrozenTrial]] = {}
    for t in snap.trials:
        groups.setdefault(t.system_attrs.get("bracket"), []).append(t)
    bracketed = len(groups) > 1 or None not in groups
    labels: list[tuple[str, str]] = []
    counts: list[dict[str, int]] = []
    for bracket in sorted(groups, key=lambda b: (b is None, str(b))):
        members = groups[bracket]
        levels = rung_levels(snap, members)
        labels += [("no bracket" if bracket is None else f"bracket {bracket}", f"step {level}")
                   for level in levels]
        counts += rung_counts(members, levels)
    if not labels:
        return empty_figure(_TITLE, "no trial was paused or stopped at a step yet")
    x: Any = [[a for a, _ in labels], [b for _, b in labels]] if bracketed else [b for _, b in labels]
    data = [go.Bar(x=x, y=[c[name] for c in counts], name=name, marker={"color": color},
                   hovertemplate="%{x}<br>%{y} " + name + "<extra></extra>")
            for name, color in zip(OUTCOMES, _COLORS, strict=True)]
    fig = go.Figure(data)
    fig.update_layout(title=_TITLE, barmode="stack", template="plotly_white", xaxis_title="rung",
                      yaxis_title="trials that reached it")
    return fig


def rung_levels(snap: StudySnapshot, trials: Sequence[FrozenTrial]) -> list[int]:
    """The rung steps: recorded by the study, else where `trials` were paused or stopped."""
    recorded = snap.system_attrs.get("rung_steps")
    if recorded:
        return sorted({int(s) for s in recorded})
    seen: Counter[int] = Counter()
    for t in trials:
        for event in t.lineage:
            if event.get("event") == "paused" and event.get("step") is not None:
                seen[int(event["step"])] += 1
        if t.state is TrialState.PRUNED and t.intermediate:
            seen[max(t.intermediate)] += 1
    return sorted(step for step, _ in seen.most_common(_MAX_LEVELS))


def has_rungs(snap: StudySnapshot) -> bool:
    """True when some trial was paused or stopped at a step (what `plot_rungs` draws)."""
    return bool(snap.system_attrs.get("rung_steps")) or any(
        (t.state is TrialState.PRUNED and t.intermediate) or t.state is TrialState.PAUSED
        or any(e.get("event") == "paused" for e in t.lineage) for t in snap.trials)


def rung_counts(trials: Sequence[FrozenTrial], levels: Sequence[int]) -> list[dict[str, int]]:
    """How many of `trials` reached each rung of `levels` (ascending), by outcome (see `plot_rungs`).

    One pass over the trials, not one per rung (10,000 trials x 20 rungs): the rungs a trial
    reached are those up to its last step; it went on from every rung up to its report before
    last (its first report at or after them comes before its last), and its state tells what
    became of it at the rungs above that, unless it was resumed at its last step.
    """
    ranks = {name: i for i, name in enumerate(OUTCOMES)}
    marks = [[0] * (len(levels) + 1) for _ in OUTCOMES]  # +1 from a rung index on, -1 past the last
    for t in trials:
        reports = t.intermediate
        if not reports:
            continue
        last = max(reports)
        reached = bisect_right(levels, last)
        if not reached:
            continue
        top = levels[reached - 1]
        if top < last and top in reports:  # the usual case, a report every step: no second pass
            split = reached
        else:
            before = max((s for s in reports if s < last), default=None)
            split = 0 if before is None else bisect_right(levels, before)
        if split < reached and any(e.get("event") == "resumed" and e.get("step") is not None
                                   and e["step"] >= last for e in t.lineage):
            split = reached
        marks[0][0] += 1
        marks[0][split] -= 1
        held = ranks[_OUTCOME_OF.get(t.state, "ended or running there")]
        marks[held][split] += 1
        marks[held][reached] -= 1
    out = [dict.fromkeys(OUTCOMES, 0) for _ in levels]
    for name, row in zip(OUTCOMES, marks, strict=True):
        total = 0
        for i in range(len(levels)):
            total += row[i]
            out[i][name] = total
    return out
