"""Where the pipeline keeps its state: data partitions, model versions, studies and reports.

One folder, `$BINCLF_STATE` or `.state` in the working directory, so that a project's whole
state is in one git-ignored place.
"""

from __future__ import annotations

import os
from pathlib import Path

STATE_ENV = "BINCLF_STATE"
OPTUNA_STORAGE_ENV = "BINCLF_OPTUNA_STORAGE"


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
    """Where the dataset's hyperparameter studies live.

    `$BINCLF_OPTUNA_STORAGE` when set: an RDB URL that several workers can share, e.g.
    ``postgresql+psycopg2://user:password@host:5432/optuna`` (study names start with the
    dataset's name, so datasets can share it). Otherwise an SQLite file in the state folder,
    which is safe for one worker at a time only.
    """
    shared = os.environ.get(OPTUNA_STORAGE_ENV)
    if shared:
        return shared
    folder = root / "optuna"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / f'{dataset}.db'}"
