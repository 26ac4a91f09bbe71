"""The registry's write-ahead journal: every change is one transaction.

A transaction lists everything one change writes — a staged version folder to publish, decision
records, audit entries and the new champion pointer. It is written to `journal.json` (atomic,
fsynced) before any of them, then applied step by step, then removed. Each step is idempotent
(audit entries carry the transaction id), so a transaction left by a kill or an I/O error is
finished by `replay` on the next open, under the dataset lock: the audit log, the decisions and
the pointer always move together.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import asdict, dataclass, field
from typing import Any

from binclf.io.atomic import (
    append_line,
    fsync_directory,
    json_bytes,
    to_json_safe,
    write_json_atomic,
)
from binclf.register.registry_base import (
    UNCHANGED,
    IntegrityError,
    Layout,
    RegistryError,
    audit_entry,
    utc_now,
)


@dataclass
class Transaction:
    """What one registry change writes; `publish` is `{"staging": name, "version": id}`."""

    txn: str = field(default_factory=lambda: uuid.uuid4().hex)
    publish: dict[str, str] | None = None
    decisions: list[dict[str, Any]] = field(default_factory=list)
    audit: list[dict[str, Any]] = field(default_factory=list)
    pointer: dict[str, Any] | None = None

    def add_audit(self, entry: dict[str, Any]) -> None:
        self.audit.append({**entry, "txn": self.txn})


def commit(layout: Layout, transaction: Transaction) -> None:
    """Make the transaction durable; from here on it happens, now or at the next open."""
    write_json_atomic(layout.journal, asdict(transaction))


def publish_step(layout: Layout, transaction: Transaction) -> None:
    """Rename the staged version folder into place (nothing to do when already there)."""
    if transaction.publish is None:
        return
    target = layout.versions / transaction.publish["version"]
    if not target.exists():
        os.rename(layout.versions / transaction.publish["staging"], target)
        fsync_directory(layout.versions)


def finish(layout: Layout, transaction: Transaction) -> None:
    """Write decisions, append the missing audit entries, move the pointer, drop the journal."""
    for item in transaction.decisions:
        path = layout.decisions / item["version"] / f"{item['number']:04d}.json"
        if not path.exists():
            write_json_atomic(path, item["record"])
    done = sum(1 for entry in layout.read_audit() if entry.get("txn") == transaction.txn)
    for entry in transaction.audit[done:]:
        append_line(layout.audit, json_bytes(entry, indent=None))
    if transaction.pointer is not None:
        write_json_atomic(layout.pointer, transaction.pointer)
    clear(layout)


def clear(layout: Layout) -> None:
    layout.journal.unlink(missing_ok=True)
    fsync_directory(layout.dir)


def _drop_torn_audit_tail(layout: Layout) -> None:
    """Cut a last audit line that lost its end (a write cut short by power loss)."""
    if not layout.audit.exists():
        return
    data = layout.audit.read_bytes()
    if data and not data.endswith(b"\n"):
        with open(layout.audit, "r+b") as handle:
            handle.truncate(data.rfind(b"\n") + 1)
            os.fsync(handle.fileno())


def replay(layout: Layout) -> bool:
    """Finish a transaction left by an interrupted change; the caller holds the lock.

    A registration whose staged folder is gone before it was published never happened and is
    dropped. Returns whether there was a journal.
    """
    try:
        data = layout.journal.read_bytes()
    except FileNotFoundError:
        return False
    try:
        transaction = Transaction(**json.loads(data))
    except (ValueError, TypeError) as error:
        raise IntegrityError(f"{layout.dataset}: journal.json is corrupt: {error}") from error
    _drop_torn_audit_tail(layout)
    publish = transaction.publish
    if (
        publish is not None
        and not (layout.versions / publish["version"]).exists()
        and not (layout.versions / publish["staging"]).exists()
    ):
        clear(layout)
        return True
    publish_step(layout, transaction)
    finish(layout, transaction)
    return True


def add_decision(
    layout: Layout,
    change: Transaction,
    version: str,
    decision: Mapping[str, Any],
    actor: str | None,
) -> None:
    """Add a decision record for `version` and its audit entry to `change`."""
    if not isinstance(decision, Mapping) or not isinstance(decision.get("promote"), bool):
        raise RegistryError("decision must be a mapping with a boolean 'promote' entry")
    safe = to_json_safe(decision, where="decision")
    number = max(layout.decision_numbers(version), default=0) + 1
    record = {"recorded_at": utc_now(), "version": version, "decision": safe}
    change.decisions.append({"version": version, "number": number, "record": record})
    outcome = "promote" if safe["promote"] else "reject"
    if UNCHANGED in (safe.get("reason_codes") or []):
        outcome = "unchanged"
    entry = audit_entry(layout.dataset, "record_decision", version, None, actor)
    change.add_audit({**entry, "outcome": outcome, "decision_record": f"{number:04d}.json"})


def apply(layout: Layout, change: Transaction) -> None:
    """Commit `change`, then carry it out (see `finish_quietly`)."""
    commit(layout, change)
    finish_quietly(layout, change)


def finish_quietly(layout: Layout, change: Transaction) -> None:
    """Carry out a committed change; an I/O error leaves it to the next open, as it happened."""
    with suppress(OSError):
        finish(layout, change)
