"""shoal.artifacts: upload, download and list a trial's own files, on file:// stores in tmp_path."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

import shoal
from shoal.artifacts import ArtifactInfo, FsspecStore, download, list_artifacts, upload
from shoal.exceptions import ConfigError
from shoal.storage import artifacts_root


def _tree(root: Path) -> dict[str, str | None]:
    """Every entry under `root`: a file's text, None for a folder."""
    return {p.relative_to(root).as_posix(): (p.read_text() if p.is_file() else None)
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    source = tmp_path / "source" / "run"
    (source / "sub" / "deeper").mkdir(parents=True)
    (source / "empty").mkdir()
    (source / "weights.bin").write_text("0123456789")
    (source / "sub" / "notes.txt").write_text("hello")
    (source / "sub" / "deeper" / "x.csv").write_text("a,b\n1,2\n")
    return source


def test_round_trip_of_a_file_and_a_folder_from_inside_an_objective(tmp_path: Path, folder: Path) -> None:
    study = shoal.create_study(storage=f"sqlite:///{tmp_path}/shoal.db", study_name="rt")
    names: list[str] = []

    def objective(trial: shoal.Trial) -> float:
        names.append(upload(trial, folder / "weights.bin"))
        names.append(upload(trial, folder))
        names.append(upload(trial, folder / "sub" / "notes.txt", name="notes-copy.txt"))
        return 0.0

    study.optimize(objective, n_trials=2)
    assert names == ["weights.bin", "run", "notes-copy.txt"] * 2
    for number in (0, 1):
        infos = list_artifacts(study, number)
        expected_uri = f"{tmp_path}/shoal-artifacts/rt/trial-{number}/artifacts"
        assert infos == [
            ArtifactInfo("notes-copy.txt", 5, False, f"{expected_uri}/notes-copy.txt"),
            ArtifactInfo("run", 10 + 5 + 8, True, f"{expected_uri}/run"),
            ArtifactInfo("weights.bin", 10, False, f"{expected_uri}/weights.bin"),
        ]
    # the layout: beside the checkpoints, under the SQLite file's artifacts folder
    kept = artifacts_root(study.storage.url) / "rt" / "trial-1" / "artifacts"
    assert sorted(os.listdir(kept)) == ["notes-copy.txt", "run", "weights.bin"]

    out = tmp_path / "out"
    got_file = download(study, 1, "weights.bin", out / "w.bin")
    assert got_file == out / "w.bin"
    assert got_file.read_text() == "0123456789"
    got_folder = download(study, 0, "run", out / "run-copy")
    assert _tree(got_folder) == _tree(folder)
    assert _tree(got_folder)["empty"] is None  # an empty folder comes back too
    # an existing folder as dest receives the artifact under its name, as cp does
    assert download(study, 0, "notes-copy.txt", out) == out / "notes-copy.txt"
    assert (out / "notes-copy.txt").read_text() == "hello"


def test_a_finished_trial_given_by_number_and_a_file_url_store(tmp_path: Path, folder: Path) -> None:
    study = shoal.create_study(storage=f"sqlite:///{tmp_path}/shoal.db", study_name="after")
    study.optimize(lambda trial: 1.0, n_trials=1)
    url = f"file://{tmp_path}/bucket/prefix"
    assert upload(study, folder, trial=0, store=url) == "run"
    assert [a.name for a in list_artifacts(study, 0, store=url)] == ["run"]
    assert list_artifacts(study, 0) == []  # the default store is another place
    assert _tree(tmp_path / "bucket" / "prefix" / "after" / "trial-0" / "artifacts" / "run") == _tree(folder)
    assert _tree(download(study, 0, "run", tmp_path / "back", store=FsspecStore(url))) == _tree(folder)
    assert list_artifacts(study, 5, store=url) == []  # a trial without artifacts


def test_shoal_artifacts_as_a_file_url_places_the_store_and_checkpoints(
        tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHOAL_ARTIFACTS", f"file://{tmp_path}/shared")
    study = shoal.create_study(study_name="mem")  # in memory: the root is $SHOAL_ARTIFACTS
    trial = study.ask()
    upload(trial, folder / "weights.bin")
    study.tell(trial, 0.5)
    assert (tmp_path / "shared" / "mem" / "trial-0" / "artifacts" / "weights.bin").read_text() == "0123456789"
    monkeypatch.setenv("SHOAL_ARTIFACTS", "s3://bucket/prefix")
    with pytest.raises(ConfigError, match=r"^SHOAL_ARTIFACTS of the checkpoints must be a folder or a "
                                          r"file:// URL\. Got 's3://bucket/prefix'\. .*store="):
        artifacts_root("postgresql://db/shoal")


@pytest.mark.parametrize("name", ["../escape.txt", "..", ".", "a/b", "a\\b", "/etc/passwd", ".hidden", "",
                                  "nul\0byte", "tab\tname", "x" * 256])
def test_a_name_that_is_not_a_plain_file_name_is_refused(tmp_path: Path, folder: Path, name: str) -> None:
    study = shoal.create_study(storage=f"sqlite:///{tmp_path}/shoal.db", study_name="safe")
    study.optimize(lambda trial: 1.0, n_trials=1)
    with pytest.raises(ConfigError) as caught:
        upload(study, folder / "weights.bin", trial=0, name=name)
    message = str(caught.value)
    assert message.startswith("name of an artifact must be a file or folder name")
    assert f"Got {name!r}." in message
    assert "\n" not in message
    with pytest.raises(ConfigError, match="name of an artifact must be"):
        download(study, 0, name, tmp_path / "dest")
    written = [p for p in tmp_path.rglob("*") if p.is_file() and not {"source", "logs"} & set(p.parts)]
    assert all(p.name.startswith("shoal.db") for p in written)  # nothing stored anywhere


def test_a_hidden_source_needs_a_name_and_an_unknown_artifact_lists_the_known(tmp_path: Path) -> None:
    study = shoal.create_study(storage=f"sqlite:///{tmp_path}/shoal.db", study_name="hint")
    study.optimize(lambda trial: 1.0, n_trials=1)
    hidden = tmp_path / ".env"
    hidden.write_text("k=v")
    with pytest.raises(ConfigError, match=r"Got '\.env'\. Pass a plain name such as name='model.pt'\."):
        upload(study, hidden, trial=0)
    assert upload(study, hidden, trial=0, name="env.txt") == "env.txt"
    with pytest.raises(ConfigError, match=r"^name of download must be an artifact of trial 0 of study "
                                          r"'hint'\. Got 'model\.pt'\. Trial 0 has \['env\.txt'\]\."):
        download(study, 0, "model.pt", tmp_path / "m")
    with pytest.raises(ConfigError, match=r"Trial 3 has no artifacts\."):
        download(study, 3, "model.pt", tmp_path / "m")
    with pytest.raises(ConfigError, match=r"^path of an artifact upload must be an existing file or folder"):
        upload(study, tmp_path / "missing.txt", trial=0)
    with pytest.raises(ConfigError, match=r"^target of upload must be a running Trial"):
        upload(study, hidden, name="x")


def test_study_names_cannot_escape_the_root(tmp_path: Path, folder: Path) -> None:
    url = f"file://{tmp_path}/store"
    for name in ("..", "../../up", "a/b"):
        study = shoal.create_study(storage=f"sqlite:///{tmp_path}/shoal.db", study_name=name)
        study.optimize(lambda trial: 1.0, n_trials=1)
        upload(study, folder / "weights.bin", trial=0, store=url)
        assert [a.name for a in list_artifacts(study, 0, store=url)] == ["weights.bin"]
    assert sorted(os.listdir(tmp_path / "store")) == ["%2E%2E", "..%2F..%2Fup", "a%2Fb"]


def test_an_existing_name_is_kept_unless_overwrite(tmp_path: Path, folder: Path) -> None:
    study = shoal.create_study(storage=f"sqlite:///{tmp_path}/shoal.db", study_name="ow")
    study.optimize(lambda trial: 1.0, n_trials=1)
    upload(study, folder / "weights.bin", trial=0, name="model")
    with pytest.raises(ConfigError, match=r"^name of an artifact upload must be new in its trial\. Got "
                                          r"'model'\. .* exists already: pass overwrite=True"):
        upload(study, folder, trial=0, name="model")
    assert download(study, 0, "model", tmp_path / "a").read_text() == "0123456789"
    upload(study, folder, trial=0, name="model", overwrite=True)  # a file replaced by a folder
    assert _tree(download(study, 0, "model", tmp_path / "b")) == _tree(folder)
    upload(study, folder / "sub" / "notes.txt", trial=0, name="model", overwrite=True)  # and back
    assert download(study, 0, "model", tmp_path / "c").read_text() == "hello"
    trial_folder = artifacts_root(study.storage.url) / "ow" / "trial-0" / "artifacts"
    assert os.listdir(trial_folder) == ["model"]  # no temporary or old copy left behind


def test_a_failing_upload_leaves_no_partial_artifact(tmp_path: Path, folder: Path) -> None:
    study = shoal.create_study(storage=f"sqlite:///{tmp_path}/shoal.db", study_name="atomic")
    study.optimize(lambda trial: 1.0, n_trials=1)
    store = FsspecStore(tmp_path / "store")
    put_file = store._fs.put_file
    calls: list[str] = []

    def failing(source: str, target: str, **kwargs: Any) -> None:
        # while the upload runs, readers see no artifact of that name
        assert list_artifacts(study, 0, store=store) == []
        calls.append(target)
        if len(calls) == 2:
            raise OSError("disk full")
        put_file(source, target, **kwargs)

    store._fs.put_file = failing
    with pytest.raises(OSError, match="disk full"):
        upload(study, folder, trial=0, store=store)
    assert len(calls) == 2
    assert "/.run." in calls[0]
    artifacts = tmp_path / "store" / "atomic" / "trial-0" / "artifacts"
    assert list_artifacts(study, 0, store=store) == []
    assert os.listdir(artifacts) == []
    store._fs.put_file = put_file
    upload(study, folder, trial=0, store=store)  # the same name works once the fault is gone
    assert _tree(artifacts / "run") == _tree(folder)
