"""Declarative constraints: bounds on user attributes the objective sets, as a constraints_func."""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from shoal._validate import config_error
from shoal.trial import FrozenTrial

__all__ = ["AttrConstraints", "MissingAttribute"]

#: Where a study remembers the names of its constraints (`AttrConstraints.names`), for tables.
NAMES_ATTR = "constraint_names"
_BOUND = re.compile(r"^\s*(<=|>=)\s*(\S+)\s*$")


class MissingAttribute(LookupError):
    """A completed trial lacks a user attribute its constraints read; the trial is marked FAILED."""


@dataclass(frozen=True)
class AttrConstraints:
    """Bounds on user attributes, as a picklable `constraints_func` for `create_study`.

    Each bound `(attr, op, limit)` gives one constraint value: `attr - limit` for `<=`, and
    `limit - attr` for `>=`, so a value <= 0 means satisfied (what `constraints_func` returns).
    The objective records the attribute with `trial.set_user_attr(attr, value)`; a completed
    trial without it fails, with a reason that names the attribute.

    >>> c = AttrConstraints.parse({"latency_ms": "<= 20", "accuracy": ">= 0.5"})
    >>> c.names
    ('latency_ms <= 20', 'accuracy >= 0.5')
    >>> from shoal.trial import TrialState
    >>> c(FrozenTrial(0, 0, TrialState.COMPLETE, user_attrs={"latency_ms": 25.0, "accuracy": 0.75}))
    [5.0, -0.25]
    """

    bounds: tuple[tuple[str, str, float], ...]

    def __post_init__(self) -> None:
        for attr, op, limit in self.bounds:
            if op not in ("<=", ">="):
                raise config_error(f"bound of constraint {attr!r}", "AttrConstraints", "'<=' or '>='", op)
            if not (isinstance(limit, (int, float)) and not isinstance(limit, bool) and math.isfinite(limit)):
                raise config_error(f"limit of constraint {attr!r}", "AttrConstraints", "a finite number",
                                   limit)

    @classmethod
    def parse(cls, mapping: Mapping[str, Any], *, owner: str = "AttrConstraints.parse") -> AttrConstraints:
        """From `{attr: "<= 20", other: ">= 0.9"}` (a bare number means `<=` it).

        Raises:
            ConfigError: a key is not a string, or a bound is not `<= number` / `>= number`.
        """
        bounds: list[tuple[str, str, float]] = []
        for attr, text in mapping.items():
            if not isinstance(attr, str) or not attr:
                raise config_error("each key", owner, "a user attribute's name", attr,
                                   hint='e.g. constraints: {latency_ms: "<= 20"}')
            if isinstance(text, (int, float)) and not isinstance(text, bool):
                op, limit = "<=", float(text)
            else:
                match = _BOUND.match(text) if isinstance(text, str) else None
                limit = _number(match.group(2)) if match is not None else math.nan
                if match is None or not math.isfinite(limit):
                    raise config_error(f"bound of {attr!r}", owner, "'<= NUMBER' or '>= NUMBER'", text,
                                       hint=f'e.g. {attr}: "<= 20"')
                op = match.group(1)
            bounds.append((attr, op, limit))
        if not bounds:
            raise config_error("bounds", owner, "a mapping with at least one entry", dict(mapping),
                               hint='e.g. {"latency_ms": "<= 20"}')
        return cls(tuple(bounds))

    @property
    def names(self) -> tuple[str, ...]:
        """One readable name per constraint, e.g. `latency_ms <= 20`."""
        return tuple(f"{attr} {op} {limit:g}" for attr, op, limit in self.bounds)

    def __call__(self, trial: FrozenTrial) -> list[float]:
        """The constraint values of a completed trial (<= 0: satisfied).

        Raises:
            MissingAttribute: the trial has no user attribute a bound reads, or it is not a number.
        """
        out = []
        for attr, op, limit in self.bounds:
            if attr not in trial.user_attrs:
                have = ", ".join(sorted(trial.user_attrs)) or "none"
                raise MissingAttribute(
                    f"user attribute {attr!r} of trial {trial.number} must be set for the constraint "
                    f"'{attr} {op} {limit:g}'. Got none (its user attributes: {have}). Call "
                    f"trial.set_user_attr({attr!r}, value) in the objective.")
            value = trial.user_attrs[attr]
            if isinstance(value, bool) or not isinstance(value, (int, float)):
                raise MissingAttribute(
                    f"user attribute {attr!r} of trial {trial.number} must be a number for the "
                    f"constraint '{attr} {op} {limit:g}'. Got {value!r}.")
            out.append(float(value) - limit if op == "<=" else limit - float(value))
        return out


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return math.nan
