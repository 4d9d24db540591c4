"""The tables of `bench_lcbench.py --report`: the anchors' definitions, with the seed spread.

Definitions (the anchors' `summarize.py`, whose helpers this imports): y*(task) = max(y_ref, every
incumbent any loaded run reached), or y_ref with `clip` (incumbents capped there: no credit for
surrogate predictions above every one of 20,000 random configurations); normalised regret at t =
(y* - incumbent(t)) / (y* - median final accuracy); mean over tasks of the seed-mean; mean rank of
the seed-mean per task (ties share); speed-up over random search = T / first time the seed-mean
curve reaches random search's regret at T, median over tasks (not reached = 0). Added here: the
spread over seeds (each seed's task-mean regret and task-mean rank, min-max over seeds), the
scheduler overhead per decision, and the issue's targets for the default method `shoal`.
"""

from __future__ import annotations

import gzip
import json
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import numpy as np
from common import FRACTIONS, reference  # the anchors' (on sys.path through lcbench_plugin)
from summarize import inc_at, mean_curve, nreg, ranks

DEFAULT = "shoal"


def load(paths: Sequence[str]) -> list[dict[str, Any]]:
    """Rows with status ok at the full budget; the last row wins for a repeated key."""
    rows: dict[tuple[str, str, int], dict[str, Any]] = {}
    for path in paths:
        with (gzip.open(path, "rt") if str(path).endswith(".gz") else open(path)) as f:
            for line in f:
                row = json.loads(line)
                if row.get("status") == "ok" and row.get("budget_fraction", 1.0) == 1.0:
                    row["traj"] = row.get("trajectory", row.get("traj"))
                    rows[(row["method"], row["task"], row["seed"])] = row
    return list(rows.values())


def fmt(x: float | None, nd: int = 3) -> str:
    return "-" if x is None or not np.isfinite(x) else f"{x:.{nd}f}"


