"""Validation of many partitions in one great-expectations call.

Each rule of the per-partition suite is measured per partition in polars (row count, null and
unseen shares, duplicate ids, values out of range or not finite, time bounds, labels before
events, column kinds). The measures form one long table, a row per partition and rule with the
bounds the measure must lie within, and great-expectations judges it with two rules (measure at
least its lower bound, at most its upper one). Every failing row is attributed to its partition,
column and rule exactly as the per-partition path reports it; failures keep counts, never
values. The measures reproduce great-expectations' arithmetic on pandas (NaN counts as null,
`mostly` is judged on the same ratio), so both paths give the same verdicts.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import polars as pl

from binclf.partitions import day_bounds, partition_day
from binclf.spec import DatasetSpec
from binclf.validate.rules import blocking_rules
from binclf.validate.validation import (
    Failure,
    ValidationProfile,
    ValidationReport,
    drop_near_duplicates,
    expected_detail,
    named_rule,
    rate_limits,
    sample_text,
    suite_expectations,
    validation_time,
)

PARTITION = "partition"
RULE = "rule"
RATIO_RULES = ("expect_column_values_to_not_be_null", "expect_column_values_to_be_in_set")


@dataclass(frozen=True)
class _Rule:
    """One expectation of the per-partition suite and the measure that stands for it."""

    index: int
    rule: str
    column: str | None
    kwargs: dict[str, Any]
    name: str

    @property
    def measure(self) -> str:
        return f"m{self.index}"


def _pandas_nulls(series: pl.Series) -> int:
    """Nulls as pandas sees them: NaN is null too."""
    nulls = series.null_count()
    if series.dtype.is_float():
        nulls += int(series.is_nan().sum() or 0)
    return nulls


def _type_ok(series: pl.Series, type_list: list[str]) -> bool:
    """great-expectations' type-list verdict on the pandas form of `series`.

    pandas object columns (text, booleans with nulls) are judged by their values' Python types;
    categoricals never match; integers with nulls become float64.
    """
    dtype = series.dtype
    if isinstance(dtype, pl.Categorical | pl.Enum):
        return False
    all_null = series.null_count() == series.len()
    if dtype == pl.Null or (all_null and dtype in (pl.String, pl.Boolean)):
        return True
    if dtype == pl.String:
        return bool({"str", "string"} & set(type_list))
    if dtype == pl.Boolean:
        names = {"bool", "boolean"} if series.null_count() else {"bool"}
        return bool(names & set(type_list))
    if dtype.is_integer() and series.null_count():
        return "float64" in type_list
    return series.head(0).to_pandas().dtype.name in type_list


def _compatible(levels: list[Any], dtype: pl.DataType) -> list[Any] | None:
    """Levels that pandas `isin` could match in a column of `dtype`; None if not comparable."""
    if dtype == pl.String:
        return [v for v in levels if isinstance(v, str)]
    if dtype == pl.Boolean:
        return [v for v in levels if isinstance(v, bool)]
    if dtype.is_numeric():
        return [v for v in levels if isinstance(v, int | float) and not isinstance(v, bool)]
    return None


def _ratio(considered: int, unexpected: int) -> float | None:
    """The success ratio great-expectations compares with `mostly`; None when vacuous."""
    if considered == 0:
        return None
    return (float(considered) - float(unexpected)) / float(considered)


def _outside(series: pl.Series, low: Any, high: Any, *, strict_max: bool) -> int | None:
    """Values outside [low, high] (or [low, high)), None when the column cannot be compared."""
    if not (series.dtype.is_numeric() or isinstance(series.dtype, pl.Datetime)):
        return None
    values = series.drop_nulls()
    if values.dtype.is_float():
        values = values.filter(~values.is_nan())
    bad = pl.repeat(False, values.len(), eager=True)
    if low is not None:
        bad = bad | (values < low)
    if high is not None:
        bad = bad | ((values >= high) if strict_max else (values > high))
    return int(bad.sum())


class BatchValidator:
    """Measures partitions one at a time, then judges them all in one great-expectations call."""

    def __init__(self, spec: DatasetSpec, profile: ValidationProfile) -> None:
        self.spec = spec
        self.profile = profile
        configs = [e.configuration for e in suite_expectations(spec, profile, rows=1)]
        self._rules = [
            _Rule(
                i,
                c.type,
                c.kwargs.get("column") or c.kwargs.get("column_A"),
                dict(c.kwargs),
                named_rule(c, spec),
            )
            for i, c in enumerate(configs)
        ]
        self._blocking = blocking_rules(spec)
        self._evaluated = {
            True: len(self._rules),
            False: len(suite_expectations(spec, profile, rows=0)),
        }
        self._limits = rate_limits(spec, profile)
        self._considered: dict[int, int] = {}  # values each rate rule judged, this partition
        self._rows: list[dict[str, Any]] = []
        self._now = validation_time()
        self._details: dict[tuple[str, int], dict[str, Any]] = {}
        self._private = {c for c in (spec.id_column, *spec.sensitive) if c}

    def measure(
        self, frame: pl.DataFrame, partition_key: str, *, now: datetime | None = None
    ) -> None:
        """Measure every rule on one partition; the frame is not kept."""
        now = now or self._now
        start, end = day_bounds(partition_day(partition_key))
        row: dict[str, Any] = {PARTITION: partition_key, "rows": frame.height}
        self._considered: dict[int, int] = {}
        for rule in self._rules:
            value, detail = self._measure(rule, frame, start=start, end=end, now=now)
            row[rule.measure] = value
            row[f"n{rule.index}"] = self._considered.get(rule.index, 0)
            if detail:
                self._details[(partition_key, rule.index)] = detail
        self._rows.append(row)

    def _measure(
        self, rule: _Rule, frame: pl.DataFrame, *, start: datetime, end: datetime, now: datetime
    ) -> tuple[Any, dict[str, Any]]:
        kwargs = rule.kwargs
        if rule.rule == "expect_table_row_count_to_be_between":
            return frame.height, {"observed_value": str(frame.height)}
        if rule.column not in frame.columns:
            return (False if rule.rule == "expect_column_to_exist" else None), {}
        series = frame[rule.column]
        if rule.rule == "expect_column_to_exist":
            return True, {}
        if rule.rule == "expect_column_values_to_be_in_type_list":
            return _type_ok(series, kwargs["type_list"]), {}
        if rule.rule == "expect_column_values_to_not_be_null":
            nulls = _pandas_nulls(series)
            self._considered[rule.index] = series.len()
            return _ratio(series.len(), nulls), {"unexpected_count": str(nulls)}
        nonnull = series.len() - _pandas_nulls(series)
        if rule.rule == "expect_column_values_to_be_in_set":
            if isinstance(series.dtype, pl.Categorical | pl.Enum):
                series = series.cast(pl.String)  # pandas compares the labels
            levels = _compatible(list(kwargs["value_set"]), series.dtype)
            values = series.drop_nulls()
            if values.dtype.is_float():
                values = values.filter(~values.is_nan())
            outside = values if levels is None else values.filter(~values.is_in(levels))
            self._considered[rule.index] = nonnull
            ratio = _ratio(nonnull, outside.len())
            detail = {"unexpected_count": str(outside.len())}
            if outside.len() and rule.column not in self._private:  # ids, sensitive stay out
                top = outside.value_counts(sort=True).head(5).rows()
                detail["sample_values"] = sample_text([(v, int(n)) for v, n in top])
            return (1.0 if ratio is None else ratio), detail
        if rule.rule == "expect_column_values_to_be_unique":
            duplicated = int(series.drop_nulls().is_duplicated().sum())
            return duplicated, {"unexpected_count": str(duplicated)}
        if rule.rule == "expect_column_values_to_be_between":
            low, high = kwargs.get("min_value"), kwargs.get("max_value")
            if isinstance(low, dict):
                low, high = start, end
            outside = _outside(series, low, high, strict_max=bool(kwargs.get("strict_max")))
            if outside is None:
                return 1, {"error": "values cannot be compared with the bounds"}
            return outside, {"unexpected_count": str(outside)}
        if rule.rule == "expect_column_pair_values_a_to_be_greater_than_b":
            earlier = kwargs["column_B"]
            if earlier not in frame.columns:
                return None, {}
            pairs = frame.select(rule.column, earlier).drop_nulls()
            try:
                before = int((pairs[rule.column] < pairs[earlier]).sum())
            except pl.exceptions.PolarsError:
                return 1, {"error": f"{rule.column!r} cannot be compared with {earlier!r}"}
            return before, {"unexpected_count": str(before)}
        if rule.rule == "expect_column_max_to_be_between":
            latest = series.max()
            late = latest is not None and latest > now
            return int(late), {"observed_value": str(latest)}
        raise ValueError(f"no batch measure for rule {rule.rule}")

    def _bounds(self, rule: _Rule, considered: int) -> tuple[float, float]:
        """The closed interval a rule's measure must lie in, for a partition's value count."""
        if rule.rule == "expect_table_row_count_to_be_between":
            return float(rule.kwargs.get("min_value") or 0), math.inf
        if rule.rule in ("expect_column_to_exist", "expect_column_values_to_be_in_type_list"):
            return 1.0, math.inf
        if rule.rule in RATIO_RULES:
            mostly = rule.kwargs.get("mostly", 1.0)
            if isinstance(mostly, dict):  # a binomial limit: it depends on the partition's size
                return self._limits[mostly["$PARAMETER"]].mostly(considered), math.inf
            return float(mostly), math.inf
        return -math.inf, 0.0  # counts of offending values, or 1 for a maximum past now

    def _table(self) -> Any:
        """One row per partition and rule: the measure and the bounds it must lie within."""
        import pandas as pd

        records = [
            (
                row[PARTITION],
                rule.index,
                math.nan if row[rule.measure] is None else float(row[rule.measure]),
                *self._bounds(rule, row[f"n{rule.index}"]),
            )
            for row in self._rows
            for rule in self._rules
        ]
        return pd.DataFrame.from_records(
            records, columns=[PARTITION, RULE, "measure", "lowest", "highest"]
        )

    def reports(self) -> list[ValidationReport]:
        """Judge every measured partition and rule in one great-expectations call."""
        if not self._rows:
            return []
        import great_expectations as gx
        import great_expectations.expectations as gxe
        from great_expectations.data_context.types.base import ProgressBarsConfig

        logging.getLogger("great_expectations").setLevel(logging.ERROR)
        context = gx.get_context(mode="ephemeral")
        context.variables.progress_bars = ProgressBarsConfig(globally=False)
        batches = (
            context.data_sources.add_pandas("binclf")
            .add_dataframe_asset("partitions")
            .add_batch_definition_whole_dataframe("whole")
        )
        suite = gx.ExpectationSuite(name=f"{self.spec.name}-partitions")
        for column_a, column_b in (("measure", "lowest"), ("highest", "measure")):
            suite.add_expectation(
                gxe.ExpectColumnPairValuesAToBeGreaterThanB(
                    column_A=column_a,
                    column_B=column_b,
                    or_equal=True,
                    ignore_row_if="either_value_is_missing",  # a rule on a missing column
                )
            )
        outcome = batches.get_batch(batch_parameters={"dataframe": self._table()}).validate(
            suite,
            result_format={
                "result_format": "COMPLETE",
                "unexpected_index_column_names": [PARTITION, RULE],
            },
        )
        hits = {
            (hit[PARTITION], int(hit[RULE]))
            for result in outcome.results
            if not result.success
            for hit in (result.result or {}).get("unexpected_index_list") or []
        }
        failed: dict[str, list[Failure]] = {row[PARTITION]: [] for row in self._rows}
        for key, index in sorted(hits):
            rule = self._rules[index]
            detail = {**self._details.get((key, index), {}), **expected_detail(rule.kwargs)}
            if rule.rule == "expect_column_to_exist":
                detail = {"error": f"column {rule.column!r} is missing"}
            failed[key].append(
                Failure(key, rule.column, rule.rule, detail, rule.name, rule.name in self._blocking)
            )
        return [self._report(row, failed[row[PARTITION]]) for row in self._rows]

    def _report(self, row: dict[str, Any], failures: list[Failure]) -> ValidationReport:
        missing = {f.column for f in failures if f.rule == "expect_column_to_exist"}
        kept = drop_near_duplicates(
            [f for f in failures if f.column not in missing or f.rule == "expect_column_to_exist"]
        )
        return ValidationReport(
            partition=row[PARTITION],
            rows=row["rows"],
            evaluated=self._evaluated[row["rows"] > 0],
            failures=sorted(kept, key=lambda f: (f.column or "", f.rule)),
        )


def validate_partitions(
    spec: DatasetSpec,
    profile: ValidationProfile,
    frames: Mapping[str, pl.DataFrame],
    *,
    now: datetime | None = None,
) -> list[ValidationReport]:
    """Validate a run's partitions together; one report per partition, in the given order."""
    validator = BatchValidator(spec, profile)
    for key, frame in frames.items():
        validator.measure(frame, key, now=now)
    return validator.reports()
