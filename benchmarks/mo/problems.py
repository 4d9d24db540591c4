"""The multi-objective benchmark's problems: ZDT1-4, ZDT6, DTLZ1-2 (2 and 3 objectives), LCBench.

Every problem is a box of named parameters, a function from a configuration to its objective
values, the directions, and a fixed hypervolume reference point. `hv_points` turns values into
sign-normalised points (lower is better) that `shoal.trial.hypervolume` scores against
`reference`; on LCBench it also caps accuracy and rescales both objectives (see `LCBenchProblem`).

Formulas: Zitzler, Deb & Thiele, "Comparison of multiobjective evolutionary algorithms",
Evolutionary Computation 8(2), 2000 (ZDT), and Deb, Thiele, Laumanns & Zitzler, "Scalable test
problems for evolutionary multiobjective optimization", 2005 (DTLZ), with their standard numbers
of variables (ZDT1-3: 30, ZDT4 and ZDT6: 10, DTLZ1: M + 4, DTLZ2: M + 9). Reference points are
BoTorch's (`botorch.test_functions.multi_objective`): ZDT (11, 11), DTLZ1 400 and DTLZ2 1.1 per
objective.
"""

from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

HERE = Path(__file__).resolve().parent
# ../shared/bench/lcbench beside shoal's root (or beside a folder above it, for a git worktree)
LCBENCH_DIR = Path(os.environ.get("LCBENCH_DIR") or next(
    (p / "shared/bench/lcbench" for p in HERE.parents if (p / "shared/bench/lcbench").is_dir()),
    HERE.parents[2] / "shared" / "bench" / "lcbench"))
CAPS_FILE = HERE / "lcbench_caps.json"
LCBENCH_DEV = ("34539", "126025", "126029", "146212", "167149", "167168", "167181", "167184",
               "167185", "168329", "168331", "168335", "168868", "168910", "189865", "189905",
               "189908")
# name: (low, high, is_int, log), LCBench.SPACE of ../shared/bench/lcbench/lcbench.py
LCBENCH_SPACE = {
    "batch_size": (16, 512, True, True),
    "learning_rate": (1e-4, 1e-1, False, True),
    "momentum": (0.1, 0.99, False, False),
    "weight_decay": (1e-5, 1e-1, False, False),
    "num_layers": (1, 5, True, False),
    "max_units": (64, 1024, True, True),
    "max_dropout": (0.0, 1.0, False, False),
}


@dataclass(frozen=True)
class Param:
    """One parameter of a problem's box."""

    name: str
    low: float
    high: float
    is_int: bool = False
    log: bool = False


@dataclass
class Problem:
    """A box, an objective function over it, directions and a hypervolume reference point."""

    name: str
    params: tuple[Param, ...]
    directions: tuple[str, ...]
    reference: tuple[float, ...]
    func: Callable[[dict[str, Any]], list[float]] = field(repr=False)

    def __call__(self, config: dict[str, Any]) -> list[float]:
        return self.func(config)

    def hv_points(self, values: np.ndarray) -> np.ndarray:
        """Sign-normalised points (lower is better), in the frame of `reference`."""
        signs = np.array([1.0 if d == "minimize" else -1.0 for d in self.directions])
        return np.asarray(values, dtype=float).reshape(-1, len(signs)) * signs


def _vector(config: dict[str, Any], n: int) -> np.ndarray:
    return np.array([config[f"x{i}"] for i in range(n)], dtype=float)


def zdt(k: int, n: int | None = None) -> Problem:
    """ZDT`k` (k in 1, 2, 3, 4, 6) with its standard number of variables unless `n` is given."""
    n = n or (30 if k in (1, 2, 3) else 10)

    def func(config: dict[str, Any]) -> list[float]:
        x = _vector(config, n)
        if k == 4:
            g = 1.0 + 10.0 * (n - 1) + float(np.sum(x[1:] ** 2 - 10.0 * np.cos(4.0 * math.pi * x[1:])))
        elif k == 6:
            g = 1.0 + 9.0 * float(np.sum(x[1:]) / (n - 1)) ** 0.25
        else:
            g = 1.0 + 9.0 * float(np.sum(x[1:])) / (n - 1)
        f1 = 1.0 - math.exp(-4.0 * x[0]) * math.sin(6.0 * math.pi * x[0]) ** 6 if k == 6 else float(x[0])
        r = f1 / g
        if k in (1, 4):
            h = 1.0 - math.sqrt(r)
        elif k in (2, 6):
            h = 1.0 - r**2
        else:
            h = 1.0 - math.sqrt(r) - r * math.sin(10.0 * math.pi * f1)
        return [f1, g * h]

    params = [Param("x0", 0.0, 1.0)]
    bound = 5.0 if k == 4 else None
    params += [Param(f"x{i}", -bound if bound else 0.0, bound or 1.0) for i in range(1, n)]
    return Problem(f"zdt{k}", tuple(params), ("minimize", "minimize"), (11.0, 11.0), func)


