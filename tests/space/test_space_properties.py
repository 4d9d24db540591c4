"""Properties of spaces: serialisation round trips, and conditions deciding what is sampled."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from space_strategies import conditional_spaces, params, spaces

from shoal.space import Param, Space, param_from_dict

PROPERTY = settings(max_examples=100, deadline=None)


@PROPERTY
@given(params)
def test_param_dict_round_trip(param: Param) -> None:
    assert param_from_dict(param.to_dict()) == param


@PROPERTY
@given(st.one_of(spaces(), conditional_spaces()))
def test_space_dict_round_trip(space: Space) -> None:
    again = Space.from_dict(space.to_dict())
    assert again == space
    assert list(again) == list(space)
    assert again.to_dict() == space.to_dict()


@PROPERTY
@given(st.one_of(spaces(), conditional_spaces()))
def test_space_yaml_round_trip(space: Space) -> None:
    again = Space.from_yaml(space.to_yaml())
    assert again == space
    for name, param in space.items():  # types survive too: True stays a bool, 1.0 a float
        assert repr(again[name].to_dict()) == repr(param.to_dict())


@PROPERTY
@given(st.one_of(spaces(), conditional_spaces()), st.integers(0, 2**32 - 1))
def test_samples_are_valid(space: Space, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(5):
        config = space.sample(rng)
        space.validate(config)
        assert list(config) == space.active_names(config)


@PROPERTY
@given(conditional_spaces(), st.integers(0, 2**32 - 1))
def test_conditional_spaces_sample_only_active_parameters(space: Space, seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(10):
        config = space.sample(rng)
        space.validate(config)
        assert "parent" in config
        for name, param in space.items():
            if not param.when:
                assert name in config
                continue
            ((parent, allowed),) = param.when
            expected = parent in config and any(
                type(config[parent]) is type(v) and config[parent] == v for v in allowed)
            assert (name in config) == expected, (name, config)


@PROPERTY
@given(conditional_spaces(), st.data())
def test_decode_of_any_point_is_a_valid_configuration(space: Space, data: st.DataObject) -> None:
    u = data.draw(st.lists(st.floats(0.0, 1.0), min_size=len(space), max_size=len(space)))
    config = space.decode(np.array(u))
    space.validate(config)
    encoded = space.encode(config)
    assert np.all(np.isnan(encoded) == [name not in config for name in space])
    assert np.all((encoded[~np.isnan(encoded)] >= 0) & (encoded[~np.isnan(encoded)] <= 1))
    again = space.decode(encoded)
    assert list(again) == list(config)
    for name, value in config.items():
        if isinstance(value, float):  # a float may move by rounding, never further
            assert again[name] == pytest.approx(value, rel=1e-9, abs=1e-12)
        else:
            assert type(again[name]) is type(value)
            assert again[name] == value
