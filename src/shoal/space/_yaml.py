"""YAML as people write it: `1e-4` is a number, although YAML 1.1 (PyYAML) reads it as text."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml

from shoal.exceptions import SpaceError

__all__ = ["YAMLLoader", "load_space_yaml", "load_yaml", "read_source"]

# PyYAML's float pattern (YAML 1.1) needs a dot in the mantissa and a sign in the exponent, so
# `1e-4` and `1E5` stay strings; this one (as in YAML 1.2) also takes those, and the specials.
_FLOAT = re.compile(r"""^(?:[-+]?(?:[0-9][0-9_]*)\.[0-9_]*(?:[eE][-+]?[0-9]+)?
                    |[-+]?(?:[0-9][0-9_]*)(?:[eE][-+]?[0-9]+)
                    |\.[0-9_]+(?:[eE][-+]?[0-9]+)?
                    |[-+]?\.(?:inf|Inf|INF)
                    |\.(?:nan|NaN|NAN))$""", re.X)


class YAMLLoader(yaml.SafeLoader):
    """PyYAML's safe loader, with a float resolver that reads `1e-4` as the number 0.0001.

    >>> yaml.load("low: 1e-4", Loader=YAMLLoader)
    {'low': 0.0001}
    """


# Copy the resolvers so the change stays on this class, not on yaml.SafeLoader itself.
YAMLLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:float"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()}
YAMLLoader.add_implicit_resolver("tag:yaml.org,2002:float", _FLOAT, list("-+0123456789."))


def load_yaml(text: str) -> Any:
    """Parse YAML text with `YAMLLoader`; raises `yaml.YAMLError` as `yaml.safe_load` does.

    >>> load_yaml("lr: {low: 1e-4, high: 1E0}")
    {'lr': {'low': 0.0001, 'high': 1.0}}
    """
    return yaml.load(text, Loader=YAMLLoader)  # YAMLLoader is a SafeLoader: no arbitrary objects


def load_space_yaml(source: str | os.PathLike[str]) -> Any:
    """The parsed YAML of `Space.from_yaml(source)` (text, or a file: see `read_source`).

    Raises:
        SpaceError: the file cannot be read, or its text is not valid YAML.
    """
    try:
        return load_yaml(read_source(source))
    except yaml.YAMLError as err:
        raise SpaceError(f"space YAML must be valid YAML. Got a parse error: {err}") from None


def read_source(source: str | os.PathLike[str]) -> str:
    """The YAML text of `Space.from_yaml(source)`: read from a file, or `source` itself.

    A path object is always a file; a string is a file when it is one line naming an existing
    file (a one-line string ending in .yaml or .yml that names nothing is an error, not YAML).

    Raises:
        SpaceError: the file does not exist, cannot be read, or is not UTF-8 text.
    """
    path = _yaml_path(source)
    if path is None:
        return str(source)
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise SpaceError(f"space file {str(path)!r} must be UTF-8 text. Got bytes that are not: "
                         "save it as UTF-8.") from None
    except OSError as err:
        raise SpaceError(f"space file {str(path)!r} must be a readable file. Got: "
                         f"{err.strerror or err}.") from None


def _yaml_path(source: str | os.PathLike[str]) -> Path | None:
    """The file `from_yaml` should read, or None when `source` is YAML text."""
    if not isinstance(source, str):
        return Path(os.fspath(source))
    if "\n" in source or not source.strip():
        return None
    path = Path(source.strip())
    if path.is_file():
        return path
    if path.suffix.lower() in (".yaml", ".yml") and ":" not in source:
        raise SpaceError(f"space file {source!r} must exist. Got a path to nothing: check the name, "
                         "or pass the YAML text itself.")
    return None
