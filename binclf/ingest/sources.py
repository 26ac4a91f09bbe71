"""Reading a dataset's raw events, one daily partition at a time.

Partitions are days of event time (UTC). A dataset without a time column is one snapshot
partition, keyed by `partitions.snapshot_date`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import TypeVar

import polars as pl

from binclf.ingest.day_files import day_file, day_template, read_day
from binclf.ingest.scan import READ_ERRORS, FileTimes, raw_scan, scan_path, schema_of, utc_time
from binclf.ingest.synthetic import generate_day
from binclf.partitions import day_bounds, partition_day
from binclf.spec import DatasetSpec, FileSource, SpecError, SyntheticSource

Frame = TypeVar("Frame", pl.DataFrame, pl.LazyFrame)
Measured = TypeVar("Measured")


def file_scans(spec: DatasetSpec, source: FileSource) -> list[pl.LazyFrame]:
    """One lazy scan per file, time columns normalized to UTC.

    Files are scanned one by one so that a file whose columns differ from the others (a day
    exported without a column, or with another type) only affects the partitions it holds,
    where validation reports it, instead of failing every read.
    """
    return [scan_path(spec, path) for path in source.resolved_paths(spec.base_dir)]


def _file_times(spec: DatasetSpec, path: Path) -> FileTimes:
    column = spec.time_column
    assert column is not None
    raw = raw_scan(spec, path)
    schema = schema_of(raw, path)
    if column not in schema:
        raise SpecError(f"time_column: {path} has no column {column!r}")
    parsed = utc_time(column, schema, spec.time_format)
    row = raw.select(
        pl.len().alias("rows"),
        (pl.col(column).is_not_null() & parsed.is_null()).sum().alias("unparsed"),
        parsed.min().dt.date().alias("first"),
        parsed.max().dt.date().alias("last"),
    ).collect()
    return FileTimes(path, row["rows"][0], int(row["unparsed"][0]), row["first"][0], row["last"][0])


def event_time_parsing(spec: DatasetSpec, keys: Sequence[str] | None = None) -> list[FileTimes]:
    """Per file of a file source: rows, event times that did not parse, and the days it holds.

    A day-named source counts the files of `keys` only, each holding the day its name gives; a
    file that cannot be read is left out (its day fails on its own when it is read).
    """
    if spec.is_snapshot or not isinstance(spec.source, FileSource):
        return []
    if day_template(spec) is None:
        return [_file_times(spec, path) for path in spec.source.resolved_paths(spec.base_dir)]

    def named_day(day: date, path: Path) -> FileTimes:
        return replace(_file_times(spec, path), first_day=day, last_day=day)

    return _each_day_file(spec, keys or (), named_day)


def _each_day_file(
    spec: DatasetSpec, keys: Sequence[str], measure: Callable[[date, Path], Measured]
) -> list[Measured]:
    """`measure` of each readable file of a day-named source's `keys`; a bad file is skipped."""
    measured = []
    for day in sorted({partition_day(key) for key in keys}):
        path = day_file(spec, day)
        if path.is_file():
            try:
                measured.append(measure(day, path))
            except (SpecError, *READ_ERRORS):
                continue
    return measured


def stack(frames: list[Frame]) -> Frame:
    """Frames of several files as one; a column a file lacks is null in its rows."""
    return frames[0] if len(frames) == 1 else pl.concat(frames, how="diagonal_relaxed")


def scan_source(spec: DatasetSpec) -> pl.LazyFrame:
    """All events of a file source, lazily, with time columns normalized to UTC."""
    if not isinstance(spec.source, FileSource):
        raise SpecError("scan_source reads file sources; the synthetic source is generated per day")
    return stack(file_scans(spec, spec.source))


def partition_range(spec: DatasetSpec) -> tuple[date, date | None]:
    """First day and the day after the last (None: open, the partitions grow with time).

    Reads no data, so it is safe when the code location loads. A snapshot is one day. A synthetic
    stream starts at its first day and ends after its `days` unless the spec says otherwise. A
    file source starts at `partitions.start_date`, which it must set, and has an open end: every
    finished day is a partition, so tomorrow's file needs no restart. `partitions.end_date` fixes
    the end, for replays of a closed period only.
    """
    if spec.is_snapshot:
        first = spec.partitions.snapshot_date
        return first, first + timedelta(days=1)
    if isinstance(spec.source, SyntheticSource):
        first = spec.partitions.start_date or spec.source.start_date
        last = spec.partitions.end_date or spec.source.start_date + timedelta(days=spec.source.days)
        return first, last
    if spec.partitions.start_date is None:
        raise SpecError(
            "partitions.start_date: a file source with a time_column needs the first day of its "
            "partitions (the code location reads no data when it loads; `source_time_range` "
            "reports the first and last day the files hold)"
        )
    return spec.partitions.start_date, spec.partitions.end_date


