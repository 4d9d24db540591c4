#!/usr/bin/env python
"""`run_bench.py` on instances the variants were not chosen on: BBOB instances 4 and 5.

The shared split has instances 1-3 only (`--tier full`); a GP variant picked by its results there
needs checking on other instances of the same functions. Same arguments as run_bench.py;
`--tier full` here means instances 4 and 5 (48 problems with both dimensions).

    OMP_NUM_THREADS=1 python heldout.py --plugin shoal_adapters.py --optimizers optuna_gp \
        --tier full --out /tmp/heldout.jsonl
"""

from __future__ import annotations

import run_bench

run_bench.SPLIT["public"]["instances"] = [4, 5]

if __name__ == "__main__":
    run_bench.main()
