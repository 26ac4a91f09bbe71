"""The names of validation rules, and which of them block a day and which only warn.

Every expectation of the suite carries a rule name (`meta.rule`). A blocking rule keeps the day
out of `validated_events`: data that cannot be used (columns or kinds, the target's values, ids,
event and label times, non-finite or out-of-range numbers, too few rows, a null or unseen share
far past its bound). A warning rule only reports a drifting null or unseen share. The spec moves
rules between the two with `validation.warn_only` and `validation.blocking`.
"""

from __future__ import annotations

from typing import Any, get_args

from binclf.spec import DatasetSpec, RuleName

BLOCKING_BY_DEFAULT: frozenset[RuleName] = frozenset(
    {
        "min_rows",
        "schema",
        "target_domain",
        "ids",
        "event_time",
        "label_time",
        "numeric_range",
        "null_share_far",
        "unseen_share_far",
        "unparsed_times",
    }
)
WARNING_BY_DEFAULT: frozenset[RuleName] = frozenset(get_args(RuleName)) - BLOCKING_BY_DEFAULT


def blocking_rules(spec: DatasetSpec) -> frozenset[str]:
    """The rules that block a day under this spec."""
    rules = spec.validation
    return (BLOCKING_BY_DEFAULT - set(rules.warn_only)) | set(rules.blocking)


def rule_of(expectation_type: str, kwargs: dict[str, Any], spec: DatasetSpec) -> RuleName:
    """The rule an expectation without a `meta.rule` stands for (by its type and column)."""
    column = kwargs.get("column")
    if expectation_type == "expect_table_row_count_to_be_between":
        return "min_rows"
    if expectation_type in ("expect_column_to_exist", "expect_column_values_to_be_in_type_list"):
        return "schema"
    if expectation_type == "expect_column_pair_values_a_to_be_greater_than_b":
        return "label_time"
    if column is not None and column == spec.target:
        return "target_domain"
    if column is not None and column == spec.id_column:
        return "ids"
    if column is not None and column == spec.time_column:
        return "event_time"
    if expectation_type == "expect_column_values_to_be_between":
        return "numeric_range"
    if expectation_type == "expect_column_values_to_not_be_null":
        return "null_share"
    return "unseen_share"