def dtlz(k: int, m: int, n: int | None = None) -> Problem:
    """DTLZ`k` (k in 1, 2) with `m` objectives and the standard M + 4 / M + 9 variables."""
    n = n or m + (4 if k == 1 else 9)

    def func(config: dict[str, Any]) -> list[float]:
        x = _vector(config, n)
        xm = x[m - 1:] - 0.5
        if k == 1:
            g = 100.0 * (len(xm) + float(np.sum(xm**2 - np.cos(20.0 * math.pi * xm))))
            return [0.5 * (1.0 + g) * float(np.prod(x[: m - 1 - i])) * (1.0 - x[m - 1 - i] if i else 1.0)
                    for i in range(m)]
        g = float(np.sum(xm**2))
        c, s = np.cos(x[: m - 1] * math.pi / 2), np.sin(x[: m - 1] * math.pi / 2)
        return [(1.0 + g) * float(np.prod(c[: m - 1 - i])) * (float(s[m - 1 - i]) if i else 1.0)
                for i in range(m)]

    ref = 400.0 if k == 1 else 1.1
    return Problem(f"dtlz{k}_m{m}", tuple(Param(f"x{i}", 0.0, 1.0) for i in range(n)),
                   ("minimize",) * m, (ref,) * m, func)


def _lcbench_module() -> Any:
    if str(LCBENCH_DIR) not in sys.path:
        sys.path.insert(0, str(LCBENCH_DIR))
    import lcbench  # the shared surrogate loader (numpy + onnxruntime)

    return lcbench


class LCBenchProblem(Problem):
    """Maximise final validation accuracy (%), minimise training time (s) of 52 epochs, on a task.

    Scoring (`hv_points`): accuracy is capped at `cap`, the best final accuracy of 20,000 random
    configurations (the surrogate extrapolates at the corners of the space), time is floored at
    their fastest training for the same reason, and both objectives
    are rescaled by the random configurations' range so that (0, 0) is (cap, fastest training)
    and the reference point (1, 1) is (their median accuracy, their slowest training):
    error = (cap - min(acc, cap)) / (cap - acc_median), time = log(t / t_min) / log(t_max / t_min)
    (training times span two to three orders of magnitude: a log scale, so that halving the time
    counts alike everywhere). A hypervolume is then a fraction of that box.
    """

    def __init__(self, task: str, caps: dict[str, float]) -> None:
        bench = _lcbench_module().LCBench(task)

        def func(config: dict[str, Any]) -> list[float]:
            out = bench.evaluate(config, epoch=52)
            return [out["val_accuracy"], out["time"]]

        params = tuple(Param(k, *box) for k, box in LCBENCH_SPACE.items())
        super().__init__(f"lcbench_{task}", params, ("maximize", "minimize"), (1.0, 1.0), func)
        self.caps = caps

    def hv_points(self, values: np.ndarray) -> np.ndarray:
        v = np.asarray(values, dtype=float).reshape(-1, 2)
        c = self.caps
        err = (c["cap"] - np.minimum(v[:, 0], c["cap"])) / (c["cap"] - c["acc_median"])
        time = np.log(np.maximum(v[:, 1], c["time_min"]) / c["time_min"])
        time /= np.log(c["time_max"] / c["time_min"])
        return np.column_stack([err, time])


def lcbench_random_range(task: str, *, n: int = 20_000, seed: int = 1) -> dict[str, float]:
    """Best, median and worst final accuracy and the training-time range of `n` random configurations.

    Drawn as the LCBench anchors draw theirs (`anchors/common.sample_configs`: numpy
    `default_rng(seed)`, log-uniform where the space is log, integers rounded), epoch 52 only.
    """
    lcb = _lcbench_module()
    rng = np.random.default_rng(seed)
    cols = []
    for lo, hi, is_int, log in LCBENCH_SPACE.values():
        v = np.exp(rng.uniform(math.log(lo), math.log(hi), size=n)) if log else rng.uniform(lo, hi, size=n)
        cols.append(np.clip(np.rint(v), lo, hi) if is_int else np.clip(v, lo, hi))
    x = np.column_stack([np.full(n, 52.0), *cols]).astype(np.float32)
    bench = lcb.LCBench(task)
    s = lcb._session()
    names = [i.name for i in s.get_inputs()]
    y = s.run([s.get_outputs()[0].name],
              {names[0]: np.full((n, 1), bench._code, dtype=np.int32), names[1]: x})[0]
    acc, time = y[:, lcb.TARGETS.index("val_accuracy")], y[:, lcb.TARGETS.index("time")]
    return {"cap": float(acc.max()), "acc_median": float(np.median(acc)), "acc_min": float(acc.min()),
            "time_min": float(time.min()), "time_max": float(time.max()), "n": n, "seed": seed}


SYNTHETIC = ("zdt1", "zdt2", "zdt3", "zdt4", "zdt6", "dtlz1_m2", "dtlz1_m3", "dtlz2_m2", "dtlz2_m3")
ALL = SYNTHETIC + tuple(f"lcbench_{t}" for t in LCBENCH_DEV)


def make(name: str) -> Problem:
    """The problem called `name` (one of `ALL`)."""
    if name.startswith("zdt"):
        return zdt(int(name[3:]))
    if name.startswith("dtlz"):
        k, m = name[4:].split("_m")
        return dtlz(int(k), int(m))
    if name.startswith("lcbench_"):
        task = name.removeprefix("lcbench_")
        caps = json.loads(CAPS_FILE.read_text())
        if task not in caps:
            raise SystemExit(f"no cap for LCBench task {task} in {CAPS_FILE}: run "
                             f"`python run.py --write-caps --problems {name}` first.")
        return LCBenchProblem(task, caps[task])
    raise SystemExit(f"problem must be one of {', '.join(ALL)}. Got {name!r}.")


def expand(names: Sequence[str]) -> list[str]:
    """Problem names from patterns: 'all', 'synthetic', 'lcbench', or names."""
    out: list[str] = []
    for n in names:
        group = {"all": ALL, "synthetic": SYNTHETIC, "lcbench": ALL[len(SYNTHETIC):]}.get(n, (n,))
        out += [g for g in group if g not in out]
    return out
