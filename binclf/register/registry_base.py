"""Shared parts of the model registry: errors, version listing rows, checksums, the on-disk
layout of one dataset, the per-dataset lock, and the champion pointer as a function of the audit
log (so a lost pointer can be rebuilt from the log)."""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import re
import socket
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 2
REPAIR_COMMAND = "binclf registry repair"
VersionStatus = Literal["champion", "previous champion", "retired", "rejected", "challenger"]

VERSION_ID = re.compile(r"v(\d{4,})")
DATASET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DECISION_FILE = re.compile(r"(\d{4,})\.json")
UNCHANGED = "UNCHANGED"


class RegistryError(ValueError):
    """A registry request that cannot be honoured; the message names the dataset/version."""


class IntegrityError(RegistryError):
    """Stored content does not match its manifest (tampered, corrupted or missing)."""


class UnknownVersionError(RegistryError):
    """The requested version does not exist."""


class NothingToRollBackError(RegistryError):
    """A rollback was asked for but there is no previous champion."""


class PrunedVersionError(RegistryError):
    """The version's heavy files were removed by retention; its card and decisions remain."""


class PointerLostError(RegistryError):
    """The champion pointer is missing or unreadable although the audit log moved it."""


@dataclass(frozen=True)
class VersionInfo:
    """One registered version as listed by `Registry.versions`."""

    dataset: str
    version: str
    created_at: str
    status: VersionStatus
    metadata: dict[str, Any]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class Registration:
    """The outcome of an idempotent registration: the version and whether it is new."""

    version: str
    created: bool


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of `data`, the checksum recorded in manifests and model cards."""
    return hashlib.sha256(data).hexdigest()


def manifest_checksum(manifest: dict[str, Any]) -> str:
    """SHA-256 of the manifest's canonical JSON without its own `checksum` entry, so metadata
    (metrics, fingerprint) and the file table are covered as much as the files are."""
    body = {key: value for key, value in manifest.items() if key != "checksum"}
    return sha256_hex(json.dumps(body, sort_keys=True, separators=(",", ":")).encode())


def utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def default_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def require_reason(reason: str) -> None:
    if not isinstance(reason, str) or not reason.strip():
        raise RegistryError(f"a non-empty reason is required, got {reason!r}")


def audit_entry(
    dataset: str,
    action: str,
    version: str | None,
    reason: str | None,
    actor: str | None,
    **details: Any,
) -> dict[str, Any]:
    """The common fields of an audit entry; the caller adds `outcome` and details."""
    return {
        "at": utc_now(),
        "dataset": dataset,
        "action": action,
        "version": version,
        "reason": reason,
        "actor": actor or default_actor(),
        **details,
    }


def is_unchanged(record: dict[str, Any]) -> bool:
    """Whether a stored decision record says a rerun found the version unchanged."""
    return UNCHANGED in (record.get("decision", {}).get("reason_codes") or [])


class Layout:
    """Paths of one dataset's registry folder and its lock."""

    def __init__(self, root: Path, dataset: str) -> None:
        if not isinstance(dataset, str) or not DATASET_NAME.fullmatch(dataset):
            raise RegistryError(
                f"dataset name {dataset!r} is not allowed (letters, digits, '.', '_', '-')"
            )
        self.dataset = dataset
        self.dir = Path(root) / dataset
        self.versions = self.dir / "versions"
        self.decisions = self.dir / "decisions"
        self.reservations = self.dir / "reservations"
        self.pointer = self.dir / "champion.json"
        self.audit = self.dir / "audit.jsonl"
        self.journal = self.dir / "journal.json"

    def version_dir(self, version: str) -> Path:
        if not isinstance(version, str) or not VERSION_ID.fullmatch(version):
            raise UnknownVersionError(
                f"{self.dataset}: {version!r} is not a version id like 'v0001'"
            )
        if not (self.versions / version).is_dir():
            raise UnknownVersionError(f"{self.dataset}: version {version!r} does not exist")
        return self.versions / version

    def version_ids(self) -> list[str]:
        if not self.versions.is_dir():
            return []
        ids = [e.name for e in self.versions.iterdir() if VERSION_ID.fullmatch(e.name)]
        return sorted(ids, key=lambda name: int(name[1:]))

    def decision_numbers(self, version: str) -> list[int]:
        folder = self.decisions / version
        if not folder.is_dir():
            return []
        matches = (DECISION_FILE.fullmatch(entry.name) for entry in folder.iterdir())
        return sorted(int(match.group(1)) for match in matches if match)

    @contextmanager
    def locked(self) -> Iterator[None]:
        """Exclusive OS lock per dataset; excludes other threads and processes alike."""
        path = self.dir / ".lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def read_audit(self) -> list[dict[str, Any]]:
        if not self.audit.exists():
            return []
        entries = []
        for number, line in enumerate(self.audit.read_bytes().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except ValueError as error:
                raise IntegrityError(
                    f"{self.dataset}: audit.jsonl line {number} is corrupt"
                ) from error
        return entries


CHAMPION_MOVES = {("promote", "promoted"), ("rollback", "rolled_back")}


def empty_pointer(dataset: str) -> dict[str, Any]:
    return {
        "format": FORMAT_VERSION,
        "dataset": dataset,
        "champion": None,
        "stack": [],
        "retired": [],
        "history": [],
    }


def apply_move(pointer: dict[str, Any], entry: dict[str, Any]) -> dict[str, Any]:
    """The pointer after one champion move (an audit entry of a promotion or rollback)."""
    moved = {**pointer, "stack": list(pointer["stack"]), "retired": list(pointer["retired"])}
    version = entry["version"]
    if entry["action"] == "promote":
        moved["stack"].append(version)
        moved["retired"] = [v for v in moved["retired"] if v != version]
    else:
        demoted = moved["stack"].pop()
        if demoted not in moved["retired"]:
            moved["retired"].append(demoted)
    moved["champion"] = version
    moved["updated_at"] = entry["at"]
    moved["history"] = [
        *pointer["history"],
        {
            "at": entry["at"],
            "action": entry["action"],
            "version": version,
            "reason": entry["reason"],
        },
    ]
    return moved


def pointer_from_audit(dataset: str, entries: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """Replay every champion move of the audit log, oldest first, into a pointer."""
    pointer = empty_pointer(dataset)
    for entry in entries:
        if (entry.get("action"), entry.get("outcome")) in CHAMPION_MOVES:
            pointer = apply_move(pointer, entry)
    return pointer


def read_pointer(layout: Layout) -> dict[str, Any]:
    """The stored pointer; an error naming the repair when it is gone but the log moved it."""
    repair = f"run `{REPAIR_COMMAND}` to rebuild it from the audit log"
    name = f"{layout.dataset}: champion.json"
    try:
        data = layout.pointer.read_bytes()
    except FileNotFoundError:
        moves = [
            e for e in layout.read_audit() if (e.get("action"), e.get("outcome")) in CHAMPION_MOVES
        ]
        if moves:
            raise PointerLostError(
                f"{name} is missing but the audit log records {len(moves)} champion moves; "
                + repair
            ) from None
        return empty_pointer(layout.dataset)
    except OSError as error:
        raise PointerLostError(f"{name} cannot be read ({error}); {repair}") from error
    try:
        pointer = json.loads(data)
    except ValueError as error:
        raise PointerLostError(f"{name} is not valid JSON; {repair}") from error
    if not isinstance(pointer, dict) or not {"champion", "stack", "retired", "history"} <= set(
        pointer
    ):
        raise PointerLostError(f"{name} lacks champion/stack/retired/history; {repair}")
    return pointer
