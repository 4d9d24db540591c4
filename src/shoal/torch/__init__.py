"""The PyTorch harness: models, optimisers, schedules, data, validation protocols, the epoch loop.

Most users name a dataset and a space in a task YAML (`shoal tune task.yaml`); power users call
`fit(..., trial=trial)` from their own objective to get reporting, pruning and checkpoints. `fit` is
`train_run` over a `Run` with a chain of `Hook`s (one per feature); pass your own with `hooks=`.
"""

try:
    import torch as _torch  # noqa: F401
except ImportError as err:  # pragma: no cover - exercised only without the extra
    raise ImportError("shoal.torch needs PyTorch: pip install 'shoal[torch]'") from err

from shoal.torch._checkpoint import (
    CheckpointStore,
    TrialCheckpoints,
    artifacts_root,
    resume_source,
    trial_checkpoint_dir,
)
from shoal.torch._data import ArrayData, DataBundle, LockedTestSet, TestAccess, TestSetLocked
from shoal.torch._dense import apply_max_norm
from shoal.torch._evaluate import Evaluation, evaluate, remember_task, task_of
from shoal.torch._hooks import (
    ApplyChanges,
    CallAfterStep,
    EarlyStopping,
    PauseTrial,
    PruneTrial,
    ReportToTrial,
    SaveCheckpoints,
    StopEarly,
    TrialDecision,
)
from shoal.torch._init import INIT_SCHEMES, init_weights
from shoal.torch._loaders import BUILTIN_DATASETS, from_arrays, from_csv, from_torch_dataset, load_dataset
from shoal.torch._loop import FitResult, fit, fit_hooks
from shoal.torch._metrics import (
    METRICS,
    Metric,
    accuracy,
    cross_entropy,
    default_metric,
    get_metric,
    macro_f1,
    mae,
    mse,
)
from shoal.torch._models import MODEL_KEYS, build_model
from shoal.torch._optim import OPTIMIZER_KEYS, build_optimizer
from shoal.torch._run import Hook, Run, TrainConfig, train_run
from shoal.torch._runtime import configure_threads, seed_everything, select_device
from shoal.torch._schedules import SCHEDULE_KEYS, build_lr_schedule
from shoal.torch._splits import Holdout, KFold, ValidationProtocol, protocol_from_dict
from shoal.torch._task import TRAIN_KEYS, TaskObjective, TaskSpec, train_model

__all__ = [
    "BUILTIN_DATASETS",
    "INIT_SCHEMES",
    "METRICS",
    "MODEL_KEYS",
    "OPTIMIZER_KEYS",
    "SCHEDULE_KEYS",
    "TRAIN_KEYS",
    "ApplyChanges",
    "ArrayData",
    "CallAfterStep",
    "CheckpointStore",
    "DataBundle",
    "EarlyStopping",
    "Evaluation",
    "FitResult",
    "Holdout",
    "Hook",
    "KFold",
    "LockedTestSet",
    "Metric",
    "PauseTrial",
    "PruneTrial",
    "ReportToTrial",
    "Run",
    "SaveCheckpoints",
    "StopEarly",
    "TaskObjective",
    "TaskSpec",
    "TestAccess",
    "TestSetLocked",
    "TrainConfig",
    "TrialCheckpoints",
    "TrialDecision",
    "ValidationProtocol",
    "accuracy",
    "apply_max_norm",
    "artifacts_root",
    "build_lr_schedule",
    "build_model",
    "build_optimizer",
    "configure_threads",
    "cross_entropy",
    "default_metric",
    "evaluate",
    "fit",
    "fit_hooks",
    "from_arrays",
    "from_csv",
    "from_torch_dataset",
    "get_metric",
    "init_weights",
    "load_dataset",
    "macro_f1",
    "mae",
    "mse",
    "protocol_from_dict",
    "remember_task",
    "resume_source",
    "seed_everything",
    "select_device",
    "task_of",
    "train_model",
    "train_run",
    "trial_checkpoint_dir",
]
