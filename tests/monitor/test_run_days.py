"""Per-day monitoring over a run: one scoring version per day, totals over every day."""

from __future__ import annotations

import polars as pl
import pytest

from binclf.monitor.drift_days import VersionCache, scoring_version
from binclf.monitor.label_days import label_run_totals


def test_a_day_scored_by_two_versions_is_an_error_naming_the_partition() -> None:
    frame = pl.DataFrame({"model_version": ["v0001", "v0002", "v0001"]})

    with pytest.raises(ValueError, match=r"partition 2026-03-01: column model_version holds 2"):
        scoring_version(frame, "2026-03-01")
    assert scoring_version(frame.head(1), "2026-03-01") == "v0001"


def test_each_version_is_loaded_once_however_many_days_it_scored() -> None:
    loads: list[str] = []
    cache = VersionCache(lambda version: loads.append(version) or version)

    for version in ["v0001", "v0001", "v0002", "v0001"]:
        cache(version)

    assert loads == ["v0001", "v0002"]


def test_run_totals_sum_every_day_not_the_newest() -> None:
    days = {
        "2026-03-01": {
            "n_rows": 100,
            "n_labeled": 90,
            "n_labeled_since": 40,
            "oldest_unlabeled_age_hours": 300.0,
        },
        "2026-03-02": {
            "n_rows": 50,
            "n_labeled": 10,
            "n_labeled_since": None,
            "oldest_unlabeled_age_hours": None,
        },
    }

    totals = label_run_totals(days)

    assert (totals.partitions, totals.rows, totals.labeled) == (2, 150, 100)
    assert totals.labeled_since_training == 40
    assert totals.oldest_unlabeled_age_hours == 300.0
    assert totals.coverage == pytest.approx(100 / 150)
