"""Ingest: raw events per day, validated by blocking great-expectations checks.

The validation check is partitioned: a run over a range records one verdict per day. A day that
fails is refused by `validated_events` (nothing downstream reads it, not even an older validated
file of the day) while the other days of the run go on; only a run in which no day passed is
stopped by the blocking check.
"""

import json
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any, get_args

import polars as pl
from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    BackfillPolicy,
    DailyPartitionsDefinition,
    MetadataValue,
    Output,
    PreviewWarning,
    asset,
)

from assets.io_manager import FramesOnDemand, Refused, SamePartitionOf
from assets.metadata import PreviewPolicy
from assets.resources import StateResource
from binclf.ingest.day_files import empty_day
from binclf.ingest.reader import PartitionReader
from binclf.ingest.scan import SourceFileError
from binclf.ingest.sources import event_time_parsing, rows_without_time
from binclf.io.atomic import fsync_directory, write_json_atomic
from binclf.partitions import partition_day
from binclf.spec import DatasetSpec, RuleName, SpecError
from binclf.stats.summaries import markdown_table
from binclf.validate.batch import BatchValidator
from binclf.validate.rules import blocking_rules
from binclf.validate.source_checks import (
    FILE_RULE_NAME,
    refuse_unparsable_files,
    unreadable_day,
    with_unparsed_times,
)
from binclf.validate.spec_checks import check_spec_against
from binclf.validate.summary import summarize
from binclf.validate.validation import (
    PartitionValidationError,
    ValidationProfile,
    ValidationReport,
    build_profile,
    report_from_dict,
    report_to_dict,
)

VALIDATION_CHECK = "passes_validation"
WARNING_CHECK = "validation_warnings"


def _report_path(state: StateResource, key: str) -> Path:
    return state.reports() / "validation" / f"{key}.json"


def _verdict(
    report: ValidationReport,
    *,
    check: str,
    stop_run: bool,
    fixes: dict[tuple[str | None, str], str],
) -> AssetCheckEvaluation:
    """One day's verdict on the blocking check (or the warning check), on its own partition.

    A failed day blocks the run only when no day of the run passed (`stop_run`); otherwise
    `validated_events` refuses it and the other days go on.
    """
    blocking = check == VALIDATION_CHECK
    rows = [
        {**row, "fix": fixes.get((f.column, f.rule), "")}
        for row, f in zip(report.failures_table(), report.failures, strict=True)
        if f.blocking == blocking
    ]
    return AssetCheckEvaluation(
        asset_key=AssetKey("raw_events"),
        check_name=check,
        passed=not rows,
        partition=report.partition,
        severity=AssetCheckSeverity.ERROR if blocking else AssetCheckSeverity.WARN,
        blocking=blocking and stop_run,
        description=report.summary(blocking=blocking)[:2000] if rows else None,
        metadata={
            "rows": report.rows,
            "rules_evaluated": report.evaluated,
            "rules_broken": len(rows),
            "failures": MetadataValue.md(markdown_table(rows)),
        },
    )


