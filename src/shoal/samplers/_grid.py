"""Grid search: every combination of the given values, each tried exactly once across workers."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from shoal import _validate
from shoal.exceptions import ConfigError, SearchSpaceExhausted
from shoal.samplers._protocol import History
from shoal.space import Categorical, Fixed, Float, Int, Param, Space

__all__ = ["GridSampler"]

# Deriving an Int's grid from the space lists every value; past this it is surely a mistake.
_MAX_DERIVED = 1000
_M64 = (1 << 64) - 1


class GridSampler:
    """Tries every combination of the grid's values (a full factorial), in order or shuffled.

    The point for a trial is the `history.position`-th point of the grid, so parallel workers
    never propose the same point twice, and a resumed study carries on where it stopped. When
    every point has been used, `suggest` raises `SearchSpaceExhausted`.

    Parameters the grid does not name (all of them, without a grid) are enumerated from the
    space: every choice of a Categorical, the value of a Fixed, every value of an Int or of a
    Float with a `step` (at most 1000). A Float without a step that the grid does not name is
    refused with a `ConfigError` saying to give its points: continuous parameters need explicit
    points. Names the grid has and the space lacks are enumerated too but not returned: the same
    position always gives the same point, so a study that learns of a parameter later still
    walks one grid.

    Conditional spaces are enumerated by valid configuration only: a child whose parent takes a
    value that deactivates it is not multiplied in. The per-trial generator is not used.

    Args:
        grid: Values to try for each parameter name; None derives the grid from the space.
        seed: Seed of the shuffled order (shared by every worker); None draws one now, so pass
            a seed when several processes must agree. Also documents the study's seed.
        shuffle: Visit the points in a seeded random order instead of row-major order (the first
            name varies slowest), so a partial run still spreads over the grid.

    Raises:
        ConfigError: A grid value is not a value of the parameter, a Float of the space has no
            points, or an Int the grid does not name has more than 1000 values.

    >>> from shoal.space import Categorical, Float, Space
    >>> from shoal.samplers import History, sampler_rng
    >>> from shoal.trial import FrozenTrial, TrialState
    >>> space = Space({"lr": Float(1e-4, 1.0, scale="log"), "act": Categorical(["relu", "tanh"])})
    >>> sampler = GridSampler({"lr": [1e-3, 1e-2], "act": ["relu", "tanh"]})
    >>> earlier = [FrozenTrial(i, i, TrialState.RUNNING) for i in range(4)]
    >>> sampler.suggest(space, History(earlier[:1], 1), sampler_rng(0, 1))
    {'lr': 0.001, 'act': 'tanh'}
    >>> sampler.grid_size(space)
    4
    """

    multi_objective = True  # it never reads results, so it serves any number of objectives

    def __init__(
        self,
        grid: Mapping[str, Iterable[Any]] | None = None,
        *,
        seed: int | None = None,
        shuffle: bool = False,
    ) -> None:
        self.grid = None if grid is None else _freeze_grid(grid)
        self.seed = _validate.seed(seed, owner="GridSampler")
        self.shuffle = shuffle
        # The shuffle key must be the same in every worker: drawn once here, kept when pickled.
        self._key = seed if seed is not None else int(np.random.SeedSequence().generate_state(1)[0])

    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        grid = _Grid(_dims(space, self.grid))
        size = grid.size
        position = history.position
        if position >= size:
            raise SearchSpaceExhausted(
                f"GridSampler: all {size} grid points have been tried (trial {history.number}). "
                "Use a larger grid or another sampler.")
        point = grid.point(_permute(position, size, self._key) if self.shuffle else position)
        return {name: point[name] for name in space if space.is_active(name, point)}

    def grid_size(self, space: Space) -> int:
        """How many points the grid has for `space` (valid configurations only)."""
        return _Grid(_dims(space, self.grid)).size

    def __repr__(self) -> str:
        grid = None if self.grid is None else {k: list(v) for k, v in self.grid.items()}
        return f"GridSampler({grid!r}, seed={self.seed!r}, shuffle={self.shuffle!r})"


@dataclass(frozen=True)
class _Dim:
    name: str
    values: tuple[Any, ...]
    # (index of a parent dimension, indices of the parent values that activate this one)
    conditions: tuple[tuple[int, frozenset[int]], ...]


class _Grid:
    """The valid points of a product of dimensions, counted and indexed without listing them."""

    def __init__(self, dims: list[_Dim]) -> None:
        self.dims = dims
        self._memo: dict[tuple[int, tuple[int, ...]], int] = {}
        # For each depth, the earlier dimensions that later conditions read: the memo key.
        self._keys: list[tuple[int, ...]] = []
        for i in range(len(dims) + 1):
            parents = {j for d in dims[i:] for j, _ in d.conditions if j < i}
            self._keys.append(tuple(sorted(parents)))

    @property
    def size(self) -> int:
        return self._count(0, ())

    def _active(self, dim: _Dim, chosen: tuple[int, ...]) -> bool:
        return all(chosen[j] in allowed for j, allowed in dim.conditions)

    def _count(self, i: int, chosen: tuple[int, ...]) -> int:
        """Number of completions of dimensions i.. given the value indices chosen before i."""
        if i == len(self.dims):
            return 1
        key = (i, tuple(chosen[j] for j in self._keys[i]))
        if key not in self._memo:
            dim = self.dims[i]
            if not self._active(dim, chosen):
                self._memo[key] = self._count(i + 1, (*chosen, -1))
            else:
                self._memo[key] = sum(self._count(i + 1, (*chosen, k))
                                      for k in range(len(dim.values)))
        return self._memo[key]

    def point(self, index: int) -> dict[str, Any]:
        """The index-th valid point in row-major order (the first dimension varies slowest)."""
        chosen: tuple[int, ...] = ()
        out: dict[str, Any] = {}
        for i, dim in enumerate(self.dims):
            if not self._active(dim, chosen):
                chosen = (*chosen, -1)
                continue
            for k, value in enumerate(dim.values):
                n = self._count(i + 1, (*chosen, k))
                if index < n:
                    chosen = (*chosen, k)
                    out[dim.name] = value
                    break
                index -= n
        return out


def _freeze_grid(grid: Mapping[str, Iterable[Any]]) -> dict[str, tuple[Any, ...]]:
    if not isinstance(grid, Mapping):
        raise ConfigError(f"grid of GridSampler must be a mapping of parameter names to values. "
                          f"Got {grid!r}.")
    out: dict[str, tuple[Any, ...]] = {}
    for name, values in grid.items():
        if not isinstance(name, str) or not name:
            raise ConfigError(f"each name of the grid of GridSampler must be a non-empty string. "
                              f"Got {name!r}.")
        if isinstance(values, (str, bytes)) or not isinstance(values, Iterable):
            raise ConfigError(f"grid[{name!r}] of GridSampler must be a list of values. "
                              f"Got {values!r}.")
        # numpy scalars (from np.logspace, say) become plain Python values, as storage needs.
        frozen = tuple(v.item() if isinstance(v, np.generic) else v for v in values)
        if not frozen:
            raise ConfigError(f"grid[{name!r}] of GridSampler must be a non-empty list. "
                              f"Got {values!r}.")
        if any(_same(v, w) for i, v in enumerate(frozen) for w in frozen[:i]):
            raise ConfigError(f"grid[{name!r}] of GridSampler must list distinct values. "
                              f"Got {list(frozen)!r}.")
        out[name] = frozen
    return out


def _same(a: object, b: object) -> bool:
    return type(a) is type(b) and a == b


def _matches(value: object, allowed: tuple[Any, ...]) -> bool:
    """Whether a parent value satisfies a condition, with Space's rule (1 == 1.0, True != 1)."""
    def numeric(x: object) -> bool:
        return isinstance(x, (int, float)) and not isinstance(x, bool)
    return any(_same(value, a) or (numeric(value) and numeric(a) and value == a) for a in allowed)


