"""Where alerts go: a Slack-compatible webhook or a JSON-lines file, chosen per deployment.

`Definitions` binds one of them as the `alert_sink` resource. The webhook URL is a secret: give
it as `EnvVar("BINCLF_ALERT_WEBHOOK_URL")`; it is never logged and errors do not repeat it.
"""

from __future__ import annotations

import json
import logging
import os
import urllib.error
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

from dagster import ConfigurableResource, EnvVar

from binclf.io import state
from binclf.monitor.alerts import AlertMessage

WEBHOOK_ENV = "BINCLF_ALERT_WEBHOOK_URL"
_log = logging.getLogger(__name__)


class AlertDeliveryError(RuntimeError):
    """An alert the sink could not deliver; the message never contains the webhook URL."""


class AlertSink(ConfigurableResource):
    """Sends alert messages somewhere a person will see them."""

    def send(self, message: AlertMessage) -> None:
        raise NotImplementedError


class WebhookAlertSink(AlertSink):
    """POSTs `{"text": ...}` as JSON (Slack incoming webhooks and most chat tools accept it)."""

    url: str
    timeout_seconds: float = 10.0

    def send(self, message: AlertMessage) -> None:
        request = urllib.request.Request(
            self.url,
            data=json.dumps(message.payload()).encode(),
            headers={"Content-Type": "application/json"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_seconds) as response:
                status = response.status
        except urllib.error.HTTPError as exc:
            raise AlertDeliveryError(f"webhook answered HTTP {exc.code}") from None
        except (urllib.error.URLError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            raise AlertDeliveryError(f"webhook not reachable: {type(reason).__name__}") from None
        if not 200 <= status < 300:
            raise AlertDeliveryError(f"webhook answered HTTP {status}")
        _log.info("alert %s sent to the webhook: %s", message.status, message.key)


class FileAlertSink(AlertSink):
    """Appends each alert as a JSON line (default `<state>/reports/alerts.jsonl`) and logs it."""

    path: str | None = None

    def file(self) -> Path:
        return (
            Path(self.path)
            if self.path
            else state.reports_dir(state.state_root()) / ("alerts.jsonl")
        )

    def send(self, message: AlertMessage) -> None:
        target = self.file()
        target.parent.mkdir(parents=True, exist_ok=True)
        line = {
            "sent_at": datetime.now(UTC).isoformat(),
            "key": message.key,
            "status": message.status,
            "severity": message.severity,
            **message.payload(),
        }
        with target.open("a") as handle:  # one short append per alert: lines stay whole
            handle.write(json.dumps(line) + "\n")
        _log.warning("%s", message.text)


def default_alert_sink(root: Path | None = None) -> AlertSink:
    """The webhook when `$BINCLF_ALERT_WEBHOOK_URL` is set, else the file sink (in the reports
    folder of the state at `root`, default the `$BINCLF_STATE` one)."""
    if os.environ.get(WEBHOOK_ENV):
        return WebhookAlertSink(url=EnvVar(WEBHOOK_ENV))
    if root is None:
        return FileAlertSink()
    return FileAlertSink(path=str(state.reports_dir(root) / "alerts.jsonl"))
