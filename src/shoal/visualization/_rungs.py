"""Multi-fidelity rungs: how many trials reached each rung, and what became of them there."""

from __future__ import annotations

from bisect import bisect_left
from collections import Counter
from collections.abc import Mapping, Sequence
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
    """How many of `trials` reached each rung of `levels`, by outcome (see `plot_rungs`)."""
    out = [dict.fromkeys(OUTCOMES, 0) for _ in levels]
    for t in trials:
        if not t.intermediate:
            continue
        last = max(t.intermediate)
        resumes = [e["step"] for e in t.lineage if e.get("event") == "resumed" and e.get("step") is not None]
        for level, count in zip(levels, out, strict=True):
            step = _rung_step(t.intermediate, level, last)
            if step is None:
                continue
            if last > step or any(r >= step for r in resumes):
                count["promoted"] += 1
            elif t.state is TrialState.PAUSED:
                count["paused"] += 1
            elif t.state is TrialState.PRUNED:
                count["stopped"] += 1
            else:
                count["ended or running there"] += 1
    return out


def _rung_step(reports: Mapping[int, float], level: int, last: int) -> int | None:
    """The first reported step >= `level`, or None (`last`: the newest step)."""
    if level in reports:
        return level
    if last < level:
        return None
    steps = sorted(reports)
    i = bisect_left(steps, level)
    return steps[i] if i < len(steps) else None
