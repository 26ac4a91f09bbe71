"""Sources with a file per day (`source.path: events/{date}.csv`): a day reads its own file.

Which file holds a day is known from its name, so a partition never reads another day's file:
a file that cannot be read fails its own day only (`SourceFileError`, caught by the caller),
and a day without a file is an empty day. Rows whose event time does not parse are left out
and counted per file (`event_time_parsing`), as for other sources; rows of another day stay,
so that the `event_time` rule names the day whose file holds them.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from pathlib import Path

import polars as pl

from binclf.ingest.scan import (
    READ_ERRORS,
    FileTimes,
    SourceFileError,
    raw_scan,
    scan_path,
    unreadable,
    utc_time,
)
from binclf.spec import DatasetSpec, FileSource, SpecError
from binclf.spec_paths import DayFiles


def day_template(spec: DatasetSpec) -> DayFiles | None:
    """The day-file template of the spec's source; None unless it is day-named."""
    if not isinstance(spec.source, FileSource):
        return None
    return spec.source.day_files(spec.base_dir)


def _template(spec: DatasetSpec) -> DayFiles:
    template = day_template(spec)
    if template is None:
        raise SpecError("source.path: not a file per day (no {date} placeholder)")
    return template


def day_file(spec: DatasetSpec, day: date) -> Path:
    """The path of a day's file, whether or not it exists."""
    return Path(_template(spec).name_of(day))


def read_day(
    spec: DatasetSpec, day: date, *, files: Mapping[date, Path] | None = None
) -> pl.DataFrame:
    """A day's events; an empty day when it has no file (`files`: the day files, if listed).

    Raises `SourceFileError` naming the file when it cannot be read (empty, cut short, corrupt,
    a repeated header, no time column).
    """
    return read_day_counted(spec, day, files=files)[0]


def read_day_counted(
    spec: DatasetSpec, day: date, *, files: Mapping[date, Path] | None = None
) -> tuple[pl.DataFrame, FileTimes | None]:
    """`read_day`, and how the file's event times parsed, from the same single read."""
    path = day_file(spec, day)
    if not path.is_file():
        return empty_day(spec, day, files=files), None
    column = spec.time_column
    assert column is not None
    try:
        raw = raw_scan(spec, path).collect()
    except READ_ERRORS as error:
        raise unreadable(path, error) from None
    if column not in raw.columns:
        raise SourceFileError("time_column", path, f"has no column {column!r}", "fix the file")
    times = [c for c in (column, spec.label_time_column) if c and c in raw.columns]
    try:
        parsed = raw.with_columns(utc_time(c, raw.schema, spec.time_format) for c in times)
    except SpecError as error:
        raise SourceFileError("time_column", path, str(error), "fix the file") from None
    unparsed = int((raw[column].is_not_null() & parsed[column].is_null()).sum())
    counted = FileTimes(path, raw.height, unparsed, day, day)
    return parsed.filter(pl.col(column).is_not_null()), counted


def empty_day(
    spec: DatasetSpec, day: date, *, files: Mapping[date, Path] | None = None
) -> pl.DataFrame:
    """No rows, with the columns of the readable day file nearest to `day` (none: no columns).

    `files` spares listing the day files again (a run over many days lists them once).
    """
    files = _template(spec).existing() if files is None else files
    for near in sorted(files, key=lambda d: (abs((d - day).days), d)):
        try:
            return pl.DataFrame(schema=scan_path(spec, files[near]).collect_schema())
        except (SourceFileError, *READ_ERRORS):
            continue
    return pl.DataFrame()
