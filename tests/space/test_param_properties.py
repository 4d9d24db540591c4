"""Properties of the unit-cube encoding of every parameter kind, for random parameters."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from space_strategies import categoricals, fixeds, floats, ints, units

from shoal.exceptions import SpaceError
from shoal.space import Categorical, Fixed, Float, Int

PROPERTY = settings(max_examples=100, deadline=None)


def _close(param: Float, a: float, b: float) -> bool:
    """Equal up to rounding: a few ulps of the bounds, or a hair of the encoded position."""
    slack = 4 * math.ulp(max(abs(param.low), abs(param.high)))
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=slack + 1e-12 * (param.high - param.low))


def _encoded_slack(param: Float) -> float:
    """How far rounding can move an encoded value: the scale's sensitivity to one ulp."""
    def t(x: float) -> float:
        if param.scale == "log":
            return math.log(x)
        return -math.log1p(-x) if param.scale == "one_minus_log" else x
    slope = 1.0  # of t(x), at its steepest bound
    if param.scale == "log":
        slope = 1.0 / param.low
    elif param.scale == "one_minus_log":
        slope = 1.0 / (1.0 - param.high)
    lo, hi = t(param.low), t(param.high)
    ulp_x = math.ulp(max(abs(param.low), abs(param.high)))
    error = math.ulp(max(abs(lo), abs(hi))) + ulp_x * slope
    return 1e-9 + 16 * error / (hi - lo)


@PROPERTY
@given(floats, units)
def test_float_decode_is_in_bounds_and_round_trips(param: Float, u: float) -> None:
    x = param.decode(u)
    assert type(x) is float
    assert param.low <= x <= param.high
    assert param.contains(x)
    e = param.encode(x)
    assert 0.0 <= e <= 1.0
    assert _close(param, param.decode(e), x)
    assert math.isclose(param.encode(param.decode(e)), e, abs_tol=_encoded_slack(param))


@PROPERTY
@given(floats, st.data())
def test_float_encode_is_in_the_unit_interval(param: Float, data: st.DataObject) -> None:
    x = data.draw(st.floats(param.low, param.high))
    assert 0.0 <= param.encode(x) <= 1.0


@PROPERTY
@given(floats, units, units)
def test_float_decode_is_monotonic(param: Float, u: float, v: float) -> None:
    lo, hi = sorted((u, v))
    assert param.decode(lo) <= param.decode(hi)


@PROPERTY
@given(ints, units)
def test_int_decode_is_on_the_grid_and_round_trips(param: Int, u: float) -> None:
    x = param.decode(u)
    assert type(x) is int
    assert param.low <= x <= param.high
    if param.power_of_two:
        assert x & (x - 1) == 0
    else:
        assert (x - param.low) % param.step == 0
    e = param.encode(x)
    assert 0.0 <= e <= 1.0
    assert param.decode(e) == x


@PROPERTY
@given(ints, st.data())
def test_int_encode_of_every_value_is_in_the_unit_interval(param: Int, data: st.DataObject) -> None:
    if param.power_of_two:
        x = 2 ** data.draw(st.integers(param.low.bit_length() - 1, param.high.bit_length() - 1))
    else:
        x = param.low + param.step * data.draw(st.integers(0, (param.high - param.low) // param.step))
    assert 0.0 <= param.encode(x) <= 1.0
    assert param.decode(param.encode(x)) == x


@PROPERTY
@given(ints, units)
def test_int_cell_holds_u_and_decodes_to_its_integer_throughout(param: Int, u: float) -> None:
    a, b = param.cell(u)
    assert 0.0 <= a < b <= 1.0 + 1e-12
    assert a - 1e-12 <= min(max(u, 0.0), 1.0) <= b + 1e-12
    x = param.decode(u)
    inside = [a + (b - a) * t for t in (1e-6, 0.25, 0.5, 0.75, 1 - 1e-6)]
    assert all(param.decode(v) == x for v in inside)
    assert a <= param.encode(x) <= b


@PROPERTY
@given(categoricals(), units)
def test_categorical_decode_is_a_choice_and_round_trips(param: Categorical, u: float) -> None:
    x = param.decode(u)
    assert any(type(x) is type(c) and x == c for c in param.choices)
    e = param.encode(x)
    assert 0.0 <= e <= 1.0
    back = param.decode(e)
    assert type(back) is type(x)
    assert back == x


@PROPERTY
@given(categoricals())
def test_every_choice_is_reached(param: Categorical) -> None:
    n = len(param.choices)
    assert [param.decode((i + 0.5) / n) for i in range(n)] == list(param.choices)


@PROPERTY
@given(fixeds, units)
def test_fixed_decodes_to_its_value(param: Fixed, u: float) -> None:
    assert param.decode(u) == param.value
    assert 0.0 <= param.encode(param.value) <= 1.0


def test_categorical_tells_an_int_from_an_equal_float() -> None:
    param = Categorical([1.0, 1])
    assert type(param.decode(param.encode(1))) is int
    assert type(param.decode(param.encode(1.0))) is float


def test_float_bounds_that_collapse_on_their_scale_are_rejected() -> None:
    with pytest.raises(SpaceError, match=r"^high of Float must be distinguishable from low on scale"):
        Float(0.4140625, math.nextafter(0.4140625, 1.0), scale="one_minus_log")


def test_float_range_that_overflows_is_rejected() -> None:
    with pytest.raises(SpaceError, match=r"^high - low of Float must be finite\. Got inf\.$"):
        Float(-1e308, 1e308)


def test_fixed_tells_bool_from_int() -> None:
    assert not Fixed(1).contains(True)
    assert not Fixed(True).contains(1)
    assert Fixed(1).contains(1.0)