def source_time_range(spec: DatasetSpec) -> tuple[date, date]:
    """First day and the day after the last that a file source's events cover.

    Reads every file, or for a day-named source only the names of its files.
    """
    if not isinstance(spec.source, FileSource) or not spec.time_column:
        raise SpecError("source_time_range reads the time column of a file source")
    if day_template(spec) is not None:
        days = list(spec.source.day_paths(spec.base_dir))
        if not days:
            raise SpecError(f"source.path: no {spec.source.kind} file found at {spec.source.path}")
        return days[0], days[-1] + timedelta(days=1)
    bounds = (
        scan_source(spec)
        .select(
            pl.col(spec.time_column).min().alias("lo"),
            pl.col(spec.time_column).max().alias("hi"),
        )
        .collect()
    )
    lo, hi = bounds["lo"][0], bounds["hi"][0]
    if lo is None:
        raise SpecError(f"time_column {spec.time_column!r} has no values to partition by")
    return lo.date(), hi.date() + timedelta(days=1)


def read_partition(spec: DatasetSpec, partition_key: str) -> pl.DataFrame:
    """The raw events of one partition, exactly as the source has them."""
    day = partition_day(partition_key)
    if spec.is_snapshot:
        if day != spec.partitions.snapshot_date:
            raise ValueError(
                f"partition {partition_key}: dataset {spec.name!r} has no time column; its only "
                f"partition is the snapshot {spec.partitions.snapshot_date.isoformat()}"
            )
        return scan_source(spec).collect()
    if isinstance(spec.source, SyntheticSource):
        return generate_day(spec.source, day)
    assert spec.time_column and isinstance(spec.source, FileSource)
    if day_template(spec) is not None:
        return read_day(spec, day)
    start, end = day_bounds(day)
    column = pl.col(spec.time_column)
    scans = [
        scan.filter((column >= start) & (column < end)) for scan in file_scans(spec, spec.source)
    ]
    frames = pl.collect_all(scans)
    return stack([f for f in frames if f.height] or frames[:1])


def observed_at(spec: DatasetSpec) -> datetime:
    """The moment the data is observed: now, or the end of the synthetic stream."""
    if isinstance(spec.source, SyntheticSource):
        from binclf.ingest.synthetic import demo_end

        return demo_end(spec.source)
    return datetime.now(UTC)


def fresh_labels(spec: DatasetSpec, partition_key: str) -> pl.DataFrame | None:
    """The labels of a partition as the source has them now (None without an id to join on)."""
    if spec.id_column is None:
        return None
    columns = [spec.id_column, spec.target]
    if spec.label_time_column:
        columns.append(spec.label_time_column)
    return read_partition(spec, partition_key).select(columns)


def keys_in_window(keys: list[str], cutoff: datetime | None, window_days: int | None) -> list[str]:
    """The partitions that can hold events of a training window ending at `cutoff`."""
    if not keys:
        raise ValueError("no validated partitions: materialize raw_events and validated_events")
    chosen = [k for k in keys if cutoff is None or day_bounds(partition_day(k))[0] < cutoff]
    if window_days is not None:
        end = cutoff or day_bounds(partition_day(chosen[-1]))[1] if chosen else None
        if end is not None:
            start = end - timedelta(days=window_days + 1)
            chosen = [k for k in chosen if day_bounds(partition_day(k))[1] > start]
    if not chosen:
        raise ValueError(
            f"no validated partition before cutoff {cutoff} in a window of {window_days} days"
        )
    return chosen


def rows_without_time(spec: DatasetSpec, keys: Sequence[str] = ()) -> int:
    """Rows of a file source whose event time is null: no daily partition can hold them.

    A day-named source counts them in the readable files of `keys` only.
    """
    if spec.is_snapshot or not isinstance(spec.source, FileSource):
        return 0
    column = pl.col(spec.time_column)
    if day_template(spec) is not None:

        def nulls(_: date, path: Path) -> int:
            return int(scan_path(spec, path).select(column.is_null().sum()).collect().item())

        return sum(_each_day_file(spec, keys, nulls))
    return int(scan_source(spec).select(column.is_null().sum()).collect().item())


def scan_file(spec: DatasetSpec, path: Path) -> pl.LazyFrame:
    """One file of a file source, lazily, with time columns normalized to UTC."""
    if not isinstance(spec.source, FileSource):
        raise SpecError("scan_file reads file sources; the synthetic source has no files")
    (scan,) = file_scans(spec, spec.source.model_copy(update={"path": str(path)}))
    return scan
