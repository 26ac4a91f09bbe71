"""Seeded bootstrap resampling shared by every interval binclf reports.

Resamples can be stratified (by class, typically) so that each resample keeps the size of every
stratum: a rare positive class is then present in every replicate and ranking metrics stay defined.
Resample `b` is the same whether it is taken as indices or as counts, so intervals computed by
different modules from the same `seed` and rows agree.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

# Upper bound on cells (replicates x rows) of one block of counts: ~32 MB of float64.
_BLOCK_CELLS = 4_000_000


class BootstrapError(ValueError):
    """Bootstrap parameters that cannot be used."""


def _check_sizes(n: int, n_boot: int, strata: np.ndarray | None) -> None:
    if n < 1:
        raise BootstrapError(f"n must be at least 1, got {n}")
    if n_boot < 1:
        raise BootstrapError(f"n_boot must be at least 1, got {n_boot}")
    if strata is not None and len(strata) != n:
        raise BootstrapError(f"strata has {len(strata)} values but n is {n}")


def _resamples(n: int, n_boot: int, seed: int, strata: np.ndarray | None) -> Iterator[np.ndarray]:
    """Yield the row indices of each resample, one replicate at a time."""
    if strata is None:
        groups = [np.arange(n)]
    else:
        _, codes = np.unique(np.asarray(strata), return_inverse=True)
        groups = [np.flatnonzero(codes == code) for code in range(codes.max() + 1)]
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield np.concatenate([group[rng.integers(0, len(group), len(group))] for group in groups])


def bootstrap_indices(
    n: int, n_boot: int, seed: int, strata: np.ndarray | None = None
) -> np.ndarray:
    """Row indices of `n_boot` resamples of `n` rows, shape (n_boot, n).

    With `strata`, rows are drawn with replacement within each stratum, so every resample has
    as many rows of each stratum as the data.
    """
    _check_sizes(n, n_boot, strata)
    return np.stack(list(_resamples(n, n_boot, seed, strata)))


def iter_bootstrap_counts(
    n: int, n_boot: int, seed: int, strata: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """How often each row occurs in each resample, in blocks of shape (replicates, n).

    The same resamples as `bootstrap_indices`, as float64 counts so that a weighted statistic of
    every replicate in a block is one matrix product. Blocks stay small whatever `n` is.
    """
    _check_sizes(n, n_boot, strata)
    return _count_blocks(n, n_boot, seed, strata, block_size=max(1, min(n_boot, _BLOCK_CELLS // n)))


def _count_blocks(
    n: int, n_boot: int, seed: int, strata: np.ndarray | None, *, block_size: int
) -> Iterator[np.ndarray]:
    block: list[np.ndarray] = []
    for indices in _resamples(n, n_boot, seed, strata):
        block.append(np.bincount(indices, minlength=n).astype(np.float64))
        if len(block) == block_size:
            yield np.stack(block)
            block = []
    if block:
        yield np.stack(block)


def percentile_interval(samples: np.ndarray, alpha: float) -> tuple[float, float]:
    """Two-sided (1 - alpha) percentile interval of replicate values.

    Replicates where the statistic is undefined (NaN) are left out; with none left the
    interval is (nan, nan).
    """
    if not 0.0 < alpha < 1.0:
        raise BootstrapError(f"alpha must be in (0, 1), got {alpha}")
    values = np.asarray(samples, dtype=np.float64).ravel()
    values = values[np.isfinite(values)]
    if values.size == 0:
        return float("nan"), float("nan")
    low, high = np.percentile(values, [100.0 * alpha / 2.0, 100.0 * (1.0 - alpha / 2.0)])
    return float(low), float(high)
