"""Champion against challenger: score both on the same test rows, decide, record, promote.

The decision is a record (gates with values and thresholds, the paired comparison with its
interval, the decision and reason codes) stored with the challenger, and the champion pointer
moves by compare-and-set in the same registry transaction as the winning decision record, so a
promotion that raced another one loses cleanly and no promotion is left without its decision.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from binclf.register.comparison import (
    decide_promotion,
    metric_value,
    paired_bootstrap_difference,
)
from binclf.register.gates import GateResult
from binclf.register.headline import ComparedModels, promotion_headline
from binclf.register.loading import CARD_FILE, load_version
from binclf.register.registry import Registry
from binclf.register.unseen_rows import (
    TRAINED_ROWS_FILE,
    ComparisonRows,
    fitted_until_from_card,
)
from binclf.stats.plots import plot_precision_recall, plot_reliability, plot_roc


@dataclass(frozen=True)
class ScoredPair:
    """The challenger's and the champion's probabilities on the same test rows."""

    challenger: str
    champion: str | None
    p_challenger: np.ndarray
    p_champion: np.ndarray | None

    def subset(self, mask: np.ndarray) -> ScoredPair:
        """The same two models on the rows `mask` selects."""
        champion = None if self.p_champion is None else self.p_champion[mask]
        return ScoredPair(self.challenger, self.champion, self.p_challenger[mask], champion)

    def curves(self) -> dict[str, np.ndarray]:
        """Probabilities by legend label, challenger first."""
        curves = {f"{self.challenger} (challenger)": self.p_challenger}
        if self.p_champion is not None:
            curves[f"{self.champion} (champion)"] = self.p_champion
        return curves


def score_pair(registry: Registry, dataset: str, challenger: str, test: pl.DataFrame) -> ScoredPair:
    """Score the test rows with the challenger and with the current champion, if there is one."""
    champion = registry.champion(dataset)
    p_champion = None
    if champion is not None:
        p_champion = load_version(registry, dataset, champion).bundle.probabilities(test)
    return ScoredPair(
        challenger,
        champion,
        load_version(registry, dataset, challenger).bundle.probabilities(test),
        p_champion,
    )


def comparison_plots(pair: ScoredPair, y: np.ndarray) -> dict[str, bytes]:
    """Both models' ROC, precision-recall and reliability curves, overlaid on the same rows."""
    curves = pair.curves()
    return {
        "roc": plot_roc(y, curves, title="ROC on the shared test rows"),
        "precision_recall": plot_precision_recall(
            y, curves, title="Precision-recall on the shared test rows"
        ),
        "reliability": plot_reliability(y, curves, title="Reliability on the shared test rows"),
    }


def _comparison_rows(
    registry: Registry,
    dataset: str,
    champion: str | None,
    n_rows: int,
    unseen_rows: Callable[[bytes | None], ComparisonRows] | None,
) -> ComparisonRows:
    """The rows both models are compared on: those the champion never saw, when asked."""
    if champion is None or unseen_rows is None:
        return ComparisonRows(np.ones(n_rows, dtype=bool))
    recorded = registry.manifest(dataset, champion)["files"]
    if TRAINED_ROWS_FILE in recorded:
        return unseen_rows(
            registry.open_files(dataset, champion, names=[TRAINED_ROWS_FILE])[TRAINED_ROWS_FILE]
        )
    # Registered before the file existed: a time-partitioned champion's card has its window.
    if CARD_FILE not in recorded:
        return unseen_rows(None)
    card = json.loads(registry.open_files(dataset, champion, names=[CARD_FILE])[CARD_FILE])
    return unseen_rows(fitted_until_from_card(card))


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
    window: tuple[date, date] | None = None,
    scored: ScoredPair | None = None,
) -> dict[str, Any]:
    """Decide on `challenger` against the current champion and move the pointer if it wins.

    `weights` (the spec's row weights) weight the compared metric; with `clusters` (the day of
    each row) the paired resamples draw whole days. `unseen_rows`, given the champion's recorded
    training keys (None when it has none), picks the rows the champion never saw or refuses the
    comparison (`binclf.register.unseen_rows`); without it every test row is compared.
    `scored` is `score_pair(...)` of the test rows when the caller already has it; `window` is
    the first and last day of the test rows, for the headline.
    """
    pair = scored or score_pair(registry, dataset, challenger, test)
    champion = pair.champion
    rows = _comparison_rows(registry, dataset, champion, len(y), unseen_rows)
    mask = rows.mask if rows.mask is not None else np.ones(len(y), dtype=bool)
    shared, y_shared = pair.subset(mask), y[mask]
    w_shared = None if weights is None else weights[mask]
    comparison = champion_value = None
    if shared.p_champion is not None and rows.mask is not None:
        comparison = paired_bootstrap_difference(
            y_shared,
            shared.p_challenger,
            shared.p_champion,
            metric=metric,
            n_boot=n_boot,
            seed=seed,
            weights=w_shared,
            clusters=None if clusters is None else clusters[mask],
        )
        champion_value = metric_value(y_shared, shared.p_champion, metric=metric, weights=w_shared)
    decision = decide_promotion(
        gates,
        comparison,
        margin=margin,
        require_improvement=require_improvement,
        refusal=rows.refusal if champion is not None else None,
    )
    compared = ComparedModels(
        challenger=challenger,
        champion=champion,
        metric=metric,
        challenger_value=metric_value(
            y_shared, shared.p_challenger, metric=metric, weights=w_shared
        ),
        champion_value=champion_value,
        rows=int(mask.sum()),
        window=window,
    )
    record = {
        **decision.to_dict(),
        "promote": decision.promote,
        "reason_codes": list(decision.reasons),
        "version": challenger,
        "champion_before": champion,
        "metric": metric,
        "test_rows": len(y),
        "compared_rows": 0 if comparison is None else int(mask.sum()),
        "rows_seen_by_champion": rows.left_out,
        "challenger_value": compared.challenger_value,
        "champion_value": compared.champion_value,
        "test_window": None if window is None else [d.isoformat() for d in window],
        "headline": promotion_headline(decision, compared),
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
        record = {
            **record,
            "promote": False,
            "reason_codes": ["LOST_RACE"],
            "headline": f"REJECT {challenger}: another promotion moved the champion first",
        }
    registry.record_decision(dataset, challenger, record)
    return record
