"""Validation of raw partitions with great-expectations, against the spec and a reference profile.

The suite is built from the dataset spec (roles, target domain, limits) and from a profile of
reference days (columns, their kinds, allowed categories). Each failed expectation is reported
with the partition, the column, the rule broken, counts and sample values (never values of the
id or sensitive columns). A run over many partitions uses `binclf.validate.batch` instead, which
gives the same verdicts in one call.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import Any

import polars as pl

from binclf.partitions import day_bounds, partition_day
from binclf.spec import DatasetSpec
from binclf.validate.bounds import RateLimit, null_limit, unseen_limit
from binclf.validate.profile import (  # noqa: F401 (the profile is part of this module's API)
    MAX_CATEGORY_LEVELS,
    ValidationProfile,
    build_profile,
    target_domain,
)
from binclf.validate.report import (  # noqa: F401 (reports are part of this module's API)
    Failure,
    PartitionValidationError,
    ValidationReport,
    drop_near_duplicates,
    report_from_dict,
    report_to_dict,
)
from binclf.validate.rules import blocking_rules, rule_of

KIND_DTYPES = {
    "numeric": [
        "int8", "int16", "int32", "int64", "uint8", "uint16", "uint32", "uint64",
        "float32", "float64", "Int8", "Int16", "Int32", "Int64", "Float32", "Float64",
        "bool", "boolean",
    ],
    "string": ["object", "string", "str", "category"],
    "boolean": ["bool", "boolean", "object"],
}  # fmt: skip


def _mostly(limit: RateLimit) -> float | dict[str, str]:
    """A fixed `mostly`, or a parameter set per partition from its size (binomial limits)."""
    return {"$PARAMETER": limit.parameter} if limit.binomial else 1.0 - limit.limit


def rate_limits(spec: DatasetSpec, profile: ValidationProfile) -> dict[str, RateLimit]:
    """The rate rules of the suite by parameter name: null shares, then unseen shares."""
    not_features = {spec.target, spec.id_column, spec.time_column, spec.label_time_column}
    limits = [null_limit(spec, c) for c in profile.kinds if c not in not_features]
    limits += [unseen_limit(spec, c) for c in profile.categories]
    limits += [unseen_limit(spec, c, profile.novelty_rates[c]) for c in profile.open_levels]
    limits += [limit.far() for limit in limits]
    return {limit.parameter: limit for limit in limits}


def pandas_nonnull(frame: pl.DataFrame, column: str) -> int:
    """Values pandas counts as present (NaN is missing there)."""
    series = frame[column]
    missing = series.null_count()
    if series.dtype.is_float():
        missing += int(series.is_nan().sum() or 0)
    return series.len() - missing


def rate_parameters(
    frame: pl.DataFrame, spec: DatasetSpec, profile: ValidationProfile
) -> dict[str, float]:
    """The `mostly` of every binomial rate rule for this partition's row and value counts."""
    parameters: dict[str, float] = {}
    for name, limit in rate_limits(spec, profile).items():
        if not limit.binomial:
            continue
        if limit.counts == "rows":
            considered = frame.height
        elif limit.column in frame.columns:
            considered = pandas_nonnull(frame, limit.column)
        else:
            considered = 0
        parameters[name] = limit.mostly(considered)
    return parameters


def numeric_bounds(
    spec: DatasetSpec, profile: ValidationProfile
) -> dict[str, tuple[float | None, float | None]]:
    """The spec's ranges, and every numeric feature bounded to finite values (inf blocks)."""
    not_features = {spec.target, spec.id_column, spec.time_column, spec.label_time_column}
    bounds = dict(spec.validation.numeric_ranges)
    for column, kind in profile.kinds.items():
        if kind == "numeric" and column not in not_features:
            low, high = bounds.get(column, (None, None))
            bounds[column] = (
                -sys.float_info.max if low is None else low,
                sys.float_info.max if high is None else high,
            )
    return bounds


