"""The daily partitions of a dataset, derived from its spec without reading any data."""

from __future__ import annotations

from dagster import DailyPartitionsDefinition

from binclf.ingest.sources import partition_range
from binclf.spec import DatasetSpec


def daily_partitions(spec: DatasetSpec) -> DailyPartitionsDefinition:
    """One partition per day of event time; a snapshot dataset has exactly one.

    Without an end date the definition is open: Dagster offers every day that has ended, so the
    partitions grow with time and a new day's file is materializable without a reload.
    """
    first, after_last = partition_range(spec)
    return DailyPartitionsDefinition(
        start_date=first.isoformat(),
        end_date=after_last.isoformat() if after_last else None,
        timezone="UTC",
    )
