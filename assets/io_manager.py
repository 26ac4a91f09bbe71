"""An IO manager that keeps polars frames as Parquet and everything else as JSON.

Partitioned values are stored one file per daily partition through `PartitionStore`, so a
single-run backfill can write many partitions and a re-materialized partition replaces only
itself. Assets that span several partitions return `{partition_key: value}`; downstream
partitioned inputs arrive as `{partition_key: pl.LazyFrame}`.
"""

from __future__ import annotations

import json
from typing import Any

import polars as pl
from dagster import ConfigurableIOManager, InputContext, OutputContext

from binclf.atomic import write_json_atomic
from binclf.partition_store import PartitionStore


class ParquetJsonIOManager(ConfigurableIOManager):
    """Parquet for frames, JSON for plain values; atomic writes under `root`."""

    root: str

    def _store(self) -> PartitionStore:
        return PartitionStore(self.root)

    def _write(self, asset: str, value: Any, key: str | None) -> None:
        store = self._store()
        if isinstance(value, pl.DataFrame):
            store.write(asset, value, key)
        else:
            write_json_atomic(store.path(asset, key).with_suffix(".json"), value)

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        asset = context.asset_key.to_python_identifier()
        if not context.has_asset_partitions:
            self._write(asset, obj, None)
            return
        keys = list(context.asset_partition_keys)
        values = obj if isinstance(obj, dict) and set(obj) == set(keys) else None
        if values is None:
            if len(keys) != 1:
                raise TypeError(
                    f"{asset}: a run over {len(keys)} partitions must return "
                    "{partition_key: value} for exactly those partitions"
                )
            values = {keys[0]: obj}
        for key, value in values.items():
            self._write(asset, value, key)

    def _read(self, asset: str, key: str | None) -> Any:
        store = self._store()
        path = store.path(asset, key)
        if path.is_file():
            return pl.scan_parquet(str(path)) if key else pl.read_parquet(path)
        json_path = path.with_suffix(".json")
        if json_path.is_file():
            return json.loads(json_path.read_text())
        where = f"partition {key}" if key else "its value"
        raise FileNotFoundError(f"asset {asset!r} has no stored {where}; materialize it first")

    def load_input(self, context: InputContext) -> Any:
        asset = context.asset_key.to_python_identifier()
        if not context.has_asset_partitions:
            return self._read(asset, None)
        return {key: self._read(asset, key) for key in context.asset_partition_keys}
