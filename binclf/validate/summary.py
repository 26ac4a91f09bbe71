"""One line per broken rule for a run over many partitions, with the fix to try.

A backfill where every day breaks the same rule says so once, with the count of partitions; each
day's failures stay on that day's verdict.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from binclf.spec import DatasetSpec
from binclf.validate.validation import ValidationReport


@dataclass(frozen=True)
class RuleSummary:
    """A rule broken in some partitions of a run."""

    column: str | None
    rule: str
    partitions: list[str]
    checked: int
    fix: str
    blocking: bool = True

    def describe(self) -> str:
        where = f"column {self.column!r}" if self.column else "table"
        first, last = self.partitions[0], self.partitions[-1]
        span = first if first == last else f"{first} … {last}"
        return (
            f"{where} broke {self.rule} in {len(self.partitions)} of {self.checked} partitions "
            f"({span}) — {self.fix}"
        )


def _fix(spec: DatasetSpec, column: str | None, rule: str) -> str:
    """What to change, in the spec or the source, when `rule` fails on `column`."""
    if rule == "source_file_reads":
        return "the day's source file cannot be read: replace it, then ingest the day again"
    if rule == "expect_table_row_count_to_be_between":
        return "lower validation.min_rows, or check that the source has these days"
    if rule == "expect_column_to_exist":
        return "the source lacks the column; fix the source or the spec's column names"
    if rule == "expect_column_values_to_be_in_type_list":
        return "the column's type differs from the validation profile; fix the source"
    if column == spec.target and rule == "expect_column_values_to_be_in_set":
        return "target values outside positive and negative: list them in negative:"
    if rule == "expect_column_values_to_be_in_set":
        return (
            "unseen categories: list the levels in validation.allowed_categories or raise "
            "validation.max_unseen_category_share"
        )
    if column is not None and column == spec.id_column:
        return "ids must be present and unique within a day; fix the source"
    if rule == "expect_column_values_to_not_be_null":
        return f"raise validation.null_share_overrides.{column} or validation.max_null_share"
    if rule == "event_times_parse":
        return "event times that do not parse: set time_format in the spec, or fix the file"
    if rule == "expect_column_pair_values_a_to_be_greater_than_b":
        return "labels dated before their events: check label_time_column and its time zone"
    if column is not None and column == spec.time_column:
        return "event times outside their day or in the future: check time_column's time zone"
    if rule == "expect_column_values_to_be_between":
        return f"values outside validation.numeric_ranges.{column} or not finite; fix the source"
    return "fix the source or the validation settings"


def summarize(spec: DatasetSpec, reports: list[ValidationReport]) -> list[RuleSummary]:
    """Broken rules of a run, each with the partitions that broke it, most frequent first."""
    partitions: dict[tuple[str | None, str, bool], list[str]] = defaultdict(list)
    for report in reports:
        for failure in report.failures:
            partitions[(failure.column, failure.rule, failure.blocking)].append(report.partition)
    summaries = [
        RuleSummary(column, rule, sorted(keys), len(reports), _fix(spec, column, rule), blocking)
        for (column, rule, blocking), keys in partitions.items()
    ]
    return sorted(
        summaries, key=lambda s: (not s.blocking, -len(s.partitions), s.column or "", s.rule)
    )
