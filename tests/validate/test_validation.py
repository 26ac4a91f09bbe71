"""Partition validation with the real great-expectations, on the tiny dataset's days.

Every bad input is planted in an otherwise valid day; the report must hold exactly the failure
that names it (partition, column, rule), and nothing else.
"""

import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest

from binclf.spec import DatasetSpec, spec_from_dict
from binclf.validate.validation import (
    MAX_CATEGORY_LEVELS,
    Failure,
    PartitionValidator,
    ValidationProfile,
    build_profile,
    report_from_dict,
    report_to_dict,
    target_domain,
)

REFERENCE_DAYS = ["2026-03-01", "2026-03-02"]
DAY = "2026-03-05"


def _day(frame: pl.DataFrame, day: str) -> pl.DataFrame:
    return frame.filter(pl.col("event_time").dt.date() == date.fromisoformat(day))


def _first_rows(count: int) -> pl.Expr:
    return pl.int_range(pl.len()) < count


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
                "numeric_ranges": {"amount": [0, None]},
            }
        )
    )


@pytest.fixture(scope="module")
def profile(events: pl.DataFrame, spec: DatasetSpec) -> ValidationProfile:
    reference = pl.concat([_day(events, d) for d in REFERENCE_DAYS])
    return build_profile(reference, spec, partitions=REFERENCE_DAYS)


@pytest.fixture(scope="module")
def validator(spec: DatasetSpec, profile: ValidationProfile) -> PartitionValidator:
    return PartitionValidator(spec, profile)


@pytest.fixture(scope="module")
def good_day(events: pl.DataFrame) -> pl.DataFrame:
    return _day(events, DAY)


def _failures(report) -> list[tuple[str | None, str]]:
    return [(f.column, f.rule) for f in report.failures]


def test_profile_records_kinds_levels_and_target_values_of_the_reference(
    profile: ValidationProfile,
) -> None:
    assert profile.kinds == {
        "event_id": "numeric",
        "event_time": "datetime",
        "label": "string",
        "amount": "numeric",
        "channel": "string",
        "region": "string",
    }
    assert profile.categories == {"channel": ["app", "store", "web"], "region": ["north", "south"]}
    assert profile.target_values == ["no", "yes"]
    assert profile.reference_rows == 80 and profile.reference_partitions == REFERENCE_DAYS
    assert ValidationProfile.from_dict(json.loads(json.dumps(profile.to_dict()))) == profile


def test_spec_categories_take_precedence_and_free_text_gets_no_level_rule(
    make_events, make_spec_dict
) -> None:
    events = make_events(days=6)
    spec = spec_from_dict(
        make_spec_dict(validation={"allowed_categories": {"channel": ["web", "kiosk"]}})
    )
    reference = events.with_columns(note=pl.format("note {}", pl.int_range(pl.len())))
    assert reference.height > MAX_CATEGORY_LEVELS

    profile = build_profile(reference, spec)

    assert profile.categories["channel"] == ["kiosk", "web"]
    assert "note" not in profile.categories and profile.kinds["note"] == "string"


def test_target_domain_is_positive_and_negatives_else_the_reference_values(
    spec: DatasetSpec, profile: ValidationProfile, make_spec_dict
) -> None:
    assert target_domain(spec, profile) == ["no", "yes"]
    without_negatives = spec_from_dict(make_spec_dict(negative=None, positive="churned"))
    assert target_domain(without_negatives, profile) == ["churned", "no", "yes"]


def test_valid_day_passes_every_rule(validator: PartitionValidator, good_day) -> None:
    report = validator.validate(good_day, DAY)

    assert report.success and report.failures == []
    assert report.rows == 40 and report.evaluated >= 20
    assert report.summary() == f"partition {DAY}: {report.evaluated} rules passed on 40 rows"


