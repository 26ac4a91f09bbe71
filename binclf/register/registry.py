"""A model registry on a plain folder: immutable versions, a champion pointer moved by
compare-and-set, decision records and an append-only audit log.

Layout under the root folder, per dataset:

    <dataset>/versions/<version>/            artifact files and manifest.json (sha256, size)
    <dataset>/champion.json                  champion pointer with its history
    <dataset>/decisions/<version>/NNNN.json  decision records, oldest first
    <dataset>/audit.jsonl                    one JSON object per event
    <dataset>/reservations/<version>/        empty folders claiming version ids
    <dataset>/.lock                          OS file lock serializing pointer moves and appends

A version id (`v0001`, `v0002`, ...) is claimed by creating its reservation folder, which fails
when the id is taken (the writer then tries the next one). The version appears in one atomic
rename of a fully written, fsynced folder, so readers never see part of one. Nothing here
unpickles anything.
"""

from __future__ import annotations

import fcntl
import getpass
import hashlib
import json
import os
import re
import socket
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from binclf.io.atomic import (
    InvalidFileNameError,
    append_line,
    json_bytes,
    publish_directory,
    staged_directory,
    to_json_safe,
    validate_file_names,
    write_json_atomic,
)

MANIFEST_NAME = "manifest.json"
FORMAT_VERSION = 1
VersionStatus = Literal["champion", "previous champion", "retired", "rejected", "challenger"]

_VERSION_ID = re.compile(r"v(\d{4,})")
_DATASET_NAME = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
_DECISION_FILE = re.compile(r"(\d{4,})\.json")
_MAX_ALLOCATION_ATTEMPTS = 1000


class RegistryError(ValueError):
    """A registry request that cannot be honoured; the message names the dataset/version."""


class IntegrityError(RegistryError):
    """Stored content does not match its manifest (tampered, corrupted or missing)."""


class UnknownVersionError(RegistryError):
    """The requested version does not exist."""


class NothingToRollBackError(RegistryError):
    """A rollback was asked for but there is no previous champion."""


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


def sha256_hex(data: bytes) -> str:
    """Hex SHA-256 of `data`, the checksum recorded in manifests and model cards."""
    return hashlib.sha256(data).hexdigest()


def _utc_now() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _default_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        user = "unknown"
    return f"{user}@{socket.gethostname()} pid {os.getpid()}"


def _require_reason(reason: str) -> None:
    if not isinstance(reason, str) or not reason.strip():
        raise RegistryError(f"a non-empty reason is required, got {reason!r}")


