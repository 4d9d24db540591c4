"""Parameter types: frozen, validated at construction, each able to map itself to and from [0, 1]."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Literal

from shoal import _validate
from shoal.exceptions import ConfigError, SpaceError

__all__ = ["Categorical", "ChoiceValue", "Fixed", "Float", "Int", "Param", "param_from_dict"]

ChoiceValue = None | bool | int | float | str
Scale = Literal["linear", "log", "one_minus_log"]
_SCALES = ("linear", "log", "one_minus_log")
_STEP_TOLERANCE = 1e-6  # in steps: absorbs float noise in (value - low) / step, far below one step
# Parent name -> the parent values for which the parameter is active.
Condition = tuple[tuple[str, tuple[ChoiceValue, ...]], ...]


def _fail(what: str, owner: str, constraint: str, value: object) -> SpaceError:
    return SpaceError(f"{what} of {owner} must be {constraint}. Got {value!r}.")


def _checked(check: Any, value: Any, **kwargs: Any) -> Any:
    """A `shoal._validate` check whose error is a SpaceError (the same sentence)."""
    try:
        return check(value, **kwargs)
    except SpaceError:
        raise
    except ConfigError as err:
        raise SpaceError(str(err)) from None


def _number_hint(value: Any) -> str:
    """What to write instead of a number given as text (YAML 1.1 reads `1e-4` as a string)."""
    if isinstance(value, str):
        try:
            float(value)
        except ValueError:
            return ""
        return "Write it as a number, not text (YAML reads 1e-4 as text: write 1.0e-4)."
    return ""


def _resolve_log(owner: str, scale: str | None, log: Any, *, default: str = "linear") -> Any:
    """One scale from the two spellings `scale="log"` and `log=True`; a contradiction is an error."""
    if log is not None and not isinstance(log, bool):
        raise _fail("log", owner, "true or false", log)
    if log is None:
        return default if scale is None else scale
    if scale is None:
        return "log" if log else default
    if log != (scale == "log"):
        raise SpaceError(f"log of {owner} must agree with scale={scale!r}. Got {log!r}. "
                         f"Give one of them: scale='log' and log=True mean the same.")
    return scale


def _clip_unit(u: float) -> float:
    return 0.0 if u < 0.0 else (1.0 if u > 1.0 else u)


def _freeze_when(when: Mapping[str, Sequence[ChoiceValue]] | Condition | None, owner: str) -> Condition:
    if not when:
        return ()
    items = when.items() if isinstance(when, Mapping) else when
    frozen = []
    for parent, values in items:
        if isinstance(values, (str, bytes)) or not isinstance(values, Sequence):
            values = (values,)  # type: ignore[assignment]
        if not values:
            raise _fail(f"when[{parent!r}]", owner, "a non-empty list of parent values", values)
        frozen.append((str(parent), tuple(values)))
    return tuple(sorted(frozen))


def _same_choice(a: object, b: object) -> bool:
    # True == 1 in Python; a categorical must tell them apart.
    return type(a) is type(b) and a == b


@dataclass(frozen=True, repr=False)
class _Base:
    name: str = field(default="", kw_only=True)
    when: Condition = field(default=(), kw_only=True)

    @property
    def owner(self) -> str:
        return f"{type(self).__name__} {self.name!r}" if self.name else type(self).__name__

    def when_dict(self) -> dict[str, list[ChoiceValue]]:
        return {parent: list(values) for parent, values in self.when}

    def _dict_tail(self) -> dict[str, Any]:
        return {"when": self.when_dict()} if self.when else {}

    def to_dict(self) -> dict[str, Any]:
        raise NotImplementedError

    def distribution(self) -> dict[str, Any]:
        """The dict form without the condition: what must match when a name is reused."""
        return {k: v for k, v in self.to_dict().items() if k != "when"}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.to_dict().items() if k != "type")
        return f"{type(self).__name__}({args})"


@dataclass(frozen=True, repr=False)
class Float(_Base):
    """A real number in [low, high] on a linear, log, or 1-x log scale.

    `log=True` is another spelling of `scale="log"` (as for `Int` and `suggest_float`); giving
    both so that they disagree is an error.

    `scale="one_minus_log"` samples 1-x log-uniformly, for values close to 1 such as momentum:
    over 0.9..0.999 the median is about 0.99. `step` (linear scale only) restricts the values to
    `low + k*step`, each equally likely, as Optuna's `suggest_float(step=)`.

    >>> round(Float(0.9, 0.999, scale="one_minus_log").decode(0.5), 6)
    0.99
    >>> Float(0.0, 1.0, step=0.1).decode(0.35)
    0.3
    """

    low: float
    high: float
    scale: Scale = "linear"
    step: float | None = None

    def __init__(
        self,
        low: float,
        high: float,
        scale: Scale | None = None,
        *,
        step: float | None = None,
        name: str = "",
        when: Mapping[str, Sequence[ChoiceValue]] | Condition | None = None,
        log: bool | None = None,
    ) -> None:
        object.__setattr__(self, "name", name)
        scale = _resolve_log(self.owner, scale, log)
        object.__setattr__(self, "low", low)
        object.__setattr__(self, "high", high)
        object.__setattr__(self, "scale", scale)
        object.__setattr__(self, "step", step)
        object.__setattr__(self, "when", _freeze_when(when, self.owner))
        self._validate()
        if step is not None:
            self._validate_step()

    def _validate(self) -> None:
        for what in ("low", "high"):
            v = getattr(self, what)
            object.__setattr__(self, what, _checked(_validate.number, v, what=what, owner=self.owner,
                                                    hint=_number_hint(v)))
        if self.scale not in _SCALES:
            raise _fail("scale", self.owner, f"one of {', '.join(map(repr, _SCALES))}", self.scale)
        if self.low >= self.high:
            raise _fail("low", self.owner, f"< high ({self.high!r})", self.low)
        if self.scale == "log" and self.low <= 0:
            raise _fail("low", self.owner, "> 0 when scale='log'", self.low)
        if self.scale == "one_minus_log" and self.low < 0.0:
            raise _fail("low", self.owner, ">= 0 when scale='one_minus_log' (it samples 1-x on a log scale)",
                        self.low)
        if self.scale == "one_minus_log" and self.high >= 1.0:
            raise _fail("high", self.owner, "< 1 when scale='one_minus_log' (it samples 1-x on a log scale)",
                        self.high)
        if not math.isfinite(self.high - self.low):
            raise _fail("high - low", self.owner, "finite", self.high - self.low)
        if not self._to_t(self.low) < self._to_t(self.high):  # bounds one ulp apart vanish on a log scale
            raise _fail("high", self.owner, f"distinguishable from low on scale {self.scale!r}", self.high)

    def _validate_step(self) -> None:
        step = _checked(_validate.number, self.step, what="step", owner=self.owner, low=0, low_open=True,
                        none=True, hint=_number_hint(self.step))
        object.__setattr__(self, "step", step)
        if self.scale != "linear":
            raise _fail("step", self.owner, f"None when scale={self.scale!r} (a step grid is linear)", step)
        k = (self.high - self.low) / step
        if abs(k - round(k)) > _STEP_TOLERANCE:
            nearest = self._point(math.floor(k))
            raise _fail("high", self.owner, f"low + k*step (e.g. {nearest})", self.high)

    def _point(self, k: int) -> float:
        """`low + k*step` in decimal, so a step of 0.1 gives 0.3, not 0.30000000000000004."""
        assert self.step is not None
        x = float(Decimal(repr(self.low)) + k * Decimal(repr(self.step)))
        return min(max(x, self.low), self.high)

    def _to_t(self, x: float) -> float:
        if self.scale == "log":
            return math.log(x)
        if self.scale == "one_minus_log":
            return -math.log1p(-x)  # increasing in x, so u grows with x
        return x

    def _from_t(self, t: float) -> float:
        if self.scale == "log":
            return math.exp(t)
        if self.scale == "one_minus_log":
            return -math.expm1(-t)
        return t

    def encode(self, value: Any) -> float:
        lo, hi = self._to_t(self.low), self._to_t(self.high)
        return _clip_unit((self._to_t(float(value)) - lo) / (hi - lo))

    def decode(self, u: float) -> float:
        if self.step is not None:  # n equal cells of [0, 1]; a grid point encodes inside its own
            n = round((self.high - self.low) / self.step) + 1
            return self._point(min(int(_clip_unit(float(u)) * n), n - 1))
        lo, hi = self._to_t(self.low), self._to_t(self.high)
        x = self._from_t(lo + _clip_unit(float(u)) * (hi - lo))
        return min(max(x, self.low), self.high)

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return False
        if self.step is not None and self.low <= value <= self.high:
            k = (value - self.low) / self.step
            return abs(k - round(k)) <= _STEP_TOLERANCE
        return self.low <= value <= self.high

    def to_dict(self) -> dict[str, Any]:
        step = {"step": self.step} if self.step is not None else {}
        return {"type": "float", "low": self.low, "high": self.high, "scale": self.scale, **step,
                **self._dict_tail()}


@dataclass(frozen=True, repr=False)
class Int(_Base):
    """An integer in [low, high]: on a step grid, log-uniform (`log=True`), or powers of two.

    `scale="log"` is another spelling of `log=True` (as for `Float`); `scale="linear"` of the default.

    >>> Int(32, 512, power_of_two=True).decode(0.99)
    512
    """

    low: int
    high: int
    step: int = 1
    log: bool = False
    power_of_two: bool = False

    def __init__(
        self,
        low: int,
        high: int,
        step: int = 1,
        log: bool | None = None,
        *,
        scale: Literal["linear", "log"] | None = None,
        power_of_two: bool = False,
        name: str = "",
        when: Mapping[str, Sequence[ChoiceValue]] | Condition | None = None,
    ) -> None:
        object.__setattr__(self, "name", name)
        if scale is not None and scale not in ("linear", "log"):
            raise _fail("scale", self.owner, "one of 'linear', 'log'", scale)
        is_log = _resolve_log(self.owner, scale, log) == "log"
        for key, value in (("low", low), ("high", high), ("step", step),
                           ("log", is_log), ("power_of_two", power_of_two)):
            object.__setattr__(self, key, value)
        object.__setattr__(self, "when", _freeze_when(when, self.owner))
        self._validate()

    def _validate(self) -> None:
        for what in ("low", "high", "step"):
            v = getattr(self, what)
            if isinstance(v, float) and v.is_integer():
                v = int(v)  # YAML and JSON write 8.0 for 8
            object.__setattr__(self, what, _checked(_validate.integer, v, what=what, owner=self.owner,
                                                    low=1 if what == "step" else None,
                                                    hint=_number_hint(v)))
        if self.low >= self.high:
            raise _fail("low", self.owner, f"< high ({self.high!r})", self.low)
        if (self.high - self.low) % self.step:
            nearest = self.high - (self.high - self.low) % self.step
            raise _fail("high", self.owner, f"low + k*step (e.g. {nearest})", self.high)
        if (self.log or self.power_of_two) and self.low < 1:
            raise _fail("low", self.owner, ">= 1 when log=True or power_of_two=True", self.low)
        if (self.log or self.power_of_two) and self.step != 1:
            raise _fail("step", self.owner, "1 when log=True or power_of_two=True", self.step)
        if self.power_of_two:
            for what in ("low", "high"):
                v = getattr(self, what)
                if v & (v - 1):
                    raise _fail(what, self.owner, "a power of two when power_of_two=True", v)

    def _grid(self) -> tuple[int, int]:
        """(first, count) of the index grid: exponents for powers of two, else steps."""
        if self.power_of_two:
            first = self.low.bit_length() - 1
            return first, self.high.bit_length() - 1 - first + 1
        return 0, (self.high - self.low) // self.step + 1

    def encode(self, value: Any) -> float:
        if self.log:
            lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
            return _clip_unit((math.log(float(value)) - lo) / (hi - lo))
        first, n = self._grid()
        if self.power_of_two:
            index = int(value).bit_length() - 1 - first
        else:
            index = (int(value) - self.low) // self.step
        return (min(max(index, 0), n - 1) + 0.5) / n

    def decode(self, u: float) -> int:
        u = _clip_unit(float(u))
        if self.log:
            lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
            return min(max(round(math.exp(lo + u * (hi - lo))), self.low), self.high)
        first, n = self._grid()
        index = min(int(u * n), n - 1)
        return 1 << (first + index) if self.power_of_two else self.low + index * self.step

    def cell(self, u: float) -> tuple[float, float]:
        """The encoded interval [a, b] that decodes to the same integer as `u`.

        Lets a density over the encoded axis give an integer its probability mass rather than
        the density at one point (TPE's kernels on integers).

        >>> Int(1, 4).cell(0.3)
        (0.25, 0.5)
        """
        if self.log:
            lo, hi = math.log(self.low - 0.5), math.log(self.high + 0.5)
            v = self.decode(u)
            return ((math.log(v - 0.5) - lo) / (hi - lo), (math.log(v + 0.5) - lo) / (hi - lo))
        _, n = self._grid()
        index = min(int(_clip_unit(float(u)) * n), n - 1)
        return index / n, (index + 1) / n

    def contains(self, value: Any) -> bool:
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
            return False
        v = int(value)
        if not self.low <= v <= self.high:
            return False
        if self.power_of_two:
            return v & (v - 1) == 0
        return (v - self.low) % self.step == 0

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "int", "low": self.low, "high": self.high}
        if self.step != 1:
            out["step"] = self.step
        if self.log:
            out["log"] = True
        if self.power_of_two:
            out["power_of_two"] = True
        return {**out, **self._dict_tail()}


@dataclass(frozen=True, repr=False)
class Categorical(_Base):
    """One of a list of JSON-serialisable choices (None, bool, int, float or str).

    >>> Categorical(["relu", "tanh"]).decode(0.7)
    'tanh'
    """

    choices: tuple[ChoiceValue, ...]

    def __init__(
        self,
        choices: Sequence[ChoiceValue],
        *,
        name: str = "",
        when: Mapping[str, Sequence[ChoiceValue]] | Condition | None = None,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "when", _freeze_when(when, self.owner))
        if isinstance(choices, (str, bytes)) or not isinstance(choices, Sequence) or not choices:
            raise _fail("choices", self.owner, "a non-empty list", choices)
        for c in choices:
            if c is not None and not isinstance(c, (bool, int, float, str)):
                raise _fail("each choice", self.owner, "None, bool, int, float or str (JSON-serialisable)", c)
            if isinstance(c, float) and not math.isfinite(c):
                raise _fail("each choice", self.owner, "finite", c)
        for i, c in enumerate(choices):
            if any(_same_choice(c, d) for d in choices[:i]):
                raise _fail("choices", self.owner, "distinct", list(choices))
        object.__setattr__(self, "choices", tuple(choices))

    def index(self, value: Any) -> int:
        for i, c in enumerate(self.choices):
            if _same_choice(c, value):
                return i
        for i, c in enumerate(self.choices):  # an int given for a float choice (YAML writes 1 for 1.0)
            if isinstance(c, float) and isinstance(value, int) and not isinstance(value, bool) and c == value:
                return i
        raise SpaceError(f"value of {self.owner} must be one of {list(self.choices)!r}. Got {value!r}.")

    def encode(self, value: Any) -> float:
        return (self.index(value) + 0.5) / len(self.choices)

    def decode(self, u: float) -> ChoiceValue:
        return self.choices[min(int(_clip_unit(float(u)) * len(self.choices)), len(self.choices) - 1)]

    def contains(self, value: Any) -> bool:
        try:
            self.index(value)
        except SpaceError:
            return False
        return True

    def to_dict(self) -> dict[str, Any]:
        return {"type": "categorical", "choices": list(self.choices), **self._dict_tail()}


@dataclass(frozen=True, repr=False)
class Fixed(_Base):
    """A constant: recorded with every trial, never searched.

    >>> Fixed(10).decode(0.3)
    10
    """

    value: ChoiceValue

    def __init__(
        self,
        value: ChoiceValue,
        *,
        name: str = "",
        when: Mapping[str, Sequence[ChoiceValue]] | Condition | None = None,
    ) -> None:
        object.__setattr__(self, "name", name)
        object.__setattr__(self, "when", _freeze_when(when, self.owner))
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise _fail("value", self.owner, "JSON-serialisable", value) from None
        object.__setattr__(self, "value", value)

    def encode(self, value: Any) -> float:
        return 0.5

    def decode(self, u: float) -> ChoiceValue:
        return self.value

    def contains(self, value: Any) -> bool:
        if _same_choice(value, self.value):
            return True
        numbers = (int, float)
        return (isinstance(value, numbers) and isinstance(self.value, numbers)
                and not isinstance(value, bool) and not isinstance(self.value, bool) and value == self.value)

    def to_dict(self) -> dict[str, Any]:
        return {"type": "fixed", "value": self.value, **self._dict_tail()}


Param = Float | Int | Categorical | Fixed
_TYPES: dict[str, type[Float] | type[Int] | type[Categorical] | type[Fixed]] = {
    "float": Float, "int": Int, "categorical": Categorical, "fixed": Fixed,
}


def param_from_dict(data: Any, *, name: str = "") -> Param:
    """Build a parameter from its dict form; a list is shorthand for a categorical, a scalar for fixed.

    >>> param_from_dict({"type": "float", "low": 1e-4, "high": 1.0, "scale": "log"})
    Float(low=0.0001, high=1.0, scale='log')
    """
    owner = f"parameter {name!r}" if name else "parameter"
    if isinstance(data, (Float, Int, Categorical, Fixed)):
        return data
    if isinstance(data, list):
        return Categorical(data, name=name)
    if not isinstance(data, Mapping):
        return Fixed(data, name=name)
    kind = data.get("type")
    if kind not in _TYPES:
        raise SpaceError(f"type of {owner} must be one of {', '.join(map(repr, _TYPES))}. Got {kind!r}.")
    kwargs = {k: v for k, v in data.items() if k != "type"}
    try:
        return _TYPES[kind](name=name, **kwargs)
    except TypeError as err:
        allowed = {"float": "low, high, scale, log, step", "int": "low, high, step, log, scale, power_of_two",
                   "categorical": "choices", "fixed": "value"}[kind]
        raise SpaceError(
            f"keys of {owner} must be among: type, {allowed}, when. Got {sorted(kwargs)!r}.") from err
