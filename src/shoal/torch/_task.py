"""A tuning task: dataset, model family, validation protocol and budget, turned into an objective."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NamedTuple

from torch.nn import functional

from shoal._validate import integer
from shoal.exceptions import ConfigError
from shoal.space import Space
from shoal.torch._checkpoint import (
    STATE,
    CheckpointStore,
    TrialCheckpoints,
    read_checkpoint,
    wants_checkpoints,
)
from shoal.torch._data import ArrayData, DataBundle
from shoal.torch._dense import apply_max_norm
from shoal.torch._hparams import Range, read_float, read_int
from shoal.torch._loaders import BUILTIN_DATASETS, from_csv, load_dataset
from shoal.torch._loop import EarlyStopping, FitResult, fit
from shoal.torch._metrics import Metric, default_metric, get_metric
from shoal.torch._models import MODEL_KEYS, build_model
from shoal.torch._optim import OPTIMIZER_KEYS, build_optimizer
from shoal.torch._runtime import configure_threads, release_freed_memory, seed_everything, select_device
from shoal.torch._schedules import SCHEDULE_KEYS, build_lr_schedule
from shoal.torch._splits import Holdout, Task, ValidationProtocol, protocol_from_dict

if TYPE_CHECKING:
    from torch import Tensor, nn

    from shoal.study import Trial

__all__ = ["TRAIN_KEYS", "TaskObjective", "TaskSpec", "TrainSettings", "train_config", "train_model"]

# Hyperparameters the training loop itself reads (the rest go to the model and optimiser builders).
TRAIN_KEYS = frozenset({"batch_size", "epochs", "clip_grad_norm"})
_SPEC_KEYS = ("dataset", "model", "metric", "protocol", "epochs", "batch_size", "patience",
              "min_delta", "seed", "device", "threads", "checkpoints", "standardize")
_BUNDLES: dict[str, DataBundle] = {}  # per process: workers load a dataset once, not per trial


@dataclass(frozen=True)
class TaskSpec:
    """What to tune, as a `task:` section of a `shoal tune` YAML file says it.

    Args:
        dataset: A built-in name (mnist1d, digits, breast_cancer, wine) or
            `{"csv": path, "target": column}`.
        model: Model family: "mlp", "cnn1d" or "cnn2d".
        metric: accuracy, cross_entropy, macro_f1, mse or mae; the study's direction follows it.
            Defaults to accuracy (classification) or mse (regression).
        protocol: Holdout (20% of the training data, stratified) or KFold.
        epochs / batch_size: Defaults when the space does not tune them.
        patience: Early stopping on the validation metric after this many epochs without
            improvement (None: off). min_delta: smallest change that counts as improvement.
        seed: Seeds data splits, initialisation and shuffling; every trial uses the same one, so
            configurations are compared on equal terms.
        checkpoints: Save every epoch through the trial, so an interrupted trial's retry resumes
            where it stopped. Also on, whatever this says, when the study's scheduler pauses or
            forks trials, or a trial continues from a step (`wants_checkpoints`).
    """

    dataset: str | Mapping[str, Any]
    model: str = "mlp"
    metric: str | None = None
    protocol: ValidationProtocol = field(default_factory=Holdout)
    epochs: int = 20
    batch_size: int = 64
    patience: int | None = None
    min_delta: float = 0.0
    seed: int = 0
    device: str = "auto"
    threads: int | None = None
    checkpoints: bool = False
    standardize: bool = False

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> TaskSpec:
        if not isinstance(data, Mapping):
            raise ConfigError(f"task must be a mapping with at least a dataset. Got {data!r}.")
        unknown = sorted(set(data) - set(_SPEC_KEYS))
        if unknown:
            raise ConfigError(f"keys of task must be among {', '.join(_SPEC_KEYS)}. Got {unknown!r}.")
        if "dataset" not in data:
            raise ConfigError("dataset of task must be given, e.g. 'dataset: mnist1d'. Got nothing.")
        kwargs = dict(data)
        if "protocol" in kwargs:
            kwargs["protocol"] = protocol_from_dict(kwargs["protocol"])
        spec = cls(**kwargs)
        spec.check()
        return spec

    def to_dict(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in _SPEC_KEYS}
        out["protocol"] = self.protocol.to_dict()
        out["dataset"] = self.dataset if isinstance(self.dataset, str) else dict(self.dataset)
        return out

    def check(self) -> None:
        if self.model not in MODEL_KEYS:
            raise ConfigError(f"model of task must be one of {', '.join(map(repr, MODEL_KEYS))}. "
                              f"Got {self.model!r}.")
        if isinstance(self.dataset, str) and self.dataset not in BUILTIN_DATASETS:
            raise ConfigError(f"dataset of task must be one of {', '.join(BUILTIN_DATASETS)} or "
                              f"{{csv: path, target: column}}. Got {self.dataset!r}.")
        for key in ("epochs", "batch_size"):
            integer(getattr(self, key), what=key, owner="task", low=1)
        integer(self.patience, what="patience", owner="task", low=1, none=True,
                hint="Write null (or leave it out) to turn early stopping off.")
        if self.metric is not None:
            get_metric(self.metric)

    def allowed_params(self) -> frozenset[str]:
        """Every hyperparameter name a space may tune for this task."""
        return MODEL_KEYS[self.model] | OPTIMIZER_KEYS | SCHEDULE_KEYS | TRAIN_KEYS

    def check_space(self, space: Space) -> None:
        """Fail now, not at the first trial, when the space names a hyperparameter nothing reads."""
        unknown = sorted(set(space) - self.allowed_params())
        if unknown:
            raise ConfigError(f"parameters of the space must be hyperparameters the {self.model!r} "
                              f"task reads: {', '.join(sorted(self.allowed_params()))}. Got {unknown!r}.")

    def load(self) -> DataBundle:
        """The dataset, loaded once per process."""
        key = repr(self.to_dict()["dataset"]) + f"|{self.seed}|{self.standardize}"
        if key not in _BUNDLES:
            if isinstance(self.dataset, str):
                _BUNDLES[key] = load_dataset(self.dataset, seed=self.seed, standardize=self.standardize)
            else:
                options = dict(self.dataset)
                if "csv" not in options or "target" not in options:
                    raise ConfigError("dataset of task must be a built-in name or {csv: path, target: "
                                      f"column}}. Got {options!r}.")
                path = options.pop("csv")
                _BUNDLES[key] = from_csv(path, seed=self.seed, **options)
        return _BUNDLES[key]

    def resolved_metric(self) -> Metric:
        """The task's metric; the default one needs the data to know whether it classifies."""
        return self.metric_for(self.load().train.task)

    def metric_for(self, task: Task) -> Metric:
        """The metric to tune on data of `task`: the one named, else the task's default."""
        return get_metric(self.metric) if self.metric is not None else default_metric(task)

    @property
    def direction(self) -> str:
        return self.resolved_metric().direction

    def objective(self) -> TaskObjective:
        return TaskObjective(self)


