"""Resources: the state folder (data partitions, model registry, studies, reports)."""

from __future__ import annotations

from pathlib import Path

from dagster import ConfigurableResource

from binclf.io import state
from binclf.io.partition_store import PartitionStore
from binclf.register.registry import Registry


class StateResource(ConfigurableResource):
    """The pipeline's state folder; `root` defaults to `$BINCLF_STATE` or `./.state`."""

    root: str | None = None

    @property
    def path(self) -> Path:
        return state.state_root(self.root)

    def store(self) -> PartitionStore:
        return PartitionStore.open(state.data_dir(self.path))

    def registry(self) -> Registry:
        return Registry(state.registry_dir(self.path))

    def reports(self) -> Path:
        return state.reports_dir(self.path)

    def optuna_url(self, dataset: str) -> str:
        return state.optuna_url(self.path, dataset)