@pytest.mark.parametrize(
    ("plant", "expected"),
    [
        pytest.param(
            lambda day: day.drop("label"),
            [("label", "expect_column_to_exist")],
            id="missing_target",
        ),
        pytest.param(
            lambda day: day.with_columns(pl.col("amount").cast(pl.String)),
            [
                # text is also outside the numeric range the spec sets for amount
                ("amount", "expect_column_values_to_be_between"),
                ("amount", "expect_column_values_to_be_in_type_list"),
            ],
            id="wrong_dtype",
        ),
        pytest.param(
            lambda day: day.clear(), [(None, "expect_table_row_count_to_be_between")], id="empty"
        ),
        pytest.param(
            lambda day: day.head(9), [(None, "expect_table_row_count_to_be_between")], id="too_few"
        ),
        pytest.param(
            lambda day: day.with_columns(
                channel=pl.when(_first_rows(3)).then(pl.lit("teleport")).otherwise("channel")
            ),
            [("channel", "expect_column_values_to_be_in_set")],
            id="unseen_category_share_7.5_percent_over_5",
        ),
        pytest.param(
            lambda day: day.with_columns(
                event_id=pl.when(_first_rows(2)).then(pl.first("event_id")).otherwise("event_id")
            ),
            [("event_id", "expect_column_values_to_be_unique")],
            id="duplicate_ids",
        ),
        pytest.param(
            lambda day: day.with_columns(
                event_id=pl.when(_first_rows(1)).then(None).otherwise("event_id")
            ),
            [("event_id", "expect_column_values_to_not_be_null")],
            id="null_id",
        ),
        pytest.param(
            lambda day: day.with_columns(
                label=pl.when(_first_rows(1)).then(pl.lit("maybe")).otherwise("label")
            ),
            [("label", "expect_column_values_to_be_in_set")],
            id="target_outside_positive_and_negative",
        ),
        pytest.param(
            lambda day: day.with_columns(
                amount=pl.when(_first_rows(11)).then(None).otherwise("amount")
            ),
            [("amount", "expect_column_values_to_not_be_null")],
            id="null_share_27.5_percent_over_25",
        ),
        pytest.param(
            lambda day: day.with_columns(
                amount=pl.when(_first_rows(1)).then(-1.0).otherwise("amount")
            ),
            [("amount", "expect_column_values_to_be_between")],
            id="numeric_range",
        ),
        pytest.param(
            lambda day: day.with_columns(
                event_time=pl.when(_first_rows(1))
                .then(pl.col("event_time") + timedelta(days=1))
                .otherwise("event_time")
            ),
            [("event_time", "expect_column_values_to_be_between")],
            id="event_of_another_day",
        ),
        pytest.param(
            lambda day: day.with_columns(
                event_time=pl.when(_first_rows(1)).then(None).otherwise("event_time")
            ),
            [("event_time", "expect_column_values_to_not_be_null")],
            id="event_without_time",
        ),
    ],
)
def test_bad_day_fails_exactly_the_rules_that_name_it(
    validator: PartitionValidator, good_day, plant, expected: list[tuple[str | None, str]]
) -> None:
    report = validator.validate(plant(good_day), DAY)

    assert _failures(report) == expected
    rows = [(r["partition"], r["column"], r["rule"]) for r in report.failures_table()]
    assert rows == [(DAY, column or "", rule) for column, rule in expected]
    for column, rule in expected:
        where = f"column {column!r}" if column else "table"
        said = report.summary() + report.summary(blocking=False)
        assert f"partition {DAY}: {where} broke {rule} (" in said


def test_event_later_than_the_validation_time_fails_the_max_time_rule(
    validator: PartitionValidator, good_day
) -> None:
    latest = good_day["event_time"].max()

    late = validator.validate(good_day, DAY, now=latest - timedelta(seconds=1))
    on_time = validator.validate(good_day, DAY, now=latest)

    assert _failures(late) == [("event_time", "expect_column_max_to_be_between")]
    assert late.failures[0].detail["observed_value"] == str(latest)
    assert on_time.success


def test_unseen_category_share_at_the_limit_passes(validator: PartitionValidator, good_day) -> None:
    at_limit = good_day.with_columns(
        channel=pl.when(_first_rows(2)).then(pl.lit("teleport")).otherwise("channel")
    )  # 2 of 40 rows = 5 %

    assert validator.validate(at_limit, DAY).success


