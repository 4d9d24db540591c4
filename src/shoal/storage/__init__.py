"""Where a study's state lives: in memory, SQLite or PostgreSQL."""

from shoal.storage._checkpoints import CheckpointFolder, Retention, artifacts_root, study_folder
from shoal.storage._memory import InMemoryStorage
from shoal.storage._open import (
    DEFAULT_STORAGE_URL,
    default_storage_url,
    open_reader,
    open_storage,
)
from shoal.storage._protocol import BudgetRecord, Storage, StorageReader, StudyRecord, TrialsPage
from shoal.storage._recover import RecoveryReport, TableReport, recover_sqlite
from shoal.storage._url import StorageURL, is_shareable, parse_url, sqlite_file

__all__ = [
    "DEFAULT_STORAGE_URL",
    "BudgetRecord",
    "CheckpointFolder",
    "InMemoryStorage",
    "RecoveryReport",
    "Retention",
    "Storage",
    "StorageReader",
    "StorageURL",
    "StudyRecord",
    "TableReport",
    "TrialsPage",
    "artifacts_root",
    "default_storage_url",
    "is_shareable",
    "open_reader",
    "open_storage",
    "parse_url",
    "recover_sqlite",
    "sqlite_file",
    "study_folder",
]
