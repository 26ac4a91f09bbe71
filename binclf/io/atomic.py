"""Crash-safe file and directory writes, and the JSON encoding used for everything persisted.

A reader never sees a half-written file or folder: content goes to a temporary sibling first
(same folder, so the same file system) and is moved into place with one atomic rename. Data and
folders are fsynced so a power loss after the rename does not leave an empty file behind.
"""

from __future__ import annotations

import errno
import json
import math
import os
import re
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager, suppress
from datetime import date, datetime
from pathlib import Path, PurePath, PurePosixPath
from typing import Any

import numpy as np

FILE_MODE = 0o644
DIRECTORY_MODE = 0o755
_NAME_PART = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,254}")


class InvalidFileNameError(ValueError):
    """A file name that could escape its folder or is not a plain relative name."""


def validate_relative_name(name: str) -> PurePosixPath:
    """Check that `name` is a plain relative path such as `plots/roc.png` and return it.

    Rejects absolute paths, `.`/`..` parts, empty parts, backslashes, hidden names and any
    character outside letters, digits, `.`, `_` and `-`, so a name can never leave its folder.
    """
    if not isinstance(name, str) or not name:
        raise InvalidFileNameError(f"file name must be a non-empty string, got {name!r}")
    if name.startswith("/"):
        raise InvalidFileNameError(f"file name {name!r} is absolute; use a relative name")
    for part in name.split("/"):
        if part in ("", ".", "..") or not _NAME_PART.fullmatch(part):
            raise InvalidFileNameError(
                f"file name {name!r}: part {part!r} is not allowed (letters, digits, '.', '_',"
                " '-'; no empty, '.', '..' or hidden parts)"
            )
    return PurePosixPath(name)


def validate_file_names(names: Iterable[str]) -> None:
    """Validate every name, and that no name is also used as a folder by another name."""
    paths = [validate_relative_name(name) for name in names]
    folders = {str(parent) for path in paths for parent in path.parents if str(parent) != "."}
    clashes = sorted(str(path) for path in paths if str(path) in folders)
    if clashes:
        raise InvalidFileNameError(f"file names used both as file and folder: {clashes}")


def to_json_safe(value: Any, *, where: str = "value") -> Any:
    """Convert `value` to plain JSON types: numpy scalars/arrays to Python, tuples to lists,
    dates to ISO strings, paths to strings, NaN/inf to None. Raises TypeError naming the spot."""
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.generic):
        return to_json_safe(value.item(), where=where)
    if isinstance(value, np.ndarray):
        return to_json_safe(value.tolist(), where=where)
    if isinstance(value, Mapping):
        converted = {}
        for key, item in value.items():
            if isinstance(key, bool) or not isinstance(key, str | int | np.integer):
                raise TypeError(f"{where}: key {key!r} must be a string, got {type(key).__name__}")
            converted[str(key)] = to_json_safe(item, where=f"{where}.{key}")
        return converted
    if isinstance(value, list | tuple):
        return [to_json_safe(item, where=f"{where}[{i}]") for i, item in enumerate(value)]
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, PurePath):
        return str(value)
    raise TypeError(f"{where}: {type(value).__name__} is not JSON-serializable")


def json_bytes(value: Any, *, indent: int | None = 2) -> bytes:
    """Encode `value` as strict JSON (no NaN), keeping key order, UTF-8, newline-terminated."""
    safe = to_json_safe(value)
    separators = None if indent else (",", ":")
    text = json.dumps(safe, indent=indent, separators=separators, allow_nan=False)
    return (text + "\n").encode("utf-8")


def fsync_directory(path: Path) -> None:
    """Flush a folder's entries (a rename or a new file) to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_bytes_atomic(path: Path, data: bytes, *, sync_folder: bool = True) -> None:
    """Write `data` to `path`; readers see the old content or the new, never a part.

    `sync_folder=False` leaves the folder's fsync to the caller, who writes many files into one
    folder and syncs it once after the last.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), FILE_MODE)
            os.fsync(handle.fileno())
        os.replace(temp_name, path)
    except BaseException:
        with suppress(FileNotFoundError):
            os.unlink(temp_name)
        raise
    if sync_folder:
        fsync_directory(path.parent)


def write_json_atomic(path: Path, value: Any, *, sync_folder: bool = True) -> None:
    """Write `value` as JSON to `path` atomically (see `write_bytes_atomic`)."""
    write_bytes_atomic(path, json_bytes(value), sync_folder=sync_folder)


def append_line(path: Path, line: bytes) -> None:
    """Append one newline-terminated record with a single write and fsync it.

    Callers serialize appends (for example with a file lock); a single `write` on an O_APPEND
    descriptor keeps each record contiguous.
    """
    if not line.endswith(b"\n") or b"\n" in line[:-1]:
        raise ValueError("append_line expects exactly one newline-terminated line")
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, FILE_MODE)
    try:
        os.write(fd, line)
        os.fsync(fd)
    finally:
        os.close(fd)


@contextmanager
def staged_directory(parent: Path, files: Mapping[str, bytes]) -> Iterator[Path]:
    """Write `files` into a hidden temporary folder inside `parent` and yield it.

    Move it into place with `publish_directory`; whatever is left at exit is removed.
    """
    if not files:
        raise ValueError("a staged directory needs at least one file")
    validate_file_names(list(files))
    parent = Path(parent)
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=parent))
    try:
        os.chmod(staging, DIRECTORY_MODE)
        folders = {staging}
        for name, data in files.items():
            if not isinstance(data, bytes | bytearray | memoryview):
                raise TypeError(f"content of {name!r} must be bytes, got {type(data).__name__}")
            target = staging / name
            target.parent.mkdir(mode=DIRECTORY_MODE, parents=True, exist_ok=True)
            folders.add(target.parent)
            with open(target, "xb") as handle:
                handle.write(data)
                handle.flush()
                os.fchmod(handle.fileno(), FILE_MODE)
                os.fsync(handle.fileno())
        for folder in folders:
            fsync_directory(folder)
        yield staging
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


def publish_directory(staging: Path, target: Path) -> None:
    """Rename a staged folder to `target` in one step; FileExistsError if `target` exists.

    A rename onto an existing non-empty folder fails atomically, so two writers racing for the
    same target cannot both succeed (staged folders always hold at least one file).
    """
    target = Path(target)
    if target.exists():
        raise FileExistsError(errno.EEXIST, "target already exists", str(target))
    try:
        os.rename(staging, target)
    except OSError as error:
        if error.errno in (errno.EEXIST, errno.ENOTEMPTY):
            raise FileExistsError(errno.EEXIST, "target already exists", str(target)) from error
        raise
    fsync_directory(target.parent)


def write_directory_atomic(target: Path, files: Mapping[str, bytes]) -> None:
    """Create folder `target` holding `files` (relative name -> bytes), all or nothing."""
    target = Path(target)
    with staged_directory(target.parent, files) as staging:
        publish_directory(staging, target)
