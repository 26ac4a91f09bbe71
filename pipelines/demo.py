"""The demo story on the persistent instance (`make demo`).

Backfill every day through validation, train on the early part, score and monitor the rest,
let the drift sensor decide, run the retrain it asks for, and print the timeline. Every run is
created from the workspace's code location, so `make ui` shows each run under its job: the demo's
own runs execute in this process, one after another, while a real daemon ticks the sensors and
runs the retrain a sensor requests, listed under that sensor.
"""

import json
import sys
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from dagster import (
    DagsterEventType,
    DagsterInstance,
    DagsterRun,
    DagsterRunStatus,
    Definitions,
)
from dagster._core.storage.tags import (
    ASSET_PARTITION_RANGE_END_TAG,
    ASSET_PARTITION_RANGE_START_TAG,
)

from binclf.evaluate.card import card_headline
from binclf.monitor.triggers import PartitionDrift, drift_retrain_decision
from binclf.partitions import partition_day
from binclf.spec import DatasetSpec, load_spec
from pipelines.definitions import build_definitions
from pipelines.demo_slo import replay_lines, slo_sensors_step, slo_status_lines
from pipelines.launch import LocalRuns, Workspace, daemon, local_runs
from pipelines.sensors import drift_history, latest_by_partition, metadata_value

FIRST_TRAINING_SHARE = 2 / 3  # train on the first two thirds, monitor the rest
# The first champion is a logistic baseline: 20 trials, bounded by their count rather than the
# clock, so it (and its false-positive rate against the SLO) does not depend on the load. The
# retrain the SLO sensor requests searches every default family within the default budget.
SEARCH_BUDGET = {"n_trials": 20, "timeout_seconds": None, "families": ["logistic"]}


def _say(text: str) -> None:
    print(text, flush=True)


def _range_tags(first: str, last: str) -> dict[str, str]:
    return {ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last}


def _run(runs: LocalRuns, job: str, **kwargs: Any) -> DagsterRun:
    """Run a job of the code location here and say how it went."""
    started = time.monotonic()
    run = runs.run(job, **kwargs)
    _report(run, started)
    return run


def _report(run: DagsterRun, started: float) -> None:
    status = "succeeded" if run.status == DagsterRunStatus.SUCCESS else "FAILED"
    took = time.monotonic() - started
    _say(f"  {run.job_name} {status} in {took:.0f} s (run {run.run_id[:8]})")


def _validation_outcome(instance: DagsterInstance, run: DagsterRun) -> list[str]:
    """The run's failed validation verdicts (a day gets one when it fails): which, and why."""
    records = instance.get_records_for_run(
        run.run_id, of_type=DagsterEventType.ASSET_CHECK_EVALUATION
    ).records
    verdicts = [r.event_log_entry.dagster_event.event_specific_data for r in records]
    failed = [v for v in verdicts if not v.passed and v.check_name == "passes_validation"]
    lines = [
        f"  {len(failed)} days failed validation: "
        f"{', '.join(str(v.partition) for v in failed) or 'none'}"
    ]
    if failed and failed[0].description:
        lines.append(f"  why: {failed[0].description}")
    return lines


def _training_config(*overlays: dict[str, Any]) -> dict[str, Any]:
    """Run config for training_job: the demo's search budget plus the given op configs."""
    ops: dict[str, Any] = {"model_search": {"config": dict(SEARCH_BUDGET)}}
    for overlay in overlays:
        for op, value in overlay.get("ops", {}).items():
            ops.setdefault(op, {"config": {}})["config"].update(value["config"])
    return {"ops": ops}


def _decision_line(record: dict[str, Any]) -> str:
    verdict = "PROMOTE" if record["promote"] else "REJECT"
    comparison = record.get("comparison")
    versus = ""
    if comparison:
        low, high = comparison["ci_low"], comparison["ci_high"]
        versus = (
            f" vs {record.get('champion_before')}: Δ{record.get('metric')} "
            f"{comparison['value']:+.4f} [{low:+.4f}, {high:+.4f}]"
        )
    return f"{verdict} {record['version']}{versus} ({', '.join(record['reason_codes'])})"


def _training_summary(defs: Definitions, spec_name: str) -> list[str]:
    registry = defs.resources["state"].registry()
    version = registry.latest(spec_name)
    if version is None:
        return ["  no model version was registered"]
    card = json.loads(registry.open_files(spec_name, version)["card.json"])
    lines = ["  " + card_headline(card).replace("\n", "\n  ")]
    for record in registry.decisions(spec_name, version):
        lines.append("  decision: " + _decision_line(record["decision"]))
    return lines


def _replay_sensor(spec: DatasetSpec, history: list[PartitionDrift]) -> dict[str, tuple[bool, str]]:
    """The drift sensor's decision at the end of each day, up to the first requested run."""
    settings = spec.monitoring
    decisions: dict[str, tuple[bool, str]] = {}
    for i, partition in enumerate(history):
        decision = drift_retrain_decision(
            history[: i + 1],
            share_threshold=settings.drift_share_threshold,
            consecutive=settings.drift_consecutive_partitions,
            min_rows=settings.drift_min_rows,
            last_training_at=None,
            now=datetime.now(UTC),
            cooldown=timedelta(hours=settings.retrain_cooldown_hours),
        )
        decisions[partition.partition_key] = (decision.run, decision.code)
        if decision.run:  # from here on the retrained model is the reference
            break
    return decisions