def _dims(space: Space, grid: Mapping[str, tuple[Any, ...]] | None) -> list[_Dim]:
    """The grid's dimensions for `space`, parents before children."""
    if grid is None:
        values = {name: _derived_values(name, param) for name, param in space.items()}
        order = list(space)
    else:
        values = {}
        for name, points in grid.items():
            if name in space:
                _check_points(name, space[name], points)
            values[name] = points
        for name, param in space.items():  # a full factorial: the rest of the space too
            if name not in values:
                values[name] = _derived_values(name, param)
        order = []

        def visit(name: str) -> None:
            if name in order:
                return
            if name in space:
                for parent, _ in space[name].when:
                    if parent in values:
                        visit(parent)
            order.append(name)

        for name in values:
            visit(name)
    index = {name: i for i, name in enumerate(order)}
    dims = []
    for name in order:
        conditions = []
        for parent, allowed in space[name].when if name in space else ():
            if parent in index:
                hits = frozenset(k for k, v in enumerate(values[parent]) if _matches(v, allowed))
                conditions.append((index[parent], hits))
        dims.append(_Dim(name, values[name], tuple(conditions)))
    return dims


def _check_points(name: str, param: Param, points: tuple[Any, ...]) -> None:
    for v in points:
        if not param.contains(v):
            raise ConfigError(f"grid[{name!r}] of GridSampler must hold values {param.owner} can "
                              f"take ({param.distribution()!r}). Got {v!r}.")


