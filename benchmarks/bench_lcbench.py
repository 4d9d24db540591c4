"""Multi-fidelity tuning on LCBench: shoal's methods beside random search, Optuna and Syne Tune.

    python benchmarks/bench_lcbench.py --tasks dev --seeds 0 1 2 --out /tmp/lcb.jsonl      # every method
    python benchmarks/bench_lcbench.py --methods shoal random --tasks 34539 --seeds 0 --out /tmp/lcb.jsonl
    python benchmarks/bench_lcbench.py --report /tmp/lcb.jsonl [--clip-at-ref]
    python benchmarks/bench_lcbench.py --overhead --methods shoal shoal-asha-stop --trials 1000

The protocol is the LCBench anchors' (`../shared/bench/lcbench/anchors/README.md`), run by their own
code, imported from that folder rather than copied: `harness.simulate` (4 asynchronous workers in
simulated time, epoch by epoch, the clock from the surrogate's training times), `common.reference`
(per task: T = 25 x the median time of a full 52-epoch training of 200 random configurations; y_ref,
the best of 20,000 random configurations, and their median final accuracy). The peers are the
anchors' adapters (Optuna 5.0: `random`, `optuna-tpe`, `optuna-tpe-hb`; Syne Tune's current release:
`st16-asha`, `st16-bohb`), shoal's methods the plugin `lcbench_plugin.py`. One JSON line per
(method, task, seed): `method, task, seed, trajectory` ([[time, incumbent], ...] at each
improvement), `epochs` (trained by T), `overhead_s` (scheduler wall time, all decisions), and the
harness's whole row (`traj`, `overhead`, `trials_started`, ...: the anchors' `summarize.py` reads
these files too). `--out` appends and skips what it already holds, so an interrupted run resumes.

`--report FILE ...` prints the tables (`lcbench_report.py`); `--overhead` times one
`decide`, `next_job` and `suggest` on the history a method built over `--trials` trials.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import random
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

for _var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # as the anchors' run.py: one thread per run

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
import lcbench_plugin  # noqa: E402  (puts the anchors' folder on sys.path)

ANCHORS_DIR = lcbench_plugin.ANCHORS_DIR
PEERS = ("random", "optuna-tpe", "optuna-tpe-hb", "st16-asha", "st16-bohb")
SETUP = ("python3 -m venv .venv-lcb && .venv-lcb/bin/pip install -e '.[bench]' syne-tune "
         "(see benchmarks/README.md, section 11)")


Factory = tuple[Callable[[int], Any], Callable[[int], dict[str, Any]]]


def method_factories(names: list[str]) -> dict[str, Factory]:
    """name -> (make(seed), settings(seed)) for shoal's methods and the peers."""
    import adapters  # the anchors' registry

    out: dict[str, Factory] = {}
    for name in names:
        if name in lcbench_plugin.METHODS:
            settings = lcbench_plugin.SETTINGS[name]
            out[name] = (lcbench_plugin.METHODS[name], lambda seed, s=settings: dict(s, seed=seed))
        elif name in adapters.METHODS:
            try:
                module = adapters.load(name)
                if module.LIBRARY == "syne-tune":
                    import syne_tune  # noqa: F401  (imported by the adapter's make(); say now if missing)
            except ImportError as err:
                sys.exit(f"Error: method {name!r} needs {err.name}: {SETUP}.")
            out[name] = (module.make, module.SETTINGS)
        else:
            known = sorted(lcbench_plugin.METHODS) + sorted(adapters.METHODS)
            sys.exit(f"Error: method {name!r} is unknown here. Choose from {', '.join(known)} "
                     "(shoal's multi-fidelity methods appear once their schedulers are in this shoal).")
    return out


def versions() -> dict[str, str]:
    out = {"python": platform.python_version(), "shoal": lcbench_plugin.shoal.__version__}
    for module in ("optuna", "syne_tune", "numpy", "onnxruntime"):
        with contextlib.suppress(ImportError):
            out[module] = __import__(module).__version__
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        out["shoal_commit"] = subprocess.run(["git", "-C", str(HERE), "rev-parse", "--short", "HEAD"],
                                             capture_output=True, text=True, check=True).stdout.strip()
    return out


