"""Checks the problems against their known Pareto fronts and the hypervolume against moocore.

    python check_problems.py        # prints one line per check, exits 1 on the first mismatch

- ZDT1-4, ZDT6 on their fronts (x0 = t, the rest at g's minimum: 0): f2 = 1 - sqrt(f1) (ZDT1, ZDT4),
  1 - f1^2 (ZDT2, ZDT6), 1 - sqrt(f1) - f1 sin(10 pi f1) (ZDT3); ZDT1 with every x = 1 has g = 10.
- DTLZ1 (the last k variables at 0.5): sum f = 0.5; DTLZ2: sum f^2 = 1, in 2 and 3 objectives.
- The hypervolume of a dense front against the reference point equals BoTorch's `_max_hv`
  (ZDT1 120 + 2/3, ZDT2 120 + 1/3, DTLZ2 1.1^2 - pi/4 and 1.1^3 - pi/6) to within the gap left by
  the sampling, and `shoal.trial.hypervolume` equals `moocore.hypervolume` on random point sets.
"""

from __future__ import annotations

import math
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import problems


def check(what: str, ok: bool, detail: str = "") -> None:
    print(f"{'ok  ' if ok else 'FAIL'} {what} {detail}")
    if not ok:
        raise SystemExit(1)


def on_front(problem: problems.Problem, first: list[float], rest: float) -> np.ndarray:
    n = len(problem.params)
    k = len(first)
    return np.array([problem({f"x{i}": first[i] if i < k else rest for i in range(n)})])[0]


def main() -> None:
    from shoal.trial import hypervolume

    t = np.linspace(0.0, 1.0, 2001)
    fronts = {1: lambda f: 1 - np.sqrt(f), 2: lambda f: 1 - f**2,
              3: lambda f: 1 - np.sqrt(f) - f * np.sin(10 * math.pi * f), 4: lambda f: 1 - np.sqrt(f),
              6: lambda f: 1 - f**2}
    for k, front in fronts.items():
        pr = problems.zdt(k)
        f = np.array([on_front(pr, [x], 0.0) for x in t])
        err = float(np.max(np.abs(f[:, 1] - front(f[:, 0]))))
        check(f"zdt{k} front", err < 1e-12, f"(max |f2 - front(f1)| = {err:.1e} over {len(t)} points)")
    f = on_front(problems.zdt(1), [1.0], 1.0)
    check("zdt1 g at x = 1", abs(f[1] - 10 * (1 - math.sqrt(0.1))) < 1e-12, f"(f = {f.round(6).tolist()})")
    for name, max_hv in (("zdt1", 120 + 2 / 3), ("zdt2", 120 + 1 / 3)):
        pr = problems.make(name)
        pts = np.array([on_front(pr, [x], 0.0) for x in t])
        hv = hypervolume(pr.hv_points(pts), pr.reference)
        check(f"{name} front hypervolume", max_hv - 1e-3 < hv <= max_hv,
              f"({hv:.6f}, BoTorch's max {max_hv:.6f})")
    rng = np.random.default_rng(0)
    for m in (2, 3):
        u = rng.uniform(size=(2000, m - 1))
        d1 = np.array([on_front(problems.dtlz(1, m), list(x), 0.5) for x in u])
        d2 = np.array([on_front(problems.dtlz(2, m), list(x), 0.5) for x in u])
        check(f"dtlz1_m{m} front", bool(np.allclose(d1.sum(axis=1), 0.5)), "(sum f = 0.5)")
        check(f"dtlz2_m{m} front", bool(np.allclose((d2**2).sum(axis=1), 1.0)), "(sum f^2 = 1)")
        if m == 2:
            grid = np.array([on_front(problems.dtlz(2, 2), [x], 0.5) for x in t])
            hv, max_hv = hypervolume(grid, [1.1, 1.1]), 1.1**2 - math.pi / 4
        else:
            grid = np.array([on_front(problems.dtlz(2, 3), [a, b], 0.5)
                             for a in np.linspace(0, 1, 61) for b in np.linspace(0, 1, 61)])
            hv, max_hv = hypervolume(grid, [1.1] * 3), 1.1**3 - math.pi / 6
        check(f"dtlz2_m{m} front hypervolume", max_hv - (0.002 if m == 2 else 0.015) < hv <= max_hv + 1e-12,
              f"({hv:.5f}, BoTorch's max {max_hv:.5f})")
    f = on_front(problems.dtlz(1, 3), [1.0, 1.0], 0.0)  # g = 100 (5 + 5 * 0.25 - 5) = 125
    check("dtlz1_m3 g off the front", bool(np.allclose(f, [0.5 * 126, 0.0, 0.0])), f"(f = {f.tolist()})")
    try:
        import moocore
    except ImportError:
        print("skip moocore cross-check: moocore is not installed")
        return
    for m in (2, 3):
        for _ in range(20):
            pts = rng.uniform(size=(60, m))
            ours, theirs = hypervolume(pts, [1.0] * m), float(moocore.hypervolume(pts, ref=[1.0] * m))
            if abs(ours - theirs) > 1e-9:
                check(f"hypervolume vs moocore, {m} objectives", False, f"({ours} != {theirs})")
        check(f"hypervolume vs moocore, {m} objectives", True, "(20 random sets of 60 points)")


if __name__ == "__main__":
    main()
