"""An IO manager that keeps polars frames as Parquet and everything else as JSON.

Partitioned values are stored one file per daily partition through `PartitionStore`, so a
single-run backfill can write many partitions and a re-materialized partition replaces only
itself. An asset over several partitions returns `{partition_key: value}`; a value is a frame, a
JSON value, or `SamePartitionOf(asset)`: that asset's stored file, hard-linked, not rewritten.
With `FramesOnDemand` each frame is computed only when it is stored, so a run over a range holds
one partition in memory at a time. Frames are staged as temporary files and renamed into place
once all of them are written and switched all at once (JSON values too), so a failure or a
kill part way replaces none. Each partition's materialization carries the rows, null shares and
preview of its own frame, never another day's. Partitioned inputs arrive as
`{partition_key: pl.LazyFrame}`; a partition refused upstream (`Refused`: its day failed
validation) is left out of them, and a multi-partition value may leave out exactly such
partitions, which are then refused for this asset too. Typed step results are stored as
`assets.typed_values` says, and the output metadata links each of their plot files. An
unpartitioned frame a step just wrote is handed to the next steps from memory while its file is
unchanged (`assets.frame_cache`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import polars as pl
from dagster import (
    ConfigurableIOManager,
    InputContext,
    MetadataValue,
    OutputContext,
)
from pydantic import Field, PrivateAttr

from assets.frame_cache import LastWrittenFrame
from assets.metadata import PreviewPolicy, frame_metadata, linked_partition_metadata
from assets.typed_values import is_typed, read_json_value, typed_json
from binclf.io.partition_store import PartitionStore, Staging


class FramesOnDemand(Mapping[str, pl.DataFrame]):
    """The frames of a partition range, each computed when it is asked for and never kept."""

    def __init__(self, keys: Iterable[str], compute: Callable[[str], pl.DataFrame]) -> None:
        self._keys = list(keys)
        self._compute = compute

    def __getitem__(self, key: str) -> pl.DataFrame:
        if key not in self._keys:
            raise KeyError(key)
        return self._compute(key)

    def __contains__(self, key: object) -> bool:
        return key in self._keys

    def __iter__(self) -> Iterator[str]:
        return iter(self._keys)

    def __len__(self) -> int:
        return len(self._keys)


@dataclass(frozen=True)
class Refused:
    """A partition not stored because its input failed validation; any older value is removed."""

    reason: str


@dataclass(frozen=True)
class SamePartitionOf:
    """A partition whose value is the stored partition of another asset, kept as it is."""

    asset: str


class ParquetJsonIOManager(ConfigurableIOManager):
    """Parquet for frames, JSON for plain values; atomic writes under `root`.

    Assets named in `run_scoped` are stored per run (`runs/<run id>/<asset>/`), so two runs never
    read each other's intermediates; the values of the newest `keep_runs` runs are kept, and
    `<asset>/data.*` links to the newest value for readers outside a run.
    """

    root: str
    run_scoped: list[str] = Field(default_factory=list)
    keep_runs: int = 5
    _last_frame: LastWrittenFrame = PrivateAttr(default_factory=LastWrittenFrame)

    def _store(self) -> PartitionStore:
        return PartitionStore.open(self.root)

    def _write(self, asset: str, value: Any, key: str | None) -> dict[str, Path]:
        """Store one value; returns where the plot files of a typed value are."""
        store = self._store()
        plots: dict[str, Path] = {}
        if is_typed(value):
            value, plots = typed_json(store.json_path(asset, key), Path(self.root), value)
        with store.staging() as staging:
            own = (
                staging.write(asset, value, key)
                if isinstance(value, pl.DataFrame)
                else staging.write_json(asset, value, key)
            )
        if isinstance(value, pl.DataFrame):
            self._last_frame.remember(own, value)
        return plots

    def _stage(
        self, staging: Staging, asset: str, key: str, value: Any, policy: PreviewPolicy
    ) -> dict[str, Any]:
        """Stage one partition; returns the metadata its own materialization shows."""
        if isinstance(value, pl.DataFrame):
            staging.write(asset, value, key)
            return frame_metadata(value, policy)
        if isinstance(value, Refused):
            staging.refuse(asset, key, value.reason)
            return {"refused": MetadataValue.text(value.reason)}
        if isinstance(value, SamePartitionOf):
            staging.link(asset, value.asset, key)
            return {
                **linked_partition_metadata(str(self._store().path(value.asset, key))),
                "stored_as": MetadataValue.text(f"link to {value.asset} {key}"),
            }
        staging.write_json(asset, value, key)
        return {}

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        asset = context.asset_key.to_python_identifier()
        if not context.has_asset_partitions:
            if asset in self.run_scoped:
                plots = self._write_for_run(asset, obj, context.run_id)
            else:
                plots = self._write(asset, obj, None)
            if plots:
                context.add_output_metadata(
                    {f"plot_{name}_file": MetadataValue.path(str(p)) for name, p in plots.items()}
                )
            return
        keys = sorted(context.asset_partition_keys)
        left_out = self._left_out(obj, keys)
        if left_out is None:
            if len(keys) != 1:
                raise TypeError(
                    f"{asset}: a run over {len(keys)} partitions must return "
                    "{partition_key: value} for those partitions (leaving out only partitions "
                    "refused upstream)"
                )
            obj, left_out = {keys[0]: obj}, set()
        policy = PreviewPolicy.from_definition(context.definition_metadata)
        with self._store().staging() as staging:
            for key in keys:
                # No name holds the value: one partition's frame is alive at a time.
                upstream = Refused("refused upstream") if key in left_out else None
                if metadata := self._stage(staging, asset, key, upstream or obj[key], policy):
                    context.step_context.add_asset_metadata(
                        metadata, asset_key=context.asset_key, partition_key=key
                    )

    def _left_out(self, obj: Any, keys: list[str]) -> set[str] | None:
        """The run's keys a `{key: value}` result leaves out (all refused upstream), or None
        when `obj` is not such a result."""
        if not isinstance(obj, Mapping) or not set(obj) <= set(keys):
            return None
        store = self._store()
        left_out = {k for k in keys if k not in obj}
        return left_out if all(store.is_refused(k) for k in left_out) else None

    def _write_for_run(self, asset: str, value: Any, run_id: str) -> dict[str, Path]:
        """Store a value of this run only; `<asset>/data.*` becomes a link to the newest run's.

        Older runs' values are pruned, the newest `keep_runs` kept.
        """
        store = self._store()
        run_store = store.for_run(run_id)
        plots: dict[str, Path] = {}
        if is_typed(value):
            value, plots = typed_json(run_store.json_path(asset), Path(self.root), value)
        with run_store.staging() as staging:
            if isinstance(value, pl.DataFrame):
                own = staging.write(asset, value)
            else:
                own = staging.write_json(asset, value)
        with store.staging() as staging:
            staging.link_file(own, store.path(asset).with_suffix(own.suffix))
        if isinstance(value, pl.DataFrame):
            self._last_frame.remember(own, value)
        store.prune_runs(keep=self.keep_runs, current=run_id)
        return plots

    def _run_store(
        self, store: PartitionStore, asset: str, context: InputContext
    ) -> PartitionStore:
        """The store of the run that made this input (this run, or the parent run of a
        re-execution); for an asset this run did not make, the newest stored value."""
        upstream = context.upstream_output
        if upstream is not None and upstream.run_id:
            own = store.for_run(upstream.run_id)
            if own.path(asset).is_file() or own.json_path(asset).is_file():
                return own
        return store

    def _read(self, store: PartitionStore, asset: str, key: str | None) -> Any:
        path = store.path(asset, key)
        if path.is_file():
            if key:
                return pl.scan_parquet(str(path))
            kept = self._last_frame.recall(path)
            return kept if kept is not None else pl.read_parquet(path)
        json_path = store.json_path(asset, key)
        if json_path.is_file():
            return read_json_value(json_path, Path(self.root))
        where = f"partition {key}" if key else "its value"
        raise FileNotFoundError(f"asset {asset!r} has no stored {where}; materialize it first")

    def load_input(self, context: InputContext) -> Any:
        asset = context.asset_key.to_python_identifier()
        store = self._store()
        if not context.has_asset_partitions:
            if asset in self.run_scoped:
                return self._read(self._run_store(store, asset, context), asset, None)
            return self._read(store, asset, None)
        return {
            key: self._read(store, asset, key)
            for key in context.asset_partition_keys
            if not store.is_refused(key, asset)
        }
