"""The tables of `run.py --report`: hypervolume per problem and sampler, wins, time per suggestion."""

from __future__ import annotations

import statistics
from collections import defaultdict
from typing import Any

import problems

WIN_AT = "100"
TIME_AT = 100  # time per suggestion is averaged over the first 100 asks, the budget every run reaches
COUNTERPARTS = {"shoal_tpe": "optuna_tpe", "shoal_gp": "optuna_gp", "shoal_random": "optuna_random"}


def _order(names: set[str], known: tuple[str, ...]) -> list[str]:
    return [n for n in known if n in names] + sorted(names - set(known))


def _latest(records: list[dict[str, Any]]) -> dict[tuple[str, str, int], dict[str, Any]]:
    """One record per (problem, sampler, seed): the longest run, the last written among equals."""
    out: dict[tuple[str, str, int], dict[str, Any]] = {}
    for r in records:
        key = (r["problem"], r["sampler"], r["seed"])
        if key not in out or r["evals"] >= out[key]["evals"]:
            out[key] = r
    return out


def _mean_hv(runs: dict[tuple[str, str, int], dict[str, Any]], at: str) -> dict[tuple[str, str], list[float]]:
    hv: dict[tuple[str, str], list[float]] = defaultdict(list)
    for (problem, sampler, _), r in runs.items():
        if at in r["hv"]:
            hv[problem, sampler].append(r["hv"][at])
    return hv


def _cell(xs: list[float], n_seeds: int) -> str:
    if not xs:
        return "-"
    sd = statistics.stdev(xs) if len(xs) > 1 else 0.0
    m = statistics.fmean(xs)
    s = f"{m:.4g} ± {sd:.2g}" if abs(m) < 1e4 else f"{m:,.0f} ± {sd:.2g}"
    return s if len(xs) == n_seeds else f"{s} ({len(xs)})"


def hv_tables(runs: dict[tuple[str, str, int], dict[str, Any]], probs: list[str], samplers: list[str]) -> str:
    """Mean hypervolume ± sd over seeds, one table per checkpoint."""
    n_seeds = len({k[2] for k in runs})
    out = []
    for at in sorted({k for r in runs.values() for k in r["hv"]}, key=int):
        hv = _mean_hv(runs, at)
        used = [s for s in samplers if any((p, s) in hv for p in probs)]
        if not used:
            continue
        out.append(f"### Hypervolume after {at} evaluations (mean ± sd over seeds; (n) = seeds when fewer "
                   f"than {n_seeds})\n")
        out.append("| problem (reference) | " + " | ".join(used) + " |")
        out.append("|---" * (len(used) + 1) + "|")
        for p in probs:
            ref = next(r["reference"] for k, r in runs.items() if k[0] == p)
            best = max((statistics.fmean(hv[p, s]) for s in used if hv.get((p, s))), default=None)
            cells = []
            for s in used:
                c = _cell(hv.get((p, s), []), n_seeds)
                cells.append(f"**{c}**" if hv.get((p, s)) and statistics.fmean(hv[p, s]) == best else c)
            out.append(f"| {p} ({', '.join(f'{x:g}' for x in ref)}) | " + " | ".join(cells) + " |")
        out.append("")
    return "\n".join(out)


def wins(runs: dict[tuple[str, str, int], dict[str, Any]], probs: list[str], samplers: list[str]) -> str:
    """Problems where each shoal sampler's mean hypervolume at 100 is larger than each peer's.

    At 100 evaluations, or at the largest checkpoint of the records when none reached 100 (--quick).
    """
    at = WIN_AT if any(WIN_AT in r["hv"] for r in runs.values()) else max(
        (k for r in runs.values() for k in r["hv"]), key=int)
    by_seed: dict[tuple[str, str], dict[int, float]] = {}
    for (p, s, seed), r in runs.items():
        if at in r["hv"]:
            by_seed.setdefault((p, s), {})[seed] = r["hv"][at]

    def paired(p: str, s: str, q: str) -> tuple[float, float] | None:
        """Both samplers' mean over the seeds both ran: a peer cut to fewer seeds is met on those."""
        a, b = by_seed.get((p, s), {}), by_seed.get((p, q), {})
        seeds = sorted(set(a) & set(b))
        if not seeds:
            return None
        return statistics.fmean(a[i] for i in seeds), statistics.fmean(b[i] for i in seeds)

    mine = [s for s in samplers if s.startswith("shoal_")]
    peers = [s for s in samplers if s.startswith("optuna_") or s == "shoal_random"]
    if not mine or not peers:
        return ""
    out = [f"### Wins at {at} evaluations: problems where the row's mean hypervolume is larger "
           "(wins/ties/losses, fraction of wins; means over the seeds both samplers ran)\n",
           "| shoal sampler | " + " | ".join(f"vs {q}" for q in peers) + " | worst fraction |",
           "|---" * (len(peers) + 2) + "|"]
    worst: dict[str, float] = {}
    weakest: dict[str, str] = {}
    for s in mine:
        cells, fracs = [], []
        for q in peers:
            if q == s:
                cells.append("-")
                continue
            pairs = [m for m in (paired(p, s, q) for p in probs) if m is not None]
            if not pairs:
                cells.append("-")
                continue
            common = pairs
            w = sum(x > y * (1 + 1e-12) + 1e-300 for x, y in pairs)
            t = sum(abs(x - y) <= 1e-12 * max(abs(y), 1e-300) for x, y in pairs)
            frac = w / len(common)
            fracs.append(frac)
            if frac == min(fracs):
                weakest[s] = f"{q}, {len(common)} problems"
            cells.append(f"{w}/{t}/{len(common) - w - t} ({100 * frac:.0f} %)")
        worst[s] = min(fracs) if fracs else 0.0
        out.append(f"| {s} | " + " | ".join(cells) + f" | {100 * worst[s]:.0f} % |")
    best = max((s for s in mine if s != "shoal_random"), key=lambda s: worst[s], default=None)
    if best is not None:
        verdict = "met" if worst[best] >= 0.7 else "not met"
        out.append(f"\nTarget (the best shoal sampler wins on >= 70 % of the problems against each peer): "
                   f"{verdict}: {best}, {100 * worst[best]:.0f} % against its strongest peer "
                   f"({weakest.get(best, '-')}).")
    return "\n".join(out) + "\n"


