"""Monitoring: daily scores from the champion, drift against its training reference, labels.

Each day's numbers are on that day's materialization; the label totals of a run, which the label
sensor judges, are on the unpartitioned `label_summary`.
"""

import json
from dataclasses import asdict
from pathlib import Path
from typing import Any, Literal

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    Config,
    DailyPartitionsDefinition,
    MetadataValue,
    asset,
)
from pydantic import Field

from assets.champion import CHAMPION_ASSET
from assets.io_manager import FramesOnDemand
from assets.metadata import PreviewPolicy
from assets.resources import StateResource
from binclf.ingest.sources import observed_at
from binclf.io.atomic import write_bytes_atomic
from binclf.monitor.drift import DriftResult
from binclf.monitor.drift_days import DayDrift, VersionCache, drift_by_day
from binclf.monitor.drift_report import evidently_drift_html
from binclf.monitor.label_days import LabelRunTotals, label_run_totals, label_status_by_day
from binclf.register.loading import ServingModel, load_champion, load_version
from binclf.score.scoring import ScoredDay, score_events, summarize_scores, training_cutoff
from binclf.spec import DatasetSpec
from binclf.stats.summaries import markdown_table


class DriftConfig(Config):
    """How drift is judged, and which partitions get an evidently HTML report."""

    alpha: float = Field(0.05, description="family-wise false-alarm rate per partition")
    min_effect: float = Field(0.1, description="minimum Jensen-Shannon distance that counts")
    html_report: Literal["alarms", "all", "latest", "none"] = Field(
        "alarms",
        description="evidently HTML for each day whose alarm fired ('alarms'), 'all' days, "
        "'latest' (newest of the run and the alarm days) or 'none'",
    )
    html_sample_rows: int = Field(20_000, description="rows sampled from each side for HTML")
    include_sensitive_in_html: bool = Field(False, description="show sensitive columns in HTML")


class LabelConfig(Config):
    """How label lateness is judged."""

    tolerated_unlabeled_share: float = Field(
        0.05, description="share of events that may never be labeled without counting as late"
    )


def _drift_html(
    spec: DatasetSpec,
    state: StateResource,
    key: str,
    model: ServingModel,
    frame: pl.DataFrame,
    result: DriftResult,
    config: DriftConfig,
) -> Path:
    """evidently's report of one day against the scoring version's reference, with the alarm's
    verdicts; one file per version and day, written once and never replaced."""
    path = state.reports() / "drift" / model.version / f"{key}.html"
    if path.is_file():
        return path
    schema = model.bundle.schema
    score = model.reference.score
    reference = model.reference_sample
    if score is not None and score.column not in reference.columns:
        reference = reference.with_columns(model.bundle.score(reference)[score.column])
    html = evidently_drift_html(
        reference,
        frame,
        numeric=list(schema.numeric),
        categorical=list(schema.categorical),
        alarm=result,
        title=f"Drift of {key} against {model.version}",
        exclude=[] if config.include_sensitive_in_html else spec.sensitive,
        score_column=score.column if score is not None else None,
        sample_rows=config.html_sample_rows,
    )
    write_bytes_atomic(path, html.encode())
    return path


def _wants_html(config: DriftConfig, key: str, newest: str, result: DriftResult) -> bool:
    if config.html_report == "none":
        return False
    return (
        config.html_report == "all"
        or result.alarm
        or (config.html_report == "latest" and key == newest)
    )


def _day_drift_metadata(day: DayDrift, link: str | None) -> dict[str, Any]:
    """What the UI shows on one day's drift materialization: its own numbers only."""
    result = day.result
    prediction = result.prediction_drift
    metadata: dict[str, Any] = {
        "share_drifted": MetadataValue.float(float(result.share_drifted)),
        "alarm": MetadataValue.bool(bool(result.alarm)),
        "n_rows": MetadataValue.int(int(result.n_rows)),
        "model_version": MetadataValue.text(day.model_version),
        "drifted_columns": MetadataValue.text(", ".join(result.drifted_columns) or "none"),
        "features": MetadataValue.md(markdown_table([f.to_dict() for f in result.features])),
    }
    if prediction is not None:
        metadata["prediction_drift"] = MetadataValue.bool(bool(prediction.drifted))
        metadata["prediction_js_distance"] = MetadataValue.float(float(prediction.statistic))
    if day.html_report is not None:
        metadata["html_report"] = MetadataValue.path(day.html_report)
        if link is not None:
            metadata["html_report_url"] = MetadataValue.url(link)
    return metadata


def _day_scores_metadata(day: ScoredDay) -> dict[str, Any]:
    """One day's scores as the UI shows them on that day: rows, version, flag rate, mean."""
    metadata: dict[str, Any] = {
        "rows": MetadataValue.int(day.rows),
        "model_version": MetadataValue.text(day.model_version),
    }
    if day.flag_rate is not None and day.mean_probability is not None:
        metadata["flag_rate"] = MetadataValue.float(day.flag_rate)
        metadata["mean_probability"] = MetadataValue.float(day.mean_probability)
    return metadata