class Registry:
    """Versions, champion pointer, decisions and audit log of every dataset under `root`."""

    def __init__(self, root: Path | str) -> None:
        self.root = Path(root)

    # Versions -----------------------------------------------------------------------------

    def register(
        self,
        dataset: str,
        files: Mapping[str, bytes] | Callable[[str], Mapping[str, bytes]],
        *,
        metadata: Mapping[str, Any],
        actor: str | None = None,
    ) -> str:
        """Store files (relative name -> bytes) as a new immutable version; return its id.

        `files` may be a function of the new version id returning the files, so content such
        as a model card can name its own version. `metadata` (family, key metrics, ...) goes
        into the manifest next to the checksums.
        """
        if not isinstance(metadata, Mapping):
            raise RegistryError(f"metadata must be a mapping, got {type(metadata).__name__}")
        safe_metadata = to_json_safe(metadata, where="metadata")
        versions_dir = self._dataset_dir(dataset) / "versions"
        version = self._reserve_version_id(dataset)
        content = files(version) if callable(files) else files
        if not content:
            raise RegistryError(f"dataset {dataset!r}: a version needs at least one file")
        if MANIFEST_NAME in content:
            raise RegistryError(f"{MANIFEST_NAME!r} is written by the registry; do not pass it")
        validate_file_names(list(content))
        manifest = {
            "format": FORMAT_VERSION,
            "dataset": dataset,
            "version": version,
            "created_at": _utc_now(),
            "metadata": safe_metadata,
            "files": {
                name: {"sha256": sha256_hex(content[name]), "size": len(content[name])}
                for name in sorted(content)
            },
        }
        with staged_directory(
            versions_dir, {**content, MANIFEST_NAME: json_bytes(manifest)}
        ) as staged:
            publish_directory(staged, versions_dir / version)
        with self._locked(dataset):
            self._append_audit(
                dataset,
                action="register",
                version=version,
                outcome="registered",
                reason=None,
                actor=actor,
            )
        return version

    def open_files(self, dataset: str, version: str) -> dict[str, bytes]:
        """All artifact files of a version, after checking every one against the manifest.

        Raises IntegrityError naming the file when one is missing, altered or not listed.
        """
        directory = self._version_dir(dataset, version)
        listed = self.manifest(dataset, version)["files"]
        on_disk = {
            path.relative_to(directory).as_posix()
            for path in directory.rglob("*")
            if path.is_file()
        }
        unexpected = sorted(on_disk - set(listed) - {MANIFEST_NAME})
        if unexpected:
            raise IntegrityError(f"{dataset} {version}: files not in the manifest: {unexpected}")
        contents = {}
        for name, entry in listed.items():
            path = directory / name
            if not path.is_file():
                raise IntegrityError(f"{dataset} {version}: file {name!r} is missing")
            data = path.read_bytes()
            if len(data) != entry["size"] or sha256_hex(data) != entry["sha256"]:
                raise IntegrityError(
                    f"{dataset} {version}: file {name!r} does not match its manifest checksum"
                )
            contents[name] = data
        return contents

    def manifest(self, dataset: str, version: str) -> dict[str, Any]:
        """The manifest of a version: created_at, metadata and sha256/size per file."""
        path = self._version_dir(dataset, version) / MANIFEST_NAME
        where = f"{dataset} {version}: {MANIFEST_NAME}"
        try:
            manifest = json.loads(path.read_bytes())
        except FileNotFoundError as error:
            raise IntegrityError(f"{where} is missing") from error
        except ValueError as error:
            raise IntegrityError(f"{where} is not valid JSON: {error}") from error
        files = manifest.get("files") if isinstance(manifest, dict) else None
        if not isinstance(files, dict) or not all(
            isinstance(entry, dict)
            and isinstance(entry.get("sha256"), str)
            and isinstance(entry.get("size"), int)
            for entry in files.values()
        ):
            raise IntegrityError(f"{where} has no valid 'files' table")
        try:
            validate_file_names(list(files))
        except InvalidFileNameError as error:
            raise IntegrityError(f"{where} lists an invalid file name: {error}") from error
        return manifest

    def versions(self, dataset: str) -> list[VersionInfo]:
        """Every version of `dataset`, oldest first, with its status."""
        pointer = self._read_pointer(dataset)
        infos = []
        for version in self._version_ids(dataset):
            manifest = self.manifest(dataset, version)
            infos.append(
                VersionInfo(
                    dataset=dataset,
                    version=version,
                    created_at=manifest["created_at"],
                    status=self._status(dataset, version, pointer),
                    metadata=manifest["metadata"],
                )
            )
        return infos

    def latest(self, dataset: str) -> str | None:
        """The most recently registered version id, or None when there is none."""
        ids = self._version_ids(dataset)
        return ids[-1] if ids else None

    # Champion pointer ---------------------------------------------------------------------

    def champion(self, dataset: str) -> str | None:
        """The current champion version id, or None before the first promotion."""
        return self._read_pointer(dataset)["champion"]

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

        Returns False (and records an audit entry saying the race was lost) when another
        promotion moved the pointer first. The version's files are verified before anything moves.
        """
        _require_reason(reason)
        self.open_files(dataset, version)
        details = {
            "expected_champion": expected_champion,
            "decision": to_json_safe(decision, where="decision"),
        }
        with self._locked(dataset):
            pointer = self._read_pointer(dataset)
            current = pointer["champion"]
            if current != expected_champion:
                self._append_audit(
                    dataset,
                    action="promote",
                    version=version,
                    outcome="lost_race",
                    reason=reason,
                    actor=actor,
                    champion_before=current,
                    detail=f"lost the race: champion is {current}, expected {expected_champion}",
                    **details,
                )
                return False
            if current == version:
                raise RegistryError(f"{dataset} {version} is already the champion")
            pointer["champion"] = version
            pointer["stack"].append(version)
            pointer["retired"] = [v for v in pointer["retired"] if v != version]
            self._write_pointer(dataset, pointer, action="promote", version=version, reason=reason)
            self._append_audit(
                dataset,
                action="promote",
                version=version,
                outcome="promoted",
                reason=reason,
                actor=actor,
                champion_before=current,
                **details,
            )
        return True

    def rollback(self, dataset: str, *, reason: str, actor: str | None = None) -> str:
        """Move the champion back to the previous champion and return its id.

        The demoted version is marked retired. Raises NothingToRollBackError without one.
        """
        _require_reason(reason)
        with self._locked(dataset):
            pointer = self._read_pointer(dataset)
            if len(pointer["stack"]) < 2:
                raise NothingToRollBackError(
                    f"dataset {dataset!r} has no previous champion to roll back to "
                    f"(champion: {pointer['champion']})"
                )
            demoted = pointer["stack"].pop()
            restored = pointer["stack"][-1]
            pointer["champion"] = restored
            if demoted not in pointer["retired"]:
                pointer["retired"].append(demoted)
            self._write_pointer(
                dataset, pointer, action="rollback", version=restored, reason=reason
            )
            self._append_audit(
                dataset,
                action="rollback",
                version=restored,
                outcome="rolled_back",
                reason=reason,
                actor=actor,
                champion_before=demoted,
            )
        return restored

    # Decisions and audit ------------------------------------------------------------------

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
        version rejected (unless it is or was champion).
        """
        self._version_dir(dataset, version)
        if not isinstance(decision, Mapping) or not isinstance(decision.get("promote"), bool):
            raise RegistryError("decision must be a mapping with a boolean 'promote' entry")
        record = {
            "recorded_at": _utc_now(),
            "version": version,
            "decision": to_json_safe(decision, where="decision"),
        }
        folder = self._dataset_dir(dataset) / "decisions" / version
        with self._locked(dataset):
            number = max(self._decision_numbers(folder), default=0) + 1
            write_json_atomic(folder / f"{number:04d}.json", record)
            self._append_audit(
                dataset,
                action="record_decision",
                version=version,
                outcome="promote" if decision["promote"] else "reject",
                reason=None,
                actor=actor,
            )

    def decisions(self, dataset: str, version: str) -> list[dict[str, Any]]:
        """Decision records of `version`, oldest first: `{recorded_at, version, decision}`."""
        self._version_dir(dataset, version)
        folder = self._dataset_dir(dataset) / "decisions" / version
        records = []
        for number in sorted(self._decision_numbers(folder)):
            path = folder / f"{number:04d}.json"
            try:
                records.append(json.loads(path.read_bytes()))
            except ValueError as error:
                raise IntegrityError(
                    f"{dataset} {version}: {path.name} is not valid JSON"
                ) from error
        return records

    def audit(self, dataset: str) -> list[dict[str, Any]]:
        """The audit log of `dataset`, oldest first."""
        path = self._dataset_dir(dataset) / "audit.jsonl"
        if not path.exists():
            return []
        entries = []
        for number, line in enumerate(path.read_bytes().splitlines(), start=1):
            if not line.strip():
                continue
            try:
                entries.append(json.loads(line))
            except ValueError as error:
                raise IntegrityError(f"{dataset}: audit.jsonl line {number} is corrupt") from error
        return entries

    # Internals ----------------------------------------------------------------------------

    def _dataset_dir(self, dataset: str) -> Path:
        if not isinstance(dataset, str) or not _DATASET_NAME.fullmatch(dataset):
            raise RegistryError(
                f"dataset name {dataset!r} is not allowed (letters, digits, '.', '_', '-')"
            )
        return self.root / dataset

    def _version_dir(self, dataset: str, version: str) -> Path:
        directory = self._dataset_dir(dataset) / "versions"
        if not isinstance(version, str) or not _VERSION_ID.fullmatch(version):
            raise UnknownVersionError(f"{dataset}: {version!r} is not a version id like 'v0001'")
        if not (directory / version).is_dir():
            raise UnknownVersionError(f"{dataset}: version {version!r} does not exist")
        return directory / version

    def _version_ids(self, dataset: str) -> list[str]:
        directory = self._dataset_dir(dataset) / "versions"
        if not directory.is_dir():
            return []
        ids = [entry.name for entry in directory.iterdir() if _VERSION_ID.fullmatch(entry.name)]
        return sorted(ids, key=lambda name: int(name[1:]))

    def _reserve_version_id(self, dataset: str) -> str:
        """Claim the next id by creating its folder under `reservations/`, which fails when
        another writer claimed it first; then try the next. Ids are never reused, so a failed
        registration leaves a gap."""
        reservations = self._dataset_dir(dataset) / "reservations"
        reservations.mkdir(parents=True, exist_ok=True)
        for _ in range(_MAX_ALLOCATION_ATTEMPTS):
            claimed = [
                int(m.group(1)) for m in map(_VERSION_ID.fullmatch, os.listdir(reservations)) if m
            ]
            version = f"v{max(claimed, default=0) + 1:04d}"
            try:
                os.mkdir(reservations / version)
            except FileExistsError:
                continue
            return version
        raise RegistryError(
            f"{dataset}: no free version id after {_MAX_ALLOCATION_ATTEMPTS} attempts"
        )

    @staticmethod
    def _decision_numbers(folder: Path) -> list[int]:
        if not folder.is_dir():
            return []
        matches = (_DECISION_FILE.fullmatch(entry.name) for entry in folder.iterdir())
        return [int(match.group(1)) for match in matches if match]

    def _status(self, dataset: str, version: str, pointer: dict[str, Any]) -> VersionStatus:
        if version == pointer["champion"]:
            return "champion"
        if version in pointer["stack"]:
            return "previous champion"
        if version in pointer["retired"]:
            return "retired"
        records = self.decisions(dataset, version)
        if records and records[-1]["decision"]["promote"] is False:
            return "rejected"
        return "challenger"

    @contextmanager
    def _locked(self, dataset: str) -> Iterator[None]:
        """Exclusive OS lock per dataset; excludes other threads and processes alike."""
        path = self._dataset_dir(dataset) / ".lock"
        path.parent.mkdir(parents=True, exist_ok=True)
        with open(path, "a+b") as handle:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)

    def _pointer_path(self, dataset: str) -> Path:
        return self._dataset_dir(dataset) / "champion.json"

    def _read_pointer(self, dataset: str) -> dict[str, Any]:
        path = self._pointer_path(dataset)
        if not path.exists():
            return {
                "format": FORMAT_VERSION,
                "dataset": dataset,
                "champion": None,
                "stack": [],
                "retired": [],
                "history": [],
            }
        try:
            pointer = json.loads(path.read_bytes())
        except ValueError as error:
            raise IntegrityError(f"{dataset}: champion.json is not valid JSON") from error
        if not isinstance(pointer, dict) or not {"champion", "stack", "retired", "history"} <= set(
            pointer
        ):
            raise IntegrityError(f"{dataset}: champion.json lacks champion/stack/retired/history")
        return pointer

    def _write_pointer(
        self, dataset: str, pointer: dict[str, Any], *, action: str, version: str, reason: str
    ) -> None:
        pointer["updated_at"] = _utc_now()
        pointer["history"].append(
            {"at": pointer["updated_at"], "action": action, "version": version, "reason": reason}
        )
        write_json_atomic(self._pointer_path(dataset), pointer)

    def _append_audit(
        self,
        dataset: str,
        *,
        action: str,
        version: str,
        outcome: str,
        reason: str | None,
        actor: str | None,
        **details: Any,
    ) -> None:
        """Append one audit entry; the caller holds the dataset lock."""
        entry = {
            "at": _utc_now(),
            "dataset": dataset,
            "action": action,
            "version": version,
            "outcome": outcome,
            "reason": reason,
            "actor": actor or _default_actor(),
            **details,
        }
        append_line(self._dataset_dir(dataset) / "audit.jsonl", json_bytes(entry, indent=None))
