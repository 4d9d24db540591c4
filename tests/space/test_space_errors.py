"""Errors name what is wrong, whose it is, what it must be, and what was given."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest

from shoal.exceptions import ConfigError, SpaceError
from shoal.space import Categorical, Fixed, Float, Int, Space

# "{what} of {owner} must be {constraint}. Got {value!r}."
SHAPE = re.compile(r"^\S.* of .+ must be .+\. Got .+\.$")

CASES: list[tuple[str, Callable[[], Any], str]] = [
    ("low_not_below_high", lambda: Float(1.0, 1.0, name="lr"),
     "low of Float 'lr' must be < high (1.0). Got 1.0."),
    ("low_above_high_unnamed", lambda: Float(2, 1),
     "low of Float must be < high (1.0). Got 2.0."),
    ("log_low_zero", lambda: Float(0.0, 1.0, scale="log", name="lr"),
     "low of Float 'lr' must be > 0 when scale='log'. Got 0.0."),
    ("log_low_negative", lambda: Float(-1.0, 1.0, scale="log", name="lr"),
     "low of Float 'lr' must be > 0 when scale='log'. Got -1.0."),
    ("unknown_scale", lambda: Float(0, 1, scale="sqrt", name="x"),  # type: ignore[arg-type]
     "scale of Float 'x' must be one of 'linear', 'log', 'one_minus_log'. Got 'sqrt'."),
    ("nan_bound", lambda: Float(float("nan"), 1, name="x"),
     "low of Float 'x' must be a finite number. Got nan."),
    ("int_low_not_below_high", lambda: Int(5, 5, name="n"),
     "low of Int 'n' must be < high (5). Got 5."),
    ("int_log_low_zero", lambda: Int(0, 10, log=True, name="n"),
     "low of Int 'n' must be >= 1 when log=True or power_of_two=True. Got 0."),
    ("int_off_step", lambda: Int(0, 10, step=3, name="n"),
     "high of Int 'n' must be low + k*step (e.g. 9). Got 10."),
    ("int_not_power_of_two", lambda: Int(3, 64, power_of_two=True, name="b"),
     "low of Int 'b' must be a power of two when power_of_two=True. Got 3."),
    ("int_fractional", lambda: Int(0.5, 10, name="n"),  # type: ignore[arg-type]
     "low of Int 'n' must be an integer. Got 0.5."),
    ("no_choices", lambda: Categorical([], name="act"),
     "choices of Categorical 'act' must be a non-empty list. Got []."),
    ("string_choices", lambda: Categorical("relu", name="act"),
     "choices of Categorical 'act' must be a non-empty list. Got 'relu'."),
    ("repeated_choices", lambda: Categorical(["relu", "relu"], name="act"),
     "choices of Categorical 'act' must be distinct. Got ['relu', 'relu']."),
    ("infinite_choice", lambda: Categorical([float("inf")], name="act"),
     "each choice of Categorical 'act' must be finite. Got inf."),
    ("unserialisable_choice", lambda: Categorical([[1]], name="act"),  # type: ignore[list-item]
     "each choice of Categorical 'act' must be None, bool, int, float or str "
     "(JSON-serialisable). Got [1]."),
    ("unserialisable_fixed", lambda: Fixed({1, 2}, name="f"),  # type: ignore[arg-type]
     "value of Fixed 'f' must be JSON-serialisable. Got {1, 2}."),
    ("empty_when", lambda: Float(0.9, 0.99, name="m", when={"opt": []}),
     "when['opt'] of Float 'm' must be a non-empty list of parent values. Got []."),
    ("dict_form_log_low_zero",
     lambda: Space({"lr": {"type": "float", "low": 0, "high": 1, "scale": "log"}}),
     "low of Float 'lr' must be > 0 when scale='log'. Got 0.0."),
    ("unknown_type", lambda: Space({"lr": {"type": "double", "low": 0, "high": 1}}),
     "type of parameter 'lr' must be one of 'float', 'int', 'categorical', 'fixed'. "
     "Got 'double'."),
]


@pytest.mark.parametrize(("make", "message"), [(m, msg) for _, m, msg in CASES],
                         ids=[name for name, _, _ in CASES])
def test_message(make: Callable[[], Any], message: str) -> None:
    with pytest.raises(SpaceError) as info:
        make()
    assert str(info.value) == message
    assert SHAPE.match(message)
    assert isinstance(info.value, ConfigError)
    assert isinstance(info.value, ValueError)


def test_one_minus_log_outside_the_unit_interval() -> None:
    with pytest.raises(SpaceError) as info:
        Float(0.5, 1.0, scale="one_minus_log", name="momentum")
    assert str(info.value) == (
        "high of Float 'momentum' must be < 1 when scale='one_minus_log' "
        "(it samples 1-x on a log scale). Got 1.0.")
    assert SHAPE.match(str(info.value))
    with pytest.raises(SpaceError, match=re.escape("low of Float must be >= 0 when")):
        Float(-0.1, 0.5, scale="one_minus_log")


def test_values_of_inactive_parameters_are_rejected() -> None:
    space = Space({"opt": ["sgd", "adam"], "m": Float(0.0, 1.0, when={"opt": ["sgd"]})})
    space.validate({"opt": "sgd", "m": 0.5})
    with pytest.raises(SpaceError) as info:
        space.validate({"opt": "adam", "m": 0.5})
    assert str(info.value) == ("value of Float 'm' must be left out: its condition "
                               "when={'opt': ['sgd']} does not hold. Got 0.5.")


def test_when_naming_a_missing_parent() -> None:
    with pytest.raises(SpaceError) as info:
        Space({"momentum": Float(0.9, 0.99, when={"optimizer": ["sgd"]})})
    assert str(info.value) == (
        "when of Float 'momentum' must name parameters of the space. Got 'optimizer'.")


def test_when_naming_a_value_the_parent_cannot_take() -> None:
    with pytest.raises(SpaceError) as info:
        Space({"opt": ["sgd"], "momentum": Float(0.9, 0.99, when={"opt": ["adam"]})})
    assert str(info.value) == ("when['opt'] of Float 'momentum' must list values that "
                               "Categorical 'opt' can take. Got 'adam'.")


def test_conditions_must_not_form_a_cycle() -> None:
    with pytest.raises(SpaceError, match="conditions of parameter 'a' must not form a cycle"):
        Space({"a": Categorical([1], when={"b": [1]}), "b": Categorical([1], when={"a": [1]})})


def test_invalid_yaml() -> None:
    with pytest.raises(SpaceError, match=r"^space YAML must be valid YAML\. Got a parse error"):
        Space.from_yaml("lr: [1, 2")
