"""The evidently report shows the alarm's verdicts, drift share and numbers, never its own."""

import dataclasses
import re

import numpy as np
import polars as pl
import pytest

from binclf.monitor.drift import DriftResult, drift_statistics
from binclf.monitor.drift_report import evidently_drift_html
from binclf.stats.profiles import DriftInputError, ReferenceProfile

NUMERIC = ["amount_value", "visit_count"]
CATEGORICAL = ["shop_kind", "age_band_secret"]


def frame(n: int, seed: int, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "amount_value": rng.normal(shift, 1.0, n),
            "visit_count": rng.integers(0, 4, n),  # few integer values, still numeric
            "shop_kind": rng.choice(["grocery", "fuel", "travel"], n),
            "age_band_secret": rng.choice(["young", "old"], n),
            "probability": rng.beta(1.0 + shift, 5.0, n),
        }
    )


REFERENCE, CURRENT = frame(3000, 0), frame(3000, 1, shift=1.0)


@pytest.fixture(scope="module")
def alarm() -> DriftResult:
    profile = ReferenceProfile.from_frame(
        REFERENCE, numeric=NUMERIC, categorical=CATEGORICAL, score_column="probability"
    )
    return drift_statistics(profile, CURRENT, share_threshold=0.3)


def report(alarm: DriftResult, **changes) -> str:
    arguments = {
        "numeric": NUMERIC,
        "categorical": CATEGORICAL,
        "alarm": alarm,
        "title": "Drift of 2026-04-30 against v0001",
        "exclude": ["age_band_secret"],
        "score_column": "probability",
        "sample_rows": 1000,
        "seed": 0,
    }
    return evidently_drift_html(REFERENCE, CURRENT, **{**arguments, **changes})


@pytest.fixture(scope="module")
def html(alarm: DriftResult) -> str:
    return report(alarm)


def _shown_share(page: str) -> tuple[int, int]:
    (match,) = set(
        re.findall(r"Drift is detected for [\d.]+% of columns \((\d+) out of (\d+)\)", page)
    )
    return int(match[0]), int(match[1])


def test_report_counts_the_columns_the_alarm_found_drifted_at_the_spec_drift_share(
    alarm: DriftResult, html: str
) -> None:
    shown = [f for f in alarm.features if f.column != "age_band_secret"]
    assert alarm.drifted_columns == ["amount_value"]  # the shift moved one feature
    assert _shown_share(html) == (sum(f.drifted for f in shown), len(shown))
    assert "Dataset drift detection threshold is 0.3" in html
    assert '"column_name": "visit_count", "column_type": "num"' in html  # kept numeric


def test_report_follows_the_alarm_even_where_evidently_alone_would_disagree(
    alarm: DriftResult,
) -> None:
    features = tuple(
        dataclasses.replace(f, drifted=True, statistic=0.001) if f.column == "shop_kind" else f
        for f in alarm.features
    )
    page = report(dataclasses.replace(alarm, features=features))

    assert _shown_share(page) == (2, 3)


def test_banner_states_the_alarm_verdict_and_what_the_report_leaves_out(
    alarm: DriftResult, html: str
) -> None:
    banner = html[html.index('id="binclf-alarm"') :].split("</div>")[0]
    assert "Drift of 2026-04-30 against v0001: 1 of 4 columns drifted (amount_value)" in banner
    assert f"share {alarm.share_drifted:.3g} &lt; threshold 0.3 → alarm off" in banner
    assert "Prediction drift: yes" in banner and alarm.prediction_drift.drifted
    assert "1 sensitive column(s) are left out" in banner
    assert 'Drift in column \'probability\'", "label": "Data drift detected.' in html


def test_excluded_sensitive_column_is_absent_from_the_report(html: str) -> None:
    assert "age_band_secret" not in html


def test_report_inputs_are_checked_before_evidently_runs(alarm: DriftResult) -> None:
    with pytest.raises(DriftInputError, match="shop_kind"):
        evidently_drift_html(
            REFERENCE.drop("shop_kind"),
            CURRENT,
            numeric=["amount_value"],
            categorical=["shop_kind"],
            alarm=alarm,
            title="x",
        )
    with pytest.raises(DriftInputError, match="no column left"):
        evidently_drift_html(
            REFERENCE,
            CURRENT,
            numeric=[],
            categorical=["shop_kind"],
            exclude=["shop_kind"],
            alarm=alarm,
            title="x",
        )
