"""Registry housekeeping: leftovers of killed writes, and retention of rejected versions.

Leftovers are staged version folders never published, temporary files of atomic writes and
reservation folders of ids that never became versions. Registrations hold a shared lock on
`.register.lock` from reserving an id to publishing; housekeeping removes staging folders and
unpublished reservations only when it can take that lock exclusively, so it never touches a
registration in flight.

Retention keeps the newest `keep_rejected` gate-rejected versions whole; older rejected versions
keep their card and manifest (their decisions live outside the version folder). The manifest
moves the removed files to its `pruned` table, so the checksum still covers what remains.
"""

from __future__ import annotations

import fcntl
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from binclf.io.atomic import write_json_atomic
from binclf.register.registry_base import MANIFEST_NAME, Layout, manifest_checksum, utc_now

KEPT_WHEN_PRUNED = frozenset({"card.json", "card.md"})
DEFAULT_KEEP_REJECTED = 5
T = TypeVar("T")


@dataclass
class Housekeeping:
    """What one clean-up removed: leftover paths (relative to the dataset) and pruned versions."""

    removed: list[str] = field(default_factory=list)
    pruned: list[str] = field(default_factory=list)


@contextmanager
def registering(layout: Layout) -> Iterator[None]:
    """Held (shared) by a registration from id reservation to publication."""
    path = layout.dir / ".register.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


@contextmanager
def _no_registration_in_flight(layout: Layout) -> Iterator[bool]:
    path = layout.dir / ".register.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+b") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def remove_leftovers(layout: Layout, report: Housekeeping) -> None:
    """Remove leftovers of killed writes; the caller holds the dataset lock (journal replayed)."""
    if not layout.dir.is_dir():
        return
    for temp in sorted(layout.dir.rglob(".*.tmp")):
        temp.unlink(missing_ok=True)
        report.removed.append(temp.relative_to(layout.dir).as_posix())
    with _no_registration_in_flight(layout) as idle:
        if not idle:
            return
        if layout.versions.is_dir():
            for staging in sorted(layout.versions.glob(".staging-*")):
                shutil.rmtree(staging, ignore_errors=True)
                report.removed.append(staging.relative_to(layout.dir).as_posix())
        published = set(layout.version_ids())
        if layout.reservations.is_dir():
            for reservation in sorted(layout.reservations.iterdir()):
                if reservation.name not in published:
                    shutil.rmtree(reservation, ignore_errors=True)
                    report.removed.append(reservation.relative_to(layout.dir).as_posix())


def _remove_files(directory: Path, names: list[str]) -> None:
    for name in names:
        (directory / name).unlink(missing_ok=True)
    for folder in sorted((p for p in directory.rglob("*") if p.is_dir()), reverse=True):
        if not any(folder.iterdir()):
            folder.rmdir()


def prune_version(layout: Layout, version: str, manifest: dict[str, Any]) -> bool:
    """Drop a version's heavy files, recording them in the manifest first; False when already
    pruned. A kill between the two steps is finished by `finish_pruning`."""
    heavy = {n: e for n, e in manifest["files"].items() if n not in KEPT_WHEN_PRUNED}
    if not heavy:
        return False
    directory = layout.versions / version
    pruned = {
        **manifest,
        "files": {n: e for n, e in manifest["files"].items() if n in KEPT_WHEN_PRUNED},
        "pruned": {**manifest.get("pruned", {}), **heavy},
        "pruned_at": utc_now(),
    }
    pruned["checksum"] = manifest_checksum(pruned)
    write_json_atomic(directory / MANIFEST_NAME, pruned)
    _remove_files(directory, sorted(heavy))
    return True


def finish_pruning(layout: Layout, version: str, manifest: dict[str, Any]) -> None:
    """Remove files the manifest says were pruned but a killed clean-up left on disk."""
    left = [n for n in manifest.get("pruned", {}) if (layout.versions / version / n).exists()]
    if left:
        _remove_files(layout.versions / version, left)


def pruning_candidates(rejected: list[T], keep_rejected: int) -> list[T]:
    """The rejected versions (oldest first) beyond the newest `keep_rejected`."""
    if keep_rejected < 0:
        raise ValueError(f"keep_rejected must be >= 0, got {keep_rejected}")
    return rejected[: max(len(rejected) - keep_rejected, 0)]