def main() -> int:
    started = time.monotonic()
    spec = load_spec()
    defs = build_definitions(spec)
    instance = DagsterInstance.get()
    with daemon(instance) as workspace, local_runs(instance) as runs:
        return _story(spec, defs, instance, workspace, runs, started)


def _story(
    spec: DatasetSpec,
    defs: Definitions,
    instance: DagsterInstance,
    workspace: Workspace,
    runs: LocalRuns,
    started: float,
) -> int:
    keys = defs.resolve_job_def("ingest_job").partitions_def.get_partition_keys()
    split = keys[int(len(keys) * FIRST_TRAINING_SHARE)]
    first_cutoff = partition_day(split).isoformat()
    _say(f"binclf demo: dataset {spec.name}, {len(keys)} daily partitions {keys[0]}…{keys[-1]}")

    _say("1. Validation profile from the first days")
    _run(runs, "profile_job")

    _say(f"2. Backfill {len(keys)} partitions through validation (one run)")
    ingest = _run(runs, "ingest_job", tags=_range_tags(keys[0], keys[-1]))
    for line in _validation_outcome(instance, ingest):
        _say(line)
    if ingest.status != DagsterRunStatus.SUCCESS:
        _say("validation failed: see the partitions above; nothing downstream ran")
        return 1

    _say(f"3. Train on labels known before {first_cutoff}")
    window = {"ops": {"training_window": {"config": {"cutoff": first_cutoff}}}}
    trained = _run(runs, "training_job", run_config=_training_config(window))
    for line in _training_summary(defs, spec.name):
        _say(line)
    if trained.status != DagsterRunStatus.SUCCESS:
        _say("training failed: see the run in the UI (`make ui`)")
        return 1

    monitored = [k for k in keys if k >= split]
    _say(f"4. Score and monitor {len(monitored)} later days with the champion (one run)")
    _run(runs, "monitoring_job", tags=_range_tags(monitored[0], monitored[-1]))

    first_drift, _ = drift_history(instance)  # each day's own drift against the first champion
    replay = _replay_sensor(spec, first_drift)
    fired = [key for key, (run, _) in replay.items() if run]
    if fired:
        _say(f"  replayed day by day, the drift sensor would first fire on {fired[0]}")

    _say("  SLOs as of the newest day (slo_status: <slo>_fast_burn ERROR pages, _slow_burn WARN)")
    for line in slo_status_lines(defs.resources["state"].store()):
        _say(line)
    for line in replay_lines(spec, defs, monitored):
        _say(line)

    _say("5. The alert and SLO retrain sensors act (switched on; the daemon ticks them)")
    waited_from = time.monotonic()
    retrain = slo_sensors_step(workspace, defs, spec, _say)
    if retrain is None:
        _say("  the drift sensor decides (switched on; the daemon ticks it)")
        sensor_started, waited_from = time.time(), time.monotonic()
        workspace.start_sensor("drift_retrain_sensor")
        try:
            retrain = workspace.wait_for_sensor_run("drift_retrain_sensor", after=sensor_started)
        finally:
            workspace.stop_sensor("drift_retrain_sensor")
    if retrain is None:
        _say("  the sensor requested no run: see its ticks under Automation in the UI")
    else:
        _say(f"  RUN REQUESTED: {retrain.tags.get('binclf/reason')}")
        _say(f"6. The retrain the sensor launched (run_key {retrain.tags.get('dagster/run_key')})")
        _say(f"  the daemon's tick requested it {time.monotonic() - waited_from:.0f} s after start")
        _report(workspace.wait(retrain.run_id), waited_from)
        for line in _training_summary(defs, spec.name):
            _say(line)
        _say("7. Re-score the monitored days with the champion (and re-measure the SLOs)")
        _run(runs, "monitoring_job", tags=_range_tags(monitored[0], monitored[-1]))
        for line in slo_status_lines(defs.resources["state"].store()):
            _say(line)

    settings = spec.monitoring
    _say(
        f"\nTimeline (drift of each day against the first champion; alarm at share >= "
        f"{settings.drift_share_threshold} for {settings.drift_consecutive_partitions} days)"
    )
    drift_of = {day.partition_key: day for day in first_drift}
    labels = latest_by_partition(instance, "label_status_report")
    _say(
        f"  {'partition':<11} {'rows':>6} {'drift share':>11} {'labels':>7}  sensor (daily replay)"
    )
    for key in monitored:
        day = drift_of.get(key)
        share = None if day is None else day.share_drifted
        coverage = metadata_value(labels[key], "label_coverage") if key in labels else None
        run, code = replay.get(key, (False, ""))
        _say(
            f"  {key:<11} {'' if day is None else day.n_rows:>6} "
            f"{'' if share is None else f'{share:.2f}':>11} "
            f"{'' if coverage is None else f'{coverage:.0%}':>7}  {'RUN' if run else code}"
        )
    registry = defs.resources["state"].registry()
    _say("\nModel versions")
    for info in registry.versions(spec.name):
        _say(f"  {info.version} {info.created_at[:19]} {info.metadata.get('family')} {info.status}")
        for record in registry.decisions(spec.name, info.version):
            _say("    " + _decision_line(record["decision"]))
    elapsed = timedelta(seconds=round(time.monotonic() - started))
    _say(f"\nDone in {elapsed}. `make ui` shows every run; `.venv/bin/binclf card` the champion.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
