#!/usr/bin/env python
"""Per-problem wins of optimizers against a reference one, on the problems all of them ran.

A win is a lower final regret (log10(regret@100 + 1e-8), as `summarize.py`; with several runs of
a problem, from `run_bench.py --rep`, the mean over the files' runs), a tie an equal one (both at
the 1e-8 floor, typically). Files may be gzip-compressed (`.gz`). Without `--name`, every
record of a file counts as one optimizer.
`--name A B` keeps only records of optimizers A or B in the compared files, one run per problem
and repetition, A's where both ran (so one sampler recorded under two names, as shoal_gp_yjcap
became shoal_gp, reads as one); `--ref-name` does the same for the reference file.

    python wins.py results/optuna_gp_full.jsonl results/gp_full.jsonl /tmp/variant.jsonl [-v]
    python wins.py /tmp/all.jsonl /tmp/all.jsonl --ref-name optuna_gp --name shoal_gp_yjcap shoal_gp
"""

from __future__ import annotations

import argparse
import gzip
import json
import math


def final_log_regrets(path: str, reps: set[int] | None = None,
                      names: list[str] | None = None) -> dict[str, float]:
    """Per problem, the mean over its runs (seeds, `run_bench.py --rep`) of the final log regret;
    with `names`, only those optimizers' runs, the earliest-listed name's per (problem, rep)."""
    runs: dict[tuple[str, int], tuple[int, float]] = {}
    n_runs = 0
    with gzip.open(path, "rt") if path.endswith(".gz") else open(path) as f:
        for line in f:
            record = json.loads(line)
            rep = record.get("rep", 0)
            if record["status"] != "ok" or (reps is not None and rep not in reps):
                continue
            if names is None:
                key, rank = (record["problem"], n_runs), 0  # every run counts
                n_runs += 1
            elif record["optimizer"] in names:
                key, rank = (record["problem"], rep), names.index(record["optimizer"])
            else:
                continue
            value = math.log10(record["regret_at"]["100"] + 1e-8)
            if key not in runs or rank < runs[key][0]:
                runs[key] = (rank, value)
    by_problem: dict[str, list[float]] = {}
    for (problem, _), (_, value) in runs.items():
        by_problem.setdefault(problem, []).append(value)
    return {problem: sum(values) / len(values) for problem, values in by_problem.items()}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("reference", help="JSONL of the optimizer to beat")
    ap.add_argument("others", nargs="+", help="JSONL files of the optimizers to compare")
    ap.add_argument("-v", "--verbose", action="store_true", help="list the problems not won")
    ap.add_argument("--reps", type=int, nargs="+", help="only these repetitions (default: all runs)")
    ap.add_argument("--name", nargs="+", help="optimizers to keep in the compared files, preferred first")
    ap.add_argument("--ref-name", nargs="+", help="optimizer names to keep in the reference file")
    args = ap.parse_args()
    reps = set(args.reps) if args.reps else None
    ref = final_log_regrets(args.reference, reps, args.ref_name)
    others = {path: final_log_regrets(path, reps, args.name) for path in args.others}
    common = sorted(set(ref).intersection(*others.values()))
    for path, runs in others.items():
        wins = [p for p in common if runs[p] < ref[p] - 1e-12]
        ties = [p for p in common if abs(runs[p] - ref[p]) <= 1e-12]
        n = len(common)
        mean = sum(runs[p] for p in common) / n if n else math.nan
        print(f"{path}: {n} problems, W/T/L {len(wins)}/{len(ties)}/{n - len(wins) - len(ties)} "
              f"({100 * len(wins) / max(n, 1):.1f}% wins), mean log10 regret {mean:.2f} "
              f"(reference {sum(ref[p] for p in common) / max(n, 1):.2f})")
        if args.verbose:
            for p in common:
                if p not in wins:
                    print(f"  {p}: {runs[p]:.2f} vs {ref[p]:.2f}{' (tie)' if p in ties else ''}")


if __name__ == "__main__":
    main()
