"""An IO manager that keeps polars frames as Parquet and everything else as JSON.

Partitioned values are stored one file per daily partition through `PartitionStore`, so a
single-run backfill can write many partitions and a re-materialized partition replaces only
itself. An asset over several partitions returns `{partition_key: value}`; a value is a frame, a
JSON value, or `SamePartitionOf(asset)`: that asset's stored file, hard-linked, not rewritten.
With `FramesOnDemand` each frame is computed only when it is stored, so a run over a range holds
one partition in memory at a time. Frames are staged as temporary files and renamed into place
once all of them are written, so a failure part way replaces none; the output metadata counts
the rows of each partition and describes the newest. Partitioned inputs arrive as
`{partition_key: pl.LazyFrame}`.

A typed value (one of `TYPED_VALUES`: a step's result with `to_dict`/`from_dict`) is stored as
JSON that names its type, and loaded back as that type. Its `plots` (PNG bytes) become files in
a folder named by their content next to the JSON, written before the JSON that points at them, so
JSON and plots switch at once; the output metadata links each plot file.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import polars as pl
from dagster import ConfigurableIOManager, InputContext, MetadataValue, OutputContext

from assets.metadata import PartitionsMetadata, PreviewPolicy
from binclf.evaluate.steps import Evaluation
from binclf.io.atomic import to_json_safe, write_directory_atomic, write_json_atomic
from binclf.io.partition_store import PartitionStore, Staging
from binclf.register.candidate import RegisteredCandidate
from binclf.train.outcomes import CalibrationOutcome, SearchOutcome
from binclf.train.threshold import ThresholdChoice

TYPED_VALUES: dict[str, type] = {
    kind.__name__: kind
    for kind in (
        SearchOutcome,
        CalibrationOutcome,
        ThresholdChoice,
        Evaluation,
        RegisteredCandidate,
    )
}
TYPE_KEY = "binclf_type"


def _typed_json(json_path: Path, value: Any) -> tuple[dict[str, Any], dict[str, Path]]:
    """The JSON of a typed value, after its plots were written; and where each plot is."""
    plots: Mapping[str, bytes] = getattr(value, "plots", None) or {}
    paths: dict[str, Path] = {}
    if plots:
        digest = hashlib.sha256()
        for name in sorted(plots):
            digest.update(name.encode() + b"\0" + hashlib.sha256(plots[name]).digest())
        folder = json_path.parent / "plots" / f"{json_path.stem}-{digest.hexdigest()[:16]}"
        if not folder.is_dir():
            write_directory_atomic(folder, {f"{name}.png": png for name, png in plots.items()})
        paths = {name: folder / f"{name}.png" for name in plots}
    data = {
        TYPE_KEY: type(value).__name__,
        "value": to_json_safe(value.to_dict()),
        "plots": {
            name: path.relative_to(json_path.parent).as_posix() for name, path in paths.items()
        },
    }
    return data, paths


def _drop_stale_plots(json_path: Path, keep: set[Path]) -> None:
    """Plot folders of this value that its current JSON no longer points at."""
    plots = json_path.parent / "plots"
    for folder in plots.glob(f"{json_path.stem}-*") if plots.is_dir() else ():
        if folder not in keep:
            shutil.rmtree(folder, ignore_errors=True)


def write_typed(json_path: Path, value: Any) -> dict[str, Path]:
    """Store a typed value and its plots; returns where each plot file is."""
    data, paths = _typed_json(json_path, value)
    write_json_atomic(json_path, data)
    _drop_stale_plots(json_path, {path.parent for path in paths.values()})
    return paths


def read_json_value(json_path: Path) -> Any:
    """A stored JSON value: a typed value back as its type (with its plots), else plain JSON."""
    data = json.loads(json_path.read_text())
    if not (isinstance(data, dict) and TYPE_KEY in data):
        return data
    value = TYPED_VALUES[data[TYPE_KEY]].from_dict(data["value"])
    if data["plots"]:
        plots = {name: (json_path.parent / rel).read_bytes() for name, rel in data["plots"].items()}
        value = replace(value, plots=plots)
    return value


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
class SamePartitionOf:
    """A partition whose value is the stored partition of another asset, kept as it is."""

    asset: str


class ParquetJsonIOManager(ConfigurableIOManager):
    """Parquet for frames, JSON for plain values; atomic writes under `root`."""

    root: str

    def _store(self) -> PartitionStore:
        return PartitionStore(self.root)

    def _write(self, asset: str, value: Any, key: str | None) -> dict[str, Path]:
        store = self._store()
        json_path = store.path(asset, key).with_suffix(".json")
        if isinstance(value, pl.DataFrame):
            store.write(asset, value, key)
        elif isinstance(value, tuple(TYPED_VALUES.values())):
            return write_typed(json_path, value)
        else:
            write_json_atomic(json_path, value)
        return {}

    def _stage(
        self, staging: Staging, asset: str, key: str, value: Any, summary: PartitionsMetadata
    ) -> None:
        if isinstance(value, pl.DataFrame):
            staging.write(asset, value, key)
            summary.add(key, value)
        elif isinstance(value, SamePartitionOf):
            staging.link(asset, value.asset, key)
            summary.add(key, pl.scan_parquet(self._store().path(value.asset, key)))
        else:
            self._write(asset, value, key)

    def handle_output(self, context: OutputContext, obj: Any) -> None:
        asset = context.asset_key.to_python_identifier()
        if not context.has_asset_partitions:
            plots = self._write(asset, obj, None)
            if plots:
                context.add_output_metadata(
                    {f"plot_{name}_file": MetadataValue.path(str(p)) for name, p in plots.items()}
                )
            return
        keys = sorted(context.asset_partition_keys)
        values = obj if isinstance(obj, Mapping) and set(obj) == set(keys) else None
        if values is None:
            if len(keys) != 1:
                raise TypeError(
                    f"{asset}: a run over {len(keys)} partitions must return "
                    "{partition_key: value} for exactly those partitions"
                )
            values = {keys[0]: obj}
        policy = PreviewPolicy.from_definition(context.definition_metadata)
        summary = PartitionsMetadata(newest=keys[-1], policy=policy)
        with self._store().staging() as staging:
            for key in keys:
                self._stage(staging, asset, key, values[key], summary)
        if metadata := summary.metadata():
            context.add_output_metadata(metadata)

    def _read(self, asset: str, key: str | None) -> Any:
        store = self._store()
        path = store.path(asset, key)
        if path.is_file():
            return pl.scan_parquet(str(path)) if key else pl.read_parquet(path)
        json_path = path.with_suffix(".json")
        if json_path.is_file():
            return read_json_value(json_path)
        where = f"partition {key}" if key else "its value"
        raise FileNotFoundError(f"asset {asset!r} has no stored {where}; materialize it first")

    def load_input(self, context: InputContext) -> Any:
        asset = context.asset_key.to_python_identifier()
        if not context.has_asset_partitions:
            return self._read(asset, None)
        return {key: self._read(asset, key) for key in context.asset_partition_keys}
