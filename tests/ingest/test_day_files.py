"""A day-named source (`events/{date}.csv`): each day reads its own file, and only it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from binclf.ingest.arrivals import days_in_file
from binclf.ingest.reader import PartitionReader
from binclf.ingest.scan import SourceFileError
from binclf.ingest.sources import (
    event_time_parsing,
    read_partition,
    rows_without_time,
    source_time_range,
)
from binclf.spec import DatasetSpec, SpecError, spec_from_dict

FIRST = date(2026, 3, 1)
KEYS = [(FIRST + timedelta(days=d)).isoformat() for d in range(5)]

# Ways a file goes bad, each as the bytes of the good file made into the bad one.
BAD_FILES: dict[str, Callable[[bytes], bytes]] = {
    "empty": lambda _: b"",
    # A copy that stopped half way, in the middle of a row (of a CSV: after a field separator).
    "truncated": lambda good: good[: good.find(b",", len(good) // 2) + 1 or len(good) // 2],
    "corrupt": lambda _: b"\x00\xff garbage \x13\x37" * 40,
}


def _write(frame: pl.DataFrame, path: Path, kind: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "parquet":
        frame.write_parquet(path)
    else:
        frame.write_csv(path)


@pytest.fixture
def day_files(tmp_path: Path, make_events, make_spec_dict) -> Callable[..., DatasetSpec]:
    """Writes the tiny events as a file per day (`events/YYYYMMDD.<kind>`), the spec over them."""

    def make(kind: str, *, days: list[int] = [0, 1, 2, 4]) -> DatasetSpec:  # noqa: B006
        events = make_events(days=5)
        for offset in days:
            day = FIRST + timedelta(days=offset)
            part = events.filter(pl.col("event_time").dt.date() == day)
            _write(part, tmp_path / "events" / f"{day:%Y%m%d}.{kind}", kind)
        source = {"kind": kind, "path": "events/{date:%Y%m%d}." + kind}
        return spec_from_dict(make_spec_dict(source=source), base_dir=tmp_path)

    return make


def _day_path(spec: DatasetSpec, key: str) -> Path:
    return spec.base_dir / "events" / f"{date.fromisoformat(key):%Y%m%d}.{spec.source.kind}"


def _spoil(path: Path, how: str) -> None:
    path.write_bytes(BAD_FILES[how](path.read_bytes()))


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_day_reads_its_own_file_with_the_events_of_that_day(day_files, kind: str) -> None:
    spec = day_files(kind)

    frame = read_partition(spec, KEYS[1])

    assert frame.height == 40
    assert frame["event_time"].dt.date().unique().to_list() == [FIRST + timedelta(days=1)]
    assert frame.schema["event_time"] == pl.Datetime("us", "UTC")


@pytest.mark.parametrize("kind", ["csv", "parquet"])
@pytest.mark.parametrize("how", sorted(BAD_FILES))
def test_a_bad_day_file_fails_only_its_own_day_naming_the_file_and_the_problem(
    day_files, kind: str, how: str
) -> None:
    spec = day_files(kind)
    bad = _day_path(spec, KEYS[2])
    _spoil(bad, how)

    with pytest.raises(SourceFileError) as raised:
        read_partition(spec, KEYS[2])

    assert raised.value.path == bad
    assert raised.value.problem
    assert str(bad) in str(raised.value)
    for key in (KEYS[1], KEYS[4]):
        assert read_partition(spec, key).height == 40


@pytest.mark.parametrize(
    ("content", "problem"),
    [
        ("event_id,event_time,label,label\n1,2026-03-03T10:00:00Z,yes,no\n", "more than once"),
        ("event_id,label\n1,yes\n", "has no column 'event_time'"),
    ],
)
def test_a_day_file_with_a_repeated_header_or_no_time_column_fails_its_day(
    day_files, content: str, problem: str
) -> None:
    spec = day_files("csv")
    _day_path(spec, KEYS[2]).write_text(content)

    with pytest.raises(SourceFileError, match=problem):
        read_partition(spec, KEYS[2])


def test_the_problem_of_an_unparsable_file_keeps_no_value_of_it(day_files) -> None:
    spec = day_files("csv")
    path = _day_path(spec, KEYS[2])
    good = path.read_text().splitlines()
    # A text value in the amount column past the rows the reader infers the type from.
    rows = [*good[:2], *(good[1:2] * 200), good[1].replace(good[1].split(",")[3], "SECRET9")]
    path.write_text("\n".join(rows) + "\n")

    with pytest.raises(SourceFileError) as raised:
        read_partition(spec, KEYS[2])

    assert "SECRET9" not in raised.value.problem


def test_a_day_without_a_file_is_an_empty_day_with_the_columns_of_its_neighbours(
    day_files,
) -> None:
    spec = day_files("parquet")
    _spoil(_day_path(spec, KEYS[2]), "corrupt")  # the nearest day file is bad: the next one

    empty = read_partition(spec, KEYS[3])

    assert empty.height == 0
    assert empty.schema == read_partition(spec, KEYS[4]).schema


def test_rows_of_another_day_stay_in_the_file_that_holds_them_and_null_times_are_left_out(
    day_files,
) -> None:
    spec = day_files("parquet")
    path = _day_path(spec, KEYS[1])
    frame = pl.read_parquet(path)
    late = datetime(2026, 3, 5, 1, tzinfo=UTC)
    frame.with_columns(
        pl.when(pl.int_range(pl.len()) == 0)
        .then(pl.lit(late))
        .when(pl.int_range(pl.len()) == 1)
        .then(None)
        .otherwise(pl.col("event_time"))
        .alias("event_time")
    ).write_parquet(path)

    day = read_partition(spec, KEYS[1])

    assert day.height == 39
    assert day["event_time"].max() == late  # the event_time rule will name this day
    assert rows_without_time(spec, KEYS) == 1


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_the_reader_reads_each_day_as_read_partition_does_and_a_bad_day_alone_fails(
    day_files, kind: str
) -> None:
    spec = day_files(kind)
    _spoil(_day_path(spec, KEYS[2]), "corrupt")

    reader = PartitionReader(spec, KEYS)

    for key in KEYS:
        if key == KEYS[2]:
            with pytest.raises(SourceFileError, match=_day_path(spec, key).name):
                reader.read(key)
            continue
        expected = read_partition(spec, key)
        got = reader.read(key)
        assert got.equals(expected), key
        assert got.schema == expected.schema


def test_the_range_and_the_days_of_a_file_come_from_names_without_reading_a_file(
    day_files,
) -> None:
    spec = day_files("csv")
    for key in KEYS:
        if _day_path(spec, key).exists():
            _spoil(_day_path(spec, key), "corrupt")

    assert source_time_range(spec) == (FIRST, FIRST + timedelta(days=5))
    assert days_in_file(spec, _day_path(spec, KEYS[4])) == [KEYS[4]]


def test_event_times_are_counted_in_the_files_of_the_days_asked_for_and_a_bad_file_is_skipped(
    day_files,
) -> None:
    spec = day_files("csv")
    _spoil(_day_path(spec, KEYS[1]), "corrupt")

    counted = event_time_parsing(spec, KEYS[:3])

    assert [(t.path.name, t.first_day, t.last_day, t.rows) for t in counted] == [
        ("20260301.csv", FIRST, FIRST, 40),
        ("20260303.csv", FIRST + timedelta(days=2), FIRST + timedelta(days=2), 40),
    ]


def test_a_source_that_is_not_day_named_still_fails_whole_on_a_bad_file(
    tmp_path: Path, make_events, make_spec_dict
) -> None:
    for offset in range(3):
        day = FIRST + timedelta(days=offset)
        part = make_events(days=3).filter(pl.col("event_time").dt.date() == day)
        _write(part, tmp_path / "events" / f"{day:%Y%m%d}.csv", "csv")
    (tmp_path / "events" / "20260302.csv").write_bytes(b"")
    spec = spec_from_dict(
        make_spec_dict(source={"kind": "csv", "path": "events"}), base_dir=tmp_path
    )

    with pytest.raises(SpecError, match=r"20260302\.csv cannot be read"):
        read_partition(spec, KEYS[0])


def test_the_reader_counts_event_times_as_it_reads_the_days_as_event_time_parsing_does(
    day_files,
) -> None:
    spec = day_files("csv")
    path = _day_path(spec, KEYS[1])
    lines = path.read_text().splitlines()
    lines[3] = lines[3].replace(lines[3].split(",")[1], "not a time")
    path.write_text("\n".join(lines) + "\n")
    _spoil(_day_path(spec, KEYS[2]), "corrupt")
    reader = PartitionReader(spec, KEYS)

    for key in KEYS:
        if key != KEYS[2]:
            reader.read(key)

    assert reader.event_times() == event_time_parsing(spec, KEYS)
    assert [t.unparsed for t in reader.event_times()] == [0, 1, 0]
