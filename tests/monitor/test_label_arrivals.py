"""Labels of time-partitioned data without `label_time_column`: each label is dated by the run
that first saw it, recorded per partition, so coverage, time to label and new labels work."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import polars as pl
import pytest

from binclf.io.partition_store import PartitionStore
from binclf.monitor.label_arrivals import RECORD, SEEN_COLUMN, update_first_seen
from binclf.monitor.label_days import label_run_totals, label_status_by_day

DAY = "2026-03-01"
FIRST_RUN = datetime(2026, 3, 6, 3, tzinfo=UTC)
SECOND_RUN = datetime(2026, 3, 11, 3, tzinfo=UTC)
CUTOFF = datetime(2026, 3, 8, tzinfo=UTC)  # the champion's training cutoff, between the runs


def _day_events(make_events) -> pl.DataFrame:
    events = make_events()
    return events.filter(pl.col("event_time").dt.date() == datetime(2026, 3, 1).date())


def _scores(events: pl.DataFrame) -> dict[str, pl.LazyFrame]:
    scored = events.with_columns(
        probability=pl.lit(0.3), decision=pl.lit(False), model_version=pl.lit("v0001")
    )
    return {DAY: scored.lazy()}


def _run(spec, scores, store: PartitionStore, as_of: datetime):
    return label_status_by_day(
        spec,
        scores,
        lambda version: CUTOFF,
        as_of=as_of,
        tolerated_unlabeled_share=0.0,
        arrivals=store,
    )


def test_a_spec_without_label_times_dates_labels_by_the_run_that_first_saw_them(
    tmp_path: Path, make_events, make_file_spec
) -> None:
    events = _day_events(make_events)
    first_half = pl.arange(0, events.height, eager=True) < events.height // 2
    partial = events.with_columns(label=pl.when(first_half).then(pl.col("label")))
    spec = make_file_spec(tmp_path / "data", partial)
    assert spec.label_time_column is None
    store = PartitionStore(tmp_path / "state")

    first = _run(spec, _scores(events), store, FIRST_RUN)[DAY]
    events.write_parquet(tmp_path / "data" / "events.parquet")  # the rest of the labels arrive
    second = _run(spec, _scores(events), store, SECOND_RUN)[DAY]

    half = events.height // 2
    assert (first["n_labeled"], second["n_labeled"]) == (half, events.height)
    assert first["n_labeled_since"] == 0  # seen before the training cutoff
    assert second["n_labeled_since"] == events.height - half  # first seen by the second run
    assert label_run_totals({DAY: second}).labeled_since_training == events.height - half
    record = store.read(RECORD, DAY)
    seen = record.group_by(SEEN_COLUMN).len().sort(SEEN_COLUMN)
    assert seen["len"].to_list() == [half, events.height - half]
    assert seen[SEEN_COLUMN].to_list() == [FIRST_RUN, SECOND_RUN]
    # time to label: from each event to the run that first saw its label
    event_hours = (
        events.join(record, on="event_id")
        .select((pl.col(SEEN_COLUMN) - pl.col("event_time")).dt.total_microseconds() / 3.6e9)
        .to_series()
    )
    assert second["time_to_label_hours"]["median"] == pytest.approx(event_hours.median())
    assert second["performance"]["n_labeled"] == events.height


def test_a_label_seen_before_keeps_its_time_and_a_vanished_label_keeps_its_record() -> None:
    labels = pl.DataFrame({"id": [1, 2, 3], "y": ["yes", None, "no"]})
    first = update_first_seen(
        None, labels, id_column="id", target="y", seen_at=FIRST_RUN, aware=True
    )
    later = pl.DataFrame({"id": [1, 2, 3], "y": [None, "no", "no"]})
    second = update_first_seen(
        first, later, id_column="id", target="y", seen_at=SECOND_RUN, aware=True
    )
    assert first["id"].to_list() == [1, 3]
    assert dict(zip(second["id"], second[SEEN_COLUMN], strict=True)) == {
        1: FIRST_RUN,
        2: SECOND_RUN,
        3: FIRST_RUN,
    }
    naive = update_first_seen(
        None, labels, id_column="id", target="y", seen_at=FIRST_RUN, aware=False
    )
    assert naive[SEEN_COLUMN].to_list()[0] == FIRST_RUN.replace(tzinfo=None)
    with pytest.raises(ValueError, match="seen_at must be timezone-aware"):
        update_first_seen(
            None, labels, id_column="id", target="y", seen_at=datetime(2026, 3, 1), aware=True
        )


def test_without_an_arrival_store_nothing_counts_as_new(
    tmp_path: Path, make_events, make_file_spec
):
    events = _day_events(make_events)
    spec = make_file_spec(tmp_path / "data", events)
    status = label_status_by_day(
        spec, _scores(events), lambda v: CUTOFF, as_of=SECOND_RUN, tolerated_unlabeled_share=0.0
    )[DAY]
    assert status["n_labeled"] == events.height
    assert "n_labeled_since" not in status and status["time_to_label_hours"] is None
