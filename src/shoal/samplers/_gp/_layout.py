"""How a point of the space maps to the GP's inputs and back, and the candidates screened."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from shoal.space import Categorical, Fixed, Int, Space

__all__ = ["Layout", "candidates"]

N_RANDOM, N_PERTURB = 512, 40


@dataclass(frozen=True)
class _Slot:
    index: int  # position in the space (raw coordinate)
    start: int  # first feature
    width: int  # 0 (Fixed, single choice), 1 (Float, Int) or k (Categorical, one-hot)
    choice: bool


class Layout:
    """How raw points (one coordinate per parameter) map to the GP's inputs, and back."""

    def __init__(self, space: Space) -> None:
        self.space = space
        slots, start = [], 0
        for i, param in enumerate(space.values()):
            choice = isinstance(param, Categorical)
            width = len(param.choices) if isinstance(param, Categorical) else 1
            width = 0 if isinstance(param, Fixed) or (choice and width == 1) else width
            slots.append(_Slot(i, start, width, choice))
            start += width
        self.slots: list[_Slot] = slots
        self.n_features = start
        self.n_searched = sum(1 for s in slots if s.width)
        numeric = [s for s in slots if s.width and not s.choice]
        self.n_numeric = len(numeric)
        self.numeric_features = np.array([s.start for s in numeric], dtype=int)
        self.numeric_mask = np.zeros(start, dtype=bool)
        self.numeric_mask[self.numeric_features] = True
        self.is_choice = np.array([s.choice for s in slots], dtype=bool)
        # One kernel dimension per searched parameter: a choice's one-hot columns share one
        # length scale (see `fit_hyper`); None when there is no choice (inputs = dimensions).
        searched = [s for s in slots if s.width]
        self.tie: np.ndarray | None = None
        if any(s.choice for s in searched):
            self.tie = np.zeros((start, len(searched)))
            for k, s in enumerate(searched):
                self.tie[s.start:s.start + s.width, k] = 0.5 if s.choice else 1.0

    def features(self, u: np.ndarray) -> np.ndarray:
        """Encoded points (NaN = inactive) to GP inputs: one-hot choices, neutral fill."""
        out = np.zeros((len(u), self.n_features))
        for s in self.slots:
            col = u[:, s.index]
            active = ~np.isnan(col)
            if s.width and not s.choice:
                out[:, s.start] = np.where(active, col, 0.5)
            elif s.width:
                cell = np.minimum((np.nan_to_num(col) * s.width).astype(int), s.width - 1)
                rows = np.flatnonzero(active)
                out[rows, s.start + cell[rows]] = 1.0
        return out

    def to_feature_shape(self, u: np.ndarray) -> np.ndarray:
        """Raw values placed at each parameter's first feature (NaN elsewhere): for masks, boxes."""
        out = np.full((len(u), self.n_features), np.nan)
        for s in self.slots:
            if s.width and not s.choice:
                out[:, s.start] = u[:, s.index]
        return out

    def raw(self, f: np.ndarray) -> np.ndarray:
        """GP inputs back to raw points: numbers as they are, a choice at its argmax cell."""
        out = np.full((len(f), len(self.slots)), 0.5)
        for s in self.slots:
            if s.width and not s.choice:
                out[:, s.index] = f[:, s.start]
            elif s.width:
                out[:, s.index] = (np.argmax(f[:, s.start:s.start + s.width], axis=1) + 0.5) / s.width
        return out

    def canonical(self, r: np.ndarray) -> np.ndarray:
        """Raw points to the encodings of the configurations they decode to (NaN = inactive)."""
        space = self.space
        if space.is_conditional:
            return np.array([space.encode(space.decode(row)) for row in r])
        out: np.ndarray = np.clip(r, 0.0, 1.0)
        for s, param in zip(self.slots, space.values(), strict=True):
            if isinstance(param, Int):
                out[:, s.index] = [param.encode(param.decode(v)) for v in out[:, s.index]]
            elif isinstance(param, Categorical):
                k = len(param.choices)
                out[:, s.index] = (np.minimum((out[:, s.index] * k).astype(int), k - 1) + 0.5) / k
            elif isinstance(param, Fixed):
                out[:, s.index] = 0.5
        return out

    def box(self, center: np.ndarray, length_scales: np.ndarray,
            length: float) -> tuple[np.ndarray, np.ndarray]:
        """TuRBO's box: side `length` times the length scales over their geometric mean."""
        ls = length_scales[self.numeric_features]
        weights = ls / np.exp(np.mean(np.log(ls)))
        lower, upper = np.zeros(len(self.slots)), np.ones(len(self.slots))
        for w, s in zip(weights, (s for s in self.slots if s.width and not s.choice), strict=True):
            c = 0.5 if math.isnan(center[s.index]) else center[s.index]
            lower[s.index] = max(c - w * length / 2, 0.0)
            upper[s.index] = min(c + w * length / 2, 1.0)
        return lower, upper


def candidates(top: np.ndarray, lower: np.ndarray, upper: np.ndarray, is_choice: np.ndarray,
               rng: np.random.Generator, *, n_perturb: int = N_PERTURB) -> np.ndarray:
    """Raw points to screen: uniform in the box, and the best trials jiggled.

    A jiggle moves the numbers by a normal step whose size is log-uniform between 0.5% and 20%
    of the box (fine steps refine the incumbent, coarse ones explore around it) and resamples
    each choice with probability 1/d.
    """
    top = np.where(np.isnan(top), 0.5, top)
    jiggled = np.repeat(top, n_perturb, axis=0)
    sd = np.exp(rng.uniform(math.log(0.005), math.log(0.2), (len(jiggled), 1)))
    jiggled = jiggled + sd * (upper - lower) * rng.standard_normal(jiggled.shape)
    resample = (rng.random(jiggled.shape) < 1.0 / top.shape[1]) & is_choice
    jiggled[resample] = rng.random(int(resample.sum()))
    uniform = lower + (upper - lower) * rng.random((N_RANDOM, top.shape[1]))
    out: np.ndarray = np.clip(np.vstack([uniform, jiggled]), lower, upper)
    return out
