from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from binclf.ingest.reader import PartitionReader
from binclf.ingest.sources import read_partition
from binclf.spec import spec_from_dict


@pytest.mark.parametrize("block_rows", [1, 25, 1_000_000])
def test_reader_hands_out_each_day_as_read_partition_reads_it(
    tmp_path, make_events, make_spec_dict, block_rows: int
) -> None:
    events = make_events(days=4)
    folder = tmp_path / "events"
    folder.mkdir()
    # One file per day, the third day's file without `label`, and one day without rows.
    for offset in (0, 1, 3):
        day = date(2026, 3, 1) + timedelta(days=offset)
        frame = events.filter(pl.col("event_time").dt.date() == day)
        (frame.drop("label") if offset == 1 else frame).write_parquet(folder / f"{day}.parquet")
    spec = spec_from_dict(
        make_spec_dict(source={"kind": "parquet", "path": "events"}), base_dir=tmp_path
    )
    keys = [(date(2026, 3, 1) + timedelta(days=d)).isoformat() for d in range(5)]

    reader = PartitionReader(spec, keys, block_rows=block_rows)

    for key in keys:
        expected = read_partition(spec, key)
        got = reader.read(key)
        assert got.equals(expected), key
        assert got.schema == expected.schema


def test_reader_reads_a_csv_once_per_block_not_once_per_day(
    tmp_path, make_spec_dict, monkeypatch: pytest.MonkeyPatch
) -> None:
    start = datetime(2026, 3, 1, tzinfo=UTC)
    times = [start + timedelta(hours=7 * i) for i in range(40)]
    pl.DataFrame(
        {
            "event_id": range(40),
            "event_time": [t.strftime("%Y-%m-%d %H:%M:%S") for t in times],
            "label": ["yes", "no"] * 20,
        }
    ).write_csv(tmp_path / "events.csv")
    spec = spec_from_dict(
        make_spec_dict(source={"kind": "csv", "path": "events.csv"}), base_dir=tmp_path
    )
    keys = sorted({t.date().isoformat() for t in times})
    expected = {key: read_partition(spec, key) for key in keys}
    passes = []
    collect_all = pl.collect_all
    monkeypatch.setattr(pl, "collect_all", lambda scans: passes.append(1) or collect_all(scans))

    reader = PartitionReader(spec, keys)

    assert all(reader.read(key).equals(expected[key]) for key in keys)
    assert len(passes) == 2  # the rows per day, then one block of all the days
