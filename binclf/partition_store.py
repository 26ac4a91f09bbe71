"""Parquet files per asset and daily partition, written atomically under one root.

Keys must be plain ISO dates, so no key can name a path outside the root. A partition is
written to a temporary file, flushed to disk and renamed into place: a reader sees the old file
or the new one, never half of either.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Iterable
from pathlib import Path

import polars as pl

from binclf.atomic import FILE_MODE, fsync_directory
from binclf.sources import partition_day

UNPARTITIONED = "data"
_ASSET_NAME = re.compile(r"^[A-Za-z0-9_]+$")


class MissingPartitionsError(FileNotFoundError):
    """Partitions that were asked for but were never written."""


class PartitionStore:
    """Parquet storage of asset values, one file per daily partition."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    def path(self, asset: str, partition_key: str | None = None) -> Path:
        """Where an asset's partition (or its only value) lives."""
        if not _ASSET_NAME.match(asset):
            raise ValueError(f"asset name {asset!r} is not a plain identifier")
        name = UNPARTITIONED if partition_key is None else partition_day(partition_key).isoformat()
        return self.root / asset / f"{name}.parquet"

    def write(self, asset: str, frame: pl.DataFrame, partition_key: str | None = None) -> Path:
        """Replace one partition atomically; other partitions are untouched."""
        target = self.path(asset, partition_key)
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=f".{target.stem}.", suffix=".tmp")
        os.close(fd)
        try:
            frame.write_parquet(tmp)
            with open(tmp, "rb+") as handle:
                os.fchmod(handle.fileno(), FILE_MODE)
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        fsync_directory(target.parent)
        return target

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
