"""The champion comparison's rows: test rows the champion never fitted, validated or calibrated on.

For a snapshot dataset every version records the keys of its train, validation and calibration
rows (`TRAINED_ROWS_FILE`, keys from `binclf.train.row_keys`). When a challenger trained on a grown
frame is compared with the champion, its test rows whose key the champion recorded are left out:
a model scored on rows it was fitted on looks better than it is, which would bias the comparison
towards the champion. The comparison is refused, with the reason, when the champion recorded no
keys (or keyed rows differently) or when too few rows remain. Time-partitioned datasets compare on
every test row: their test rows are the newest of the window.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
import polars as pl

from binclf.spec import DatasetSpec
from binclf.train.features import SPLIT_COLUMN
from binclf.train.row_keys import key_name, row_keys

TRAINED_ROWS_FILE = "trained_rows.parquet"
FITTED_SPLITS = ("train", "validation", "calibration")


def trained_rows_file(splits: pl.DataFrame, spec: DatasetSpec) -> dict[str, bytes]:
    """`{TRAINED_ROWS_FILE: parquet}` with the sorted unique keys of the fitted splits' rows, in
    a column named by `key_name`; nothing for a time-partitioned dataset."""
    if spec.time_column is not None:
        return {}
    fitted = splits.filter(pl.col(SPLIT_COLUMN).is_in(FITTED_SPLITS))
    keys = np.unique(row_keys(fitted, spec))
    buffer = io.BytesIO()
    pl.DataFrame({key_name(splits, spec): pl.Series(keys, dtype=pl.UInt64)}).write_parquet(buffer)
    return {TRAINED_ROWS_FILE: buffer.getvalue()}


@dataclass(frozen=True)
class ComparisonRows:
    """Which test rows the comparison may use (`mask`), or why it is refused (`refusal`)."""

    mask: np.ndarray | None
    refusal: str | None = None
    left_out: int = 0


def unseen_by_champion(
    test: pl.DataFrame,
    y: np.ndarray,
    spec: DatasetSpec,
    champion_trained_rows: bytes | None,
    *,
    min_rows: int,
) -> ComparisonRows:
    """The test rows whose key is not among the champion's recorded fitted rows.

    `champion_trained_rows` is the champion's `TRAINED_ROWS_FILE` (None when it has none).
    """
    if spec.time_column is not None:
        return ComparisonRows(np.ones(len(y), dtype=bool))
    if champion_trained_rows is None:
        return ComparisonRows(
            None, "the champion recorded no training rows, so rows it saw cannot be left out"
        )
    recorded = pl.read_parquet(io.BytesIO(champion_trained_rows))
    name = key_name(test, spec)
    if recorded.columns != [name]:
        return ComparisonRows(
            None, f"the champion keyed its rows by {recorded.columns}, these rows by {name}"
        )
    seen = np.isin(row_keys(test, spec), recorded[name].to_numpy())
    mask = ~seen
    remaining, positives = int(mask.sum()), int(y[mask].sum())
    if remaining < min_rows or positives in (0, remaining):
        return ComparisonRows(
            None,
            f"{remaining} test rows ({positives} positive) were unseen by the champion; the "
            f"comparison needs at least {min_rows} rows of both classes",
            left_out=int(seen.sum()),
        )
    return ComparisonRows(mask, left_out=int(seen.sum()))
