"""Scanning one source file: time columns in UTC, and problems that name the file.

Every way a file can fail (it cannot be read, it is empty or cut short, its header repeats a
column, it lacks the time column) raises a `SourceFileError` with the file and the problem, so
that a day-named source can fail the file's own day and other sources a spec error naming it.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import polars as pl

from binclf.spec import DatasetSpec, SpecError

READ_ERRORS = (pl.exceptions.PolarsError, OSError)
_TAIL_BYTES = 1 << 16  # enough to hold a CSV file's last row


@dataclass(frozen=True)
class FileTimes:
    """How the event times of one source file parsed."""

    path: Path
    rows: int
    unparsed: int  # values present in the file that did not parse as times
    first_day: date | None
    last_day: date | None


class SourceFileError(SpecError):
    """A source file that cannot be used; `problem` says why, without any of its values."""

    def __init__(self, key: str, path: Path, problem: str, fix: str) -> None:
        super().__init__(f"{key}: {path} {problem}; {fix}")
        self.path = path
        self.problem = problem


def unreadable(path: Path, error: BaseException) -> SourceFileError:
    """The error for a file that polars or the OS could not read, with the first line of why.

    Text in backticks, where polars quotes the values it could not parse, is left out.
    """
    text = str(error).strip()
    reason = re.sub(r"`[^`]*`", "`…`", text.splitlines()[0])[:200] if text else ""
    reason = reason or type(error).__name__
    return SourceFileError(
        "source.path", path, f"cannot be read ({reason})", "replace or remove the file"
    )


def utc_time(column: str, schema: pl.Schema, time_format: str | None = None) -> pl.Expr:
    """The column as a UTC datetime: naive times are taken as UTC, strings are parsed.

    Text is parsed with the spec's `time_format`, else in the format polars infers from the
    first values; a value that does not parse becomes null (see `event_time_parsing`).
    """
    dtype = schema[column]
    expr = pl.col(column)
    if dtype == pl.String:
        # Offsets in the text are converted to UTC; text without one is taken as UTC.
        expr = expr.str.to_datetime(
            format=time_format, time_unit="us", time_zone="UTC", strict=False
        )
        dtype = pl.Datetime("us", "UTC")
    if isinstance(dtype, pl.Date):
        expr = expr.cast(pl.Datetime("us"))
        dtype = pl.Datetime("us")
    if not isinstance(dtype, pl.Datetime):
        raise SpecError(f"time column {column!r} has type {dtype}, not a date or datetime")
    if dtype.time_zone is None:
        return expr.dt.replace_time_zone("UTC").alias(column)
    return expr.dt.convert_time_zone("UTC").alias(column)


def _refuse_broken_csv(path: Path) -> None:
    """A CSV whose header repeats a column, or whose last row is cut short, is an error.

    A repeated column would become `x_duplicated_0`; a file cut off in its last row (a copy that
    did not finish) would give that row nulls in its missing fields without a word.
    """
    try:
        with path.open(newline="", encoding="utf-8", errors="replace") as handle:
            header = next(csv.reader(handle), [])
        with path.open("rb") as handle:
            handle.seek(max(0, path.stat().st_size - _TAIL_BYTES))
            tail = handle.read()
    except OSError as error:
        raise unreadable(path, error) from None
    repeated = sorted({name for name in header if header.count(name) > 1})
    if repeated:
        raise SourceFileError(
            "source.path",
            path,
            f"names column(s) {', '.join(map(repr, repeated))} more than once in its header",
            "rename or drop the duplicates",
        )
    if tail and not tail.endswith(b"\n"):
        last = tail.rsplit(b"\n", 1)[-1].decode("utf-8", errors="replace")
        fields = len(next(csv.reader([last]), []))
        if fields < len(header):
            raise SourceFileError(
                "source.path",
                path,
                f"is cut short: its last row has {fields} of {len(header)} fields",
                "replace it with the complete file",
            )


def scan_csv(path: Path, spec: DatasetSpec) -> pl.LazyFrame:
    """A CSV file whose time columns are read as text and parsed by `utc_time`.

    The reader's own date inference would fail the whole file on one odd value past the rows it
    infers from; parsed afterwards, such a value is counted instead (`event_time_parsing`).
    """
    times = [c for c in (spec.time_column, spec.label_time_column) if c]
    return pl.scan_csv(path, try_parse_dates=True, schema_overrides=dict.fromkeys(times, pl.String))


def raw_scan(spec: DatasetSpec, path: Path) -> pl.LazyFrame:
    """One file as it is (CSV time columns as text); a repeated CSV header is refused."""
    if spec.source.kind == "parquet":
        return pl.scan_parquet(path)
    _refuse_broken_csv(path)
    return scan_csv(path, spec)


def schema_of(scan: pl.LazyFrame, path: Path) -> pl.Schema:
    """The columns of one file; a file that cannot be read is an error that names it."""
    try:
        return scan.collect_schema()
    except READ_ERRORS as error:
        raise unreadable(path, error) from None


def scan_path(spec: DatasetSpec, path: Path) -> pl.LazyFrame:
    """One file, lazily, with its time columns normalized to UTC."""
    lazy = raw_scan(spec, path)
    schema = schema_of(lazy, path)
    if spec.time_column and spec.time_column not in schema:
        raise SourceFileError(
            "time_column", path, f"has no column {spec.time_column!r}", "fix the file or the spec"
        )
    for column in (spec.time_column, spec.label_time_column):
        if column and column in schema:
            lazy = lazy.with_columns(utc_time(column, schema, spec.time_format))
    return lazy
