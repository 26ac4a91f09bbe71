"""The batch path (one great-expectations call over per-partition measures) and the per-partition
path (one suite per partition) give the same verdicts on a matrix of faults.

Every bad input of the per-partition and ingest tests is planted in one day, then several at once
in different days of one run; both paths must name the same partitions, columns and rules.
"""

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from binclf.spec import DatasetSpec, spec_from_dict
from binclf.validate.batch import validate_partitions
from binclf.validate.validation import PartitionValidator, ValidationProfile, build_profile

REFERENCE_DAYS = ["2026-03-01", "2026-03-02"]
RUN_DAYS = ["2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05"]
NOW = datetime(2026, 3, 10, tzinfo=UTC)


def _first_rows(count: int) -> pl.Expr:
    return pl.int_range(pl.len()) < count


def _when_first(count: int, column: str, value) -> pl.Expr:
    return pl.when(_first_rows(count)).then(value).otherwise(column).alias(column)


FAULTS = {
    "missing_target": lambda d: d.drop("label"),
    "missing_feature": lambda d: d.drop("channel"),
    "wrong_dtype": lambda d: d.with_columns(pl.col("amount").cast(pl.String)),
    "categorical_dtype": lambda d: d.with_columns(pl.col("channel").cast(pl.Categorical)),
    "int_amount_with_nulls": lambda d: d.with_columns(
        _when_first(1, "amount", None).cast(pl.Int64)
    ),
    "nan_amount": lambda d: d.with_columns(_when_first(12, "amount", float("nan"))),
    "empty": lambda d: d.clear(),
    "too_few": lambda d: d.head(9),
    "unseen_7.5_percent": lambda d: d.with_columns(_when_first(3, "channel", pl.lit("teleport"))),
    "unseen_10_percent": lambda d: d.with_columns(_when_first(4, "channel", pl.lit("teleport"))),
    "unseen_at_limit": lambda d: d.with_columns(_when_first(2, "channel", pl.lit("teleport"))),
    "all_channel_null": lambda d: d.with_columns(pl.lit(None, dtype=pl.String).alias("channel")),
    "duplicate_ids": lambda d: d.with_columns(_when_first(2, "event_id", pl.first("event_id"))),
    "null_id": lambda d: d.with_columns(_when_first(1, "event_id", None)),
    "target_maybe": lambda d: d.with_columns(_when_first(1, "label", pl.lit("maybe"))),
    "target_as_int": lambda d: d.with_columns((pl.col("label") == "yes").cast(pl.Int64)),
    "null_share_27.5": lambda d: d.with_columns(_when_first(11, "amount", None)),
    "sparse_region_override": lambda d: d.with_columns(_when_first(30, "region", None)),
    "numeric_range": lambda d: d.with_columns(_when_first(1, "amount", -1.0)),
    "infinite_amount": lambda d: d.with_columns(_when_first(1, "amount", float("-inf"))),
    "event_of_another_day": lambda d: d.with_columns(
        _when_first(1, "event_time", pl.col("event_time") + timedelta(days=1))
    ),
    "event_of_the_day_before": lambda d: d.with_columns(
        _when_first(1, "event_time", pl.col("event_time") - timedelta(days=1))
    ),
    "event_without_time": lambda d: d.with_columns(_when_first(1, "event_time", None)),
    "boolean_region": lambda d: d.with_columns(pl.col("region") == "north"),
    "target_and_missing_column": lambda d: d.with_columns(
        _when_first(1, "label", pl.lit("maybe"))
    ).drop("channel"),
}


@pytest.fixture(scope="module")
def events(make_events) -> pl.DataFrame:
    return make_events()


@pytest.fixture(scope="module")
def spec(make_spec_dict) -> DatasetSpec:
    return spec_from_dict(
        make_spec_dict(
            validation={
                "min_rows": 10,
                "max_unseen_category_share": 0.05,
                "max_null_share": 0.25,
                "null_share_overrides": {"region": 0.9},
                "numeric_ranges": {"amount": [0, 1e6]},
            }
        )
    )


def _day(frame: pl.DataFrame, day: str) -> pl.DataFrame:
    return frame.filter(pl.col("event_time").dt.date() == date.fromisoformat(day))


@pytest.fixture(scope="module")
def days(events: pl.DataFrame) -> dict[str, pl.DataFrame]:
    return {d: _day(events, d) for d in RUN_DAYS}


@pytest.fixture(scope="module")
def profile(days: dict[str, pl.DataFrame], spec: DatasetSpec) -> ValidationProfile:
    return build_profile(pl.concat([days[d] for d in REFERENCE_DAYS]), spec)


@pytest.fixture(scope="module")
def validator(spec: DatasetSpec, profile: ValidationProfile) -> PartitionValidator:
    return PartitionValidator(spec, profile)


def _verdicts(reports) -> list[tuple[str, int, bool, list[tuple[str | None, str]]]]:
    return [
        (
            r.partition,
            r.evaluated,
            r.success,
            [(f.column, f.rule, f.name, f.blocking) for f in r.failures],
        )
        for r in reports
    ]


