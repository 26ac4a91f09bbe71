"""Which days a file source asks to ingest as its files arrive, change and disappear."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path

import polars as pl

from binclf.ingest.arrivals import arrivals, days_in_file
from binclf.partitions import contiguous_runs
from binclf.spec import DatasetSpec, spec_from_dict


def file_spec(folder: Path) -> DatasetSpec:
    return spec_from_dict(
        {
            "name": "arrivals",
            "source": {"kind": "parquet", "path": str(folder)},
            "target": "label",
            "positive": 1,
            "negative": [0],
            "time_column": "event_time",
            "partitions": {"start_date": "2026-01-01"},
        },
        base_dir=folder,
    )


def write_day_file(folder: Path, name: str, days: list[str], rows_per_day: int = 3) -> Path:
    """A file with `rows_per_day` events at noon of each of `days`."""
    folder.mkdir(parents=True, exist_ok=True)
    times = [
        datetime.fromisoformat(day).replace(hour=12, tzinfo=UTC)
        for day in days
        for _ in range(rows_per_day)
    ]
    frame = pl.DataFrame(
        {"event_time": times, "amount": [float(i) for i in range(len(times))], "label": 0}
    )
    path = folder / f"{name}.parquet"
    frame.write_parquet(path)
    return path


def touch_later(path: Path) -> None:
    status = path.stat()
    os.utime(path, ns=(status.st_atime_ns, status.st_mtime_ns + 10**9))


def test_new_files_ask_for_their_days_once(tmp_path: Path) -> None:
    folder = tmp_path / "source"
    write_day_file(folder, "a", ["2026-01-01"])
    write_day_file(folder, "b", ["2026-01-02", "2026-01-03"])
    spec = file_spec(folder)

    first = arrivals(spec, {}, first_key="2026-01-01", last_key="2026-01-10")
    again = arrivals(spec, first.stamps, first_key="2026-01-01", last_key="2026-01-10")

    assert first.keys == ["2026-01-01", "2026-01-02", "2026-01-03"]
    assert first.changed_files == 2 and len(first.stamps) == 2
    assert again.keys == [] and again.changed_files == 0
    assert again.stamps == first.stamps


def test_a_rewritten_file_asks_for_its_days_again_and_only_those(tmp_path: Path) -> None:
    folder = tmp_path / "source"
    write_day_file(folder, "a", ["2026-01-01"])
    rewritten = write_day_file(folder, "b", ["2026-01-02"])
    spec = file_spec(folder)
    seen = arrivals(spec, {}, first_key="2026-01-01", last_key="2026-01-10").stamps

    write_day_file(folder, "b", ["2026-01-02"], rows_per_day=5)  # late labels, a correction
    touch_later(rewritten)
    after = arrivals(spec, seen, first_key="2026-01-01", last_key="2026-01-10")

    assert after.keys == ["2026-01-02"]
    assert after.changed_files == 1


def test_a_day_not_finished_yet_is_asked_for_once_it_is(tmp_path: Path) -> None:
    folder = tmp_path / "source"
    write_day_file(folder, "ab", ["2026-01-04", "2026-01-05"])
    spec = file_spec(folder)

    today = arrivals(spec, {}, first_key="2026-01-01", last_key="2026-01-04")
    tomorrow = arrivals(spec, today.stamps, first_key="2026-01-01", last_key="2026-01-05")
    later = arrivals(spec, tomorrow.stamps, first_key="2026-01-01", last_key="2026-01-06")

    assert today.keys == ["2026-01-04"]
    assert today.stamps == {}, "a file with an unfinished day is looked at again"
    assert tomorrow.keys == ["2026-01-04", "2026-01-05"]
    assert later.keys == []


def test_days_before_the_first_partition_are_not_asked_for(tmp_path: Path) -> None:
    folder = tmp_path / "source"
    write_day_file(folder, "old", ["2025-12-30", "2026-01-01"])

    found = arrivals(file_spec(folder), {}, first_key="2026-01-01", last_key="2026-01-03")

    assert found.keys == ["2026-01-01"]
    assert len(found.stamps) == 1


def test_an_unreadable_file_is_named_and_tried_again_while_others_proceed(tmp_path: Path) -> None:
    folder = tmp_path / "source"
    write_day_file(folder, "good", ["2026-01-02"])
    (folder / "half.parquet").write_bytes(b"PAR1 still being written")
    spec = file_spec(folder)

    found = arrivals(spec, {}, first_key="2026-01-01", last_key="2026-01-10")

    assert found.keys == ["2026-01-02"]
    assert [Path(p).name for p in found.unreadable] == ["half.parquet"]
    assert [Path(p).name for p in found.stamps] == ["good.parquet"]


def test_deleted_files_are_forgotten_and_an_empty_source_asks_for_nothing(tmp_path: Path) -> None:
    folder = tmp_path / "source"
    path = write_day_file(folder, "a", ["2026-01-02"])
    spec = file_spec(folder)
    seen = arrivals(spec, {}, first_key="2026-01-01", last_key="2026-01-10").stamps

    path.unlink()
    after = arrivals(spec, seen, first_key="2026-01-01", last_key="2026-01-10")

    assert after.keys == [] and after.stamps == {}


def test_days_in_file_reads_utc_days_of_naive_and_zoned_times(tmp_path: Path) -> None:
    folder = tmp_path / "source"
    folder.mkdir()
    times = [datetime(2026, 1, 2, 23, 30), datetime(2026, 1, 3, 0, 30)]  # naive: UTC
    pl.DataFrame({"event_time": times, "label": [0, 1]}).write_parquet(folder / "n.parquet")

    assert days_in_file(file_spec(folder), folder / "n.parquet") == ["2026-01-02", "2026-01-03"]


def test_contiguous_runs_group_consecutive_days() -> None:
    keys = ["2026-01-05", "2026-01-01", "2026-01-02", "2026-01-02", "2026-01-31", "2026-02-01"]

    assert contiguous_runs(keys) == [
        ("2026-01-01", "2026-01-02"),
        ("2026-01-05", "2026-01-05"),
        ("2026-01-31", "2026-02-01"),
    ]
    assert contiguous_runs([]) == []