def done_keys(path: Path) -> set[tuple[str, str, int]]:
    keys: set[tuple[str, str, int]] = set()
    if path.exists():
        for line in path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:  # a line cut by an interrupted run
                continue
            if row.get("status") == "ok":
                keys.add((row["method"], row["task"], row["seed"]))
    return keys


def run(args: argparse.Namespace) -> None:
    from common import N_WORKERS, reference, tasks_for

    from harness import simulate

    methods = args.methods or [*PEERS, *lcbench_plugin.METHODS]
    factories = method_factories(methods)
    tasks = [t for spec in args.tasks for t in tasks_for(spec)]
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    done = done_keys(out)
    env = versions()
    for seed in args.seeds:
        for task in tasks:
            budget = reference(task)["T"]
            for name in methods:
                if (name, task, seed) in done:
                    continue
                make, settings = factories[name]
                random.seed(seed)
                import numpy as np

                np.random.seed(seed)  # some peers draw from the global generators
                row: dict[str, Any] = {"method": name, "task": task, "seed": seed, "T": budget,
                                       "n_workers": N_WORKERS}
                started = time.time()
                try:
                    row.update(simulate(make(seed), task, budget))
                    row["status"] = "ok"
                except Exception as err:  # recorded, and the next run goes on
                    row.update(status="error", error=f"{type(err).__name__}: {err}",
                               traceback=traceback.format_exc()[-4000:])
                row["run_wall_s"] = round(time.time() - started, 3)
                if row["status"] == "ok":
                    row["trajectory"] = row["traj"]
                    row["epochs"] = row["epochs_trained"]
                    row["overhead_s"] = round(row["overhead"]["start_s"] + row["overhead"]["report_s"], 4)
                row["settings"] = settings(seed)
                row["versions"] = env
                with out.open("a") as f:
                    f.write(json.dumps(row) + "\n")
                print(f"{name:18s} task={task:7s} seed={seed} {row['status']} "
                      f"inc={row.get('final_incumbent', float('nan')):.3f} epochs={row.get('epochs')} "
                      f"trials={row.get('trials_started')} overhead={row.get('overhead_s')}s "
                      f"wall={row['run_wall_s']:.1f}s {row.get('error', '')}",
                      flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--tasks", nargs="+", default=["dev"],
                    help="task ids, or 'dev' (the 17 development tasks)")
    ap.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    ap.add_argument("--methods", nargs="+", default=None,
                    help=f"default: the peers ({', '.join(PEERS)}) and every shoal method in this shoal")
    ap.add_argument("--out", default="", help="append one JSON line per (method, task, seed) here")
    ap.add_argument("--report", nargs="+", default=None, metavar="FILE",
                    help="print the tables from these files (.jsonl or .jsonl.gz; the anchors' too)")
    ap.add_argument("--clip-at-ref", action="store_true",
                    help="report: cap incumbents at the best of 20,000 random configurations (y* = that)")
    ap.add_argument("--ystar-from", nargs="+", default=[], metavar="FILE",
                    help="report: files whose observations enter y* but are not tabulated")
    ap.add_argument("--overhead", action="store_true",
                    help="time decide / next_job / suggest on a history of --trials trials")
    ap.add_argument("--trials", type=int, default=1000)
    ap.add_argument("--task", default="34539", help="--overhead: the task whose curves build the history")
    args = ap.parse_args()
    if args.report:
        from lcbench_report import report

        print(report(args.report, clip=args.clip_at_ref, ystar_from=args.ystar_from,
                     methods=args.methods, tasks=None if args.tasks == ["dev"] else args.tasks,
                     seeds=args.seeds if "--seeds" in sys.argv else None))
    elif args.overhead:
        from lcbench_overhead import overhead

        print(overhead(methods=args.methods or ["shoal"], n_trials=args.trials, task=args.task))
    elif args.out:
        run(args)
    else:
        ap.error("give --out FILE (run), --report FILE ... or --overhead")


if __name__ == "__main__":
    main()
