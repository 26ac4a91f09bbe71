"""When each label was first seen, for data without `label_time_column`.

Without label times a label's arrival cannot be read from the data, so the run that first sees
a row's label dates it: a per-partition record of (id, first seen at), kept in the state store
and rewritten atomically by each label run. With it, coverage as of a moment, time to label (an
upper bound: the label arrived at or before the run that saw it) and the labels new since a
training cutoff work as with real label times. A label that later disappears keeps its record.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl

from binclf.io.partition_store import PartitionStore

SEEN_COLUMN = "label_first_seen_at"
RECORD = "label_arrivals"  # the store's folder of first-seen records


def update_first_seen(
    previous: pl.DataFrame | None,
    labels: pl.DataFrame,
    *,
    id_column: str,
    target: str,
    seen_at: datetime,
    aware: bool,
) -> pl.DataFrame:
    """The record after a run at `seen_at`: ids seen before keep their time, newly labeled ids
    get `seen_at` (UTC; naive when `aware` is false, to match a naive event-time column)."""
    if seen_at.tzinfo is None:
        raise ValueError(f"seen_at must be timezone-aware, got {seen_at.isoformat()}")
    moment = seen_at.astimezone(UTC)
    dtype = pl.Datetime("us", "UTC") if aware else pl.Datetime("us")
    stamp = pl.lit(moment if aware else moment.replace(tzinfo=None)).cast(dtype)
    labeled = labels.filter(pl.col(target).is_not_null()).select(
        pl.col(id_column), stamp.alias(SEEN_COLUMN)
    )
    if previous is None:
        return labeled.sort(id_column)
    previous = previous.with_columns(pl.col(SEEN_COLUMN).cast(dtype))
    new = labeled.join(previous.select(id_column), on=id_column, how="anti")
    return pl.concat([previous, new]).sort(id_column)


def record_first_seen(
    store: PartitionStore,
    partition_key: str,
    labels: pl.DataFrame,
    *,
    id_column: str,
    target: str,
    seen_at: datetime,
    aware: bool,
) -> pl.DataFrame:
    """Update and durably write one partition's record; returns it."""
    previous = store.read(RECORD, partition_key) if store.exists(RECORD, partition_key) else None
    record = update_first_seen(
        previous, labels, id_column=id_column, target=target, seen_at=seen_at, aware=aware
    )
    store.write(RECORD, record, partition_key)
    return record
