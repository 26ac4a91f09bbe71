"""The training window: labeled rows known at the cutoff, within the last `window_days`."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import polars as pl
import pytest

from binclf.ingest.synthetic import generate_day
from binclf.spec import SyntheticSource, spec_from_dict
from binclf.train.window import WindowError, select_training_window

START = datetime(2026, 3, 1, tzinfo=UTC)


def timed_spec(**overrides):
    data = {
        "name": "events",
        "source": {"kind": "parquet", "path": "events.parquet"},
        "target": "label",
        "positive": 1,
        "id_column": "event_id",
        "time_column": "event_time",
        "label_time_column": "label_time",
        **overrides,
    }
    return spec_from_dict(data)


def events() -> pl.DataFrame:
    """One event a day for 10 days; labels arrive 2 days later, event 7 is never labeled."""
    rows = []
    for day in range(10):
        event_time = START + timedelta(days=day, hours=12)
        labeled = day != 7
        rows.append(
            {
                "event_id": day,
                "event_time": event_time,
                "label_time": event_time + timedelta(days=2) if labeled else None,
                "label": day % 2 if labeled else None,
                "amount": float(day),
            }
        )
    return pl.DataFrame(rows)


def expected_ids(cutoff: datetime, window_days: int | None) -> list[int]:
    kept = []
    for row in events().iter_rows(named=True):
        known = row["label"] is not None and row["label_time"] <= cutoff
        in_window = window_days is None or row["event_time"] >= cutoff - timedelta(days=window_days)
        if known and row["event_time"] < cutoff and in_window:
            kept.append(row["event_id"])
    return kept


@pytest.mark.parametrize("window_days", [None, 3, 6])
def test_window_keeps_rows_labeled_by_the_cutoff_within_window_days(window_days):
    cutoff = START + timedelta(days=8)
    window = select_training_window(
        events().lazy(), timed_spec(), cutoff=cutoff, window_days=window_days
    )
    assert sorted(window["event_id"].to_list()) == expected_ids(cutoff, window_days)
    assert window["label"].null_count() == 0


def test_window_reads_a_naive_cutoff_in_the_time_zone_of_the_column():
    aware = START + timedelta(days=8)
    naive = aware.replace(tzinfo=None)
    spec = timed_spec()
    by_aware = select_training_window(events().lazy(), spec, cutoff=aware, window_days=4)
    by_naive = select_training_window(events().lazy(), spec, cutoff=naive, window_days=4)
    assert by_aware.equals(by_naive)
    assert by_aware.height > 0


def test_window_without_cutoff_counts_back_from_the_latest_labeled_event():
    window = select_training_window(events().lazy(), timed_spec(), window_days=2)
    # Latest labeled event is day 9; days 7 (unlabeled) and 8, 9 are within 2 days of it.
    assert sorted(window["event_id"].to_list()) == [8, 9]


def test_window_without_label_time_keeps_every_labeled_event_before_the_cutoff():
    spec = timed_spec(label_time_column=None)
    window = select_training_window(events().lazy(), spec, cutoff=START + timedelta(days=8))
    assert sorted(window["event_id"].to_list()) == [0, 1, 2, 3, 4, 5, 6]


def test_snapshot_window_takes_every_labeled_row_whatever_the_cutoff():
    snapshot = events().drop("event_time", "label_time")
    spec = timed_spec(time_column=None, label_time_column=None)
    window = select_training_window(snapshot.lazy(), spec, cutoff=START, window_days=1)
    assert sorted(window["event_id"].to_list()) == [0, 1, 2, 3, 4, 5, 6, 8, 9]


def test_window_on_demo_events_only_holds_labels_known_at_the_cutoff():
    source = SyntheticSource(rows_per_day=50, start_date=date(2026, 1, 1), days=10)
    cutoff = datetime(2026, 1, 8, tzinfo=UTC)
    days = [generate_day(source, date(2026, 1, d)) for d in range(1, 11)]
    spec = timed_spec(target="is_fraud", id_column="transaction_id", positive=1, negative=[0])
    window = select_training_window(pl.concat(days).lazy(), spec, cutoff=cutoff, window_days=5)
    assert window.height > 0
    assert window["label_time"].max() <= cutoff
    assert window["event_time"].min() >= cutoff - timedelta(days=5)
    assert window["event_time"].max() < cutoff


def test_window_rejects_a_spec_column_missing_from_the_data():
    with pytest.raises(WindowError, match="label_time"):
        select_training_window(events().drop("label_time").lazy(), timed_spec())


def test_window_rejects_a_window_shorter_than_a_day():
    with pytest.raises(WindowError, match="window_days"):
        select_training_window(events().lazy(), timed_spec(), window_days=0)
