"""Resources: the state folder (data partitions, model registry, studies, reports)."""

from __future__ import annotations

import os
from pathlib import Path

from dagster import ConfigurableResource

from binclf.io import state
from binclf.io.partition_store import PartitionStore
from binclf.register.registry import Registry


class StateResource(ConfigurableResource):
    """The pipeline's state folder; `root` defaults to `$BINCLF_STATE` or `./.state`.

    `reports_url` (default `$BINCLF_REPORTS_URL`) is where a web server serves the reports
    folder, so the UI links each report as a URL a browser opens.
    """

    root: str | None = None
    reports_url: str | None = None

    @property
    def path(self) -> Path:
        return state.state_root(self.root)

    def store(self) -> PartitionStore:
        return PartitionStore.open(state.data_dir(self.path))

    def registry(self) -> Registry:
        return Registry(state.registry_dir(self.path))

    def reports(self) -> Path:
        return state.reports_dir(self.path)

    def report_url(self, path: Path) -> str | None:
        """The URL of a report under the reports folder, when a server for it is configured."""
        base = self.reports_url or os.environ.get("BINCLF_REPORTS_URL")
        if not base:
            return None
        return base.rstrip("/") + "/" + path.relative_to(self.reports()).as_posix()

    def optuna_url(self, dataset: str) -> str:
        return state.optuna_url(self.path, dataset)
