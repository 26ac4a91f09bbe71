"""Small summaries of frames for people: null shares, previews, Markdown tables."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import polars as pl


def null_shares(frame: pl.DataFrame) -> dict[str, float]:
    """Share of nulls per column (0 for an empty frame)."""
    if frame.height == 0:
        return dict.fromkeys(frame.columns, 0.0)
    counts = frame.null_count().row(0, named=True)
    return {column: round(count / frame.height, 4) for column, count in counts.items()}


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|")


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows of dicts as a GitHub Markdown table."""
    if not rows:
        return "_(no rows)_"
    names = list(columns or rows[0].keys())
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_cell(row.get(n, "")) for n in names) + " |" for row in rows]
    return "\n".join(lines)


def preview(frame: pl.DataFrame, rows: int = 5, max_columns: int = 12) -> str:
    """The first rows of a frame as a Markdown table."""
    shown = frame.select(frame.columns[:max_columns]).head(rows)
    return markdown_table(shown.to_dicts(), shown.columns)