class TrainSettings(NamedTuple):
    """The hyperparameters the training loop itself reads (`TRAIN_KEYS`), for one configuration."""

    epochs: int
    batch_size: int
    clip_grad_norm: float | None


def train_config(spec: TaskSpec, params: Mapping[str, Any]) -> TrainSettings:
    """The loop's keys of `params`, read once, with the task's values as defaults.

    >>> train_config(TaskSpec(dataset="wine", epochs=5), {"batch_size": 32.0, "clip_grad_norm": "1.0"})
    TrainSettings(epochs=5, batch_size=32, clip_grad_norm=1.0)
    """
    epochs = read_int(params, "epochs", spec.epochs, owner="task", within=Range(low=1))
    batch_size = read_int(params, "batch_size", spec.batch_size, owner="task", within=Range(low=1))
    clip = None
    if params.get("clip_grad_norm") is not None:
        clip = read_float(params, "clip_grad_norm", 0.0, owner="task", within=Range(low=0, low_open=True))
    return TrainSettings(epochs, batch_size, clip)


class TaskObjective:
    """The objective `shoal tune` runs for a task: train under the validation protocol, return
    the mean validation metric. Picklable, so spawned and remote workers can run it."""

    def __init__(self, spec: TaskSpec) -> None:
        self.spec = spec

    def __call__(self, trial: Trial) -> float:
        try:
            return self._run(trial)
        finally:  # the trial's tensors are gone once _run returns: hand their memory back
            release_freed_memory()

    def _run(self, trial: Trial) -> float:
        spec = self.spec
        params = trial.params
        unknown = sorted(set(params) - spec.allowed_params())
        if unknown:
            raise ConfigError(f"parameters of trial {trial.number} must be hyperparameters the "
                              f"{spec.model!r} task reads. Got {unknown!r}.")
        configure_threads(spec.threads)
        train = spec.load().train
        epochs = train_config(spec, params).epochs
        folds = train.split(spec.protocol)
        # Fold f trains steps f*epochs ... f*epochs + epochs - 1. Folds finished before the step
        # this trial continues from are not trained again: their results come with that checkpoint.
        finished = self._finished_folds(trial, len(folds))
        scores = [score for score, _ in finished]
        best_epochs = [epoch for _, epoch in finished]
        for fold, (fit_data, val_data) in enumerate(folds):
            if fold < len(finished):
                continue
            store = self._checkpoints(trial, fold, len(folds),
                                      done=list(zip(scores, best_epochs, strict=True)))
            _, result = train_model(spec, params, fit_data, val_data, trial=trial, checkpoints=store,
                                    seed=spec.seed + fold, step_offset=fold * epochs)
            scores.append(result.best_metric)
            best_epochs.append(result.best_epoch)
            if len(folds) > 1:
                trial.set_user_attr("fold_scores", scores)
        trial.set_user_attr("best_epochs", best_epochs)
        return sum(scores) / len(scores)

    def _checkpoints(self, trial: Trial, fold: int, n_folds: int, *,
                     done: list[tuple[float, int]]) -> TrialCheckpoints | bool:
        if not (self.spec.checkpoints or wants_checkpoints(trial)):
            return False
        # Each step carries the results of the folds before it, for a resume in a later fold.
        return TrialCheckpoints(trial, carry={"folds": [list(d) for d in done]},
                                legacy=f"fold-{fold}" if n_folds > 1 else "holdout")

    @staticmethod
    def _finished_folds(trial: Trial, n_folds: int) -> list[tuple[float, int]]:
        """(best metric, best epoch) of each fold finished before the step the trial continues from."""
        where = trial.resume_checkpoint
        if where is None or not (where / STATE).is_file():
            return []
        folds = read_checkpoint(where).get("carry", {}).get("folds", [])
        return [(float(score), int(epoch)) for score, epoch in folds[:n_folds]]

    def __repr__(self) -> str:
        return f"TaskObjective({self.spec.to_dict()!r})"


