import json
from datetime import UTC, date, datetime, timedelta

import numpy as np
import polars as pl
import pytest
from sklearn.metrics import average_precision_score, precision_score, recall_score

from binclf.ingest.synthetic import LABEL_DELAY_MEDIAN_DAYS, NEVER_LABELED_SHARE, generate_day
from binclf.monitor.labels import LabelInputError, delayed_performance, label_status
from binclf.spec import SyntheticSource
from binclf.stats.metrics import expected_calibration_error

START = datetime(2026, 3, 1, tzinfo=UTC)


def scored_events(delays_hours: list[float | None], labels: list[int | None]) -> pl.DataFrame:
    """One event per hour from START; a None delay means the label is unknown."""
    n = len(labels)
    event_time = [START + timedelta(hours=i) for i in range(n)]
    label_time = [
        None if d is None else t + timedelta(hours=d)
        for t, d in zip(event_time, delays_hours, strict=True)
    ]
    rng = np.random.default_rng(n)
    probability = rng.random(n)
    return pl.DataFrame(
        {
            "event_time": event_time,
            "label_time": pl.Series(label_time, dtype=pl.Datetime("us", "UTC")),
            "is_fraud": pl.Series(labels, dtype=pl.Int8),
            "probability": probability,
            "decision": probability >= 0.5,
        }
    )


def status(frame: pl.DataFrame, as_of: datetime, **kwargs) -> dict:
    return label_status(
        frame,
        target="is_fraud",
        positive=1,
        time_column="event_time",
        label_time_column="label_time",
        as_of=as_of,
        **kwargs,
    )


def test_coverage_and_time_to_label_follow_the_label_times():
    delays = [2.0, 4.0, 6.0, 8.0, 100.0, None, None, None]
    labels = [1, 0, 0, 1, 0, None, None, None]
    frame = scored_events(delays, labels)
    # Rows 0-3 have labels by START + 12 h (label times 2, 5, 8, 11 h); row 4's arrives at 104 h.
    early = status(frame, START + timedelta(hours=12))
    assert early["n_rows"] == 8
    assert early["n_labeled"] == 4
    assert early["label_coverage"] == pytest.approx(0.5)
    assert early["time_to_label_hours"]["median"] == pytest.approx(5.0)
    assert early["time_to_label_hours"]["p90"] == pytest.approx(np.quantile([2, 4, 6, 8], 0.9))
    assert early["time_to_label_days"]["median"] == pytest.approx(5.0 / 24)
    # The oldest unlabeled row is row 4, one of them, at START + 4 h.
    assert early["oldest_unlabeled_age_hours"] == pytest.approx(8.0)
    late = status(frame, START + timedelta(hours=200))
    assert late["n_labeled"] == 5
    assert late["oldest_unlabeled_age_hours"] == pytest.approx(195.0)


def test_tolerated_share_skips_the_oldest_unlabeled_rows():
    unlabeled = {0, 4, 5, 8}
    frame = scored_events(
        [None if i in unlabeled else 1.0 for i in range(10)],
        [None if i in unlabeled else 0 for i in range(10)],
    )
    as_of = START + timedelta(hours=20)
    assert status(frame, as_of)["oldest_unlabeled_age_hours"] == pytest.approx(20.0)
    # 20 % of 10 rows: the two oldest unlabeled (hours 0 and 4) are tolerated; next is hour 5.
    tolerant = status(frame, as_of, tolerated_unlabeled_share=0.2)
    assert tolerant["oldest_unlabeled_age_hours"] == pytest.approx(15.0)
    assert status(frame, as_of, tolerated_unlabeled_share=0.5)["oldest_unlabeled_age_hours"] is None


def test_labels_arrived_since_a_moment_are_counted():
    frame = scored_events([1.0, 1.0, 1.0, 1.0], [0, 1, 0, 0])  # label times 1, 2, 3, 4 h
    result = status(frame, START + timedelta(hours=10), since=START + timedelta(hours=2))
    assert result["n_labeled_since"] == 2


def test_delayed_performance_matches_sklearn_on_the_labeled_rows():
    rng = np.random.default_rng(0)
    n = 2_000
    probability = np.round(rng.beta(1, 8, n), 2)  # ties, as real scores have
    y = (rng.random(n) < probability).astype(np.int8)
    labeled = rng.random(n) < 0.7
    frame = pl.DataFrame(
        {
            "event_time": [START] * n,
            "label_time": pl.Series(
                [START + timedelta(days=1) if k else None for k in labeled],
                dtype=pl.Datetime("us", "UTC"),
            ),
            "is_fraud": pl.Series(np.where(labeled, y, 0))
            .cast(pl.Int8)
            .set(pl.Series(~labeled), None),
            "probability": probability,
            "decision": probability >= 0.3,
        }
    )
    result = status(frame, START + timedelta(days=2))
    y_l, p_l = y[labeled], probability[labeled]
    performance = result["performance"]
    assert performance["n_labeled"] == labeled.sum()
    assert performance["precision"] == pytest.approx(precision_score(y_l, p_l >= 0.3))
    assert performance["recall"] == pytest.approx(recall_score(y_l, p_l >= 0.3))
    assert performance["pr_auc"] == pytest.approx(average_precision_score(y_l, p_l))
    assert performance["ece"] == pytest.approx(expected_calibration_error(y_l, p_l, 10))
    assert result["undefined"] == {}
    json.dumps(result)


