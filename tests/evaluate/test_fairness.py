import json

import numpy as np
import polars as pl
import pytest
from fairlearn.metrics import (
    demographic_parity_difference,
    demographic_parity_ratio,
    equal_opportunity_difference,
    equalized_odds_difference,
)
from sklearn.metrics import precision_score, recall_score

from binclf.evaluate.fairness import DISPARITIES, FairnessError, fairness_report
from binclf.stats.metrics import expected_calibration_error


def simulate(rng, n: int, tpr: list[float], fpr: list[float], *, prevalence: float = 0.2):
    """Decisions with a known TPR and FPR per group; p lands on the decided side of 0.5."""
    group = rng.integers(0, len(tpr), n)
    y = (rng.random(n) < prevalence).astype(np.int8)
    flagged = rng.random(n) < np.where(y == 1, np.array(tpr)[group], np.array(fpr)[group])
    p = np.where(flagged, 0.7, 0.3) + rng.uniform(-0.19, 0.19, n)
    return y, p, pl.Series("age_group", np.array(["a", "b", "c"])[group])


def groups_of(report):
    return {row["group"]: row for row in report["groups"]}


def test_point_values_match_fairlearn_and_sklearn_on_the_rows():
    rng = np.random.default_rng(0)
    y, p, sensitive = simulate(rng, 3_000, [0.8, 0.6, 0.7], [0.1, 0.2, 0.1])
    p = np.clip(p + rng.normal(0, 0.1, len(p)), 0, 1)
    report = fairness_report(y, p, sensitive, threshold=0.5, n_boot=20)
    flagged = p >= 0.5
    s = sensitive.to_numpy()
    expected = {
        "demographic_parity_difference": demographic_parity_difference(
            y, flagged, sensitive_features=s
        ),
        "demographic_parity_ratio": demographic_parity_ratio(y, flagged, sensitive_features=s),
        "equalized_odds_difference": equalized_odds_difference(y, flagged, sensitive_features=s),
        "equal_opportunity_difference": equal_opportunity_difference(
            y, flagged, sensitive_features=s
        ),
        "disparate_impact_ratio": demographic_parity_ratio(y, flagged, sensitive_features=s),
    }
    for name in DISPARITIES:
        assert report["disparities"][name]["value"] == pytest.approx(expected[name])
    for label, row in groups_of(report).items():
        mask = s == label
        yg, fg = y[mask], flagged[mask]
        assert row["selection_rate"]["value"] == pytest.approx(fg.mean())
        assert row["tpr"]["value"] == pytest.approx(recall_score(yg, fg))
        assert row["fnr"]["value"] == pytest.approx(1 - recall_score(yg, fg))
        assert row["fpr"]["value"] == pytest.approx(fg[yg == 0].mean())
        assert row["precision"]["value"] == pytest.approx(precision_score(yg, fg))
        assert row["ece"]["value"] == pytest.approx(
            expected_calibration_error(yg, p[mask], debiased=True)
        )
    assert report["attribute"] == "age_group"
    json.dumps(report, allow_nan=False)


def test_planted_disparity_is_detected_by_value_and_interval():
    """b's TPR is 0.45 against a's 0.8 (a 0.35 gap), its FPR 0.05 against 0.1: DI ratio ~0.54."""
    rng = np.random.default_rng(1)
    for seed in range(5):
        y, p, sensitive = simulate(rng, 3_000, [0.8, 0.45], [0.1, 0.05])
        report = fairness_report(y, p, sensitive, threshold=0.5, n_boot=200, seed=seed)
        d = report["disparities"]
        for name in ("equalized_odds_difference", "equal_opportunity_difference"):
            assert d[name]["ci_low"] > 0
            assert d[name]["ci_low"] <= 0.35 <= d[name]["ci_high"]
        assert d["demographic_parity_difference"]["ci_low"] > 0
        assert d["disparate_impact_ratio"]["ci_high"] < 1
        assert report["four_fifths_violated"] is True


