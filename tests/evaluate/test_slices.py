import json

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import precision_score, recall_score, roc_auc_score

from binclf.evaluate.slices import (
    SLICE_METRICS,
    SliceError,
    slice_metrics,
    slice_table,
)
from binclf.stats.bootstrap import bootstrap_indices, percentile_interval
from binclf.stats.engine import bootstrap_group_sums
from binclf.stats.metrics import PredictionInputError
from binclf.stats.ranking import roc_auc_logit_interval


def scored_rows(n: int, seed: int) -> tuple[pl.DataFrame, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    channel = rng.choice(["web", "pos", "atm"], size=n, p=[0.5, 0.4, 0.1])
    y = (rng.random(n) < np.where(channel == "web", 0.3, 0.15)).astype(np.int8)
    p = np.clip(0.2 + 0.3 * y + rng.normal(0, 0.15, n), 0, 1).round(3)
    frame = pl.DataFrame({"channel": channel, "region": rng.choice(["n", "s"], size=n)})
    return frame, y, p


def by_group(rows, column):
    return {row["group"]: row for row in rows if row["column"] == column}


def test_point_values_match_sklearn_on_each_groups_rows():
    frame, y, p = scored_rows(2_000, seed=1)
    rows = by_group(
        slice_metrics(frame, y, p, threshold=0.4, columns=["channel"], n_boot=20, seed=0),
        "channel",
    )
    channel = frame["channel"].to_numpy()
    for group, row in rows.items():
        mask = channel == group
        yg, pg, flagged = y[mask], p[mask], p[mask] >= 0.4
        assert row["rows"] == mask.sum()
        assert row["positives"] == yg.sum()
        assert row["prevalence"]["value"] == pytest.approx(yg.mean())
        assert row["selection_rate"]["value"] == pytest.approx(flagged.mean())
        assert row["precision"]["value"] == pytest.approx(precision_score(yg, flagged))
        assert row["recall"]["value"] == pytest.approx(recall_score(yg, flagged))
        assert row["fpr"]["value"] == pytest.approx(flagged[yg == 0].mean())
        assert row["fnr"]["value"] == pytest.approx(1 - recall_score(yg, flagged))
        assert row["roc_auc"]["value"] == pytest.approx(roc_auc_score(yg, pg))


def test_vectorised_rate_intervals_equal_resampling_rows_and_recomputing():
    frame, y, p = scored_rows(600, seed=2)
    n_boot, seed, alpha = 50, 5, 0.1
    rows = by_group(
        slice_metrics(
            frame, y, p, threshold=0.4, columns=["channel"], n_boot=n_boot, seed=seed, alpha=alpha
        ),
        "channel",
    )
    channel = frame["channel"].to_numpy()
    for group in ("web", "atm"):
        recalls = []
        for idx in bootstrap_indices(len(y), n_boot, seed):
            mask = channel[idx] == group
            recalls.append(recall_score(y[idx][mask], p[idx][mask] >= 0.4))
        low, high = percentile_interval(np.array(recalls), alpha)
        assert rows[group]["recall"]["ci_low"] == pytest.approx(low)
        assert rows[group]["recall"]["ci_high"] == pytest.approx(high)
        # ROC-AUC: DeLong's interval on the logit scale of the group's own rows.
        mask = channel == group
        _, low, high = roc_auc_logit_interval(y[mask], p[mask], alpha=alpha)
        assert rows[group]["roc_auc"]["value"] == pytest.approx(roc_auc_score(y[mask], p[mask]))
        assert (rows[group]["roc_auc"]["ci_low"], rows[group]["roc_auc"]["ci_high"]) == (low, high)


def test_bootstrap_group_sums_equal_sums_over_resampled_rows():
    rng = np.random.default_rng(3)
    codes = rng.integers(0, 4, 300)
    values = rng.random((300, 2))
    sums = bootstrap_group_sums(codes, 5, values, n_boot=7, seed=11)
    for b, idx in enumerate(bootstrap_indices(300, 7, 11)):
        for code in range(5):
            expected = values[idx][codes[idx] == code].sum(axis=0)
            np.testing.assert_allclose(sums[b, code], expected)


def test_recall_and_fpr_intervals_cover_the_simulated_truth_at_nominal_rate():
    """Per-group TPR/FPR are set by simulation; 95 % intervals should cover them ~95 % of runs.

    50 simulated test sets x 4 groups x 2 metrics = 400 intervals.
    """
    true_tpr = np.array([0.8, 0.6, 0.7, 0.5])
    true_fpr = np.array([0.1, 0.2, 0.05, 0.15])
    rng = np.random.default_rng(20)
    covered, total = 0, 0
    for sim in range(50):
        n = 1_600
        group = rng.integers(0, 4, size=n)
        y = (rng.random(n) < 0.2).astype(np.int8)
        flagged = rng.random(n) < np.where(y == 1, true_tpr[group], true_fpr[group])
        p = np.where(flagged, 0.75, 0.25) + rng.uniform(-0.2, 0.2, n)
        rows = slice_metrics(
            pl.DataFrame({"g": group}),
            y,
            p,
            threshold=0.5,
            columns=["g"],
            score_deciles=False,
            n_boot=200,
            seed=sim,
        )
        for row in rows:
            for metric, truth in (("recall", true_tpr), ("fpr", true_fpr)):
                estimate = row[metric]
                covered += estimate["ci_low"] <= truth[int(row["group"])] <= estimate["ci_high"]
                total += 1
    coverage = covered / total
    print(f"coverage of 95 % slice intervals: {coverage:.3f} over {total}")
    assert total == 400
    assert 0.88 <= coverage <= 0.99, coverage


def test_small_groups_are_flagged_not_hidden_and_undefined_metrics_are_none():
    frame = pl.DataFrame({"segment": ["big"] * 200 + ["tiny"] * 5 + [None] * 20})
    y = np.r_[np.tile([1, 0, 0, 0], 50), np.zeros(5), np.tile([1, 0], 10)].astype(np.int8)
    p = np.r_[np.tile([0.9, 0.2, 0.6, 0.1], 50), np.full(5, 0.8), np.tile([0.7, 0.3], 10)]
    rows = by_group(
        slice_metrics(frame, y, p, threshold=0.5, columns=["segment"], min_size=50, n_boot=30),
        "segment",
    )
    assert set(rows) == {"big", "tiny", "<null>"}
    assert not rows["big"]["small"]
    assert rows["tiny"]["small"]
    assert rows["<null>"]["small"]
    assert rows["tiny"]["rows"] == 5
    # "tiny" has no positives: recall, FNR and ROC-AUC are undefined, not zero.
    assert rows["tiny"]["recall"] is None
    assert rows["tiny"]["fnr"] is None
    assert rows["tiny"]["roc_auc"] is None
    assert rows["tiny"]["fpr"]["value"] == 1.0
    json.dumps(list(rows.values()), allow_nan=False)


def test_score_deciles_split_rows_evenly_from_lowest_to_highest_score():
    frame, y, p = scored_rows(1_000, seed=4)
    rows = [
        row
        for row in slice_metrics(frame, y, p, threshold=0.4, n_boot=20)
        if row["kind"] == "score_decile"
    ]
    assert [row["group"][:3] for row in rows] == [f"d{k:02d}" for k in range(1, 11)]
    assert all(row["rows"] == 100 for row in rows)
    selection = [row["selection_rate"]["value"] for row in rows]
    assert selection == sorted(selection)
    assert selection[-1] == 1.0
    assert rows[0]["group"].startswith(f"d01 [{p.min():.3g},")


def test_kinds_columns_and_seeded_reproducibility():
    frame, y, p = scored_rows(800, seed=5)
    kwargs = {"threshold": 0.4, "columns": ["channel"], "sensitive": ["region"], "n_boot": 40}
    first = slice_metrics(frame, y, p, seed=1, **kwargs)
    assert first == slice_metrics(frame, y, p, seed=1, **kwargs)
    other = slice_metrics(frame, y, p, seed=2, **kwargs)
    assert first != other
    assert [r["selection_rate"]["value"] for r in first] == [
        r["selection_rate"]["value"] for r in other
    ]
    kinds = {(row["kind"], row["column"]) for row in first}
    assert kinds == {("slice", "channel"), ("sensitive", "region"), ("score_decile", "score")}


def test_slice_table_flattens_estimates():
    frame, y, p = scored_rows(500, seed=6)
    rows = slice_metrics(frame, y, p, threshold=0.4, columns=["channel"], n_boot=20)
    table = slice_table(rows)
    assert table.height == len(rows)
    for metric in SLICE_METRICS:
        assert {metric, f"{metric}_ci_low", f"{metric}_ci_high"} <= set(table.columns)
    web = table.filter(pl.col("group") == "web").row(0, named=True)
    web_row = by_group(rows, "channel")["web"]
    assert web["recall"] == web_row["recall"]["value"]
    assert web["recall_ci_high"] == web_row["recall"]["ci_high"]


def test_bad_input_is_rejected_with_a_clear_error():
    frame, y, p = scored_rows(100, seed=7)
    with pytest.raises(SliceError, match=r"\['nope'\] are not in frame_test"):
        slice_metrics(frame, y, p, threshold=0.5, columns=["nope"])
    with pytest.raises(SliceError, match="frame_test has 99 rows"):
        slice_metrics(frame.head(99), y, p, threshold=0.5)
    with pytest.raises(SliceError, match="min_size must be at least 1"):
        slice_metrics(frame, y, p, threshold=0.5, min_size=0)
    with pytest.raises(PredictionInputError, match="probabilities"):
        slice_metrics(frame, y, p + 2, threshold=0.5)
