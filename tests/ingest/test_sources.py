from datetime import UTC, date, datetime
from pathlib import Path

import polars as pl
import pytest

from binclf.ingest.sources import (
    partition_range,
    read_partition,
    rows_without_time,
    scan_source,
    source_time_range,
)
from binclf.ingest.synthetic import generate_day
from binclf.partitions import partition_day
from binclf.spec import SpecError, spec_from_dict


def _utc(*parts: int) -> datetime:
    return datetime(*parts, tzinfo=UTC)


@pytest.mark.parametrize("key", ["../x", "2026-1-1", "2026-01-01/../../etc", "20260101", "", "x"])
def test_partition_key_that_is_not_a_plain_iso_date_is_rejected(key: str) -> None:
    with pytest.raises(ValueError, match="is not a date"):
        partition_day(key)


def test_partition_key_names_its_day() -> None:
    assert partition_day("2026-03-01") == date(2026, 3, 1)


def test_partition_holds_exactly_the_events_of_its_utc_day(tmp_path, make_file_spec) -> None:
    events = pl.DataFrame(
        {
            "event_id": [1, 2, 3, 4],
            "event_time": [
                _utc(2026, 3, 1, 0, 0, 0),
                _utc(2026, 3, 1, 23, 59, 59, 999_999),
                _utc(2026, 3, 2, 0, 0, 0),
                _utc(2026, 3, 3, 12, 0, 0),
            ],
            "label": ["yes", "no", "no", "yes"],
        }
    )
    spec = make_file_spec(tmp_path, events)

    days = {
        day: read_partition(spec, day)["event_id"].to_list()
        for day in ("2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04")
    }

    assert days == {"2026-03-01": [1, 2], "2026-03-02": [3], "2026-03-03": [4], "2026-03-04": []}
    assert read_partition(spec, "2026-03-04").schema == events.schema


def test_naive_times_are_taken_as_utc_and_zoned_times_are_converted(
    tmp_path, make_file_spec
) -> None:
    naive = pl.DataFrame(
        {"event_id": [1], "event_time": [datetime(2026, 3, 1, 23, 30)], "label": ["no"]}
    )
    berlin = pl.DataFrame(
        {
            "event_id": [2],
            "event_time": pl.Series([_utc(2026, 3, 1, 23, 30)]).dt.convert_time_zone(
                "Europe/Berlin"
            ),  # 00:30 on 2 March in Berlin
            "label": ["no"],
        }
    )
    for name, frame in (("naive", naive), ("berlin", berlin)):
        spec = make_file_spec(tmp_path / name, frame)
        partition = read_partition(spec, "2026-03-01")
        assert partition["event_time"].to_list() == [_utc(2026, 3, 1, 23, 30)]
        assert partition.schema["event_time"] == pl.Datetime("us", "UTC")
        assert read_partition(spec, "2026-03-02").height == 0


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("2026-03-01T10:00:00", "2026-03-01T23:00:00"),
        ("2026-03-01T11:00:00+01:00", "2026-03-02T00:00:00+01:00"),
    ],
)
def test_csv_source_parses_time_strings_as_utc(
    tmp_path, make_spec_dict, first: str, second: str
) -> None:
    (tmp_path / "events.csv").write_text(
        f"event_id,event_time,label\n1,{first},yes\n2,{second},no\n"
    )
    spec = spec_from_dict(
        make_spec_dict(source={"kind": "csv", "path": "events.csv"}), base_dir=tmp_path
    )

    partition = read_partition(spec, "2026-03-01")

    assert partition["event_id"].to_list() == [1, 2]
    assert partition["event_time"].to_list() == [_utc(2026, 3, 1, 10), _utc(2026, 3, 1, 23)]


def test_daily_file_with_other_columns_only_changes_its_own_partition(
    tmp_path, make_events, make_spec_dict
) -> None:
    events = make_events(days=3)
    folder = tmp_path / "events"
    folder.mkdir()
    for day, odd in (("2026-03-01", None), ("2026-03-02", "missing"), ("2026-03-03", "retyped")):
        frame = events.filter(pl.col("event_time").dt.date() == date.fromisoformat(day))
        if odd == "missing":
            frame = frame.drop("label")
        if odd == "retyped":
            frame = frame.with_columns(pl.col("amount").cast(pl.String))
        frame.write_parquet(folder / f"{day}.parquet")
    spec = spec_from_dict(
        make_spec_dict(source={"kind": "parquet", "path": "events"}), base_dir=tmp_path
    )

    first, second, third = (
        read_partition(spec, d) for d in ("2026-03-01", "2026-03-02", "2026-03-03")
    )

    assert first.schema == events.schema
    assert first.equals(events.filter(pl.col("event_time").dt.date() == date(2026, 3, 1)))
    assert "label" not in second.columns and second.height == 40
    assert third.schema["amount"] == pl.String and third.schema["label"] == pl.String


