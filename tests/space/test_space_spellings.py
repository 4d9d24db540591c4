"""Both spellings of a log scale, numbers written `1e-4` in YAML, and spaces read from files."""

from __future__ import annotations

from pathlib import Path

import pytest

from shoal.exceptions import SpaceError
from shoal.space import Float, Int, Space, param_from_dict


def test_int_takes_scale_log_and_float_takes_log_true() -> None:
    assert Int(1, 64, scale="log") == Int(1, 64, log=True)
    assert Int(1, 64, scale="linear") == Int(1, 64)
    assert Float(1e-4, 1.0, log=True) == Float(1e-4, 1.0, scale="log")
    assert Float(1e-4, 1.0, log=False) == Float(1e-4, 1.0)
    assert Float(0.9, 0.99, scale="one_minus_log", log=False).scale == "one_minus_log"
    assert Int(1, 64, scale="log", log=True).log
    assert Float(1e-4, 1.0, scale="log", log=True).scale == "log"


def test_both_keys_in_dict_spaces_round_trip() -> None:
    space = Space({"units": {"type": "int", "low": 8, "high": 256, "scale": "log"},
                   "lr": {"type": "float", "low": 1e-4, "high": 1.0, "log": True}})
    assert space["units"] == Int(8, 256, log=True, name="units")
    assert space["lr"] == Float(1e-4, 1.0, scale="log", name="lr")
    assert Space.from_dict(space.to_dict()) == space


@pytest.mark.parametrize(("make", "message"), [
    (lambda: Float(1e-4, 1.0, scale="linear", log=True, name="lr"),
     "log of Float 'lr' must agree with scale='linear'. Got True."),
    (lambda: Float(1e-4, 1.0, scale="one_minus_log", log=True, name="lr"),
     "log of Float 'lr' must agree with scale='one_minus_log'. Got True."),
    (lambda: Int(1, 8, scale="linear", log=True, name="n"),
     "log of Int 'n' must agree with scale='linear'. Got True."),
    (lambda: param_from_dict({"type": "int", "low": 1, "high": 8, "log": False, "scale": "log"}, name="n"),
     "log of Int 'n' must agree with scale='log'. Got False."),
    (lambda: Int(1, 8, scale="one_minus_log", name="n"),  # type: ignore[arg-type]
     "scale of Int 'n' must be one of 'linear', 'log'. Got 'one_minus_log'."),
    (lambda: param_from_dict({"type": "float", "low": 0.1, "high": 1, "log": "yes"}, name="x"),
     "log of Float 'x' must be true or false. Got 'yes'."),
])
def test_contradicting_spellings_are_one_line_errors(make: object, message: str) -> None:
    with pytest.raises(SpaceError) as info:
        make()  # type: ignore[operator]
    assert str(info.value).startswith(message)
    assert "\n" not in str(info.value)


def test_yaml_reads_1e_minus_4_as_a_number() -> None:
    space = Space.from_yaml("lr: {type: float, low: 1e-4, high: 1E0, scale: log}\n"
                            "wd: {type: float, low: 1e-6, high: 1e-2}\n")
    assert space["lr"] == Float(1e-4, 1.0, scale="log", name="lr")
    assert space["wd"] == Float(1e-6, 1e-2, name="wd")
    assert Space.from_yaml("act: [relu, tanh]\nname: abc\n").to_dict()["name"] == {
        "type": "fixed", "value": "abc"}  # text stays text


def test_a_number_given_as_text_says_to_write_a_number() -> None:
    with pytest.raises(SpaceError, match=r"^low of Float 'lr' must be a finite number\. Got '1e-4'\. "
                                         r"Write it as a number"):
        Space({"lr": {"type": "float", "low": "1e-4", "high": 1.0}})
    with pytest.raises(SpaceError, match=r"^high of Int 'n' must be an integer\. Got '8'\. Write it"):
        Int(1, "8", name="n")  # type: ignore[arg-type]


def test_from_yaml_takes_a_path_or_text(tmp_path: Path) -> None:
    text = "lr: {type: float, low: 1.0e-4, high: 1.0, scale: log}\nact: [relu, tanh]\n"
    path = tmp_path / "space.yaml"
    path.write_text(text, encoding="utf-8")
    expected = Space.from_yaml(text)
    assert Space.from_yaml(path) == expected
    assert Space.from_yaml(str(path)) == expected
    with pytest.raises(SpaceError, match=r"^space file '.*missing\.yaml' must exist\."):
        Space.from_yaml(str(tmp_path / "missing.yaml"))
    with pytest.raises(SpaceError, match=r"^space file '.*missing\.yml' must be a readable file\."):
        Space.from_yaml(tmp_path / "missing.yml")


def test_from_yaml_on_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("act: [caf\xe9]\n".encode("latin-1"))
    with pytest.raises(SpaceError, match=r"^space file '.*latin1\.yaml' must be UTF-8 text\."):
        Space.from_yaml(path)
