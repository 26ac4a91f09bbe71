"""The rows of each split and what the model sees of them, plus summaries of windows and splits."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
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


def data_version(frame: pl.DataFrame) -> str:
    """A short content hash of a frame: same rows, same version."""
    digest = hashlib.sha256()
    digest.update(str(frame.schema).encode())
    digest.update(frame.hash_rows(seed=0).to_numpy().tobytes())
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