def train_model(spec: TaskSpec, params: Mapping[str, Any], train: ArrayData, val: ArrayData, *,
                trial: Trial | None, checkpoints: CheckpointStore | TrialCheckpoints | bool | None,
                seed: int,
                step_offset: int = 0, epochs: int | None = None) -> tuple[nn.Module, FitResult]:
    """Build the model, optimiser and schedule for `params`, train them on `train`, and return the
    model (holding its best epoch's weights) with what the training did.

    A hyperparameter's way through the harness, each file once: the loop's own keys (here), the
    metric for the data's task (`_metrics`), the seed (`_runtime`), the model (`_models`, which
    reads the shared keys in `_dense` and builds with `_dense` or `_cnn`, then `_init`), the
    optimiser (`_optim`), the schedule (`_schedules`), and the loop (`_loop` -> `_run`, `_hooks`).
    """
    settings = train_config(spec, params)
    epochs = epochs or settings.epochs
    metric = spec.metric_for(train.task)
    generator = seed_everything(seed)
    model = build_model(spec.model, params, input_shape=train.input_shape, n_outputs=train.n_outputs,
                        generator=generator)
    optimizer = build_optimizer(model, params)
    schedule = build_lr_schedule(optimizer, params, epochs=epochs,
                                 steps_per_epoch=math.ceil(len(train) / settings.batch_size))
    # Enforcing max-norm after every step costs ~0.4% of an epoch: only when the model has a limit.
    constrained = params.get("max_norm") is not None
    stopping = (EarlyStopping(patience=spec.patience, min_delta=spec.min_delta)
                if spec.patience is not None else None)
    result = fit(model, optimizer, schedule, train.to_tensors(), val.to_tensors(),
                 loss_fn=_loss(train), metric=metric.fn, metric_direction=metric.direction,
                 epochs=epochs, batch_size=settings.batch_size, trial=trial, early_stopping=stopping,
                 clip_grad_norm=settings.clip_grad_norm, after_step=apply_max_norm if constrained else None,
                 device=select_device(spec.device), checkpoints=checkpoints, generator=generator,
                 step_offset=step_offset)
    return model, result


def _loss(data: ArrayData) -> Any:
    if data.task == "classification":
        return functional.cross_entropy

    def mse(pred: Tensor, target: Tensor) -> Tensor:
        return functional.mse_loss(pred.reshape(target.shape), target)

    return mse
