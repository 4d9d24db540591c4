"""A study's budget in SQL storage: one row per study in `shoal_budgets` (schema v3).

A slot is taken by one conditional UPDATE (`used = used + 1 WHERE used < n_trials`): on
PostgreSQL a second UPDATE of the row waits for the first to commit and re-checks the condition
on the new row, and on SQLite `BEGIN IMMEDIATE` serialises writers, so two workers never both
take the last slot, on one machine or many.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from shoal.exceptions import StudyNotFound
from shoal.storage import _schema as q
from shoal.storage._protocol import BudgetRecord

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

__all__ = ["SQLBudgets"]

_B, _S = q.budgets.c, q.studies.c
_SID: sa.BindParameter[int] = sa.bindparam("b_sid", type_=sa.Integer)
GET_BUDGET = sa.select(_B.n_trials, _B.deadline, _B.used).where(_B.study_id == _SID)
STUDY_FOR_UPDATE = sa.select(_S.study_id).where(_S.study_id == _SID).with_for_update()
INSERT_BUDGET = sa.insert(q.budgets)
SET_BUDGET = (sa.update(q.budgets).where(_B.study_id == _SID)
              .values(n_trials=sa.bindparam("b_n"), deadline=sa.bindparam("b_deadline"),
                      used=sa.bindparam("b_used")))
CLAIM_SLOT = (sa.update(q.budgets)
              .where(_B.study_id == _SID, sa.or_(_B.n_trials.is_(None), _B.used < _B.n_trials))
              .values(used=_B.used + 1))
RELEASE_SLOT = (sa.update(q.budgets).where(_B.study_id == _SID, _B.used > 0)
                .values(used=_B.used - 1))


class SQLBudgets:
    """The budget methods of `SQLStorage` (the Storage protocol's last four), kept apart so each
    file stays short."""

    if TYPE_CHECKING:
        _engine: Engine
        _display: str

        def _writing(self) -> AbstractContextManager[Connection]: ...

    def set_budget(self, study_id: int, *, n_trials: int | None, deadline: float | None,
                   used_at_least: int = 0) -> BudgetRecord:
        """Store the study's budget; the used count becomes at least `used_at_least`."""
        with self._writing() as conn:
            if conn.execute(STUDY_FOR_UPDATE, {"b_sid": study_id}).first() is None:  # locks the study
                raise StudyNotFound(f"no study with id {study_id} in {self._display}.")
            row = conn.execute(GET_BUDGET, {"b_sid": study_id}).first()
            used = max(int(row[2]) if row is not None else 0, used_at_least)
            values = {"b_sid": study_id, "b_n": n_trials, "b_deadline": deadline, "b_used": used}
            if row is None:
                conn.execute(INSERT_BUDGET, {"study_id": study_id, "n_trials": n_trials,
                                             "deadline": deadline, "used": used})
            else:
                conn.execute(SET_BUDGET, values)
        return BudgetRecord(n_trials, deadline, used)

    def get_budget(self, study_id: int) -> BudgetRecord | None:
        """The study's stored budget; None when none was set."""
        with self._engine.connect() as conn:
            row = conn.execute(GET_BUDGET, {"b_sid": study_id}).first()
        return None if row is None else BudgetRecord(row[0], row[1], int(row[2]))

    def claim_budget(self, study_id: int) -> bool:
        """Take one slot atomically; False when all are used, True without a stored budget."""
        with self._writing() as conn:
            if conn.execute(CLAIM_SLOT, {"b_sid": study_id}).rowcount == 1:
                return True
            return conn.execute(GET_BUDGET, {"b_sid": study_id}).first() is None

    def release_budget(self, study_id: int) -> None:
        """Give back a slot that started no trial."""
        with self._writing() as conn:
            conn.execute(RELEASE_SLOT, {"b_sid": study_id})
