"""Checks of user-given values, each producing the one error sentence shape.

`"{what} of {owner} must be {constraint}. Got {value!r}."` plus, where it helps, what to do next.
Every layer validates through these, so the rule (a bool is not an integer, NaN is not a number)
and the sentence live in one place, as scikit-learn derives its messages from declared constraints.

>>> integer(3, what="n_trials", owner="optimize", low=0)
3
>>> integer(True, what="n_trials", owner="optimize", low=0)
Traceback (most recent call last):
...
shoal.exceptions.ConfigError: n_trials of optimize must be an integer >= 0. Got True.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Collection
from typing import Any, Literal, overload

from shoal.exceptions import ConfigError

__all__ = ["config_error", "integer", "number", "one_of", "seed"]


def config_error(what: str, owner: str, constraint: str, value: Any, hint: str = "",
                 error: type[ConfigError] = ConfigError) -> ConfigError:
    """The one sentence: `{what} of {owner} must be {constraint}. Got {value!r}.` and a hint."""
    text = f"{what} of {owner} must be {constraint}. Got {value!r}."
    return error(f"{text} {hint}" if hint else text)


def _is_int(value: Any) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def _bounds_text(kind: str, low: float | None, high: float | None, *, low_open: bool = False,
                 high_open: bool = False) -> str:
    parts = [kind]
    if low is not None and high is not None:
        lo, hi = ("(" if low_open else "["), (")" if high_open else "]")
        parts.append(f"in {lo}{low}, {high}{hi}")
    elif low is not None:
        parts.append(f"{'>' if low_open else '>='} {low}")
    elif high is not None:
        parts.append(f"{'<' if high_open else '<='} {high}")
    return " ".join(parts)


@overload
def integer(value: Any, *, what: str, owner: str, low: int | None = ..., high: int | None = ...,
            none: Literal[False] = False, hint: str = "") -> int: ...
@overload
def integer(value: Any, *, what: str, owner: str, low: int | None = ..., high: int | None = ...,
            none: bool, hint: str = "") -> int | None: ...


def integer(value: Any, *, what: str, owner: str, low: int | None = None, high: int | None = None,
            none: bool = False, hint: str = "") -> int | None:
    """`value` as an int within [low, high]; bools and floats are refused, `None` only if allowed."""
    if value is None and none:
        return None
    if not _is_int(value) or (low is not None and value < low) or (high is not None and value > high):
        constraint = _bounds_text("an integer", low, high) + (" or None" if none else "")
        raise config_error(what, owner, constraint, value, hint)
    return int(value)


@overload
def number(value: Any, *, what: str, owner: str, low: float | None = ..., high: float | None = ...,
           low_open: bool = ..., high_open: bool = ..., none: Literal[False] = False,
           hint: str = "") -> float: ...
@overload
def number(value: Any, *, what: str, owner: str, low: float | None = ..., high: float | None = ...,
           low_open: bool = ..., high_open: bool = ..., none: bool,
           hint: str = "") -> float | None: ...


def number(value: Any, *, what: str, owner: str, low: float | None = None, high: float | None = None,
           low_open: bool = False, high_open: bool = False, none: bool = False,
           hint: str = "") -> float | None:
    """`value` as a finite float within the bounds (open or closed); strings and bools are refused."""
    if value is None and none:
        return None
    ok = isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)
    if ok and low is not None:
        ok = value > low if low_open else value >= low
    if ok and high is not None:
        ok = value < high if high_open else value <= high
    if not ok:
        constraint = _bounds_text("a finite number", low, high, low_open=low_open, high_open=high_open)
        raise config_error(what, owner, constraint + (" or None" if none else ""), value, hint)
    return float(value)


def seed(value: Any, *, owner: str) -> int | None:
    """A random seed: an integer >= 0, or None for fresh entropy."""
    return integer(value, what="seed", owner=owner, low=0, none=True)


def one_of(value: Any, choices: Collection[Any], *, what: str, owner: str, hint: str = "") -> Any:
    """`value` if it is one of `choices`."""
    if value not in choices:
        raise config_error(what, owner, f"one of {sorted(choices, key=repr)!r}", value, hint)
    return value