def report(paths: Sequence[str], *, clip: bool = False, ystar_from: Sequence[str] = (),
           methods: Sequence[str] | None = None, tasks: Sequence[str] | None = None,
           seeds: Sequence[int] | None = None) -> str:
    """Markdown tables for the rows in `paths` (see the module docstring)."""
    rows = load(paths)
    extra = load(ystar_from) if ystar_from else []
    if clip:
        for r in rows:
            cap = reference(r["task"])["y_ref"]
            r["traj"] = [[t, min(v, cap)] for t, v in r["traj"]]
            r["final_incumbent"] = min(r["final_incumbent"], cap)
    everything = rows + extra
    rows = [r for r in rows if (not methods or r["method"] in methods) and (not tasks or r["task"] in tasks)
            and (seeds is None or r["seed"] in seeds)]
    by: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    for r in rows:
        by[(r["method"], r["task"])].append(r)
    names = list(dict.fromkeys(methods or [r["method"] for r in sorted(rows, key=_order)]))
    names = [m for m in names if any(k[0] == m for k in by)]
    all_tasks = sorted({k[1] for k in by}, key=int)
    full = [t for t in all_tasks if all((m, t) in by for m in names)]
    refs = {t: reference(t) for t in all_tasks}
    ystar = {t: max([refs[t]["y_ref"]] + ([] if clip else [r["final_incumbent"] for r in everything
                                                          if r["task"] == t])) for t in all_tasks}
    denom = {t: ystar[t] - refs[t]["median_final"] for t in all_tasks}

    def regret(r: dict[str, Any], f: float) -> float:
        return float(nreg(inc_at(r["traj"], f * refs[r["task"]]["T"]), ystar[r["task"]], denom[r["task"]]))

    table = {k: [float(np.mean([regret(r, f) for r in rs])) for f in FRACTIONS] for k, rs in by.items()}
    seed_sets = {m: sorted({r["seed"] for r in rows if r["method"] == m}) for m in names}
    out: list[str] = []
    put = out.append
    put(f"## LCBench{' (incumbents capped at the best of 20,000 random configurations)' if clip else ''}: "
        f"{len(all_tasks)} tasks; methods (seeds): " + ", ".join(f"{m} ({len(seed_sets[m])})" for m in names))
    if len(full) != len(all_tasks):
        put(f"\nRanks and speed-ups use the {len(full)} tasks every method ran on.")
    hdr = "| method | " + " | ".join(f"{int(f * 100)}% T" for f in FRACTIONS) + " |"
    sep = "|---|" + "---:|" * len(FRACTIONS)
    put("\n### Mean normalised regret (mean over tasks of the seed-mean; lower is better)\n")
    put(hdr)
    put(sep)
    mean_regret = {}
    for m in names:
        ts = [t for t in full if (m, t) in table]
        mean_regret[m] = [float(np.mean([table[(m, t)][i] for t in ts])) for i in range(len(FRACTIONS))]
        put(f"| {m} | " + " | ".join(fmt(v) for v in mean_regret[m]) + " |")
    put("\n### Mean rank over tasks (1 = best; rank of the seed-mean regret within each task)\n")
    put(hdr)
    put(sep)
    by_method = _ranks(names, full, lambda m, t: table[(m, t)])
    rank = {m: [float(np.mean(v)) for v in by_method[j]] for j, m in enumerate(names)}
    for m in names:
        put(f"| {m} | " + " | ".join(fmt(v, 2) for v in rank[m]) + " |")
    common_seeds = sorted(set.intersection(*(set(s) for s in seed_sets.values()))) if names else []
    if len(common_seeds) > 1:
        put(f"\n### Spread over seeds {common_seeds}: min-max over seeds of the task-mean regret and of the "
            "mean rank (each seed ranked alone)\n")
        put("| method | " + " | ".join(f"regret {int(f * 100)}%" for f in FRACTIONS) + " | "
            + " | ".join(f"rank {int(f * 100)}%" for f in FRACTIONS) + " |")
        put("|---|" + "---:|" * (2 * len(FRACTIONS)))
        one = {(r["method"], r["task"], r["seed"]): r for r in rows}
        per_seed_regret = {m: [] for m in names}
        per_seed_rank = {m: [] for m in names}
        for s in common_seeds:
            cells = {(m, t): [regret(one[(m, t, s)], f) for f in FRACTIONS]
                     for m in names for t in full if (m, t, s) in one}
            ts = [t for t in full if all((m, t) in cells for m in names)]
            seed_ranks = _ranks(names, ts, lambda m, t, cells=cells: cells[(m, t)])
            for j, m in enumerate(names):
                per_seed_regret[m].append([float(np.mean([cells[(m, t)][i] for t in ts]))
                                           for i in range(len(FRACTIONS))])
                per_seed_rank[m].append([float(np.mean(v)) for v in seed_ranks[j]])
        for m in names:
            reg = np.array(per_seed_regret[m])
            rk = np.array(per_seed_rank[m])
            cols = range(len(FRACTIONS))
            put(f"| {m} | " + " | ".join(f"{reg[:, i].min():.3f}-{reg[:, i].max():.3f}" for i in cols)
                + " | " + " | ".join(f"{rk[:, i].min():.2f}-{rk[:, i].max():.2f}" for i in cols) + " |")
    speedup: dict[str, float] = {}
    if "random" in names:
        put("\n### Speed-up over random search (T / time to reach random search's regret at 100% T; median "
            "over tasks, not reached = 0)\n")
        put("| method | median speed-up | mean speed-up (reached tasks) | tasks reached |")
        put("|---|---:|---:|---:|")
        for m in names:
            values = []
            for t in full:
                target = table[("random", t)][-1]
                times, curve = mean_curve([r["traj"] for r in by[(m, t)]], ystar[t], denom[t])
                reach = next((x for x, v in zip(times, curve, strict=True)
                              if v <= target + 1e-12 and x <= refs[t]["T"]), None)
                values.append(refs[t]["T"] / reach if reach else 0.0)
            v = np.array(values)
            speedup[m] = float(np.median(v))
            reached = v[v > 0]
            put(f"| {m} | {speedup[m]:.2f} | {fmt(float(reached.mean()) if len(reached) else None, 2)} | "
                f"{len(reached)}/{len(v)} |")
    put("\n### Cost per run (mean over tasks and seeds)\n")
    put("| method | epochs | trials | resumes | overhead per decision (ms) | max decision (ms) | "
        "overhead per run (s) | wall per run (s) |")
    put("|---|---:|---:|---:|---:|---:|---:|---:|")
    per_decision = {}
    for m in names:
        rs = [r for r in rows if r["method"] == m]
        per_decision[m] = float(np.mean([r["overhead"]["per_decision_ms"] for r in rs]))
        put(f"| {m} | {np.mean([r['epochs_trained'] for r in rs]):.0f} | "
            f"{np.mean([r['trials_started'] for r in rs]):.0f} | "
            f"{np.mean([r.get('resumes', 0) for r in rs]):.0f} | "
            f"{per_decision[m]:.2f} | {max(r['overhead']['max_decision_ms'] for r in rs):.0f} | "
            f"{np.mean([r['overhead']['start_s'] + r['overhead']['report_s'] for r in rs]):.2f} | "
            f"{np.mean([r.get('run_wall_s', r.get('wall_s', 0.0)) for r in rs]):.1f} |")
    if DEFAULT in names and len(names) > 1:
        out += _targets(names, mean_regret, rank, speedup, per_decision)
    return "\n".join(out)


