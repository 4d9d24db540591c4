"""`shoal delete` and `shoal enqueue`."""

from __future__ import annotations

import io
import json
from collections.abc import Callable

import pytest

import shoal
from shoal import TrialState
from shoal.cli._manage import parse_assignments
from shoal.cli._output import CommandError

Run = Callable[..., tuple[int, str, str]]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_delete_refuses_without_yes_when_stdin_is_not_a_terminal(run: Run, url: str, mlp: shoal.Study,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", io.StringIO("y\n"))
    code, _, err = run("delete", "mlp", "--storage", url)
    assert code == 1
    assert err.splitlines()[0].startswith("Error: refusing to delete study 'mlp' (5 trials")
    assert "--yes" in err
    assert [s.name for s in shoal.list_studies(storage=url)] == ["mlp"]


def test_delete_asks_on_a_terminal(run: Run, url: str, mlp: shoal.Study,
                                   monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("sys.stdin", _Terminal("n\n"))
    code, out, err = run("delete", "mlp", "--storage", url)
    assert code == 1
    assert f"Delete study 'mlp' and its 5 trials from {url}? [y/N]" in out
    assert "Nothing deleted" in err
    assert len(shoal.list_studies(storage=url)) == 1

    monkeypatch.setattr("sys.stdin", _Terminal("y\n"))
    code, out, _ = run("delete", "mlp", "--storage", url)
    assert code == 0
    assert shoal.list_studies(storage=url) == []


def test_delete_with_yes(run: Run, url: str, mlp: shoal.Study) -> None:
    code, out, _ = run("delete", "mlp", "--yes", "--storage", url)
    assert code == 0
    assert "Deleted study 'mlp' and its 5 trials" in out
    assert shoal.list_studies(storage=url) == []


def test_enqueue_parses_yaml_scalars() -> None:
    assert parse_assignments(["lr=0.01", "act=relu", "bn=true", "units=128", "wd=1e-4", "x=null",
                              "name='128'"]) == {
        "lr": 0.01, "act": "relu", "bn": True, "units": 128, "wd": 1e-4, "x": None, "name": "128"}
    for bad in (["lr"], ["=1"], ["lr=1", "lr=2"], ["lr="], ["lr=[1, 2]"], ["lr={a: 1}"], ["lr=[1"]):
        with pytest.raises(CommandError):
            parse_assignments(bad)


def test_enqueue_validates_against_the_declared_space(run: Run, url: str, mlp: shoal.Study) -> None:
    code, out, err = run("enqueue", "mlp", "lr=1e-2", "units=64", "act=tanh", "--storage", url)
    assert code == 0, err
    assert "Enqueued trial 5" in out
    waiting = shoal.load_study("mlp", storage=url).trials[5]
    assert waiting.state is TrialState.WAITING
    assert dict(waiting.params) == {"lr": 0.01, "units": 64, "act": "tanh"}

    code, out, _ = run("enqueue", "mlp", "lr=1", "--storage", url, "--json")  # an int for a float
    assert json.loads(out) == {"study": "mlp", "number": 6, "params": {"lr": 1.0}}

    n_before = len(shoal.load_study("mlp", storage=url).trials)
    for bad, message in ((["lr=5"], "value of enqueued parameter 'lr' must lie in"),
                         (["act=gelu"], "value of enqueued parameter 'act' must lie in"),
                         (["depth=3"], "parameter 'depth' of the enqueued configuration must be one of"),
                         (["units=relu"], "value of enqueued parameter 'units'"),
                         (["lr"], "each parameter must be written key=value")):
        code, out, err = run("enqueue", "mlp", *bad, "--storage", url)
        assert code == 1, bad
        assert err.startswith("Error: "), bad
        assert message in err, (bad, err)
        assert "Traceback" not in err
    assert len(shoal.load_study("mlp", storage=url).trials) == n_before  # nothing was queued


def test_enqueue_without_a_declared_space_accepts_anything(run: Run, url: str) -> None:
    shoal.create_study("free", storage=url)
    code, out, _ = run("enqueue", "free", "x=3", "opt=adam", "--storage", url)
    assert code == 0
    assert "Enqueued trial 0" in out
    assert dict(shoal.load_study("free", storage=url).trials[0].params) == {"x": 3, "opt": "adam"}