def _check_specs(spec: DatasetSpec, partitions: DailyPartitionsDefinition) -> list[AssetCheckSpec]:
    """The blocking check and the warning check of raw_events, each naming its rules."""
    blocking = sorted(blocking_rules(spec) | {FILE_RULE_NAME})
    warning = sorted(set(get_args(RuleName)) - set(blocking))
    with warnings.catch_warnings():  # a partitioned check is a preview in Dagster 1.13
        warnings.simplefilter("ignore", PreviewWarning)
        return [
            AssetCheckSpec(
                VALIDATION_CHECK,
                asset="raw_events",
                blocking=True,
                partitions_def=partitions,
                description="Rules that make a day unusable; a day that breaks one is refused.",
                metadata={"rules": ", ".join(blocking)},
            ),
            AssetCheckSpec(
                WARNING_CHECK,
                asset="raw_events",
                blocking=False,
                partitions_def=partitions,
                description="Rules that say a day drifts; the day is still used.",
                metadata={"rules": ", ".join(warning)},
            ),
        ]


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
        refuse_unparsable_files(spec, event_time_parsing(spec, keys))
        reader = PartitionReader(spec, keys)
        frames, left_out = [], []
        for key in keys:
            try:
                frames.append(reader.read(key))
            except SourceFileError as error:  # a day-named file: its day is left out
                left_out.append(str(error))
                context.log.warning(f"reference day {key} left out: {error}")
        if not frames:
            raise SpecError(f"no reference day can be read: {'; '.join(left_out)}")
        reference = pl.concat(frames, how="diagonal_relaxed")
        check_spec_against(reference, spec, where=f"the reference days {keys[0]} … {keys[-1]}")
        profile = build_profile(reference, spec, partitions=keys)
        orphans = rows_without_time(spec, keys)
        if orphans:
            context.log.warning(
                f"{orphans} source rows have no {spec.time_column}: no partition holds them"
            )
        context.add_output_metadata(
            {
                "reference_partitions": f"{keys[0]} … {keys[-1]}",
                "reference_rows": reference.height,
                "reference_days_unreadable": len(left_out),
                "rows_without_event_time": orphans,
                "categories": MetadataValue.md(
                    markdown_table(
                        [
                            {"column": c, "levels": len(v), "set": "closed", "rule": "levels"}
                            for c, v in profile.categories.items()
                        ]
                        + [
                            {
                                "column": c,
                                "levels": len(profile.open_levels.get(c, [])) or "",
                                "set": f"open: {why}",
                                "rule": (
                                    f"novelty rate {profile.novelty_rates[c]:.1%}"
                                    if c in profile.novelty_rates
                                    else "none"
                                ),
                            }
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
        check_specs=_check_specs(spec, partitions),
    )
    def raw_events(
        context: AssetExecutionContext, state: StateResource, validation_profile: dict[str, Any]
    ) -> Iterator[Output | AssetCheckEvaluation]:
        """Events of each day as the source has them, validated before anything reads them."""
        validator = BatchValidator(spec, ValidationProfile.from_dict(validation_profile))

        # Days whose last report failed or warned: a verdict of this run clears them.
        failed_before: set[str] = set()
        warned_before: set[str] = set()

        reader = PartitionReader(spec, context.partition_keys)
        unreadable: list[ValidationReport] = []

        def read_and_measure(key: str) -> pl.DataFrame:
            # Until this run has stored the partition, no report may vouch for the old file.
            old = _report_path(state, key)
            if old.is_file():
                last = report_from_dict(json.loads(old.read_text()))
                if not last.success:
                    failed_before.add(key)
                if last.warnings:
                    warned_before.add(key)
            old.unlink(missing_ok=True)
            try:
                frame = reader.read(key)
            except SourceFileError as error:  # a day's own file: only this day fails
                unreadable.append(unreadable_day(key, error))
                return empty_day(spec, partition_day(key))
            validator.measure(frame, key)
            return frame

        # The IO manager reads and measures one partition at a time as it stages them, and
        # stores them all before one great-expectations call judges them and the reports are
        # written.
        yield Output(FramesOnDemand(context.partition_keys, read_and_measure))
        reports = with_unparsed_times(spec, validator.reports(), reader.event_times())
        reports = sorted([*reports, *unreadable], key=lambda r: r.partition)
        for report in reports:  # the folder is synced once, not once per day
            path = _report_path(state, report.partition)
            write_json_atomic(path, report_to_dict(report), sync_folder=False)
        if reports:
            fsync_directory(_report_path(state, reports[0].partition).parent)
        # A failed day's older validated file goes now: when the check stops the run (a lone bad
        # day), validated_events never runs to refuse it, and training or scoring would read it.
        with state.store().staging() as staging:
            for report in reports:
                if not report.success:
                    staging.refuse(
                        "validated_events", report.partition, f"{VALIDATION_CHECK} failed"
                    )
        rules = summarize(spec, reports)
        for rule in rules:
            (context.log.error if rule.blocking else context.log.warning)(rule.describe())
        stop_run = not any(r.success for r in reports)
        fixes = {(r.column, r.rule): r.fix for r in rules}
        # A day gets a verdict when it fails (or warns), or when it did in its last report: each
        # verdict is an event in the instance's storage, and a clean day is already recorded by
        # its validated_events materialization.
        for check, before in ((VALIDATION_CHECK, failed_before), (WARNING_CHECK, warned_before)):
            check_key = AssetCheckKey(AssetKey("raw_events"), check)
            output = context.assets_def.get_output_name_for_asset_check_key(check_key)
            yield Output(None, output_name=output)
            for report in reports:
                broken = not report.success if check == VALIDATION_CHECK else report.warnings
                if broken or report.partition in before:
                    yield _verdict(report, check=check, stop_run=stop_run, fixes=fixes)

    @asset(
        group_name="ingest",
        partitions_def=partitions,
        backfill_policy=BackfillPolicy.single_run(),
        metadata=previews,
        deps=[raw_events],
    )
    def validated_events(
        context: AssetExecutionContext, state: StateResource
    ) -> dict[str, Any]:  # SamePartitionOf or Refused per key
        """Only events whose partition passed validation; a failed partition stops here.

        A partition that passed is the stored raw file itself, linked rather than rewritten. A
        failed one is refused (no file, so nothing downstream reads it); when every partition of
        the run failed, the step fails.
        """
        reports: dict[str, ValidationReport] = {}
        for key in context.partition_keys:
            path = _report_path(state, key)
            if not path.is_file():
                raise PartitionValidationError(
                    f"partition {key}: raw events have no validation report (never ingested, "
                    "or the last ingest of the partition did not finish)"
                )
            reports[key] = report_from_dict(json.loads(path.read_text()))
        failed = [r for r in reports.values() if not r.success]
        if len(failed) == len(reports):
            raise PartitionValidationError("; ".join(r.summary() for r in failed[:5]))
        for key, report in reports.items():
            verdict = {"validation": report.summary()[:2000], "rules_passed": report.evaluated}
            context.add_asset_metadata(verdict, partition_key=key)
        for report in failed:
            context.log.warning(f"partition {report.partition}: refused, it failed validation")
        return {
            key: Refused(f"{VALIDATION_CHECK} failed")
            if not r.success
            else SamePartitionOf("raw_events")
            for key, r in reports.items()
        }

    return [validation_profile, raw_events, validated_events]
