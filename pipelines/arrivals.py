"""The arrival sensor: ingest a day when a source file holding it lands or changes.

A thin shell over `binclf.ingest.arrivals`: the cursor remembers each file's stamp, so a new
day's file, a corrected file and a file rewritten with late labels each ask for their days once.
It asks for `daily_job` (ingest, score, monitor) once a champion exists, `ingest_job` before, in
one run per stretch of consecutive days (a single-run backfill), so a burst of files is one run.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict
from pathlib import Path

from dagster import (
    DailyPartitionsDefinition,
    DefaultSensorStatus,
    JobDefinition,
    RunRequest,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from dagster._core.definitions.unresolved_asset_job_definition import (
    UnresolvedAssetJobDefinition,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from binclf.ingest.arrivals import FileStamp, arrivals
from binclf.partitions import contiguous_runs
from binclf.register.registry import Registry
from binclf.spec import DatasetSpec

Job = JobDefinition | UnresolvedAssetJobDefinition


def _stamps_from_cursor(cursor: str | None) -> dict[str, FileStamp]:
    return {path: FileStamp(**stamp) for path, stamp in json.loads(cursor or "{}").items()}


def _cursor(stamps: dict[str, FileStamp]) -> str:
    return json.dumps({path: asdict(stamp) for path, stamp in sorted(stamps.items())})


def _request(first: str, last: str, job: str, generation: str) -> RunRequest:
    """One run over the days first..last (the range tags make it a single-run backfill)."""
    tags = {"binclf/trigger": "arrival", "binclf/reason": "source file new or changed"}
    if first == last:
        return RunRequest(
            partition_key=first, job_name=job, run_key=f"arrival:{first}@{generation}", tags=tags
        )
    tags |= {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}
    return RunRequest(job_name=job, run_key=f"arrival:{first}..{last}@{generation}", tags=tags)


def build_arrival_sensor(
    spec: DatasetSpec,
    partitions: DailyPartitionsDefinition,
    ingest_job: Job,
    daily_job: Job,
    registry_root: Path,
):
    """Ask for the days of new or changed source files (a file source with a time column)."""

    @sensor(
        jobs=[ingest_job, daily_job],
        minimum_interval_seconds=300,
        default_status=DefaultSensorStatus.STOPPED,
        description="Requests the days of source files that are new or changed since its last "
        "tick (daily_job once a champion exists, else ingest_job): a late file, a corrected "
        "file or one rewritten with late labels is ingested again without waiting for a schedule.",
    )
    def source_arrival_sensor(context: SensorEvaluationContext) -> SensorResult | SkipReason:
        last = partitions.get_last_partition_key()
        if last is None:
            return SkipReason("no finished day yet")
        found = arrivals(
            spec,
            _stamps_from_cursor(context.cursor),
            first_key=partitions.get_first_partition_key() or last,
            last_key=last,
        )
        cursor = _cursor(found.stamps)
        unreadable = f"; {len(found.unreadable)} file(s) unreadable, tried again next tick: " + (
            ", ".join(Path(p).name for p in found.unreadable[:5])
        )
        if not found.keys:
            reason = f"no new or changed day in {found.changed_files} changed file(s)"
            return SensorResult(
                skip_reason=reason + (unreadable if found.unreadable else ""), cursor=cursor
            )
        has_champion = Registry(registry_root).champion(spec.name) is not None
        job = daily_job if has_champion else ingest_job
        generation = hashlib.sha256(cursor.encode()).hexdigest()[:12]
        requests = [
            _request(first, last, job.name, generation)
            for first, last in contiguous_runs(found.keys)
        ]
        return SensorResult(run_requests=requests, cursor=cursor)

    return source_arrival_sensor