def _day_label_metadata(status: dict[str, Any]) -> dict[str, Any]:
    """One day's label coverage and realized performance, as the UI shows it on that day."""
    metadata: dict[str, Any] = {
        "n_rows": MetadataValue.int(int(status["n_rows"])),
        "n_labeled": MetadataValue.int(int(status["n_labeled"])),
    }
    if status["label_coverage"] is not None:
        metadata["label_coverage"] = MetadataValue.float(float(status["label_coverage"]))
    for name, value in (status.get("performance") or {}).items():
        if isinstance(value, int | float) and not isinstance(value, bool):
            metadata[f"realized_{name}"] = MetadataValue.float(float(value))
    return metadata


def _run_keys(context: AssetExecutionContext, partitions: DailyPartitionsDefinition) -> list[str]:
    """The days a partitioned run names; every day of the definition when it names none."""
    if context.has_partition_key_range or context.has_partition_key:
        return list(partitions.get_partition_keys_in_range(context.partition_key_range))
    return list(partitions.get_partition_keys())


def _label_summary_metadata(totals: LabelRunTotals, keys: list[str]) -> dict[str, Any]:
    return {
        "days": MetadataValue.text(f"{keys[0]} … {keys[-1]}" if keys else "-"),
        "partitions": MetadataValue.int(totals.partitions),
        "n_rows": MetadataValue.int(totals.rows),
        "n_labeled": MetadataValue.int(totals.labeled),
        "label_coverage": MetadataValue.float(totals.coverage),
        "n_labeled_since_training": MetadataValue.int(totals.labeled_since_training),
        "oldest_unlabeled_age_hours": MetadataValue.float(totals.oldest_unlabeled_age_hours),
    }


def monitoring_assets(
    spec: DatasetSpec, partitions: DailyPartitionsDefinition
) -> list[AssetsDefinition]:
    """The monitoring group for one dataset."""
    daily = {
        "group_name": "monitoring",
        "partitions_def": partitions,
        "backfill_policy": BackfillPolicy.single_run(),
    }

    @asset(**daily, deps=[CHAMPION_ASSET], metadata=PreviewPolicy(shown=False).definition())
    def scores(
        context: AssetExecutionContext,
        state: StateResource,
        validated_events: dict[str, pl.LazyFrame],
    ) -> FramesOnDemand:
        """Every validated event scored by the champion, tagged with the version that scored it.

        It depends on `champion_model`, so a promotion marks the scored days stale."""
        champion = load_champion(state.registry(), spec.name)

        def score_day(key: str) -> pl.DataFrame:
            scored = score_events(champion, validated_events[key].collect())
            summary = summarize_scores(scored, model_version=champion.version)
            context.add_asset_metadata(_day_scores_metadata(summary), partition_key=key)
            return scored

        return FramesOnDemand(validated_events, score_day)

    @asset(**daily)
    def drift(
        context: AssetExecutionContext,
        config: DriftConfig,
        state: StateResource,
        scores: dict[str, pl.LazyFrame],
    ) -> dict[str, dict[str, Any]]:
        """Per-feature and prediction drift of each day against the scoring version's reference."""
        newest = max(scores)
        days = drift_by_day(
            scores,
            VersionCache(lambda version: load_version(state.registry(), spec.name, version)),
            alpha=config.alpha,
            min_effect=config.min_effect,
            share_threshold=spec.monitoring.drift_share_threshold,
            html_for=lambda key, result: _wants_html(config, key, newest, result),
            html_report=lambda key, model, frame, result: str(
                _drift_html(spec, state, key, model, frame, result, config)
            ),
        )
        results: dict[str, dict[str, Any]] = {}
        for day in days:
            results[day.partition_key] = day.to_dict()
            link = state.report_url(Path(day.html_report)) if day.html_report else None
            context.add_asset_metadata(
                _day_drift_metadata(day, link), partition_key=day.partition_key
            )
        return results

    @asset(**daily)
    def label_status_report(
        context: AssetExecutionContext,
        config: LabelConfig,
        state: StateResource,
        scores: dict[str, pl.LazyFrame],
    ) -> dict[str, dict[str, Any]]:
        """Label coverage, time to label and the realized performance as labels arrive."""
        results = label_status_by_day(
            spec,
            scores,
            lambda version: training_cutoff(load_version(state.registry(), spec.name, version)),
            as_of=observed_at(spec),
            tolerated_unlabeled_share=config.tolerated_unlabeled_share,
            arrivals=state.store(),
        )
        for key, status in results.items():
            context.add_asset_metadata(_day_label_metadata(status), partition_key=key)
        return results

    @asset(group_name="monitoring", deps=[label_status_report])
    def label_summary(context: AssetExecutionContext, state: StateResource) -> dict[str, Any]:
        """Labels over the days of the run that measured them: what the label sensor judges.

        A run over a range summarizes its days (every stored day when the run names none); each
        day's own numbers stay on that day's `label_status_report`."""
        keys = _run_keys(context, partitions)
        store = state.store()
        stored = {key: store.json_path("label_status_report", key) for key in keys}
        totals = label_run_totals(
            {key: json.loads(path.read_text()) for key, path in stored.items() if path.is_file()}
        )
        context.add_output_metadata(_label_summary_metadata(totals, keys))
        return {**asdict(totals), "label_coverage": totals.coverage}

    if spec.time_column is None:  # a snapshot has no event time to measure labels against
        return [scores, drift]
    return [scores, drift, label_status_report, label_summary]
