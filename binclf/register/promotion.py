"""Champion against challenger: score both on the same test rows, decide, record, promote.

The decision is a record (gates with values and thresholds, the paired comparison with its
interval, the decision and reason codes) stored with the challenger, and the champion pointer
moves by compare-and-set in the same registry transaction as the winning decision record, so a
promotion that raced another one loses cleanly and no promotion is left without its decision.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import polars as pl

from binclf.register.comparison import decide_promotion, paired_bootstrap_difference
from binclf.register.gates import GateResult
from binclf.register.loading import load_version
from binclf.register.registry import Registry
from binclf.register.unseen_rows import TRAINED_ROWS_FILE, ComparisonRows


def challenge_champion(
    registry: Registry,
    dataset: str,
    challenger: str,
    test: pl.DataFrame,
    y: np.ndarray,
    *,
    gates: list[GateResult],
    metric: str = "pr_auc",
    margin: float = 0.0,
    require_improvement: bool = False,
    n_boot: int = 500,
    seed: int = 0,
    weights: np.ndarray | None = None,
    clusters: np.ndarray | None = None,
    unseen_rows: Callable[[bytes | None], ComparisonRows] | None = None,
) -> dict[str, Any]:
    """Decide on `challenger` against the current champion and move the pointer if it wins.

    `weights` (the spec's row weights) weight the compared metric; with `clusters` (the day of
    each row) the paired resamples draw whole days. `unseen_rows`, given the champion's recorded
    training keys (None when it has none), picks the rows the champion never saw or refuses the
    comparison (`binclf.register.unseen_rows`); without it every test row is compared.
    """
    champion = registry.champion(dataset)
    comparison, rows = None, ComparisonRows(np.ones(len(y), dtype=bool))
    if champion is not None and unseen_rows is not None:
        recorded = registry.manifest(dataset, champion)["files"]
        keys = (
            registry.open_files(dataset, champion, names=[TRAINED_ROWS_FILE])[TRAINED_ROWS_FILE]
            if TRAINED_ROWS_FILE in recorded
            else None
        )
        rows = unseen_rows(keys)
    if champion is not None and rows.mask is not None:
        mask = rows.mask
        compared = test.filter(pl.Series(mask))
        p_challenger = load_version(registry, dataset, challenger).bundle.probabilities(compared)
        p_champion = load_version(registry, dataset, champion).bundle.probabilities(compared)
        comparison = paired_bootstrap_difference(
            y[mask],
            p_challenger,
            p_champion,
            metric=metric,
            n_boot=n_boot,
            seed=seed,
            weights=None if weights is None else weights[mask],
            clusters=None if clusters is None else clusters[mask],
        )
    decision = decide_promotion(
        gates,
        comparison,
        margin=margin,
        require_improvement=require_improvement,
        refusal=rows.refusal if champion is not None else None,
    )
    record = {
        **decision.to_dict(),
        "promote": decision.promote,
        "reason_codes": list(decision.reasons),
        "version": challenger,
        "champion_before": champion,
        "metric": metric,
        "test_rows": len(y),
        "compared_rows": 0 if comparison is None or rows.mask is None else int(rows.mask.sum()),
        "rows_seen_by_champion": rows.left_out,
    }
    if decision.promote:
        moved = registry.promote(
            dataset,
            challenger,
            expected_champion=champion,
            reason="passed every gate and the comparison: " + ", ".join(decision.reasons),
            decision=record,
        )
        if moved:
            return record  # the promotion recorded this decision with the pointer move
        record = {**record, "promote": False, "reason_codes": ["LOST_RACE"]}
    registry.record_decision(dataset, challenger, record)
    return record
