"""Metadata the Dagster UI shows for frames: rows, null shares, a preview."""

from __future__ import annotations

from typing import Any

import polars as pl
from dagster import MetadataValue

from binclf.stats.summaries import markdown_table, null_shares, preview


def frame_metadata(frame: pl.DataFrame) -> dict[str, Any]:
    """Row count, columns, null shares and the first rows of one frame."""
    shares = null_shares(frame)
    worst = sorted(shares.items(), key=lambda kv: -kv[1])[:10]
    return {
        "rows": MetadataValue.int(frame.height),
        "columns": MetadataValue.int(frame.width),
        "null_shares": MetadataValue.md(
            markdown_table([{"column": c, "null_share": s} for c, s in worst])
        ),
        "preview": MetadataValue.md(preview(frame)),
    }


class PartitionsMetadata:
    """Rows per partition and the metadata of the newest partition, for a run over a range.

    Partitions are added one at a time, so no more than one of them need be in memory.
    """

    def __init__(self, newest: str) -> None:
        self._newest = newest
        self._rows: dict[str, int] = {}
        self._newest_metadata: dict[str, Any] = {}

    def add(self, key: str, frame: pl.DataFrame | pl.LazyFrame) -> None:
        """Count a partition's rows; describe it in full if it is the newest."""
        if key == self._newest:
            frame = frame.collect() if isinstance(frame, pl.LazyFrame) else frame
            self._newest_metadata = frame_metadata(frame)
        if isinstance(frame, pl.LazyFrame):
            self._rows[key] = frame.select(pl.len()).collect().item()
        else:
            self._rows[key] = frame.height

    def metadata(self) -> dict[str, Any]:
        if len(self._rows) <= 1:
            return self._newest_metadata
        rows = [{"partition": key, "rows": self._rows[key]} for key in sorted(self._rows)]
        return {
            **{f"newest_{k}": v for k, v in self._newest_metadata.items()},
            "partitions": MetadataValue.int(len(self._rows)),
            "rows": MetadataValue.int(sum(self._rows.values())),
            "rows_per_partition": MetadataValue.md(markdown_table(rows)),
        }
