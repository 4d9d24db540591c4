"""The trials as CSV: a text cell a spreadsheet would run as a formula is written inert."""

from __future__ import annotations

import csv
import io

from shoal.space import Categorical, Float
from shoal.trial import FrozenTrial, TrialState
from shoal.visualization import trials_csv


def test_formula_like_text_gets_an_apostrophe_and_numbers_stay_numbers() -> None:
    choices = Categorical(["=HYPERLINK(\"http://x\")", "+1", "-cmd", "@SUM(A1)", "adam"])
    trials = [FrozenTrial(i, i, TrialState.COMPLETE, params={"opt": choice, "lr": -0.5 * i},
                          distributions={"opt": choices, "lr": Float(-5.0, 0.0)}, values=(float(i),))
              for i, choice in enumerate(choices.choices)]
    rows = list(csv.DictReader(io.StringIO(trials_csv(trials))))
    assert [r["params_opt"] for r in rows] == ["'=HYPERLINK(\"http://x\")", "'+1", "'-cmd", "'@SUM(A1)",
                                               "adam"]
    assert [float(r["params_lr"]) for r in rows] == [-0.0, -0.5, -1.0, -1.5, -2.0]
    assert [float(r["value"]) for r in rows] == [0.0, 1.0, 2.0, 3.0, 4.0]
