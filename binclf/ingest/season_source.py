"""A file source that grows by one day file per simulated day, with labels that arrive late.

The events come from the synthetic generator; each day's file holds the labels known at the
simulated moment, and earlier days' files are rewritten (atomically) when more labels arrived.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl

from binclf.ingest.synthetic import generate_day
from binclf.spec import SyntheticSource

LABEL_HORIZON_DAYS = 60  # the generator's longest label delay


def midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=UTC)


def _write_atomic(frame: pl.DataFrame, path: Path) -> None:
    temporary = path.with_name(f".{path.name}.tmp")
    frame.write_parquet(temporary)
    os.replace(temporary, path)


@dataclass(frozen=True)
class DaySource:
    """Day files `YYYY-MM-DD.parquet` in `folder`, generated from `generator`."""

    folder: Path
    generator: SyntheticSource

    def path(self, day: date) -> Path:
        return self.folder / f"{day.isoformat()}.parquet"

    def land(self, day: date, now: datetime, *, corrupt_column: str | None = None) -> Path:
        """Write `day`'s events with the labels known at `now`; optionally one column emptied."""
        self.folder.mkdir(parents=True, exist_ok=True)
        frame = generate_day(self.generator, day, as_of=now)
        if corrupt_column is not None:
            frame = frame.with_columns(
                pl.lit(None, frame[corrupt_column].dtype).alias(corrupt_column)
            )
        path = self.path(day)
        _write_atomic(frame, path)
        return path

    def refresh_labels(self, now: datetime) -> list[date]:
        """Rewrite the files of earlier days whose labels grew by `now`; returns those days."""
        changed = []
        for path in sorted(self.folder.glob("*.parquet")):
            day = date.fromisoformat(path.stem)
            if midnight(day) + timedelta(days=LABEL_HORIZON_DAYS) < now:
                continue
            known = pl.read_parquet(path, columns=["label_time"])["label_time"].count()
            fresh = generate_day(self.generator, day, as_of=now)
            if fresh["label_time"].count() != known:
                _write_atomic(fresh, path)
                changed.append(day)
        return changed
