"""The records every layer shares: trial states, directions, and the frozen view of a trial."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from shoal.exceptions import ConfigError
from shoal.space import Param

__all__ = ["Direction", "FrozenTrial", "TrialState"]


class TrialState(str, Enum):
    """Where a trial is in its life.

    WAITING trials are enqueued and not yet claimed by a worker. A PAUSED trial stopped at a step
    with a checkpoint (a scheduler's rung, a person's pause): it holds no process, and any free
    worker may resume it, when it is RUNNING again as the same trial.
    """

    WAITING = "WAITING"
    RUNNING = "RUNNING"
    PAUSED = "PAUSED"
    COMPLETE = "COMPLETE"
    PRUNED = "PRUNED"
    FAILED = "FAILED"

    @property
    def is_finished(self) -> bool:
        """COMPLETE, PRUNED or FAILED: the trial will never run again (PAUSED may)."""
        return self in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAILED)


class Direction(str, Enum):
    """Whether the objective is minimised or maximised."""

    MINIMIZE = "minimize"
    MAXIMIZE = "maximize"

    @property
    def sign(self) -> float:
        """Multiplier that turns a value into a score where lower is better."""
        return 1.0 if self is Direction.MINIMIZE else -1.0

    @classmethod
    def parse(cls, value: str | Direction) -> Direction:
        if isinstance(value, Direction):
            return value
        try:
            return cls(str(value).lower())
        except ValueError:
            raise ConfigError(f"direction must be 'minimize' or 'maximize'. Got {value!r}.") from None


@dataclass(frozen=True)
class FrozenTrial:
    """An immutable snapshot of one trial, as storage returns it.

    `score`, `scores` and `intermediate_scores` are sign-normalised (lower is better), so
    algorithms never need the study's directions. `score` is single-objective only; a trial of a
    study with several objectives has `scores` (one per objective) and no `score`.

    Attributes:
        number: Position of the trial in its study, unique and gap-free from 0.
        trial_id: Identifier of the trial across the whole storage.
        state: Life-cycle state.
        params: Parameter values the objective saw.
        distributions: The parameter each value was drawn from.
        values: Final objective values (one per direction), or None.
        intermediate: Reported values by step.
        user_attrs / system_attrs: Free-form JSON attributes (system ones are shoal's own: zoom
            round, failure reason, retry lineage, the sampler that drew the trial, ...).
        signs: One per objective: +1.0 for a minimised objective, -1.0 for a maximised one.
        parent: Number of the trial this one derives from (a retry, a PBT parent, a rewind).
        checkpoint: Where the checkpoint the trial starts from is stored, if any.
        lineage: What happened to the trial after it started, oldest first, each a JSON mapping
            with an "event" key: "forked" (`parent`, `step`, `changed`: {name: [old, new]}),
            "paused" (`step`), "resumed" (`step`, `worker`), each with `at` (storage clock).
            Storage appends them; `params` stays what the trial started with.
    """

    number: int
    trial_id: int
    state: TrialState
    params: Mapping[str, Any] = field(default_factory=dict)
    distributions: Mapping[str, Param] = field(default_factory=dict)
    values: tuple[float, ...] | None = None
    intermediate: Mapping[int, float] = field(default_factory=dict)
    user_attrs: Mapping[str, Any] = field(default_factory=dict)
    system_attrs: Mapping[str, Any] = field(default_factory=dict)
    signs: tuple[float, ...] = (1.0,)
    datetime_start: float | None = None
    datetime_complete: float | None = None
    last_heartbeat: float | None = None
    worker: str | None = None
    parent: int | None = None
    checkpoint: str | None = None
    lineage: tuple[Mapping[str, Any], ...] = ()

    @property
    def sign(self) -> float:
        """The first objective's sign: the only one in a single-objective study."""
        return self.signs[0]

    @property
    def n_objectives(self) -> int:
        return len(self.signs)

    @property
    def value(self) -> float | None:
        """The single objective value (None until the trial completes)."""
        if self.values is None:
            return None
        if len(self.values) != 1:
            raise ConfigError(f"value of trial {self.number} must be single; the study has "
                              f"{len(self.values)} objectives. Use .values.")
        return self.values[0]

    @property
    def score(self) -> float | None:
        """The final value made lower-is-better; for a pruned or paused trial, its last report.

        Single-objective only: with several objectives there is no one score (use `scores`).
        """
        if len(self.signs) != 1:
            raise ConfigError(f"score of trial {self.number} must be single; the study has "
                              f"{len(self.signs)} objectives. Use .scores, or shoal.trial.pareto_front.")
        if self.values is not None:
            return self.sign * self.values[0]
        if self.state in (TrialState.PRUNED, TrialState.PAUSED) and self.intermediate:
            return self.sign * self.intermediate[max(self.intermediate)]
        return None

    @property
    def scores(self) -> tuple[float, ...] | None:
        """The final values made lower-is-better, one per objective; None without values.

        With one objective this is `(score,)`, so a pruned or paused trial that reported has it too.
        """
        if len(self.signs) == 1:
            score = self.score
            return None if score is None else (score,)
        if self.values is None or len(self.values) != len(self.signs):
            return None
        return tuple(s * v for s, v in zip(self.signs, self.values, strict=True))

    @property
    def constraints(self) -> tuple[float, ...] | None:
        """The constraint values recorded at completion (each <= 0 when satisfied), or None."""
        stored = self.system_attrs.get("constraints")
        return None if stored is None else tuple(float(c) for c in stored)

    @property
    def violation(self) -> float:
        """How far the trial is from feasible: the sum of its positive constraint values (0 if none)."""
        return float(sum(max(c, 0.0) for c in self.constraints or ()))

    @property
    def is_feasible(self) -> bool:
        """True when every recorded constraint is satisfied (or none was recorded)."""
        return self.violation == 0.0

    @property
    def intermediate_values(self) -> dict[int, float]:
        """Optuna's name for `intermediate`: the reported values by step, as reported."""
        return dict(self.intermediate)

    @property
    def intermediate_scores(self) -> dict[int, float]:
        return {step: self.sign * v for step, v in sorted(self.intermediate.items())}

    @property
    def curves(self) -> dict[str, dict[int, float]]:
        """Named curves reported with `trial.report(value, step, name=...)`, by name and step."""
        stored = self.system_attrs.get("curves", {})
        return {name: {int(s): float(v) for s, v in points.items()} for name, points in stored.items()}

    @property
    def last_step(self) -> int | None:
        return max(self.intermediate) if self.intermediate else None

    @property
    def forked_from(self) -> tuple[int, int | None] | None:
        """(parent number, parent's step) when this trial was forked from another trial; the step
        is None when the parent had no checkpoint (the fork then started from scratch)."""
        for event in self.lineage:
            if event.get("event") == "forked":
                step = event.get("step")
                return int(event["parent"]), None if step is None else int(step)
        return None

    @property
    def start_step(self) -> int:
        """The first step this trial trains: 0, or the step after the one it was forked at."""
        fork = self.forked_from
        return 0 if fork is None or fork[1] is None else fork[1] + 1

    @property
    def resumes(self) -> int:
        """How many times the trial was resumed after a pause."""
        return sum(1 for event in self.lineage if event.get("event") == "resumed")

    @property
    def duration(self) -> float | None:
        if self.datetime_start is None or self.datetime_complete is None:
            return None
        return self.datetime_complete - self.datetime_start

    @property
    def failure_reason(self) -> str | None:
        reason = self.system_attrs.get("fail_reason")
        return str(reason) if reason is not None else None

    @property
    def is_fixed(self) -> bool:
        """True when the parameters were given (enqueued, retried), not drawn by a sampler."""
        return bool(self.system_attrs.get("fixed_params"))

    def is_usable(self) -> bool:
        """True when the trial has finite scores to learn from (one per objective)."""
        scores = self.scores
        return scores is not None and all(math.isfinite(s) for s in scores)
