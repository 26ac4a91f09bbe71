"""Performance before the labels: per-day estimated, realized and blended metrics.

`performance` (daily) estimates each day's metrics from the calibrated probabilities, measures
them on the labeled rows, and counts the day's validated events and decisions; `slo_status`
(`assets.slo_status`) pools those days into each SLO.
"""

from datetime import date
from typing import Any

import polars as pl
from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MetadataValue,
    asset,
)

from assets.resources import StateResource
from assets.slo_status import slo_status_asset
from binclf.ingest.sources import fresh_labels, observed_at
from binclf.monitor.performance import scored_performance
from binclf.register.loading import load_version
from binclf.spec import DatasetSpec


def _interval(metrics: Any, name: str) -> str:
    value = getattr(metrics, name) if metrics is not None else None
    return "n/a" if value is None else f"{value.value:.3f} [{value.low:.3f}, {value.high:.3f}]"


def champion(state: StateResource, spec: DatasetSpec) -> str:
    """The current champion's version (scores exist only once there is one)."""
    version = state.registry().champion(spec.name)
    if version is None:
        raise ValueError(f"dataset {spec.name!r} has no champion: no day could have been scored")
    return version


def performance_assets(
    spec: DatasetSpec, partitions: DailyPartitionsDefinition
) -> list[AssetsDefinition]:
    """`performance` and `slo_status` for one dataset (time-partitioned data only)."""
    costs = (spec.costs.false_positive, spec.costs.false_negative)

    @asset(
        group_name="performance",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
    )
    def performance(
        context: AssetExecutionContext,
        state: StateResource,
        scores: dict[str, pl.LazyFrame],
        validated_events: dict[str, pl.LazyFrame],
    ) -> dict[str, dict[str, Any]]:
        """Estimated (from probabilities), realized (labeled rows) and blended metrics per day."""
        as_of = observed_at(spec)
        thresholds: dict[str, float] = {}
        results = {}
        for key in sorted(scores):
            frame = scores[key].collect()
            # An empty day has no score rows to name it: the champion stood for it.
            version = frame["model_version"][0] if frame.height else champion(state, spec)
            if version not in thresholds:
                model = load_version(state.registry(), spec.name, version)
                thresholds[version] = model.bundle.threshold
            labels = fresh_labels(spec, key)
            if labels is not None:
                frame = frame.drop(labels.columns[1:]).join(labels, on=spec.id_column, how="left")
            perf, counts = scored_performance(
                frame,
                date.fromisoformat(key),
                target=spec.target,
                positive=spec.positive,
                label_time_column=spec.label_time_column,
                as_of=as_of,
                threshold=thresholds[version],
                costs=costs,
                n_validated=validated_events[key].select(pl.len()).collect().item(),
                weight_column=spec.weight_column,
            )
            results[key] = {"model_version": version, "counts": counts.to_dict(), **perf.to_dict()}
            context.add_asset_metadata(
                {
                    "model_version": version,
                    "labeled_share": MetadataValue.float(perf.labeled_share),
                    "estimated_recall": _interval(perf.estimated, "recall"),
                    "estimated_precision": _interval(perf.estimated, "precision"),
                    "realized_recall": _interval(perf.realized, "recall"),
                    "realized_precision": _interval(perf.realized, "precision"),
                    "estimated_roc_auc": _interval(perf.estimated, "roc_auc"),
                    "calibration_reliable": MetadataValue.bool(perf.reliable),
                    "calibration": perf.calibration.reason,
                },
                partition_key=key,
            )
        return results

    return [performance, slo_status_asset(spec, partitions, performance)]
