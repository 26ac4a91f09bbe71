"""Which daily partitions to ingest because their source files arrived or changed.

A file source grows by files: a day's export lands, a corrected file replaces one, a file is
rewritten with the labels that arrived late. Each file's stamp (size and modification time)
tells whether it changed since the last look without reading it; of a changed file only the time
column is read, to find the days it holds. A file whose days are not all finished yet, or that
cannot be read (still being written), is looked at again next time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

import polars as pl

from binclf.ingest.day_files import day_template
from binclf.ingest.sources import scan_file
from binclf.spec import DatasetSpec, FileSource, SpecError


@dataclass(frozen=True)
class FileStamp:
    """What changes when a file is written: its size and modification time."""

    size: int
    mtime_ns: int

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        status = path.stat()
        return cls(size=status.st_size, mtime_ns=status.st_mtime_ns)


@dataclass(frozen=True)
class Arrivals:
    """Partitions to ingest, the stamps to remember, and files that could not be read."""

    keys: list[str]
    stamps: dict[str, FileStamp]
    changed_files: int = 0
    unreadable: list[str] = field(default_factory=list)


def source_stamps(spec: DatasetSpec) -> dict[str, FileStamp]:
    """The stamp of every file of a file source, by path (no file yet: none)."""
    if not isinstance(spec.source, FileSource):
        raise SpecError("arrivals are watched on file sources; the synthetic source has no files")
    try:
        paths = spec.source.resolved_paths(spec.base_dir)
    except SpecError:
        return {}
    return {str(path): FileStamp.of(path) for path in paths}


def days_in_file(spec: DatasetSpec, path: Path) -> list[str]:
    """The partition keys (UTC days of event time) a file holds; reads only its time column.

    A day-named source's file holds the day its name gives, and is not read at all: a file
    that cannot be read is ingested, and fails its own day.
    """
    if not spec.time_column:
        raise SpecError("arrivals need a time_column: a snapshot has one partition")
    template = day_template(spec)
    if template is not None:
        day = template.day_of(str(path))
        return [day.isoformat()] if day else []
    column = pl.col(spec.time_column)
    days = (
        scan_file(spec, path)
        .select(column.dt.date().unique().drop_nulls().alias("day"))
        .collect()["day"]
    )
    return sorted(day.isoformat() for day in days)


def arrivals(
    spec: DatasetSpec,
    seen: Mapping[str, FileStamp],
    *,
    first_key: str,
    last_key: str,
) -> Arrivals:
    """The partitions in `first_key..last_key` held by files that are new or changed since
    `seen`; the stamps of files fully handled are remembered, deleted files are forgotten."""
    current = source_stamps(spec)
    remembered = {path: stamp for path, stamp in seen.items() if path in current}
    changed = [path for path, stamp in sorted(current.items()) if seen.get(path) != stamp]
    keys: set[str] = set()
    unreadable = []
    for path in changed:
        try:
            days = days_in_file(spec, Path(path))
        except (pl.exceptions.PolarsError, OSError, SpecError):
            unreadable.append(path)
            continue
        in_range = [day for day in days if day >= first_key]
        keys.update(day for day in in_range if day <= last_key)
        if all(day <= last_key for day in in_range):
            remembered[path] = current[path]
    return Arrivals(sorted(keys), remembered, len(changed), unreadable)
