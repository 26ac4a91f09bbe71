"""A model registry on a plain folder: immutable versions, a champion pointer moved by
compare-and-set, decision records and an append-only audit log, changed together.

Layout under the root folder, per dataset:

    <dataset>/versions/<version>/            artifact files and manifest.json (sha256, size)
    <dataset>/champion.json                  champion pointer with its history
    <dataset>/decisions/<version>/NNNN.json  decision records, oldest first
    <dataset>/audit.jsonl                    one JSON object per event
    <dataset>/journal.json                   the change in progress (see registry_journal)
    <dataset>/reservations/<version>/        empty folders claiming version ids
    <dataset>/.lock                          OS file lock serializing every change
    <dataset>/.register.lock                 shared by registrations in flight (see retention)

A version id (`v0001`, `v0002`, ...) is claimed by creating its reservation folder, which fails
when the id is taken. Every change (a registration, a decision, a promotion, a rollback) is one
journaled transaction, so after a kill at any instant the audit log replays to the pointer and
every promotion has its decision. Nothing here unpickles anything.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from binclf.io.atomic import to_json_safe, write_json_atomic
from binclf.register import registry_journal as journal
from binclf.register.registry_base import (
    MANIFEST_NAME,
    UNCHANGED,
    IntegrityError,
    Layout,
    NothingToRollBackError,
    PointerLostError,
    PrunedVersionError,
    Registration,
    RegistryError,
    UnknownVersionError,
    VersionInfo,
    apply_move,
    audit_entry,
    pointer_from_audit,
    read_pointer,
    require_reason,
    sha256_hex,
)
from binclf.register.registry_retention import Housekeeping
from binclf.register.registry_versions import VersionStore

__all__ = [
    "MANIFEST_NAME",
    "Housekeeping",
    "IntegrityError",
    "NothingToRollBackError",
    "PointerLostError",
    "PrunedVersionError",
    "Registration",
    "Registry",
    "RegistryError",
    "UnknownVersionError",
    "VersionInfo",
    "sha256_hex",
]


class Registry(VersionStore):
    """Versions, champion pointer, decisions and audit log of every dataset under `root`."""

    def champion(self, dataset: str) -> str | None:
        """The current champion version id, or None before the first promotion.

        Raises PointerLostError (naming `binclf registry repair`) when the pointer is missing
        or unreadable although the audit log moved it.
        """
        return read_pointer(self._open(dataset))["champion"]

    def promote(
        self,
        dataset: str,
        version: str,
        *,
        expected_champion: str | None,
        reason: str,
        decision: Mapping[str, Any] | None = None,
        actor: str | None = None,
    ) -> bool:
        """Make `version` the champion if the champion is still `expected_champion`.

        The decision record (`decision`, or a manual one), its audit entry and the pointer move
        in one transaction. Returns False (and records an audit entry saying the race was lost)
        when another promotion moved the pointer first. The files are verified first.
        """
        require_reason(reason)
        self.open_files(dataset, version)
        given = to_json_safe(decision, where="decision")
        record = {"reason_codes": ["MANUAL"], "reason": reason, **(given or {}), "promote": True}
        details = {"expected_champion": expected_champion, "decision": given or record}
        layout = Layout(self.root, dataset)
        with layout.locked():
            journal.replay(layout)
            pointer = read_pointer(layout)
            current = pointer["champion"]
            change = journal.Transaction()
            entry = audit_entry(dataset, "promote", version, reason, actor, champion_before=current)
            if current != expected_champion:
                detail = f"lost the race: champion is {current}, expected {expected_champion}"
                change.add_audit({**entry, "outcome": "lost_race", "detail": detail, **details})
                journal.apply(layout, change)
                return False
            if current == version:
                raise RegistryError(f"{dataset} {version} is already the champion")
            journal.add_decision(layout, change, version, record, actor)
            change.add_audit({**entry, "outcome": "promoted", **details})
            change.pointer = apply_move(pointer, change.audit[-1])
            journal.apply(layout, change)
        return True

    def rollback(self, dataset: str, *, reason: str, actor: str | None = None) -> str:
        """Move the champion back to the previous champion and return its id.

        The demoted version is marked retired. Raises NothingToRollBackError without one.
        """
        require_reason(reason)
        layout = Layout(self.root, dataset)
        with layout.locked():
            journal.replay(layout)
            pointer = read_pointer(layout)
            if len(pointer["stack"]) < 2:
                raise NothingToRollBackError(
                    f"dataset {dataset!r} has no previous champion to roll back to "
                    f"(champion: {pointer['champion']})"
                )
            restored = pointer["stack"][-2]
            change = journal.Transaction()
            change.add_audit(
                audit_entry(
                    dataset,
                    "rollback",
                    restored,
                    reason,
                    actor,
                    champion_before=pointer["stack"][-1],
                )
                | {"outcome": "rolled_back"}
            )
            change.pointer = apply_move(pointer, change.audit[-1])
            journal.apply(layout, change)
        return restored

    def repair(self, dataset: str, *, actor: str | None = None) -> bool:
        """Rebuild a missing, unreadable or diverged pointer from the audit log.

        Returns whether the pointer was rewritten (False when it already matched the log).
        """
        layout = Layout(self.root, dataset)
        with layout.locked():
            journal.replay(layout)
            rebuilt = pointer_from_audit(dataset, layout.read_audit())
            try:
                stored = read_pointer(layout)
            except PointerLostError:
                stored = None
            keys = ("champion", "stack", "retired")
            if stored is not None and all(stored[k] == rebuilt[k] for k in keys):
                return False
            write_json_atomic(layout.pointer, rebuilt)
            entry = audit_entry(dataset, "repair", rebuilt["champion"], "pointer rebuilt", actor)
            change = journal.Transaction()
            change.add_audit({**entry, "outcome": "rebuilt"})
            journal.apply(layout, change)
        return True

    def record_decision(
        self,
        dataset: str,
        version: str,
        decision: Mapping[str, Any],
        *,
        actor: str | None = None,
    ) -> None:
        """Store a decision record (gates, comparison, reason codes, ...) for `version`.

        `decision` must hold a boolean `promote`; a record with `promote: False` marks the
        version rejected (unless it is or was champion). A record whose reason codes include
        `UNCHANGED` notes a rerun on the same inputs and leaves the status as it was.
        """
        layout = self._open(dataset)
        layout.version_dir(version)
        with layout.locked():
            journal.replay(layout)
            change = journal.Transaction()
            journal.add_decision(layout, change, version, decision, actor)
            journal.apply(layout, change)

    def record_unchanged(
        self, dataset: str, version: str, *, fingerprint: str, actor: str | None = None
    ) -> None:
        """Note that a run on the same inputs found `version` already registered."""
        record = {
            "decision": "unchanged",
            "promote": False,
            "reason_codes": [UNCHANGED],
            "fingerprint": fingerprint,
            "version": version,
        }
        self.record_decision(dataset, version, record, actor=actor)

    def audit(self, dataset: str) -> list[dict[str, Any]]:
        """The audit log of `dataset`, oldest first."""
        return self._open(dataset).read_audit()
