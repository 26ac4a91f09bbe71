"""Model health over time: one row per monitored day, and the charts drawn from those rows.

The inputs are the stored per-day results of monitoring: drift (share drifted, alarm, rows,
serving version, per-feature Jensen-Shannon distance, prediction drift), label status (coverage and
the realized precision, recall and PR-AUC on the labeled rows) and the scores (flag rate and mean
probability). Days may be missing from any of them (a day without labels yet, a day that failed
validation); their cells are None and the charts leave gaps.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import polars as pl

from binclf.io.partition_store import PartitionStore
from binclf.partitions import partition_day


@dataclass(frozen=True)
class ScoreSummary:
    """What one day's scores say without labels: rows, share flagged, mean probability."""

    n_rows: int
    flag_rate: float | None
    mean_probability: float | None


@dataclass(frozen=True)
class HealthDay:
    """One monitored day: drift, alarm streak, prediction, flags, labels and realized metrics."""

    day: str
    model_version: str | None
    n_rows: int | None
    share_drifted: float | None
    alarm: bool | None
    alarm_streak: int  # consecutive alarm days ending on this day (0 without an alarm)
    drifted_columns: int | None
    prediction_js: float | None
    prediction_drifted: bool | None
    flag_rate: float | None
    mean_probability: float | None
    label_coverage: float | None
    precision: float | None
    recall: float | None
    pr_auc: float | None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AlarmStreak:
    """A run of consecutive alarm days among the monitored days."""

    first: str
    last: str
    days: int


@dataclass(frozen=True)
class FeatureDriftGrid:
    """Jensen-Shannon distance (rows: features, columns: days) and whether each cell drifted."""

    features: tuple[str, ...]
    days: tuple[str, ...]
    statistic: tuple[tuple[float | None, ...], ...]
    drifted: tuple[tuple[bool, ...], ...]


def stored_days(store: PartitionStore, asset: str) -> dict[str, Any]:
    """The JSON value of every stored partition of `asset`, by partition key, oldest first.

    Read from the partition store rather than through the asset graph, so a day that was never
    materialized is simply absent instead of failing the load.
    """
    folder = store.path(asset, "1970-01-01").parent
    if not folder.is_dir():
        return {}
    values: dict[str, Any] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            key = partition_day(path.stem).isoformat()
        except ValueError:
            continue  # not a partition (e.g. a temporary file)
        values[key] = json.loads(path.read_text())
    return values


def score_summaries(
    store: PartitionStore,
    keys: Sequence[str],
    *,
    probability_column: str = "probability",
    decision_column: str = "decision",
) -> dict[str, ScoreSummary]:
    """Rows, flag rate and mean probability of each stored scores day, in one polars pass.

    Only the two columns are read from each Parquet file; days without a stored file are left out.
    """
    present = [key for key in keys if store.exists("scores", key)]
    if not present:
        return {}
    frames = [
        store.scan("scores", [key]).select(
            pl.lit(key).alias("day"),
            pl.len().alias("n_rows"),
            pl.col(decision_column).cast(pl.Float64).mean().alias("flag_rate"),
            pl.col(probability_column).cast(pl.Float64).mean().alias("mean_probability"),
        )
        for key in present
    ]
    summary = pl.concat(pl.collect_all(frames))
    return {
        row["day"]: ScoreSummary(row["n_rows"], row["flag_rate"], row["mean_probability"])
        for row in summary.iter_rows(named=True)
    }


def alarm_streaks(days: Sequence[HealthDay]) -> list[AlarmStreak]:
    """Runs of consecutive alarm days (a day without an alarm or without drift ends a run)."""
    streaks: list[AlarmStreak] = []
    for day in days:
        if day.alarm_streak == 1:
            streaks.append(AlarmStreak(day.day, day.day, 1))
        elif day.alarm_streak > 1:
            streaks[-1] = AlarmStreak(streaks[-1].first, day.day, day.alarm_streak)
    return streaks


def health_table(
    drift: Mapping[str, Mapping[str, Any]],
    labels: Mapping[str, Mapping[str, Any]],
    scores: Mapping[str, ScoreSummary],
) -> list[HealthDay]:
    """One row per day present in any input, oldest first; absent values are None."""
    rows: list[HealthDay] = []
    streak = 0
    for key in sorted(set(drift) | set(labels) | set(scores)):
        day_drift = drift.get(key) or {}
        status = labels.get(key) or {}
        performance = status.get("performance") or {}
        score = scores.get(key)
        prediction = day_drift.get("prediction_drift") or {}
        alarm = day_drift.get("alarm")
        streak = streak + 1 if alarm else 0
        features = day_drift.get("features")
        rows.append(
            HealthDay(
                day=key,
                model_version=day_drift.get("model_version"),
                n_rows=day_drift.get("n_rows", score.n_rows if score else status.get("n_rows")),
                share_drifted=day_drift.get("share_drifted"),
                alarm=alarm,
                alarm_streak=streak,
                drifted_columns=(
                    sum(bool(f["drifted"]) for f in features) if features is not None else None
                ),
                prediction_js=prediction.get("statistic"),
                prediction_drifted=prediction.get("drifted"),
                flag_rate=score.flag_rate if score else None,
                mean_probability=score.mean_probability if score else None,
                label_coverage=status.get("label_coverage"),
                precision=performance.get("precision"),
                recall=performance.get("recall"),
                pr_auc=performance.get("pr_auc"),
            )
        )
    return rows


def feature_drift_grid(drift: Mapping[str, Mapping[str, Any]]) -> FeatureDriftGrid:
    """The per-feature statistic of every day, features in their first-seen order."""
    days = tuple(sorted(drift))
    features: dict[str, None] = {}
    by_day: dict[str, dict[str, Mapping[str, Any]]] = {}
    for key in days:
        by_day[key] = {f["column"]: f for f in drift[key].get("features") or []}
        features.update(dict.fromkeys(by_day[key]))
    names = tuple(features)
    statistic = tuple(
        tuple((float(by_day[k][n]["statistic"]) if n in by_day[k] else None) for k in days)
        for n in names
    )
    drifted = tuple(
        tuple(bool(by_day[k][n]["drifted"]) if n in by_day[k] else False for k in days)
        for n in names
    )
    return FeatureDriftGrid(names, days, statistic, drifted)


def table_rows(days: Sequence[HealthDay], *, digits: int = 4) -> list[dict[str, Any]]:
    """The table as plain rows with floats rounded to `digits` significant figures."""

    def cell(value: Any) -> Any:
        if isinstance(value, float):
            return float(f"{value:.{digits}g}")
        return value

    return [{k: cell(v) for k, v in day.to_dict().items()} for day in days]
