"""The demo's search space and task, read from `examples/mnist1d_mlp.yaml`.

`shoal demo` tunes the same space and task (tests/cli/test_cli_demo.py checks that the example and
the demo agree), so the benchmarks train what the demo trains without importing the CLI's private
modules. The example's `patience` is dropped: the demo's task has none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "mnist1d_mlp.yaml"
_CONFIG: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))

DEMO_SPACE: dict[str, Any] = _CONFIG["space"]
DEMO_TASK: dict[str, Any] = {k: v for k, v in _CONFIG["task"].items() if k != "patience"}
