"""The SLO status asset: each SLO's SLI, error budget and burn rates, with the burn checks.

It pools the days `performance` stored into each SLO's SLI (see `binclf.monitor.slo`), measures
scoring freshness from when each day was first scored, and plots every SLO over time. Its asset
checks are the alerts: a fast burn fails with ERROR (page), a slow burn with WARN (ticket);
`pipelines.alerts` sends them, and `slo_retrain_sensor` reads `slo_burns` to act on a page.
"""

import json
from dataclasses import asdict
from datetime import UTC, date, datetime

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetRecordsFilter,
    AssetsDefinition,
    DagsterInstance,
    DailyPartitionsDefinition,
    MetadataValue,
    Output,
    asset,
)

from assets.resources import StateResource
from binclf.io.partition_store import PartitionStore
from binclf.io.state import data_dir
from binclf.monitor.alerts import runbook_link, slo_check_name, slo_conditions
from binclf.monitor.freshness import freshness_observations
from binclf.monitor.slo import DailyCounts, SliObservation, SloStatus, burn_rules
from binclf.monitor.slo_charts import slo_chart
from binclf.monitor.slo_days import evaluate_slos, timelines_to_dict
from binclf.monitor.slo_defaults import DEFAULT_SLO_NAMES, default_slos
from binclf.monitor.triggers import SloBurnEvidence
from binclf.partitions import partition_day
from binclf.register.loading import load_champion
from binclf.spec import DatasetSpec, SloDefinition, SyntheticSource
from binclf.stats.plots import png_markdown
from binclf.stats.summaries import markdown_table

FRESHNESS_RECORDS = 10_000


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


def first_scored(instance: DagsterInstance, keys: list[str]) -> dict[date, datetime]:
    """When each day's scores were first written (re-scoring does not move it)."""
    records = instance.fetch_materializations(
        AssetRecordsFilter(asset_key=AssetKey("scores"), asset_partitions=keys),
        limit=FRESHNESS_RECORDS,
        ascending=True,
    ).records
    first: dict[date, datetime] = {}
    for record in records:
        if record.partition_key is not None:
            first.setdefault(
                partition_day(record.partition_key), datetime.fromtimestamp(record.timestamp, UTC)
            )
    return first


def slo_status_asset(
    spec: DatasetSpec, partitions: DailyPartitionsDefinition, performance: AssetsDefinition
) -> AssetsDefinition:
    """`slo_status` over the stored days of `performance`."""
    costs = (spec.costs.false_positive, spec.costs.false_negative)
    names = [s.name for s in spec.slos] if spec.slos is not None else list(DEFAULT_SLO_NAMES)
    # A replay (the synthetic source, or files with a fixed `partitions.end_date`) has no wall
    # clock: its days were not due at any real hour.
    live = not isinstance(spec.source, SyntheticSource) and spec.partitions.end_date is None

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
    def slo_status(context: AssetExecutionContext, state: StateResource):
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
        skipped: dict[str, str] = {}
        if spec.slos is None:
            card = load_champion(state.registry(), spec.name).card
            defaults = default_slos(card, min_label_coverage=spec.monitoring.min_label_coverage)
            slos, skipped = defaults.slos, defaults.skipped
        freshness: list[SliObservation] = []
        if live and any(s.sli == "scoring_freshness" for s in slos):
            hour = next(s.objective for s in slos if s.sli == "scoring_freshness")
            keys = partitions.get_partition_keys()[-366:]
            freshness = freshness_observations(
                [partition_day(k) for k in keys],
                first_scored(context.instance, keys),
                hour=hour,
                now=datetime.now(UTC),
            )
        statuses, timelines = evaluate_slos(
            slos,
            days,
            costs=costs,
            label_sla_hours=spec.monitoring.label_sla_hours,
            freshness=freshness,
        )
        charts = {
            f"chart_{name}": MetadataValue.md(png_markdown(slo_chart(t), f"SLO {name}"))
            for name, t in timelines.items()
        }
        yield Output(
            {
                "statuses": {name: s.to_dict() for name, s in statuses.items()},
                "timelines": timelines_to_dict(timelines),
            },
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
                "default_slos_left_out": MetadataValue.json(skipped),
                **charts,
            },
        )
        for name in names:
            for rule in ("fast", "slow"):
                yield _check_result(name, rule, statuses.get(name))

    return slo_status
