"""YAML as people write it: `1e-4` is a number, although YAML 1.1 (PyYAML) reads it as text."""

from __future__ import annotations

import re
from typing import Any

import yaml

__all__ = ["YAMLLoader", "load_yaml"]

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
