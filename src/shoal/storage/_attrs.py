"""What an attribute may hold, decided in one place for every storage.

User and system attributes are stored as JSON by SQL storage. In-memory storage could keep any
Python object, so a set or an object once worked in memory and stopped the run on SQLite: every
storage now calls `plain_attrs` before writing, which accepts exactly what JSON can hold and
returns it in the form JSON gives back (tuples become lists, NumPy values become Python ones),
so the storages also agree on what is read back.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shoal._validate import config_error

__all__ = ["plain_attrs"]

_CONSTRAINT = "JSON: str, int, float, bool, None, or lists and str-keyed dicts of them"


def _hint(value: Any) -> str:
    if callable(getattr(value, "tolist", None)):
        return "Convert it first, e.g. value.tolist()."
    if isinstance(value, (set, frozenset)):
        return "Convert it first, e.g. sorted(value) or list(value)."
    return "Convert it first, e.g. str(value), or store its parts as a dict."


_SCALARS = frozenset({str, bool, int, float, type(None)})  # exactly these: kept as they are


def _key(key: Any, what: str, owner: str) -> str:
    if key is None or isinstance(key, (bool, int, float)):
        return json.dumps(key)  # as JSON turns a key into text: 1 -> "1", None -> "null"
    if isinstance(key, str):
        return str.__str__(key)
    raise config_error(f"key {key!r} in {what}", owner, "text", key, "Use str keys in stored dicts.")


def _plain(value: Any, what: str, owner: str) -> Any:
    # Scalars are copied without a call: curves and attributes are mostly numbers (a third of an
    # in-memory trial's time went to this walk before).
    kind = type(value)
    if kind in _SCALARS:
        return value  # NaN and inf too: SQL storage writes them as JSON's NaN and Infinity
    if isinstance(value, Mapping):
        out = {}
        for key, item in value.items():
            if type(key) is not str:
                key = _key(key, what, owner)
            out[key] = item if type(item) in _SCALARS else _plain(item, f"{what}[{key!r}]", owner)
        return out
    if isinstance(value, (list, tuple)):
        return [item if type(item) in _SCALARS else _plain(item, f"{what}[{i}]", owner)
                for i, item in enumerate(value)]
    tolist = getattr(value, "tolist", None)  # NumPy scalars (np.float64 is a float) and arrays
    if callable(tolist) and kind.__module__ == "numpy":
        return _plain(tolist(), what, owner)
    for base in (bool, int, float, str):  # an IntEnum, a str subclass: JSON keeps the plain value
        if isinstance(value, base):
            return base.__str__(value) if base is str else base(value)
    raise config_error(what, owner, _CONSTRAINT, value, _hint(value))


def plain_attrs(attrs: Mapping[str, Any] | None, *, kind: str, owner: str) -> dict[str, Any]:
    """Check that attributes can be stored, and return them as every storage stores them.

    Args:
        attrs: The attributes to write (None: none).
        kind: "user attribute" or "system attribute", for the message.
        owner: What they belong to, e.g. "trial 3" or "study 'mnist'".

    Raises:
        ConfigError: a value JSON cannot hold (a set, an object); the message names the key and
            how to convert it.

    >>> import numpy as np
    >>> plain_attrs({"curve": np.array([1.0, 2.5]), "pair": (1, 2)}, kind="user attribute",
    ...             owner="trial 0")
    {'curve': [1.0, 2.5], 'pair': [1, 2]}
    >>> plain_attrs({"tags": {"a"}}, kind="user attribute", owner="trial 0")
    Traceback (most recent call last):
    ...
    shoal.exceptions.ConfigError: user attribute 'tags' of trial 0 must be JSON: ... Got {'a'}. ...
    """
    if not attrs:
        return {}
    out = {}
    for key, value in attrs.items():
        if not isinstance(key, str):
            raise config_error(f"name of a {kind}", owner, "text", key)
        out[key] = _plain(value, f"{kind} {key!r}", owner)
    return out
