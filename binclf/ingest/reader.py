"""Reading the raw events of a range of partitions in blocks of days, not a scan per day.

A file source scanned once per day costs a pass over every file for each day of a range (700
passes for two years of small days). `PartitionReader` counts the rows per day in one pass, then
reads consecutive days in blocks of at most `block_rows` rows, one pass per block, and hands out
one day at a time, exactly as `read_partition` would read it. Memory stays bounded by a block.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

import polars as pl

from binclf.ingest.day_files import day_template, read_day_counted
from binclf.ingest.scan import FileTimes
from binclf.ingest.sources import event_time_parsing, file_scans, read_partition, stack
from binclf.partitions import day_bounds, partition_day
from binclf.spec import DatasetSpec, FileSource

BLOCK_ROWS = 1_000_000
_DAY = "__partition_day"


class PartitionReader:
    """The raw events of a run's partitions, read in blocks of days; asked for one day at a time."""

    def __init__(
        self, spec: DatasetSpec, keys: Sequence[str], *, block_rows: int = BLOCK_ROWS
    ) -> None:
        self.spec = spec
        self._blocks: list[list[str]] = []
        self._block: dict[str, pl.DataFrame] = {}
        self._scans: list[pl.LazyFrame] = []
        # A day-named source reads each day's own file, nothing else; the files are listed once
        # (for the columns of days without one).
        template = day_template(spec)
        self._day_files = template.existing() if template is not None and keys else None
        self._keys = list(keys)
        self._times: list[FileTimes] = []
        if keys and template is None and isinstance(spec.source, FileSource) and spec.time_column:
            self._scans = file_scans(spec, spec.source)
            self._blocks = _blocks(sorted(keys), self._rows_per_day(keys), block_rows)

    def _day(self) -> pl.Expr:
        assert self.spec.time_column is not None
        return pl.col(self.spec.time_column).dt.date().alias(_DAY)

    def _between(self, first: str, last: str) -> pl.Expr:
        column = pl.col(self.spec.time_column)
        start = day_bounds(partition_day(first))[0]
        end = day_bounds(partition_day(last))[1]
        return (column >= start) & (column < end)

    def _rows_per_day(self, keys: Sequence[str]) -> dict[date, int]:
        """Rows of each day of the range, over all files, in one pass."""
        counts = pl.collect_all(
            [
                scan.filter(self._between(min(keys), max(keys))).group_by(self._day()).len()
                for scan in self._scans
            ]
        )
        rows: dict[date, int] = {}
        for frame in counts:
            for day, n in frame.iter_rows():
                rows[day] = rows.get(day, 0) + n
        return rows

    def read(self, key: str) -> pl.DataFrame:
        """One partition's events; reading the next block of days when `key` is not in this one."""
        if self._day_files is not None:
            frame, times = read_day_counted(self.spec, partition_day(key), files=self._day_files)
            self._times.extend([times] if times else [])
            return frame
        if not self._scans:
            return read_partition(self.spec, key)
        if key not in self._block:
            block = next((b for b in self._blocks if key in b), [key])
            self._block = self._read_block(block)
        return self._block.pop(key)

    def event_times(self) -> list[FileTimes]:
        """How the event times of the run's files parsed: of a day-named source, counted as
        its days were read (call it after reading them); of others, from the files."""
        if self._day_files is not None:
            return list(self._times)
        return event_time_parsing(self.spec, self._keys)

    def _read_block(self, keys: list[str]) -> dict[str, pl.DataFrame]:
        """The days of one block, each stacked over the files as `read_partition` stacks it."""
        frames = pl.collect_all(
            [scan.filter(self._between(keys[0], keys[-1])) for scan in self._scans]
        )
        by_day = [
            {
                day: part
                for (day,), part in f.with_columns(self._day())
                .partition_by(_DAY, as_dict=True, include_key=False, maintain_order=True)
                .items()
            }
            for f in frames
        ]
        days: dict[str, pl.DataFrame] = {}
        for key in keys:
            day = partition_day(key)
            parts = [d.get(day, f.clear()) for d, f in zip(by_day, frames, strict=True)]
            days[key] = stack([p for p in parts if p.height] or parts[:1])
        return days


def _blocks(keys: list[str], rows: dict[date, int], block_rows: int) -> list[list[str]]:
    """Consecutive keys grouped so that a block holds at most `block_rows` rows (or one day)."""
    blocks: list[list[str]] = []
    held = 0
    for key in keys:
        n = rows.get(partition_day(key), 0)
        if not blocks or (held + n > block_rows and blocks[-1]):
            blocks.append([])
            held = 0
        blocks[-1].append(key)
        held += n
    return blocks