def test_null_share_override_allows_a_sparse_column(
    validator: PartitionValidator, good_day
) -> None:
    sparse_region = good_day.with_columns(
        region=pl.when(_first_rows(30)).then(None).otherwise("region")
    )  # 75 % nulls: over the default 25 %, under the override of 90 %

    assert validator.validate(sparse_region, DAY).success


def test_report_survives_json_and_describes_each_failure(
    validator: PartitionValidator, good_day
) -> None:
    bad = good_day.with_columns(
        label=pl.when(_first_rows(1)).then(pl.lit("maybe")).otherwise("label")
    ).drop("channel")
    report = validator.validate(bad, DAY)

    restored = report_from_dict(json.loads(json.dumps(report_to_dict(report))))

    assert restored == report
    assert _failures(restored) == [
        ("channel", "expect_column_to_exist"),
        ("label", "expect_column_values_to_be_in_set"),
    ]
    assert 'sample_values="maybe" ×1' in restored.summary()
    assert Failure(
        DAY, None, "expect_table_row_count_to_be_between", {"observed_value": "0"}
    ).describe() == (
        f"partition {DAY}: table broke expect_table_row_count_to_be_between (observed_value=0)"
    )


def test_validation_time_defaults_to_now(validator: PartitionValidator, good_day) -> None:
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    day = tomorrow.date().isoformat()
    shifted = good_day.with_columns(
        event_time=pl.col("event_time") + (date.fromisoformat(day) - date.fromisoformat(DAY))
    )

    report = validator.validate(shifted, day)

    assert _failures(report) == [("event_time", "expect_column_max_to_be_between")]


def test_boolean_categories_accept_the_booleans_they_were_learned_from() -> None:
    frame = pl.DataFrame(
        {
            "flag": [True, False] * 10,
            "label": ["yes", "no"] * 10,
        }
    )
    spec = spec_from_dict(
        {
            "name": "flags",
            "source": {"kind": "csv", "path": "x.csv"},
            "target": "label",
            "positive": "yes",
            "negative": ["no"],
        }
    )
    profile = build_profile(frame, spec)
    assert profile.categories["flag"] == [False, True]
    report = PartitionValidator(spec, profile).validate(frame, "2024-01-01")
    assert report.success, report.summary()


def test_failures_of_id_and_sensitive_columns_carry_no_sample_values(
    events: pl.DataFrame, make_spec_dict
) -> None:
    spec = spec_from_dict(
        make_spec_dict(
            sensitive=["region"],
            validation={"min_rows": 10, "max_unseen_category_share": 0.05},
        )
    )
    reference = pl.concat([_day(events, d) for d in REFERENCE_DAYS])
    validator = PartitionValidator(spec, build_profile(reference, spec))
    bad = _day(events, DAY).with_columns(
        region=pl.when(_first_rows(5)).then(pl.lit("secret-region")).otherwise("region"),
        event_id=pl.when(_first_rows(2)).then(pl.lit(987_654_321)).otherwise("event_id"),
        channel=pl.when(_first_rows(5)).then(pl.lit("teleport")).otherwise("channel"),
    )

    report = validator.validate(bad, DAY)

    assert _failures(report) == [
        ("channel", "expect_column_values_to_be_in_set"),
        ("event_id", "expect_column_values_to_be_unique"),
        ("region", "expect_column_values_to_be_in_set"),
    ]
    text = json.dumps(report_to_dict(report))
    assert "teleport" in text  # a feature's samples help to find the fault
    assert "secret-region" not in text and "987654321" not in text


