"""Hypervolume: shoal's public functions beside moocore and Optuna 5.0, timed in one run.

    python benchmarks/bench_hypervolume.py            # 10/100/1000 points, 2-5 objectives (1-3 min)
    python benchmarks/bench_hypervolume.py --quick    # 10/100 points, 2-4 objectives (seconds)

Two point sets per size: `sphere` (every point on the unit sphere's positive orthant, all
non-dominated) and `simplex+noise` (80 % on the unit simplex, 20 % dominated copies of those moved
up by U(0, 0.2) in every objective, some beyond the reference 1.1). Each cell is the median time
per call; a peer whose call at the previous size took longer than --skip-after seconds is skipped
at the larger one. "agree" is the largest relative difference between the values that ran
(for contributions: the largest absolute difference over the largest contribution).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from shoal.trial import hypervolume, hypervolume_contributions

REFERENCE = 1.1
HV = ("shoal", "moocore", "optuna")
HVC = ("shoal_c", "moocore_c")


def points(shape: str, n: int, k: int, rng: np.random.Generator) -> np.ndarray:
    """`n` points in `k` objectives: a random front on a sphere or simplex, with dominated noise."""
    if shape == "sphere":
        x = np.abs(rng.normal(size=(n, k)))
        return np.asarray(x / np.linalg.norm(x, axis=1, keepdims=True))
    front = rng.dirichlet(np.ones(k), size=n - n // 5)
    noise = front[rng.integers(len(front), size=n // 5)] + rng.uniform(0.0, 0.2, size=(n // 5, k))
    return np.asarray(rng.permutation(np.vstack([front, noise])))


def timed(call: Callable[[], Any], budget: float) -> tuple[float, Any]:
    """Median seconds per call over as many calls as fit in `budget` (at least 1, at most 50)."""
    start = time.perf_counter()
    value = call()
    first = time.perf_counter() - start
    if first > budget:
        return first, value
    times = []
    for _ in range(max(1, min(50, int(budget / max(first, 1e-7))))):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    return statistics.median(times), value


def peers() -> tuple[Any, Any]:
    """moocore and Optuna's hypervolume, or None with a line saying how to get it."""
    try:
        import moocore
    except ImportError:
        moocore = None
        print("moocore is missing: .venv/bin/pip install 'moocore>=0.3'")
    try:
        from optuna._hypervolume import compute_hypervolume
    except ImportError:
        compute_hypervolume = None
        print("Optuna is missing: .venv/bin/pip install -e '.[bench]'")
    return moocore, compute_hypervolume


Calls = dict[str, Callable[[], Any] | None]


def calls(pts: np.ndarray, ref: np.ndarray, moocore: Any, optuna_hv: Any) -> Calls:
    """What each library is timed on: the same points and reference."""
    inside = pts[np.all(pts <= ref, axis=1)]  # Optuna refuses points beyond the reference
    return {
        "shoal": lambda: hypervolume(pts, ref),
        "moocore": (lambda: moocore.hypervolume(pts, ref=ref)) if moocore else None,
        "optuna": (lambda: optuna_hv(inside, ref)) if optuna_hv else None,
        "shoal_c": lambda: hypervolume_contributions(pts, ref),
        "moocore_c": ((lambda: moocore.hv_contributions(pts, ref=ref, ignore_dominated=False))
                      if moocore else None),
    }


def measure(todo: Calls, slow: dict[str, bool],
            args: argparse.Namespace) -> dict[str, tuple[float | None, Any]]:
    """Seconds per call and the value of each call, skipping one that was too slow at a smaller size."""
    got: dict[str, tuple[float | None, Any]] = {}
    for name, call in todo.items():
        if call is None or slow.get(name):
            got[name] = (None, None)
            continue
        seconds, value = timed(call, args.budget)
        got[name] = (seconds, value)
        slow[name] = seconds > args.skip_after
    return got


def fmt(seconds: float | None) -> str:
    if seconds is None:
        return "skipped"
    if seconds < 1e-2:
        return f"{seconds * 1e6:.0f} µs"
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def spread(values: list[Any]) -> str:
    """The largest relative difference between any two of `values` (scalars or arrays)."""
    values = [np.asarray(v, dtype=float) for v in values if v is not None]
    if len(values) < 2:
        return "—"
    scale = max(float(np.max(np.abs(v))) for v in values) or 1.0
    worst = max(float(np.max(np.abs(a - b))) for a in values for b in values)
    return f"{worst / scale:.1e}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="10 and 100 points, 2-4 objectives")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--budget", type=float, default=0.2, help="seconds of repeats per cell")
    parser.add_argument("--skip-after", type=float, default=0.5,
                        help="skip a peer at the next size once one call took this many seconds")
    args = parser.parse_args()
    sizes = [10, 100] if args.quick else [10, 100, 1000]
    objectives = [2, 3, 4] if args.quick else [2, 3, 4, 5]
    moocore, optuna_hv = peers()
    print(f"moocore {getattr(moocore, '__version__', '-')}, numpy {np.__version__}, reference {REFERENCE} "
          f"in every objective, median per call\n")
    rng = np.random.default_rng(args.seed)
    hv_rows, hvc_rows = [], []
    for k in objectives:
        for shape in ("sphere", "simplex+noise"):
            slow: dict[str, bool] = {}
            for n in sizes:
                pts, ref = points(shape, n, k, rng), np.full(k, REFERENCE)
                got = measure(calls(pts, ref, moocore, optuna_hv), slow, args)
                hv_rows.append(f"| {k} | {shape} | {n} | " + " | ".join(fmt(got[x][0]) for x in HV) +
                               f" | {spread([got[x][1] for x in HV])} |")
                hvc_rows.append(f"| {k} | {shape} | {n} | " + " | ".join(fmt(got[x][0]) for x in HVC) +
                                f" | {spread([got[x][1] for x in HVC])} |")
                print(hv_rows[-1], file=sys.stderr, flush=True)  # progress
    print("\nhypervolume(points, reference)\n")
    print("| objectives | points | n | shoal | moocore | Optuna 5.0 | agree |\n|---|---|---|---|---|---|---|")
    print("\n".join(hv_rows))
    print("\nhypervolume_contributions, exact: hv(all) - hv(all without i) "
          "(moocore's hv_contributions with ignore_dominated=False)\n")
    print("| objectives | points | n | shoal | moocore | agree |\n|---|---|---|---|---|---|")
    print("\n".join(hvc_rows))


if __name__ == "__main__":
    main()
