"""A trial's own files (models, plots, predictions), kept beside its checkpoints.

`upload(trial, path)` inside an objective (or `upload(study, path, trial=3)` afterwards),
`download(study, 3, "model.pt", dest)` and `list_artifacts(study, 3)`, as Optuna's
`optuna.artifacts` offers. Files live under `<root>/<study>/trial-<n>/artifacts/<name>`: the root
is the study's checkpoint folder (a shared folder, `$SHOAL_ARTIFACTS`, when workers run on several
machines) or any fsspec URL passed as `store=` (`s3://bucket/prefix` with s3fs installed). Needs
fsspec: `pip install 'shoal[artifacts]'`.
"""

from shoal.artifacts._api import (
    StudyRef,
    TrialRef,
    check_name,
    default_store,
    download,
    list_artifacts,
    upload,
)
from shoal.artifacts._store import ArtifactInfo, ArtifactStore, FsspecStore

__all__ = [
    "ArtifactInfo",
    "ArtifactStore",
    "FsspecStore",
    "StudyRef",
    "TrialRef",
    "check_name",
    "default_store",
    "download",
    "list_artifacts",
    "upload",
]
