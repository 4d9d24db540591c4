"""Multi-objective benchmark: shoal's samplers beside Optuna's on ZDT, DTLZ and LCBench.

One run = (problem, sampler, seed) for `--evals` evaluations through the public ask/tell API of
each library, recording the hypervolume after 50/100/200 evaluations, every objective value and
the time of every ask (the sampler's work; the objective is not timed). Runs are appended to
`--out` as JSON lines; runs already there are skipped, so a long run can be split and resumed.

    python run.py --out results/peers.jsonl --samplers optuna_nsga2 optuna_tpe --seeds 0 1 2 3 4
    python run.py --report results/runs.jsonl.gz

README.md (beside this file) says how to set up, what is measured and how to read the tables.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import platform
import subprocess
import sys
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before numpy: BLAS on one thread (GP samplers)
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import problems
import report

CHECKPOINTS = (50, 100, 200)


# Adapters: `start(problem, seed)` returns (ask, tell); ask() -> (handle, config), tell(handle, values).
Adapter = Callable[[problems.Problem, int], tuple[Callable[[], tuple[Any, dict[str, Any]]],
                                          Callable[[Any, list[float]], None]]]


def _optuna_adapter(kind: str) -> Adapter:
    def start(problem: problems.Problem, seed: int) -> tuple[Any, Any]:
        import optuna
        from optuna.distributions import FloatDistribution, IntDistribution

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)
        samplers = {"random": optuna.samplers.RandomSampler, "tpe": optuna.samplers.TPESampler,
                    "gp": optuna.samplers.GPSampler, "nsga2": optuna.samplers.NSGAIISampler}
        study = optuna.create_study(directions=list(problem.directions), sampler=samplers[kind](seed=seed))
        dists = {p.name: IntDistribution(int(p.low), int(p.high), log=p.log) if p.is_int
                 else FloatDistribution(p.low, p.high, log=p.log) for p in problem.params}

        def ask() -> tuple[Any, dict[str, Any]]:
            trial = study.ask(fixed_distributions=dists)  # samples every parameter inside ask
            return trial, dict(trial.params)

        def tell(trial: Any, values: list[float]) -> None:
            study.tell(trial, values)

        return ask, tell

    return start


def _shoal_adapter(cls_name: str) -> Adapter:
    def start(problem: problems.Problem, seed: int) -> tuple[Any, Any]:
        import shoal

        space = shoal.Space({p.name: shoal.Int(int(p.low), int(p.high), log=p.log) if p.is_int
                             else shoal.Float(p.low, p.high, log=p.log) for p in problem.params})
        sampler = getattr(shoal.samplers, cls_name)(seed=seed)
        study = shoal.create_study(directions=list(problem.directions), space=space, sampler=sampler)

        def ask() -> tuple[Any, dict[str, Any]]:
            trial = study.ask()  # the sampler proposes the whole declared space here
            return trial, dict(trial.params)

        def tell(trial: Any, values: list[float]) -> None:
            study.tell(trial, values)

        return ask, tell

    return start


SAMPLERS: dict[str, Adapter] = {
    "optuna_random": _optuna_adapter("random"),
    "optuna_nsga2": _optuna_adapter("nsga2"),
    "optuna_tpe": _optuna_adapter("tpe"),
    "optuna_gp": _optuna_adapter("gp"),
    "shoal_random": _shoal_adapter("RandomSampler"),
    "shoal_qmc": _shoal_adapter("QMCSampler"),
    "shoal_c2f": _shoal_adapter("CoarseToFineSampler"),
    "shoal_tpe": _shoal_adapter("TPESampler"),
    "shoal_gp": _shoal_adapter("GPSampler"),
    "shoal_auto": _shoal_adapter("AutoSampler"),
}
PEERS = ("optuna_random", "optuna_nsga2", "optuna_tpe", "optuna_gp", "shoal_random")


def hypervolume_curve(problem: problems.Problem, values: np.ndarray,
                      checkpoints: list[int]) -> dict[str, float]:
    """Hypervolume of the first n evaluations, for each n in `checkpoints`."""
    from shoal.trial import hypervolume

    pts = problem.hv_points(values)
    return {str(n): hypervolume(pts[:n], problem.reference) for n in checkpoints if n <= len(pts)}


def run_one(problem: problems.Problem, sampler: str, seed: int, evals: int) -> dict[str, Any]:
    """One run: `evals` ask/evaluate/tell rounds; returns its JSON record."""
    ask, tell = SAMPLERS[sampler](problem, seed)
    values, ask_s, ask_cpu, tell_s = [], [], [], []
    start = time.perf_counter()
    for _ in range(evals):
        t0, c0 = time.perf_counter(), time.process_time()
        handle, config = ask()
        t1, c1 = time.perf_counter(), time.process_time()
        v = problem(config)
        t2 = time.perf_counter()
        tell(handle, v)
        ask_s.append(t1 - t0)
        ask_cpu.append(c1 - c0)
        tell_s.append(time.perf_counter() - t2)
        values.append(v)
    vals = np.array(values, dtype=float)
    checkpoints = sorted({*(c for c in CHECKPOINTS if c <= evals), evals})
    return {
        "problem": problem.name, "sampler": sampler, "seed": seed, "evals": evals,
        "hv": hypervolume_curve(problem, vals, checkpoints), "reference": list(problem.reference),
        "ask_mean": float(np.mean(ask_s)), "ask_median": float(np.median(ask_s)),
        "tell_mean": float(np.mean(tell_s)), "seconds": round(time.perf_counter() - start, 3),
        "ask_s": [round(t, 6) for t in ask_s], "ask_cpu_s": [round(t, 6) for t in ask_cpu],
        "values": [[float(f"{x:.7g}") for x in v] for v in values],
        "versions": VERSIONS,
    }


def _versions() -> dict[str, str]:
    import optuna

    import shoal

    src = Path(shoal.__file__).resolve().parent
    try:
        def git(*cmd: str) -> str:
            return subprocess.run(["git", "-C", str(src), *cmd], capture_output=True, text=True,
                                  check=True).stdout.strip()

        commit, dirty = git("rev-parse", "--short", "HEAD"), git("status", "--porcelain", "--", ".")
        src_commit = git("log", "-1", "--format=%h", "--", ".")  # the last commit that changed shoal
        commit += "+dirty" if dirty else ""
    except (OSError, subprocess.CalledProcessError):
        commit = src_commit = "unknown"
    return {"host": platform.node(), "shoal": str(src), "shoal_commit": commit,
            "shoal_src_commit": src_commit, "optuna": optuna.__version__,
            "numpy": np.__version__, "python": platform.python_version()}


VERSIONS: dict[str, str] = {}


def read_records(paths: list[str]) -> list[dict[str, Any]]:
    """Every record of the JSONL files (plain or .gz); a missing file has none."""
    out = []
    for p in paths:
        if not Path(p).exists():
            continue
        opener = gzip.open if p.endswith(".gz") else open
        with opener(p, "rt") as f:
            out += [json.loads(line) for line in f if line.strip()]
    return out


def write_caps(names: list[str]) -> None:
    """Compute and store the accuracy cap and ranges of 20,000 random configurations per task."""
    caps = json.loads(problems.CAPS_FILE.read_text()) if problems.CAPS_FILE.exists() else {}
    for name in names:
        if not name.startswith("lcbench_"):
            continue
        task = name.removeprefix("lcbench_")
        if task not in caps:
            caps[task] = problems.lcbench_random_range(task)
            print(f"{task}: {caps[task]}", flush=True)
    problems.CAPS_FILE.write_text(json.dumps(caps, indent=1, sort_keys=True) + "\n")


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--problems", nargs="+", default=["all"],
                    help="names, or 'all', 'synthetic', 'lcbench' (default all)")
    ap.add_argument("--samplers", nargs="+", default=list(PEERS), help=f"of {', '.join(SAMPLERS)}")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    ap.add_argument("--evals", type=int, default=200, help="evaluations per run (default 200)")
    ap.add_argument("--quick", action="store_true", help="a smoke run: 2 problems, seed 0, 20 evaluations")
    ap.add_argument("--out", help="JSONL file to append runs to (runs already in it are skipped)")
    ap.add_argument("--report", nargs="+", metavar="FILE", help="print the tables from JSONL files and exit")
    ap.add_argument("--write-caps", action="store_true", help="compute the LCBench caps (lcbench_caps.json)")
    args = ap.parse_args(argv)
    if args.report:
        print(report.render(read_records(args.report), tuple(SAMPLERS)))
        return
    names = problems.expand(["zdt1", "dtlz2_m3"] if args.quick else args.problems)
    if args.write_caps:
        write_caps(names)
        return
    unknown = [s for s in args.samplers if s not in SAMPLERS]
    if unknown:
        raise SystemExit(f"samplers must be among {', '.join(SAMPLERS)}. Got {unknown!r}.")
    seeds, evals = ([0], 20) if args.quick else (args.seeds, args.evals)
    old = read_records([args.out] if args.out else [])
    done = {(r["problem"], r["sampler"], r["seed"], r["evals"]) for r in old}
    VERSIONS.update(_versions())
    print(f"shoal from {VERSIONS['shoal']} ({VERSIONS['shoal_commit']}), optuna {VERSIONS['optuna']}",
          file=sys.stderr)
    for name in names:
        problem = problems.make(name)
        for sampler in args.samplers:
            for seed in seeds:
                if (name, sampler, seed, evals) in done:
                    continue
                try:
                    rec = run_one(problem, sampler, seed, evals)
                except Exception as e:  # a sampler that refuses several objectives: say so, go on
                    print(f"{name} {sampler} seed {seed}: skipped: {type(e).__name__}: "
                          f"{str(e).splitlines()[0] if str(e) else ''}", file=sys.stderr)
                    break
                hv = " ".join(f"hv@{k}={v:.4g}" for k, v in rec["hv"].items())
                print(f"{name} {sampler} seed {seed}: {hv} ask {1000 * rec['ask_mean']:.1f} ms "
                      f"({rec['seconds']:.1f} s)", file=sys.stderr, flush=True)
                if args.out:
                    with open(args.out, "a") as f:
                        f.write(json.dumps(rec) + "\n")


if __name__ == "__main__":
    main()
