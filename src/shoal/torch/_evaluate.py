"""The one look at the test set: retrain the chosen configuration and measure it, once."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING

import torch

from shoal.exceptions import ConfigError
from shoal.torch._metrics import METRICS
from shoal.torch._splits import Holdout
from shoal.torch._task import TaskSpec, train_model

if TYPE_CHECKING:
    from shoal.study import Study

__all__ = ["EVALUATIONS_ATTR", "TASK_ATTR", "TEST_SCORE_ATTR", "Evaluation", "evaluate", "remember_task",
           "task_of"]

TASK_ATTR = "task"  # study system attribute holding the TaskSpec a study was tuned with
EVALUATIONS_ATTR = "test_evaluations"  # study user attribute: every evaluation, oldest first
# Study system attribute: the latest test score in the task's metric, which `shoal best` and
# `shoal studies` show (the CLI reads it by this name without importing torch).
TEST_SCORE_ATTR = "test_score"


@dataclass(frozen=True)
class Evaluation:
    """Test metrics of the chosen configuration, as recorded with the study."""

    study: str
    trial: int
    validation: float
    metrics: dict[str, float]
    n_test: int
    trained_on: str
    when: float


def remember_task(study: Study, spec: TaskSpec) -> None:
    """Store the task with the study, so `shoal evaluate` can rebuild the chosen model later."""
    study.storage.set_study_attrs(study.study_id, system={TASK_ATTR: spec.to_dict()})


def task_of(study: Study) -> TaskSpec:
    stored = study.storage.get_study(study.name).system_attrs.get(TASK_ATTR)
    if stored is None:
        raise ConfigError(f"task of study {study.name!r} must be known to evaluate it on the test set; "
                          "this study was not tuned with a task. Tune it with 'shoal tune TASK.yaml', "
                          "or pass spec= to evaluate().")
    return TaskSpec.from_dict(stored)


def evaluate(study: Study, *, spec: TaskSpec | None = None, force: bool = False) -> Evaluation:
    """Retrain the study's best configuration and measure it on the locked test set.

    With a holdout protocol the model is retrained exactly as its trial trained it (same split,
    same seed, best epoch's weights); with k-fold, on all the training data for the mean best
    epoch count of its folds. The test set is opened once; each opening is recorded with the study,
    and a second evaluation is refused unless `force=True`, because choosing between models by
    their test scores turns the test set into a validation set.
    """
    spec = spec or task_of(study)
    earlier = list(study.user_attrs.get(EVALUATIONS_ATTR, []))
    if earlier and not force:
        last = earlier[-1]
        shown = ", ".join(f"{k}={v:.4g}" for k, v in last["metrics"].items())
        raise ConfigError(f"test set of study {study.name!r} must be used once; it was, for trial "
                          f"{last['trial']} ({shown}). Re-evaluating after looking makes the test "
                          "score optimistic. Pass force=True (--force) if the data or code changed.")
    best = study.best_trial
    bundle = spec.load()
    if bundle.test is None:
        raise ConfigError(f"dataset of study {study.name!r} must have a test set to evaluate on. "
                          "Got a dataset without one: give from_csv a test_fraction.")
    if isinstance(spec.protocol, Holdout):
        fit_data, val_data = bundle.train.split(spec.protocol)[0]
        model, _ = train_model(spec, best.params, fit_data, val_data, trial=None, checkpoints=None,
                               seed=spec.seed)
        trained_on = f"the holdout training split ({len(fit_data)} examples), as in trial {best.number}"
    else:
        epochs = best.user_attrs.get("best_epochs") or [spec.epochs - 1]
        n_epochs = round(sum(epochs) / len(epochs)) + 1
        model, _ = train_model(spec, best.params, bundle.train, bundle.train, trial=None,
                               checkpoints=None, seed=spec.seed, epochs=n_epochs)
        trained_on = f"all {len(bundle.train)} training examples for {n_epochs} epochs"
    with bundle.test.unlock(reason=f"final evaluation of trial {best.number}", study=study) as test:
        metrics = _measure(model, test.to_tensors(), test.task)
        n_test = len(test)
    result = Evaluation(study.name, best.number, float(best.value or 0.0), metrics, n_test,
                        trained_on, time.time())
    study.set_user_attr(EVALUATIONS_ATTR, [*earlier, asdict(result)])
    name = spec.metric_for(bundle.test.task).name
    study.storage.set_study_attrs(study.study_id, system={TEST_SCORE_ATTR: {
        "trial": best.number, "metric": name, "value": metrics[name], "n_test": n_test,
        "uses": len(earlier) + 1}})
    return result


def _measure(model: torch.nn.Module, data: tuple[torch.Tensor, torch.Tensor], task: str) -> dict[str, float]:
    x, y = data
    device = next(model.parameters()).device
    model.eval()
    with torch.no_grad():
        outputs = model(x.to(device)).cpu()
    return {name: float(m.fn(outputs, y)) for name, m in METRICS.items() if m.task == task}