def test_a_growing_vocabulary_is_an_open_set_and_new_levels_every_day_pass(
    make_events, make_spec_dict
) -> None:
    events = make_events(days=6).with_columns(
        merchant=pl.format(
            "shop {}", pl.col("event_time").dt.day() * 100 + pl.int_range(pl.len()) % 7
        )
    )
    spec = spec_from_dict(
        make_spec_dict(validation={"min_rows": 10, "max_unseen_category_share": 0.01})
    )
    reference = events.filter(pl.col("event_time").dt.day() <= 4)

    profile = build_profile(reference, spec)

    assert "merchant" not in profile.categories
    assert profile.open_categories == {
        "merchant": "50% of its levels first appeared in the later half of the reference days"
    }
    assert profile.categories["channel"] == ["app", "store", "web"]  # a closed set stays closed
    report = PartitionValidator(spec, profile).validate(_day(events, "2026-03-06"), "2026-03-06")
    assert report.success, report.summary()


def test_the_spec_marks_a_column_open_by_hand(events: pl.DataFrame, make_spec_dict) -> None:
    spec = spec_from_dict(
        make_spec_dict(validation={"min_rows": 10, "open_categories": ["channel"]})
    )
    profile = build_profile(pl.concat([_day(events, d) for d in REFERENCE_DAYS]), spec)
    new_channel = _day(events, DAY).with_columns(channel=pl.lit("teleport"))

    assert profile.open_categories == {"channel": "validation.open_categories"}
    assert PartitionValidator(spec, profile).validate(new_channel, DAY).success


def _closed_column_day(rows: int, new: int) -> pl.DataFrame:
    """A day of a red/blue column with `new` rows of a colour the reference never saw."""
    return pl.DataFrame(
        {
            "colour": ["violet"] * new + [("red", "blue")[i % 2] for i in range(rows - new)],
            "label": [("yes", "no")[i % 2] for i in range(rows)],
        }
    )


@pytest.fixture(scope="module")
def colour_validator() -> PartitionValidator:
    spec = spec_from_dict(
        {
            "name": "colours",
            "source": {"kind": "csv", "path": "x.csv"},
            "target": "label",
            "positive": "yes",
            "negative": ["no"],
        }
    )
    reference = pl.DataFrame({"colour": ["red", "blue"] * 500, "label": ["yes", "no"] * 500})
    return PartitionValidator(spec, build_profile(reference, spec))


def test_one_new_value_in_a_15_row_day_passes_the_binomial_limit(colour_validator) -> None:
    day = _closed_column_day(15, 1)
    assert day["colour"].to_list().count("violet") == 1 and day.height == 15

    assert colour_validator.validate(day, "2024-01-01").success  # 6.7 % against a 1 % limit


def test_five_percent_new_values_in_a_10k_row_day_fail_a_closed_column(colour_validator) -> None:
    day = _closed_column_day(10_000, 500)
    assert day["colour"].to_list().count("violet") == 500 and day.height == 10_000

    report = colour_validator.validate(day, "2024-01-01")

    assert _failures(report) == [("colour", "expect_column_values_to_be_in_set")]
    # 5 % is far past 1 % (blocks from 3 %): the column is broken, not drifting
    assert not report.success and report.failures[0].name == "unseen_share_far"


def test_two_percent_new_values_in_a_10k_row_day_warn_without_blocking(colour_validator) -> None:
    report = colour_validator.validate(_closed_column_day(10_000, 200), "2024-01-01")

    assert _failures(report) == [("colour", "expect_column_values_to_be_in_set")]
    assert report.success
    assert [(f.name, f.blocking) for f in report.warnings] == [("unseen_share", False)]


@pytest.mark.parametrize(
    ("validation", "new", "blocks"),
    [
        pytest.param({"warn_only": ["unseen_share_far"]}, 500, False, id="far_rate_made_warning"),
        pytest.param({"blocking": ["unseen_share"]}, 200, True, id="drift_made_blocking"),
    ],
)
def test_the_spec_moves_a_rule_between_blocking_and_warning(
    validation: dict, new: int, blocks: bool
) -> None:
    spec = spec_from_dict(
        {
            "name": "colours",
            "source": {"kind": "csv", "path": "x.csv"},
            "target": "label",
            "positive": "yes",
            "negative": ["no"],
            "validation": validation,
        }
    )
    reference = pl.DataFrame({"colour": ["red", "blue"] * 500, "label": ["yes", "no"] * 500})
    validator = PartitionValidator(spec, build_profile(reference, spec))

    report = validator.validate(_closed_column_day(10_000, new), "2024-01-01")

    assert _failures(report) == [("colour", "expect_column_values_to_be_in_set")]
    assert report.success is not blocks