def _both(spec, profile, validator, frames: dict[str, pl.DataFrame], now=NOW):
    single = [validator.validate(frame, key, now=now) for key, frame in frames.items()]
    batch = validate_partitions(spec, profile, frames, now=now)
    return _verdicts(single), _verdicts(batch)


@pytest.mark.parametrize("fault", list(FAULTS))
def test_one_faulty_day_gets_the_same_verdict_on_both_paths(
    spec, profile, validator, days, fault: str
) -> None:
    frames = {**days, RUN_DAYS[-1]: FAULTS[fault](days[RUN_DAYS[-1]])}

    single, batch = _both(spec, profile, validator, frames)

    assert batch == single
    assert [ok for _, _, ok, _ in single[:-1]] == [True] * (len(RUN_DAYS) - 1)


def test_faults_in_several_partitions_of_one_run_are_each_attributed_to_their_own_day(
    spec, profile, validator, days
) -> None:
    planted = ["duplicate_ids", "unseen_10_percent", "target_and_missing_column", "empty"]
    frames = dict(days)
    for day, fault in zip(RUN_DAYS[1:], planted, strict=True):
        frames[day] = FAULTS[fault](days[day])

    single, batch = _both(spec, profile, validator, frames)

    assert batch == single
    # 10 % unseen against 5 % drifts (a warning); it blocks only far past, from 15 %
    assert [ok for _, _, ok, _ in batch] == [True, False, True, False, False]
    assert batch[2][3] == [("channel", "expect_column_values_to_be_in_set", "unseen_share", False)]


def test_a_maximum_time_past_now_fails_on_both_paths(spec, profile, validator, days) -> None:
    latest = days[RUN_DAYS[-1]]["event_time"].max()

    single, batch = _both(spec, profile, validator, days, now=latest - timedelta(seconds=1))

    assert batch == single
    assert batch[-1][3] == [("event_time", "expect_column_max_to_be_between", "event_time", True)]


def test_batch_failures_carry_counts_and_expected_values(spec, profile, days) -> None:
    frames = {RUN_DAYS[-1]: FAULTS["unseen_10_percent"](days[RUN_DAYS[-1]])}

    (report,) = validate_partitions(spec, profile, frames, now=NOW)

    (failure,) = report.failures
    assert failure.detail["unexpected_count"] == "4"
    assert failure.detail["expected_value_set"] == '"app", "store", "web"'
    assert failure.detail["sample_values"] == '"teleport" ×4'


def test_batch_samples_keep_spaces_visible_and_never_show_sensitive_values(
    make_spec_dict, days
) -> None:
    spec = spec_from_dict(
        make_spec_dict(
            sensitive=["region"],
            validation={"min_rows": 10, "max_unseen_category_share": 0.05},
        )
    )
    profile = build_profile(pl.concat([days[d] for d in REFERENCE_DAYS]), spec)
    day = days[RUN_DAYS[-1]].with_columns(
        _when_first(3, "channel", pl.lit("web ")),
        _when_first(5, "region", pl.lit("secret-region")),
    )

    (report,) = validate_partitions(spec, profile, {RUN_DAYS[-1]: day}, now=NOW)

    by_column = {f.column: f for f in report.failures}
    assert by_column["channel"].detail["sample_values"] == '"web " ×3'
    assert "sample_values" not in by_column["region"].detail
    assert "secret-region" not in report.summary()


def test_both_paths_agree_with_binomial_rate_limits_on_every_fault(make_spec_dict, days) -> None:
    spec = spec_from_dict(
        make_spec_dict(
            validation={
                "min_rows": 10,
                "rate_test": "binomial",
                "numeric_ranges": {"amount": [0, 1e6]},
            }
        )
    )
    profile = build_profile(pl.concat([days[d] for d in REFERENCE_DAYS]), spec)
    frames = {d: days[d] for d in RUN_DAYS[:2]}
    for index, fault in enumerate(FAULTS):
        day = (date(2026, 3, 3) + timedelta(days=index)).isoformat()
        moved = days[RUN_DAYS[-1]].with_columns(
            pl.col("event_time") + (date.fromisoformat(day) - date.fromisoformat(RUN_DAYS[-1]))
        )
        frames[day] = FAULTS[fault](moved)

    single, batch = _both(
        spec, profile, PartitionValidator(spec, profile), frames, now=NOW + timedelta(days=60)
    )

    assert batch == single
    assert not all(ok for _, _, ok, _ in batch)


def test_a_label_time_before_its_event_time_fails_on_both_paths(make_spec_dict, days) -> None:
    spec = spec_from_dict(make_spec_dict(label_time_column="label_time"))
    labelled = {
        d: f.with_columns(label_time=pl.col("event_time") + timedelta(hours=1))
        for d, f in days.items()
    }
    profile = build_profile(pl.concat([labelled[d] for d in REFERENCE_DAYS]), spec)
    last = RUN_DAYS[-1]
    labelled[last] = labelled[last].with_columns(
        _when_first(1, "label_time", pl.col("event_time") - timedelta(seconds=1)),
    )

    single, batch = _both(spec, profile, PartitionValidator(spec, profile), labelled)

    assert batch == single
    assert [failures for *_, failures in batch] == [[]] * 4 + [
        [("label_time", "expect_column_pair_values_a_to_be_greater_than_b", "label_time", True)]
    ]
