"""Model health: the per-day table repeats the stored results, streaks are counted right, and the
charts are PNGs of the standard size."""

from __future__ import annotations

import struct
from datetime import date, timedelta
from typing import Any

import numpy as np
import polars as pl
import pytest

from binclf.io.atomic import write_json_atomic
from binclf.io.partition_store import PartitionStore
from binclf.monitor.health import (
    AlarmStreak,
    ScoreSummary,
    alarm_streaks,
    feature_drift_grid,
    health_table,
    score_summaries,
    stored_days,
    table_rows,
)
from binclf.monitor.health_charts import health_charts

DAYS = [(date(2026, 3, 1) + timedelta(days=i)).isoformat() for i in range(8)]
ALARMS = [False, True, True, False, True, True, True, False]
FEATURES = ("amount", "merchant", "hour")


def _drift_day(index: int) -> dict[str, Any]:
    alarm = ALARMS[index]
    statistics = [0.02 * index, 0.3 if alarm else 0.01, 0.05]
    return {
        "n_rows": 100 + index,
        "share_drifted": 1 / 3 if alarm else 0.0,
        "alarm": alarm,
        "model_version": "v0001" if index < 5 else "v0002",
        "features": [
            {"column": c, "statistic": s, "drifted": c == "merchant" and alarm}
            for c, s in zip(FEATURES, statistics, strict=True)
        ],
        "prediction_drift": {"statistic": 0.01 * index, "drifted": index == 6},
    }


def _label_day(index: int) -> dict[str, Any]:
    return {
        "n_rows": 100 + index,
        "label_coverage": 1.0 - index / 10,
        "performance": {"precision": 0.5, "recall": 0.25 + index / 100, "pr_auc": None},
    }


@pytest.fixture
def drift() -> dict[str, dict[str, Any]]:
    return {key: _drift_day(i) for i, key in enumerate(DAYS)}


@pytest.fixture
def labels() -> dict[str, dict[str, Any]]:
    return {key: _label_day(i) for i, key in enumerate(DAYS[:6])}  # the last days have none


def _png_size(png: bytes) -> tuple[int, int]:
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    return struct.unpack(">II", png[16:24])


def test_table_values_equal_the_stored_results_of_each_day(drift, labels) -> None:
    scores = {DAYS[0]: ScoreSummary(100, 0.05, 0.04)}

    table = health_table(drift, labels, scores)

    assert [row.day for row in table] == DAYS
    for index, row in enumerate(table):
        stored = drift[row.day]
        assert row.share_drifted == stored["share_drifted"]
        assert row.alarm == stored["alarm"]
        assert row.n_rows == stored["n_rows"]
        assert row.model_version == stored["model_version"]
        assert row.drifted_columns == int(ALARMS[index])
        assert row.prediction_js == stored["prediction_drift"]["statistic"]
        assert row.prediction_drifted is (index == 6)
        if row.day in labels:
            assert row.label_coverage == labels[row.day]["label_coverage"]
            assert row.recall == labels[row.day]["performance"]["recall"]
            assert row.precision == 0.5
        else:
            assert row.label_coverage is row.recall is row.precision is None
        assert row.pr_auc is None
    assert (table[0].flag_rate, table[0].mean_probability) == (0.05, 0.04)
    assert table[1].flag_rate is None


def test_alarm_streaks_are_the_runs_of_consecutive_alarm_days(drift, labels) -> None:
    table = health_table(drift, labels, {})

    assert [row.alarm_streak for row in table] == [0, 1, 2, 0, 1, 2, 3, 0]
    assert alarm_streaks(table) == [
        AlarmStreak(DAYS[1], DAYS[2], 2),
        AlarmStreak(DAYS[4], DAYS[6], 3),
    ]


def test_a_day_without_drift_breaks_a_streak(drift) -> None:
    del drift[DAYS[5]]
    labels = {DAYS[5]: _label_day(5)}

    table = health_table(drift, labels, {})

    assert [row.alarm_streak for row in table] == [0, 1, 2, 0, 1, 0, 1, 0]
    assert table[5].share_drifted is None and table[5].n_rows == 105


def test_feature_grid_holds_each_days_statistic_and_verdict(drift) -> None:
    grid = feature_drift_grid(drift)

    assert grid.features == FEATURES and grid.days == tuple(DAYS)
    merchant = grid.features.index("merchant")
    assert grid.statistic[merchant] == tuple(0.3 if a else 0.01 for a in ALARMS)
    assert grid.drifted[merchant] == tuple(ALARMS)
    assert not any(grid.drifted[grid.features.index("amount")])


def test_table_rows_round_to_four_significant_figures(drift, labels) -> None:
    (row, *_) = table_rows(health_table(drift, labels, {}))[1:2]
    assert row["share_drifted"] == 0.3333
    assert row["day"] == DAYS[1] and row["alarm"] is True


def test_every_chart_is_a_600_by_450_png(drift, labels) -> None:
    table = health_table(drift, labels, {k: ScoreSummary(100, 0.05, 0.04) for k in DAYS})

    charts = health_charts(table, feature_drift_grid(drift), threshold=0.3)

    assert set(charts) == {
        "drift_share",
        "feature_drift",
        "prediction_drift",
        "realized_performance",
    }
    for name, png in charts.items():
        assert _png_size(png) == (600, 450), name
        assert 5_000 < len(png) < 150_000, name
    assert health_charts([], feature_drift_grid({}), threshold=0.3) == {}


def test_score_summaries_are_the_flag_rate_and_mean_probability_of_each_stored_day(
    tmp_path,
) -> None:
    store = PartitionStore(tmp_path)
    rng = np.random.default_rng(0)
    expected = {}
    for key in DAYS[:3]:
        p = rng.uniform(size=50)
        store.write("scores", pl.DataFrame({"probability": p, "decision": p >= 0.8}), key)
        expected[key] = (50, float(np.mean(p >= 0.8)), float(np.mean(p)))

    summaries = score_summaries(store, DAYS)

    assert set(summaries) == set(expected)  # days without a stored file are left out
    for key, (n, flag_rate, mean) in expected.items():
        assert summaries[key].n_rows == n
        assert summaries[key].flag_rate == pytest.approx(flag_rate)
        assert summaries[key].mean_probability == pytest.approx(mean)


def test_stored_days_reads_every_stored_json_partition_and_skips_other_files(tmp_path) -> None:
    store = PartitionStore(tmp_path)
    for key in DAYS[:2]:
        write_json_atomic(store.path("drift", key).with_suffix(".json"), {"day": key})
    (store.path("drift", DAYS[0]).parent / ".tmp-file.json").write_text("{")

    assert stored_days(store, "drift") == {k: {"day": k} for k in DAYS[:2]}
    assert stored_days(store, "label_status_report") == {}
