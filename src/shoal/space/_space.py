"""A named set of parameters with conditions, encodable to the unit hypercube."""

from __future__ import annotations

import math
import os
from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING, Any

from shoal.exceptions import SpaceError
from shoal.space._params import Categorical, Param, param_from_dict

if TYPE_CHECKING:  # numpy and yaml load where used, so `import shoal` stays light
    import numpy as np

__all__ = ["Space"]


class Space(Mapping[str, Param]):
    """Named parameters, some active only when a parent takes given values.

    Parameters are kept in dependency order (parents before children), so walking the space in
    order decides each condition before it is needed.

    >>> from shoal.space import Categorical, Float
    >>> space = Space({
    ...     "optimizer": Categorical(["sgd", "adam"]),
    ...     "momentum": Float(0.9, 0.999, scale="one_minus_log", when={"optimizer": ["sgd"]}),
    ... })
    >>> space.active_names({"optimizer": "adam"})
    ['optimizer']
    >>> Space.from_dict(space.to_dict()) == space
    True
    """

    def __init__(self, params: Mapping[str, Any] | None = None) -> None:
        raw: dict[str, Param] = {}
        for name, spec in (params or {}).items():
            if not isinstance(name, str) or not name:
                raise SpaceError(f"each parameter name of Space must be a non-empty string. Got {name!r}.")
            param = param_from_dict(spec, name=name)
            if param.name != name:
                param = param_from_dict({**param.to_dict()}, name=name)
            raw[name] = param
        self._params = _dependency_order(raw)

    # Mapping protocol -------------------------------------------------------------------------
    def __getitem__(self, name: str) -> Param:
        return self._params[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._params)

    def __len__(self) -> int:
        return len(self._params)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Space) and self.to_dict() == other.to_dict()

    def __hash__(self) -> int:
        return hash(repr(self.to_dict()))

    def __repr__(self) -> str:
        return f"Space({dict(self._params)!r})"

    # Conditions -------------------------------------------------------------------------------
    def is_active(self, name: str, params: Mapping[str, Any]) -> bool:
        """Whether `name` is active given the values of its parents in `params`."""
        for parent, allowed in self._params[name].when:
            if parent not in params or not self.is_active(parent, params):
                return False
            if not self._is_among(parent, params[parent], allowed):
                return False
        return True

    def _is_among(self, parent: str, value: Any, allowed: tuple[Any, ...]) -> bool:
        param = self._params[parent]
        if isinstance(param, Categorical):  # compare choices, so 1 and 1.0 stay distinct choices
            return param.contains(value) and param.index(value) in {param.index(v) for v in allowed}
        return any(_equal(value, v) for v in allowed)

    def active_names(self, params: Mapping[str, Any]) -> list[str]:
        return [name for name in self._params if self.is_active(name, params)]

    @property
    def is_conditional(self) -> bool:
        return any(p.when for p in self._params.values())

    # Unit-cube encoding -------------------------------------------------------------------------
    def encode(self, params: Mapping[str, Any]) -> np.ndarray:
        """Map a configuration to [0, 1]^d in space order; inactive or missing parameters are NaN."""
        import numpy as np

        out = np.full(len(self._params), np.nan)
        for i, (name, param) in enumerate(self._params.items()):
            if name in params and self.is_active(name, params):
                out[i] = param.encode(params[name])
        return out

    def decode(self, u: np.ndarray | list[float]) -> dict[str, Any]:
        """Map a point of [0, 1]^d back to a configuration, keeping only the active parameters."""
        import numpy as np

        values = np.asarray(u, dtype=float)
        if values.shape != (len(self._params),):
            raise SpaceError(f"point of Space must have shape ({len(self._params)},). Got {values.shape}.")
        out: dict[str, Any] = {}
        for x, (name, param) in zip(values, self._params.items(), strict=True):
            if self.is_active(name, out):
                out[name] = param.decode(0.5 if math.isnan(x) else float(x))
        return out

    def sample(self, rng: np.random.Generator) -> dict[str, Any]:
        """Draw a configuration uniformly in encoded space (so log and 1-x scales are respected)."""
        return self.decode(rng.random(len(self._params)))

    def validate(self, params: Mapping[str, Any]) -> None:
        """Raise SpaceError unless `params` is a valid configuration of this space."""
        for name in params:
            if name not in self._params:
                raise SpaceError(f"each parameter name must be one of the space's {list(self._params)!r}. "
                                 f"Got {name!r}.")
        for name, param in self._params.items():
            active = self.is_active(name, params)
            if not active and name in params:
                raise SpaceError(f"value of {param.owner} must be left out: its condition "
                                 f"when={param.when_dict()!r} does not hold. Got {params[name]!r}.")
            if active and name not in params:
                raise SpaceError(f"value of {param.owner} must be given: it is active here. Got nothing.")
            if active and not param.contains(params[name]):
                raise SpaceError(f"value of {param.owner} must lie in {param.distribution()!r}. "
                                 f"Got {params[name]!r}.")

    # Serialisation ------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, dict[str, Any]]:
        return {name: param.to_dict() for name, param in self._params.items()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Space:
        if not isinstance(data, Mapping):
            raise SpaceError("space must be a mapping of parameter names to definitions. "
                             f"Got {type(data).__name__}.")
        return cls(data)

    def to_yaml(self) -> str:
        import yaml

        return yaml.safe_dump(self.to_dict(), sort_keys=False)

    @classmethod
    def from_yaml(cls, source: str | os.PathLike[str]) -> Space:
        """Build a space from YAML text, or from the YAML file at a path.

        `source` is read as a file when it is a `pathlib.Path` (or another path object), or a
        one-line string naming an existing file; any other string is the YAML text itself.
        Numbers may be written `1e-4` (YAML 1.1 would read that as text).

        >>> Space.from_yaml("lr: {type: float, low: 1e-4, high: 1.0, log: true}")["lr"]
        Float(low=0.0001, high=1.0, scale='log')

        Raises:
            SpaceError: the file cannot be read, or is not UTF-8 text, valid YAML or a valid space.
        """
        from shoal.space._yaml import load_space_yaml  # loaded where used: yaml is not light

        return cls.from_dict(load_space_yaml(source) or {})


def _equal(a: object, b: object) -> bool:
    return (type(a) is type(b) and a == b) or (
        not isinstance(a, bool) and not isinstance(b, bool)
        and isinstance(a, (int, float)) and isinstance(b, (int, float)) and a == b
    )


def _dependency_order(params: dict[str, Param]) -> dict[str, Param]:
    """Order parameters so each comes after the parents its condition names."""
    for param in params.values():
        for parent, values in param.when:
            if parent not in params:
                raise SpaceError(f"when of {param.owner} must name parameters of the space. Got {parent!r}.")
            for v in values:
                if not params[parent].contains(v):
                    raise SpaceError(f"when[{parent!r}] of {param.owner} must list values that "
                                     f"{params[parent].owner} can take. Got {v!r}.")
    ordered: dict[str, Param] = {}
    visiting: set[str] = set()

    def visit(name: str) -> None:
        if name in ordered:
            return
        if name in visiting:
            raise SpaceError(f"conditions of parameter {name!r} must not form a cycle. "
                             f"Got a cycle through {sorted(visiting)!r}.")
        visiting.add(name)
        for parent, _ in params[name].when:
            visit(parent)
        visiting.discard(name)
        ordered[name] = params[name]

    for name in params:
        visit(name)
    return ordered