def _derived_values(name: str, param: Param) -> tuple[Any, ...]:
    if isinstance(param, Categorical):
        return param.choices
    if isinstance(param, Fixed):
        return (param.value,)
    if isinstance(param, Int):
        if param.power_of_two:
            first, last = param.low.bit_length() - 1, param.high.bit_length() - 1
            return tuple(1 << e for e in range(first, last + 1))
        count = (param.high - param.low) // param.step + 1
        if count > _MAX_DERIVED:
            ints = [param.decode(u) for u in (0.0, 0.5, 1.0)]
            raise ConfigError(
                f"points of {param.owner} must be given to GridSampler when it has more than "
                f"{_MAX_DERIVED} values (it has {count}), e.g. GridSampler({{{name!r}: {ints!r}}}). "
                "Got none.")
        return tuple(range(param.low, param.high + 1, param.step))
    assert isinstance(param, Float)
    if param.step is not None:  # a stepped float is a finite grid, enumerated like an Int's
        count = round((param.high - param.low) / param.step) + 1
        if count <= _MAX_DERIVED:
            return tuple(param.decode((k + 0.5) / count) for k in range(count))
    example = [min(max(float(f"{param.decode(u):.3g}"), param.low), param.high)
               for u in (0.0, 0.5, 1.0)]
    raise ConfigError(
        f"points of {param.owner} must be given to GridSampler: continuous parameters need "
        f"explicit points, e.g. GridSampler({{{name!r}: {example!r}}}). Got none.")


def _permute(index: int, size: int, key: int) -> int:
    """A seeded bijection of range(size) in O(1) memory: a Feistel network with cycle walking.

    Shuffling a grid of a billion points this way costs nothing; a permutation array would not.
    """
    if size <= 1:
        return index
    bits = max(2, (size - 1).bit_length())
    bits += bits % 2
    half = bits // 2
    mask = (1 << half) - 1
    x = index
    while True:  # a bijection of [0, 2**bits) applied until it lands in [0, size): expected < 4
        left, right = x >> half, x & mask
        for r in range(4):
            left, right = right, left ^ (_mix(key, r, right) & mask)
        x = (left << half) | right
        if x < size:
            return x


def _mix(key: int, r: int, x: int) -> int:
    """splitmix64's finaliser over (key, round, half-block): a well-spread round function."""
    z = (key * 0x9E3779B97F4A7C15 + (r + 1) * 0xD1B54A32D192ED03 + x) & _M64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _M64
    return z ^ (z >> 31)
