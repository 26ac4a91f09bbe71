"""The drift reference is the newest part of the training window, not its oldest rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import polars as pl

from binclf.spec import spec_from_dict
from binclf.train.inputs import drift_reference_rows
from binclf.train.splits import make_splits


def _spec(**monitoring):
    return spec_from_dict(
        {
            "name": "events",
            "source": {"kind": "parquet", "path": "e.parquet"},
            "target": "label",
            "positive": 1,
            "time_column": "at",
            "monitoring": monitoring,
        }
    )


def _window(days: int = 100, rows_per_day: int = 40) -> pl.DataFrame:
    rng = np.random.default_rng(0)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    day = np.repeat(np.arange(days), rows_per_day)
    at = [
        start + timedelta(days=int(d), seconds=int(s))
        for d, s in zip(day, rng.integers(0, 86_400, len(day)), strict=True)
    ]
    return pl.DataFrame(
        {
            "at": at,
            "amount": day + rng.normal(0, 1, len(day)),  # drifts a unit a day
            "label": (rng.random(len(day)) < 0.3).astype(np.int8),
        }
    )


def test_reference_is_the_last_reference_days_of_the_window_across_splits():
    splits = make_splits(_window(), _spec())
    reference = drift_reference_rows(splits, _spec(reference_days=28))
    days = reference["at"].dt.date().unique().sort()
    assert len(days) == 28 and days.max() == splits["at"].dt.date().max()
    assert reference.height == 28 * 40
    assert set(reference["_split"]) == {"test", "calibration", "validation"}  # the newest
    train = splits.filter(pl.col("_split") == "train")
    # The old reference (the train split) is ~60 days behind the end; the new one ~14.
    assert train["amount"].mean() < 35 < 80 < reference["amount"].mean()


def test_reference_days_null_or_a_snapshot_take_the_whole_window():
    splits = make_splits(_window(days=30), _spec())
    assert drift_reference_rows(splits, _spec(reference_days=None)).height == splits.height
    snapshot = splits.drop("at")
    snapshot_spec = spec_from_dict(
        {
            "name": "s",
            "source": {"kind": "parquet", "path": "s.parquet"},
            "target": "label",
            "positive": 1,
        }
    )
    assert drift_reference_rows(snapshot, snapshot_spec).height == snapshot.height
    assert _spec().monitoring.reference_days == 28
