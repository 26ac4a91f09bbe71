"""Switching a set of staged files into place all at once, and recovering from a writer's crash.

A writer holds an exclusive lock on `<root>/.writers/<id>.lock` while it works; its temporary
files carry its id. To switch several files it keeps a hard link to each old file, writes a
journal `<id>.json` naming every move, renames, and then deletes the journal: that deletion is
the commit. A writer killed before it is leaves its journal behind, and the next `recover` (run
whenever a store is opened) puts every old file back, so readers see the old set whole or the
new one, never a mix. Temporary files and old-file links of dead writers are removed; a live
writer in the middle of its renames is waited for, one that is still staging is left alone.
"""

from __future__ import annotations

import fcntl
import os
import re
import secrets
import shutil
import time
from collections.abc import Callable, Sequence
from contextlib import suppress
from pathlib import Path

from binclf.io.atomic import FILE_MODE, fsync_directory, write_json_atomic

WRITERS = ".writers"
# Temporary files and old-file links of a writer: `.<name>.<writer id>.tmp|old`.
_OWNED = re.compile(r"^\..+\.([0-9a-f]{16})\.(tmp|old)$")
# Other temporary files (single atomic writes) and staged folders older than this are leftovers.
STALE_SECONDS = 3600.0

# Called before each rename of a commit with its index; tests use it to simulate a kill.
BeforeRename = Callable[[int], None]


class Writer:
    """A live writer's claim on its temporary files, and the all-or-nothing switch of them."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self.id = secrets.token_hex(8)
        folder = self.root / WRITERS
        folder.mkdir(parents=True, exist_ok=True)
        self._lock = folder / f"{self.id}.lock"
        self._journal = folder / f"{self.id}.json"
        self._owned: list[Path] = []
        # Locked before it is visible under its name, so `recover` never takes a live claim.
        claim = folder / f".{self.id}.claim"
        self._fd: int | None = os.open(claim, os.O_CREAT | os.O_EXCL | os.O_RDWR, FILE_MODE)
        fcntl.flock(self._fd, fcntl.LOCK_EX)
        os.rename(claim, self._lock)

    def temporary(self, target: Path) -> Path:
        """A hidden sibling of `target` owned by this writer."""
        target.parent.mkdir(parents=True, exist_ok=True)
        temporary = target.with_name(f".{target.name}.{self.id}.tmp")
        self._owned.append(temporary)
        return temporary

    def commit(
        self, moves: Sequence[tuple[Path, Path]], before_rename: BeforeRename | None = None
    ) -> None:
        """Rename every temporary file over its target: all of them, or (after a crash) none."""
        if len(moves) > 1:
            entries = [self._entry(temporary, target) for temporary, target in moves]
            for folder in {target.parent for _, target in moves}:
                fsync_directory(folder)
            write_json_atomic(self._journal, {"moves": entries})
        for index, (temporary, target) in enumerate(moves):
            if before_rename is not None:
                before_rename(index)
            os.replace(temporary, target)
        for folder in {target.parent for _, target in moves}:
            fsync_directory(folder)
        if len(moves) > 1:
            self._journal.unlink()
            fsync_directory(self._journal.parent)
            for _, target in moves:
                self._old(target).unlink(missing_ok=True)

    def _old(self, target: Path) -> Path:
        return target.with_name(f".{target.name}.{self.id}.old")

    def _entry(self, temporary: Path, target: Path) -> dict[str, str | None]:
        old = None
        if target.exists():
            old = self._old(target)
            self._owned.append(old)
            try:
                os.link(target, old)
            except OSError:
                shutil.copy2(target, old)
            old = str(old.relative_to(self.root))
        return {
            "temporary": str(temporary.relative_to(self.root)),
            "target": str(target.relative_to(self.root)),
            "old": old,
        }

    def release(self) -> None:
        """Drop the claim; a journal still present (a failed commit) is rolled back first."""
        if self._fd is None:
            return
        try:
            if self._journal.exists():
                _roll_back(self.root, self._journal)
            for path in self._owned:
                path.unlink(missing_ok=True)
            self._lock.unlink(missing_ok=True)
        finally:
            os.close(self._fd)
            self._fd = None


def _roll_back(root: Path, journal: Path) -> None:
    """Put back every old file a journal names; a target that had none is removed."""
    import json

    for move in json.loads(journal.read_text())["moves"]:
        target = root / move["target"]
        if move["old"] is None:
            target.unlink(missing_ok=True)
        elif (old := root / move["old"]).exists():
            os.replace(old, target)
        (root / move["temporary"]).unlink(missing_ok=True)
        fsync_directory(target.parent)
    journal.unlink()
    fsync_directory(journal.parent)


def _remove_owned(root: Path, writer: str) -> None:
    for path in root.rglob(f".*.{writer}.*"):
        if _OWNED.match(path.name) and path.is_file():
            path.unlink(missing_ok=True)


def recover(root: Path) -> None:
    """Roll back the switches of writers that died, and remove their temporary files."""
    folder = Path(root) / WRITERS
    if not folder.is_dir():
        return
    for claim in folder.glob(".*.claim"):
        _remove_if_unlocked(claim)
    for lock in sorted(folder.glob("*.lock")):
        try:
            fd = os.open(lock, os.O_RDWR)
        except FileNotFoundError:
            continue
        try:
            journal = lock.with_suffix(".json")
            # A writer in its renames finishes in moments: wait. One still staging is skipped.
            flags = fcntl.LOCK_EX if journal.exists() else fcntl.LOCK_EX | fcntl.LOCK_NB
            try:
                fcntl.flock(fd, flags)
            except BlockingIOError:
                continue
            with suppress(FileNotFoundError):
                if os.stat(lock).st_ino != os.fstat(fd).st_ino:
                    continue
                if journal.exists():
                    _roll_back(Path(root), journal)
                _remove_owned(Path(root), lock.stem)
                lock.unlink()
        finally:
            os.close(fd)


def _remove_if_unlocked(path: Path) -> None:
    """Remove a claim file no live writer holds."""
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        path.unlink(missing_ok=True)
    except BlockingIOError:
        pass
    finally:
        os.close(fd)


def sweep(root: Path, *, now: float | None = None) -> list[Path]:
    """Recover, then remove leftovers no writer claims: temporary files of dead writers, and
    unclaimed `.tmp` files and `.staging-*` folders older than `STALE_SECONDS`."""
    root = Path(root)
    recover(root)
    if not root.is_dir():
        return []
    live = {lock.stem for lock in (root / WRITERS).glob("*.lock")}
    cutoff = (time.time() if now is None else now) - STALE_SECONDS
    removed = []
    for path in root.rglob(".*"):
        if path.parent.name == WRITERS or path.name == WRITERS:
            continue
        owned = _OWNED.match(path.name)
        if owned and owned.group(1) in live:
            continue
        if owned and not (root / WRITERS / f"{owned.group(1)}.lock").exists():
            path.unlink(missing_ok=True)
            removed.append(path)
        elif not owned and _stale(path, cutoff):
            if path.is_dir():
                shutil.rmtree(path, ignore_errors=True)
            else:
                path.unlink(missing_ok=True)
            removed.append(path)
    return removed


def _stale(path: Path, cutoff: float) -> bool:
    leftover = path.name.endswith(".tmp") or (path.name.startswith(".staging-") and path.is_dir())
    try:
        return leftover and path.lstat().st_mtime < cutoff
    except FileNotFoundError:
        return False
