"""Where the pipeline keeps its state: data partitions, model versions, studies and reports.

One folder, `$BINCLF_STATE` or `.state` in the working directory, so that a project's whole
state is in one git-ignored place.
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_ENV = "BINCLF_STATE"


def state_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The state folder: the given path, else `$BINCLF_STATE`, else `./.state`."""
    return Path(root or os.environ.get(STATE_ENV) or ".state").expanduser().resolve()


def data_dir(root: Path) -> Path:
    return root / "data"


def registry_dir(root: Path) -> Path:
    return root / "registry"


def reports_dir(root: Path) -> Path:
    return root / "reports"


def optuna_url(root: Path, dataset: str) -> str:
    """An SQLite URL for the dataset's hyperparameter studies (single-writer; see README)."""
    folder = root / "optuna"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / f'{dataset}.db'}"
