"""Stable keys of rows: which rows a model version trained on, and where a row's split falls.

A row's key is a 64-bit hash of its `id_column` value, or of all its values when the spec has no
id (identical rows share a key). Keys do not depend on the frame a row sits in, so a snapshot
split by key keeps a row in its split when the frame grows, and a version can record the keys of
the rows it was fitted, validated and calibrated on for a later comparison to leave out.
"""

from __future__ import annotations

import hashlib

import numpy as np
import polars as pl

from binclf.spec import DatasetSpec
from binclf.train.features import SPLIT_COLUMN

_NULL = "\x00"  # a missing value, distinct from any text
_SEPARATOR = "\x1f"
_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def key_name(frame: pl.DataFrame, spec: DatasetSpec) -> str:
    """What the keys hash: `id:<column>`, or `row:<digest of the column names>`.

    Keys of two frames are comparable only when their names are equal: a column added to a
    frame without ids changes every row's key.
    """
    if spec.id_column:
        return f"id:{spec.id_column}"
    columns = sorted(c for c in frame.columns if c != SPLIT_COLUMN)
    digest = hashlib.sha256(_SEPARATOR.join(columns).encode()).hexdigest()[:16]
    return f"row:{digest}"


def row_keys(frame: pl.DataFrame, spec: DatasetSpec) -> np.ndarray:
    """The uint64 key of every row of `frame` (see `key_name`)."""
    if spec.id_column:
        columns = [spec.id_column]
    else:
        columns = sorted(c for c in frame.columns if c != SPLIT_COLUMN)
    text = frame.select(
        pl.concat_str(
            [pl.col(c).cast(pl.String).fill_null(_NULL) for c in columns], separator=_SEPARATOR
        )
    ).to_series()
    digests = b"".join(
        hashlib.blake2b(value.encode(), digest_size=8).digest() for value in text.to_list()
    )
    return np.frombuffer(digests, dtype="<u8").copy()


def key_positions(keys: np.ndarray, seed: int) -> np.ndarray:
    """Each key mapped to [0, 1) by a seeded mix (splitmix64): the order a split cuts in."""
    with np.errstate(over="ignore"):
        z = (keys ^ np.uint64(seed * 0x9E3779B97F4A7C15 & 0xFFFFFFFFFFFFFFFF)) & _MASK64
        z = z + np.uint64(0x9E3779B97F4A7C15)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(2**53)
