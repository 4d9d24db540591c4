#!/usr/bin/env bash
# The peers' runs behind RESULTS.md section 10, in order of importance, on one core (nice -n 19).
# Resumable: run it again and it skips what results/peers.jsonl already holds.
# Cuts, to fit about an hour of one core on the shared 2-core machine (one Optuna GP run to 100
# evaluations took 20-45 s on ZDT and about 150 s on an LCBench task; 138 s and 309 s to 200):
# Optuna's TPE and GP stop at 100 evaluations, and Optuna's GP runs on 3 of the 17 LCBench tasks
# (LCBENCH_GP). Random search (both libraries) and NSGA-II run everything to 200.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PY:-../../.venv/bin/python}
OUT=${OUT:-results/peers.jsonl}
LCBENCH_GP=${LCBENCH_GP:-"lcbench_34539 lcbench_126025 lcbench_167149"}
run() { nice -n 19 "$PY" run.py --out "$OUT" "$@"; }
run --problems all --samplers optuna_random optuna_nsga2 shoal_random
run --problems all --samplers optuna_tpe --evals 100
run --problems synthetic --samplers optuna_gp --evals 100 --seeds 0 1 2
# shellcheck disable=SC2086
run --problems $LCBENCH_GP --samplers optuna_gp --evals 100 --seeds 0 1 2
run --problems synthetic --samplers optuna_gp --evals 100 --seeds 3 4
# shellcheck disable=SC2086
run --problems $LCBENCH_GP --samplers optuna_gp --evals 100 --seeds 3 4