def times(runs: dict[tuple[str, str, int], dict[str, Any]], samplers: list[str]) -> str:
    """Time per suggestion (ask), over the first 100 asks of every run, by problem group."""
    groups = {"synthetic": lambda p: not p.startswith("lcbench_"),
              "lcbench": lambda p: p.startswith("lcbench_")}
    asks: dict[tuple[str, str, str], list[float]] = defaultdict(list)
    full: dict[str, list[float]] = defaultdict(list)
    for (p, s, _), r in runs.items():
        for g, member in groups.items():
            if member(p):
                asks[g, s, "wall"] += r["ask_s"][:TIME_AT]
                asks[g, s, "cpu"] += r.get("ask_cpu_s", [])[:TIME_AT]
        if r["evals"] >= 200:
            full[s] += r["ask_s"][:200]
    out = [f"### Time per suggestion (ms inside ask; wall mean / median / CPU mean over the first {TIME_AT} "
           "asks of every run; the last column: wall mean over all 200 asks of the runs that reached 200)\n",
           "| sampler | synthetic | LCBench | wall mean over 200 |", "|---|---|---|---|"]

    def ms(xs: list[float], f: Any) -> str:
        return f"{1000 * f(xs):.2f}" if xs else "-"

    for s in samplers:
        wall, cpu = "wall", "cpu"
        cells = [" / ".join([ms(asks[g, s, wall], statistics.fmean), ms(asks[g, s, wall], statistics.median),
                             ms(asks[g, s, cpu], statistics.fmean)]) for g in groups]
        out.append(f"| {s} | " + " | ".join([*cells, ms(full[s], statistics.fmean)]) + " |")
    ratios = []
    for s, q in COUNTERPARTS.items():
        common = [(k[0], k[2]) for k in runs if k[1] == s and (k[0], q, k[2]) in runs]
        if not common:
            continue
        pairs = [(runs[p, s, seed], runs[p, q, seed]) for p, seed in common]
        key = "ask_cpu_s" if all("ask_cpu_s" in a and "ask_cpu_s" in b for a, b in pairs) else "ask_s"
        a = sum(sum(x[key][:TIME_AT]) for x, _ in pairs)
        b = sum(sum(y[key][:TIME_AT]) for _, y in pairs)
        verdict = "no more than" if a <= b else "MORE than"
        ratios.append(f"- {s} / {q}: {a / b:.2f} ({'CPU' if key == 'ask_cpu_s' else 'wall'} time) on "
                      f"{len(common)} common runs: {verdict} its counterpart")
    if ratios:
        out += ["", f"Time ratios on the same (problem, seed), total over the first {TIME_AT} asks:", *ratios]
    return "\n".join(out) + "\n"


def render(records: list[dict[str, Any]], sampler_order: tuple[str, ...]) -> str:
    """Every table, from raw records; samplers in `sampler_order` first."""
    if not records:
        return "no records"
    runs = _latest(records)
    probs = _order({k[0] for k in runs}, problems.ALL)
    samplers = _order({k[1] for k in runs}, sampler_order)
    seeds = sorted({k[2] for k in runs})
    head = (f"{len(runs)} runs: {len(probs)} problems, {len(samplers)} samplers, seeds {seeds}. "
            "Hypervolume of the sign-normalised objectives against the fixed reference point in brackets "
            "(LCBench: capped error and log time rescaled to the random configurations' range, "
            "reference (1, 1)); "
            "the best mean per row in bold.\n")
    return "\n".join([head, hv_tables(runs, probs, samplers), wins(runs, probs, samplers),
                      times(runs, samplers)])
