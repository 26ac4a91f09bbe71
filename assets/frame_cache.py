"""The frame a step just wrote, kept for the steps after it in the same run and process.

Six training steps read `training_splits` back; in one process they get the frame the step wrote
instead of decoding its Parquet file six times. The file stays the truth: the kept frame is
handed out only while its file is the one written (same inode, size and modification time, and
the same SHA-256 of its last 64 KiB, where Parquet keeps the schema and every column chunk's
offsets and statistics); otherwise the reader reads the file. Only the newest frame is kept, and
only one of at most `MAX_KEPT_BYTES`: it may outlive its run where one process runs several (the
demo, the benchmark), and a larger frame costs little to read next to the work done on it.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

import polars as pl

FOOTER_BYTES = 1 << 16
MAX_KEPT_BYTES = 256 * 1024**2


@dataclass(frozen=True)
class FileStamp:
    """What identifies one written version of a file."""

    inode: int
    size: int
    mtime_ns: int
    footer_sha256: str

    @classmethod
    def of(cls, path: Path) -> FileStamp:
        with path.open("rb") as file:
            stat = path.stat()
            file.seek(max(0, stat.st_size - FOOTER_BYTES))
            footer = hashlib.sha256(file.read()).hexdigest()
        return cls(stat.st_ino, stat.st_size, stat.st_mtime_ns, footer)


class LastWrittenFrame:
    """The newest frame written to a file by this process, with that file's stamp."""

    def __init__(self) -> None:
        self._path: Path | None = None
        self._stamp: FileStamp | None = None
        self._frame: pl.DataFrame | None = None

    def remember(self, path: Path, frame: pl.DataFrame) -> None:
        """Keep `frame`, just written to `path`, if it is small enough; forget any frame before."""
        self.forget()
        if frame.estimated_size() <= MAX_KEPT_BYTES:
            self._path, self._stamp, self._frame = path.resolve(), FileStamp.of(path), frame

    def recall(self, path: Path) -> pl.DataFrame | None:
        """The kept frame if `path` is still the file it was written to, else None."""
        if self._frame is None or self._path != path.resolve():
            return None
        try:
            unchanged = FileStamp.of(path) == self._stamp
        except OSError:
            unchanged = False
        if not unchanged:
            self.forget()
            return None
        return self._frame.clone()  # a reader's in-place edit never reaches the kept frame

    def forget(self) -> None:
        self._path = self._stamp = self._frame = None
