"""Quasi-Monte Carlo search: a scrambled Sobol or Halton sequence, shared by every worker."""

from __future__ import annotations

from typing import Any, Literal

import numpy as np

from shoal import _validate
from shoal.samplers._protocol import History
from shoal.samplers._streams import M64, mix, name_key, stratified_uniform
from shoal.space import Space

__all__ = ["QMCSampler", "initial_point", "qmc_point"]

QMCKind = Literal["sobol", "halton"]
_KINDS = ("sobol", "halton")


class QMCSampler:
    """Draws the points of a low-discrepancy sequence, which covers the space more evenly.

    Trial at position `history.position` gets point number `position` of one sequence, decoded
    through `space.decode`, so log and 1-x scales are respected. The scramble is seeded by
    `seed`, not by the per-trial generator, so workers sharing a study walk one sequence and
    never repeat a point. Pass a seed when several processes must share the sequence: with
    `seed=None` a seed is drawn once, when the sampler is made (and kept when it is pickled).

    Sobol points are best used in powers of two (16, 32, 64 trials). The dimension is the
    number of parameters of the space, inactive ones included, so a conditional space keeps one
    sequence; the scramble depends on the parameters' names too. A parameter asked alone (in
    define-by-run, one first seen in a trial) walks a stratified sequence of its own, keyed by
    its name, so two such parameters never share a quantile. The per-trial generator is not used.

    Args:
        seed: Seed of the scramble; None draws one now.
        kind: "sobol" (default) or "halton".
        scramble: Randomise the sequence (Owen scrambling); False gives the textbook sequence,
            whose first point is the corner of the cube.

    Raises:
        ConfigError: `kind` is not "sobol" or "halton", or `seed` is not an integer >= 0.

    >>> from shoal.space import Float, Space
    >>> from shoal.samplers import History, sampler_rng
    >>> from shoal.trial import FrozenTrial, TrialState
    >>> sampler = QMCSampler(seed=0)
    >>> space = Space({"lr": Float(1e-4, 1.0, scale="log"), "dropout": Float(0.0, 0.5)})
    >>> earlier = [FrozenTrial(i, i, TrialState.RUNNING) for i in range(8)]
    >>> points = [sampler.suggest(space, History(earlier[:n], n), sampler_rng(0, n))
    ...           for n in range(8)]
    >>> sorted(int(p["dropout"] * 16) for p in points)  # one point in each eighth
    [0, 1, 2, 3, 4, 5, 6, 7]
    """

    multi_objective = True  # it never reads results, so it serves any number of objectives

    def __init__(self, *, seed: int | None = None, kind: QMCKind = "sobol",
                 scramble: bool = True) -> None:
        _validate.one_of(kind, _KINDS, what="kind", owner="QMCSampler")
        self.seed = _validate.seed(seed, owner="QMCSampler")
        self.kind: QMCKind = kind
        self.scramble = scramble
        # Every worker must scramble alike: drawn once here, kept when pickled.
        self._qmc_seed = seed if seed is not None else int(
            np.random.SeedSequence().generate_state(1)[0])

    def suggest(self, space: Space, history: History, rng: np.random.Generator) -> dict[str, Any]:
        if len(space) == 0:
            return {}
        u = initial_point(self.kind, list(space), history.position, seed=self._qmc_seed,
                          scramble=self.scramble)
        return space.decode(u)

    def __repr__(self) -> str:
        return f"QMCSampler(seed={self.seed!r}, kind={self.kind!r}, scramble={self.scramble!r})"


def qmc_point(kind: QMCKind, d: int, index: int, *, seed: int, scramble: bool = True) -> np.ndarray:
    """Point number `index` of the `d`-dimensional sequence scrambled with `seed`.

    Equal to `scipy.stats.qmc.Sobol(d, scramble=scramble, rng=np.random.default_rng(seed))
    .random(n)[index]` for any n > index, at the cost of a fast-forward (microseconds per
    thousand points), so no table of earlier points is kept.

    >>> p = qmc_point("sobol", 2, 5, seed=0)
    >>> bool(np.all((0 <= p) & (p < 1)))
    True
    """
    engine = _engine(kind, d, seed, scramble)
    if index > 0:  # scipy's Sobol fast_forward rejects 0
        engine.fast_forward(index)
    return np.asarray(engine.random(1)[0], dtype=float)


def initial_point(kind: QMCKind, names: list[str], index: int, *, seed: int,
                  scramble: bool = True) -> np.ndarray:
    """Point `index` of an initial design over the parameters `names`, encoded in [0, 1)^d.

    Several parameters get point `index` of the sequence scrambled with `seed` (`qmc_point`);
    one parameter asked alone gets a stratified sequence of its own (`stratified_uniform`, keyed
    by `seed` and its name), so parameters first seen in one trial do not share a quantile.

    >>> a, b = (float(initial_point("sobol", [n], 0, seed=0)[0]) for n in ("a", "b"))
    >>> a != b
    True
    """
    if len(names) == 1 and scramble:
        return np.array([stratified_uniform(mix(seed & M64, 1, name_key(names[0])), index)])
    return qmc_point(kind, len(names), index, seed=seed, scramble=scramble)


def _engine(kind: QMCKind, d: int, seed: int, scramble: bool) -> Any:
    from scipy.stats import qmc  # scipy.stats is slow to import: `import shoal` stays light

    cls = qmc.Sobol if kind == "sobol" else qmc.Halton
    gen = np.random.default_rng(seed)
    try:
        return cls(d, scramble=scramble, rng=gen)
    except TypeError:  # scipy < 1.15 names the generator `seed`
        return cls(d, scramble=scramble, seed=gen)
