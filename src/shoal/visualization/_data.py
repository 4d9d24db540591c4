"""What every plot reads: a study's name, directions and trials, from a Study or a stored snapshot."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from shoal.trial import Direction, FrozenTrial

__all__ = ["StudyLike", "StudySnapshot", "objective_label", "snapshot", "text"]


@runtime_checkable
class StudyLike(Protocol):
    """Anything with a name, directions and trials: a `shoal.Study`, or a `StudySnapshot`."""

    @property
    def name(self) -> str: ...

    @property
    def directions(self) -> tuple[Direction, ...]: ...

    @property
    def trials(self) -> list[FrozenTrial]: ...


@dataclass(frozen=True)
class StudySnapshot:
    """A study as the dashboard and reports hold it: its record's fields and its trials.

    The plotting functions accept it like a `Study`; the dashboard builds one from the read-only
    storage view (updated with `get_trials(since=)`), so it never imports the study package.
    """

    name: str
    directions: tuple[Direction, ...]
    trials: list[FrozenTrial]
    user_attrs: Mapping[str, Any] = field(default_factory=dict)
    system_attrs: Mapping[str, Any] = field(default_factory=dict)


def snapshot(study: StudyLike) -> StudySnapshot:
    """Read a study's trials once, so several plots of it see the same trials."""
    if isinstance(study, StudySnapshot):
        return study
    user = getattr(study, "user_attrs", {})
    system = getattr(study, "system_attrs", {})
    return StudySnapshot(study.name, tuple(study.directions), list(study.trials),
                         dict(user) if isinstance(user, Mapping) else {},
                         dict(system) if isinstance(system, Mapping) else {})


def text(value: Any) -> str:
    """A user's name or value as plotly text: shown as written, never read as markup or a template.

    Plotly renders a subset of HTML in titles, labels, legends and ticks, and `%{...}` in hover
    templates; parameter names, choices and curve names come from users.

    >>> text("<b>lr</b> %{x}")
    '&lt;b&gt;lr&lt;/b&gt; &#37;{x}'
    """
    return html.escape(str(value), quote=False).replace("%", "&#37;")


def objective_label(study: StudySnapshot, index: int) -> str:
    """How axes name objective `index`: 'objective 0 (maximize)' unless the study names it."""
    names: Sequence[str] = study.system_attrs.get("objective_names", ()) or ()
    base = text(names[index]) if index < len(names) else f"objective {index}"
    return f"{base} ({study.directions[index].value})"