def test_weighted_delayed_performance_equals_sklearn_with_sample_weight():
    rng = np.random.default_rng(4)
    n = 3_000
    probability = np.round(rng.beta(2, 5, n), 2)
    y = (rng.random(n) < probability).astype(np.int8)
    weight = np.where(y == 1, rng.uniform(1.0, 6.0, n), rng.uniform(0.2, 1.5, n))
    labeled = rng.random(n) < 0.8
    frame = pl.DataFrame(
        {
            "event_time": [START] * n,
            "label_time": pl.Series(
                [START + timedelta(hours=5) if k else None for k in labeled],
                dtype=pl.Datetime("us", "UTC"),
            ),
            "is_fraud": pl.Series(y).cast(pl.Int8).set(pl.Series(~labeled), None),
            "probability": probability,
            "decision": probability >= 0.3,
            "weight": weight,
        }
    )
    weighted = status(frame, START + timedelta(days=1), weight_column="weight")["performance"]
    unweighted = status(frame, START + timedelta(days=1))["performance"]
    y_l, p_l, w_l = y[labeled], probability[labeled], weight[labeled]
    flagged = p_l >= 0.3
    assert weighted["n_labeled"] == unweighted["n_labeled"] == labeled.sum()  # rows, not weight
    assert weighted["prevalence"] == pytest.approx(np.average(y_l, weights=w_l))
    assert weighted["precision"] == pytest.approx(precision_score(y_l, flagged, sample_weight=w_l))
    assert weighted["recall"] == pytest.approx(recall_score(y_l, flagged, sample_weight=w_l))
    assert weighted["pr_auc"] == pytest.approx(average_precision_score(y_l, p_l, sample_weight=w_l))
    assert weighted["ece"] == pytest.approx(expected_calibration_error(y_l, p_l, 10, weights=w_l))
    # The weights favour positives, so the weighted numbers are not the row-count ones.
    assert weighted["prevalence"] > unweighted["prevalence"] + 0.1
    assert weighted["precision"] > unweighted["precision"] + 0.05
    with pytest.raises(LabelInputError, match="weight"):
        status(frame.drop("weight"), START + timedelta(days=1), weight_column="weight")


def test_average_precision_matches_sklearn_with_ties():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    p = rng.integers(0, 5, 300) / 4
    performance, _ = delayed_performance(y, p, p >= 0.5)
    assert performance["pr_auc"] == pytest.approx(average_precision_score(y, p))


def test_undefined_metrics_are_none_with_a_reason():
    nothing = status(scored_events([None, None], [None, None]), START + timedelta(days=1))
    assert nothing["label_coverage"] == 0.0
    assert nothing["time_to_label_hours"] is None
    assert all(nothing["performance"][m] is None for m in ("precision", "recall", "pr_auc", "ece"))
    assert nothing["undefined"]["recall"] == "no labeled rows yet"

    negatives = scored_events([1.0, 1.0, 1.0], [0, 0, 0])
    only_negatives = status(negatives, START + timedelta(days=1))
    assert only_negatives["performance"]["recall"] is None
    assert only_negatives["performance"]["pr_auc"] is None
    assert "no positive label among the 3 labeled rows" in only_negatives["undefined"]["recall"]
    assert only_negatives["performance"]["ece"] == pytest.approx(
        negatives["probability"].mean()  # every label is 0: ECE is the mean probability
    )
    unflagged = negatives.with_columns(decision=pl.lit(False))
    assert (
        "no positive decision"
        in status(unflagged, START + timedelta(days=1))["undefined"]["precision"]
    )
    json.dumps(only_negatives)


def test_demo_stream_coverage_and_delay_match_its_generator():
    source = SyntheticSource(rows_per_day=4_000)
    day = date(2026, 2, 1)
    observed = datetime(2026, 4, 30, tzinfo=UTC)  # ~90 days later: every label has arrived
    events = generate_day(source, day, as_of=observed).with_columns(
        probability=pl.lit(0.02), decision=pl.lit(False)
    )
    result = label_status(
        events,
        target="is_fraud",
        positive=1,
        time_column="event_time",
        label_time_column="label_time",
        as_of=observed,
    )
    assert result["label_coverage"] == pytest.approx(1 - NEVER_LABELED_SHARE, abs=0.015)
    median_days = result["time_to_label_hours"]["median"] / 24
    assert median_days == pytest.approx(LABEL_DELAY_MEDIAN_DAYS, rel=0.05)
    next_day = datetime(2026, 2, 2, tzinfo=UTC)
    assert (
        label_status(
            events,
            target="is_fraud",
            positive=1,
            time_column="event_time",
            label_time_column="label_time",
            as_of=next_day,
        )["label_coverage"]
        < 0.1
    )


def test_bad_inputs_are_rejected_by_name():
    frame = scored_events([1.0], [1])
    with pytest.raises(LabelInputError, match="decision"):
        status(frame.drop("decision"), START + timedelta(days=1))
    with pytest.raises(LabelInputError, match="timezone-aware"):
        status(frame, datetime(2026, 3, 2))
    with pytest.raises(LabelInputError, match="after as_of"):
        status(frame, START - timedelta(days=1))
    with pytest.raises(LabelInputError, match="cannot be compared"):
        label_status(
            frame,
            target="is_fraud",
            positive="fraud",
            time_column="event_time",
            label_time_column="label_time",
            as_of=START + timedelta(days=1),
        )
    as_text = frame.with_columns(pl.col("is_fraud").cast(pl.String))
    assert status(as_text, START + timedelta(days=1))["performance"]["n_positive"] == 1
    with pytest.raises(LabelInputError, match="outside"):
        status(frame.with_columns(probability=pl.lit(1.5)), START + timedelta(days=1))
