"""What the report tests share: a small study with every outcome and hostile strings, an HTML reader."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest

from shoal.clock import FakeClock
from shoal.space import Categorical, Float
from shoal.storage import open_storage
from shoal.trial import Direction, TrialState

HOSTILE = "<img src=x onerror=alert(1)>"
HOSTILE_PARAM = "</script><img src=x onerror=alert(2)>"
STUDY = f"study {HOSTILE}"
# (state, value, curve, act): the values the tests' hand-made expectations come from.
TRIALS: list[tuple[TrialState, float | None, list[float], str]] = [
    (TrialState.COMPLETE, 0.50, [0.9, 0.7, 0.5], "relu"),
    (TrialState.COMPLETE, 0.20, [0.8, 0.4, 0.2], HOSTILE),
    (TrialState.PRUNED, None, [1.2], "relu"),
    (TrialState.COMPLETE, 0.35, [0.9, 0.5, 0.35], "tanh"),
    (TrialState.FAILED, None, [], "relu"),
    (TrialState.COMPLETE, 0.10, [0.6, 0.3, 0.1], "tanh"),
    (TrialState.RUNNING, None, [0.9, 0.8], "relu"),
]


def write_study(url: str, name: str = STUDY, *,
                trials: Sequence[tuple[TrialState, Any, list[float], str]] = TRIALS,
                directions: Sequence[Direction] = (Direction.MINIMIZE,)) -> None:
    """Write the study through shoal's storage: params lr, act and a hostile name; curves; attributes."""
    clock = FakeClock(start=1.7e9)
    storage = open_storage(url, clock=clock)
    study = storage.create_study(name, list(directions), user_attrs={"owner": HOSTILE})
    dists = {"lr": Float(1e-4, 1.0, log=True), "act": Categorical(["relu", "tanh", HOSTILE]),
             HOSTILE_PARAM: Float(0.0, 1.0)}
    for i, (state, value, curve, act) in enumerate(trials):
        trial = storage.create_trial(study.study_id, params={"lr": 10 ** -(1 + i % 3), "act": act,
                                                             HOSTILE_PARAM: i / 10},
                                     distributions=dists, user_attrs={"note": HOSTILE}, worker="w")
        clock.advance(2.0)
        train_loss = {str(s): v + 0.1 for s, v in enumerate(curve)}
        storage.update_trial(trial.trial_id, intermediate=dict(enumerate(curve)),
                             system_attrs={"curves": {"train_loss": train_loss}})
        if state is not TrialState.RUNNING:
            values = None if value is None else (list(value) if isinstance(value, tuple) else [value])
            storage.finish_trial(trial.trial_id, state=state, values=values)
    storage.close()


class Tags(HTMLParser):
    """Every start tag with its attributes, the text of every element, and the JSON blocks by plot id."""

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.texts: list[str] = []
        self.blocks: dict[str, str] = {}
        self._block: str | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        found = dict(attrs)
        self.tags.append((tag, found))
        if tag == "script" and found.get("type") == "application/json":
            self._block = found.get("data-plot") or ""

    def handle_endtag(self, tag: str) -> None:
        if tag == "script":
            self._block = None

    def handle_data(self, data: str) -> None:
        if self._block is not None:
            self.blocks[self._block] = self.blocks.get(self._block, "") + data
        else:
            self.texts.append(data)


def parse(text: str) -> Tags:
    tags = Tags()
    tags.feed(text)
    tags.close()
    return tags


def chromium_or_fail() -> str:
    """Debian's Chromium for the browser tests: missing, they skip on a developer's machine and fail in CI."""
    from shoal.reports import find_chromium

    found = find_chromium() or shutil.which("chromium")
    if found is None or not Path(found).exists():
        message = "Chromium is needed for the report's browser tests: apt-get install chromium."
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    return found
