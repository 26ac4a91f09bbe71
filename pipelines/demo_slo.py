"""The SLO part of the demo story: the SLOs after scoring, the recall SLO replayed day by day
(estimate against labels), the page and the retrain the SLO sensor asks for."""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
from dagster import DagsterRun, Definitions

from binclf.ingest.sources import fresh_labels
from binclf.io.partition_store import PartitionStore
from binclf.monitor.slo_defaults import default_slos
from binclf.monitor.slo_replay import COUNT_BASED, ReplayDay, ScoredDay, replay_slo
from binclf.monitor.triggers import slo_retrain_decision
from binclf.partitions import partition_day
from binclf.spec import HIGHER_IS_BETTER, DatasetSpec, SloDefinition
from pipelines.alert_sinks import FileAlertSink
from pipelines.launch import Workspace
from pipelines.sensors import last_training_time, slo_burns

CHECK = {None: "pass", "ticket": "WARN", "page": "ERROR"}
SLO_SENSOR = "slo_retrain_sensor"


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.3f}"


def slo_status_lines(store: PartitionStore) -> list[str]:
    """Each SLO as the newest `slo_status` states it."""
    path = store.json_path("slo_status")
    if not path.is_file():
        return ["  no SLO status yet"]
    statuses = json.loads(path.read_text())["statuses"]
    lines = [f"  {'slo':<20} {'objective':>9} {'SLI':>7} {'budget left':>11}  check  (SLI from)"]
    for status in statuses.values():
        budget = status["remaining_budget"]
        lines.append(
            f"  {status['name']:<20} {status['objective']:>9.3g} {_number(status['sli_value']):>7} "
            f"{'' if budget is None else f'{budget:.0%}':>11}  "
            f"{CHECK[status['severity']]:<5}  ({', '.join(status['kinds']) or 'no data'})"
        )
    return lines


def _champion_slos(spec: DatasetSpec, defs: Definitions) -> list[SloDefinition]:
    if spec.slos is not None:
        return list(spec.slos)
    registry = defs.resources["state"].registry()
    card = json.loads(registry.open_files(spec.name, registry.champion(spec.name))["card.json"])
    return default_slos(card, min_label_coverage=spec.monitoring.min_label_coverage).slos


def _scored_day(spec: DatasetSpec, store: PartitionStore, key: str) -> ScoredDay:
    frame = store.read("scores", key)
    labels = fresh_labels(spec, key)
    if labels is not None:
        frame = frame.drop(labels.columns[1:]).join(labels, on=spec.id_column, how="left")
    positive = (frame[spec.target] == spec.positive).fill_null(False).to_numpy()
    labeled = frame[spec.target].is_not_null().to_numpy()
    known_at = np.where(labeled, -np.inf, np.inf)  # without label times: known from the start
    if spec.label_time_column:
        seconds = frame[spec.label_time_column].dt.epoch("us").cast(pl.Float64) / 1e6
        known_at = np.where(labeled, seconds.fill_null(-np.inf).to_numpy(), np.inf)
    return ScoredDay(
        partition_day(key),
        frame["probability"].to_numpy().astype(float),
        frame["decision"].to_numpy().astype(bool),
        positive.astype(bool),
        known_at,
    )


def replay_lines(spec: DatasetSpec, defs: Definitions, keys: list[str]) -> list[str]:
    """The count-based SLO that alerted first (else the first one), judged at each day's end."""
    slos = [s for s in _champion_slos(spec, defs) if s.sli in COUNT_BASED]
    if not slos:
        return ["  no count-based SLO to replay"]
    store = defs.resources["state"].store()
    costs = (spec.costs.false_positive, spec.costs.false_negative)
    days = [_scored_day(spec, store, k) for k in keys]
    replays = [(slo, replay_slo(slo, days, costs=costs)) for slo in slos]
    alerted = [
        (next(i for i, r in enumerate(rows) if r.blended_severity), slo, rows)
        for slo, rows in replays
        if any(r.blended_severity for r in rows)
    ]
    _, slo, rows = min(alerted, key=lambda a: a[0]) if alerted else (0, *replays[0])
    bound = ">=" if slo.sli in HIGHER_IS_BETTER else "<="
    lines = [
        f"  SLO {slo.name}: {slo.sli} {bound} {slo.objective:g} over {slo.window_days} days, as "
        "known at the end of each day (blended: labels where known, estimates for the rest)",
        f"  {'day':<11} {'estimated':>9} {'realized':>8}   {'SLO blended':>11} check  "
        f"{'labels only':>11} check",
    ]
    for row in rows:
        lines.append(
            f"  {row.day.isoformat():<11} {_number(row.estimated):>9} {_number(row.realized):>8}"
            f"   {_number(row.blended_sli):>11} {CHECK[row.blended_severity]:<5}  "
            f"{_number(row.labels_only_sli):>11} {CHECK[row.labels_only_severity]:<5}"
        )
    return [*lines, _replay_summary(slo, rows)]


