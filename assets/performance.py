"""Performance and SLOs: per-day estimated and realized metrics, and the SLO status with checks.

`performance` (daily) estimates each day's metrics from the calibrated probabilities and measures
them on the labeled rows; `slo_status` pools those days into each SLO's SLI, error budget and burn
rates. Its asset checks are the alerts: a fast burn fails with ERROR (page), a slow burn with
WARN (ticket); `pipelines.alerts` sends them.
"""

import json
from dataclasses import asdict
from datetime import date, timedelta
from typing import Any

import polars as pl
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MetadataValue,
    Output,
    asset,
)

from assets.resources import StateResource
from binclf.ingest.sources import fresh_labels, observed_at
from binclf.io.partition_store import PartitionStore
from binclf.io.state import data_dir
from binclf.monitor.alerts import runbook_link, slo_check_name, slo_conditions
from binclf.monitor.performance import scored_performance
from binclf.monitor.slo import (
    DEFAULT_SLO_NAMES,
    DailyCounts,
    SloStatus,
    burn_rules,
    default_slos,
    observation,
    slo_status,
)
from binclf.monitor.triggers import SloBurnEvidence
from binclf.register.loading import load_champion, load_version
from binclf.spec import DatasetSpec, SloDefinition
from binclf.stats.summaries import markdown_table


def _interval(metrics: Any, name: str) -> str:
    value = getattr(metrics, name) if metrics is not None else None
    return "n/a" if value is None else f"{value.value:.3f} [{value.low:.3f}, {value.high:.3f}]"


def _check_result(name: str, rule: str, status: SloStatus | None) -> AssetCheckResult:
    severity = AssetCheckSeverity.ERROR if rule == "fast" else AssetCheckSeverity.WARN
    kind = f"slo_{rule}_burn"
    if status is None:
        return AssetCheckResult(
            check_name=slo_check_name(name, rule),
            passed=True,
            severity=severity,
            description="no objective or no data for this SLO yet",
        )
    burn = next(b for b in status.burns if b.rule.name == rule)
    summary = next((c.summary for c in slo_conditions([status]) if c.window == rule), None)
    return AssetCheckResult(
        check_name=slo_check_name(name, rule),
        passed=not burn.firing,
        severity=severity,
        description=summary or f"SLO {name}: no {rule} burn",
        metadata={
            "sli": status.sli,
            "objective": MetadataValue.float(status.objective),
            "sli_value": MetadataValue.float(float(status.sli_value or 0.0)),
            "sli_kinds": ", ".join(status.kinds) or "none",
            "remaining_budget": MetadataValue.float(float(status.remaining_budget or 0.0)),
            "short_burn": MetadataValue.float(float(burn.short_burn or 0.0)),
            "long_burn": MetadataValue.float(float(burn.long_burn or 0.0)),
            "burn_factor": MetadataValue.float(burn.rule.factor),
            "windows_days": f"{burn.rule.short_days} and {burn.rule.long_days}",
            "volume_gated": MetadataValue.bool(burn.short_burn is None or burn.long_burn is None),
            "unreliable_days": MetadataValue.int(status.unreliable_days),
            "runbook": MetadataValue.path(runbook_link(kind)),
        },
    )


def _burn_evidence(status: SloStatus, versions: dict[date, str | None]) -> SloBurnEvidence:
    """What the SLO retrain sensor reads: the severity, the fast rule's volume, the version."""
    fast = next(b for b in status.burns if b.rule.name == "fast")
    return SloBurnEvidence(
        slo=status.name,
        sli=status.sli,
        as_of=status.as_of.isoformat(),
        severity=status.severity,
        volume=min(fast.short_volume, fast.long_volume),
        min_volume=status.min_volume,
        model_version=versions.get(status.as_of),
    )


def performance_assets(
    spec: DatasetSpec, partitions: DailyPartitionsDefinition
) -> list[AssetsDefinition]:
    """`performance` and `slo_status` for one dataset (time-partitioned data only)."""
    costs = (spec.costs.false_positive, spec.costs.false_negative)
    names = [s.name for s in spec.slos] if spec.slos is not None else list(DEFAULT_SLO_NAMES)

    @asset(
        group_name="performance",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
    )
    def performance(
        context: AssetExecutionContext, state: StateResource, scores: dict[str, pl.LazyFrame]
    ) -> dict[str, dict[str, Any]]:
        """Estimated (from probabilities), realized (labeled rows) and blended metrics per day."""
        as_of = observed_at(spec)
        thresholds: dict[str, float] = {}
        results = {}
        for key in sorted(scores):
            frame = scores[key].collect()
            version = frame["model_version"][0]
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

    @asset(
        name="slo_status",
        group_name="performance",
        deps=[performance],
        check_specs=[
            AssetCheckSpec(
                slo_check_name(name, rule.name),
                asset="slo_status",
                description=f"SLO {name}: {rule.name} burn ({rule.severity})",
            )
            for name in names
            for rule in burn_rules(28)
        ],
    )
    def slo_status_asset(context: AssetExecutionContext, state: StateResource):
        """Each SLO's SLI over its window, budget left and burn rates, as of the newest day."""
        store = PartitionStore(data_dir(state.path))
        days, versions = [], {}
        for key in partitions.get_partition_keys():
            path = store.path("performance", key).with_suffix(".json")
            if path.is_file():
                stored = json.loads(path.read_text())
                days.append(DailyCounts.from_dict(stored["counts"]))
                versions[days[-1].day] = stored.get("model_version")
        slos: list[SloDefinition] = list(spec.slos or [])
        if spec.slos is None:
            card = load_champion(state.registry(), spec.name).card
            slos = default_slos(card, min_label_coverage=spec.monitoring.min_label_coverage)
        statuses: dict[str, SloStatus] = {}
        if days:
            as_of = max(d.day for d in days)
            settled = as_of - timedelta(hours=spec.monitoring.label_sla_hours)
            for slo in slos:
                counted = [d for d in days if slo.sli != "label_coverage" or d.day <= settled]
                obs = [o for d in counted if (o := observation(slo, d, costs=costs))]
                statuses[slo.name] = slo_status(slo, obs, as_of=as_of)
        yield Output(
            {name: s.to_dict() for name, s in statuses.items()},
            metadata={
                "slos": MetadataValue.md(
                    markdown_table(
                        [
                            {
                                "slo": s.name,
                                "sli": s.sli,
                                "objective": s.objective,
                                "sli_value": s.sli_value,
                                "kinds": ", ".join(s.kinds),
                                "remaining_budget": s.remaining_budget,
                                "severity": s.severity or "ok",
                            }
                            for s in statuses.values()
                        ]
                    )
                ),
                "slo_burns": MetadataValue.json(
                    {n: asdict(_burn_evidence(s, versions)) for n, s in statuses.items()}
                ),
                "pages": MetadataValue.int(sum(s.severity == "page" for s in statuses.values())),
                "tickets": MetadataValue.int(
                    sum(s.severity == "ticket" for s in statuses.values())
                ),
            },
        )
        for name in names:
            for rule in ("fast", "slow"):
                yield _check_result(name, rule, statuses.get(name))

    return [performance, slo_status_asset]
