"""Versions of the model registry: registering (journaled with its audit entry and optional
decision), idempotent registration by fingerprint, verified reads, statuses and housekeeping.

`Registry` (in `registry`) adds the champion pointer, decisions and the audit log on top.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from contextlib import suppress
from pathlib import Path
from typing import Any

from binclf.io.atomic import (
    InvalidFileNameError,
    json_bytes,
    staged_directory,
    to_json_safe,
    validate_file_names,
)
from binclf.register import registry_journal as journal
from binclf.register import registry_retention as retention
from binclf.register.registry_base import (
    FORMAT_VERSION,
    MANIFEST_NAME,
    VERSION_ID,
    IntegrityError,
    Layout,
    PrunedVersionError,
    Registration,
    RegistryError,
    VersionInfo,
    VersionStatus,
    audit_entry,
    is_unchanged,
    manifest_checksum,
    read_pointer,
    sha256_hex,
    utc_now,
)
from binclf.register.registry_retention import DEFAULT_KEEP_REJECTED, Housekeeping

Files = Mapping[str, bytes] | Callable[[str], Mapping[str, bytes]]
_MAX_ALLOCATION_ATTEMPTS = 1000


class VersionStore:
    """Registered versions of every dataset under `root`, with their manifests and decisions.

    `keep_rejected` gate-rejected versions keep their heavy files; older ones are pruned after
    each registration and by `collect_garbage`.
    """

    def __init__(self, root: Path | str, *, keep_rejected: int = DEFAULT_KEEP_REJECTED) -> None:
        self.root = Path(root)
        self.keep_rejected = keep_rejected

    def register(
        self,
        dataset: str,
        files: Files,
        *,
        metadata: Mapping[str, Any],
        actor: str | None = None,
        fingerprint: str | None = None,
        decision: Mapping[str, Any] | None = None,
    ) -> str:
        """Store files (relative name -> bytes) as a new immutable version; return its id.

        `files` may be a function of the new version id returning the files, so content such
        as a model card can name its own version. `metadata` (family, key metrics, ...) and the
        optional `fingerprint` go into the manifest next to the checksums. A `decision` (for
        example a gate rejection) is recorded in the same transaction as the version.
        """
        return self._register(dataset, files, metadata, actor, fingerprint, decision, False).version

    def register_once(
        self,
        dataset: str,
        files: Files,
        *,
        metadata: Mapping[str, Any],
        fingerprint: str,
        actor: str | None = None,
        decision: Mapping[str, Any] | None = None,
    ) -> Registration:
        """Register unless a version with this fingerprint (data version + code version +
        settings hash) exists; then return that one with `created=False` and write nothing."""
        if not isinstance(fingerprint, str) or not fingerprint:
            raise RegistryError(f"fingerprint must be a non-empty string, got {fingerprint!r}")
        existing = self.find_by_fingerprint(dataset, fingerprint)
        if existing is not None:
            return Registration(existing, created=False)
        return self._register(dataset, files, metadata, actor, fingerprint, decision, True)

    def find_by_fingerprint(self, dataset: str, fingerprint: str) -> str | None:
        """The newest version registered with `fingerprint`, or None."""
        return self._fingerprint_match(self._open(dataset), fingerprint)

    def open_files(
        self, dataset: str, version: str, names: list[str] | None = None
    ) -> dict[str, bytes]:
        """Artifact files of a version (all, or `names`), each checked against the manifest.

        Raises IntegrityError naming the file when one is missing, altered or not listed, and
        PrunedVersionError when a requested file was removed by retention.
        """
        directory = self._open(dataset).version_dir(version)
        manifest = self.manifest(dataset, version)
        listed, pruned = manifest["files"], manifest.get("pruned", {})
        wanted = sorted(set(listed) | set(pruned)) if names is None else names
        gone = [name for name in wanted if name in pruned]
        if gone:
            raise PrunedVersionError(
                f"{dataset} {version} was pruned by retention: {gone} were removed "
                "(its card, decisions and manifest remain); it cannot be loaded"
            )
        if names is None:
            on_disk = {p.relative_to(directory).as_posix() for p in directory.rglob("*")}
            on_disk = {name for name in on_disk if (directory / name).is_file()}
            unexpected = sorted(on_disk - set(listed) - {MANIFEST_NAME})
            if unexpected:
                raise IntegrityError(
                    f"{dataset} {version}: files not in the manifest: {unexpected}"
                )
        contents = {}
        for name in wanted:
            entry, path = listed.get(name), directory / name
            if entry is None or not path.is_file():
                raise IntegrityError(f"{dataset} {version}: file {name!r} is missing")
            data = path.read_bytes()
            if len(data) != entry["size"] or sha256_hex(data) != entry["sha256"]:
                raise IntegrityError(
                    f"{dataset} {version}: file {name!r} does not match its manifest checksum"
                )
            contents[name] = data
        return contents

    def manifest(self, dataset: str, version: str) -> dict[str, Any]:
        """The manifest of a version: created_at, metadata, fingerprint and sha256/size per
        file, after checking its own checksum (so metrics cannot be edited unnoticed)."""
        path = self._open(dataset).version_dir(version) / MANIFEST_NAME
        where = f"{dataset} {version}: {MANIFEST_NAME}"
        try:
            manifest = json.loads(path.read_bytes())
        except FileNotFoundError as error:
            raise IntegrityError(f"{where} is missing") from error
        except ValueError as error:
            raise IntegrityError(f"{where} is not valid JSON: {error}") from error
        if isinstance(manifest, dict) and "checksum" not in manifest:
            raise IntegrityError(
                f"{where} has no checksum (written before manifests carried one); "
                "register the model again"
            )
        if not isinstance(manifest, dict) or manifest.get("checksum") != manifest_checksum(
            manifest
        ):
            raise IntegrityError(f"{where} does not match its own checksum (edited or corrupt)")
        tables = [manifest.get("files"), manifest.get("pruned", {})]
        if not all(
            isinstance(table, dict)
            and all(
                isinstance(entry, dict)
                and isinstance(entry.get("sha256"), str)
                and isinstance(entry.get("size"), int)
                for entry in table.values()
            )
            for table in tables
        ):
            raise IntegrityError(f"{where} has no valid 'files' table")
        try:
            validate_file_names([*tables[0], *tables[1]])
        except InvalidFileNameError as error:
            raise IntegrityError(f"{where} lists an invalid file name: {error}") from error
        return manifest

    def versions(self, dataset: str) -> list[VersionInfo]:
        """Every version of `dataset`, oldest first, with its status."""
        layout = self._open(dataset)
        pointer = read_pointer(layout)
        infos = []
        for version in layout.version_ids():
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
        ids = self._open(dataset).version_ids()
        return ids[-1] if ids else None

    def decisions(self, dataset: str, version: str) -> list[dict[str, Any]]:
        """Decision records of `version`, oldest first: `{recorded_at, version, decision}`."""
        layout = self._open(dataset)
        layout.version_dir(version)
        records = []
        for number in layout.decision_numbers(version):
            path = layout.decisions / version / f"{number:04d}.json"
            try:
                records.append(json.loads(path.read_bytes()))
            except ValueError as error:
                raise IntegrityError(
                    f"{dataset} {version}: {path.name} is not valid JSON"
                ) from error
        return records

    def collect_garbage(self, dataset: str, *, keep_rejected: int | None = None) -> Housekeeping:
        """Remove leftovers of killed writes and prune rejected versions beyond the newest
        `keep_rejected` (default: the registry's). The champion and rollback stack stay whole."""
        keep = self.keep_rejected if keep_rejected is None else keep_rejected
        layout = Layout(self.root, dataset)
        report = Housekeeping()
        with layout.locked():
            journal.replay(layout)
            retention.remove_leftovers(layout, report)
            pointer = read_pointer(layout)
            keepers = {pointer["champion"], *pointer["stack"]}
            rejected = []
            for version in layout.version_ids():
                manifest = self.manifest(dataset, version)
                retention.finish_pruning(layout, version, manifest)
                status = self._status(dataset, version, pointer)
                if status == "rejected" and version not in keepers:
                    rejected.append((version, manifest))
            for version, manifest in retention.pruning_candidates(rejected, keep):
                if retention.prune_version(layout, version, manifest):
                    report.pruned.append(version)
        return report

    def _open(self, dataset: str) -> Layout:
        """The dataset's layout, after finishing any change a kill or error interrupted."""
        layout = Layout(self.root, dataset)
        if layout.journal.exists():
            with layout.locked():
                journal.replay(layout)
        return layout

    def _register(
        self,
        dataset: str,
        files: Files,
        metadata: Mapping[str, Any],
        actor: str | None,
        fingerprint: str | None,
        decision: Mapping[str, Any] | None,
        once: bool,
    ) -> Registration:
        if not isinstance(metadata, Mapping):
            raise RegistryError(f"metadata must be a mapping, got {type(metadata).__name__}")
        safe_metadata = to_json_safe(metadata, where="metadata")
        layout = self._open(dataset)
        with retention.registering(layout):
            version = self._reserve_version_id(layout)
            content = files(version) if callable(files) else files
            if not content:
                raise RegistryError(f"dataset {dataset!r}: a version needs at least one file")
            if MANIFEST_NAME in content:
                raise RegistryError(f"{MANIFEST_NAME!r} is written by the registry; do not pass it")
            validate_file_names(list(content))
            manifest: dict[str, Any] = {
                "format": FORMAT_VERSION,
                "dataset": dataset,
                "version": version,
                "created_at": utc_now(),
                "metadata": safe_metadata,
                "fingerprint": fingerprint,
                "files": {
                    name: {"sha256": sha256_hex(content[name]), "size": len(content[name])}
                    for name in sorted(content)
                },
            }
            manifest["checksum"] = manifest_checksum(manifest)
            staged_files = {**content, MANIFEST_NAME: json_bytes(manifest)}
            with staged_directory(layout.versions, staged_files) as staged, layout.locked():
                journal.replay(layout)
                if once and (existing := self._fingerprint_match(layout, fingerprint)):
                    os.rmdir(layout.reservations / version)
                    return Registration(existing, created=False)
                change = journal.Transaction(publish={"staging": staged.name, "version": version})
                change.add_audit(
                    audit_entry(dataset, "register", version, None, actor)
                    | {"outcome": "registered"}
                )
                if decision is not None:
                    journal.add_decision(layout, change, version, decision, actor)
                journal.commit(layout, change)
                try:
                    journal.publish_step(layout, change)
                except BaseException:
                    journal.clear(layout)
                    raise
                journal.finish_quietly(layout, change)
        self._prune_quietly(dataset)
        return Registration(version, created=True)

    def _fingerprint_match(self, layout: Layout, fingerprint: str | None) -> str | None:
        for version in reversed(layout.version_ids()):
            if self.manifest(layout.dataset, version).get("fingerprint") == fingerprint:
                return version
        return None

    def _prune_quietly(self, dataset: str) -> None:
        """Retention after a registration; a failure here is retried by the next one or gc."""
        with suppress(OSError):
            self.collect_garbage(dataset)

    def _reserve_version_id(self, layout: Layout) -> str:
        """Claim the next id by creating its folder under `reservations/`, which fails when
        another writer claimed it first; then try the next."""
        layout.reservations.mkdir(parents=True, exist_ok=True)
        for _ in range(_MAX_ALLOCATION_ATTEMPTS):
            names = [*os.listdir(layout.reservations), *layout.version_ids()]
            claimed = [int(m.group(1)) for m in map(VERSION_ID.fullmatch, names) if m]
            version = f"v{max(claimed, default=0) + 1:04d}"
            try:
                os.mkdir(layout.reservations / version)
            except FileExistsError:
                continue
            return version
        raise RegistryError(
            f"{layout.dataset}: no free version id after {_MAX_ALLOCATION_ATTEMPTS} attempts"
        )

    def _status(self, dataset: str, version: str, pointer: dict[str, Any]) -> VersionStatus:
        if version == pointer["champion"]:
            return "champion"
        if version in pointer["stack"]:
            return "previous champion"
        if version in pointer["retired"]:
            return "retired"
        records = [r for r in self.decisions(dataset, version) if not is_unchanged(r)]
        if records and records[-1]["decision"]["promote"] is False:
            return "rejected"
        return "challenger"
