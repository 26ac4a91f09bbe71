"""Parquet files per asset and daily partition, written atomically under one root.

Keys must be plain ISO dates, so no key can name a path outside the root. A partition is
written to a hidden temporary file, flushed to disk and renamed into place: a reader sees the old
file or the new one, never half of either. Files are never changed in place, so one file may be
hard-linked as the partition of two assets. `PartitionStore.staging` writes many partitions one
at a time and switches them into place all at once, only once all of them were written.

A partition can also be refused (its input failed validation): its value is removed and a marker
`<key>.refused.json` says why, so no reader finds an older value of a day that failed since.
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import Any

import polars as pl

from binclf.io.atomic import FILE_MODE, json_bytes
from binclf.io.switch import BeforeRename, Writer, recover, sweep
from binclf.partitions import partition_day

UNPARTITIONED = "data"
RUNS = "runs"
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]+$")
_SWEPT: set[Path] = set()
_ASSET_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class MissingPartitionsError(FileNotFoundError):
    """Partitions that were asked for but were never written."""


class PartitionStore:
    """Parquet storage of asset values, one file per daily partition."""

    def __init__(
        self, root: str | os.PathLike[str], writer_root: str | os.PathLike[str] | None = None
    ) -> None:
        self.root = Path(root)
        # Where writers claim their files: the root of the whole store, for a store of one run.
        self.writer_root = Path(writer_root or root)

    def for_run(self, run_id: str) -> PartitionStore:
        """The store of one run's own values, `<root>/runs/<run id>/`."""
        if not _RUN_ID.match(run_id):
            raise ValueError(f"run id {run_id!r} is not a plain identifier")
        return PartitionStore(self.root / RUNS / run_id, writer_root=self.writer_root)

    def prune_runs(self, keep: int, current: str) -> list[str]:
        """Remove the values of all but the newest `keep` runs (never `current`'s)."""
        folder = self.root / RUNS
        if not folder.is_dir():
            return []
        runs = sorted(folder.iterdir(), key=lambda p: p.stat().st_mtime_ns, reverse=True)
        old = [p for p in runs[keep:] if p.name != current and p.is_dir()]
        for path in old:
            shutil.rmtree(path, ignore_errors=True)
        return [p.name for p in old]

    @classmethod
    def open(cls, root: str | os.PathLike[str]) -> PartitionStore:
        """The store at `root`, after rolling back any switch a killed writer left half done.

        The first open of a root in a process also removes leftovers of killed writes.
        """
        store = cls(root)
        if store.root not in _SWEPT:
            sweep(store.root)
            _SWEPT.add(store.root)
        else:
            recover(store.root)
        return store

    def path(self, asset: str, partition_key: str | None = None) -> Path:
        """Where an asset's partition (or its only value) lives."""
        if not _ASSET_NAME.match(asset):
            raise ValueError(f"asset name {asset!r} is not a plain identifier")
        name = UNPARTITIONED if partition_key is None else partition_day(partition_key).isoformat()
        return self.root / asset / f"{name}.parquet"

    def json_path(self, asset: str, partition_key: str | None = None) -> Path:
        """Where an asset's partition (or its only value) lives when it is a JSON value."""
        return self.path(asset, partition_key).with_suffix(".json")

    def refused_path(self, asset: str, partition_key: str) -> Path:
        """The marker of a partition refused because its input failed validation."""
        return self.path(asset, partition_key).with_suffix(".refused.json")

    def is_refused(self, partition_key: str, asset: str | None = None) -> bool:
        """Whether the partition is refused for `asset` (or for any asset of the store)."""
        if asset is not None:
            return self.refused_path(asset, partition_key).is_file()
        name = f"{partition_day(partition_key).isoformat()}.refused.json"
        return any(self.root.glob(f"*/{name}"))

    def write(self, asset: str, frame: pl.DataFrame, partition_key: str | None = None) -> Path:
        """Replace one partition atomically; other partitions are untouched."""
        with self.staging() as staging:
            return staging.write(asset, frame, partition_key)

    def staging(self, before_rename: BeforeRename | None = None) -> Staging:
        """Partitions to write together: see `Staging`."""
        return Staging(self, before_rename)

    def exists(self, asset: str, partition_key: str | None = None) -> bool:
        return self.path(asset, partition_key).is_file()

    def keys(self, asset: str) -> list[str]:
        """The partition keys written for an asset, oldest first."""
        folder = self.root / asset
        if not folder.is_dir():
            return []
        return sorted(p.stem for p in folder.glob("*.parquet") if p.stem != UNPARTITIONED)

    def scan(self, asset: str, partition_keys: Iterable[str] | None = None) -> pl.LazyFrame:
        """A lazy scan over the named partitions (or the unpartitioned value)."""
        keys = list(partition_keys) if partition_keys is not None else [None]
        paths = [self.path(asset, key) for key in keys]
        missing = [str(k) for k, p in zip(keys, paths, strict=True) if not p.is_file()]
        if missing:
            raise MissingPartitionsError(
                f"asset {asset!r} has no stored value for partition(s) {', '.join(missing)}"
            )
        if not paths:
            raise MissingPartitionsError(f"asset {asset!r}: no partitions were asked for")
        return pl.scan_parquet([str(p) for p in paths])

    def read(self, asset: str, partition_key: str | None = None) -> pl.DataFrame:
        return self.scan(asset, None if partition_key is None else [partition_key]).collect()


