"""Disjoint train / validation / calibration / test splits of a training window.

Rows are ordered by event time when the dataset has one (train oldest, test newest), so every
later split is scored by a model that has only seen its past. A snapshot dataset is split by a
seeded hash of each row's key (`binclf.train.row_keys`), within each class (stratified): a row
keeps its split when the frame grows, so a retrain on a grown frame does not test on rows the
earlier version trained on (only the few rows at a moved cut can change split; the champion
comparison leaves out every row the champion saw). The spec's `split_column` fixes the test rows.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from binclf.spec import DatasetSpec
from binclf.train.features import SPLIT_COLUMN, target_vector
from binclf.train.row_keys import key_positions, row_keys

SPLITS = ("train", "validation", "calibration", "test")
DEFAULT_FRACTIONS = (0.6, 0.15, 0.1, 0.15)
TEST_VALUE = "test"


class SplitError(ValueError):
    """Split fractions that do not work, or a split that came out empty or single-class."""


def _check_fractions(fractions: tuple[float, ...]) -> np.ndarray:
    values = np.asarray(fractions, dtype=float)
    if values.shape != (len(SPLITS),):
        raise SplitError(f"fractions needs one value per split {SPLITS}, got {fractions}")
    if np.any(values <= 0):
        raise SplitError(f"every split fraction must be positive, got {fractions}")
    if not np.isclose(values.sum(), 1.0):
        raise SplitError(f"split fractions must sum to 1, got {fractions} (sum {values.sum()})")
    return values


def _assign_in_order(n: int, fractions: np.ndarray) -> np.ndarray:
    """Split index for positions 0..n-1 taken in order, in proportion to `fractions`."""
    bounds = np.rint(np.cumsum(fractions / fractions.sum()) * n).astype(int)
    return np.searchsorted(bounds, np.arange(n), side="right")


def _assign_stratified(y: np.ndarray, position: np.ndarray, fractions: np.ndarray) -> np.ndarray:
    """Split index per row: each class ordered by `position` and cut by `fractions`."""
    assigned = np.empty(len(y), dtype=int)
    for value in (0, 1):
        rows = np.flatnonzero(y == value)
        rows = rows[np.argsort(position[rows], kind="stable")]
        assigned[rows] = _assign_in_order(len(rows), fractions)
    return assigned


def _check_each_split(labels: np.ndarray, y: np.ndarray) -> None:
    for name in SPLITS:
        in_split = labels == name
        n_rows = int(in_split.sum())
        if n_rows == 0:
            raise SplitError(f"split {name!r} is empty")
        n_positive = int(y[in_split].sum())
        if n_positive in (0, n_rows):
            raise SplitError(
                f"split {name!r} has a single class ({n_positive} positives of {n_rows} rows); "
                "more labeled rows or other fractions are needed"
            )


def make_splits(
    frame: pl.DataFrame,
    spec: DatasetSpec,
    *,
    fractions: tuple[float, float, float, float] = DEFAULT_FRACTIONS,
    seed: int = 0,
) -> pl.DataFrame:
    """`frame` with a column `_split` in train / validation / calibration / test.

    `fractions` are the shares of (train, validation, calibration, test). When the spec has a
    `split_column`, rows whose value is "test" are the test split and every other row goes to
    train / validation / calibration by the first three fractions. With a time column the
    splits follow event time; without one they follow a seeded hash of each row's key,
    stratified by target.
    Raises `SplitError` naming a split that is empty or has one class only.
    """
    values = _check_fractions(fractions)
    if SPLIT_COLUMN in frame.columns:
        raise SplitError(f"the frame already has a column {SPLIT_COLUMN!r}")
    for column in (spec.time_column, spec.split_column):
        if column and column not in frame.columns:
            raise SplitError(f"column {column!r} named in the spec is not in the data")
    y = target_vector(frame, spec)
    if spec.split_column:
        fixed_test = (
            (
                frame[spec.split_column].cast(pl.String).str.strip_chars().str.to_lowercase()
                == TEST_VALUE
            )
            .fill_null(False)
            .to_numpy()
        )
        values = values[:3]
    else:
        fixed_test = np.zeros(frame.height, dtype=bool)
    free = np.flatnonzero(~fixed_test)
    if spec.time_column:
        times = frame[spec.time_column]
        if times.null_count():
            raise SplitError(f"time column {spec.time_column!r} has {times.null_count()} nulls")
        assigned = np.empty(len(free), dtype=int)
        assigned[np.argsort(times.to_numpy()[free], kind="stable")] = _assign_in_order(
            len(free), values
        )
    else:
        position = key_positions(row_keys(frame[free], spec), seed)
        assigned = _assign_stratified(y[free], position, values)
    labels = np.full(frame.height, TEST_VALUE, dtype=object)
    labels[free] = np.asarray(SPLITS, dtype=object)[assigned]
    _check_each_split(labels, y)
    return frame.with_columns(pl.Series(SPLIT_COLUMN, labels, dtype=pl.String))
