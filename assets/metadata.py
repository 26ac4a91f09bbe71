"""Metadata the Dagster UI shows for frames: rows, null shares, a preview."""

from __future__ import annotations

from typing import Any

import polars as pl
from dagster import MetadataValue

from binclf.summaries import markdown_table, null_shares, preview


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


def partitions_metadata(frames: dict[str, pl.DataFrame]) -> dict[str, Any]:
    """Rows per partition and the metadata of the newest partition, for a run over a range."""
    if len(frames) == 1:
        return frame_metadata(next(iter(frames.values())))
    newest = max(frames)
    rows = [{"partition": key, "rows": frames[key].height} for key in sorted(frames)]
    return {
        **{f"newest_{k}": v for k, v in frame_metadata(frames[newest]).items()},
        "partitions": MetadataValue.int(len(frames)),
        "rows": MetadataValue.int(sum(f.height for f in frames.values())),
        "rows_per_partition": MetadataValue.md(markdown_table(rows)),
    }
