"""Small summaries of frames for people: null shares, previews, Markdown tables."""

from __future__ import annotations

import math
import numbers
from collections.abc import Sequence
from typing import Any

import polars as pl


def null_shares(frame: pl.DataFrame) -> dict[str, float]:
    """Share of nulls per column (0 for an empty frame)."""
    if frame.height == 0:
        return dict.fromkeys(frame.columns, 0.0)
    counts = frame.null_count().row(0, named=True)
    return {column: round(count / frame.height, 4) for column, count in counts.items()}


_ABSENT = object()


def _cell(value: Any) -> str:
    """One table cell: empty when the row lacks the column, `null` for a missing value, four
    significant figures for a non-integer number."""
    if value is _ABSENT:
        return ""
    if value is None or (isinstance(value, numbers.Real) and math.isnan(value)):
        return "null"
    if isinstance(value, numbers.Real) and not isinstance(value, numbers.Integral):
        return f"{value:.4g}"
    return str(value).replace("|", "\\|").replace("\n", " ")


def markdown_table(rows: Sequence[dict[str, Any]], columns: Sequence[str] | None = None) -> str:
    """Rows of dicts as a GitHub Markdown table; its columns are every key any row has."""
    if not rows:
        return "_(no rows)_"
    names = list(columns or dict.fromkeys(key for row in rows for key in row))
    lines = ["| " + " | ".join(names) + " |", "|" + "---|" * len(names)]
    lines += ["| " + " | ".join(_cell(row.get(n, _ABSENT)) for n in names) + " |" for row in rows]
    return "\n".join(lines)


def preview(frame: pl.DataFrame, rows: int = 5, max_columns: int = 12) -> str:
    """The first rows of a frame as a Markdown table."""
    shown = frame.select(frame.columns[:max_columns]).head(rows)
    return markdown_table(shown.to_dicts(), shown.columns)
