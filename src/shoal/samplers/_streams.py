"""Random and low-discrepancy streams keyed by parameter names, so each parameter draws its own.

In define-by-run a parameter first seen in a trial is asked alone, as a one-parameter space, with
the trial's generator and history. Without a key of its own, every such parameter got the same
quantile of its range (trial 0 of a, b, c was a = b = c). These helpers give each space (and so
each parameter asked alone) its own stream.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

import numpy as np

__all__ = ["mix", "name_key", "names_key", "space_rng", "stratified_uniform"]

M64 = (1 << 64) - 1
_BITS = 32  # index bits of `stratified_uniform`: 4 billion trials


def name_key(name: str) -> int:
    """A stable 64-bit key of a parameter name (the same in every process, unlike `hash`)."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "little")


def names_key(names: Iterable[str]) -> int:
    """A stable 64-bit key of an ordered collection of names."""
    key = 0x2545F4914F6CDD1D
    for name in names:
        key = mix(key, 0, name_key(name))
    return key


def mix(key: int, r: int, x: int) -> int:
    """A well-spread 64-bit hash of (key, round, block): splitmix64's finaliser, twice.

    Once over `key + round * c + x` was not enough: for some pairs of keys the low bit agreed
    for every small x, so two names walked one sequence.
    """
    inner = _finalise((key + (r + 1) * 0xD1B54A32D192ED03) & M64)
    return _finalise((inner + (x + 1) * 0x9E3779B97F4A7C15) & M64)


def _finalise(z: int) -> int:
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & M64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & M64
    return z ^ (z >> 31)


def space_rng(rng: np.random.Generator, names: Iterable[str]) -> np.random.Generator:
    """A generator for drawing values of the parameters `names`: one draw of `rng`, keyed by them.

    Two spaces with different names get independent streams even from generators in the same
    state, and the same inputs still give the same stream (reproducible studies).

    >>> a = space_rng(np.random.default_rng(0), ["a"]).random()
    >>> b = space_rng(np.random.default_rng(0), ["b"]).random()
    >>> a == space_rng(np.random.default_rng(0), ["a"]).random(), a == b
    (True, False)
    """
    entropy = int(rng.integers(0, 1 << 63))
    return np.random.default_rng(np.random.SeedSequence(entropy, spawn_key=(names_key(names),)))


def stratified_uniform(key: int, index: int) -> float:
    """Point `index` of a randomised van der Corput sequence owned by `key`, in [0, 1).

    Every aligned block of 2**m indices puts one point in each interval [j/2**m, (j+1)/2**m)
    (as a one-dimensional Sobol sequence does), while the sequences of two keys are paired at
    random: the index bits are scrambled from the top (bit k flips by a hash of `key` and the
    bits above k), so two parameters asked alone do not share quantiles. Scrambling the output
    digits instead (Owen scrambling of one Sobol dimension) leaves the first digit of every
    point equal to the index's parity, and two such sequences correlate at about 0.75.

    >>> sorted(int(stratified_uniform(7, i) * 8) for i in range(8))
    [0, 1, 2, 3, 4, 5, 6, 7]
    """
    bits = 0
    for k in range(_BITS):
        bit = ((index >> k) & 1) ^ (mix(key, k, index >> (k + 1)) & 1)
        bits |= bit << (_BITS - 1 - k)
    tail = mix(key, _BITS, index) >> 11  # 53 random bits below the stratified ones
    return (bits + tail / float(1 << 53)) / float(1 << _BITS)
