import numpy as np
import polars as pl
import pytest

from binclf.monitor.drift_report import evidently_drift_html
from binclf.stats.profiles import DriftInputError


def frame(n: int, seed: int, shift: float = 0.0) -> pl.DataFrame:
    rng = np.random.default_rng(seed)
    return pl.DataFrame(
        {
            "amount_value": rng.normal(shift, 1.0, n),
            "visit_count": rng.integers(0, 4, n),  # few integer values, still numeric
            "shop_kind": rng.choice(["grocery", "fuel", "travel"], n),
            "age_band_secret": rng.choice(["young", "old"], n),
        }
    )


@pytest.fixture(scope="module")
def html() -> str:
    return evidently_drift_html(
        frame(300, 0),
        frame(300, 1, shift=1.0),
        numeric=["amount_value", "visit_count"],
        categorical=["shop_kind", "age_band_secret"],
        exclude=["age_band_secret"],
        sample_rows=200,
        seed=0,
    )


def test_report_is_html_about_the_kept_columns(html):
    assert html.lstrip().lower().startswith("<!doctype html") or "<html" in html[:500].lower()
    for column in ("amount_value", "visit_count", "shop_kind"):
        assert column in html
    # The data definition keeps a few-valued integer column numeric.
    assert '"column_name": "visit_count", "column_type": "num"' in html


def test_excluded_sensitive_column_is_absent_from_the_report(html):
    assert "age_band_secret" not in html


def test_report_inputs_are_checked_before_evidently_runs():
    with pytest.raises(DriftInputError, match="shop_kind"):
        evidently_drift_html(
            frame(10, 0).drop("shop_kind"),
            frame(10, 1),
            numeric=["amount_value"],
            categorical=["shop_kind"],
        )
    with pytest.raises(DriftInputError, match="no column left"):
        evidently_drift_html(
            frame(10, 0), frame(10, 1), numeric=[], categorical=["shop_kind"], exclude=["shop_kind"]
        )
