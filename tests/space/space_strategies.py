"""Hypothesis strategies for parameters and spaces (shared by the tests of this folder)."""

from __future__ import annotations

from typing import Any

from hypothesis import strategies as st

from shoal.space import Categorical, ChoiceValue, Fixed, Float, Int, Param, Space, param_from_dict

# Points of the unit interval, with its ends and the values just inside them.
units = st.one_of(st.floats(0.0, 1.0), st.sampled_from([0.0, 1.0, 0.5, 1e-300, 1 - 2**-53]))

names = st.text(min_size=1, max_size=12)

choice_values: st.SearchStrategy[ChoiceValue] = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**40), 2**40),
    st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=8))


def _choice_key(c: ChoiceValue) -> tuple[str, Any]:
    return (type(c).__name__, c)


@st.composite
def linear_floats(draw: st.DrawFn) -> Float:
    low, high = sorted(draw(st.lists(st.floats(-1e12, 1e12), min_size=2, max_size=2,
                                     unique=True)))
    return Float(low, high)


@st.composite
def log_floats(draw: st.DrawFn) -> Float:
    low = draw(st.floats(1e-12, 1e6))
    high = low * draw(st.floats(1.0 + 1e-6, 1e12))
    return Float(low, high, scale="log")


@st.composite
def one_minus_log_floats(draw: st.DrawFn) -> Float:
    low = draw(st.floats(0.0, 0.999))
    # Bounds closer than this are rejected as indistinguishable on the scale.
    high = draw(st.floats(low + 1e-9, 1.0 - 1e-12))
    return Float(low, high, scale="one_minus_log")


floats = st.one_of(linear_floats(), log_floats(), one_minus_log_floats())


@st.composite
def step_ints(draw: st.DrawFn) -> Int:
    low = draw(st.integers(-1000, 1000))
    step = draw(st.integers(1, 10))
    return Int(low, low + step * draw(st.integers(1, 200)), step=step)


@st.composite
def log_ints(draw: st.DrawFn) -> Int:
    low = draw(st.integers(1, 1000))
    return Int(low, draw(st.integers(low + 1, low * 1000 + 1)), log=True)


@st.composite
def power_of_two_ints(draw: st.DrawFn) -> Int:
    a = draw(st.integers(0, 30))
    return Int(2**a, 2 ** draw(st.integers(a + 1, 40)), power_of_two=True)


ints = st.one_of(step_ints(), log_ints(), power_of_two_ints())


@st.composite
def categoricals(draw: st.DrawFn, values: st.SearchStrategy[ChoiceValue] = choice_values
                 ) -> Categorical:
    choices = draw(st.lists(values, min_size=1, max_size=8, unique_by=_choice_key))
    return Categorical(choices)


fixeds = st.builds(Fixed, choice_values)

params: st.SearchStrategy[Param] = st.one_of(floats, ints, categoricals(), fixeds)


@st.composite
def spaces(draw: st.DrawFn) -> Space:
    """Unconditional spaces of up to five parameters of any kind."""
    return Space(draw(st.dictionaries(names, params, max_size=5)))


@st.composite
def conditional_spaces(draw: st.DrawFn) -> Space:
    """A categorical parent, children active for some of its values, and a grandchild or two."""
    parent_choices = draw(st.lists(choice_values, min_size=1, max_size=5, unique_by=_choice_key))
    out: dict[str, Param] = {"parent": Categorical(parent_choices)}
    for i in range(draw(st.integers(1, 4))):
        when = draw(st.lists(st.sampled_from(parent_choices), min_size=1, unique_by=_choice_key))
        kind = draw(st.sampled_from(["float", "int", "categorical"]))
        child: Param
        if kind == "float":
            child = draw(floats)
        elif kind == "int":
            child = draw(ints)
        else:
            child = draw(categoricals(st.sampled_from(["a", "b", "c", 1, None, True])))
        name = f"child{i}"
        out[name] = _with_when(child, {"parent": when})
        if isinstance(child, Categorical) and draw(st.booleans()):
            grand_when = draw(st.lists(st.sampled_from(child.choices), min_size=1,
                                       unique_by=_choice_key))
            out[f"grandchild{i}"] = _with_when(draw(floats), {name: grand_when})
    return Space(out)


def _with_when(param: Param, when: dict[str, list[ChoiceValue]]) -> Param:
    return param_from_dict({**param.to_dict(), "when": when})