def test_no_disparity_is_not_detected_beyond_the_nominal_rate():
    """Equal groups: the interval of a disparity should exclude 0 only ~alpha of the time."""
    rng = np.random.default_rng(2)
    detected = {"equalized_odds_difference": 0, "demographic_parity_difference": 0}
    four_fifths = 0
    for seed in range(20):
        y, p, sensitive = simulate(rng, 2_000, [0.7, 0.7], [0.1, 0.1])
        report = fairness_report(y, p, sensitive, threshold=0.5, n_boot=200, seed=seed)
        for name in detected:
            detected[name] += report["disparities"][name]["ci_low"] > 0
        four_fifths += report["four_fifths_violated"]
    # At alpha = 0.05, 5 or more of 20 has probability below 1 %.
    assert all(count <= 4 for count in detected.values()), detected
    assert four_fifths == 0


def test_small_groups_are_listed_but_left_out_of_disparities():
    rng = np.random.default_rng(3)
    y, p, sensitive = simulate(rng, 2_000, [0.8, 0.6], [0.1, 0.1])
    tiny = pl.Series("age_group", ["c"] * 40)
    y_all = np.r_[y, np.tile([1, 0], 20)].astype(np.int8)
    p_all = np.r_[p, np.full(40, 0.1)]  # group c: recall 0, the worst gap if it were compared
    report = fairness_report(y_all, p_all, pl.concat([sensitive, tiny]), threshold=0.5, n_boot=20)
    rows = groups_of(report)
    assert rows["c"]["small"] and not rows["c"]["compared"]
    assert rows["c"]["tpr"]["value"] == 0.0
    assert report["compared_groups"] == ["a", "b"]
    s, flagged = sensitive.to_numpy(), p >= 0.5
    assert report["disparities"]["equalized_odds_difference"]["value"] == pytest.approx(
        equalized_odds_difference(y, flagged, sensitive_features=s)
    )


def test_fewer_than_two_comparable_groups_give_no_disparities():
    y = np.r_[np.tile([1, 0, 0, 0], 50), np.zeros(150)].astype(np.int8)
    p = np.r_[np.tile([0.9, 0.1, 0.6, 0.2], 50), np.full(150, 0.3)]
    sensitive = np.array(["a"] * 200 + ["b"] * 150)  # b has no positives
    report = fairness_report(y, p, sensitive, threshold=0.5, n_boot=20)
    assert report["attribute"] is None
    assert report["compared_groups"] == ["a"]
    assert report["disparities"] == dict.fromkeys(DISPARITIES)
    assert report["four_fifths_violated"] is None
    assert groups_of(report)["b"]["tpr"] is None
    json.dumps(report, allow_nan=False)


def test_numpy_and_polars_sensitive_values_give_the_same_report():
    rng = np.random.default_rng(4)
    y, p, sensitive = simulate(rng, 1_000, [0.8, 0.6], [0.1, 0.2])
    from_polars = fairness_report(y, p, sensitive, threshold=0.5, n_boot=30, seed=3)
    from_numpy = fairness_report(y, p, sensitive.to_numpy(), threshold=0.5, n_boot=30, seed=3)
    assert {**from_polars, "attribute": None} == from_numpy


def test_bad_input_is_rejected_with_a_clear_error():
    y, p = np.array([0, 1, 0], dtype=np.int8), np.array([0.1, 0.9, 0.4])
    with pytest.raises(FairnessError, match="sensitive has 2 values but y has 3"):
        fairness_report(y, p, np.array(["a", "b"]), threshold=0.5)
    with pytest.raises(FairnessError, match="min_group_size must be at least 1"):
        fairness_report(y, p, np.array(["a", "b", "a"]), threshold=0.5, min_group_size=0)
    with pytest.raises(FairnessError, match="threshold must be finite"):
        fairness_report(y, p, np.array(["a", "b", "a"]), threshold=float("nan"))
