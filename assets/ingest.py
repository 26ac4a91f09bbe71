"""Ingest: raw events per day, validated by blocking great-expectations checks."""

import json
from collections.abc import Iterator
from pathlib import Path
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

from assets.io_manager import FramesOnDemand, SamePartitionOf
from assets.metadata import PreviewPolicy
from assets.resources import StateResource
from binclf.ingest.sources import read_partition, rows_without_time
from binclf.io.atomic import write_json_atomic
from binclf.spec import DatasetSpec
from binclf.stats.summaries import markdown_table
from binclf.validate.batch import BatchValidator
from binclf.validate.spec_checks import check_spec_against
from binclf.validate.summary import run_description, summarize
from binclf.validate.validation import (
    PartitionValidationError,
    ValidationProfile,
    ValidationReport,
    build_profile,
    report_from_dict,
    report_to_dict,
)

VALIDATION_CHECK = "passes_validation"


def _report_path(state: StateResource, key: str) -> Path:
    return state.reports() / "validation" / f"{key}.json"


def ingest_assets(
    spec: DatasetSpec, partitions: DailyPartitionsDefinition
) -> list[AssetsDefinition]:
    """The ingest group for one dataset."""
    previews = PreviewPolicy(
        shown=spec.validation.metadata_previews,
        hidden=frozenset(c for c in (spec.id_column, *spec.sensitive) if c),
    ).definition()

    @asset(group_name="ingest")
    def validation_profile(context: AssetExecutionContext) -> dict[str, Any]:
        """What valid data looks like: column kinds, categories and target values of early days."""
        keys = partitions.get_partition_keys()[: spec.validation.reference_days]
        reference = pl.concat([read_partition(spec, k) for k in keys], how="diagonal_relaxed")
        check_spec_against(reference, spec, where=f"the reference days {keys[0]} … {keys[-1]}")
        profile = build_profile(reference, spec, partitions=keys)
        orphans = rows_without_time(spec)
        if orphans:
            context.log.warning(
                f"{orphans} source rows have no {spec.time_column}: no partition holds them"
            )
        context.add_output_metadata(
            {
                "reference_partitions": f"{keys[0]} … {keys[-1]}",
                "reference_rows": reference.height,
                "rows_without_event_time": orphans,
                "categories": MetadataValue.md(
                    markdown_table(
                        [
                            {"column": c, "levels": len(v), "set": "closed"}
                            for c, v in profile.categories.items()
                        ]
                        + [
                            {"column": c, "levels": "", "set": f"open: {why}"}
                            for c, why in profile.open_categories.items()
                        ]
                    )
                ),
            }
        )
        return profile.to_dict()

    @asset(
        group_name="ingest",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        metadata=previews,
        check_specs=[
            AssetCheckSpec(
                VALIDATION_CHECK,
                asset="raw_events",
                blocking=True,
                description="great-expectations suite from the spec and the validation profile",
            )
        ],
    )
    def raw_events(
        context: AssetExecutionContext, state: StateResource, validation_profile: dict[str, Any]
    ) -> Iterator[Output | AssetCheckResult]:
        """Events of each day as the source has them, validated before anything reads them."""
        validator = BatchValidator(spec, ValidationProfile.from_dict(validation_profile))

        def read_and_measure(key: str) -> pl.DataFrame:
            frame = read_partition(spec, key)
            validator.measure(frame, key)
            # Until this run has stored the partition, no report may vouch for the old file.
            _report_path(state, key).unlink(missing_ok=True)
            return frame

        # The IO manager reads and measures one partition at a time as it stages them, and
        # stores them all before one great-expectations call judges them and the reports are
        # written.
        yield Output(FramesOnDemand(context.partition_keys, read_and_measure))
        reports: list[ValidationReport] = validator.reports()
        for report in reports:
            write_json_atomic(_report_path(state, report.partition), report_to_dict(report))
        failed = [r for r in reports if not r.success]
        rules = summarize(spec, reports)
        for rule in rules:
            context.log.error(rule.describe())
        description = run_description(spec, reports)
        yield AssetCheckResult(
            check_name=VALIDATION_CHECK,
            passed=not failed,
            severity=AssetCheckSeverity.ERROR,
            description=description[:2000] if description else None,
            metadata={
                "partitions_checked": len(reports),
                "partitions_failed": len(failed),
                "rules_broken": MetadataValue.md(
                    markdown_table(
                        [
                            {
                                "column": r.column or "",
                                "rule": r.rule,
                                "partitions": len(r.partitions),
                                "fix": r.fix,
                            }
                            for r in rules
                        ]
                    )
                ),
                "failed_partitions": ", ".join(r.partition for r in failed) or "none",
                "failures": MetadataValue.md(
                    markdown_table([row for r in failed for row in r.failures_table()][:200])
                ),
            },
        )

    @asset(
        group_name="ingest",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        metadata=previews,
        deps=[raw_events],
    )
    def validated_events(
        context: AssetExecutionContext, state: StateResource
    ) -> dict[str, SamePartitionOf]:
        """Only events whose partition passed validation; a failed partition stops here.

        A partition that passed is the stored raw file itself, linked rather than rewritten.
        """
        for key in context.partition_keys:
            path = _report_path(state, key)
            if not path.is_file():
                raise PartitionValidationError(
                    f"partition {key}: raw events have no validation report (never ingested, "
                    "or the last ingest of the partition did not finish)"
                )
            report = report_from_dict(json.loads(path.read_text()))
            if not report.success:
                raise PartitionValidationError(report.summary())
            context.add_asset_metadata(
                {"validation": report.summary(), "rules_passed": report.evaluated},
                partition_key=key,
            )
        return dict.fromkeys(context.partition_keys, SamePartitionOf("raw_events"))

    return [validation_profile, raw_events, validated_events]