def suite_expectations(spec: DatasetSpec, profile: ValidationProfile, *, rows: int) -> list[Any]:
    """The suite; partition-dependent bounds are the parameters day_start, day_end and now."""
    import great_expectations.expectations as gxe

    rules = spec.validation
    expected = list(profile.kinds)
    suite: list[Any] = [gxe.ExpectTableRowCountToBeBetween(min_value=rules.min_rows)]
    suite += [gxe.ExpectColumnToExist(column=c) for c in expected]
    suite += [
        gxe.ExpectColumnValuesToBeInTypeList(column=c, type_list=KIND_DTYPES[profile.kinds[c]])
        for c in expected
        if profile.kinds[c] != "datetime"  # datetimes are checked by their range rules below
    ]
    suite.append(
        gxe.ExpectColumnValuesToBeInSet(column=spec.target, value_set=target_domain(spec, profile))
    )
    if spec.id_column:
        suite.append(gxe.ExpectColumnValuesToBeUnique(column=spec.id_column))
        suite.append(gxe.ExpectColumnValuesToNotBeNull(column=spec.id_column))
    not_features = {spec.target, spec.id_column, spec.time_column, spec.label_time_column}
    for column in expected:
        if column in not_features:
            continue
        limit = null_limit(spec, column)
        for rule, bound in (("null_share", limit), ("null_share_far", limit.far())):
            suite.append(
                gxe.ExpectColumnValuesToNotBeNull(
                    column=column, mostly=_mostly(bound), meta={"rule": rule}
                )
            )
    level_sets = {**profile.categories, **profile.open_levels}  # open: judged by novelty rate
    for column, levels in level_sets.items():
        limit = unseen_limit(spec, column, profile.novelty_rates.get(column))
        for rule, bound in (("unseen_share", limit), ("unseen_share_far", limit.far())):
            suite.append(
                gxe.ExpectColumnValuesToBeInSet(
                    column=column, value_set=levels, mostly=_mostly(bound), meta={"rule": rule}
                )
            )
    for column, (low, high) in numeric_bounds(spec, profile).items():
        suite.append(
            gxe.ExpectColumnValuesToBeBetween(column=column, min_value=low, max_value=high)
        )
    if spec.time_column:
        suite.append(gxe.ExpectColumnValuesToNotBeNull(column=spec.time_column))
        suite.append(
            gxe.ExpectColumnValuesToBeBetween(
                column=spec.time_column,
                min_value={"$PARAMETER": "day_start"},
                max_value={"$PARAMETER": "day_end"},
                strict_max=True,
            )
        )
        if spec.label_time_column:  # a label cannot be known before its event happened
            suite.append(
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=spec.label_time_column,
                    column_B=spec.time_column,
                    or_equal=True,
                    ignore_row_if="either_value_is_missing",
                )
            )
        if rows:  # the maximum of no events is undefined; the row count reports the gap
            suite.append(
                gxe.ExpectColumnMaxToBeBetween(
                    column=spec.time_column, max_value={"$PARAMETER": "now"}
                )
            )
    return suite


def validation_time() -> datetime:
    """The instant a validation judges "in the future" against: now, in UTC."""
    return datetime.now(UTC)


def quoted(value: Any) -> str:
    """A value as evidence shows it: strings in quotes, so spaces at either end stay visible."""
    return f'"{value}"' if isinstance(value, str) else str(value)


def sample_text(counts: list[tuple[Any, int]]) -> str:
    """Sample values with how often each occurred: `"Grocery " ×3, "x" ×1`."""
    return ", ".join(f"{quoted(value)} ×{count}" for value, count in counts)


def expected_detail(kwargs: dict[str, Any]) -> dict[str, str]:
    """What a rule expected, as short text: its value set, bounds, `mostly` and types."""
    detail: dict[str, str] = {}
    for key in ("value_set", "min_value", "max_value", "mostly", "type_list"):
        if kwargs.get(key) is not None:
            value = kwargs[key]
            text = ", ".join(map(quoted, value)) if isinstance(value, list | set) else str(value)
            detail[f"expected_{key}"] = text[:200]
    return detail