def _replay_summary(slo: SloDefinition, rows: list[ReplayDay]) -> str:
    higher = slo.sli in HIGHER_IS_BETTER

    def missed(value: float | None) -> bool:
        return value is not None and (value < slo.objective if higher else value > slo.objective)

    check = next((r for r in rows if r.blended_severity), None)
    estimate = None  # the first day of the streak of missed estimates that led to the check
    for row in rows:
        if check is not None and row.day > check.day:
            break
        estimate = (estimate or row.day) if missed(row.estimated) else None
    page = next((r.day for r in rows if r.blended_severity == "page"), None)
    labels = next(
        (r.day for r in rows if check and r.day >= check.day and missed(r.labels_only_sli)), None
    )
    if check is None:
        return "  the SLO check passed on every replayed day"
    turned = f"{CHECK[check.blended_severity]} on {check.day}"
    if page and page > check.day:
        turned += f" and ERROR (page) on {page}"
    lead = f" ({(labels - check.day).days} days after the check)" if labels else " (not yet)"
    return (
        f"  the day's estimate missed the objective from {estimate} on; the SLO check turned "
        f"{turned}; labels alone confirm it on {labels or 'no replayed day'}{lead}"
    )


def alerts_file(defs: Definitions) -> Path | None:
    sink = defs.resources["alert_sink"]
    return sink.file() if isinstance(sink, FileAlertSink) else None


def alert_lines(path: Path | None, since: datetime) -> list[str]:
    """The first line of each alert written since `since`."""
    if path is None or not path.is_file():
        return []
    lines = []
    for raw in path.read_text().splitlines():
        alert: dict[str, Any] = json.loads(raw)
        if datetime.fromisoformat(alert["sent_at"]) >= since:
            lines.append("  " + alert["text"].splitlines()[0][:300])
    return lines


def slo_sensors_step(
    workspace: Workspace, defs: Definitions, spec: DatasetSpec, say: Callable[[str], None]
) -> DagsterRun | None:
    """Switch the alert and SLO retrain sensors on until the alerts are written and, when the
    SLO decision (the sensor's own function, evaluated here too) asks for a run, until the
    sensor launched it; say what was sent and decided."""
    instance = workspace.instance
    started, since = time.time(), datetime.now(UTC)
    burns, _ = slo_burns(instance)
    decision = slo_retrain_decision(
        burns,
        last_training_at=last_training_time(instance),
        now=since,
        cooldown=timedelta(hours=spec.monitoring.retrain_cooldown_hours),
        champion=defs.resources["state"].registry().champion(spec.name),
    )
    alerting = any(b.severity for b in burns)
    path = alerts_file(defs)
    sensors = [name for name, on in (("alert_sensor", alerting), (SLO_SENSOR, decision.run)) if on]
    for name in sensors:  # each switch is a CLI call: only the sensors that will act
        workspace.start_sensor(name)
    retrain = None
    try:
        if decision.run:
            retrain = workspace.wait_for_sensor_run(SLO_SENSOR, after=started, timeout_seconds=90.0)
        deadline = time.monotonic() + 60.0
        while alerting and not alert_lines(path, since) and time.monotonic() < deadline:
            time.sleep(1.0)
    finally:
        for name in sensors:
            workspace.stop_sensor(name)
    sent = alert_lines(path, since)
    say(f"  alerts written to {path}:" if sent else "  no alert was written")
    for line in sent:
        say(line)
    say(f"  {SLO_SENSOR}: {'RUN' if decision.run else 'no run'}: {decision.reason}")
    return retrain
