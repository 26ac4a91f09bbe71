"""The champion comparison's rows: test rows the champion never fitted, validated or calibrated on.

For a snapshot dataset every version records the keys of its train, validation and calibration
rows (`TRAINED_ROWS_FILE`, keys from `binclf.train.row_keys`). When a challenger trained on a grown
frame is compared with the champion, its test rows whose key the champion recorded are left out:
a model scored on rows it was fitted on looks better than it is, which would bias the comparison
towards the champion. The comparison is refused, with the reason, when the champion recorded no
keys (or keyed rows differently) or when too few rows remain; a manual promotion of a version that
recorded keys makes later comparisons possible again.

For a time-partitioned dataset the file holds the newest time of the champion's fitted rows
(`FITTED_UNTIL`): only test rows after it are compared, the days neither version fitted on (the
challenger's test rows are the newest of its own window). A version registered before the file
existed has it rebuilt from its card's split time ranges (`fitted_until_from_card`).
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import polars as pl

from binclf.spec import DatasetSpec
from binclf.train.features import SPLIT_COLUMN
from binclf.train.row_keys import key_name, row_keys

TRAINED_ROWS_FILE = "trained_rows.parquet"
FITTED_SPLITS = ("train", "validation", "calibration")
FITTED_UNTIL = "fitted_until"
_MANUAL_PROMOTION = (
    "; promote a version that recorded them by hand (`binclf promote VERSION --reason "
    "...`) to compare later versions against it"
)


def _fitted_until_file(last: datetime) -> bytes:
    buffer = io.BytesIO()
    pl.DataFrame({FITTED_UNTIL: [last.isoformat()]}).write_parquet(buffer)
    return buffer.getvalue()


def fitted_until_from_card(card: dict[str, Any]) -> bytes | None:
    """The `FITTED_UNTIL` file of a version from its card's split time ranges; None when the
    card records none (a snapshot dataset)."""
    splits = card.get("splits") or {}
    ends = [splits[name]["end"] for name in FITTED_SPLITS if (splits.get(name) or {}).get("end")]
    if not ends:
        return None
    return _fitted_until_file(max(datetime.fromisoformat(end) for end in ends))


def trained_rows_file(splits: pl.DataFrame, spec: DatasetSpec) -> dict[str, bytes]:
    """`{TRAINED_ROWS_FILE: parquet}` with the sorted unique keys of the fitted splits' rows, in
    a column named by `key_name`; for a time-partitioned dataset their newest time instead."""
    fitted = splits.filter(pl.col(SPLIT_COLUMN).is_in(FITTED_SPLITS))
    if spec.time_column is not None:
        last = fitted[spec.time_column].max() if fitted.height else None
        return {} if last is None else {TRAINED_ROWS_FILE: _fitted_until_file(last)}
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

    `champion_trained_rows` is the champion's `TRAINED_ROWS_FILE` (None when it has none); for
    a time-partitioned dataset, the test rows after the champion's `FITTED_UNTIL`.
    """
    if champion_trained_rows is None:
        what = "the time range of its fitted rows" if spec.time_column else "training rows"
        return ComparisonRows(
            None,
            f"the champion recorded no {what}, so rows it saw cannot be left out"
            + _MANUAL_PROMOTION,
        )
    recorded = pl.read_parquet(io.BytesIO(champion_trained_rows))
    if spec.time_column is not None:
        if recorded.columns != [FITTED_UNTIL]:
            return ComparisonRows(None, "the champion recorded row keys, not a fitted time range")
        last = datetime.fromisoformat(recorded[FITTED_UNTIL][0])
        seen = (test[spec.time_column] <= last).fill_null(True).to_numpy()
        where = f"after the champion's fitted rows (until {last.isoformat()})"
    else:
        name = key_name(test, spec)
        if recorded.columns != [name]:
            return ComparisonRows(
                None, f"the champion keyed its rows by {recorded.columns}, these rows by {name}"
            )
        seen = np.isin(row_keys(test, spec), recorded[name].to_numpy())
        where = "unseen by the champion"
    mask = ~seen
    remaining, positives = int(mask.sum()), int(y[mask].sum())
    if remaining < min_rows or positives in (0, remaining):
        return ComparisonRows(
            None,
            f"{remaining} test rows ({positives} positive) were {where}; the comparison needs "
            f"at least {min_rows} rows of both classes",
            left_out=int(seen.sum()),
        )
    return ComparisonRows(mask, left_out=int(seen.sum()))