def named_rule(config: Any, spec: DatasetSpec) -> str:
    """The rule name of an expectation's configuration."""
    meta = config.meta or {}
    return str(meta.get("rule") or rule_of(config.type, config.kwargs, spec))


def _failure(partition: str, result: Any, *, spec: DatasetSpec, private: set[str]) -> Failure:
    config = result.expectation_config
    outcome = result.result or {}
    detail: dict[str, Any] = {}
    for key in ("observed_value", "unexpected_count", "unexpected_percent", "element_count"):
        if key in outcome and outcome[key] is not None:
            value = outcome[key]
            detail[key] = round(value, 3) if isinstance(value, float) else str(value)
    counts = outcome.get("partial_unexpected_counts") or []
    if counts and config.kwargs.get("column") not in private:  # ids and sensitive values stay out
        detail["sample_values"] = sample_text([(c["value"], c["count"]) for c in counts[:5]])
    detail.update(expected_detail(config.kwargs))
    column = config.kwargs.get("column") or config.kwargs.get("column_A")
    if config.type == "expect_column_to_exist":
        detail = {"error": f"column {column!r} is missing"}
    name = named_rule(config, spec)
    return Failure(
        partition=partition,
        column=column,
        rule=config.type,
        detail=detail,
        name=name,
        blocking=name in blocking_rules(spec),
    )


class PartitionValidator:
    """Runs the suite over partitions with one ephemeral great-expectations context."""

    def __init__(self, spec: DatasetSpec, profile: ValidationProfile) -> None:
        import great_expectations as gx
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        self.spec = spec
        self.profile = profile
        self._context = gx.get_context(mode="ephemeral")
        self._context.variables.progress_bars = ProgressBarsConfig(globally=False)
        source = self._context.data_sources.add_pandas("binclf")
        asset = source.add_dataframe_asset("partition")
        self._batches = asset.add_batch_definition_whole_dataframe("whole")
        self._suites: dict[bool, Any] = {}

    def _suite(self, *, has_rows: bool) -> Any:
        """The suite, built once: adding expectations one by one is slow in great-expectations."""
        import great_expectations as gx

        if has_rows not in self._suites:
            suite = gx.ExpectationSuite(name=f"{self.spec.name}-{'rows' if has_rows else 'empty'}")
            for expectation in suite_expectations(self.spec, self.profile, rows=int(has_rows)):
                suite.add_expectation(expectation)
            self._suites[has_rows] = suite
        return self._suites[has_rows]

    def validate(
        self, frame: pl.DataFrame, partition_key: str, *, now: datetime | None = None
    ) -> ValidationReport:
        """Validate one partition; a missing column is a failure, never an exception."""
        start, end = day_bounds(partition_day(partition_key))
        batch = self._batches.get_batch(batch_parameters={"dataframe": frame.to_pandas()})
        outcome = batch.validate(
            self._suite(has_rows=frame.height > 0),
            expectation_parameters={
                "day_start": start,
                "day_end": end,
                "now": now or validation_time(),
                **rate_parameters(frame, self.spec, self.profile),
            },
            result_format={"result_format": "SUMMARY", "partial_unexpected_count": 5},
        )
        private = {c for c in (self.spec.id_column, *self.spec.sensitive) if c}
        failures = [
            _failure(partition_key, r, spec=self.spec, private=private)
            for r in outcome.results
            if not r.success
        ]
        missing = {f.column for f in failures if f.rule == "expect_column_to_exist"}
        failures = [
            f for f in failures if f.column not in missing or f.rule == "expect_column_to_exist"
        ]
        failures = drop_near_duplicates(failures)
        return ValidationReport(
            partition=partition_key,
            rows=frame.height,
            evaluated=len(outcome.results),
            failures=sorted(failures, key=lambda f: (f.column or "", f.rule)),
        )
