"""The rows of each split and what the model sees of them, plus summaries of windows and splits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd
import polars as pl

from binclf.spec import DatasetSpec
from binclf.train.features import (
    FeatureSchema,
    check_trainable,
    infer_feature_schema,
    screen_features,
    target_vector,
    to_model_frame,
)
from binclf.train.splits import SPLIT_COLUMN

SPLITS = ("train", "validation", "calibration", "test")


@dataclass(frozen=True)
class ModelInputs:
    """The rows of some splits, and each of them as the model sees it, built when asked for.

    Building on demand keeps one pandas copy of one split in memory at a time, which matters at
    millions of rows.
    """

    spec: DatasetSpec
    schema: FeatureSchema
    exclusions: list[dict[str, Any]]
    frames: dict[str, pl.DataFrame]

    def features(self, split: str) -> pd.DataFrame:
        return to_model_frame(self.frames[split], self.schema)

    def labels(self, split: str) -> np.ndarray:
        return target_vector(self.frames[split], self.spec)

    def weights(self, split: str) -> np.ndarray | None:
        column = self.spec.weight_column
        return self.frames[split][column].cast(pl.Float64).to_numpy() if column else None


def split_frames(splits: pl.DataFrame, names: tuple[str, ...] = SPLITS) -> dict[str, pl.DataFrame]:
    """The rows of each named split (empty when it has none), copying only what is asked for."""
    unknown = [name for name in names if name not in SPLITS]
    if unknown:
        raise ValueError(f"unknown splits {unknown}; splits are {list(SPLITS)}")
    if len(names) == 1:
        return {names[0]: splits.filter(pl.col(SPLIT_COLUMN) == names[0])}
    parts = splits.partition_by(SPLIT_COLUMN, as_dict=True)  # one pass, less memory than filters
    return {name: parts.get((name,), splits.clear()) for name in names}


def drift_reference_rows(splits: pl.DataFrame, spec: DatasetSpec) -> pl.DataFrame:
    """The rows monitored days are compared with: the newest part of the training window.

    With a time column, every row (of any split) from the last `monitoring.reference_days` UTC
    days of the window, so the first monitored days are compared with the weeks just before them,
    not with the oldest rows of the window; null days (or a snapshot) take the whole window.
    """
    days = spec.monitoring.reference_days
    if spec.time_column is None or days is None or splits.height == 0:
        return splits
    day = pl.col(spec.time_column).dt.date()
    newest = splits.select(day.max()).item()
    if newest is None:
        return splits
    return splits.filter(day > newest - timedelta(days=days))


def model_inputs(
    splits: pl.DataFrame,
    spec: DatasetSpec,
    *,
    names: tuple[str, ...] = SPLITS,
    schema: FeatureSchema | None = None,
    min_positives: int = 10,
    leak_auc: float = 0.99,
) -> ModelInputs:
    """The named splits; without a schema, infer and screen the features on the training rows."""
    if schema is None and "train" not in names:
        raise ValueError("the feature schema is inferred on the training rows: include 'train'")
    frames = split_frames(splits, names)
    exclusions: list[dict[str, Any]] = []
    if schema is None:
        y_train = target_vector(frames["train"], spec)
        check_trainable(y_train, min_positives=min_positives)
        schema = infer_feature_schema(frames["train"], spec)
        schema, exclusions = screen_features(frames["train"], y_train, schema, leak_auc=leak_auc)
    return ModelInputs(spec=spec, schema=schema, exclusions=exclusions, frames=frames)


DATA_VERSION_CHUNK_ROWS = 1_000_000


def _canonical_type(dtype: pl.DataType) -> str:
    """A type name of our own, so the hash does not follow how polars spells or stores types."""
    if dtype == pl.Boolean:
        return "bool"
    if dtype.is_numeric():
        return f"number:{pl.Series([], dtype=dtype).to_numpy().dtype.newbyteorder('<').str}"
    if dtype in (pl.String, pl.Categorical) or isinstance(dtype, pl.Categorical | pl.Enum):
        return "string"
    if isinstance(dtype, pl.Datetime):
        return f"datetime:{dtype.time_unit}:{dtype.time_zone}"
    if isinstance(dtype, pl.Duration):
        return f"duration:{dtype.time_unit}"
    if dtype in (pl.Date, pl.Time):
        return str(dtype).lower()
    return f"other:{dtype}"


def _column_bytes(series: pl.Series, kind: str) -> list[bytes]:
    """The null mask and the values of a column as bytes in a fixed layout (little-endian)."""
    parts = [np.packbits(series.is_null().to_numpy()).tobytes()]
    if kind == "string":
        text = series.cast(pl.String).fill_null("")
        lengths = text.str.len_bytes().to_numpy().astype("<u8")
        parts += [lengths.tobytes(), text.str.join("").item().encode("utf-8")]
    elif kind.startswith("other:"):
        parts.append(repr(series.to_list()).encode("utf-8"))
    else:
        physical = series.cast(pl.UInt8) if kind == "bool" else series.to_physical()
        values = physical.fill_null(0).to_numpy()
        parts.append(values.astype(values.dtype.newbyteorder("<"), copy=False).tobytes())
    return parts


def data_version(frame: pl.DataFrame) -> str:
    """A short content hash of a frame: same column names, types and values, same version.

    The hash is of each column's values in a layout fixed here (null mask, then little-endian
    numbers, or byte lengths and UTF-8 text for strings and categoricals, whose categories do
    not matter), so it does not change with the polars build the way `hash_rows` does.
    """
    digest = hashlib.sha256()
    digest.update(f"rows:{frame.height}".encode())
    for name, dtype in frame.schema.items():
        kind = _canonical_type(dtype)
        header = f"column:{name}:{kind}".encode()
        digest.update(len(header).to_bytes(8, "little") + header)
        for offset in range(0, frame.height, DATA_VERSION_CHUNK_ROWS):
            chunk = frame[name].slice(offset, DATA_VERSION_CHUNK_ROWS)
            for part in _column_bytes(chunk, kind):
                digest.update(len(part).to_bytes(8, "little") + part)
    return digest.hexdigest()[:12]


def split_summary(splits: pl.DataFrame, spec: DatasetSpec) -> dict[str, dict[str, Any]]:
    """Rows, prevalence and time range of each split."""
    summary: dict[str, dict[str, Any]] = {}
    for name in SPLITS:
        frame = splits.filter(pl.col(SPLIT_COLUMN) == name)
        y = target_vector(frame, spec) if frame.height else np.zeros(0)
        row: dict[str, Any] = {
            "rows": frame.height,
            "positives": int(y.sum()),
            "prevalence": float(y.mean()) if frame.height else None,
        }
        if spec.time_column and frame.height:
            row["start"] = frame[spec.time_column].min().isoformat()
            row["end"] = frame[spec.time_column].max().isoformat()
        summary[name] = row
    return summary


def label_cutoff(frame: pl.DataFrame, spec: DatasetSpec) -> str | None:
    """The newest label time (or event time) the training rows used, ISO formatted."""
    column = spec.label_time_column or spec.time_column
    if column is None or frame.height == 0 or frame[column].null_count() == frame.height:
        return None
    return frame[column].max().isoformat()


def window_summary(
    frame: pl.DataFrame, spec: DatasetSpec, keys: list[str], cutoff: datetime | None
) -> dict[str, Any]:
    """Rows, positives and the time range of a training window."""
    y = target_vector(frame, spec) if frame.height else np.zeros(0)
    summary: dict[str, Any] = {
        "rows": frame.height,
        "positives": int(y.sum()),
        "prevalence": float(y.mean()) if frame.height else None,
        "partitions": f"{keys[0]} … {keys[-1]} ({len(keys)})",
        "cutoff": cutoff.isoformat() if cutoff else "none",
    }
    if spec.time_column and frame.height:
        summary["start"] = frame[spec.time_column].min().isoformat()
        summary["end"] = frame[spec.time_column].max().isoformat()
    return summary
