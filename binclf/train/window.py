"""The training window: the labeled rows a model may learn from at a given moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import polars as pl

from binclf.spec import DatasetSpec


class WindowError(ValueError):
    """A window request that does not fit the data (missing column, bad length)."""


def _cutoff_literal(cutoff: datetime, dtype: pl.DataType) -> pl.Expr:
    """`cutoff` comparable with a column of `dtype`; a naive cutoff is read in the column's zone."""
    if isinstance(dtype, pl.Datetime) and dtype.time_zone is not None:
        aware = cutoff if cutoff.tzinfo else cutoff.replace(tzinfo=UTC)
        return pl.lit(aware).dt.convert_time_zone(dtype.time_zone)
    naive = cutoff.astimezone(UTC).replace(tzinfo=None) if cutoff.tzinfo else cutoff
    return pl.lit(naive)


def _as_datetime(column: str, dtype: pl.DataType) -> pl.Expr:
    if dtype == pl.Date:
        return pl.col(column).cast(pl.Datetime("us"))
    if not isinstance(dtype, pl.Datetime):
        raise WindowError(f"column {column!r} must be a date or datetime, got {dtype}")
    return pl.col(column)


def select_training_window(
    events: pl.LazyFrame,
    spec: DatasetSpec,
    *,
    cutoff: datetime | None = None,
    window_days: int | None = None,
) -> pl.DataFrame:
    """Labeled rows whose label was known at `cutoff`, from the last `window_days` before it.

    With a time column: events before `cutoff` whose `label_time_column` (when the spec has one)
    is at or before it; `window_days` keeps events at or after `cutoff - window_days` (without a
    cutoff: counted back from the latest labeled event). A snapshot dataset (no time column)
    takes every labeled row and ignores both arguments. Only the final collect reads data.
    """
    if window_days is not None and window_days < 1:
        raise WindowError(f"window_days must be at least 1, got {window_days}")
    schema = events.collect_schema()
    needed = [spec.target, spec.time_column, spec.label_time_column]
    missing = [c for c in needed if c and c not in schema]
    if missing:
        raise WindowError(f"columns named in the spec are not in the data: {missing}")
    labeled = events.filter(pl.col(spec.target).is_not_null())
    if spec.time_column is None:
        return labeled.collect()
    time_dtype = schema[spec.time_column]
    event_time = _as_datetime(spec.time_column, time_dtype)
    if cutoff is not None:
        cutoff_at = _cutoff_literal(cutoff, time_dtype)
        labeled = labeled.filter(event_time < cutoff_at)
        if spec.label_time_column:
            label_dtype = schema[spec.label_time_column]
            labeled = labeled.filter(
                _as_datetime(spec.label_time_column, label_dtype)
                <= _cutoff_literal(cutoff, label_dtype)
            )
    if window_days is not None:
        end = cutoff_at if cutoff is not None else event_time.max()
        labeled = labeled.filter(event_time >= end - pl.lit(timedelta(days=window_days)))
    return labeled.collect()
