"""The demo story, run in process on the persistent instance (`make demo`).

Backfill every day through validation, train on the early part, score and monitor the rest,
let the drift sensor decide, run the retrain it asks for, and print the timeline. Every run it
makes is in the Dagster instance, so `make ui` shows all of it afterwards.
"""

import json
import sys
import time
from datetime import timedelta
from typing import Any

from dagster import (
    AssetKey,
    DagsterInstance,
    Definitions,
    build_sensor_context,
    materialize,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from binclf.card import card_headline
from binclf.sources import partition_day
from binclf.spec import load_spec
from pipelines.definitions import build_definitions

FIRST_TRAINING_SHARE = 2 / 3  # train on the first two thirds, monitor the rest


def _say(text: str) -> None:
    print(text, flush=True)


def _range_tags(first: str, last: str) -> dict[str, str]:
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


QUIET = {"loggers": {"console": {"config": {"log_level": "ERROR"}}}}


def _run(
    defs: Definitions,
    instance: DagsterInstance,
    job: str,
    run_config: dict[str, Any] | None = None,
    **kwargs: Any,
) -> Any:
    started = time.monotonic()
    result = defs.resolve_job_def(job).execute_in_process(
        instance=instance,
        raise_on_error=False,
        run_config={**QUIET, **(run_config or {})},
        **kwargs,
    )
    status = "succeeded" if result.success else "FAILED"
    _say(f"  {job} {status} in {time.monotonic() - started:.0f} s (run {result.run_id[:8]})")
    return result


def _latest_value(instance: DagsterInstance, asset: str, name: str) -> Any:
    records = instance.fetch_materializations(AssetKey(asset), limit=1).records
    if not records:
        return None
    entry = records[0].asset_materialization.metadata.get(name)
    return None if entry is None else entry.value


def _validation_outcome(result: Any) -> list[str]:
    lines = []
    for evaluation in result.get_asset_check_evaluations():
        meta = {k: v.value for k, v in evaluation.metadata.items()}
        lines.append(
            f"  {meta.get('partitions_checked')} partitions checked, "
            f"{meta.get('partitions_failed')} failed: {meta.get('failed_partitions')}"
        )
        if evaluation.description:
            lines.append(f"  why: {evaluation.description}")
    return lines


def _training_summary(instance: DagsterInstance) -> list[str]:
    lines = []
    card = _latest_value(instance, "model_candidate", "card_json")
    if card:
        lines.append("  " + card_headline(card).replace("\n", "\n  "))
    decision = _latest_value(instance, "champion_decision", "decision_json")
    if decision:
        lines.append(
            f"  decision: {'PROMOTE' if decision['promote'] else 'REJECT'} "
            f"{decision.get('version')} ({', '.join(decision.get('reason_codes', []))})"
        )
    return lines


def main() -> int:
    started = time.monotonic()
    spec = load_spec()
    defs = build_definitions(spec)
    instance = DagsterInstance.get()
    keys = defs.resolve_job_def("ingest_job").partitions_def.get_partition_keys()
    split = keys[int(len(keys) * FIRST_TRAINING_SHARE)]
    first_cutoff = partition_day(split).isoformat()
    _say(f"binclf demo: dataset {spec.name}, {len(keys)} daily partitions {keys[0]}…{keys[-1]}")

    _say("1. Validation profile from the first days")
    profile = [a for a in defs.assets if AssetKey("validation_profile") in a.keys]
    materialize(profile, instance=instance, resources=defs.resources)

    _say(f"2. Backfill {len(keys)} partitions through validation (one run)")
    ingest = _run(defs, instance, "ingest_job", tags=_range_tags(keys[0], keys[-1]))
    for line in _validation_outcome(ingest):
        _say(line)
    if not ingest.success:
        _say("validation failed: see the partitions above; nothing downstream ran")
        return 1

    _say(f"3. Train on labels known before {first_cutoff}")
    trained = _run(
        defs,
        instance,
        "training_job",
        run_config={"ops": {"training_window": {"config": {"cutoff": first_cutoff}}}},
    )
    for line in _training_summary(instance):
        _say(line)
    if not trained.success:
        _say("training failed: see the run in the UI (`make ui`)")
        return 1

    monitored = [k for k in keys if k >= split]
    _say(f"4. Score and monitor {len(monitored)} later days with the champion (one run)")
    _run(defs, instance, "monitoring_job", tags=_range_tags(monitored[0], monitored[-1]))

    _say("5. The drift sensor decides")
    sensor = defs.get_sensor_def("drift_retrain_sensor")
    tick = sensor.evaluate_tick(build_sensor_context(instance=instance, definitions=defs))
    requests = tick.run_requests or []
    reason = requests[0].tags.get("binclf/reason") if requests else tick.skip_message
    _say(f"  {'RUN REQUESTED' if requests else 'skipped'}: {reason}")
    for request in requests:
        _say(f"6. Retrain as the sensor asked (run_key {request.run_key})")
        _run(defs, instance, "training_job", tags=request.tags, run_config=request.run_config)
        for line in _training_summary(instance):
            _say(line)
        _say("7. Re-score the monitored days with the champion")
        _run(defs, instance, "monitoring_job", tags=_range_tags(monitored[0], monitored[-1]))

    _say("\nTimeline")
    drift = _latest_value(instance, "drift", "drift_by_partition") or {}
    labels = _latest_value(instance, "label_status_report", "coverage_by_partition") or {}
    _say(f"  {'partition':<11} {'rows':>6} {'drift share':>11} {'label coverage':>14}")
    for key in monitored:
        row = drift.get(key, {})
        share = row.get("share_drifted")
        coverage = labels.get(key)
        _say(
            f"  {key:<11} {row.get('n_rows', ''):>6} "
            f"{'' if share is None else f'{share:.2f}':>11} "
            f"{'' if coverage is None else f'{coverage:.0%}':>14}"
        )
    registry_path = defs.resources["state"].registry()
    for info in registry_path.versions(spec.name):
        _say(f"  model {info.version} {info.created_at[:19]} {info.status}")
        for record in registry_path.decisions(spec.name, info.version):
            decision = record["decision"]
            _say(f"    decision: {json.dumps(decision.get('reason_codes'))}")
    elapsed = timedelta(seconds=round(time.monotonic() - started))
    _say(f"\nDone in {elapsed}. `make ui` shows every run; `.venv/bin/binclf card` the champion.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