# A hard link is impossible across file systems, on file systems without links, or past the
# link limit; the partition is then copied.
_NO_LINK = {errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP}


def _sync_file(path: Path) -> None:
    with open(path, "rb+") as handle:
        os.fchmod(handle.fileno(), FILE_MODE)
        os.fsync(handle.fileno())


@contextmanager
def _removed_on_failure(path: Path) -> Iterator[None]:
    """Delete `path` if the block fails, so no stray temporary file is left."""
    try:
        yield
    except BaseException:
        path.unlink(missing_ok=True)
        raise


class Staging:
    """Partitions staged as hidden temporary files, switched into place together.

    Use it as a context manager. Leaving the block normally switches every staged file over its
    partition all at once (see `binclf.io.switch`: a crash during the renames is rolled back
    when the store is next opened); leaving it by an exception removes the staged files, so a
    failure part way through a range replaces no partition at all.
    """

    def __init__(self, store: PartitionStore, before_rename: BeforeRename | None = None) -> None:
        self._store = store
        self._staged: list[tuple[Path, Path]] = []
        self._refused: list[tuple[str, str]] = []
        self._writer: Writer | None = None
        self._before_rename = before_rename

    def _temporary(self, target: Path) -> Path:
        if self._writer is None:
            self._writer = Writer(self._store.writer_root)
        return self._writer.temporary(target)

    def write(self, asset: str, frame: pl.DataFrame, partition_key: str | None = None) -> Path:
        """Stage a frame as a partition; return where it will live."""
        target = self._store.path(asset, partition_key)
        temporary = self._temporary(target)
        with _removed_on_failure(temporary):
            frame.write_parquet(temporary)
            _sync_file(temporary)
        self._staged.append((temporary, target))
        return target

    def write_json(self, asset: str, value: Any, partition_key: str | None = None) -> Path:
        """Stage a JSON value as a partition (`<key>.json`); return where it will live."""
        return self.write_json_file(self._store.json_path(asset, partition_key), value)

    def link(self, asset: str, source: str, partition_key: str) -> Path:
        """Stage the stored partition of asset `source` as the same partition of `asset`.

        The file is hard-linked, not rewritten (copied where links are impossible).
        """
        origin = self._store.path(source, partition_key)
        return self.link_file(origin, self._store.path(asset, partition_key))

    def link_file(self, origin: Path, target: Path) -> Path:
        """Stage file `origin` at `target`, hard-linked where possible, else copied."""
        temporary = self._temporary(target)
        try:
            os.link(origin, temporary)
        except OSError as error:
            if error.errno not in _NO_LINK:
                raise
            with _removed_on_failure(temporary):
                shutil.copyfile(origin, temporary)
                _sync_file(temporary)
        self._staged.append((temporary, target))
        return target

    def refuse(self, asset: str, partition_key: str, reason: str) -> Path:
        """Stage the refusal of a partition: its value goes, a marker with `reason` comes.

        The old value is removed at once (a value of a day that failed must not be read); the
        marker is switched in with the other staged files. A partition written later loses its
        marker.
        """
        for stale in (
            self._store.path(asset, partition_key),
            self._store.json_path(asset, partition_key),
        ):
            stale.unlink(missing_ok=True)
        self._refused.append((asset, partition_key))
        return self.write_json_file(
            self._store.refused_path(asset, partition_key), {"refused": reason}
        )

    def write_json_file(self, target: Path, value: Any) -> Path:
        """Stage a JSON value at `target`."""
        data = json_bytes(value)
        temporary = self._temporary(target)
        with _removed_on_failure(temporary), open(temporary, "xb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), FILE_MODE)
            os.fsync(handle.fileno())
        self._staged.append((temporary, target))
        return target

    def __enter__(self) -> Staging:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        staged, self._staged = self._staged, []
        refused, self._refused = set(self._refused), []
        writer, self._writer = self._writer, None
        if writer is None:
            return
        try:
            if kind is None:
                writer.commit(staged, self._before_rename)
        finally:
            writer.release()
        if kind is None:  # a value written now replaces a refusal of its partition
            for _, target in staged:
                asset, name = target.parent.name, target.name.split(".")[0]
                if name != UNPARTITIONED and (asset, name) not in refused:
                    (target.parent / f"{name}.refused.json").unlink(missing_ok=True)
