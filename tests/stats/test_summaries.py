"""Markdown evidence tables show every column any row has, nulls as `null`, four figures."""

import math

import numpy as np

from binclf.stats.summaries import markdown_table


def _parse(table: str) -> tuple[list[str], list[list[str]]]:
    header, _, *body = table.splitlines()
    cells = [[c.strip() for c in line.strip("|").split(" | ")] for line in body]
    return [c.strip() for c in header.strip("|").split(" | ")], cells


def test_rows_with_different_keys_show_every_key_in_the_header() -> None:
    rows = [
        {"partition": "2026-03-01", "rule": "expect_column_values_to_be_in_set"},
        {"partition": "2026-03-02", "expected_value_set": '"a", "b"', "unexpected_count": 4},
        {"partition": "2026-03-03", "observed_value": 7, "rule": "expect_table_row_count"},
    ]

    header, body = _parse(markdown_table(rows))

    assert set(header) == {k for row in rows for k in row}
    assert header[:2] == ["partition", "rule"]  # first-seen order
    second = dict(zip(header, body[1], strict=True))
    assert second["expected_value_set"] == '"a", "b"'
    assert second["unexpected_count"] == "4"
    assert second["rule"] == ""  # the row has no such column


def test_missing_values_print_as_null_and_floats_with_four_significant_figures() -> None:
    rows = [
        {"a": None, "b": math.nan, "c": 0.123456789, "d": np.float32(12345.678), "e": 3},
    ]

    header, (cells,) = _parse(markdown_table(rows))

    assert dict(zip(header, cells, strict=True)) == {
        "a": "null",
        "b": "null",
        "c": "0.1235",
        "d": "1.235e+04",
        "e": "3",
    }


def test_cells_cannot_break_the_table() -> None:
    table = markdown_table([{"x": "a|b\nc"}])

    assert table.splitlines()[-1] == "| a\\|b c |"