def test_an_unknown_target_value_blocks_even_a_15_row_day(colour_validator) -> None:
    day = _closed_column_day(15, 0).with_columns(
        label=pl.when(_first_rows(1)).then(pl.lit("maybe")).otherwise("label")
    )

    assert _failures(colour_validator.validate(day, "2024-01-01")) == [
        ("label", "expect_column_values_to_be_in_set")
    ]


@pytest.mark.parametrize("value", [float("inf"), float("-inf")])
def test_a_non_finite_feature_value_fails_even_without_a_range(
    events: pl.DataFrame, make_spec_dict, value: float
) -> None:
    spec = spec_from_dict(make_spec_dict(validation={"min_rows": 10}))
    validator = PartitionValidator(
        spec, build_profile(pl.concat([_day(events, d) for d in REFERENCE_DAYS]), spec)
    )
    bad = _day(events, DAY).with_columns(
        amount=pl.when(_first_rows(1)).then(value).otherwise("amount")
    )

    assert validator.validate(_day(events, DAY), DAY).success
    assert _failures(validator.validate(bad, DAY)) == [
        ("amount", "expect_column_values_to_be_between")
    ]


def _free_text_days(first: int, days: int, rows: int, seed: int) -> pl.DataFrame:
    """Days of a free-text column drawing from ~360 titles, most of which are rare."""
    rng = np.random.default_rng(seed)
    start = datetime(2024, 1, 1, tzinfo=UTC)
    times = [
        start + timedelta(days=first + d, minutes=int(m))
        for d in range(days)
        for m in rng.integers(0, 1440, rows)
    ]
    titles = rng.zipf(1.3, len(times)) % 360
    return pl.DataFrame(
        {
            "event_time": times,
            "title": [f"title {t}" for t in titles],
            "label": [("yes", "no")[i % 2] for i in range(len(times))],
        }
    ).with_columns(pl.col("event_time").dt.cast_time_unit("us"))


@pytest.fixture(scope="module")
def free_text() -> tuple[DatasetSpec, ValidationProfile]:
    spec = spec_from_dict(
        {
            "name": "titles",
            "source": {"kind": "csv", "path": "x.csv"},
            "target": "label",
            "positive": "yes",
            "negative": ["no"],
            "time_column": "event_time",
        }
    )
    return spec, build_profile(_free_text_days(0, 14, 15, seed=1), spec)


def test_a_free_text_column_is_judged_by_its_novelty_rate_and_new_levels_every_day_pass(
    free_text,
) -> None:
    spec, profile = free_text
    assert "title" in profile.open_categories and "title" not in profile.categories
    assert 0.1 < profile.novelty_rates["title"] < 0.9
    validator = PartitionValidator(spec, profile)
    later = _free_text_days(14, 30, 15, seed=2)
    new_values = 0
    for day in range(14, 44):
        key = (datetime(2024, 1, 1) + timedelta(days=day)).date().isoformat()
        frame = later.filter(pl.col("event_time").dt.date().cast(pl.String) == key)
        new_values += int((~frame["title"].is_in(profile.open_levels["title"])).sum())
        report = validator.validate(frame, key)
        assert report.success and not report.warnings, report.summary(blocking=False)
    assert new_values > 30  # new titles appeared, and not one day failed


def test_a_free_text_day_of_only_new_values_breaks_the_novelty_rule(free_text) -> None:
    spec, profile = free_text
    day = _free_text_days(20, 1, 1000, seed=3).with_columns(
        title=pl.format("never seen {}", pl.int_range(pl.len()))
    )

    report = PartitionValidator(spec, profile).validate(day, "2024-01-21")

    assert _failures(report) == [("title", "expect_column_values_to_be_in_set")]
    assert not report.success and report.failures[0].name == "unseen_share_far"
