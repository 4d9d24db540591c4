#!/usr/bin/env python
"""Start-up cost: `import shoal` beside `import optuna`, and the CLI's cheap commands, same run.

Each command runs in a fresh interpreter (no warm module cache inside the process; the OS file
cache is warmed by one untimed round), rounds alternate between the commands so load on the
machine hits them alike, and the table gives the median wall time of `--reps` rounds with the
ratio to `import optuna` (when Optuna is installed) and to a bare `python -c pass`:
- `python -c "import shoal"`, `python -c "import optuna"`, `python -c pass`;
- `shoal --help`, and `shoal studies` on a small SQLite file (one study of 20 trials) made first,
  both through `python -c "from shoal.cli import main; main([...])"`, as the console script does.
Targets (issue 15, item 10): `import shoal` at most half of `import optuna`; `shoal --help` and
`shoal studies` well under half a second on a quiet machine.

Run: .venv/bin/python benchmarks/bench_import.py [--reps 15]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import shoal


def _time(argv: list[str], env: dict[str, str], cwd: str) -> float:
    start = time.perf_counter()
    subprocess.run(argv, env=env, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--reps", type=int, default=15, help="timed rounds (default 15)")
    args = parser.parse_args()

    py = sys.executable
    src = str(Path(shoal.__file__).resolve().parents[1])  # time this checkout's shoal
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    with tempfile.TemporaryDirectory() as folder:
        url = f"sqlite:///{Path(folder) / 'bench.db'}"
        study = shoal.create_study(study_name="bench", storage=url,
                                   sampler=shoal.samplers.RandomSampler(seed=0))
        study.optimize(lambda t: t.suggest_float("x", 0.0, 1.0) ** 2, n_trials=20)
        study.storage.close()
        cli = "import sys; from shoal.cli import main; sys.exit(main({argv!r}))"
        commands = {
            "python -c pass": [py, "-c", "pass"],
            "import shoal": [py, "-c", "import shoal"],
            "shoal --help": [py, "-c", cli.format(argv=["--help"])],
            "shoal studies": [py, "-c", cli.format(argv=["studies", "--storage", url])],
        }
        if importlib.util.find_spec("optuna") is not None:
            commands["import optuna"] = [py, "-c", "import optuna"]
        for argv in commands.values():  # warm the file cache; not timed
            _time(argv, env, folder)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(args.reps):
            for name, argv in commands.items():
                times[name].append(_time(argv, env, folder))

    median = {name: statistics.median(values) for name, values in times.items()}
    optuna = median.get("import optuna")
    print(f"# bench_import: {args.reps} rounds, median wall time of a fresh interpreter")
    print(f"# python {platform.python_version()}, {platform.machine()}, {os.cpu_count()} cpus, "
          f"load {os.getloadavg()[0]:.2f}, shoal from {src}")
    print(f"{'command':<16} {'median s':>9} {'min s':>7} {'vs optuna':>10} {'minus python':>13}")
    for name, value in median.items():
        ratio = f"{value / optuna:.2f}" if optuna else "n/a"
        print(f"{name:<16} {value:9.3f} {min(times[name]):7.3f} {ratio:>10} "
              f"{value - median['python -c pass']:13.3f}")
    if optuna:
        verdict = "met" if median["import shoal"] <= optuna / 2 else "NOT met"
        print(f"import shoal / import optuna = {median['import shoal'] / optuna:.2f} "
              f"(target <= 0.50: {verdict})")


if __name__ == "__main__":
    main()
