"""A Float with a step: values low + k*step, each equally likely, round-tripping like any parameter."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shoal.exceptions import ConfigError, SpaceError
from shoal.space import Float, Space, param_from_dict


@st.composite
def stepped_floats(draw: st.DrawFn) -> Float:
    """Grids as people write them: a decimal low and step, a whole number of steps."""
    low = draw(st.integers(-10_000, 10_000)) / 10 ** draw(st.integers(0, 4))
    step = draw(st.integers(1, 500)) / 10 ** draw(st.integers(0, 6))
    count = draw(st.integers(1, 2_000))
    high = float(f"{low + count * step:.12g}")
    return Float(low, high, step=step)


@settings(max_examples=200, deadline=None)
@given(stepped_floats(), st.floats(0.0, 1.0))
def test_decode_lands_on_the_grid_and_round_trips(param: Float, u: float) -> None:
    assert param.step is not None
    x = param.decode(u)
    assert param.low <= x <= param.high
    k = (x - param.low) / param.step
    assert math.isclose(k, round(k), abs_tol=1e-6)
    assert param.contains(x)
    assert param.decode(param.encode(x)) == x
    assert 0.0 <= param.encode(x) <= 1.0
    assert param_from_dict(param.to_dict()) == param


def test_every_point_is_equally_likely_and_printed_as_written() -> None:
    param = Float(0.0, 1.0, step=0.1)
    counts = Counter(param.decode(u) for u in np.random.default_rng(0).random(11_000))
    assert sorted(counts) == [0.0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1.0]
    assert all(900 < n < 1100 for n in counts.values())
    assert param.contains(0.1 + 0.2)  # 0.30000000000000004 is the grid point 0.3
    assert not param.contains(0.35)
    assert not param.contains(1.1)


def test_the_step_is_part_of_the_dict_form_and_of_equality() -> None:
    param = Float(0.5, 2.0, step=0.5, name="x")
    assert param.to_dict() == {"type": "float", "low": 0.5, "high": 2.0, "scale": "linear", "step": 0.5}
    assert Float(0.5, 2.0).to_dict() == {"type": "float", "low": 0.5, "high": 2.0, "scale": "linear"}
    assert param != Float(0.5, 2.0, name="x")
    assert param.distribution() != Float(0.5, 2.0).distribution()
    assert Space({"x": {"type": "float", "low": 0.5, "high": 2.0, "step": 0.5}})["x"] == param
    assert repr(param) == "Float(low=0.5, high=2.0, scale='linear', step=0.5)"


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"low": 1e-3, "high": 1.0, "scale": "log", "step": 0.1},
     "step of Float 'x' must be None when scale='log' (a step grid is linear). Got 0.1."),
    ({"low": 0.0, "high": 1.0, "step": 0.3},
     "high of Float 'x' must be low + k*step (e.g. 0.9). Got 1.0."),
    ({"low": 0.0, "high": 1.0, "step": 0.0},
     "step of Float 'x' must be a finite number > 0 or None. Got 0.0."),
    ({"low": 0.0, "high": 1.0, "step": True},
     "step of Float 'x' must be a finite number > 0 or None. Got True."),
    ({"low": 0.0, "high": 1.0, "step": math.nan},
     "step of Float 'x' must be a finite number > 0 or None. Got nan."),
])
def test_bad_steps_say_what_they_must_be(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(SpaceError) as info:
        Float(name="x", **kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message
    assert isinstance(info.value, ConfigError)
