"""`shoal evaluate NAME --test`: the one look at the test set, for the configuration tuning chose."""

from __future__ import annotations

import argparse
from dataclasses import asdict

from shoal.cli._output import CommandError, format_value, key_values, print_json, stdout
from shoal.cli._store import require_study
from shoal.study import load_study

__all__ = ["cmd_evaluate"]


def cmd_evaluate(args: argparse.Namespace) -> int:
    """Retrain the best configuration of a task study and report its test metrics, once."""
    if not args.test:
        raise CommandError("evaluate reads the locked test set; confirm with --test.",
                           hint=f"shoal evaluate {args.name} --test   (do it once, after tuning)")
    try:
        from shoal.torch import evaluate
    except ImportError as err:
        raise CommandError(str(err), hint="pip install 'shoal[torch]'") from None
    storage, _ = require_study(args.storage, args.name, write=True)
    result = evaluate(load_study(args.name, storage=storage), force=args.force)
    if args.json:
        print_json(asdict(result))
        return 0
    console = stdout()
    console.print(f"Test metrics of trial {result.trial} of {result.study!r} "
                  f"(validation {format_value(result.validation, 4)}), trained on {result.trained_on}, "
                  f"measured on {result.n_test} test examples:", style="bold")
    key_values(console, [(f"  {k}", format_value(v, 4)) for k, v in result.metrics.items()])
    console.print("Recorded with the study; evaluating again needs --force.")
    return 0
