"""An evidently data-drift HTML report of a partition that agrees with the pipeline's alarm.

The alarm comes from `binclf.monitor.drift` (binned Jensen-Shannon distance and a Holm-adjusted
chi-square test against the reference profile); this report is its visual companion. evidently is
given the alarm's own per-column verdicts and distances as its stat test, and the spec's drift
share as its `drift_share`, so the report's "drifted" columns and dataset verdict are the alarm's;
a banner at the top states the alarm's numbers and what differs (evidently draws its plots from a
sample; sensitive columns are left out of the report but counted by the alarm). The prediction is
one more column, judged apart from the features as the alarm judges it.
evidently is imported inside the function because importing it takes seconds.
"""

from __future__ import annotations

import html
import threading
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl

from binclf.monitor.drift import DriftResult
from binclf.stats.profiles import DriftInputError

STAT_TEST = "binclf_alarm"
_verdicts: dict[str, tuple[float, bool]] = {}  # the report being built: column -> (distance, drift)
_lock = threading.Lock()


def _alarm_stat_test(reference_data: Any, current_data: Any, feature_type: Any, threshold: float):
    """evidently's stat test that answers with the alarm's verdict on the column."""
    return _verdicts[str(reference_data.name)]


def _register_stat_test() -> None:
    from evidently.legacy.calculations.stattests.registry import StatTest, register_stattest
    from evidently.legacy.core import ColumnType

    register_stattest(
        StatTest(
            name=STAT_TEST,
            display_name="binclf alarm (Jensen-Shannon distance, base 2, and Holm chi-square)",
            allowed_feature_types=[ColumnType.Numerical, ColumnType.Categorical],
            default_threshold=0.1,
        ),
        _alarm_stat_test,
    )


def alarm_banner(
    alarm: DriftResult, *, title: str, excluded: Sequence[str], sample_rows: int
) -> str:
    """The alarm's verdict in words, and how this report differs from what the alarm measured."""
    drifted = alarm.drifted_columns
    total = len(alarm.features)
    compare = "≥" if alarm.share_drifted >= alarm.share_threshold else "<"
    lines = [
        f"{title}: {len(drifted)} of {total} columns drifted "
        f"({', '.join(drifted) or 'none'}), share {alarm.share_drifted:.3g} {compare} "
        f"threshold {alarm.share_threshold:g} → alarm {'ON' if alarm.alarm else 'off'}.",
    ]
    if alarm.prediction_drift is not None:
        prediction = alarm.prediction_drift
        lines.append(
            f"Prediction drift: {'yes' if prediction.drifted else 'no'} "
            f"(distance {prediction.statistic:.3g})."
        )
    lines.append(
        "Each column's verdict and drift score below are the alarm's: Jensen-Shannon distance "
        f"(base 2) on the reference profile's bins ≥ {alarm.min_effect:g} and Holm-adjusted "
        f"chi-square p < {alarm.alpha:g}; the dataset verdict uses the same drift share. "
        f"evidently draws the distributions from up to {sample_rows:,} rows of each side."
    )
    hidden = [c for c in excluded if any(f.column == c for f in alarm.features)]
    if hidden:
        lines.append(
            f"{len(hidden)} sensitive column(s) are left out of this report; the alarm counts them."
        )
    return " ".join(lines)


def _with_banner(page: str, banner: str) -> str:
    block = (
        '<div id="binclf-alarm" style="font-family:sans-serif;padding:12px 16px;'
        'background:#fff4d6;border-bottom:2px solid #d9a400;font-size:14px">'
        f"{html.escape(banner)}</div>"
    )
    start = page.find("<body")
    if start < 0:
        return block + page
    end = page.index(">", start) + 1
    return page[:end] + block + page[end:]


def evidently_drift_html(
    reference: pl.DataFrame,
    current: pl.DataFrame,
    *,
    numeric: Sequence[str],
    categorical: Sequence[str],
    alarm: DriftResult,
    title: str,
    exclude: Sequence[str] = (),
    score_column: str | None = None,
    sample_rows: int = 20_000,
    seed: int = 0,
) -> str:
    """Standalone HTML of evidently's `DataDriftPreset` with the alarm's verdicts and banner.

    Column roles are given explicitly (evidently would otherwise take integer columns with few
    values as categorical). Columns in `exclude` are left out of the report; `score_column`, when
    both frames have it and the alarm measured prediction drift, is shown as its own drift.
    """
    if sample_rows < 1:
        raise DriftInputError(f"sample_rows must be at least 1, got {sample_rows}")
    excluded = set(exclude)
    numeric_kept = [c for c in numeric if c not in excluded]
    categorical_kept = [c for c in categorical if c not in excluded]
    features = numeric_kept + categorical_kept
    if not features:
        raise DriftInputError("no column left to report after excluding " + str(sorted(excluded)))
    verdicts: Mapping[str, tuple[float, bool]] = {
        f.column: (float(f.statistic), bool(f.drifted)) for f in alarm.features
    }
    missing_verdicts = [c for c in features if c not in verdicts]
    if missing_verdicts:
        raise DriftInputError(f"the alarm measured no drift of columns {missing_verdicts}")
    prediction = alarm.prediction_drift
    scored = (
        score_column is not None
        and prediction is not None
        and score_column in reference.columns
        and score_column in current.columns
    )
    if scored and prediction is not None and score_column is not None:
        verdicts = {
            **verdicts,
            score_column: (float(prediction.statistic), bool(prediction.drifted)),
        }
    columns = features + ([score_column] if scored and score_column else [])
    for name, frame in (("reference", reference), ("current", current)):
        missing = [c for c in columns if c not in frame.columns]
        if missing:
            raise DriftInputError(f"columns missing from the {name} frame: {missing}")
        if frame.height == 0:
            raise DriftInputError(f"the {name} frame has no rows")

    from evidently import DataDefinition, Dataset, Report
    from evidently.metrics import ValueDrift
    from evidently.presets import DataDriftPreset

    definition = DataDefinition(
        numerical_columns=[c for c in columns if c not in categorical_kept],
        categorical_columns=categorical_kept,
    )

    def dataset(frame: pl.DataFrame) -> Dataset:
        sample = frame.sample(n=sample_rows, seed=seed) if frame.height > sample_rows else frame
        return Dataset.from_pandas(sample.select(columns).to_pandas(), data_definition=definition)

    metrics: list[Any] = [
        DataDriftPreset(columns=features, drift_share=alarm.share_threshold, method=STAT_TEST)
    ]
    if scored:
        metrics.append(ValueDrift(column=score_column, method=STAT_TEST))
    with _lock:
        _register_stat_test()
        _verdicts.clear()
        _verdicts.update(verdicts)
        snapshot = Report(metrics).run(
            current_data=dataset(current), reference_data=dataset(reference)
        )
        page = snapshot.get_html_str(as_iframe=False)
    banner = alarm_banner(alarm, title=title, excluded=sorted(excluded), sample_rows=sample_rows)
    return _with_banner(page, banner)
