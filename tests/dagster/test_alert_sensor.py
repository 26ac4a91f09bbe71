"""The alert sensor against a real webhook on loopback: one page, one resolution, one alert for a
failed blocking validation check naming partition, column and rule."""

import json
import threading
from collections.abc import Iterator
from datetime import date, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import ClassVar

import polars as pl
import pytest
from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetExecutionContext,
    Config,
    DagsterInstance,
    Output,
    asset,
    build_sensor_context,
    materialize,
)
from test_ingest_assets import DAYS, ingest_definitions, materialize_profile

from assets.ingest import ingest_assets
from assets.partitions import daily_partitions
from binclf.monitor.alerts import slo_check_name, slo_conditions
from binclf.monitor.slo import SliObservation, slo_status
from binclf.spec import SloDefinition
from pipelines.alert_sinks import FileAlertSink, WebhookAlertSink
from pipelines.alerts import build_alert_sensor

SLO = SloDefinition(name="recall", sli="recall", objective=0.9)
START = date(2026, 3, 1)


class _Hook(BaseHTTPRequestHandler):
    received: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        type(self).received.append(json.loads(body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args) -> None:  # keep the test output quiet
        pass


@pytest.fixture
def webhook() -> Iterator[tuple[str, list[dict]]]:
    _Hook.received = []
    server = HTTPServer(("127.0.0.1", 0), _Hook)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/hook", _Hook.received
    server.shutdown()
    server.server_close()


class SloDemo(Config):
    burning: bool


@asset(
    name="slo_status",
    check_specs=[
        AssetCheckSpec(slo_check_name("recall", r), asset="slo_status") for r in ("fast", "slow")
    ],
)
def stand_in_slo_status(context: AssetExecutionContext, config: SloDemo):
    """SLO checks as the SLO status asset states them, over a constructed series."""
    bad = [10.0] * 25 + ([60.0] * 3 if config.burning else [2.0] * 3)
    days = [START + timedelta(days=i) for i in range(28)]
    status = slo_status(
        SLO, [SliObservation(d, b, 100.0) for d, b in zip(days, bad, strict=True)], as_of=days[-1]
    )
    yield Output(status.sli_value)
    summaries = {c.window: c.summary for c in slo_conditions([status])}
    for burn in status.burns:
        yield AssetCheckResult(
            check_name=slo_check_name("recall", burn.rule.name),
            passed=not burn.firing,
            severity=AssetCheckSeverity.ERROR
            if burn.rule.severity == "page"
            else AssetCheckSeverity.WARN,
            description=summaries.get(burn.rule.name),
        )


def _tick(sensor, instance: DagsterInstance, sink, cursor: str | None) -> str | None:
    context = build_sensor_context(instance=instance, cursor=cursor, resources={"alert_sink": sink})
    result = sensor.evaluate_tick(context)
    return result.cursor


def test_a_burning_slo_pages_once_over_repeated_ticks_then_resolves_once(webhook):
    url, received = webhook
    sink = WebhookAlertSink(url=url)
    sensor = build_alert_sensor([stand_in_slo_status])
    with DagsterInstance.ephemeral() as instance:
        cursor = None
        assert materialize(
            [stand_in_slo_status],
            instance=instance,
            run_config={"ops": {"slo_status": {"config": {"burning": True}}}},
        ).success
        for _ in range(3):
            cursor = _tick(sensor, instance, sink, cursor)
        pages = [m for m in received if m["text"].startswith("[PAGE]")]
        assert len(pages) == 1
        assert pages[0]["text"].startswith("[PAGE] SLO recall (recall objective 0.9")
        assert "slo-fast-burn.md" in pages[0]["text"]
        assert materialize(
            [stand_in_slo_status],
            instance=instance,
            run_config={"ops": {"slo_status": {"config": {"burning": False}}}},
        ).success
        before = len(received)
        for _ in range(3):
            cursor = _tick(sensor, instance, sink, cursor)
        resolved = [m["text"] for m in received[before:]]
        assert sum("slo fast burn recall (fast)" in t for t in resolved) == 1
        assert all(t.startswith("[RESOLVED]") for t in resolved)
        assert len([m for m in received if m["text"].startswith("[PAGE]")]) == 1


def test_a_failed_blocking_validation_check_sends_one_alert_naming_partition_column_and_rule(
    tmp_path, webhook, make_events, make_file_spec
):
    url, received = webhook
    (tmp_path / "events").mkdir()
    good = make_events()
    spec = make_file_spec(tmp_path, None, source={"kind": "parquet", "path": "events"})
    defs = ingest_definitions(spec, tmp_path / "state")
    for day in DAYS:
        on_day = pl.col("event_time").dt.date() == date.fromisoformat(day)
        frame = good.filter(on_day)
        if day == DAYS[-1]:
            frame = frame.with_columns(pl.col("amount").cast(pl.String))
        frame.write_parquet(tmp_path / "events" / f"{day}.parquet")
    sensor = build_alert_sensor(ingest_assets(spec, daily_partitions(spec)))
    with DagsterInstance.ephemeral() as instance:
        assert materialize_profile(defs, instance).success
        job = defs.resolve_job_def("ingest_job")
        assert not job.execute_in_process(
            instance=instance, partition_key=DAYS[-1], raise_on_error=False
        ).success
        cursor = None
        for _ in range(3):
            cursor = _tick(sensor, instance, WebhookAlertSink(url=url), cursor)
    checks = [m["text"] for m in received if "blocking check passes_validation" in m["text"]]
    assert len(checks) == 1
    assert (
        f"partition {DAYS[-1]}: column 'amount' broke expect_column_values_to_be_in_type_list"
        in checks[0]
    )
    assert checks[0].startswith("[PAGE]") and "blocking-check-failed.md" in checks[0]
    runs = [m["text"] for m in received if "of ingest_job failed" in m["text"]]
    assert len(runs) == 1 and runs[0].startswith("[TICKET]")


def test_the_file_sink_writes_one_json_line_per_alert(tmp_path):
    from binclf.monitor.alerts import AlertMessage

    sink = FileAlertSink(path=str(tmp_path / "alerts.jsonl"))
    sink.send(AlertMessage("k", "firing", "page", "[PAGE] x"))
    sink.send(AlertMessage("k", "resolved", "page", "[RESOLVED] x"))
    lines = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert [line["status"] for line in lines] == ["firing", "resolved"]
    assert lines[0]["text"] == "[PAGE] x"
