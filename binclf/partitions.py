"""Daily partition keys: a partition is a UTC day of event time, keyed YYYY-MM-DD."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta


def partition_day(partition_key: str) -> date:
    """The day a partition key names; only plain ISO dates are partition keys."""
    try:
        day = date.fromisoformat(partition_key)
    except (TypeError, ValueError):
        raise ValueError(f"partition key {partition_key!r} is not a date (YYYY-MM-DD)") from None
    if day.isoformat() != partition_key:
        raise ValueError(f"partition key {partition_key!r} is not a date (YYYY-MM-DD)")
    return day


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The UTC start and end of a day."""
    start = datetime(day.year, day.month, day.day, tzinfo=UTC)
    return start, start + timedelta(days=1)


def contiguous_runs(keys: list[str]) -> list[tuple[str, str]]:
    """Partition keys grouped into runs of consecutive days, as (first, last) pairs in order."""
    runs: list[tuple[str, str]] = []
    for day in sorted({partition_day(key) for key in keys}):
        if runs and partition_day(runs[-1][1]) + timedelta(days=1) == day:
            runs[-1] = (runs[-1][0], day.isoformat())
        else:
            runs.append((day.isoformat(), day.isoformat()))
    return runs
