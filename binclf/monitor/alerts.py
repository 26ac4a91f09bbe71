"""Alert decisions: which pages and tickets to send, deduplicated, with cooldown and resolution.

A sensor gathers the conditions that are true now (SLO burns, failed blocking checks, failed
runs) and `decide_alerts` compares them with a ledger of what was already sent: a condition is
sent once when it starts, a resolved message follows once when it clears, and a condition that
clears and comes back within the cooldown is not sent again. Conditions are deduplicated by what
they are about: kind, subject, window and severity. Failed runs are events, not states: they are
sent once and never resolved. The ledger is JSON, so it can live in a sensor's cursor.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from binclf.monitor.slo import SloStatus

RUNBOOKS = {
    "slo_fast_burn": "docs/runbooks/slo-fast-burn.md",
    "slo_slow_burn": "docs/runbooks/slo-slow-burn.md",
    "check_failed": "docs/runbooks/blocking-check-failed.md",
    "run_failed": "docs/runbooks/run-failed.md",
}
EVENT_KINDS = frozenset({"run_failed"})
LEDGER_RETENTION = timedelta(days=30)


@dataclass(frozen=True)
class AlertCondition:
    """Something that is wrong now; `summary` says what, with the numbers."""

    kind: str  # slo_fast_burn, slo_slow_burn, check_failed, run_failed
    subject: str
    window: str
    severity: str  # page or ticket
    summary: str
    runbook: str

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.subject}|{self.window}|{self.severity}"


@dataclass(frozen=True)
class AlertMessage:
    """One message for a sink; `payload` is Slack-compatible."""

    key: str
    status: str  # firing, resolved or action (what the pipeline did about a firing alert)
    severity: str
    text: str

    def payload(self) -> dict[str, str]:
        return {"text": self.text}


@dataclass
class AlertLedger:
    """What was sent: active conditions and when each key last fired or resolved."""

    active: dict[str, str] = field(default_factory=dict)  # key -> severity
    fired_at: dict[str, str] = field(default_factory=dict)  # key -> ISO time
    resolved_at: dict[str, str] = field(default_factory=dict)

    def to_json(self) -> str:
        return json.dumps(
            {"active": self.active, "fired_at": self.fired_at, "resolved_at": self.resolved_at},
            sort_keys=True,
        )

    @classmethod
    def from_json(cls, text: str | None) -> AlertLedger:
        if not text:
            return cls()
        data = json.loads(text)
        return cls(dict(data["active"]), dict(data["fired_at"]), dict(data["resolved_at"]))


def runbook_link(kind: str, base_url: str = "") -> str:
    path = RUNBOOKS[kind]
    return f"{base_url.rstrip('/')}/{path}" if base_url else path


def decide_alerts(
    conditions: Iterable[AlertCondition],
    ledger: AlertLedger,
    *,
    now: datetime,
    cooldown: timedelta,
) -> tuple[list[AlertMessage], AlertLedger]:
    """The messages to send now and the ledger after sending them."""
    current = {c.key: c for c in conditions}
    messages: list[AlertMessage] = []
    new = AlertLedger(dict(ledger.active), dict(ledger.fired_at), dict(ledger.resolved_at))
    for key, condition in sorted(current.items()):
        if key in new.active or (condition.kind in EVENT_KINDS and key in new.fired_at):
            continue
        resolved = new.resolved_at.get(key)
        if resolved and now - datetime.fromisoformat(resolved) < cooldown:
            new.active[key] = condition.severity  # back within the cooldown: quietly active
            continue
        label = condition.severity.upper()
        text = f"[{label}] {condition.summary}\nRunbook: {condition.runbook}"
        messages.append(AlertMessage(key, "firing", condition.severity, text))
        new.fired_at[key] = now.isoformat()
        if condition.kind not in EVENT_KINDS:
            new.active[key] = condition.severity
    for key, severity in sorted(ledger.active.items()):
        if key not in current:
            kind, subject, window, _ = key.split("|")
            what = f"{kind.replace('_', ' ')} {subject}" + (f" ({window})" if window else "")
            text = f"[RESOLVED] {what} has cleared"
            messages.append(AlertMessage(key, "resolved", severity, text))
            del new.active[key]
            new.resolved_at[key] = now.isoformat()
    horizon = now - LEDGER_RETENTION
    for stamps in (new.fired_at, new.resolved_at):
        for key in [k for k, t in stamps.items() if datetime.fromisoformat(t) < horizon]:
            if key not in new.active:
                del stamps[key]
    return messages, new


def _number(value: float | None, fmt: str = ".2f") -> str:
    return "n/a" if value is None else format(value, fmt)


def slo_conditions(statuses: Sequence[SloStatus], *, base_url: str = "") -> list[AlertCondition]:
    """A page for each SLO burning fast and a ticket for each burning slowly."""
    conditions = []
    for status in statuses:
        for burn in status.burns:
            if not burn.firing:
                continue
            kind = f"slo_{burn.rule.name}_burn"
            rule = burn.rule
            caveat = (
                f"; {status.unreliable_days} day(s) of estimates failed the calibration check"
                if status.unreliable_days
                else ""
            )
            summary = (
                f"SLO {status.name} ({status.sli} objective {status.objective:g}, "
                f"{'/'.join(status.kinds) or 'no'} SLI) is burning {rule.name}: "
                f"{_number(burn.short_burn)}x over {rule.short_days} d and "
                f"{_number(burn.long_burn)}x over {rule.long_days} d (rule {rule.factor:.2f}x); "
                f"SLI {_number(status.sli_value, '.4f')} over {status.window_days} d, "
                f"remaining budget {_number(status.remaining_budget, '.0%')} "
                f"as of {status.as_of.isoformat()}{caveat}"
            )
            conditions.append(
                AlertCondition(
                    kind,
                    status.name,
                    rule.name,
                    rule.severity,
                    summary,
                    runbook_link(kind, base_url),
                )
            )
    return conditions


def check_failed_condition(
    asset: str, check: str, description: str | None, *, base_url: str = ""
) -> AlertCondition:
    """A page for a failed blocking check; its description names partition, column and rule."""
    summary = f"blocking check {check} on {asset} failed: {description or 'no description'}"
    return AlertCondition(
        "check_failed",
        f"{asset}/{check}",
        "",
        "page",
        summary[:3000],
        runbook_link("check_failed", base_url),
    )


def run_failed_condition(
    run_id: str, job_name: str, message: str | None, *, base_url: str = ""
) -> AlertCondition:
    """A ticket for a failed run, sent once."""
    summary = f"run {run_id} of {job_name} failed: {message or 'see the run in the UI'}"
    return AlertCondition(
        "run_failed", run_id, "", "ticket", summary[:3000], runbook_link("run_failed", base_url)
    )


def retrain_action_message(
    decision_reason: str, *, job: str, run_key: str, base_url: str = ""
) -> AlertMessage:
    """What the pipeline did about a page-level SLO burn: the retrain it requested."""
    text = (
        f"[ACTION] retrain requested: {job}, run_key {run_key}, because {decision_reason}\n"
        f"Runbook: {runbook_link('slo_fast_burn', base_url)}"
    )
    return AlertMessage(f"slo_retrain|{run_key}||page", "action", "page", text)


def slo_check_name(slo_name: str, rule_name: str) -> str:
    """The asset check of one SLO and burn rule, e.g. `recall_fast_burn`."""
    return f"{slo_name}_{rule_name}_burn"


def failed_check_condition(
    asset: str, check: str, description: str | None, *, slo_asset: str, base_url: str = ""
) -> AlertCondition:
    """The condition of a failed check: an SLO burn on `slo_asset`, else a blocking check."""
    for rule, severity in (("fast", "page"), ("slow", "ticket")):
        suffix = f"_{rule}_burn"
        if asset == slo_asset and check.endswith(suffix):
            kind = f"slo_{rule}_burn"
            summary = description or f"SLO {check.removesuffix(suffix)} is burning {rule}"
            return AlertCondition(
                kind,
                check.removesuffix(suffix),
                rule,
                severity,
                summary,
                runbook_link(kind, base_url),
            )
    return check_failed_condition(asset, check, description, base_url=base_url)