def test_partition_range_comes_from_the_spec_dates(tmp_path, make_events, make_file_spec) -> None:
    spec = make_file_spec(tmp_path, make_events())

    assert partition_range(spec) == (date(2026, 3, 1), date(2026, 3, 6))


def test_source_time_range_spans_the_data(tmp_path, make_events, make_file_spec) -> None:
    spec = make_file_spec(tmp_path, make_events(days=3), partitions={})

    assert source_time_range(spec) == (date(2026, 3, 1), date(2026, 3, 4))


def test_file_source_without_start_date_is_a_spec_error_that_reads_no_data(
    tmp_path, make_file_spec
) -> None:
    spec = make_file_spec(tmp_path / "empty", None, partitions={})

    with pytest.raises(SpecError, match=r"partitions\.start_date"):
        partition_range(spec)


def test_file_source_partitions_are_open_ended_without_end_date(tmp_path, make_file_spec) -> None:
    spec = make_file_spec(tmp_path / "empty", None, partitions={"start_date": "2026-03-01"})

    assert partition_range(spec) == (date(2026, 3, 1), None)


def test_dataset_without_time_column_is_one_snapshot_partition(
    tmp_path, make_events, make_file_spec
) -> None:
    table = make_events().drop("event_time")
    spec = make_file_spec(
        tmp_path, table, time_column=None, partitions={"snapshot_date": "2025-06-30"}
    )

    assert partition_range(spec) == (date(2025, 6, 30), date(2025, 7, 1))
    assert read_partition(spec, "2025-06-30").equals(table)
    with pytest.raises(ValueError, match="its only partition is the snapshot 2025-06-30"):
        read_partition(spec, "2025-07-01")


def test_synthetic_source_generates_the_day_and_its_range(make_spec_dict) -> None:
    spec = spec_from_dict(
        make_spec_dict(
            source={
                "kind": "synthetic",
                "start_date": "2026-01-01",
                "days": 10,
                "rows_per_day": 50,
            },
            partitions={},
            target="is_fraud",
            positive=1,
            negative=[0],
            id_column="transaction_id",
            categorical=[],
        )
    )

    assert partition_range(spec) == (date(2026, 1, 1), date(2026, 1, 11))
    assert read_partition(spec, "2026-01-04").equals(generate_day(spec.source, date(2026, 1, 4)))
    with pytest.raises(SpecError, match="scan_source reads file sources"):
        scan_source(spec)


def test_time_column_that_is_not_a_time_is_a_spec_error(tmp_path, make_file_spec) -> None:
    frame = pl.DataFrame({"event_id": [1], "event_time": [3.5], "label": ["no"]})
    spec = make_file_spec(tmp_path, frame)

    with pytest.raises(SpecError, match="time column 'event_time' has type Float64"):
        read_partition(spec, "2026-03-01")


def test_source_file_without_the_time_column_is_a_spec_error(tmp_path, make_file_spec) -> None:
    spec = make_file_spec(tmp_path, pl.DataFrame({"event_id": [1], "label": ["no"]}))

    with pytest.raises(
        SpecError, match=r"time_column: .*events\.parquet has no column 'event_time'"
    ):
        read_partition(spec, "2026-03-01")


def test_glob_source_reads_only_matching_files(tmp_path: Path, make_events, make_spec_dict) -> None:
    events = make_events(days=1)
    events.write_parquet(tmp_path / "events-a.parquet")
    events.with_columns(pl.col("event_id") + 1000).write_parquet(tmp_path / "other.parquet")
    spec = spec_from_dict(
        make_spec_dict(source={"kind": "parquet", "path": "events-*.parquet"}), base_dir=tmp_path
    )

    assert read_partition(spec, "2026-03-01").equals(events)


def test_rows_without_event_time_are_counted_not_silently_dropped(
    tmp_path, make_events, make_file_spec
) -> None:
    events = make_events()
    events = events.with_columns(
        pl.when(pl.int_range(pl.len()) < 3)
        .then(None)
        .otherwise(pl.col("event_time"))
        .alias("event_time")
    )
    spec = make_file_spec(tmp_path, events)
    assert rows_without_time(spec) == 3
    placed = sum(
        read_partition(spec, k).height
        for k in ("2026-03-01", "2026-03-02", "2026-03-03", "2026-03-04", "2026-03-05")
    )
    assert placed == events.height - 3
