"""Seeded bootstrap resampling shared by every interval binclf reports.

Resamples draw rows with replacement (optionally within strata, which fixes each stratum's size),
or whole clusters such as days (a block bootstrap, for rows that are not independent).
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


def _index_type(n: int) -> type[np.signedinteger]:
    # 32-bit draws and indices are two to three times faster than 64-bit ones.
    return np.int32 if n < 2**31 else np.int64


def _strata_groups(n: int, strata: np.ndarray | None) -> list[np.ndarray]:
    """Row indices of each stratum (all rows when there are no strata)."""
    if strata is None:
        return [np.arange(n, dtype=_index_type(n))]
    _, codes = np.unique(np.asarray(strata), return_inverse=True)
    return [np.flatnonzero(codes == code).astype(_index_type(n)) for code in range(codes.max() + 1)]


def _group_draws(groups: list[np.ndarray], n_boot: int, seed: int) -> Iterator[list[np.ndarray]]:
    """For each resample, positions drawn with replacement within each group."""
    index_type = _index_type(sum(len(group) for group in groups))
    rng = np.random.default_rng(seed)
    for _ in range(n_boot):
        yield [rng.integers(0, len(group), len(group), dtype=index_type) for group in groups]


def iter_bootstrap_indices(
    n: int, n_boot: int, seed: int, strata: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """Row indices of each of `n_boot` resamples of `n` rows, one resample (shape (n,)) at a time.

    With `strata`, rows are drawn with replacement within each stratum, so every resample has
    as many rows of each stratum as the data.
    """
    _check_sizes(n, n_boot, strata)
    return _resamples(_strata_groups(n, strata), n_boot, seed)


def _resamples(groups: list[np.ndarray], n_boot: int, seed: int) -> Iterator[np.ndarray]:
    """The entries of `groups` that each resample draws, one resample at a time."""
    for draws in _group_draws(groups, n_boot, seed):
        yield np.concatenate([group[draw] for group, draw in zip(groups, draws, strict=True)])


def bootstrap_indices(
    n: int, n_boot: int, seed: int, strata: np.ndarray | None = None
) -> np.ndarray:
    """Row indices of `n_boot` resamples of `n` rows, shape (n_boot, n); see
    `iter_bootstrap_indices`, which yields the same resamples without holding them all."""
    return np.stack(list(iter_bootstrap_indices(n, n_boot, seed, strata)))


def bootstrap_weighted_means(
    values: np.ndarray,
    n_boot: int,
    seed: int,
    strata: np.ndarray | None = None,
    *,
    weights: np.ndarray | None = None,
) -> np.ndarray:
    """Weighted mean of `values` in each resample, shape (n_boot,).

    The same resamples as `iter_bootstrap_indices`, without building the full index arrays:
    the fast path for a per-row statistic such as a cost on a million rows.
    """
    values = np.asarray(values, dtype=np.float64)
    w = np.ones_like(values) if weights is None else np.asarray(weights, dtype=np.float64)
    _check_sizes(len(values), n_boot, strata)
    if w.shape != values.shape:
        raise BootstrapError(f"weights has shape {w.shape}, values has {values.shape}")
    groups = _strata_groups(len(values), strata)
    group_weighted = [(w * values)[group] for group in groups]
    group_weights = [w[group] for group in groups]
    means = np.empty(n_boot)
    for replicate, draws in enumerate(_group_draws(groups, n_boot, seed)):
        parts = zip(group_weighted, group_weights, draws, strict=True)
        sums = np.array([(np.sum(gv[d]), np.sum(gw[d])) for gv, gw, d in parts]).sum(axis=0)
        means[replicate] = sums[0] / sums[1] if sums[1] > 0 else np.nan
    return means


def iter_bootstrap_counts(
    n: int,
    n_boot: int,
    seed: int,
    strata: np.ndarray | None = None,
    *,
    order: np.ndarray | None = None,
) -> Iterator[np.ndarray]:
    """How often each row occurs in each resample, in blocks of shape (replicates, n).

    The same resamples as `iter_bootstrap_indices`, as float64 counts so that a weighted
    statistic of every replicate in a block is one matrix product. Blocks stay small whatever
    `n` is. With `order` (a permutation of the rows), column j counts row `order[j]`: the
    counts come already arranged, e.g. by score, at no extra cost per replicate.
    """
    _check_sizes(n, n_boot, strata)
    groups = _strata_groups(n, strata)
    if order is not None:
        if np.shape(order) != (n,):
            raise BootstrapError(f"order must be a permutation of the {n} rows")
        # Map each row to its column, once: the draws then land in `order` directly.
        column = np.empty(n, dtype=_index_type(n))
        column[np.asarray(order)] = np.arange(n, dtype=_index_type(n))
        groups = [column[group] for group in groups]
    block_size = max(1, min(n_boot, _BLOCK_CELLS // n))
    return _count_blocks(n, _resamples(groups, n_boot, seed), block_size=block_size)


def iter_cluster_counts(
    clusters: np.ndarray, n_boot: int, seed: int, *, order: np.ndarray | None = None
) -> Iterator[np.ndarray]:
    """Counts per row of a block bootstrap: whole clusters (e.g. days) are drawn with replacement.

    Rows of one day share that day's conditions, so they are not independent; resampling days
    keeps their dependence inside every replicate and the interval reflects day-to-day variation.
    Blocks of shape (replicates, n), arranged by `order` as in `iter_bootstrap_counts`.
    """
    codes = np.unique(np.asarray(clusters), return_inverse=True)[1].ravel()
    n = len(codes)
    _check_sizes(n, n_boot, None)
    if order is not None:
        if np.shape(order) != (n,):
            raise BootstrapError(f"order must be a permutation of the {n} rows")
        codes = codes[np.asarray(order)]
    n_clusters = int(codes.max()) + 1
    rng = np.random.default_rng(seed)
    block_size = max(1, min(n_boot, _BLOCK_CELLS // n))
    for start in range(0, n_boot, block_size):
        size = min(block_size, n_boot - start)
        draws = rng.integers(0, n_clusters, (size, n_clusters))
        multiplicity = np.stack([np.bincount(d, minlength=n_clusters) for d in draws])
        yield multiplicity[:, codes].astype(np.float64)


def _count_blocks(
    n: int, resamples: Iterator[np.ndarray], *, block_size: int
) -> Iterator[np.ndarray]:
    block: list[np.ndarray] = []
    for indices in resamples:
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