def _order(row: dict[str, Any]) -> tuple[int, str]:
    """shoal's methods first, then the peers, each alphabetical."""
    return (0 if row["method"].startswith("shoal") else 1, row["method"])


def _ranks(names: list[str], tasks: list[str], cell: Any) -> list[list[list[float]]]:
    """Per method, per fraction: the method's rank on each task."""
    out = [[[] for _ in FRACTIONS] for _ in names]
    for t in tasks:
        for i in range(len(FRACTIONS)):
            for j, r in enumerate(ranks([cell(m, t)[i] for m in names])):
                out[j][i].append(float(r))
    return out


def _targets(names: list[str], regret: dict[str, list[float]], rank: dict[str, list[float]],
             speedup: dict[str, float], per_decision: dict[str, float]) -> list[str]:
    """Issue 17's targets for `shoal` against the other methods loaded (peers: not shoal's)."""
    others = [m for m in names if m != DEFAULT]
    peers = [m for m in others if not m.startswith("shoal")]
    out = [f"\n### Targets for `{DEFAULT}` (against {len(others)} other methods; "
           "peers = the non-shoal ones)\n"]
    for i, f in enumerate(FRACTIONS):
        best = min(others, key=lambda m: rank[m][i])
        ok = rank[DEFAULT][i] < rank[best][i]
        out.append(f"- rank at {int(f * 100)}% T: {rank[DEFAULT][i]:.2f} vs best other {best} "
                   f"{rank[best][i]:.2f}: {'met' if ok else 'NOT met'}")
    for i, f in ((1, 0.10), (4, 1.00)):
        best = min(others, key=lambda m: regret[m][i])
        ok = regret[DEFAULT][i] < regret[best][i]
        out.append(f"- regret at {int(f * 100)}% T: {regret[DEFAULT][i]:.3f} vs best other {best} "
                   f"{regret[best][i]:.3f}: {'met' if ok else 'NOT met'}")
    if speedup and peers:
        best = max(peers, key=lambda m: speedup[m])
        ratio = speedup[DEFAULT] / speedup[best] if speedup[best] else float("inf")
        out.append(f"- median speed-up {speedup[DEFAULT]:.2f} vs best peer {best} {speedup[best]:.2f}: "
                   f"{ratio:.2f}x (target >= 1.5x): {'met' if ratio >= 1.5 else 'NOT met'}")
    out.append(f"- overhead per decision over the run: {per_decision[DEFAULT]:.2f} ms (at 1,000 trials: "
               "`--overhead`)")
    return out
