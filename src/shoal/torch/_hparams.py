"""Read one hyperparameter from a flat mapping: coerce what YAML and samplers produce, reject the rest.

Trials and YAML tasks hand values over as `int` where a float is meant (`lr: 1`), as NumPy scalars
(`np.int64(3)` from a sampler), or, for PyYAML, as strings such as `"1e-3"` (YAML 1.1 needs a dot in
a float, so `lr: 1e-3` loads as text). Each reader turns such values into the plain Python type and
raises a one-line `ConfigError` naming the key for anything else.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shoal.exceptions import ConfigError

__all__ = ["Range", "as_float", "as_int", "read_bool", "read_choice", "read_float", "read_int"]


class Range:
    """An interval constraint such as `> 0` or `in [0, 1)`, checked and spelled for error messages.

    >>> Range(low=0, low_open=True).text
    '> 0'
    >>> Range(low=0, high=1, high_open=True).text
    'in [0, 1)'
    """

    def __init__(self, *, low: float | None = None, high: float | None = None,
                 low_open: bool = False, high_open: bool = False) -> None:
        self.low, self.high, self.low_open, self.high_open = low, high, low_open, high_open

    def contains(self, value: float) -> bool:
        if self.low is not None and (value <= self.low if self.low_open else value < self.low):
            return False
        return not (self.high is not None and (value >= self.high if self.high_open else value > self.high))

    @property
    def text(self) -> str:
        if self.low is not None and self.high is not None:
            left, right = "(" if self.low_open else "[", ")" if self.high_open else "]"
            return f"in {left}{_num(self.low)}, {_num(self.high)}{right}"
        if self.low is not None:
            return f"{'>' if self.low_open else '>='} {_num(self.low)}"
        if self.high is not None:
            return f"{'<' if self.high_open else '<='} {_num(self.high)}"
        return "a finite number"


def _num(x: float) -> str:
    return str(int(x)) if float(x).is_integer() else str(x)


def _plain(value: Any) -> Any:
    """NumPy scalars as Python values, so messages show `3`, not `np.int64(3)`."""
    return value.item() if isinstance(value, np.generic) else value


def as_int(value: Any, *, key: str, owner: str) -> int:
    """`value` as an int: ints, NumPy ints and integral floats (`2.0`) pass; bools and `2.5` do not."""
    value = _plain(value)
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ConfigError(f"{key} of {owner} must be an integer. Got {value!r}.")
    if isinstance(value, numbers.Integral):
        return int(value)
    if math.isfinite(value) and float(value).is_integer():
        return int(float(value))
    raise ConfigError(f"{key} of {owner} must be an integer. Got {value!r}.")


def as_float(value: Any, *, key: str, owner: str) -> float:
    """`value` as a finite float: numbers, NumPy scalars and numeric strings pass; bools do not."""
    value = _plain(value)
    number: float | None = None
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            number = None
    if number is None or not math.isfinite(number):
        raise ConfigError(f"{key} of {owner} must be a finite number. Got {value!r}.")
    return number


def read_int(params: Mapping[str, Any], key: str, default: int, *, owner: str,
             within: Range | None = None) -> int:
    """`params[key]` (or `default`) as an int within the range.

    >>> read_int({"layers": 3.0}, "layers", 2, owner="MLP", within=Range(low=0))
    3
    """
    value = as_int(params.get(key, default), key=key, owner=owner)
    if within is not None and not within.contains(value):
        raise ConfigError(f"{key} of {owner} must be {within.text}. Got {value!r}.")
    return value


def read_float(params: Mapping[str, Any], key: str, default: float, *, owner: str,
               within: Range | None = None) -> float:
    """`params[key]` (or `default`) as a finite float within the range.

    >>> read_float({"lr": "1e-3"}, "lr", 0.1, owner="optimizer 'adam'", within=Range(low=0, low_open=True))
    0.001
    """
    value = as_float(params.get(key, default), key=key, owner=owner)
    if within is not None and not within.contains(value):
        raise ConfigError(f"{key} of {owner} must be {within.text}. Got {value!r}.")
    return value


def read_bool(params: Mapping[str, Any], key: str, default: bool, *, owner: str) -> bool:
    """`params[key]` (or `default`) as a bool; only `True`/`False` (Python or NumPy) are accepted.

    >>> read_bool({"batch_norm": True}, "batch_norm", False, owner="MLP")
    True
    """
    value = _plain(params.get(key, default))
    if not isinstance(value, bool):
        raise ConfigError(f"{key} of {owner} must be true or false. Got {value!r}.")
    return value


def read_choice(params: Mapping[str, Any], key: str, default: str, choices: Sequence[str], *,
                owner: str) -> str:
    """`params[key]` (or `default`), which must be one of `choices`.

    >>> read_choice({}, "activation", "relu", ("relu", "tanh"), owner="MLP")
    'relu'
    """
    value = _plain(params.get(key, default))
    if not isinstance(value, str) or value not in choices:
        listed = ", ".join(repr(c) for c in choices)
        raise ConfigError(f"{key} of {owner} must be one of {listed}. Got {value!r}.")
    return str(value)
