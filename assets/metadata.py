"""Metadata the Dagster UI shows for each stored partition of a frame: rows, null shares, a preview.

An asset decides about its preview in its definition metadata: `PREVIEW_KEY` set to "off" shows
none, `PREVIEW_HIDDEN_KEY` names columns (ids, sensitive ones) never shown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import polars as pl
from dagster import MetadataValue

from binclf.stats.summaries import markdown_table, null_shares, preview

PREVIEW_KEY = "binclf/preview"
PREVIEW_HIDDEN_KEY = "binclf/preview_hidden_columns"


@dataclass(frozen=True)
class PreviewPolicy:
    """Whether a frame's first rows are shown, and which columns never are."""

    shown: bool = True
    hidden: frozenset[str] = frozenset()

    @classmethod
    def from_definition(cls, metadata: Mapping[str, Any] | None) -> PreviewPolicy:
        def text(key: str) -> str:
            value = (metadata or {}).get(key, "")
            return str(getattr(value, "value", value) or "")

        hidden = frozenset(c for c in text(PREVIEW_HIDDEN_KEY).split(",") if c)
        return cls(shown=text(PREVIEW_KEY) != "off", hidden=hidden)

    def definition(self) -> dict[str, str]:
        """The definition metadata of an asset that follows this policy."""
        return {
            PREVIEW_KEY: "on" if self.shown else "off",
            PREVIEW_HIDDEN_KEY: ",".join(sorted(self.hidden)),
        }


def frame_metadata(frame: pl.DataFrame, policy: PreviewPolicy | None = None) -> dict[str, Any]:
    """Row count, columns, null shares and, if the policy allows, the first rows of one frame."""
    policy = policy or PreviewPolicy()
    shares = null_shares(frame)
    worst = sorted(shares.items(), key=lambda kv: -kv[1])[:10]
    metadata: dict[str, Any] = {
        "rows": MetadataValue.int(frame.height),
        "columns": MetadataValue.int(frame.width),
        "null_shares": MetadataValue.md(
            markdown_table([{"column": c, "null_share": s} for c, s in worst])
        ),
    }
    if policy.shown:
        shown = frame.select([c for c in frame.columns if c not in policy.hidden])
        metadata["preview"] = MetadataValue.md(preview(shown))
    return metadata


def linked_partition_metadata(path: str) -> dict[str, Any]:
    """Rows and columns of a stored partition another asset links to, read from its footer."""
    scan = pl.scan_parquet(path)
    return {
        "rows": MetadataValue.int(scan.select(pl.len()).collect().item()),
        "columns": MetadataValue.int(len(scan.collect_schema())),
    }
